// The learning curves of a run, shared by the SVG (here), the PNG (plot_png.hpp) and the HTML
// report: reading unetpp-train's log.csv, the two panels (losses; validation Dice and IoU), and
// their axes. Epoch ticks are whole epochs only (1, 2, 5, 10, 20, ... apart), value ticks
// 1, 2 or 5 times a power of ten. Standard library and cli_args.hpp only.
// Tests: tests/unit/report/test_report_pictures.cpp, tests/tools/report.cmake.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../cli_args.hpp"
#include "canvas.hpp"

namespace report {

struct series {
    std::string name;  ///< the log column, shown in the legend
    rgb color;
    std::vector<std::pair<double, double>> pts;  ///< (epoch, value), finite values only
};

/// The columns drawn, with their colours.
inline std::vector<series> curve_styles() {
    return {{"train_loss", {31, 119, 180}, {}},
            {"val_loss", {214, 39, 40}, {}},
            {"val_dice", {44, 160, 44}, {}},
            {"val_iou", {148, 103, 189}, {}}};
}

/// The curves of a log.csv (`text`, read from `file`): header "epoch,..." then one row of numbers
/// per epoch ("nan" cells are skipped). Any subset of the columns after epoch is accepted.
inline std::map<std::string, series> parse_log_csv(std::string_view text, const std::string& file) {
    std::istringstream in{std::string(text)};
    std::string line;
    if (!std::getline(in, line) || !line.starts_with("epoch"))
        throw cli::usage_error("'" + file + "' does not start with an 'epoch,...' header; is it an unetpp log.csv?");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> cols;
    {
        std::stringstream ss(line);
        std::string c;
        while (std::getline(ss, c, ',')) cols.push_back(c);
    }
    std::map<std::string, series> by;
    for (auto& s : curve_styles()) by.emplace(s.name, s);
    int row = 1;
    while (std::getline(in, line)) {
        ++row;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::stringstream ss(line);
        std::string cell;
        std::vector<double> v;
        while (std::getline(ss, cell, ',')) {
            char* end = nullptr;
            const double d = std::strtod(cell.c_str(), &end);
            if (cell.empty() || end != cell.c_str() + cell.size())
                throw cli::usage_error("'" + file + "' line " + std::to_string(row) + ": '" + cell.substr(0, 40) +
                                       "' is not a number");
            v.push_back(d);
        }
        if (v.size() != cols.size())
            throw cli::usage_error("'" + file + "' line " + std::to_string(row) + " has " + std::to_string(v.size()) +
                                   " cells, the header " + std::to_string(cols.size()));
        if (!std::isfinite(v[0])) continue;
        for (std::size_t i = 1; i < cols.size(); ++i)
            if (by.count(cols[i]) && std::isfinite(v[i])) by[cols[i]].pts.emplace_back(v[0], v[i]);
    }
    return by;
}

/// Tick positions in [lo, hi]: steps of 1, 2 or 5 times a power of ten, at most about
/// `max_count` of them; `whole` keeps the step a whole number (epochs).
inline std::vector<double> nice_ticks(double lo, double hi, int max_count, bool whole) {
    std::vector<double> t;
    if (!(hi >= lo) || !std::isfinite(lo) || !std::isfinite(hi) || max_count < 1) return t;
    const double raw = std::max((hi - lo) / max_count, 1e-300);
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    double step = p * 10;
    for (const double m : {1.0, 2.0, 5.0, 10.0})
        if (p * m >= raw) {
            step = p * m;
            break;
        }
    if (whole) step = std::max(1.0, std::round(step));
    const double first = std::ceil(lo / step - 1e-9) * step;
    for (int i = 0; i < 1000; ++i) {
        const double v = first + i * step;
        if (v > hi + step * 1e-9) break;
        t.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
    }
    return t;
}

/// A tick label: whole numbers without decimals, else up to 4 significant digits.
inline std::string tick_label(double v, bool whole) {
    char b[32];
    if (whole)
        std::snprintf(b, sizeof b, "%.0f", v);
    else
        std::snprintf(b, sizeof b, "%.4g", v);
    return b;
}

/// One panel: its title, the label of its value axis, and its curves.
struct panel_spec {
    std::string title, y_label;
    std::vector<series> curves;
};

/// The data ranges and ticks of a panel (x: epochs, whole ticks).
struct axes {
    bool empty = true;
    double xmin = 0, xmax = 1, ymin = 0, ymax = 1;
    std::vector<double> xticks, yticks;
};

inline axes axes_of(const panel_spec& p) {
    axes a;
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
    for (const auto& s : p.curves)
        for (auto [x, y] : s.pts)
            xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    if (xmin > xmax) return a;
    a.empty = false;
    xmin = std::floor(xmin), xmax = std::ceil(xmax);
    if (xmax == xmin) xmin -= 1, xmax += 1;
    if (ymax == ymin) ymin -= 0.5, ymax += 0.5;
    const double pad = (ymax - ymin) * 0.05;
    a.xmin = xmin, a.xmax = xmax, a.ymin = ymin - pad, a.ymax = ymax + pad;
    a.xticks = nice_ticks(std::max(a.xmin, 0.0), a.xmax, 8, true);
    a.yticks = nice_ticks(a.ymin, a.ymax, 5, false);
    return a;
}

/// Whether the legend goes to the bottom-right corner: when more points lie in the top than in
/// the bottom fifth of the panel's right third (rising scores), else it stays top-right (falling
/// losses).
inline bool legend_below(const panel_spec& p, const axes& a) {
    int top = 0, bottom = 0;
    for (const auto& s : p.curves)
        for (auto [x, y] : s.pts) {
            if ((x - a.xmin) / (a.xmax - a.xmin) < 2.0 / 3.0) continue;
            const double v = (y - a.ymin) / (a.ymax - a.ymin);
            top += v > 0.8, bottom += v < 0.2;
        }
    return top > bottom;
}

/// The two panels of a run's log.
inline std::vector<panel_spec> run_panels(const std::map<std::string, series>& by) {
    const auto get = [&](const char* n) { return by.count(n) ? by.at(n) : series{n, {}, {}}; };
    return {{"loss", "loss", {get("train_loss"), get("val_loss")}},
            {"validation metrics", "score", {get("val_dice"), get("val_iou")}}};
}

namespace svg_detail {
inline std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}
inline std::string hex(rgb c) {
    char b[8];
    std::snprintf(b, sizeof b, "#%02x%02x%02x", c.r, c.g, c.b);
    return b;
}
}  // namespace svg_detail

