// The run files the HTML report reads (tools/report/run_files.hpp) and the page itself
// (tools/report/html_report.hpp): untrusted input refused by name, names HTML-escaped, nothing
// fetched from a network. tests/tools/report.cmake renders a real report in headless Chromium.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../../../tools/image_scores.hpp"
#include "../../../tools/report/html_report.hpp"
#include "../../../tools/report/run_files.hpp"
#include "../../support/error_of.hpp"

namespace {
using unetpp::test::contains;
template <class F>
std::string error_of(F&& f) {
    return unetpp::test::error_of<cli::usage_error>(std::forward<F>(f), "(no error)");
}
}  // namespace

TEST_CASE("run_files: image names with commas, quotes and line breaks keep their names (RFC 4180)") {
    const std::vector<std::string> names{"plain", "a,b", "say \"hi\"", "two\nlines", "", "x,\"y\",\r\nz"};
    std::string csv = "image,dice\n";
    for (const auto& n : names) csv += cli::csv_text(n) + ",0.5\n";
    CHECK(cli::csv_text("a,b") == "\"a,b\"");
    CHECK(cli::csv_text("say \"hi\"") == "\"say \"\"hi\"\"\"");
    const auto t = report::parse_scores_csv(csv, "s.csv");
    REQUIRE(t.rows.size() == names.size());
    CHECK(t.rows[0].image == "plain");
    CHECK(t.rows[1].image == "a,b");
    CHECK(t.rows[2].image == "say \"hi\"");
    CHECK(t.rows[3].image == "two\nlines");
    CHECK(t.rows[4].image.empty());
    CHECK(t.rows[5].image == "x,\"y\",\r\nz");
    for (const auto& r : t.rows) CHECK(r.values.at(0) == 0.5);
    // a row after a quoted line break is counted from the right line
    CHECK(contains(error_of([] { report::parse_scores_csv("image,dice\n\"a\nb\",1\nc,x\n", "s.csv"); }),
                   "line 4: 'x' in column dice"));
    CHECK(contains(error_of([] { report::parse_scores_csv("image,dice\n\"open,1\n", "s.csv"); }),
                   "line 2: a quoted cell is not closed"));
}

TEST_CASE("run_files: evaluate's CSV, with inf and nan cells") {
    const auto t = report::parse_scores_csv(
        "image,dice,iou,precision,recall,hd95\r\na,0.5,0.33,1,0.33,inf\nb,nan,0,0,0,2\n", "s.csv");
    REQUIRE(t.rows.size() == 2);
    CHECK(t.column("dice") == 0);
    CHECK(t.column("hd95") == 4);
    CHECK(t.column("roc_auc") == -1);
    CHECK(t.rows[0].image == "a");
    CHECK(std::isinf(t.rows[0].values[4]));
    CHECK(std::isnan(t.rows[1].values[0]));
    CHECK(contains(error_of([] { report::parse_scores_csv("", "s.csv"); }), "is empty"));
    CHECK(contains(error_of([] { report::parse_scores_csv("name,dice\n", "s.csv"); }), "'image,dice,...' header"));
    CHECK(contains(error_of([] { report::parse_scores_csv("image,iou\n", "s.csv"); }), "no dice column"));
    CHECK(contains(error_of([] { report::parse_scores_csv("image,dice\na,0.5,1\n", "s.csv"); }), "line 2 has 3 cells"));
    CHECK(
        contains(error_of([] { report::parse_scores_csv("image,dice\na,good\n", "s.csv"); }), "'good' in column dice"));
    CHECK(
        contains(error_of([] { report::parse_scores_csv("image,dice\na,1\nb,1\n", "s.csv", 1); }), "more than 1 rows"));
}

