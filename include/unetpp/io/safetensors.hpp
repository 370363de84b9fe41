#pragma once
/// \file Reading and writing the safetensors format (F32 and F64 tensors).
///
/// Layout of a file:
///   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
///   bytes [8, 8 + N)    UTF-8 JSON object, possibly padded with trailing spaces:
///                         {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
///                          "__metadata__": {"key": "value"}}
///   bytes [8 + N, end)  the data section: raw little-endian elements; data_offsets are relative
///                       to its first byte, and the tensors tile it without gaps or overlaps.
///
/// Files come from outside the program, so the reader treats every byte as untrusted: a
/// truncated file, a header longer than the file or than 100 MB, malformed JSON, an unknown
/// dtype, offsets out of range, overlapping or not matching shape x element size, and duplicate
/// names all raise std::runtime_error naming the file (and the tensor, where there is one).
/// The JSON reader accepts exactly the grammar a header needs: objects, arrays, strings with
/// escapes, and integers. It runs in O(n log n) for n tensors (duplicate names are found with an
/// ordered set), without recursion, so a header at the 100 MB limit parses in seconds.
///
/// Checksums. The writer records a CRC-32C (Castagnoli) of every tensor's bytes in the metadata
/// as `unetpp.crc32c.<tensor name>` (8 lowercase hex digits) and one over the parsed header as
/// `unetpp.crc32c_header`: every metadata key and value except that one, and every tensor's
/// name, dtype, shape and offsets, in name order, each length-prefixed. A checksum per tensor
/// names the damaged tensor; the header checksum catches damage that still parses (a changed
/// digit in an epoch count, a shape, a name). The reader verifies every checksum present and
/// refuses a file whose checksum is present and wrong ("corrupt: tensor X fails its checksum");
/// files from other writers (PyTorch) carry none and load as before. Keys with the unetpp.crc32c
/// prefix given to set_metadata are replaced by the computed ones.
///
///   unetpp::io::safetensors_writer w;
///   w.add("enc1.conv1.weight", weight);            // 4-D shape by default
///   w.add("head.bias", bias, {classes});           // or an explicit shape of equal size
///   w.set_metadata("format", "pt");
///   w.save("model.safetensors");                   // written atomically, fsynced
///
///   auto f = unetpp::io::safetensors_file::load("model.safetensors");
///   unetpp::tensor<float> b = f.get<float>("head.bias");   // shape [1, 1, 1, classes]

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "../tensor/tensor.hpp"
#include "atomic_file.hpp"

#if defined(__SSE4_2__) && (defined(__x86_64__) || defined(_M_X64))
#include <nmmintrin.h>
#define UNETPP_CRC32C_SSE42 1
#endif

namespace unetpp::io {

/// Largest header the reader accepts (the reference implementation uses the same limit).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// One tensor of a safetensors file as its header describes it.
struct safetensors_entry {
    std::string name;
    std::string dtype;                ///< "F32" or "F64"
    std::vector<std::int64_t> shape;  ///< as stored; may have any rank up to 4 for get()
    std::uint64_t begin = 0;          ///< byte offsets into the data section, [begin, end)
    std::uint64_t end = 0;

    [[nodiscard]] std::uint64_t element_count() const noexcept {
        std::uint64_t n = 1;
        for (auto d : shape) n *= static_cast<std::uint64_t>(d);  // validated not to overflow on load
        return n;
    }
};

namespace detail {

/// The 8 tables of the slice-by-8 CRC-32C (reflected polynomial 0x82F63B78).
struct crc32c_tables {
    std::uint32_t t[8][256];
    constexpr crc32c_tables() : t{} {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[0][i] = c;
        }
        for (std::uint32_t i = 0; i < 256; ++i)
            for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
};
inline constexpr crc32c_tables crc32c_table{};

}  // namespace detail

/// Continues a CRC-32C (Castagnoli; iSCSI, ext4) over `n` bytes: crc32c(b, n) of a whole buffer,
/// or crc32c(b2, n2, crc32c(b1, n1)) to continue. Uses the SSE4.2 instruction when the build
/// targets it, else a slice-by-8 table; both give the same value (crc32c("123456789") = 0xE3069283).
inline std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint32_t c = ~crc;
#ifdef UNETPP_CRC32C_SSE42
    std::uint64_t c64 = c;
    for (; n >= 8; n -= 8, p += 8) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
    }
    c = static_cast<std::uint32_t>(c64);
    for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, *p);
