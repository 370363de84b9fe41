// Tests for unetpp/io/image.hpp: PNG round trips, 16-bit input, channel conversion, tensor
// conversion, side-by-side pictures, and the errors for bad files (missing, truncated, garbage,
// unsupported format, absurd dimensions).
//
// Hostile inputs (issue 14): every file that crashed a decoder or made it allocate without
// bound is generated here, in code, and must give a clean std::runtime_error: the 9-byte JPEG
// that overflowed stb's Huffman tables, progressive JPEGs with undefined Huffman tables, the
// PNG whose header makes stb allocate 1 GiB, a zlib stream that inflates without end, and
// corrupt or truncated PNG, BMP and JPEG files. JPEGs are made with libjpeg's compressor.

#include <doctest/doctest.h>

#include "../../support/error_of.hpp"

#include <unetpp/io/image.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#if defined(UNETPP_HAS_LIBJPEG) && UNETPP_HAS_LIBJPEG
#include <cstdio>
#include <cstdlib>
#include <jpeglib.h>
#endif

namespace fs = std::filesystem;
using unetpp::io::image;

namespace {

// A fresh directory per test case, removed afterwards.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static int counter = 0;
        path = fs::temp_directory_path() / ("unetpp_test_image_" + std::to_string(::getpid()) + "_" +
                                            std::to_string(counter++));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write_bytes(const fs::path& p, const std::vector<unsigned char>& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
std::vector<unsigned char> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint32_t crc32(const unsigned char* p, std::size_t n) {
    std::uint32_t c = 0xffffffffu;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}
void put_be32(std::vector<unsigned char>& v, std::uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<unsigned char>(x >> s));
}
void add_chunk(std::vector<unsigned char>& png, const char* type, const std::vector<unsigned char>& data) {
    put_be32(png, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    put_be32(png, crc32(png.data() + start, png.size() - start));
}

// A gray 16-bit PNG written by hand: zlib stream of one stored (uncompressed) block, so no
// compressor is needed. stb_image_write cannot write 16-bit PNGs.
std::vector<unsigned char> gray16_png(const std::vector<std::uint16_t>& row) {
    std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<unsigned char> ihdr;
    put_be32(ihdr, static_cast<std::uint32_t>(row.size()));  // width
    put_be32(ihdr, 1);                                      // height
    ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});              // depth 16, gray, deflate, filter 0, no interlace
    add_chunk(png, "IHDR", ihdr);
    std::vector<unsigned char> raw = {0};  // filter type none
    for (auto v : row) raw.insert(raw.end(), {static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)});
    std::vector<unsigned char> z = {0x78, 0x01, 0x01};  // zlib header; final stored block
    const auto len = static_cast<std::uint16_t>(raw.size());
    z.insert(z.end(), {static_cast<unsigned char>(len), static_cast<unsigned char>(len >> 8),
                       static_cast<unsigned char>(~len), static_cast<unsigned char>(~len >> 8)});
    z.insert(z.end(), raw.begin(), raw.end());
    std::uint32_t a = 1, b = 0;  // Adler-32
    for (auto c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
    put_be32(z, (b << 16) | a);
    add_chunk(png, "IDAT", z);
    add_chunk(png, "IEND", {});
    return png;
}

image noise_image(int w, int h, int c, std::uint32_t seed) {
    image img(w, h, c);
    for (auto& p : img.pixels) {
        seed = seed * 1664525u + 1013904223u;
        p = static_cast<std::uint8_t>(seed >> 24);
    }
    return img;
}

template <class F>
std::string error_of(F&& f) {
    return unetpp::test::error_of<std::runtime_error>(std::forward<F>(f), "<no exception>");
}

}  // namespace

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

