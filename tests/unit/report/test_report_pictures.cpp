// The report pictures (tools/report/): the bitmap font, the canvas, the whole-epoch ticks, the
// SVG and PNG curves, and the four-panel overlay with its colours and polarity.

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "../../../tools/report/curves.hpp"
#include "../../../tools/report/overlay.hpp"
#include "../../../tools/report/plot_png.hpp"
#include "../../support/error_of.hpp"

namespace {
using report::canvas;
using report::rgb;

std::size_t count(const canvas& c, rgb v, int x0 = 0, int y0 = 0, int x1 = -1, int y1 = -1) {
    if (x1 < 0) x1 = c.width();
    if (y1 < 0) y1 = c.height();
    std::size_t n = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) n += c.get(x, y) == v;
    return n;
}

rgb blended(rgb base, rgb c, double a) {
    canvas one(1, 1, base);
    one.blend(0, 0, c, a);
    return one.get(0, 0);
}
}  // namespace

TEST_CASE("font: every printable character has its own glyph, inside the 5 x 7 cell") {
    std::set<std::vector<std::uint8_t>> seen;
    for (int ch = 33; ch <= 126; ++ch) {
        const std::uint8_t* g = report::font::glyph(static_cast<unsigned char>(ch));
        std::vector<std::uint8_t> rows(g, g + 7);
        int on = 0;
        for (auto r : rows) {
            CHECK(r < 32);  // 5 columns
            on += r != 0;
        }
        CHECK_MESSAGE(on > 0, "glyph of '" << static_cast<char>(ch) << "' is empty");
        CHECK_MESSAGE(seen.insert(rows).second, "glyph of '" << static_cast<char>(ch) << "' repeats another");
    }
    // bytes outside printable ASCII draw the box, not nothing
    const std::uint8_t* box = report::font::glyph(0xC3);
    CHECK(box[0] == 0x1f);
    CHECK(box[6] == 0x1f);
}

TEST_CASE("font: text is drawn inside its measured box, at every scale") {
    for (int scale : {1, 2, 3}) {
        canvas c(200, 40, report::colors::white);
        const std::string t = "Dice 0.91";
        report::font::draw_text(c, 5, 6, t, report::colors::black, scale);
        const int w = report::font::text_width(t, scale), h = report::font::text_height(scale);
        const std::size_t all = count(c, report::colors::black);
        CHECK(all > 0);
        CHECK(count(c, report::colors::black, 5, 6, 5 + w, 6 + h) == all);
    }
    canvas up(20, 60, report::colors::white);
    report::font::draw_text_up(up, 2, 3, "epoch", report::colors::black);
    const std::size_t all = count(up, report::colors::black);
    CHECK(all > 0);
    CHECK(count(up, report::colors::black, 2, 3, 2 + report::font::text_height(),
                3 + report::font::text_width("epoch")) == all);
}

TEST_CASE("canvas: clipping, blending and size limits") {
    canvas c(10, 8, report::colors::black);
    c.fill_rect(-5, -5, 8, 8, report::colors::white);  // clipped to 3 x 3
    CHECK(count(c, report::colors::white) == 9);
    c.set(100, 100, report::colors::white);  // outside: nothing
    CHECK(count(c, report::colors::white) == 9);
    c.blend(9, 7, rgb{200, 100, 0}, 0.5);
    CHECK(c.get(9, 7) == rgb{100, 50, 0});
    c.line(0, 7, 9, 7, rgb{1, 2, 3});
    CHECK(c.get(0, 7) == rgb{1, 2, 3});
    CHECK(c.get(9, 7) == rgb{1, 2, 3});
    CHECK(count(c, rgb{1, 2, 3}) == 10);
    c.line(0, 0, 1e300, 5, rgb{9, 9, 9});  // huge coordinates are clamped, not looped over forever
    CHECK_THROWS_AS(canvas(0, 5), std::invalid_argument);
    CHECK_THROWS_AS(canvas(5, 20000), std::invalid_argument);
}

TEST_CASE("curves: epoch ticks are whole numbers, value ticks 1, 2 or 5 times a power of ten") {
    CHECK(report::nice_ticks(1, 3, 8, true) == std::vector<double>{1, 2, 3});
    CHECK(report::nice_ticks(0, 37, 8, true) == std::vector<double>{0, 5, 10, 15, 20, 25, 30, 35});
    for (int hi = 1; hi < 300; hi += 7)
        for (double t : report::nice_ticks(0, hi, 8, true)) CHECK(t == std::floor(t));
    const auto y = report::nice_ticks(0.0566, 0.1297, 5, false);
    REQUIRE(!y.empty());
    CHECK(y.front() == doctest::Approx(0.06));
    CHECK(y[1] - y[0] == doctest::Approx(0.02));
    CHECK(report::tick_label(3, true) == "3");
    CHECK(report::tick_label(0.06, false) == "0.06");

    // one epoch: the axis runs 0 to 2 with ticks 0, 1, 2 (no 0.5)
    report::panel_spec p{"loss", "loss", {{"train_loss", {0, 0, 0}, {{1, 0.7}}}}};
    const auto a = report::axes_of(p);
    CHECK(a.xticks == std::vector<double>{0, 1, 2});
}

TEST_CASE("curves: the legend keeps out of the curves' way: top-right for falling, bottom-right for rising") {
    report::panel_spec falling{"loss", "loss", {{"train_loss", {0, 0, 0}, {}}}};
    report::panel_spec rising{"scores", "score", {{"val_dice", {0, 0, 0}, {}}}};
    for (int e = 1; e <= 10; ++e) {
        falling.curves[0].pts.emplace_back(e, 1.0 / e);
        rising.curves[0].pts.emplace_back(e, 1.0 - 1.0 / e);
    }
    CHECK(!report::legend_below(falling, report::axes_of(falling)));
    CHECK(report::legend_below(rising, report::axes_of(rising)));
    // in the SVG: the legend box of the rising panel sits in the lower half (y > 60 + 130)
    const std::string svg = report::svg_curves("t", {falling, rising});
    const auto box = svg.rfind("fill=\"white\" stroke=\"#ddd\"");
    REQUIRE(box != std::string::npos);
    const auto y_at = svg.rfind(" y=\"", box);
    CHECK(std::stod(svg.substr(y_at + 4)) > 190);
}