#else
    const auto& t = detail::crc32c_table.t;
    for (; n >= 8; n -= 8, p += 8) {
        const std::uint32_t lo = c ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                      std::uint32_t(p[3]) << 24);
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    }
    for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
#endif
    return ~c;
}
inline std::uint32_t crc32c(std::string_view s, std::uint32_t crc = 0) noexcept {
    return crc32c(s.data(), s.size(), crc);
}

/// Metadata key of a tensor's checksum, and of the header checksum (see the file comment).
inline constexpr std::string_view safetensors_crc_prefix = "unetpp.crc32c.";
inline constexpr std::string_view safetensors_header_crc_key = "unetpp.crc32c_header";

namespace detail {

/// A checksum as stored: 8 lowercase hex digits.
inline std::string crc_hex(std::uint32_t v) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = hex[v & 0xF];
    return s;
}
/// Parses crc_hex's form; false for anything else.
inline bool parse_crc_hex(std::string_view s, std::uint32_t& v) noexcept {
    if (s.size() != 8) return false;
    v = 0;
    for (const char c : s) {
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= static_cast<std::uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= static_cast<std::uint32_t>(c - 'a' + 10);
        else
            return false;
    }
    return true;
}
inline bool is_crc_key(std::string_view k) noexcept {
    return k.starts_with(safetensors_crc_prefix) || k == safetensors_header_crc_key;
}

/// The header checksum over the parsed metadata (minus its own key) and the tensor
/// descriptions in name order (see the file comment); the layout of the text does not matter.
inline std::uint32_t safetensors_header_crc(const std::map<std::string, std::string, std::less<>>& md,
                                            const std::vector<const safetensors_entry*>& by_name) {
    std::uint32_t c = 0;
    const auto put_u64 = [&](std::uint64_t v) {
        unsigned char b[8];
        for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
        c = crc32c(b, 8, c);
    };
    const auto put_str = [&](std::string_view s) {
        put_u64(s.size());
        c = crc32c(s, c);
    };
    put_u64(md.size() - (md.count(safetensors_header_crc_key) ? 1 : 0));
    for (const auto& [k, v] : md) {
        if (k == safetensors_header_crc_key) continue;
        put_str(k);
        put_str(v);
    }
    put_u64(by_name.size());
    for (const auto* e : by_name) {
        put_str(e->name);
        put_str(e->dtype);
        put_u64(e->shape.size());
        for (auto d : e->shape) put_u64(static_cast<std::uint64_t>(d));
        put_u64(e->begin);
        put_u64(e->end);
    }
    return c;
}

/// Bytes per element of a supported dtype, 0 for anything else.
inline std::size_t safetensors_dtype_size(std::string_view dtype) noexcept {
    if (dtype == "F32") return 4;
    if (dtype == "F64") return 8;
    return 0;
}

template <class T>
constexpr std::string_view safetensors_dtype_of() noexcept {
    if constexpr (std::is_same_v<T, float>)
        return "F32";
    else
        return "F64";
}

/// Reverses the bytes of one element in place (only used on big-endian hosts).
inline void reverse_bytes(unsigned char* p, std::size_t n) noexcept { std::reverse(p, p + n); }

/// Reads one little-endian element of type U from unaligned memory.
template <class U>
U load_le(const unsigned char* p) noexcept {
    unsigned char b[sizeof(U)];
    std::memcpy(b, p, sizeof(U));
    if constexpr (std::endian::native == std::endian::big) reverse_bytes(b, sizeof(U));
    U v;
    std::memcpy(&v, b, sizeof(U));
    return v;
}

