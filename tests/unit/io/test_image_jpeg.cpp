// Hostile and ordinary JPEGs for unetpp/io/image.hpp (issue 14): libjpeg-turbo decodes gray and
// RGB, baseline and progressive; the 9-byte JPEG that overflowed stb's Huffman tables,
// progressive JPEGs with undefined Huffman tables, corrupt and truncated files and headers
// beyond the limits give a clean std::runtime_error; without libjpeg a JPEG is refused. JPEGs are
// made with libjpeg's compressor.

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

#if defined(UNETPP_HAS_LIBJPEG) && UNETPP_HAS_LIBJPEG

TEST_CASE("JPEG is decoded by libjpeg-turbo: gray and RGB, baseline and progressive") {
    image gray(32, 24, 1);
    for (int y = 0; y < 24; ++y)
        for (int x = 0; x < 32; ++x) gray.at(x, y) = static_cast<std::uint8_t>(x * 4 + y * 2);
    image rgb(33, 17, 3);
    for (int y = 0; y < 17; ++y)
        for (int x = 0; x < 33; ++x) {
            rgb.at(x, y, 0) = static_cast<std::uint8_t>(200 - x * 3);
            rgb.at(x, y, 1) = static_cast<std::uint8_t>(50 + y * 5);
            rgb.at(x, y, 2) = 120;
        }
    for (bool progressive : {false, true}) {
        CAPTURE(progressive);
        jpeg_options o;
        o.progressive = progressive;
        o.quality = 95;
        const image g = decode_image(encode_jpeg(gray, o), 0);
        REQUIRE(g.width == 32);
        REQUIRE(g.height == 24);
        REQUIRE(g.channels == 1);
        CHECK(g.source_bits == 8);
        int worst = 0;
        for (std::size_t i = 0; i < g.pixels.size(); ++i) worst = std::max(worst, std::abs(g.pixels[i] - gray.pixels[i]));
        CHECK(worst <= 6);
        const image c = decode_image(encode_jpeg(rgb, o), 0);
        REQUIRE(c.width == 33);
        REQUIRE(c.channels == 3);
        worst = 0;
        for (std::size_t i = 0; i < c.pixels.size(); ++i) worst = std::max(worst, std::abs(c.pixels[i] - rgb.pixels[i]));
        CHECK(worst <= 24);  // 4:2:0 chroma subsampling
        const image c1 = decode_image(encode_jpeg(rgb, o), 1);
        CHECK(c1.channels == 1);
        const image g4 = decode_image(encode_jpeg(gray, o), 4);
        CHECK(g4.channels == 4);
        CHECK(g4.at(3, 2, 3) == 255);
        CHECK(g4.at(3, 2, 0) == g.at(3, 2));
    }
    // read_image goes the same way.
    temp_dir d;
    write_bytes(d.path / "x.jpg", encode_jpeg(gray));
    CHECK(unetpp::io::read_image(d.path / "x.jpg").width == 32);
}

TEST_CASE("the 9-byte JPEG that overflowed stb's Huffman tables is refused cleanly") {
    const std::vector<unsigned char> nine = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x15, 0x00, 0x6F, 0xBF};
    for (int want : {0, 1, 3}) {
        const auto msg = decode_error(nine, want);
        CHECK(contains(msg, "cannot decode JPEG 'hostile'"));
        CHECK(contains(msg, "libjpeg-turbo"));
        CHECK(contains(msg, "corrupt or truncated"));
    }
}

