#pragma once
/// \file The library's one JSON reader and writer helpers, for text that comes from files and is
/// therefore untrusted: safetensors headers, the unetpp.config metadata, and the run files of the
/// command-line programs (config.json, split.json, log.jsonl).
///
/// Two levels:
///   - json_cursor, the strict lexer: whitespace, punctuation, strings (every escape, surrogate
///     pairs, UTF-8 validated: overlong forms, surrogates and code points above U+10FFFF are
///     refused), unsigned integers and numbers in exactly the JSON grammar. Readers of a known
///     structure (the safetensors header, which may be 100 MB) drive it directly and build no
///     tree.
///   - json_parse, a small tree (json_value) for documents of unknown structure, with a nesting
///     limit so that hostile input cannot exhaust the stack, and duplicate keys refused.
/// Every error is a std::runtime_error "<context> at byte N: <what>"; the caller chooses the
/// context ("safetensors: model.safetensors: invalid header", "config.json: malformed JSON").
///
/// Writing: json_quote(s) gives a quoted, escaped JSON string (control characters as \uXXXX);
/// json_write(v) a parsed tree as compact text; json_number(v) the shortest decimal text that reads back as the same double ("nan", "inf"
/// and "-inf" for the values JSON cannot write, which json_cursor::parse_number does not accept).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io {

/// The strict JSON lexer (see the file comment).
class json_cursor {
public:
    json_cursor(std::string_view text, std::string context) : s_(text), context_(std::move(context)) {}

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(context_ + " at byte " + std::to_string(pos_) + ": " + what);
    }

    [[nodiscard]] std::size_t pos() const noexcept { return pos_; }
    [[nodiscard]] bool at_end() const noexcept { return pos_ >= s_.size(); }
    /// The next byte, or '\0' at the end.
    [[nodiscard]] char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }

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
        if (!consume(c)) fail(pos_ < s_.size() ? std::string(what) : std::string(what) + " (the text ends early)");
    }
    /// After the value: only whitespace may follow.
    void expect_end(const char* what = "unexpected bytes after the value") {
        skip_ws();
        if (pos_ != s_.size()) fail(what);
    }
    /// One of the literals true, false, null, if it starts here.
    bool consume_literal(std::string_view word) noexcept {
        if (s_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
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
                case 'u': append_utf8(out, parse_escaped_code_point()); break;
                default: fail(std::string("unknown escape \\") + e);
            }
        }
    }

    /// A non-negative JSON integer (no sign, fraction or exponent; no leading zeros).
    std::uint64_t parse_uint() {
        if (pos_ >= s_.size()) fail("expected an integer (the text ends early)");
        if (s_[pos_] == '-') fail("negative integer where a size or offset is expected");
        if (!digit(s_[pos_])) fail("expected an integer");
        if (s_[pos_] == '0' && pos_ + 1 < s_.size() && digit(s_[pos_ + 1])) fail("integer with a leading zero");
        std::uint64_t v = 0;
        while (pos_ < s_.size() && digit(s_[pos_])) {
            const auto d = static_cast<std::uint64_t>(s_[pos_] - '0');
            if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) fail("integer too large");
            v = v * 10 + d;
            ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
            fail("only integers are allowed, not fractions or exponents");
        return v;
    }

    /// A JSON number, returned as its text (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?).
    std::string_view parse_number_text() {
        const std::size_t b = pos_;
        consume('-');
        if (!digit(peek())) fail("expected a number");
        if (!consume('0'))
            while (digit(peek())) ++pos_;
        else if (digit(peek()))
            fail("number with a leading zero");
        if (consume('.')) {
            if (!digit(peek())) fail("expected a digit after the decimal point");
            while (digit(peek())) ++pos_;
        }
        if (consume('e') || consume('E')) {
            if (!consume('+')) consume('-');
            if (!digit(peek())) fail("expected a digit in the exponent");
            while (digit(peek())) ++pos_;
        }
        if (pos_ - b > 64) fail("number text longer than 64 characters");
        return s_.substr(b, pos_ - b);
    }

private:
    static bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

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

    /// The code point of a \u escape whose "\u" was just read (a surrogate pair takes two).
    std::uint32_t parse_escaped_code_point() {
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
        return cp;
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

    std::string_view s_;
    std::size_t pos_ = 0;
    std::string context_;
};

struct json_member;

/// A parsed JSON document (see json_parse). Numbers keep their text, so integers of any size and
/// the exact decimal form survive; as_number() converts.
struct json_value {
    struct null_t {};
    struct number {
        std::string text;
    };
    using array = std::vector<json_value>;
    using object = std::vector<json_member>;  // in file order, keys unique
    std::variant<null_t, bool, number, std::string, array, object> v;

    [[nodiscard]] bool is_null() const noexcept { return std::holds_alternative<null_t>(v); }
    [[nodiscard]] bool is_bool() const noexcept { return std::holds_alternative<bool>(v); }
    [[nodiscard]] bool is_number() const noexcept { return std::holds_alternative<number>(v); }
    [[nodiscard]] bool is_string() const noexcept { return std::holds_alternative<std::string>(v); }
    [[nodiscard]] bool is_array() const noexcept { return std::holds_alternative<array>(v); }
    [[nodiscard]] bool is_object() const noexcept { return std::holds_alternative<object>(v); }