/// Appends one element of type U in little-endian byte order.
template <class U>
void store_le(std::string& out, U v) {
    unsigned char b[sizeof(U)];
    std::memcpy(b, &v, sizeof(U));
    if constexpr (std::endian::native == std::endian::big) reverse_bytes(b, sizeof(U));
    out.append(reinterpret_cast<const char*>(b), sizeof(U));
}

/// Recursive-descent reader for a safetensors header. It knows the header's fixed structure
/// (an object of tensor objects and one metadata object of strings), so nesting is bounded and
/// no generic JSON tree is built.
class safetensors_header_parser {
public:
    safetensors_header_parser(std::string_view text, std::string source) : s_(text), source_(std::move(source)) {}

    struct result {
        std::vector<safetensors_entry> entries;
        std::map<std::string, std::string, std::less<>> metadata;
    };

    result parse() {
        result r;
        bool have_metadata = false;
        skip_ws();
        expect('{', "the header must be a JSON object");
        skip_ws();
        if (!consume('}')) {
            for (;;) {
                skip_ws();
                std::string key = parse_string();
                skip_ws();
                expect(':', "expected ':' after a key");
                skip_ws();
                if (key == "__metadata__") {
                    if (have_metadata) fail("\"__metadata__\" appears twice");
                    have_metadata = true;
                    parse_metadata(r.metadata);
                } else {
                    // An ordered set: O(log n) per name, also for adversarial names (a hash set
                    // could be driven into collisions).
                    if (!names_.insert(key).second) fail("duplicate tensor name \"" + key + "\"");
                    r.entries.push_back(parse_entry(std::move(key)));
                }
                skip_ws();
                if (consume(',')) continue;
                expect('}', "expected ',' or '}' in the header object");
                break;
            }
        }
        // Only spaces (the padding) and JSON whitespace may follow the object.
        skip_ws();
        if (pos_ != s_.size()) fail("unexpected bytes after the header object");
        return r;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("safetensors: " + source_ + ": invalid header at byte " + std::to_string(pos_) +
                                 ": " + what);
    }
    [[noreturn]] void fail_tensor(const std::string& name, const std::string& what) const {
        throw std::runtime_error("safetensors: " + source_ + ": tensor \"" + name + "\": " + what);
    }
    void skip_ws() noexcept {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool consume(char c) noexcept {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void expect(char c, const char* what) {
        if (!consume(c)) fail(pos_ < s_.size() ? what : std::string(what) + " (header ends early)");
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::uint32_t parse_hex4() {
        if (s_.size() - pos_ < 4) fail("truncated \\u escape");
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else
                fail("bad hex digit in \\u escape");
        }
        return v;
    }

    /// Copies one UTF-8 encoded code point starting at pos_, rejecting malformed sequences.
    void copy_utf8(std::string& out) {
        const auto b0 = static_cast<unsigned char>(s_[pos_]);
        std::size_t len;
        std::uint32_t cp;
        if (b0 < 0x80) {
            len = 1;
            cp = b0;
        } else if ((b0 & 0xE0) == 0xC0) {
            len = 2;
            cp = b0 & 0x1F;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3;
            cp = b0 & 0x0F;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4;
            cp = b0 & 0x07;
        } else {
            fail("invalid UTF-8 in a string");
        }
        if (s_.size() - pos_ < len) fail("truncated UTF-8 sequence in a string");
        for (std::size_t i = 1; i < len; ++i) {
            const auto b = static_cast<unsigned char>(s_[pos_ + i]);
            if ((b & 0xC0) != 0x80) fail("invalid UTF-8 in a string");
            cp = (cp << 6) | (b & 0x3F);
        }
        static constexpr std::uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail("invalid UTF-8 in a string (overlong form or surrogate)");
        out.append(s_.substr(pos_, len));
        pos_ += len;
    }

    std::string parse_string() {
        expect('"', "expected a string");
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) fail("unterminated string");
            const char c = s_[pos_];
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
            if (c != '\\') {
                copy_utf8(out);
                continue;
            }
            ++pos_;
            if (pos_ >= s_.size()) fail("unterminated escape");
            const char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    std::uint32_t cp = parse_hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
                            fail("high surrogate without a following low surrogate");
                        pos_ += 2;
                        const std::uint32_t lo = parse_hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate without a following low surrogate");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail(std::string("unknown escape \\") + e);
            }
        }
    }

    /// A non-negative JSON integer (no sign, fraction or exponent; no leading zeros).
    std::uint64_t parse_uint() {
        if (pos_ >= s_.size()) fail("expected an integer (header ends early)");
        if (s_[pos_] == '-') fail("negative integer where a size or offset is expected");
        if (s_[pos_] < '0' || s_[pos_] > '9') fail("expected an integer");
        if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9')
            fail("integer with a leading zero");
        std::uint64_t v = 0;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
            const auto d = static_cast<std::uint64_t>(s_[pos_] - '0');
            if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) fail("integer too large");
            v = v * 10 + d;
            ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
            fail("only integers are allowed, not fractions or exponents");
        return v;
    }

    std::vector<std::uint64_t> parse_uint_array() {
        std::vector<std::uint64_t> v;
        expect('[', "expected an array");
        skip_ws();
        if (consume(']')) return v;
        for (;;) {
            skip_ws();
            if (v.size() >= 64) fail("array too long");
            v.push_back(parse_uint());
            skip_ws();
            if (consume(',')) continue;
            expect(']', "expected ',' or ']' in an array");
            return v;
        }
    }

    void parse_metadata(std::map<std::string, std::string, std::less<>>& md) {
        expect('{', "\"__metadata__\" must be an object of strings");
        skip_ws();
        if (consume('}')) return;
        for (;;) {
            skip_ws();
            std::string key = parse_string();
            skip_ws();
            expect(':', "expected ':' after a metadata key");
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') fail("metadata value for \"" + key + "\" must be a string");
            std::string value = parse_string();
            if (!md.emplace(std::move(key), std::move(value)).second) fail("duplicate metadata key");
            skip_ws();
            if (consume(',')) continue;
            expect('}', "expected ',' or '}' in \"__metadata__\"");
            return;
        }
    }

    safetensors_entry parse_entry(std::string name) {
        safetensors_entry e;
        e.name = std::move(name);
        if (pos_ >= s_.size() || s_[pos_] != '{') fail_tensor(e.name, "description must be an object");
        ++pos_;
        bool have_dtype = false, have_shape = false, have_offsets = false;
        skip_ws();
        if (!consume('}')) {
            for (;;) {
                skip_ws();
                const std::string key = parse_string();
                skip_ws();
                expect(':', "expected ':' after a key");
                skip_ws();
                if (key == "dtype") {
                    if (have_dtype) fail_tensor(e.name, "\"dtype\" given twice");
                    have_dtype = true;
                    e.dtype = parse_string();
                } else if (key == "shape") {
                    if (have_shape) fail_tensor(e.name, "\"shape\" given twice");
                    have_shape = true;
                    for (auto d : parse_uint_array()) {
                        if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                            fail_tensor(e.name, "dimension too large");
                        e.shape.push_back(static_cast<std::int64_t>(d));
                    }
                } else if (key == "data_offsets") {
                    if (have_offsets) fail_tensor(e.name, "\"data_offsets\" given twice");
                    have_offsets = true;
                    const auto o = parse_uint_array();
                    if (o.size() != 2) fail_tensor(e.name, "\"data_offsets\" must hold exactly two integers");
                    e.begin = o[0];
                    e.end = o[1];
                } else {
                    fail_tensor(e.name, "unknown key \"" + key + "\"");
                }
                skip_ws();
                if (consume(',')) continue;
                expect('}', "expected ',' or '}' in a tensor description");
                break;
            }
        }
        if (!have_dtype || !have_shape || !have_offsets)
            fail_tensor(e.name, "description needs \"dtype\", \"shape\" and \"data_offsets\"");
        return e;
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    std::string source_;
    std::set<std::string, std::less<>> names_;
};

}  // namespace detail

