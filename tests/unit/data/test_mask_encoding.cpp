// Tests for unetpp/data/mask_encoding.hpp: the palette parser and every one of its errors, the
// mask encodings' names, mask_rule's factories and checks, and the decoding of label and palette
// pixels with every decoding error. Reading label and palette files through the readers is in
// test_class_masks.cpp.

#include <doctest/doctest.h>

#include <unetpp/data/mask_encoding.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../support/error_of.hpp"

namespace data = unetpp::data;
using data::rgb8;
using unetpp::test::contains;
using unetpp::test::error_of;

namespace {

std::string palette_error(std::string_view text) {
    return error_of<std::invalid_argument>([&] { (void)data::parse_palette(text); }, "<no error>");
}

// Decodes w x h pixels of `channels` with `rule`; returns the classes.
std::vector<float> decode(const std::vector<std::uint8_t>& px, int w, int h, int channels,
                          const data::mask_rule& rule) {
    std::vector<float> out(static_cast<std::size_t>(w) * h, -1.0f);
    data::decode_class_mask(px.data(), w, h, channels, rule, out.data(), "test", "m.png");
    return out;
}

std::string decode_error(const std::vector<std::uint8_t>& px, int w, int h, int channels, const data::mask_rule& rule) {
    return error_of<std::runtime_error>([&] { (void)decode(px, w, h, channels, rule); }, "<no error>");
}

}  // namespace

TEST_CASE("a palette is read from decimal triples and #RRGGBB entries, class 0 first") {
    const auto p = data::parse_palette("0,0,0;255,0,0;0,255,0");
    REQUIRE(p.size() == 3);
    CHECK(p[0] == rgb8{0, 0, 0});
    CHECK(p[1] == rgb8{255, 0, 0});
    CHECK(p[2] == rgb8{0, 255, 0});
    // Hex in either case, spaces around entries and numbers, and both forms in one palette.
    const auto q = data::parse_palette(" #000000 ; #FF8000;  12 , 34,56 ;#0a0B0c ");
    REQUIRE(q.size() == 4);
    CHECK(q[1] == rgb8{255, 128, 0});
    CHECK(q[2] == rgb8{12, 34, 56});
    CHECK(q[3] == rgb8{10, 11, 12});
    // format_palette writes text that reads back to the same colours.
    CHECK(data::format_palette(q) == "0,0,0;255,128,0;12,34,56;10,11,12");
    CHECK(data::parse_palette(data::format_palette(q)) == q);
    CHECK(data::describe_palette(p) == "0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 255, 0)");
    // 256 colours is the most a palette holds.
    std::string big;
    for (int k = 0; k < 256; ++k) big += std::string(k ? ";" : "") + std::to_string(k) + ",0,0";
    CHECK(data::parse_palette(big).size() == 256);
    CHECK(contains(palette_error(big + ";0,1,0"), "more than 256 entries"));
}

TEST_CASE("every palette error names the entry and says what is expected") {
    CHECK(contains(palette_error(""), "the palette is empty"));
    CHECK(contains(palette_error("   "), "e.g. \"0,0,0;255,0,0;0,255,0\""));
    const std::string empty_entry = palette_error("0,0,0;;255,0,0");
    CHECK(contains(empty_entry, "palette entry 1 (class 1) is empty"));
    CHECK(contains(empty_entry, "R,G,B"));
    CHECK(contains(palette_error("0,0,0;255,0,0;"), "palette entry 2 (class 2) is empty"));
    CHECK(contains(palette_error("0,0,0;#ff00"), "palette entry 1 (class 1) '#ff00' has 4 hexadecimal digits"));
    CHECK(contains(palette_error("0,0,0;#ff00zz"), "'z' is not a hexadecimal digit"));
    CHECK(contains(palette_error("0,0,0;255,0"), "palette entry 1 (class 1) '255,0' has 2 numbers, not 3"));
    CHECK(contains(palette_error("0;255,0,0"), "'0' has 1 number, not 3"));
    CHECK(contains(palette_error("0,0,0;1,2,3,4"), "has more than 3 numbers"));
    CHECK(contains(palette_error("0,0,0;1,2,3,"), "has a ',' after its third number"));
    CHECK(contains(palette_error("0,0,0;1,,3"), "number 2 is missing"));
    CHECK(contains(palette_error("0,0,0;red,0,0"), "'red' is not a whole number"));
    CHECK(contains(palette_error("0,0,0;-1,0,0"), "'-1' is not a whole number"));
    CHECK(contains(palette_error("0,0,0;256,0,0"), "256 is outside 0 to 255"));
    CHECK(contains(palette_error("0,0,0;99999999999999999999,0,0"), "is outside 0 to 255"));
    CHECK(contains(palette_error("0,0,0;255,0,0;#ff0000"), "palette colours 1 and 2 are both (255, 0, 0)"));
    CHECK(contains(palette_error("0,0,0"), "at least 2 colours"));
}

