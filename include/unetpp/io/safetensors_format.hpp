#pragma once
/// \file The safetensors format as io/safetensors.hpp reads and writes it: the entry of the
/// header, the checksum keys, element encoding, and the header reader (on the library's JSON
/// lexer, io/json.hpp). See io/safetensors.hpp for the layout and the checks.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "crc32c.hpp"
#include "json.hpp"

namespace unetpp::inline UNETPP_ABI::io {

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

/// Reader for a safetensors header on the library's JSON lexer (io/json.hpp). It knows the
/// header's fixed structure (an object of tensor objects and one metadata object of strings), so
/// nesting is bounded and no generic JSON tree is built.
class safetensors_header_parser {
public:
    safetensors_header_parser(std::string_view text, std::string source)
        : c_(text, "safetensors: " + source + ": invalid header"), source_(std::move(source)) {}

    struct result {
        std::vector<safetensors_entry> entries;
        std::map<std::string, std::string, std::less<>> metadata;
    };

    result parse() {
        result r;
        bool have_metadata = false;
        c_.skip_ws();
        c_.expect('{', "the header must be a JSON object");
        c_.skip_ws();
        if (!c_.consume('}')) {
            for (;;) {
                c_.skip_ws();
                std::string key = c_.parse_string();
                c_.skip_ws();
                c_.expect(':', "expected ':' after a key");
                c_.skip_ws();
                if (key == "__metadata__") {
                    if (have_metadata) c_.fail("\"__metadata__\" appears twice");
                    have_metadata = true;
                    parse_metadata(r.metadata);
                } else {
                    // An ordered set: O(log n) per name, also for adversarial names (a hash set
                    // could be driven into collisions).
                    if (!names_.insert(key).second) c_.fail("duplicate tensor name \"" + key + "\"");
                    r.entries.push_back(parse_entry(std::move(key)));
                }
                c_.skip_ws();
                if (c_.consume(',')) continue;
                c_.expect('}', "expected ',' or '}' in the header object");
                break;
            }
        }
        // Only spaces (the padding) and JSON whitespace may follow the object.
        c_.expect_end("unexpected bytes after the header object");
        return r;
    }

private:
    [[noreturn]] void fail_tensor(const std::string& name, const std::string& what) const {
        throw std::runtime_error("safetensors: " + source_ + ": tensor \"" + name + "\": " + what);
    }

    std::vector<std::uint64_t> parse_uint_array() {
        std::vector<std::uint64_t> v;
        c_.expect('[', "expected an array");
        c_.skip_ws();
        if (c_.consume(']')) return v;
        for (;;) {
            c_.skip_ws();
            if (v.size() >= 64) c_.fail("array too long");
            v.push_back(c_.parse_uint());
            c_.skip_ws();
            if (c_.consume(',')) continue;
            c_.expect(']', "expected ',' or ']' in an array");
            return v;
        }
    }

    void parse_metadata(std::map<std::string, std::string, std::less<>>& md) {
        c_.expect('{', "\"__metadata__\" must be an object of strings");
        c_.skip_ws();
        if (c_.consume('}')) return;
        for (;;) {
            c_.skip_ws();
            std::string key = c_.parse_string();
            c_.skip_ws();
            c_.expect(':', "expected ':' after a metadata key");
            c_.skip_ws();
            if (c_.peek() != '"') c_.fail("metadata value for \"" + key + "\" must be a string");
            std::string value = c_.parse_string();
            if (!md.emplace(std::move(key), std::move(value)).second) c_.fail("duplicate metadata key");
            c_.skip_ws();
            if (c_.consume(',')) continue;
            c_.expect('}', "expected ',' or '}' in \"__metadata__\"");
            return;
        }
    }

    safetensors_entry parse_entry(std::string name) {
        safetensors_entry e;
        e.name = std::move(name);
        if (!c_.consume('{')) fail_tensor(e.name, "description must be an object");
        bool have_dtype = false, have_shape = false, have_offsets = false;
        c_.skip_ws();
        if (!c_.consume('}')) {
            for (;;) {
                c_.skip_ws();
                const std::string key = c_.parse_string();
                c_.skip_ws();
                c_.expect(':', "expected ':' after a key");
                c_.skip_ws();
                if (key == "dtype") {
                    if (have_dtype) fail_tensor(e.name, "\"dtype\" given twice");
                    have_dtype = true;
                    e.dtype = c_.parse_string();
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
                c_.skip_ws();
                if (c_.consume(',')) continue;
                c_.expect('}', "expected ',' or '}' in a tensor description");
                break;
            }
        }
        if (!have_dtype || !have_shape || !have_offsets)
            fail_tensor(e.name, "description needs \"dtype\", \"shape\" and \"data_offsets\"");
        return e;
    }

    json_cursor c_;
    std::string source_;
    std::set<std::string, std::less<>> names_;
};

}  // namespace detail

}  // namespace unetpp::io