/// A safetensors file read into memory and validated.
class safetensors_file {
public:
    /// Reads and validates `path`; throws std::runtime_error naming the file on any problem.
    static safetensors_file load(const std::filesystem::path& path) {
        const std::string src = path.string();
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("safetensors: " + src + ": cannot open the file for reading");
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (ec) throw std::runtime_error("safetensors: " + src + ": cannot read the file size: " + ec.message());
        // Validate the header length against the file size before allocating anything large.
        if (size < 8)
            throw std::runtime_error("safetensors: " + src + ": truncated file (" + std::to_string(size) +
                                     " bytes; the 8-byte header length is missing)");
        std::string bytes;
        bytes.resize(8);
        in.read(bytes.data(), 8);
        if (!in) throw std::runtime_error("safetensors: " + src + ": read error in the header length");
        const std::uint64_t n = detail::load_le<std::uint64_t>(reinterpret_cast<const unsigned char*>(bytes.data()));
        check_header_length(n, size, src);
        bytes.resize(static_cast<std::size_t>(size));
        in.read(bytes.data() + 8, static_cast<std::streamsize>(size - 8));
        if (static_cast<std::uint64_t>(in.gcount()) != size - 8)
            throw std::runtime_error("safetensors: " + src + ": read error (file shorter than its size)");
        return parse(std::move(bytes), src);
    }