    [[nodiscard]] const std::string* string_if() const noexcept { return std::get_if<std::string>(&v); }
    [[nodiscard]] const array* array_if() const noexcept { return std::get_if<array>(&v); }
    [[nodiscard]] const object* object_if() const noexcept { return std::get_if<object>(&v); }
    /// The number's text, or nullptr.
    [[nodiscard]] const std::string* number_text_if() const noexcept {
        const auto* n = std::get_if<number>(&v);
        return n ? &n->text : nullptr;
    }
    /// The number as a double (NaN when this is not a number).
    [[nodiscard]] double as_number() const noexcept {
        const auto* t = number_text_if();
        return t ? std::strtod(t->c_str(), nullptr) : std::numeric_limits<double>::quiet_NaN();
    }
    /// The member `key` of an object, or nullptr (also when this is not an object).
    [[nodiscard]] const json_value* find(std::string_view key) const noexcept;
};

/// One member of a JSON object: `for (const auto& [key, value] : *doc.object_if())`.
struct json_member {
    std::string key;
    json_value value;
};

inline const json_value* json_value::find(std::string_view key) const noexcept {
    if (const auto* o = object_if())
        for (const auto& m : *o)
            if (m.key == key) return &m.value;
    return nullptr;
}

/// Limits of json_parse.
struct json_limits {
    int max_depth = 64;                   ///< nested arrays and objects
    std::size_t max_values = 10'000'000;  ///< values in the whole document
};

namespace json_detail {

inline json_value parse_value(json_cursor& c, const json_limits& lim, int depth, std::size_t& count) {
    if (++count > lim.max_values) c.fail("more than " + std::to_string(lim.max_values) + " values");
    c.skip_ws();
    json_value out;
    const char ch = c.peek();
    if (ch == '{' || ch == '[') {
        if (depth >= lim.max_depth) c.fail("nested deeper than " + std::to_string(lim.max_depth) + " levels");
        c.consume(ch);
        c.skip_ws();
        const char close = ch == '{' ? '}' : ']';
        json_value::object obj;
        json_value::array arr;
        if (!c.consume(close)) {
            for (;;) {
                c.skip_ws();
                if (ch == '{') {
                    std::string key = c.parse_string();
                    for (const auto& m : obj)
                        if (m.key == key) c.fail("duplicate key \"" + key + "\"");
                    c.skip_ws();
                    c.expect(':', "expected ':' after a key");
                    json_value value = parse_value(c, lim, depth + 1, count);
                    obj.push_back({std::move(key), std::move(value)});
                } else {
                    arr.push_back(parse_value(c, lim, depth + 1, count));
                }
                c.skip_ws();
                if (c.consume(',')) continue;
                c.expect(close, ch == '{' ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
                break;
            }
        }
        if (ch == '{')
            out.v = std::move(obj);
        else
            out.v = std::move(arr);
    } else if (ch == '"') {
        out.v = c.parse_string();
    } else if (c.consume_literal("true")) {
        out.v = true;
    } else if (c.consume_literal("false")) {
        out.v = false;
    } else if (c.consume_literal("null")) {
        out.v = json_value::null_t{};
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
        out.v = json_value::number{std::string(c.parse_number_text())};
    } else {
        c.fail(c.at_end() ? "expected a value (the text ends early)" : "expected a value");
    }
    return out;
}

}  // namespace json_detail

/// Parses a whole JSON document (one value, whitespace around it). `context` starts every error
/// message, e.g. "config.json: malformed JSON".
inline json_value json_parse(std::string_view text, const std::string& context, const json_limits& limits = {}) {
    json_cursor c(text, context);
    std::size_t count = 0;
    json_value v = json_detail::parse_value(c, limits, 0, count);
    c.expect_end();
    return v;
}

/// `s` as a quoted JSON string: ", \ and control characters escaped; other bytes as they are.
inline std::string json_quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (const char ch : s) {
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(ch) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
                    out += buf;
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
    return out;
}

/// `v` as compact JSON text (no spaces; strings through json_quote, numbers as read): what
/// json_parse reads back as the same tree.
inline std::string json_write(const json_value& v) {
    std::string out;
    const auto put = [&](const auto& self, const json_value& x) -> void {
        if (x.is_null()) {
            out += "null";
        } else if (x.is_bool()) {
            out += std::get<bool>(x.v) ? "true" : "false";
        } else if (const auto* n = x.number_text_if()) {
            out += *n;
        } else if (const auto* s = x.string_if()) {
            out += json_quote(*s);
        } else if (const auto* a = x.array_if()) {
            out += '[';
            for (std::size_t i = 0; i < a->size(); ++i) {
                if (i) out += ',';
                self(self, (*a)[i]);
            }
            out += ']';
        } else {
            out += '{';
            const auto& o = *x.object_if();
            for (std::size_t i = 0; i < o.size(); ++i) {
                if (i) out += ',';
                out += json_quote(o[i].key);
                out += ':';
                self(self, o[i].value);
            }
            out += '}';
        }
    };
    put(put, v);
    return out;
}

/// The shortest decimal text that reads back as the same double; "nan", "inf", "-inf" for the
/// values JSON has no number for.
inline std::string json_number(double v) {
    if (v != v) return "nan";
    if (v == std::numeric_limits<double>::infinity()) return "inf";
    if (v == -std::numeric_limits<double>::infinity()) return "-inf";
    char buf[32];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

}  // namespace unetpp::io