TEST_CASE("mask encodings by name") {
    CHECK(data::parse_mask_encoding("binary") == data::mask_encoding::binary);
    CHECK(data::parse_mask_encoding("labels") == data::mask_encoding::labels);
    CHECK(data::parse_mask_encoding("palette") == data::mask_encoding::palette);
    for (auto e : {data::mask_encoding::binary, data::mask_encoding::labels, data::mask_encoding::palette})
        CHECK(data::parse_mask_encoding(data::to_string(e)) == e);
    const std::string err = error_of<std::invalid_argument>([] { (void)data::parse_mask_encoding("Labels"); });
    CHECK(contains(err, "'Labels' is not one of binary, labels, palette"));
}

TEST_CASE("mask_rule: the binary default is unchanged; label and palette rules check their arguments") {
    const data::mask_rule def{};
    CHECK(def.encoding == data::mask_encoding::binary);
    CHECK(def.threshold == 127);
    CHECK_FALSE(def.strict);
    CHECK(def.class_count() == 2);
    const auto strict = data::mask_rule::binary(100, true);
    CHECK(strict.threshold == 100);
    CHECK(strict.strict);

    const auto lab = data::mask_rule::labels(3);
    CHECK(lab.encoding == data::mask_encoding::labels);
    CHECK(lab.class_count() == 3);
    CHECK(data::mask_rule::labels(0).class_count() == 0);  // unchecked
    CHECK(data::mask_rule::labels(256).class_count() == 256);
    const std::string one = error_of<std::invalid_argument>([] { (void)data::mask_rule::labels(1); });
    CHECK(contains(one, "classes must be 2 to 256"));
    CHECK(contains(one, "got 1; for one foreground class use the binary encoding"));
    CHECK(contains(error_of<std::invalid_argument>([] { (void)data::mask_rule::labels(257); }), "got 257"));
    CHECK(contains(error_of<std::invalid_argument>([] { (void)data::mask_rule::labels(-2); }), "got -2"));

    const auto pal = data::mask_rule::palette(data::parse_palette("0,0,0;255,0,0;0,0,255"));
    CHECK(pal.encoding == data::mask_encoding::palette);
    CHECK(pal.class_count() == 3);
    CHECK(contains(error_of<std::invalid_argument>([] { (void)data::mask_rule::palette({{0, 0, 0}}); }),
                   "at least 2 colours"));
    // A rule filled in by hand is checked too.
    data::mask_rule hand;
    hand.encoding = data::mask_encoding::palette;
    CHECK(contains(error_of<std::invalid_argument>([&] { hand.check(); }), "at least 2 colours"));
    hand.colours = {{0, 0, 0}, {1, 1, 1}};
    CHECK(contains(error_of<std::invalid_argument>([&] { hand.check(); }),
                   "has 2 colours but classes = 0; build it with mask_rule::palette(colours)"));
}

TEST_CASE("label pixels become class indices: gray, gray + alpha, colour with equal channels") {
    const auto rule = data::mask_rule::labels(3);
    CHECK(decode({0, 1, 2, 1, 0, 2}, 3, 2, 1, rule) == std::vector<float>{0, 1, 2, 1, 0, 2});
    // Alpha is ignored, whatever it holds.
    CHECK(decode({2, 0, 1, 255, 0, 17}, 3, 1, 2, rule) == std::vector<float>{2, 1, 0});
    CHECK(decode({1, 1, 1, 2, 2, 2}, 2, 1, 3, rule) == std::vector<float>{1, 2});
    CHECK(decode({2, 2, 2, 0, 0, 0, 0, 9}, 2, 1, 4, rule) == std::vector<float>{2, 0});
    // N = 0 leaves the values unchecked.
    CHECK(decode({0, 7, 255}, 3, 1, 1, data::mask_rule::labels(0)) == std::vector<float>{0, 7, 255});
}