    /// Parses a whole file held in memory; `source` names it in error messages.
    static safetensors_file parse(std::string bytes, std::string source = "<memory>") {
        if (bytes.size() < 8)
            throw std::runtime_error("safetensors: " + source + ": truncated file (" + std::to_string(bytes.size()) +
                                     " bytes; the 8-byte header length is missing)");
        const std::uint64_t n = detail::load_le<std::uint64_t>(reinterpret_cast<const unsigned char*>(bytes.data()));
        check_header_length(n, bytes.size(), source);
        const auto header_len = static_cast<std::size_t>(n);
        auto parsed = detail::safetensors_header_parser(std::string_view(bytes).substr(8, header_len), source).parse();

        safetensors_file f;
        f.source_ = std::move(source);
        f.data_offset_ = 8 + header_len;
        f.metadata_ = std::move(parsed.metadata);
        const std::uint64_t data_size = bytes.size() - f.data_offset_;
        for (auto& e : parsed.entries) f.validate_entry(e, data_size);

        // The tensors must tile the data section: no overlaps, no gaps, no trailing bytes.
        std::vector<const safetensors_entry*> by_offset;
        by_offset.reserve(parsed.entries.size());
        for (const auto& e : parsed.entries) by_offset.push_back(&e);
        std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        std::uint64_t covered = 0;
        const safetensors_entry* prev = nullptr;
        for (const auto* e : by_offset) {
            if (e->begin < covered)
                throw std::runtime_error("safetensors: " + f.source_ + ": tensor \"" + e->name + "\": data_offsets [" +
                                         std::to_string(e->begin) + ", " + std::to_string(e->end) +
                                         "] overlap tensor \"" + prev->name + "\"");
            if (e->begin > covered)
                throw std::runtime_error("safetensors: " + f.source_ + ": tensor \"" + e->name + "\": data_offsets [" +
                                         std::to_string(e->begin) + ", " + std::to_string(e->end) +
                                         "] leave a gap at byte " + std::to_string(covered) + " of the data section");
            covered = e->end;
            prev = e;
        }
        if (covered != data_size)
            throw std::runtime_error("safetensors: " + f.source_ + ": the data section has " + std::to_string(data_size) +
                                     " bytes but the tensors cover " + std::to_string(covered));

        for (auto& e : parsed.entries) {
            std::string name = e.name;
            f.entries_.emplace(std::move(name), std::move(e));
        }
        f.bytes_ = std::move(bytes);
        f.verify_checksums();
        return f;
    }

