// The HTML run report of unetpp-report: one self-contained page (no network resources; a
// Content-Security-Policy forbids any) with the learning curves (inline SVG), the per-image scores
// in a table that a few lines of inline JavaScript sort by any column (by Dice, worst first, when
// the page opens), the worst cases with their overlay pictures embedded as base64 PNG, and the
// run's config.json and split.json summarised. Every text taken from a file (image names,
// configuration values, paths) is HTML-escaped. When all pictures have decoded, the page sets
// data-images-decoded="<decoded>/<total>" on <body>; the table carries data-sorted="<column>
// <direction>" after each sort (tests/tools/report.cmake reads both back from headless Chromium).
// Standard library only. Tests: tests/unit/report/test_report_files.cpp, tests/tools/report.cmake.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "curves.hpp"
#include "run_files.hpp"

namespace report {

/// One worst case: its name and Dice, and its overlay PNG (empty with `missing` saying why).
struct report_picture {
    std::string image;
    double dice = 0;
    std::string png;  ///< the file's bytes
    std::uint32_t width = 0, height = 0;
    std::string missing;
};

struct report_input {
    std::string title;
    std::string curves_svg, curves_note;  ///< the inline SVG, or why there is none
    std::optional<score_table> scores;
    std::string scores_note;            ///< where the scores come from, or why there are none
    std::vector<report_picture> worst;  ///< lowest Dice first
    std::string worst_note;             ///< e.g. how to get the overlays
    std::vector<std::pair<std::string, std::string>> config;
    std::string config_note;
    std::map<std::string, std::vector<std::string>> split;
    std::string split_note;
    std::string footer;
};

namespace html_detail {
inline std::string cell_number(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", v);
    return b;
}
/// The sort key of a cell: NaN sorts after every number, +inf after every finite number.
inline std::string sort_key(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}
inline std::string note(const std::string& s) {
    return s.empty() ? "" : "<p class=\"note\">" + xml_escape(s) + "</p>\n";
}

inline const char* style = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3;cursor:pointer;user-select:none}
th.sorted-ascending::after{content:" \25B2"}th.sorted-descending::after{content:" \25BC"}
tr.part-train td:first-child{color:#a33}.note{color:#555;font-size:13px}
figure{display:inline-block;margin:8px;vertical-align:top}figure img{max-width:100%;border:1px solid #ccc}
figcaption{font-size:13px}dl.config{display:grid;grid-template-columns:max-content auto;gap:2px 16px;font-size:13px}
dl.config dt{font-weight:bold}dl.config dd{margin:0;word-break:break-all}
)";

// Sorts #scores by a column (numbers from data-value; NaN last), keeps the header's arrow and the
// table's data-sorted attribute in step; when every <img> has decoded, marks <body>.
inline const char* script = R"(<script>
(function () {
  var table = document.getElementById("scores");
  function key(td) {
    var v = td.getAttribute("data-value");
    if (v === null) return td.textContent;
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  function sortBy(col, dir) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === null || y === null) return (x === null) - (y === null);
      if (x < y) return -dir;
      if (x > y) return dir;
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    var ths = table.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; ++i) ths[i].className = "";
    ths[col].className = dir > 0 ? "sorted-ascending" : "sorted-descending";
    table.setAttribute("data-sorted", ths[col].getAttribute("data-column") + (dir > 0 ? " ascending" : " descending"));
  }
  if (table) {
    var ths = table.tHead.rows[0].cells, dice = 0;
    Array.prototype.forEach.call(ths, function (th, i) {
      if (th.getAttribute("data-column") === "dice") dice = i;
      th.addEventListener("click", function () { sortBy(i, th.className === "sorted-ascending" ? -1 : 1); });
    });
    sortBy(dice, 1);
  }
  function checkImages() {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; ++i) if (imgs[i].complete && imgs[i].naturalWidth > 0) ++ok;
    document.body.setAttribute("data-images-decoded", ok + "/" + imgs.length);
  }
  if (document.readyState === "complete") checkImages(); else window.addEventListener("load", checkImages);
})();
</script>
)";
}  // namespace html_detail