TEST_CASE("progressive JPEGs with undefined Huffman tables are refused cleanly") {
    image src(40, 24, 3);
    for (std::size_t i = 0; i < src.pixels.size(); ++i) src.pixels[i] = static_cast<std::uint8_t>((i * 7) % 251);
    jpeg_options o;
    o.progressive = true;
    const auto good = encode_jpeg(src, o);
    REQUIRE(decode_image(good, 0).width == 40);
    const auto segments = jpeg_segments(good);
    int dht = 0;
    for (const auto& s : segments) dht += s.marker == 0xC4;
    REQUIRE(dht >= 2);  // progressive files carry a DHT before most scans

    SUBCASE("every DHT segment removed") {
        std::vector<unsigned char> bad(good.begin(), good.begin() + 2);
        std::size_t at = 2;
        for (const auto& s : segments) {
            bad.insert(bad.end(), good.begin() + static_cast<std::ptrdiff_t>(at),
                       good.begin() + static_cast<std::ptrdiff_t>(s.start));
            if (s.marker != 0xC4) bad.insert(bad.end(), good.begin() + static_cast<std::ptrdiff_t>(s.start),
                                             good.begin() + static_cast<std::ptrdiff_t>(s.start + s.length));
            at = s.start + s.length;
        }
        bad.insert(bad.end(), good.begin() + static_cast<std::ptrdiff_t>(at), good.end());
        REQUIRE(bad.size() < good.size());
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "cannot decode JPEG 'hostile'"));
        CHECK(contains(msg, "Huffman table"));
    }
    SUBCASE("every Huffman table renumbered to 3, which no scan uses") {
        auto bad = good;
        for (const auto& s : segments) {
            if (s.marker != 0xC4) continue;
            std::size_t p = s.start + 4;
            while (p < s.start + s.length) {
                bad[p] = static_cast<unsigned char>((bad[p] & 0xF0) | 3);
                std::size_t count = 0;
                for (int k = 1; k <= 16; ++k) count += good[p + static_cast<std::size_t>(k)];
                p += 17 + count;
            }
        }
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "cannot decode JPEG 'hostile'"));
        CHECK(contains(msg, "Huffman table 0x00 was not defined"));
    }
    SUBCASE("the AC table of the first AC scan dropped") {
        // Remove only the DHT in front of the second SOS: that scan's table is then the one the
        // previous scan left, or none.
        int sos = 0;
        std::vector<unsigned char> bad;
        for (const auto& s : segments) {
            if (s.marker == 0xDA && ++sos == 2) break;
            if (s.marker == 0xC4 && sos == 1) {
                bad = good;
                bad.erase(bad.begin() + static_cast<std::ptrdiff_t>(s.start),
                          bad.begin() + static_cast<std::ptrdiff_t>(s.start + s.length));
            }
        }
        REQUIRE(!bad.empty());
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "cannot decode JPEG 'hostile'"));
    }
}