namespace {

using unetpp::io::decode_image;
using unetpp::io::image_limits;

std::string decode_error(const std::vector<unsigned char>& bytes, int want = 0, const image_limits& limits = {}) {
    return error_of([&] { (void)decode_image(bytes, want, "hostile", limits); });
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void put_le(std::vector<unsigned char>& v, std::uint32_t x, int n) {
    for (int i = 0; i < n; ++i) v.push_back(static_cast<unsigned char>(x >> (8 * i)));
}
void set_le32(std::vector<unsigned char>& v, std::size_t at, std::uint32_t x) {
    for (int i = 0; i < 4; ++i) v[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(x >> (8 * i));
}

std::vector<unsigned char> png_signature() { return {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}; }
std::vector<unsigned char> ihdr(std::uint32_t w, std::uint32_t h, unsigned char depth, unsigned char color) {
    std::vector<unsigned char> d;
    put_be32(d, w);
    put_be32(d, h);
    d.insert(d.end(), {depth, color, 0, 0, 0});
    return d;
}

// A zlib stream (fixed Huffman codes) that inflates to `n` zero bytes: one literal 0, then
// <length 258, distance 1> copies. 13 bits per 258 bytes, so 8 MiB take about 53 kB.
std::vector<unsigned char> zlib_zeros(std::size_t n) {
    std::vector<unsigned char> z = {0x78, 0x01};
    std::uint32_t acc = 0;
    int bits = 0;
    auto put_bits = [&](std::uint32_t v, int count) {  // LSB first
        acc |= v << bits;
        bits += count;
        while (bits >= 8) z.push_back(static_cast<unsigned char>(acc)), acc >>= 8, bits -= 8;
    };
    auto put_code = [&](std::uint32_t code, int len) {  // Huffman codes go MSB first
        for (int i = len - 1; i >= 0; --i) put_bits((code >> i) & 1u, 1);
    };
    put_bits(1, 1);           // BFINAL
    put_bits(1, 2);           // BTYPE = fixed Huffman
    put_code(0x30, 8);        // literal 0
    std::size_t done = 1;
    while (done + 258 <= n) {
        put_code(0xC5, 8);    // length symbol 285 = 258
        put_code(0, 5);       // distance code 0 = 1
        done += 258;
    }
    while (done < n) put_code(0x30, 8), ++done;
    put_code(0, 7);           // end of block (256)
    if (bits > 0) put_bits(0, 8 - bits);
    const std::uint32_t a = 1, b = static_cast<std::uint32_t>(n % 65521);  // Adler-32 of n zeros
    put_be32(z, (b << 16) | a);
    return z;
}

#if defined(UNETPP_HAS_LIBJPEG) && UNETPP_HAS_LIBJPEG
struct jpeg_options {
    bool progressive = false;
    int quality = 90;
    J_COLOR_SPACE space = JCS_UNKNOWN;  // JCS_UNKNOWN: gray or RGB from the channels
};
// Encodes with libjpeg's compressor (libjpeg's default error handler exits on error; the input
// is always valid here).
std::vector<unsigned char> encode_jpeg(const image& img, jpeg_options o = {}) {
    jpeg_compress_struct c{};
    jpeg_error_mgr e{};
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char* buf = nullptr;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = static_cast<JDIMENSION>(img.width);
    c.image_height = static_cast<JDIMENSION>(img.height);
    c.input_components = img.channels;
    c.in_color_space = o.space != JCS_UNKNOWN ? o.space : (img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB);
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, o.quality, TRUE);
    if (o.progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    const std::size_t stride = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.channels);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = const_cast<std::uint8_t*>(img.pixels.data()) + c.next_scanline * stride;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    std::vector<unsigned char> out(buf, buf + len);
    std::free(buf);
    jpeg_destroy_compress(&c);
    return out;
}

struct jpeg_segment {
    unsigned char marker;
    std::size_t start;   // offset of the 0xFF
    std::size_t length;  // bytes of the whole segment, marker included (entropy data not included)
};
// The marker segments of a JPEG up to EOI (entropy-coded data after each SOS is skipped).
std::vector<jpeg_segment> jpeg_segments(const std::vector<unsigned char>& j) {
    std::vector<jpeg_segment> out;
    std::size_t i = 2;  // after SOI
    while (i + 4 <= j.size()) {
        REQUIRE(j[i] == 0xFF);
        const unsigned char m = j[i + 1];
        if (m == 0xD9) break;
        const std::size_t len = (static_cast<std::size_t>(j[i + 2]) << 8) | j[i + 3];
        out.push_back({m, i, len + 2});
        i += len + 2;
        if (m == 0xDA) {  // skip entropy-coded data to the next marker that is not RSTn or stuffing
            while (i + 1 < j.size() && !(j[i] == 0xFF && j[i + 1] != 0x00 && (j[i + 1] < 0xD0 || j[i + 1] > 0xD7))) ++i;
        }
    }
    return out;
}
#endif

}  // namespace

TEST_CASE("the decoded-memory allocator refuses what exceeds its budget and keeps count") {
    namespace da = unetpp::io::detail::decode_alloc;
    {
        da::budget_scope scope(1000);
        void* a = da::allocate(600);
        REQUIRE(a != nullptr);
        CHECK(scope.live() == 600);
        CHECK_FALSE(scope.refused());
        CHECK(da::allocate(500) == nullptr);  // 1100 > 1000
        CHECK(scope.refused());
        CHECK(scope.largest_refused() == 500);
        std::memset(a, 7, 600);
        CHECK(da::reallocate(a, 1200) == nullptr);  // growing above the budget fails...
        CHECK(static_cast<unsigned char*>(a)[599] == 7);  // ...and leaves the block as it was
        void* b = da::reallocate(a, 900);
        REQUIRE(b != nullptr);
        CHECK(static_cast<unsigned char*>(b)[599] == 7);
        CHECK(scope.live() == 900);
        void* c = da::reallocate(b, 100);
        REQUIRE(c != nullptr);
        CHECK(scope.live() == 100);
        CHECK(scope.peak() == 900);
        void* d = da::allocate(900);  // fits again once memory was given back
        CHECK(d != nullptr);
        da::release(c);
        da::release(d);
        CHECK(scope.live() == 0);
    }
    // Outside a scope there is no limit.
    void* big = da::allocate(std::size_t{1} << 20);
    CHECK(big != nullptr);
    da::release(big);
}

TEST_CASE("PNG allocation bomb: a tiny file whose header makes stb allocate 1 GiB is refused") {
    // 16384 x 8192 RGBA at 16 bits passes max_side and max_pixels, and is exactly 1 GiB decoded
    // (not above max_decoded_bytes). stb 2.27 then mallocs its guess of the inflated size,
    // 16384 * 8 * 8192 + 8192 bytes, before it inflates the (tiny) IDAT. The counting allocator
    // must refuse that allocation.
    std::vector<unsigned char> png = png_signature();
    add_chunk(png, "IHDR", ihdr(16384, 8192, 16, 6));
    add_chunk(png, "IDAT", zlib_zeros(300));
    add_chunk(png, "IEND", {});
    CHECK(png.size() < 400);
    const auto msg = decode_error(png);
    CHECK(contains(msg, "hostile"));
    CHECK(contains(msg, "max_decoded_bytes"));
    CHECK(contains(msg, "asked for 1073750016 bytes"));
    // A tighter limit refuses it from the header alone, naming the decoded size.
    image_limits tight;
    tight.max_decoded_bytes = std::uint64_t{256} << 20;
    const auto early = decode_error(png, 0, tight);
    CHECK(contains(early, "16384 x 8192 pixels of 8 bytes"));
    CHECK(contains(early, "1073741824 bytes decoded"));
}

TEST_CASE("zlib bomb: an IDAT that inflates far beyond the header's size is stopped by the budget") {
    // A 1 x 1 gray PNG whose IDAT inflates to 8 MiB of zeros. stb keeps doubling its output
    // buffer and, without a budget, decodes the image happily; with max_decoded_bytes = 2 MiB
    // the doubling is refused.
    std::vector<unsigned char> png = png_signature();
    add_chunk(png, "IHDR", ihdr(1, 1, 8, 0));
    add_chunk(png, "IDAT", zlib_zeros(std::size_t{8} << 20));
    add_chunk(png, "IEND", {});
    image_limits limits;
    limits.max_decoded_bytes = std::uint64_t{2} << 20;
    const auto msg = decode_error(png, 0, limits);
    CHECK(contains(msg, "needs more memory than image_limits::max_decoded_bytes = 2097152"));
    CHECK(contains(msg, "decompression bomb"));
    // The stream itself is valid: with the default budget (1 GiB) the same file decodes.
    const image img = decode_image(png, 0);
    CHECK(img.width == 1);
    CHECK(img.pixels == std::vector<std::uint8_t>{0});
}

TEST_CASE("the decoded size in the header is checked against max_decoded_bytes before decoding") {
    image_limits limits;
    limits.max_decoded_bytes = std::uint64_t{48} << 20;
    // 4096 x 4096 gray 8-bit: 16 MiB stored (stb holds 32 MiB while decoding it), fits...
    std::vector<unsigned char> png = png_signature();
    add_chunk(png, "IHDR", ihdr(4096, 4096, 8, 0));
    add_chunk(png, "IDAT", zlib_zeros(100));
    add_chunk(png, "IEND", {});
    CHECK(contains(decode_error(png, 1, limits), "corrupt or truncated"));  // the IDAT is too short
    // ...but asked for as RGBA the returned image would be 64 MiB.
    const auto rgba = decode_error(png, 4, limits);
    CHECK(contains(rgba, "4096 x 4096 pixels of 4 bytes, 67108864 bytes decoded"));
    CHECK(contains(rgba, "max_decoded_bytes = 50331648"));
    // 16-bit RGB: 6 bytes a pixel stored.
    std::vector<unsigned char> png16 = png_signature();
    add_chunk(png16, "IHDR", ihdr(2048, 2048, 16, 2));
    add_chunk(png16, "IDAT", zlib_zeros(100));
    add_chunk(png16, "IEND", {});
    CHECK_FALSE(contains(decode_error(png16, 0, limits), "2048 x 2048 pixels of 6 bytes, 25165824 bytes decoded"));
    limits.max_decoded_bytes = std::uint64_t{16} << 20;
    CHECK(contains(decode_error(png16, 0, limits), "2048 x 2048 pixels of 6 bytes, 25165824 bytes decoded"));
}

TEST_CASE("corrupt PNGs give clean errors") {
    const image src = noise_image(20, 10, 3, 4);
    const auto good = unetpp::io::encode_png(src);
    REQUIRE(decode_image(good, 0).pixels == src.pixels);
    SUBCASE("no IDAT") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(4, 4, 8, 0));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "corrupt or truncated"));
    }
    SUBCASE("invalid bit depth") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(4, 4, 7, 0));
        add_chunk(png, "IDAT", zlib_zeros(20));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "not a readable PNG, JPEG or BMP"));
    }
    SUBCASE("palette image without a palette") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(4, 4, 8, 3));
        add_chunk(png, "IDAT", zlib_zeros(20));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "hostile"));
    }
    SUBCASE("zero width") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(0, 4, 8, 0));
        add_chunk(png, "IDAT", zlib_zeros(20));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "hostile"));
    }
    SUBCASE("damaged compressed data") {
        auto bad = good;
        for (std::size_t i = 45; i < bad.size() - 20; i += 3) bad[i] = static_cast<unsigned char>(bad[i] ^ 0xA5);
        CHECK(contains(decode_error(bad), "hostile"));
    }
    SUBCASE("every truncation of a valid PNG") {
        for (std::size_t n = 1; n < good.size() - 12; ++n) {  // the last 12 bytes are IEND
            CAPTURE(n);
            const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            CHECK(decode_error(cut) != "<no exception>");
        }
    }
}