TEST_CASE("label errors name the file, the pixel, the value and what to do") {
    const auto rule = data::mask_rule::labels(3);
    // 2 x 2: class 5 at pixel (1, 0), class 7 at (0, 1).
    const std::string big = decode_error({0, 5, 7, 1}, 2, 2, 1, rule);
    CAPTURE(big);
    CHECK(contains(big, "test: mask 'm.png' holds class 5 at pixel (1, 0) (its largest value is 7)"));
    CHECK(contains(big, "--classes is 3 (classes 0 to 2); pass --classes 8 or fix the mask"));
    CHECK_FALSE(contains(big, "binary"));
    // A 0/255 mask read as labels: the message says it looks binary.
    const std::string bin = decode_error({0, 255, 255, 0}, 2, 2, 1, rule);
    CHECK(contains(bin, "holds class 255 at pixel (1, 0)"));
    CHECK(contains(bin, "pass --classes 256"));
    CHECK(contains(bin, "it holds only 0 and 255, so it looks like a binary mask"));
    // Colour with unequal channels is not a label image.
    const std::string col = decode_error({1, 1, 1, 200, 0, 0}, 2, 1, 3, rule);
    CHECK(contains(col, "test: mask 'm.png' has colour (200, 0, 0) at pixel (1, 0)"));
    CHECK(contains(col, "use the palette encoding"));
    // A binary rule is not decoded here.
    CHECK_THROWS_AS(decode({0}, 1, 1, 1, data::mask_rule{}), std::invalid_argument);
}

TEST_CASE("palette pixels become the index of their colour; an unknown colour is an error listing the palette") {
    const auto rule = data::mask_rule::palette(data::parse_palette("0,0,0;255,0,0;0,255,0"));
    const std::vector<std::uint8_t> rgb = {0, 255, 0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 0};
    CHECK(decode(rgb, 3, 2, 3, rule) == std::vector<float>{2, 0, 1, 1, 2, 0});
    // RGBA: alpha ignored.
    CHECK(decode({255, 0, 0, 0, 0, 255, 0, 128}, 2, 1, 4, rule) == std::vector<float>{1, 2});
    // Gray files read as equal channels: a palette with grays decodes a gray mask.
    const auto grays = data::mask_rule::palette(data::parse_palette("0,0,0;128,128,128;255,255,255"));
    CHECK(decode({255, 0, 128, 128}, 4, 1, 1, grays) == std::vector<float>{2, 0, 1, 1});
    CHECK(decode({255, 9, 128, 0}, 2, 1, 2, grays) == std::vector<float>{2, 1});

    const std::string err = decode_error({0, 0, 0, 255, 0, 0, 0, 0, 255}, 3, 1, 3, rule);
    CAPTURE(err);
    CHECK(contains(err, "test: mask 'm.png' has colour (0, 0, 255) at pixel (2, 0), which is in no palette entry"));
    CHECK(contains(err, "the palette is 0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 255, 0)"));
    CHECK(contains(err, "add the colour to the palette or fix the mask"));
    CHECK(contains(decode_error({0, 77}, 2, 1, 1, grays), "has colour (77, 77, 77) at pixel (1, 0)"));
    // A long palette is listed in part, with its size.
    std::string text;
    for (int k = 0; k < 40; ++k) text += std::string(k ? ";" : "") + std::to_string(k) + ",0,0";
    const std::string longer = decode_error({0, 0, 7}, 1, 1, 3, data::mask_rule::palette(data::parse_palette(text)));
    CHECK(contains(longer, "15: (15, 0, 0), ... (40 colours)"));
    CHECK_FALSE(contains(longer, "16: (16, 0, 0)"));
}