TEST_CASE("corrupt and truncated JPEGs give clean errors") {
    image src(48, 32, 3);
    for (std::size_t i = 0; i < src.pixels.size(); ++i) src.pixels[i] = static_cast<std::uint8_t>((i * 13) % 256);
    for (bool progressive : {false, true}) {
        CAPTURE(progressive);
        jpeg_options o;
        o.progressive = progressive;
        const auto good = encode_jpeg(src, o);
        REQUIRE(decode_image(good, 0).width == 48);
        // Every truncation, including one that loses only the EOI marker.
        for (std::size_t n = 2; n + 1 < good.size(); n += (n < 700 ? 1 : 7)) {
            CAPTURE(n);
            const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            const auto msg = decode_error(cut);
            CAPTURE(msg);
            CHECK((contains(msg, "cannot decode JPEG 'hostile'") || contains(msg, "has an invalid header")));
        }
        const std::vector<unsigned char> half(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
        CHECK(contains(decode_error(half), "Premature end of JPEG file"));
        // Damaged entropy-coded data: a marker inside the scan.
        auto bad = good;
        const auto segs = jpeg_segments(good);
        std::size_t scan = 0;
        for (const auto& s : segs)
            if (s.marker == 0xDA) scan = s.start + s.length;
        REQUIRE(scan + 20 < bad.size());
        bad[scan + 10] = 0xFF;
        bad[scan + 11] = 0xC4;
        CHECK(decode_error(bad) != "<no exception>");
    }
}

TEST_CASE("JPEG header checks: dimensions, 12-bit, CMYK, scans, memory") {
    image src(16, 16, 1);
    for (std::size_t i = 0; i < src.pixels.size(); ++i) src.pixels[i] = static_cast<std::uint8_t>(i);
    const auto good = encode_jpeg(src);
    std::size_t sof = 0;
    for (const auto& s : jpeg_segments(good))
        if (s.marker == 0xC0) sof = s.start;
    REQUIRE(sof != 0);
    SUBCASE("dimensions above max_side are refused before decoding") {
        auto big = good;
        big[sof + 5] = 0xEA, big[sof + 6] = 0x60;  // height 60000
        big[sof + 7] = 0xEA, big[sof + 8] = 0x60;  // width 60000
        const auto msg = decode_error(big);
        CAPTURE(msg);
        CHECK(contains(msg, "60000 x 60000 pixels"));
        CHECK(contains(msg, "above the limit"));
    }
    SUBCASE("decoded size above max_decoded_bytes is refused before decoding") {
        auto big = good;
        big[sof + 5] = 0x30, big[sof + 6] = 0x00;  // 12288 x 12288 gray: 144 MiB
        big[sof + 7] = 0x30, big[sof + 8] = 0x00;
        image_limits limits;
        limits.max_decoded_bytes = std::uint64_t{100} << 20;
        CHECK(contains(decode_error(big, 0, limits), "12288 x 12288 pixels of 1 bytes, 150994944 bytes decoded"));
    }
    SUBCASE("zero height") {
        auto bad = good;
        bad[sof + 5] = 0, bad[sof + 6] = 0;
        CHECK(contains(decode_error(bad), "hostile"));
    }
    SUBCASE("12-bit JPEG is refused with a clear message") {
        auto twelve = good;
        REQUIRE(twelve[sof + 4] == 8);
        twelve[sof + 4] = 12;
        const auto msg = decode_error(twelve);
        CHECK(contains(msg, "is a 12-bit JPEG"));
        CHECK(contains(msg, "8-bit JPEG only"));
    }
    SUBCASE("CMYK JPEG is refused with a clear message") {
        image cmyk(8, 8, 4);
        std::fill(cmyk.pixels.begin(), cmyk.pixels.end(), std::uint8_t{90});
        jpeg_options o;
        o.space = JCS_CMYK;
        const auto msg = decode_error(encode_jpeg(cmyk, o));
        CHECK(contains(msg, "JPEG with 4 components (CMYK)"));
        CHECK(contains(msg, "convert it to RGB"));
    }
    SUBCASE("progressive scans above max_jpeg_scans stop the decoder") {
        image rgb(16, 16, 3);
        jpeg_options o;
        o.progressive = true;
        const auto prog = encode_jpeg(rgb, o);  // jpeg_simple_progression writes 10 scans for YCbCr
        CHECK(decode_image(prog, 0).width == 16);
        image_limits limits;
        limits.max_jpeg_scans = 3;
        const auto msg = decode_error(prog, 0, limits);
        CHECK(contains(msg, "progressive JPEG with more than 3 scans"));
        CHECK(contains(msg, "max_jpeg_scans"));
    }
    SUBCASE("libjpeg's own memory is bounded by max_decoded_bytes") {
        // A progressive 1024 x 1024 gray JPEG: 1 MiB of pixels, but libjpeg keeps 2 MiB of DCT
        // coefficients for the whole image. With a 1.5 MiB limit the header check passes and
        // libjpeg's max_memory_to_use must stop it.
        image big(1024, 1024, 1);
        jpeg_options o;
        o.progressive = true;
        const auto prog = encode_jpeg(big, o);
        CHECK(decode_image(prog, 0).width == 1024);
        image_limits limits;
        limits.max_decoded_bytes = std::uint64_t{3} << 19;
        const auto msg = decode_error(prog, 0, limits);
        CHECK(contains(msg, "needs more memory than image_limits::max_decoded_bytes = 1572864"));
    }
}

#else  // no libjpeg

TEST_CASE("without libjpeg a JPEG file is refused, naming the package to install") {
    image src(8, 8, 1);
    const std::vector<unsigned char> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
    const auto msg = decode_error(jpeg);
    CHECK(contains(msg, "no JPEG decoder"));
    CHECK(contains(msg, "libjpeg62-turbo-dev"));
    const std::vector<unsigned char> nine = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x15, 0x00, 0x6F, 0xBF};
    CHECK(contains(decode_error(nine), "no JPEG decoder"));
}

#endif