TEST_CASE("empty IDAT chunks are dropped before stb sees them (fuzz finding: memcpy from null)") {
    // Found by tests/fuzz/fuzz_image.cpp under UBSan: when the first IDAT is empty, stb 2.27
    // calls memcpy(nullptr, ..., 0) (stb_image.h:1663, undefined behaviour).
    std::vector<unsigned char> bare = png_signature();
    add_chunk(bare, "IHDR", ihdr(3, 6, 8, 4));
    add_chunk(bare, "IDAT", {});
    const auto msg = decode_error(bare);  // the fuzzer's file: no pixel data at all
    CHECK(contains(msg, "corrupt or truncated"));
    CHECK(unetpp::io::detail::png_without_empty_idat(bare).size() == bare.size() - 12);
    // The second finding: the same with the file cut inside the empty IDAT's CRC.
    auto cut = bare;
    cut.resize(cut.size() - 2);
    CHECK(contains(decode_error(cut), "corrupt or truncated"));
    CHECK(unetpp::io::detail::png_without_empty_idat(cut).size() == cut.size() - 10);

    // An empty IDAT before and between real ones is legal: the image decodes as without them.
    const image src = noise_image(7, 5, 1, 21);
    const auto plain = unetpp::io::encode_png(src);
    std::vector<unsigned char> png(plain.begin(), plain.begin() + 33);  // signature + IHDR
    std::vector<unsigned char> empty_idat;
    add_chunk(empty_idat, "IDAT", {});
    png.insert(png.end(), empty_idat.begin(), empty_idat.end());
    png.insert(png.end(), plain.begin() + 33, plain.end() - 12);  // stb_image_write's IDAT
    png.insert(png.end(), empty_idat.begin(), empty_idat.end());
    png.insert(png.end(), plain.end() - 12, plain.end());  // IEND
    const auto stripped = unetpp::io::detail::png_without_empty_idat(png);
    CHECK(stripped == plain);
    CHECK(decode_image(png, 0).pixels == src.pixels);
    // Files without empty IDATs are not copied.
    CHECK(unetpp::io::detail::png_without_empty_idat(plain).empty());
    CHECK(unetpp::io::detail::png_without_empty_idat({0x42, 0x4d}).empty());
}

