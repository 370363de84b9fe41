// Tests for unetpp/io/image.hpp: PNG round trips, 16-bit input, channel conversion, tensor
// conversion, side-by-side pictures, and the errors for bad files (missing, truncated, garbage,
// unsupported format, absurd dimensions). Hostile files: test_image_hostile.cpp (allocator, PNG,
// BMP) and test_image_jpeg.cpp.

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unetpp/io/image.hpp>

#include "image_test_files.hpp"

namespace fs = std::filesystem;
using namespace image_test;
using unetpp::io::image;

TEST_CASE("gray and RGB 8-bit PNGs survive a write/read round trip exactly") {
    temp_dir d;
    for (int c : {1, 3}) {
        CAPTURE(c);
        const image img = noise_image(37, 23, c, 11u + static_cast<std::uint32_t>(c));
        const fs::path p = d.path / ("rt" + std::to_string(c) + ".png");
        unetpp::io::write_png(p, img);
        const image back = unetpp::io::read_image(p);
        CHECK(back.width == 37);
        CHECK(back.height == 23);
        CHECK(back.channels == c);
        CHECK(back.source_bits == 8);
        CHECK(back.pixels == img.pixels);
    }
    // Atomic write leaves no temporary files behind and replaces an existing file.
    unetpp::io::write_png(d.path / "rt1.png", noise_image(5, 4, 1, 3));
    CHECK(unetpp::io::read_image(d.path / "rt1.png").width == 5);
    int files = 0;
    for (const auto& e : fs::directory_iterator(d.path)) {
        ++files;
        CHECK(e.path().extension() == ".png");
    }
    CHECK(files == 2);
}

TEST_CASE("channel conversion: BT.601 luma, replication, alpha") {
    temp_dir d;
    image rgb(3, 1, 3);
    const std::array<std::array<int, 3>, 3> px = {{{255, 0, 0}, {0, 255, 0}, {10, 20, 200}}};
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) rgb.at(i, 0, c) = static_cast<std::uint8_t>(px[i][c]);
    unetpp::io::write_png(d.path / "rgb.png", rgb);
    const image gray = unetpp::io::read_image(d.path / "rgb.png", 1);
    REQUIRE(gray.channels == 1);
    for (int i = 0; i < 3; ++i) {
        const double y = 0.299 * px[i][0] + 0.587 * px[i][1] + 0.114 * px[i][2];
        CHECK(gray.at(i, 0) == static_cast<int>(std::floor(y + 0.5)));
    }
    CHECK(gray.at(0, 0) == 76);
    CHECK(gray.at(1, 0) == 150);

    const image g = noise_image(4, 2, 1, 5);
    unetpp::io::write_png(d.path / "g.png", g);
    const image as_rgb = unetpp::io::read_image(d.path / "g.png", 3);
    const image as_rgba = unetpp::io::read_image(d.path / "g.png", 4);
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 4; ++x) {
            for (int c = 0; c < 3; ++c) CHECK(as_rgb.at(x, y, c) == g.at(x, y));
            CHECK(as_rgba.at(x, y, 3) == 255);
        }

    image rgba(1, 1, 4);
    rgba.pixels = {100, 100, 100, 7};
    unetpp::io::write_png(d.path / "rgba.png", rgba);
    CHECK(unetpp::io::read_image(d.path / "rgba.png", 0).channels == 4);
    const image dropped = unetpp::io::read_image(d.path / "rgba.png", 1);
    CHECK(dropped.pixels == std::vector<std::uint8_t>{100});  // alpha dropped, not composited

    CHECK_THROWS_AS(unetpp::io::read_image(d.path / "g.png", 2), std::invalid_argument);
}

TEST_CASE("16-bit PNG is decoded at 16 bits and rounded to 8") {
    temp_dir d;
    const fs::path p = d.path / "g16.png";
    write_bytes(p, gray16_png({0, 32896, 65535, 257 * 3 + 128}));
    const image img = unetpp::io::read_image(p, 1);
    REQUIRE(img.width == 4);
    CHECK(img.source_bits == 16);
    CHECK(img.pixels == std::vector<std::uint8_t>{0, 128, 255, 3});  // 899 / 257 = 3.498 -> 3
    const image rgb = unetpp::io::read_image(p, 3);
    CHECK(rgb.at(2, 0, 1) == 255);
}