    /// True when the file carries the unetpp header checksum (written by safetensors_writer);
    /// such a file has passed every checksum check on load.
    [[nodiscard]] bool has_checksums() const noexcept {
        return metadata_.find(safetensors_header_crc_key) != metadata_.end();
    }

    /// Tensor names in sorted order.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> v;
        v.reserve(entries_.size());
        for (const auto& [name, e] : entries_) v.push_back(name);
        return v;
    }
    [[nodiscard]] bool contains(std::string_view name) const { return entries_.find(name) != entries_.end(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

    /// The header description of one tensor; throws std::runtime_error when absent.
    [[nodiscard]] const safetensors_entry& entry(std::string_view name) const {
        const auto it = entries_.find(name);
        if (it == entries_.end())
            throw std::runtime_error("safetensors: " + source_ + ": no tensor named \"" + std::string(name) + "\"");
        return it->second;
    }
    [[nodiscard]] const std::vector<std::int64_t>& shape(std::string_view name) const { return entry(name).shape; }
    [[nodiscard]] const std::string& dtype(std::string_view name) const { return entry(name).dtype; }
    [[nodiscard]] const std::map<std::string, std::string, std::less<>>& metadata() const noexcept { return metadata_; }
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    /// The tensor converted to T; the stored shape is right-aligned into NCHW ([k] -> [1, 1, 1, k],
    /// [a, b] -> [1, 1, a, b], a scalar -> [1, 1, 1, 1]). More than four dimensions is an error.
    template <class T>
    [[nodiscard]] tensor<T> get(std::string_view name) const {
        static_assert(std::is_floating_point_v<T>, "safetensors_file::get: T must be float or double");
        const auto& e = entry(name);
        if (e.shape.size() > 4)
            throw std::runtime_error("safetensors: " + source_ + ": tensor \"" + e.name + "\" has " +
                                     std::to_string(e.shape.size()) + " dimensions; unetpp tensors have at most 4");
        int dims[4] = {1, 1, 1, 1};
        const std::size_t skip = 4 - e.shape.size();
        for (std::size_t i = 0; i < e.shape.size(); ++i) dims[skip + i] = static_cast<int>(e.shape[i]);
        tensor<T> t(shape4{dims[0], dims[1], dims[2], dims[3]});
        const auto* p = reinterpret_cast<const unsigned char*>(bytes_.data()) + data_offset_ + e.begin;
        if (e.dtype == "F32") {
            for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(detail::load_le<float>(p + 4 * i));
        } else {
            for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(detail::load_le<double>(p + 8 * i));
        }
        return t;
    }

private:
    safetensors_file() = default;

    static void check_header_length(std::uint64_t n, std::uint64_t file_size, const std::string& src) {
        if (n > safetensors_max_header_bytes)
            throw std::runtime_error("safetensors: " + src + ": header length " + std::to_string(n) +
                                     " exceeds the 100 MB limit");
        if (n > file_size - 8)
            throw std::runtime_error("safetensors: " + src + ": header length " + std::to_string(n) +
                                     " is larger than the rest of the file (" + std::to_string(file_size - 8) +
                                     " bytes); the file is truncated or corrupt");
        if (n < 2) throw std::runtime_error("safetensors: " + src + ": header length " + std::to_string(n) + " is too short");
    }

    [[noreturn]] void corrupt(const std::string& what) const {
        throw std::runtime_error("safetensors: " + source_ + ": corrupt: " + what +
                                 "; the file was damaged after it was written; use the previous checkpoint or "
                                 "retrain");
    }

    /// Checks the header checksum and every tensor checksum present (see the file comment).
    void verify_checksums() const {
        std::uint32_t want = 0;
        const auto h = metadata_.find(safetensors_header_crc_key);
        if (h != metadata_.end()) {
            if (!detail::parse_crc_hex(h->second, want)) corrupt("the header checksum is not 8 hex digits");
            std::vector<const safetensors_entry*> by_name;
            by_name.reserve(entries_.size());
            for (const auto& [name, e] : entries_) by_name.push_back(&e);
            if (detail::safetensors_header_crc(metadata_, by_name) != want) corrupt("the header fails its checksum");
        }
        for (auto it = metadata_.lower_bound(safetensors_crc_prefix);
             it != metadata_.end() && it->first.starts_with(safetensors_crc_prefix); ++it) {
            const std::string_view name = std::string_view(it->first).substr(safetensors_crc_prefix.size());
            const auto e = entries_.find(name);
            if (e == entries_.end())
                corrupt("the checksum \"" + it->first + "\" names a tensor the file does not hold");
            if (!detail::parse_crc_hex(it->second, want))
                corrupt("the checksum of tensor \"" + e->first + "\" is not 8 hex digits");
            const std::uint32_t got =
                crc32c(bytes_.data() + data_offset_ + e->second.begin, e->second.end - e->second.begin);
            if (got != want) corrupt("tensor \"" + e->first + "\" fails its checksum");
        }
    }

    void validate_entry(const safetensors_entry& e, std::uint64_t data_size) const {
        const auto bad = [&](const std::string& what) {
            throw std::runtime_error("safetensors: " + source_ + ": tensor \"" + e.name + "\": " + what);
        };
        if (e.name.empty()) bad("empty tensor name");
        const std::size_t elem = detail::safetensors_dtype_size(e.dtype);
        if (elem == 0) bad("unsupported dtype \"" + e.dtype + "\" (unetpp reads F32 and F64)");
        if (e.shape.size() > 4)
            bad("has " + std::to_string(e.shape.size()) + " dimensions; unetpp tensors have at most 4");
        std::uint64_t count = 1;
        for (auto d : e.shape) {
            if (d > std::numeric_limits<int>::max()) bad("dimension " + std::to_string(d) + " is too large");
            const auto ud = static_cast<std::uint64_t>(d);
            if (ud != 0 && count > std::numeric_limits<std::uint64_t>::max() / ud) bad("element count overflows");
            count *= ud;
        }
        if (e.begin > e.end)
            bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] are reversed");
        if (e.end > data_size)
            bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                "] run past the end of the data section (" + std::to_string(data_size) +
                " bytes); the file is truncated or corrupt");
        if (count > std::numeric_limits<std::uint64_t>::max() / elem || e.end - e.begin != count * elem)
            bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] span " +
                std::to_string(e.end - e.begin) + " bytes but the shape and dtype " + e.dtype + " need " +
                std::to_string(count) + " x " + std::to_string(elem));
        if (count > std::numeric_limits<int>::max()) bad("too many elements for a unetpp tensor");
    }

    std::string source_;
    std::string bytes_;  // the whole file
    std::size_t data_offset_ = 0;
    std::map<std::string, safetensors_entry, std::less<>> entries_;
    std::map<std::string, std::string, std::less<>> metadata_;
};

