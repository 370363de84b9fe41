#pragma once
/// \file What io/image.hpp checks in an image file before any decoder sees it: the format from
/// its first bytes, the dimensions in its header, BMP compression and palettes, PNG IDAT quirks,
/// a size-bounded file read, and the channel conversion the decoders' output goes through.
/// Private to io/image.hpp (namespace unetpp::io::detail).

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io {

namespace detail {

inline std::string quoted(const std::filesystem::path& p) {
    std::string s(1, '\'');  // appended, not "'" + ...: g++ 12 -O3 reports a false -Wrestrict there
    s += p.string();
    s += '\'';
    return s;
}

/// Name of a format recognised by its signature that unetpp deliberately does not decode.
inline std::string_view unsupported_format(const std::vector<unsigned char>& b) noexcept {
    auto starts = [&](std::string_view s, std::size_t at = 0) {
        return b.size() >= at + s.size() && std::memcmp(b.data() + at, s.data(), s.size()) == 0;
    };
    if (starts("GIF87a") || starts("GIF89a")) return "GIF";
    if (starts("8BPS")) return "PSD";
    if (starts(std::string_view("II*\0", 4)) || starts(std::string_view("MM\0*", 4))) return "TIFF";
    if (starts("RIFF") && starts("WEBP", 8)) return "WebP";
    if (starts("#?RADIANCE") || starts("#?RGBE")) return "Radiance HDR";
    if (starts(std::string_view("\x00\x00\x00\x0cjP  ", 8)) || starts("\xff\x4f\xff\x51")) return "JPEG 2000";
    if (starts("P5") || starts("P6") || starts("P2") || starts("P3")) return "PNM";
    return {};
}

/// Width and height from a PNG IHDR or a BMP header, read directly: stb refuses images above
/// 2^30 bytes without saying their size, and the message should. {0, 0} for other formats.
inline std::pair<std::uint64_t, std::uint64_t> header_dimensions(const std::vector<unsigned char>& b) noexcept {
    auto be32 = [&](std::size_t i) {
        return (std::uint64_t{b[i]} << 24) | (std::uint64_t{b[i + 1]} << 16) | (std::uint64_t{b[i + 2]} << 8) | b[i + 3];
    };
    auto le32 = [&](std::size_t i) {
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(b[i]) | (static_cast<std::uint32_t>(b[i + 1]) << 8) |
                                         (static_cast<std::uint32_t>(b[i + 2]) << 16) |
                                         (static_cast<std::uint32_t>(b[i + 3]) << 24));
    };
    if (b.size() >= 24 && std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(b.data() + 12, "IHDR", 4) == 0)
        return {be32(16), be32(20)};
    if (b.size() >= 26 && b[0] == 'B' && b[1] == 'M' && le32(14) >= 40) {
        const std::int64_t w = le32(18), h = le32(22);
        return {static_cast<std::uint64_t>(w < 0 ? -w : w), static_cast<std::uint64_t>(h < 0 ? -h : h)};
    }
    return {0, 0};
}

/// The compression field of a BMP with a BITMAPINFOHEADER or later; -1 for other files.
inline long bmp_compression(const std::vector<unsigned char>& b) noexcept {
    if (b.size() < 34 || b[0] != 'B' || b[1] != 'M' || b[14] < 40) return -1;
    return static_cast<long>(b[30] | (b[31] << 8) | (b[32] << 16) | (static_cast<std::uint32_t>(b[33]) << 24));
}

/// Bytes an uncompressed BMP (BI_RGB or BI_BITFIELDS) must hold for its pixels, from its header:
/// stb_image reads missing bytes as zeros, so a truncated BMP would decode without an error.
/// 0 when the file is no such BMP (or its header is invalid, which stb reports).
inline std::uint64_t bmp_bytes_needed(const std::vector<unsigned char>& b) noexcept {
    if (b.size() < 34 || b[0] != 'B' || b[1] != 'M') return 0;
    auto le = [&](std::size_t i, int n) {
        std::uint32_t v = 0;
        for (int k = n - 1; k >= 0; --k) v = (v << 8) | b[i + static_cast<std::size_t>(k)];
        return v;
    };
    const std::uint32_t offset = le(10, 4), header = le(14, 4);
    if (header < 40) return 0;  // OS/2 headers: leave them to stb
    const auto w = static_cast<std::int32_t>(le(18, 4)), h = static_cast<std::int32_t>(le(22, 4));
    const std::uint32_t bpp = le(28, 2), compression = le(30, 4);
    if ((compression != 0 && compression != 3) || w <= 0 || h == 0 || bpp == 0 || bpp > 32) return 0;
    const std::uint64_t rows = static_cast<std::uint64_t>(h < 0 ? -static_cast<std::int64_t>(h) : h);
    const std::uint64_t row_bits = static_cast<std::uint64_t>(w) * bpp;
    const std::uint64_t stride = (row_bits + 31) / 32 * 4;
    return std::uint64_t{offset} + stride * (rows - 1) + (row_bits + 7) / 8;  // the last row's padding may be absent
}

/// What stb_image 2.27 would get wrong in a BMP's palette, as a phrase for an error message;
/// empty when nothing. stb reads its palette into an uninitialised stack array, as many entries
/// as fit between the headers and the pixel data offset, and then looks every pixel up in it
/// unchecked: an offset inside the headers (a negative palette size) or a pixel index beyond the
/// palette copies uninitialised stack memory into the image. So the palette must exist and every
/// index must be inside it.
inline std::string bmp_palette_problem(const std::vector<unsigned char>& b) {
    if (b.size() < 18 || b[0] != 'B' || b[1] != 'M') return {};
    auto le = [&](std::size_t i, int n) {
        std::uint32_t v = 0;
        for (int k = n - 1; k >= 0; --k) v = (v << 8) | b[i + static_cast<std::size_t>(k)];
        return v;
    };
    const std::uint32_t offset = le(10, 4), header = le(14, 4);
    if (b.size() < 30) return {};
    const std::uint32_t bpp = le(28, 2);
    if (bpp != 1 && bpp != 4 && bpp != 8) return {};
    const std::int64_t room = std::int64_t{offset} - 14 - std::int64_t{header};
    if (room < 4)
        return "is a " + std::to_string(bpp) + "-bit palette BMP without a palette (its pixel data offset " +
               std::to_string(offset) + " leaves no room for one); the file is corrupt";
    const std::int64_t entries = room / 4;
    if (entries > 256) return {};  // stb refuses it
    const auto w = static_cast<std::int32_t>(le(18, 4)), h = static_cast<std::int32_t>(le(22, 4));
    if (w <= 0 || h == 0 || h == std::numeric_limits<std::int32_t>::min()) return {};  // stb refuses these
    const std::uint64_t rows = static_cast<std::uint64_t>(h < 0 ? -h : h);
    const std::uint64_t width_bytes = bpp == 1 ? (std::uint64_t(w) + 7) / 8 : bpp == 4 ? (std::uint64_t(w) + 1) / 2 : std::uint64_t(w);
    const std::uint64_t stride = (width_bytes + 3) / 4 * 4;
    for (std::uint64_t r = 0; r < rows; ++r) {
        const std::uint64_t row = std::uint64_t{offset} + r * stride;
        if (row >= b.size()) break;  // stb reads missing bytes as 0, a valid index
        for (std::uint64_t x = 0; x < static_cast<std::uint64_t>(w); ++x) {
            const std::uint64_t at = row + (bpp == 8 ? x : bpp == 4 ? x / 2 : x / 8);
            if (at >= b.size()) break;
            const unsigned v = b[at];
            const unsigned index = bpp == 8 ? v : bpp == 4 ? (x % 2 ? v & 15u : v >> 4) : (v >> (7 - x % 8)) & 1u;
            if (index >= entries)
                return "has palette index " + std::to_string(index) + " but only " + std::to_string(entries) +
                       " palette entries; the file is corrupt";
        }
    }
    return {};
}

/// A copy of a PNG without its zero-length IDAT chunks, or an empty vector when it has none (or is
/// no PNG). An empty IDAT is legal and carries no data, but when it comes first stb_image 2.27
/// passes a null pointer to memcpy (with 0 bytes; undefined behaviour, reported by UBSan), so
/// such chunks are dropped before stb sees the file (also a last one whose CRC is cut off). Chunks
/// are walked while their lengths fit in the file; what follows a broken length is copied as it
/// is, for stb to report.
inline std::vector<unsigned char> png_without_empty_idat(const std::vector<unsigned char>& b) {
    if (b.size() < 8 || std::memcmp(b.data(), "\x89PNG\r\n\x1a\n", 8) != 0) return {};
    std::vector<std::pair<std::size_t, std::size_t>> drop;  // [begin, end) of each empty IDAT
    std::size_t at = 8;
    while (at + 8 <= b.size()) {  // length and type present
        const std::uint64_t len = (std::uint64_t{b[at]} << 24) | (std::uint64_t{b[at + 1]} << 16) |
                                  (std::uint64_t{b[at + 2]} << 8) | b[at + 3];
        if (len > b.size() - at - 8) break;
        if (len == 0 && std::memcmp(b.data() + at + 4, "IDAT", 4) == 0)
            drop.emplace_back(at, std::min(at + 12, b.size()));
        at += 12 + static_cast<std::size_t>(len);
    }
    if (drop.empty()) return {};
    std::vector<unsigned char> out;
    out.reserve(b.size());
    std::size_t from = 0;
    for (const auto& [begin, end] : drop) {
        out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(begin));
        from = end;
    }
    out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(from), b.end());
    return out;
}