TEST_CASE("read errors name the file and say what went wrong") {
    temp_dir d;
    const fs::path good = d.path / "good.png";
    unetpp::io::write_png(good, noise_image(64, 64, 1, 9));
    const auto bytes = read_bytes(good);
    REQUIRE(bytes.size() > 1000);

    SUBCASE("missing file") {
        const auto msg = error_of([&] { (void)unetpp::io::read_image(d.path / "nope.png"); });
        CHECK(msg.find("nope.png") != std::string::npos);
        CHECK(msg.find("no such file") != std::string::npos);
    }
    SUBCASE("truncated file") {
        const fs::path p = d.path / "half.png";
        write_bytes(p, {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2)});
        const auto msg = error_of([&] { (void)unetpp::io::read_image(p); });
        CHECK(msg.find("half.png") != std::string::npos);
        CHECK(msg.find("corrupt or truncated") != std::string::npos);
    }
    SUBCASE("garbage bytes") {
        const fs::path p = d.path / "garbage.png";
        write_bytes(p, std::vector<unsigned char>(300, 0x5a));
        const auto msg = error_of([&] { (void)unetpp::io::read_image(p); });
        CHECK(msg.find("garbage.png") != std::string::npos);
        CHECK(msg.find("not a readable PNG, JPEG or BMP") != std::string::npos);
    }
    SUBCASE("empty file") {
        const fs::path p = d.path / "empty.png";
        write_bytes(p, {});
        CHECK(error_of([&] { (void)unetpp::io::read_image(p); }).find("empty") != std::string::npos);
    }
    SUBCASE("unsupported format (GIF is deliberately not compiled in)") {
        const fs::path p = d.path / "anim.gif";
        std::vector<unsigned char> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
        write_bytes(p, gif);
        const auto msg = error_of([&] { (void)unetpp::io::read_image(p); });
        CHECK(msg.find("anim.gif") != std::string::npos);
        CHECK(msg.find("GIF") != std::string::npos);
        CHECK(msg.find("only PNG, JPEG and BMP") != std::string::npos);
    }
    SUBCASE("a header claiming 100000 x 100000 pixels is refused before decoding") {
        auto big = bytes;
        // IHDR data starts at byte 16: width, height (big-endian); its CRC covers bytes 12..28.
        for (int k : {16, 20}) {
            const std::uint32_t v = 100000;
            big[k] = static_cast<unsigned char>(v >> 24), big[k + 1] = static_cast<unsigned char>(v >> 16);
            big[k + 2] = static_cast<unsigned char>(v >> 8), big[k + 3] = static_cast<unsigned char>(v);
        }
        const std::uint32_t c = crc32(big.data() + 12, 17);
        big[29] = static_cast<unsigned char>(c >> 24), big[30] = static_cast<unsigned char>(c >> 16);
        big[31] = static_cast<unsigned char>(c >> 8), big[32] = static_cast<unsigned char>(c);
        const fs::path p = d.path / "bomb.png";
        write_bytes(p, big);
        const auto msg = error_of([&] { (void)unetpp::io::read_image(p); });
        CHECK(msg.find("bomb.png") != std::string::npos);
        CHECK(msg.find("100000 x 100000") != std::string::npos);
        CHECK(msg.find("above the limit") != std::string::npos);
        // A custom, tighter limit applies to ordinary images too.
        unetpp::io::image_limits tight;
        tight.max_side = 32;
        CHECK(error_of([&] { (void)unetpp::io::read_image(good, 1, tight); }).find("above the limit") !=
              std::string::npos);
    }
    SUBCASE("a directory is not an image") {
        CHECK(error_of([&] { (void)unetpp::io::read_image(d.path); }).find("directory") != std::string::npos);
    }
}

TEST_CASE("write_png errors name the path") {
    temp_dir d;
    const fs::path p = d.path / "no_such_dir" / "x.png";
    const auto msg = error_of([&] { unetpp::io::write_png(p, noise_image(2, 2, 1, 1)); });
    CHECK(msg.find("x.png") != std::string::npos);
    CHECK(msg.find("does not exist") != std::string::npos);
    image bad(2, 2, 1);
    bad.pixels.resize(3);
    CHECK(error_of([&] { unetpp::io::write_png(d.path / "bad.png", bad); }).find("bad.png") != std::string::npos);
    CHECK_FALSE(fs::exists(d.path / "bad.png"));
}

TEST_CASE("to_tensor / from_tensor") {
    image img(3, 2, 3);
    for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>(i * 13);
    const auto t = unetpp::io::to_tensor(img);
    REQUIRE(t.shape() == unetpp::shape4{1, 3, 2, 3});
    CHECK(t(0, 1, 1, 2) == doctest::Approx(img.at(2, 1, 1) / 255.0));
    CHECK(unetpp::io::from_tensor(t).pixels == img.pixels);
    const image g = unetpp::io::from_tensor(t, 0, 2);
    CHECK(g.channels == 1);
    CHECK(g.at(1, 0) == img.at(1, 0, 2));

    unetpp::tensor<float> b(unetpp::shape4{2, 1, 1, 4}, {0, 0, 0, 0, -1.0f, 0.5f, 2.0f, std::nanf("")});
    CHECK(unetpp::io::from_tensor(b, 1).pixels == std::vector<std::uint8_t>{0, 128, 255, 0});
    CHECK_THROWS_AS((void)unetpp::io::from_tensor(b, 2), std::out_of_range);
    CHECK_THROWS_AS((void)unetpp::io::from_tensor(b, 0, 1), std::out_of_range);
}

TEST_CASE("side_by_side joins gray images with 2-pixel white separators") {
    image a(2, 3, 1), b(1, 3, 1), c(3, 3, 1);
    std::fill(b.pixels.begin(), b.pixels.end(), std::uint8_t{7});
    const image s = unetpp::io::side_by_side({a, b, c});
    CHECK(s.width == 2 + 2 + 1 + 2 + 3);
    CHECK(s.height == 3);
    for (int y = 0; y < 3; ++y) {
        CHECK(s.at(0, y) == 0);
        CHECK(s.at(2, y) == 255);
        CHECK(s.at(3, y) == 255);
        CHECK(s.at(4, y) == 7);
        CHECK(s.at(5, y) == 255);
        CHECK(s.at(7, y) == 0);
    }
    CHECK_THROWS_AS((void)unetpp::io::side_by_side({a, image(2, 4, 1)}), std::invalid_argument);
    CHECK_THROWS_AS((void)unetpp::io::side_by_side({a, image(2, 3, 3)}), std::invalid_argument);
}

// --- hostile inputs (issue 14) ------------------------------------------------------------------