namespace {
// A BMP with a BITMAPINFOHEADER: `bpp` bits per pixel, `palette` entries, rows of `fill`.
std::vector<unsigned char> make_bmp(std::int32_t w, std::int32_t h, int bpp, std::uint32_t palette,
                                    std::uint32_t compression = 0) {
    const std::uint64_t rows = static_cast<std::uint64_t>(h < 0 ? -static_cast<std::int64_t>(h) : h);
    const std::uint64_t stride = (static_cast<std::uint64_t>(w < 0 ? 0 : w) * static_cast<std::uint64_t>(bpp) + 31) / 32 * 4;
    const std::uint64_t data = std::min<std::uint64_t>(stride * rows, 4096);
    const std::uint32_t offset = 54 + palette * 4;
    std::vector<unsigned char> v = {'B', 'M'};
    put_le(v, static_cast<std::uint32_t>(offset + data), 4);
    put_le(v, 0, 4);
    put_le(v, offset, 4);
    put_le(v, 40, 4);
    put_le(v, static_cast<std::uint32_t>(w), 4);
    put_le(v, static_cast<std::uint32_t>(h), 4);
    put_le(v, 1, 2);
    put_le(v, static_cast<std::uint32_t>(bpp), 2);
    put_le(v, compression, 4);
    put_le(v, static_cast<std::uint32_t>(data), 4);
    put_le(v, 2835, 4);
    put_le(v, 2835, 4);
    put_le(v, palette, 4);
    put_le(v, 0, 4);
    for (std::uint32_t i = 0; i < palette; ++i) put_le(v, (i & 0xff) * 0x010101u, 4);
    for (std::uint64_t i = 0; i < data; ++i) v.push_back(static_cast<unsigned char>(i * 29));
    return v;
}
}  // namespace