/// Reads a whole file, refusing anything above `max_bytes`.
inline std::vector<unsigned char> read_file_bounded(const std::filesystem::path& path, std::uint64_t max_bytes,
                                                    std::string_view what) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (!fs::exists(st))
        throw std::runtime_error(std::string(what) + ": cannot open " + quoted(path) +
                                 ": no such file (check the path and the working directory)");
    if (fs::is_directory(st))
        throw std::runtime_error(std::string(what) + ": " + quoted(path) + " is a directory, not an image file");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in)
        throw std::runtime_error(std::string(what) + ": cannot open " + quoted(path) + ": " +
                                 std::strerror(errno) + " (check its permissions)");
    const std::streamoff size = in.tellg();
    if (size < 0)
        throw std::runtime_error(std::string(what) + ": cannot read " + quoted(path) + " (not a regular file?)");
    const std::uint64_t limit = std::min<std::uint64_t>(max_bytes, std::numeric_limits<int>::max());
    if (static_cast<std::uint64_t>(size) > limit)
        throw std::runtime_error(std::string(what) + ": " + quoted(path) + " is " + std::to_string(size) +
                                 " bytes, above the limit of " + std::to_string(limit) +
                                 " bytes; downscale or recompress it, or raise image_limits::max_file_bytes");
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        throw std::runtime_error(std::string(what) + ": error while reading " + quoted(path) + ": " +
                                 std::strerror(errno));
    return bytes;
}