/// Collects tensors and metadata and writes them as one safetensors file.
class safetensors_writer {
public:
    /// Adds a copy of `t` under `name`. `shape` overrides the stored shape (its element count must
    /// equal t.size()); by default the 4-D NCHW shape is stored.
    template <class T>
    void add(std::string name, const tensor<T>& t, std::vector<std::int64_t> shape = {}) {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                      "safetensors_writer::add: only float (F32) and double (F64) tensors can be stored");
        if (name.empty()) throw std::invalid_argument("safetensors_writer: empty tensor name");
        if (name == "__metadata__")
            throw std::invalid_argument("safetensors_writer: \"__metadata__\" is reserved and cannot name a tensor");
        if (entries_.count(name)) throw std::invalid_argument("safetensors_writer: duplicate tensor \"" + name + "\"");
        if (shape.empty()) {
            const shape4 s = t.shape();
            shape = {s.n, s.c, s.h, s.w};
        }
        std::uint64_t count = 1;
        for (auto d : shape) {
            if (d < 0) throw std::invalid_argument("safetensors_writer: tensor \"" + name + "\": negative dimension");
            count *= static_cast<std::uint64_t>(d);
        }
        if (count != t.size())
            throw std::invalid_argument("safetensors_writer: tensor \"" + name + "\": shape has " +
                                        std::to_string(count) + " elements but the tensor has " +
                                        std::to_string(t.size()));
        item it;
        it.dtype = std::string(detail::safetensors_dtype_of<T>());
        it.shape = std::move(shape);
        it.bytes.reserve(t.size() * sizeof(T));
        for (std::size_t i = 0; i < t.size(); ++i) detail::store_le<T>(it.bytes, t[i]);
        entries_.emplace(std::move(name), std::move(it));
    }

    void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }
    [[nodiscard]] bool contains(std::string_view name) const { return entries_.find(name) != entries_.end(); }

    /// The complete file contents (tensors sorted by name, header padded to a multiple of 8, the
    /// checksums of the file comment in the metadata).
    [[nodiscard]] std::string serialize() const {
        // Offsets and checksums first: the header checksum covers the final metadata.
        std::map<std::string, std::string, std::less<>> md;
        for (const auto& [k, v] : metadata_)
            if (!detail::is_crc_key(k)) md.emplace(k, v);
        std::vector<safetensors_entry> desc;
        desc.reserve(entries_.size());
        std::uint64_t offset = 0;
        for (const auto& [name, it] : entries_) {
            desc.push_back({name, it.dtype, it.shape, offset, offset + it.bytes.size()});
            offset += it.bytes.size();
            md[std::string(safetensors_crc_prefix) + name] = detail::crc_hex(crc32c(it.bytes));
        }
        std::vector<const safetensors_entry*> by_name;
        by_name.reserve(desc.size());
        for (const auto& e : desc) by_name.push_back(&e);
        md[std::string(safetensors_header_crc_key)] = detail::crc_hex(detail::safetensors_header_crc(md, by_name));

        std::string h = "{\"__metadata__\":{";
        bool first = true;
        for (const auto& [k, v] : md) {
            if (!first) h += ',';
            first = false;
            append_json_string(h, k);
            h += ':';
            append_json_string(h, v);
        }
        h += '}';
        for (const auto& e : desc) {
            h += ',';
            append_json_string(h, e.name);
            h += ":{\"dtype\":\"" + e.dtype + "\",\"shape\":[";
            for (std::size_t i = 0; i < e.shape.size(); ++i) {
                if (i) h += ',';
                h += std::to_string(e.shape[i]);
            }
            h += "],\"data_offsets\":[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]}";
        }
        h += '}';
        while (h.size() % 8 != 0) h += ' ';

        std::string out;
        out.reserve(8 + h.size() + offset);
        detail::store_le<std::uint64_t>(out, h.size());
        out += h;
        for (const auto& [name, it] : entries_) out += it.bytes;
        return out;
    }

    /// Writes the file atomically and durably with io::write_file_atomic (a new temporary file
    /// in the same folder, fsynced, renamed over `path`, folder fsynced): `path` is either the old file or the new one.
    void save(const std::filesystem::path& path) const {
        try {
            write_file_atomic(path, serialize());
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string("safetensors: ") + e.what());
        }
    }

private:
    struct item {
        std::string dtype;
        std::vector<std::int64_t> shape;
        std::string bytes;
    };

    static void append_json_string(std::string& out, std::string_view s) {
        static constexpr char hex[] = "0123456789abcdef";
        out += '"';
        for (const char c : s) {
            const auto u = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (u < 0x20) {
                out += "\\u00";
                out += hex[u >> 4];
                out += hex[u & 0xF];
            } else {
                out += c;
            }
        }
        out += '"';
    }

    std::map<std::string, item, std::less<>> entries_;
    std::map<std::string, std::string, std::less<>> metadata_;
};

}  // namespace unetpp::io
