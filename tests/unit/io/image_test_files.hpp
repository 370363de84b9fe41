#pragma once
// Shared by the image tests (test_image.cpp, test_image_hostile.cpp, test_image_jpeg.cpp): file
// helpers, hand-made PNG chunks and BMP/zlib pieces, random images, the error text of a call, and
// (with libjpeg) a JPEG encoder and segment reader. Test support only.

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <unetpp/io/image.hpp>

#include "../../support/error_of.hpp"

#if defined(UNETPP_HAS_LIBJPEG) && UNETPP_HAS_LIBJPEG
#include <cstdio>
#include <cstdlib>
#include <jpeglib.h>
#endif

namespace image_test {
namespace fs = std::filesystem;
using unetpp::io::image;


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

inline void write_bytes(const fs::path& p, const std::vector<unsigned char>& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}
inline std::vector<unsigned char> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::uint32_t crc32(const unsigned char* p, std::size_t n) {
    std::uint32_t c = 0xffffffffu;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}
inline void put_be32(std::vector<unsigned char>& v, std::uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<unsigned char>(x >> s));
}
inline void add_chunk(std::vector<unsigned char>& png, const char* type, const std::vector<unsigned char>& data) {
    put_be32(png, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    put_be32(png, crc32(png.data() + start, png.size() - start));
}

// A gray 16-bit PNG written by hand: zlib stream of one stored (uncompressed) block, so no
// compressor is needed. stb_image_write cannot write 16-bit PNGs.
inline std::vector<unsigned char> gray16_png(const std::vector<std::uint16_t>& row) {
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

inline image noise_image(int w, int h, int c, std::uint32_t seed) {
    image img(w, h, c);
    for (auto& p : img.pixels) {
        seed = seed * 1664525u + 1013904223u;
        p = static_cast<std::uint8_t>(seed >> 24);
    }
    return img;
}

template <class F>
inline std::string error_of(F&& f) {
    return unetpp::test::error_of<std::runtime_error>(std::forward<F>(f), "<no exception>");
}




using unetpp::io::decode_image;
using unetpp::io::image_limits;

inline std::string decode_error(const std::vector<unsigned char>& bytes, int want = 0, const image_limits& limits = {}) {
    return error_of([&] { (void)decode_image(bytes, want, "hostile", limits); });
}
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline void put_le(std::vector<unsigned char>& v, std::uint32_t x, int n) {
    for (int i = 0; i < n; ++i) v.push_back(static_cast<unsigned char>(x >> (8 * i)));
}
inline void set_le32(std::vector<unsigned char>& v, std::size_t at, std::uint32_t x) {
    for (int i = 0; i < 4; ++i) v[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(x >> (8 * i));
}

inline std::vector<unsigned char> png_signature() { return {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}; }
inline std::vector<unsigned char> ihdr(std::uint32_t w, std::uint32_t h, unsigned char depth, unsigned char color) {
    std::vector<unsigned char> d;
    put_be32(d, w);
    put_be32(d, h);
    d.insert(d.end(), {depth, color, 0, 0, 0});
    return d;
}

// A zlib stream (fixed Huffman codes) that inflates to `n` zero bytes: one literal 0, then
// <length 258, distance 1> copies. 13 bits per 258 bytes, so 8 MiB take about 53 kB.
inline std::vector<unsigned char> zlib_zeros(std::size_t n) {
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
inline std::vector<unsigned char> encode_jpeg(const image& img, jpeg_options o = {}) {
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
inline std::vector<jpeg_segment> jpeg_segments(const std::vector<unsigned char>& j) {
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


}  // namespace image_test