/// Converts `n` pixels of `from` interleaved channels (values 0..max) to `to` channels, 8-bit.
template <class S>
void convert_channels(const S* src, int from, std::uint8_t* dst, int to, std::size_t n, double max) {
    const double scale = 255.0 / max;
    auto q = [&](double v) {  // v in [0, max] -> 8 bits, rounded
        const double r = std::floor(v * scale + 0.5);
        return static_cast<std::uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
    };
    const bool src_alpha = from == 2 || from == 4;
    const bool src_color = from >= 3;
    for (std::size_t i = 0; i < n; ++i) {
        const S* p = src + i * static_cast<std::size_t>(from);
        std::uint8_t* d = dst + i * static_cast<std::size_t>(to);
        const double r = p[0], g = src_color ? p[1] : p[0], b = src_color ? p[2] : p[0];
        const double a = src_alpha ? static_cast<double>(p[from - 1]) : max;
        switch (to) {
            case 1: d[0] = src_color ? q(0.299 * r + 0.587 * g + 0.114 * b) : q(r); break;
            case 2: d[0] = src_color ? q(0.299 * r + 0.587 * g + 0.114 * b) : q(r); d[1] = q(a); break;
            case 3: d[0] = q(r); d[1] = q(g); d[2] = q(b); break;
            default: d[0] = q(r); d[1] = q(g); d[2] = q(b); d[3] = q(a); break;
        }
    }
}

/// Whether a * b * c > limit, without overflow.
inline bool product_exceeds(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t limit) noexcept {
    if (a == 0 || b == 0 || c == 0) return false;
    if (a > limit / b) return true;
    return a * b > limit / c;
}

/// The JPEG signature (SOI marker). Such a file goes to libjpeg-turbo or is refused; never to stb.
inline bool is_jpeg(const std::vector<unsigned char>& b) noexcept {
    return b.size() >= 2 && b[0] == 0xFF && b[1] == 0xD8;
}

inline void check_channels_arg(int c, std::string_view what) {
    if (c != 0 && c != 1 && c != 3 && c != 4)
        throw std::invalid_argument(std::string(what) + ": want_channels must be 0 (as stored), 1 (gray), 3 (RGB) "
                                    "or 4 (RGBA), got " + std::to_string(c));
}

}  // namespace detail

}  // namespace unetpp::io