TEST_CASE("curves: the SVG labels whole epochs and the axes, and escapes the title") {
    const auto by = report::parse_log_csv(
        "epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds\n1,0.9,0.8,0.5,0.3,0.1,0.001,1\n"
        "2,0.7,nan,0.6,0.4,0.1,0.001,1\n3,0.5,0.6,0.7,0.5,0.1,0.001,1\n",
        "log.csv");
    CHECK(by.at("val_loss").pts.size() == 2);  // the nan cell is skipped
    const std::string svg = report::svg_curves("a<b>&c", report::run_panels(by));
    CHECK(svg.find("a&lt;b&gt;&amp;c") != std::string::npos);
    CHECK(svg.find(">2</text>") != std::string::npos);
    CHECK(svg.find(">1.5</text>") == std::string::npos);
    CHECK(svg.find(">2.5</text>") == std::string::npos);
    CHECK(svg.find(">epoch</text>") != std::string::npos);
    CHECK(svg.find(">score</text>") != std::string::npos);
    CHECK(svg.find("polyline") != std::string::npos);
    const std::string m =
        unetpp::test::error_of<cli::usage_error>([] { report::parse_log_csv("epoch,a\n1,x\n", "f.csv"); });
    CHECK(unetpp::test::contains(m, "'x' is not a number"));
}

TEST_CASE("plot_png: the curves are drawn in their colours, with the legend") {
    std::map<std::string, report::series> by;
    for (auto& s : report::curve_styles()) by.emplace(s.name, s);
    for (int e = 1; e <= 5; ++e) {
        by["train_loss"].pts.emplace_back(e, 1.0 / e);
        by["val_dice"].pts.emplace_back(e, 0.1 * e);
    }
    const canvas c = report::png_curves("run", report::run_panels(by), 1);
    CHECK(c.width() == 900);
    CHECK(c.height() == 380);
    const rgb train = report::curve_styles()[0].color, dice = report::curve_styles()[2].color;
    CHECK(count(c, train, 0, 0, 450, 380) > 100);   // the loss panel holds the train curve
    CHECK(count(c, train, 450, 0, 900, 380) == 0);  // and the metrics panel does not
    CHECK(count(c, dice, 450, 0, 900, 380) > 100);
    CHECK(count(c, report::curve_styles()[1].color) == 0);  // val_loss has no points: not drawn
    CHECK_THROWS_AS(report::png_curves("run", {}, 0), std::invalid_argument);
}

TEST_CASE("overlay: four labelled panels, ground truth and prediction in one polarity, TP/FP/FN colours") {
    // 8 x 8 grey image; truth = left half, prediction = top half
    const int w = 8, h = 8;
    std::vector<std::uint8_t> grey(w * h, 100), truth(w * h), pred(w * h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) truth[y * w + x] = x < 4, pred[y * w + x] = y < 4;
    report::overlay_input in{
        w, h, 1, grey.data(), truth, pred, "case_1   Dice 0.5", "masks: foreground = mask pixel > 127"};
    const canvas c = report::draw_overlay(in);
    const auto counts = report::count_overlay(truth, pred);
    CHECK(counts.true_positive == 16);
    CHECK(counts.false_positive == 16);
    CHECK(counts.false_negative == 16);
    // display: 8 px enlarged 8x to 64 (160 / 8 = 20, capped at 8)
    const int k = 8, dw = 64, margin = 12, gap = 10;
    const int top = margin + report::font::text_height(2) + 8 + report::font::text_height(2) + 6;
    const auto at = [&](int panel, int x, int y) {
        return c.get(margin + panel * (dw + gap) + x * k + k / 2, top + y * k + k / 2);
    };
    CHECK(at(0, 1, 1) == rgb{100, 100, 100});
    CHECK(at(1, 1, 6) == report::colors::white);  // truth foreground: white
    CHECK(at(1, 6, 6) == report::colors::black);
    CHECK(at(2, 6, 1) == report::colors::white);  // prediction foreground: white, same polarity
    CHECK(at(2, 6, 6) == report::colors::black);
    const rgb g{100, 100, 100};
    CHECK(at(3, 2, 2) == blended(g, report::colors::true_positive, 0.45));
    CHECK(at(3, 6, 2) == blended(g, report::colors::false_positive, 0.55));
    CHECK(at(3, 2, 6) == blended(g, report::colors::false_negative, 0.55));
    CHECK(at(3, 6, 6) == g);  // true negative: the image
    // the truth outline runs along x = 3 (the last foreground column) in the overlay panel
    CHECK(c.get(margin + 3 * (dw + gap) + 4 * k - 1, top + 6 * k) == report::colors::truth_contour);
    // labels above the panels, a legend below
    CHECK(count(c, report::colors::black, 0, 0, c.width(), top) > 50);
    CHECK(count(c, report::colors::false_positive, 0, top + 8 * k + 2, c.width(), c.height()) > 50);

    in.truth.clear();  // no ground truth: a grey panel, no outline
    const canvas n = report::draw_overlay(in);
    CHECK(count(n, report::colors::truth_contour, 0, top, n.width(), top + 8 * k) == 0);
    in.pred.resize(5);
    CHECK_THROWS_AS(report::draw_overlay(in), std::invalid_argument);
}
