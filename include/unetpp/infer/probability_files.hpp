#pragma once
/// \file Probability maps as files for the user's own analysis, at full precision:
///
///   NumPy .npy (float32)  encode_npy: format version 1.0 of the NumPy file format
///                         ("numpy.lib.format"): the magic string \x93NUMPY, version 1 0, a
///                         little-endian uint16 header length, then an ASCII header
///                         {'descr': '<f4', 'fortran_order': False, 'shape': (H, W), } padded
///                         with spaces and ended by '\n' so that the data starts at a multiple of
///                         64 bytes, then the values little-endian, row-major (C order).
///                         numpy.load reads it; a [1, 1, H, W] map is stored as shape (H, W),
///                         [1, K, H, W] as (K, H, W).
///   16-bit grey PNG       encode_png16: one plane, value round(p * 65535) for p in [0, 1]
///                         (a step of 1.5e-5; most image viewers open it). The deflate stream
///                         uses stored (uncompressed) blocks: 2 bytes a pixel plus 1 a row.
///
/// Neither loses more than the stated rounding; an 8-bit PNG (1/255 steps) is never the only
/// record of a probability map.

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::infer {

/// A [1, K, H, W] float map as the bytes of a .npy file (see the file comment).
[[nodiscard]] inline std::vector<unsigned char> encode_npy(const tensor<float>& t) {
    const shape4 s = t.shape();
    if (s.n != 1 || s.c < 1 || s.h < 1 || s.w < 1)
        throw std::invalid_argument("encode_npy: map " + s.str() + " is not one [1, K, H, W] map");
    const std::string shape = s.c == 1 ? "(" + std::to_string(s.h) + ", " + std::to_string(s.w) + ")"
                                       : "(" + std::to_string(s.c) + ", " + std::to_string(s.h) + ", " +
                                             std::to_string(s.w) + ")";
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    const std::size_t prefix = 10;  // magic (6), version (2), header length (2)
    const std::size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
    header.append(total - prefix - header.size() - 1, ' ');
    header += '\n';
    // Sized once and written by index (GCC 12 warns falsely about vector::insert into a reserved
    // vector here).
    std::vector<unsigned char> out(total + t.size() * 4);
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};  // version 1.0
    std::size_t at = 0;
    for (const unsigned char m : magic) out[at++] = m;
    out[at++] = static_cast<unsigned char>(header.size() & 0xff);
    out[at++] = static_cast<unsigned char>(header.size() >> 8);
    for (const char c : header) out[at++] = static_cast<unsigned char>(c);
    for (const float v : t) {
        const std::uint32_t b = std::bit_cast<std::uint32_t>(v);
        for (int k = 0; k < 4; ++k) out[at++] = static_cast<unsigned char>(b >> (8 * k));  // little-endian
    }
    return out;
}

namespace detail {

inline std::uint32_t crc32(const unsigned char* p, std::size_t n, std::uint32_t crc = 0) {
    static const std::array<std::uint32_t, 256> table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

inline void put_be32(std::vector<unsigned char>& v, std::uint32_t x) {
    for (int k = 3; k >= 0; --k) v.push_back(static_cast<unsigned char>(x >> (8 * k)));
}

inline void png_chunk(std::vector<unsigned char>& out, const char* type, const std::vector<unsigned char>& data) {
    put_be32(out, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = out.size();
    out.insert(out.end(), type, type + 4);
    out.insert(out.end(), data.begin(), data.end());
    put_be32(out, crc32(out.data() + start, out.size() - start));
}

}  // namespace detail

/// Plane `channel` of a [1, K, H, W] map with values in [0, 1] as a 16-bit grey PNG
/// (round(p * 65535)); a value outside [0, 1] or NaN is refused.
[[nodiscard]] inline std::vector<unsigned char> encode_png16(const tensor<float>& t, int channel = 0) {
    const shape4 s = t.shape();
    if (s.n != 1 || channel < 0 || channel >= s.c || s.h < 1 || s.w < 1)
        throw std::invalid_argument("encode_png16: map " + s.str() + " has no plane " + std::to_string(channel));
    if (s.w > (1 << 24) || s.h > (1 << 24)) throw std::invalid_argument("encode_png16: map " + s.str() + " is too large");
    // scanlines: filter byte 0, then big-endian 16-bit samples
    const std::size_t row = 1 + 2 * static_cast<std::size_t>(s.w);
    std::vector<unsigned char> raw(row * static_cast<std::size_t>(s.h));
    const float* plane = t.data() + static_cast<std::size_t>(channel) * s.plane();
    for (int y = 0; y < s.h; ++y) {
        unsigned char* r = raw.data() + static_cast<std::size_t>(y) * row;
        r[0] = 0;
        for (int x = 0; x < s.w; ++x) {
            const float p = plane[static_cast<std::size_t>(y) * s.w + x];
            if (!(p >= 0.0f && p <= 1.0f))
                throw std::invalid_argument("encode_png16: value " + (std::isnan(p) ? std::string("NaN") : std::to_string(p)) +
                                            " at (" + std::to_string(y) + ", " + std::to_string(x) +
                                            ") is outside [0, 1]");
            const auto v = static_cast<std::uint16_t>(std::lround(static_cast<double>(p) * 65535.0));
            r[1 + 2 * x] = static_cast<unsigned char>(v >> 8);
            r[2 + 2 * x] = static_cast<unsigned char>(v & 0xff);
        }
    }
    // zlib stream of stored deflate blocks (at most 65535 bytes each) and the Adler-32 checksum
    std::vector<unsigned char> z = {0x78, 0x01};
    std::uint32_t a = 1, b = 0;
    for (const unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
    for (std::size_t at = 0; at < raw.size();) {
        const std::size_t len = std::min<std::size_t>(65535, raw.size() - at);
        const bool last = at + len == raw.size();
        z.push_back(last ? 1 : 0);
        z.push_back(static_cast<unsigned char>(len & 0xff)), z.push_back(static_cast<unsigned char>(len >> 8));
        z.push_back(static_cast<unsigned char>(~len & 0xff)), z.push_back(static_cast<unsigned char>((~len >> 8) & 0xff));
        z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(at), raw.begin() + static_cast<std::ptrdiff_t>(at + len));
        at += len;
    }
    detail::put_be32(z, (b << 16) | a);
    std::vector<unsigned char> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<unsigned char> ihdr;
    detail::put_be32(ihdr, static_cast<std::uint32_t>(s.w));
    detail::put_be32(ihdr, static_cast<std::uint32_t>(s.h));
    for (const int c : {16, 0, 0, 0, 0}) ihdr.push_back(static_cast<unsigned char>(c));  // 16 bits, grey, deflate, no filter, no interlace
    detail::png_chunk(out, "IHDR", ihdr);
    detail::png_chunk(out, "IDAT", z);
    detail::png_chunk(out, "IEND", {});
    return out;
}

}  // namespace unetpp::infer