TEST_CASE("corrupt BMPs give clean errors") {
    const auto good = make_bmp(5, 3, 24, 0);
    const image img = decode_image(good, 0);
    CHECK(img.width == 5);
    CHECK(img.height == 3);
    CHECK(img.channels == 3);
    const auto pal = make_bmp(6, 2, 8, 256);
    CHECK(decode_image(pal, 1).width == 6);

    SUBCASE("height INT_MIN (negative means top-down; its absolute value overflows int)") {
        const auto msg = decode_error(make_bmp(4, INT32_MIN, 24, 0));
        CHECK(contains(msg, "2147483648"));
        CHECK(contains(msg, "above the limit"));
    }
    SUBCASE("huge width") {
        CHECK(contains(decode_error(make_bmp(0x7fffffff, 1, 24, 0)), "above the limit"));
    }
    SUBCASE("negative width") {
        CHECK(contains(decode_error(make_bmp(-5, 3, 24, 0)), "hostile"));
    }
    SUBCASE("a valid top-down BMP (negative height) decodes") {
        const auto down = make_bmp(5, -3, 24, 0);
        const image top = decode_image(down, 0);
        CHECK(top.height == 3);
        // Rows are stored in the opposite order to the bottom-up file with the same bytes.
        for (int x = 0; x < 5; ++x)
            for (int c = 0; c < 3; ++c) CHECK(top.at(x, 0, c) == img.at(x, 2, c));
    }
    SUBCASE("top-down image of huge decoded size within max_side") {
        image_limits limits;
        limits.max_decoded_bytes = 1 << 20;
        const auto msg = decode_error(make_bmp(16384, -16384, 32, 0), 0, limits);
        CAPTURE(msg);
        CHECK(contains(msg, "above image_limits::max_decoded_bytes"));
    }
    SUBCASE("palette larger than 256 entries") {
        const auto msg = decode_error(make_bmp(4, 4, 8, 1000));
        CAPTURE(msg);
        CHECK(contains(msg, "cannot decode 'hostile' (invalid)"));
    }
    SUBCASE("palette entries that the offset does not leave room for") {
        auto bad = make_bmp(4, 4, 8, 0);  // no palette, but an 8-bit image needs one
        CHECK(contains(decode_error(bad), "hostile"));
        set_le32(bad, 46, 0xffffffffu);  // biClrUsed = 2^32 - 1
        CHECK(contains(decode_error(bad), "hostile"));
    }
    SUBCASE("RLE compression is refused") {
        const auto msg = decode_error(make_bmp(8, 8, 8, 256, 1));
        CAPTURE(msg);
        CHECK(contains(msg, "is an RLE-compressed BMP"));
        CHECK(contains(decode_error(make_bmp(8, 8, 4, 16, 2)), "RLE-compressed BMP"));
    }
    SUBCASE("fuzz finding: an unknown compression value, 2564 x 8960 pixels in 90 bytes") {
        // Found by tests/fuzz/fuzz_datasets.cpp (a timeout): stb decodes compression 0xffffffff as
        // uncompressed, past the truncation check, which knows BI_RGB and BI_BITFIELDS only.
        const auto bad = make_bmp(2564, 8960, 24, 0, 0xffffffffu);
        const std::vector<unsigned char> cut(bad.begin(), bad.begin() + 90);
        const auto msg = decode_error(cut);
        CAPTURE(msg);
        CHECK(contains(msg, "compression method 4294967295"));
        CHECK(contains(decode_error(make_bmp(4, 4, 24, 0, 4)), "compression method 4"));   // embedded JPEG
        CHECK(contains(decode_error(make_bmp(4, 4, 24, 0, 5)), "compression method 5"));   // embedded PNG
    }
    SUBCASE("invalid bits per pixel") {
        CHECK(contains(decode_error(make_bmp(4, 4, 7, 0)), "hostile"));
        CHECK(contains(decode_error(make_bmp(4, 4, 0, 0)), "hostile"));
    }
    SUBCASE("truncated pixel data (stb would read zeros)") {
        const auto big = make_bmp(40, 30, 24, 0);
        const std::vector<unsigned char> cut(big.begin(), big.end() - 100);
        const auto msg = decode_error(cut);
        CHECK(contains(msg, "BMP 'hostile' is truncated"));
        CHECK(contains(msg, "needs " + std::to_string(big.size())));
    }
    SUBCASE("fuzz finding: pixel offset inside the headers, 1793 x 2306 pixels in 43 bytes") {
        // Found by tests/fuzz/fuzz_image.cpp (a 10 s "slow unit"): the offset 42 makes stb's
        // palette size negative, which it accepts, so it reads no palette, jumps to the end of
        // the file and decodes 4 million pixels from missing bytes and an uninitialised palette.
        auto bad = make_bmp(1793, 2306, 8, 0);
        set_le32(bad, 10, 42);
        bad.resize(43);
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "BMP 'hostile' is truncated"));
        // The same header with all its pixel data is still refused: there is no palette.
        auto full = make_bmp(4, 4, 8, 0);
        set_le32(full, 10, 42);
        CHECK(contains(decode_error(full), "8-bit palette BMP without a palette"));
    }
    SUBCASE("pixel indices beyond the palette (stb would copy uninitialised stack memory)") {
        auto bad = make_bmp(8, 2, 8, 16);  // pixel bytes i * 29: index 29 and up are beyond 16 entries
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "has palette index 29 but only 16 palette entries"));
        // The same palette with indices inside it decodes.
        for (std::size_t i = 54 + 16 * 4; i < bad.size(); ++i) bad[i] = static_cast<unsigned char>(i % 16);
        const image ok = decode_image(bad, 0);
        CHECK(ok.width == 8);
        CHECK(ok.at(0, 0, 0) == ((54 + 16 * 4 + 8) % 16) * 1);  // bottom-up: the first stored row is the last
        // 4-bit and 1-bit: a 1-entry palette holds only index 0.
        auto four = make_bmp(3, 1, 4, 1);
        four[54 + 4] = 0x01;  // second pixel uses index 1
        CHECK(contains(decode_error(four), "has palette index 1 but only 1 palette entries"));
        four[54 + 4] = 0x00;
        four[54 + 5] = 0x0F;  // the 4th nibble is padding (width 3): never looked up
        CHECK(decode_image(four, 0).width == 3);
        auto one = make_bmp(9, 1, 1, 1);
        one[54 + 4] = 0x00;
        one[54 + 5] = 0x40;  // 9th pixel is bit 7 of byte 2: 0; bit 6 is padding
        CHECK(decode_image(one, 0).width == 9);
        one[54 + 5] = 0x80;
        CHECK(contains(decode_error(one), "has palette index 1 but only 1 palette entries"));
    }
    SUBCASE("OS/2 1.x BMPs are refused") {
        auto os2 = make_bmp(4, 4, 24, 0);
        set_le32(os2, 14, 12);
        CHECK(contains(decode_error(os2), "OS/2 1.x BMP"));
    }
    SUBCASE("every truncation of a valid BMP (the last row's padding may be missing)") {
        for (std::size_t n = 1; n + 1 < good.size(); ++n) {
            CAPTURE(n);
            const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            CHECK(decode_error(cut) != "<no exception>");
        }
    }
}

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
