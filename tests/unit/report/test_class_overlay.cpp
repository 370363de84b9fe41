// The multi-class overlay picture (tools/report/class_overlay.hpp, class_overlay_png in
// overlay_png.hpp): classes filled in their colours in the mask panels, wrong pixels hatched and
// true class borders in the overlay, every class in the legend, bad input refused.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../../../tools/report/overlay_png.hpp"
#include "../../support/error_of.hpp"

namespace {
using report::canvas;
using unetpp::test::error_of;
using report::rgb;

std::size_t count(const canvas& c, rgb v, int x0, int y0, int x1, int y1) {
    std::size_t n = 0;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) n += c.get(x, y) == v;
    return n;
}

constexpr rgb c0{0, 0, 0}, c1{230, 25, 75}, c2{60, 180, 75};

/// A 4 x 4 grey image; truth all class 1; prediction class 1 on the left half, class 2 on the right.
report::class_overlay_input sample(std::vector<std::uint8_t>& pixels) {
    pixels.assign(16, 100);
    report::class_overlay_input in;
    in.width = 4, in.height = 4, in.channels = 1, in.pixels = pixels.data();
    in.truth.assign(16, 1);
    in.pred.assign(16, 1);
    for (std::size_t y = 0; y < 4; ++y) in.pred[y * 4 + 2] = in.pred[y * 4 + 3] = 2;
    in.colours = {c0, c1, c2};
    in.names = {"class 0 (background)", "class 1", "class 2"};
    in.caption = "case   mean Dice 0.5";
    return in;
}

// the layout of overlay.hpp: a 4 x 4 image is shown at 32 x 32, panels 10 pixels apart from x = 12
constexpr int side = 32, top = 12 + 14 + 8 + 14 + 6;
int panel_x(int p) { return 12 + p * (side + 10); }
}  // namespace

TEST_CASE("class overlay: mask panels in the class colours, wrong pixels hatched, legend with every class") {
    std::vector<std::uint8_t> pixels;
    const auto in = sample(pixels);
    const canvas cv = report::draw_class_overlay(in);
    CHECK(cv.width() >= 2 * 12 + 4 * side + 3 * 10);
    // ground truth: all class 1
    CHECK(count(cv, c1, panel_x(1), top, panel_x(1) + side, top + side) == side * side);
    // prediction: half class 1, half class 2
    CHECK(count(cv, c1, panel_x(2), top, panel_x(2) + side, top + side) == side * side / 2);
    CHECK(count(cv, c2, panel_x(2), top, panel_x(2) + side, top + side) == side * side / 2);
    // overlay: the wrong right half is hatched white on every 4th diagonal, the right left half is not;
    // the truth has one class, so no border is drawn
    const int half = panel_x(3) + side / 2;
    CHECK(count(cv, report::colors::white, half, top, panel_x(3) + side, top + side) == side * side / 2 / 4);
    CHECK(count(cv, report::colors::white, panel_x(3), top, half, top + side) == 0);
    // the legend below the panels: a swatch of every class colour (class 0 black too)
    for (const rgb c : {c0, c1, c2}) CHECK(count(cv, c, 0, top + side + 10, cv.width(), cv.height()) >= 12 * 7);
}

TEST_CASE("class overlay: true class borders are drawn in white") {
    std::vector<std::uint8_t> pixels;
    auto in = sample(pixels);
    in.pred = in.truth = std::vector<std::uint8_t>(16, 0);
    in.truth[5] = in.pred[5] = 2;  // one pixel of class 2 at (1, 1), predicted right
    const canvas cv = report::draw_class_overlay(in);
    // no wrong pixel, so every white pixel of the overlay panel is a border, inside the class-2 block
    const std::size_t white = count(cv, report::colors::white, panel_x(3), top, panel_x(3) + side, top + side);
    CHECK(white > 0);
    // the border lies on both sides of the edge of the pixel's 8 x 8 block (t = 1)
    CHECK(count(cv, report::colors::white, panel_x(3) + 7, top + 7, panel_x(3) + 17, top + 17) == white);
}

TEST_CASE("class overlay: bad input is refused with what is wrong") {
    std::vector<std::uint8_t> pixels;
    auto in = sample(pixels);
    in.pred[0] = 3;  // no colour for class 3
    const auto draw = [&] { (void)report::draw_class_overlay(in); };
    CHECK(error_of<std::invalid_argument>(draw).find("a class without a colour") != std::string::npos);
    in = sample(pixels);
    in.names.pop_back();
    CHECK(error_of<std::invalid_argument>(draw).find("one name for each") != std::string::npos);
    in = sample(pixels);
    in.truth.resize(3);
    CHECK(error_of<std::invalid_argument>(draw).find("one byte per image pixel") != std::string::npos);
}

TEST_CASE("class_overlay_png: tensors of class indices to a PNG; an index without a colour is refused") {
    unetpp::tensor<float> image(unetpp::shape4{1, 3, 4, 5}), truth(unetpp::shape4{1, 1, 4, 5}),
        pred(unetpp::shape4{1, 1, 4, 5});
    truth[3] = 2, pred[4] = 1;
    const auto png = report::class_overlay_png(image, truth, pred, {c0, c1, c2}, {"a", "b", "c"}, "caption", "note");
    REQUIRE(png.size() > 8);
    CHECK(png[1] == 'P');
    CHECK(png[2] == 'N');
    pred[0] = 3;
    CHECK(error_of<std::invalid_argument>([&] {
              (void)report::class_overlay_png(image, truth, pred, {c0, c1, c2}, {"a", "b", "c"}, "", "");
          }).find("holds 3.000000, not a class index 0 to 2") != std::string::npos);
}