/// Text escaped for XML and HTML (element text and quoted attribute values).
inline std::string xml_escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (const char c : s) {
        switch (c) {
            case '<':
                o += "&lt;";
                break;
            case '>':
                o += "&gt;";
                break;
            case '&':
                o += "&amp;";
                break;
            case '"':
                o += "&quot;";
                break;
            case '\'':
                o += "&#39;";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
                    o += "\xEF\xBF\xBD";  // U+FFFD
                else
                    o += c;
        }
    }
    return o;
}

/// One SVG panel at (x0, y0) of size w x h.
inline std::string svg_panel(double x0, double y0, double w, double h, const panel_spec& p) {
    using namespace svg_detail;
    const axes a = axes_of(p);
    std::string o = "<g>\n<text x=\"" + num(x0 + w / 2) + "\" y=\"" + num(y0 - 10) +
                    "\" text-anchor=\"middle\" font-size=\"14\">" + xml_escape(p.title) + "</text>\n";
    o += "<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
    if (a.empty)
        return o + "<text x=\"" + num(x0 + w / 2) + "\" y=\"" + num(y0 + h / 2) +
               "\" text-anchor=\"middle\">no data</text>\n</g>\n";
    const auto X = [&](double x) { return x0 + (x - a.xmin) / (a.xmax - a.xmin) * w; };
    const auto Y = [&](double y) { return y0 + h - (y - a.ymin) / (a.ymax - a.ymin) * h; };
    for (const double yv : a.yticks) {
        o += "<line x1=\"" + num(x0) + "\" x2=\"" + num(x0 + w) + "\" y1=\"" + num(Y(yv)) + "\" y2=\"" + num(Y(yv)) +
             "\" stroke=\"#ddd\"/>\n";
        o += "<text x=\"" + num(x0 - 6) + "\" y=\"" + num(Y(yv) + 4) + "\" text-anchor=\"end\" font-size=\"11\">" +
             tick_label(yv, false) + "</text>\n";
    }
    for (const double xv : a.xticks)
        o += "<line x1=\"" + num(X(xv)) + "\" x2=\"" + num(X(xv)) + "\" y1=\"" + num(y0 + h) + "\" y2=\"" +
             num(y0 + h + 4) + "\" stroke=\"#444\"/>\n<text x=\"" + num(X(xv)) + "\" y=\"" + num(y0 + h + 16) +
             "\" text-anchor=\"middle\" font-size=\"11\">" + tick_label(xv, true) + "</text>\n";
    o += "<text x=\"" + num(x0 + w / 2) + "\" y=\"" + num(y0 + h + 34) +
         "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
    o += "<text transform=\"translate(" + num(x0 - 50) + "," + num(y0 + h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" + xml_escape(p.y_label) + "</text>\n";
    int shown = 0;
    for (const auto& s : p.curves) shown += !s.pts.empty();
    const double top = legend_below(p, a) ? y0 + h - 10 - 16 * shown : y0 + 4;
    std::string legend = shown ? "<rect x=\"" + num(x0 + w - 116) + "\" y=\"" + num(top) +
                                     "\" width=\"110\" height=\"" + num(16 * shown + 6) +
                                     "\" fill=\"white\" stroke=\"#ddd\"/>\n"
                               : std::string();
    int k = 0;
    for (const auto& s : p.curves) {
        if (s.pts.empty()) continue;
        std::string pts;
        for (auto [x, y] : s.pts) pts += num(X(x)) + "," + num(Y(y)) + " ";
        o += "<polyline fill=\"none\" stroke=\"" + hex(s.color) + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
        for (auto [x, y] : s.pts)
            o +=
                "<circle cx=\"" + num(X(x)) + "\" cy=\"" + num(Y(y)) + "\" r=\"2.5\" fill=\"" + hex(s.color) + "\"/>\n";
        const double ly = top + 16 + 16 * k++;
        legend += "<line x1=\"" + num(x0 + w - 110) + "\" x2=\"" + num(x0 + w - 90) + "\" y1=\"" + num(ly - 4) +
                  "\" y2=\"" + num(ly - 4) + "\" stroke=\"" + hex(s.color) + "\" stroke-width=\"2\"/>\n";
        legend += "<text x=\"" + num(x0 + w - 85) + "\" y=\"" + num(ly) + "\" font-size=\"12\">" + xml_escape(s.name) +
                  "</text>\n";
    }
    return o + legend + "</g>\n";  // the legend last: drawn over the curves
}

/// The whole SVG document (900 x 380): the title and the two panels side by side. With
/// `standalone` false, no XML declaration (for inlining into HTML).
inline std::string svg_curves(const std::string& title, const std::vector<panel_spec>& panels, bool standalone = true) {
    using namespace svg_detail;
    const double W = 900, H = 380;
    std::string svg = standalone ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" : "";
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) +
           "\" viewBox=\"0 0 " + num(W) + " " + num(H) +
           "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += "<text x=\"" + num(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">" + xml_escape(title) +
           "</text>\n";
    for (std::size_t i = 0; i < panels.size() && i < 2; ++i) svg += svg_panel(i ? 520 : 80, 60, 340, 260, panels[i]);
    return svg + "</svg>\n";
}

}  // namespace report