TEST_CASE("run_files: config.json as written by unetpp-train, and malformed ones") {
    const auto c = report::parse_flat_json(
        "{\n  \"tool\": \"unetpp-train\",\n  \"lr\": \"0.01\",\n  \"train_images\": 6,\n  \"x\": [1, {\"a\": \"]\"}],\n"
        "  \"esc\": \"a\\\"b\\u00e9\"\n}\n",
        "config.json");
    REQUIRE(c.size() == 5);
    CHECK(c[0] == std::pair<std::string, std::string>{"tool", "unetpp-train"});
    CHECK(c[2].second == "6");
    CHECK(c[3].second == "[1,{\"a\":\"]\"}]");
    CHECK(c[4].second == "a\"b\xC3\xA9");
    CHECK(contains(error_of([] { report::parse_flat_json("[1]", "c.json"); }), "'c.json' is not a JSON object"));
    CHECK(contains(error_of([] { report::parse_flat_json("{\"a\": \"x", "c.json"); }), "unterminated string"));
    CHECK(contains(error_of([] { report::parse_flat_json("{\"a\": [1, 2}", "c.json"); }), "c.json"));
    CHECK(contains(error_of([] { report::parse_flat_json("{\"a\": 1} x", "c.json"); }), "unexpected bytes after"));
    CHECK(contains(error_of([] { report::parse_flat_json("{\"a\": }", "c.json"); }), "expected a value"));
    CHECK(contains(error_of([] { report::parse_flat_json(std::string(300, '[') + std::string(300, ']'), "c.json"); }),
                   "nested deeper than 64 levels"));
    CHECK(contains(error_of([] { report::parse_flat_json("{\"a\": " + std::string(300, '[') + "}", "c.json"); }),
                   "nested deeper than 64 levels"));
}

TEST_CASE("run_files: base64 (RFC 4648 vectors) and PNG sizes") {
    CHECK(report::base64("") == "");
    CHECK(report::base64("f") == "Zg==");
    CHECK(report::base64("fo") == "Zm8=");
    CHECK(report::base64("foo") == "Zm9v");
    CHECK(report::base64("foob") == "Zm9vYg==");
    CHECK(report::base64("fooba") == "Zm9vYmE=");
    CHECK(report::base64("foobar") == "Zm9vYmFy");
    CHECK(report::base64(std::string("\xff\xfe\x00", 3)) == "//4A");
    const std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x01\x02\0\0\0\x30", 24);
    CHECK(report::png_size(png) == std::pair<std::uint32_t, std::uint32_t>{258, 48});
    CHECK(report::png_size("GIF89a....................") == std::pair<std::uint32_t, std::uint32_t>{0, 0});
}

TEST_CASE("html_report: escaped names, the sortable table, embedded pictures, no network") {
    report::report_input in;
    in.title = "run <b>";
    in.curves_svg = "<svg></svg>";
    in.scores = report::parse_scores_csv("image,dice,iou\n<script>alert(1)</script>,0.9,0.8\nb&c,0.1,0.05\n", "s.csv");
    in.split = {{"train", {"b&c"}}, {"val", {"<script>alert(1)</script>"}}};
    in.worst.push_back({"b&c", 0.1, std::string("\x89PNG\r\n\x1a\n", 8), 4, 2, {}});
    in.worst.push_back({"x\"y", 0.2, {}, 0, 0, "no overlay"});
    in.config = {{"lr", "0.01"}, {"data", "/d/<x>"}};
    const std::string h = report::render_html(in);
    CHECK(!contains(h, "<script>alert"));
    CHECK(contains(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CHECK(contains(h, "<title>run &lt;b&gt;</title>"));
    CHECK(contains(h, "b&amp;c"));
    CHECK(contains(h, "data-image=\"x&quot;y\""));
    CHECK(contains(h, "/d/&lt;x&gt;"));
    CHECK(contains(h, "<table id=\"scores\">"));
    CHECK(contains(h, "data-column=\"dice\""));
    CHECK(contains(h, "data-dice=\"0.10000000000000001\""));
    CHECK(contains(h, "<td>train</td>"));
    CHECK(contains(h, "src=\"data:image/png;base64,iVBORw0KGgo=\""));
    CHECK(contains(h, "Dice mean 0.5000, median 0.5000"));
    CHECK(contains(h, "default-src 'none'"));
    CHECK(!contains(h, "src=\"http"));
    CHECK(!contains(h, "href="));
    CHECK(!contains(h, "url("));
    // exactly one script element: the page's own
    std::size_t scripts = 0;
    for (std::size_t at = h.find("<script"); at != std::string::npos; at = h.find("<script", at + 1)) ++scripts;
    CHECK(scripts == 1);
}