/// The page (see the file comment).
inline std::string render_html(const report_input& in) {
    using namespace html_detail;
    std::string h =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>" +
        xml_escape(in.title) + "</title>\n<style>\n" + style + "</style>\n</head>\n<body>\n<h1>" +
        xml_escape(in.title) + "</h1>\n";
    // curves
    h += "<section id=\"curves\">\n<h2>Learning curves</h2>\n" + in.curves_svg + note(in.curves_note) + "</section>\n";
    // scores
    std::map<std::string, std::string> part_of;
    for (const auto& [part, names] : in.split)
        for (const auto& n : names) part_of.emplace(n, part);
    h += "<section id=\"per-image\">\n<h2>Per-image scores</h2>\n" + note(in.scores_note);
    if (in.scores) {
        const score_table& t = *in.scores;
        const int d = t.column("dice");
        std::vector<double> dice;
        for (const auto& r : t.rows)
            if (std::isfinite(r.values[d])) dice.push_back(r.values[d]);
        if (!dice.empty()) {
            std::sort(dice.begin(), dice.end());
            double mean = 0;
            for (double v : dice) mean += v;
            mean /= static_cast<double>(dice.size());
            const double median =
                dice.size() % 2 ? dice[dice.size() / 2] : (dice[dice.size() / 2 - 1] + dice[dice.size() / 2]) / 2;
            h += "<p id=\"dice-summary\">" + std::to_string(t.rows.size()) + " images; Dice mean " + cell_number(mean) +
                 ", median " + cell_number(median) + ", lowest " + cell_number(dice.front()) + ", highest " +
                 cell_number(dice.back()) + ". Click a column to sort it.</p>\n";
        }
        if (!part_of.empty())
            h += "<p class=\"note\">The part column is the image's part of the run's split; scores of training "
                 "images (in red) are not an estimate of performance on new images.</p>\n";
        h += "<table id=\"scores\">\n<thead><tr><th data-column=\"image\">image</th>";
        if (!part_of.empty()) h += "<th data-column=\"part\">part</th>";
        for (const auto& c : t.columns) h += "<th data-column=\"" + xml_escape(c) + "\">" + xml_escape(c) + "</th>";
        h += "</tr></thead>\n<tbody>\n";
        for (const auto& r : t.rows) {
            const auto p = part_of.find(r.image);
            const std::string part = p == part_of.end() ? "" : p->second;
            h += "<tr class=\"part-" + xml_escape(part) + "\" data-dice=\"" + sort_key(r.values[d]) + "\"><td>" +
                 xml_escape(r.image) + "</td>";
            if (!part_of.empty()) h += "<td>" + xml_escape(part.empty() ? "?" : part) + "</td>";
            for (double v : r.values) h += "<td data-value=\"" + sort_key(v) + "\">" + cell_number(v) + "</td>";
            h += "</tr>\n";
        }
        h += "</tbody>\n</table>\n";
    }
    h += "</section>\n";
    // worst cases
    h += "<section id=\"worst\">\n<h2>Worst cases</h2>\n" + note(in.worst_note);
    for (const auto& w : in.worst) {
        h += "<figure data-image=\"" + xml_escape(w.image) + "\">";
        if (!w.png.empty())
            h += "<img alt=\"" + xml_escape("overlay of " + w.image) + "\" width=\"" + std::to_string(w.width) +
                 "\" height=\"" + std::to_string(w.height) + "\" src=\"data:image/png;base64," + base64(w.png) + "\">";
        else
            h += "<p class=\"note\">" + xml_escape(w.missing) + "</p>";
        h += "<figcaption>" + xml_escape(w.image) + ": Dice " + cell_number(w.dice) + "</figcaption></figure>\n";
    }
    h += "</section>\n";
    // configuration and split
    h += "<section id=\"config\">\n<h2>Configuration</h2>\n" + note(in.config_note);
    if (!in.config.empty()) {
        h += "<dl class=\"config\">\n";
        for (const auto& [k, v] : in.config) h += "<dt>" + xml_escape(k) + "</dt><dd>" + xml_escape(v) + "</dd>\n";
        h += "</dl>\n";
    }
    h += "</section>\n<section id=\"split\">\n<h2>Split</h2>\n" + note(in.split_note);
    if (!in.split.empty()) {
        h += "<ul>\n";
        for (const auto& [part, names] : in.split) {
            h += "<li data-part=\"" + xml_escape(part) + "\"><details><summary>" + xml_escape(part) + ": " +
                 std::to_string(names.size()) + (names.size() == 1 ? " image" : " images") + "</summary>";
            for (std::size_t k = 0; k < names.size(); ++k) h += (k ? ", " : "") + xml_escape(names[k]);
            h += "</details></li>\n";
        }
        h += "</ul>\n";
    }
    h += "</section>\n" + note(in.footer) + script + "</body>\n</html>\n";
    return h;
}

}  // namespace report
