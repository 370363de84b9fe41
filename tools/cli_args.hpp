// The option parser of the unetpp command-line programs: `--key value`, `--key=value` and
// `--flag` arguments with typed, range-checked getters. No library dependencies, so the unit test
// (tests/unit/cli/test_cli_args.cpp) and the fuzz target (tests/fuzz/fuzz_cli_args.cpp) build in
// seconds. Every problem is a cli::usage_error whose message names the option, the value and what
// is accepted; the programs print it as "<tool>: error: <message>" and exit with 2.
//
// The accepted ranges of every numeric option are the constants in cli::range below, shared by the
// programs, their --help texts and the tests.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace cli {

/// Bad input: the tool prints "<tool>: error: <message>" and exits with 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Which ends of a real interval belong to it.
enum class bounds { closed, open_min, open_max, open };

/// An integer interval [min, max].
struct int_range {
    std::int64_t min, max;
};

/// A real interval; `b` says which ends are excluded.
struct real_range {
    double min, max;
    bounds b = bounds::closed;
};

/// The accepted values of the numeric options (shared by unetpp-train, -evaluate, -predict).
namespace range {
inline constexpr int_range threads{1, 1024};   ///< --threads
inline constexpr int_range size{8, 4096};      ///< --size (image side after resizing)
inline constexpr int_range epochs{1, 100000};  ///< --epochs
inline constexpr int_range batch{1, 4096};     ///< --batch (images, or tiles in predict)
inline constexpr int_range seed{0, std::numeric_limits<std::int64_t>::max()};  ///< --seed
inline constexpr int_range folds{2, 100};                          ///< --folds (0, the default, means no folds)
inline constexpr int_range fold{0, 99};                            ///< --fold (also below --folds)
inline constexpr int_range patience{0, 100000};                    ///< --patience (0: no early stopping)
inline constexpr int_range synthetic_count{4, 1000000};            ///< --synthetic-count
inline constexpr int_range base{1, 1024};                          ///< --base (then checked against the compiled set)
inline constexpr int_range depth{1, 10};                           ///< --depth (then checked against the compiled set)
inline constexpr int_range tile{8, 65536};                         ///< predict --tile (then checked against the net)
inline constexpr int_range overlap{0, 32768};                      ///< predict --overlap
inline constexpr int_range memory_mb{1, 1048576};                  ///< predict --memory-mb (up to 1 TiB)
inline constexpr int_range patch{8, 4096};                         ///< train --patch (then checked against the net)
inline constexpr int_range in_channels{1, 3};                      ///< --in-channels (then: 1 grey or 3 RGB)
inline constexpr int_range classes{1, 256};                        ///< --classes (1: one foreground class, sigmoid)
inline constexpr real_range lr{0.0, 10.0, bounds::open_min};       ///< --lr, (0, 10]
inline constexpr real_range weight_decay{0.0, 1.0};                ///< --weight-decay, [0, 1]
inline constexpr real_range momentum{0.0, 1.0, bounds::open_max};  ///< --momentum, [0, 1)
inline constexpr real_range min_delta{0.0, 1e6};                   ///< --min-delta, [0, 1e6]
inline constexpr real_range clip_norm{0.0, 1e6};                   ///< --clip-norm, [0, 1e6] (0: off)
inline constexpr real_range threshold{0.0, 1.0};                   ///< --threshold, [0, 1]
inline constexpr real_range fraction{0.0, 1.0};                    ///< each part of --split
}  // namespace range

/// "1 to 4096"
inline std::string describe(const int_range& r) { return std::to_string(r.min) + " to " + std::to_string(r.max); }

/// Shortest text that reads back as `v` ("0.001", "1e+06").
inline std::string format_real(double v) {
    char b[64];
    const auto r = std::to_chars(b, b + sizeof b, v);
    return std::string(b, r.ptr);
}

/// "a number > 0 and <= 10"
inline std::string describe(const real_range& r) {
    const bool lo_open = r.b == bounds::open_min || r.b == bounds::open;
    const bool hi_open = r.b == bounds::open_max || r.b == bounds::open;
    return std::string("a number ") + (lo_open ? "> " : ">= ") + format_real(r.min) +
           (hi_open ? " and < " : " and <= ") + format_real(r.max);
}

/// Parses `text`, the value of option `name` ("--batch"), as a whole decimal integer in `r`.
/// Rejects empty text, signs other than a leading '-', fractions, exponents, trailing characters,
/// values that do not fit in 64 bits and values outside `r`, naming the option and the range.
inline std::int64_t parse_integer(std::string_view name, std::string_view text, const int_range& r) {
    const std::string shown = std::string(name) + " '" + std::string(text) + "'";
    std::int64_t v = 0;
    const char* first = text.data();
    const char* last = text.data() + text.size();
    const auto res = std::from_chars(first, last, v);
    if (res.ec == std::errc::result_out_of_range)
        throw usage_error(std::string(name) + " " + std::string(text) + " is out of range; use " + describe(r));
    if (text.empty() || res.ec != std::errc() || res.ptr != last)
        throw usage_error(shown + " is not a whole number; use " + describe(r));
    if (v < r.min || v > r.max)
        throw usage_error(std::string(name) + " " + std::string(text) + " is out of range; use " + describe(r));
    return v;
}

/// Parses `text` as a finite decimal number in `r` (NaN, infinities, hexadecimal floats, trailing
/// characters and values outside `r` are rejected with a message naming the option and the range).
inline double parse_real(std::string_view name, std::string_view text, const real_range& r) {
    const std::string shown = std::string(name) + " '" + std::string(text) + "'";
    double v = 0;
    const char* last = text.data() + text.size();
    const auto res = std::from_chars(text.data(), last, v, std::chars_format::general);
    if (res.ec == std::errc::result_out_of_range)
        throw usage_error(std::string(name) + " " + std::string(text) + " is out of range; use " + describe(r));
    if (text.empty() || res.ec != std::errc() || res.ptr != last)
        throw usage_error(shown + " is not a number; use " + describe(r));
    if (!std::isfinite(v)) throw usage_error(shown + " is not a finite number; use " + describe(r));
    const bool lo_open = r.b == bounds::open_min || r.b == bounds::open;
    const bool hi_open = r.b == bounds::open_max || r.b == bounds::open;
    const bool lo_ok = lo_open ? v > r.min : v >= r.min;
    const bool hi_ok = hi_open ? v < r.max : v <= r.max;
    if (!lo_ok || !hi_ok)
        throw usage_error(std::string(name) + " " + std::string(text) + " is out of range; use " + describe(r));
    return v;
}

/// "a, b or c"
inline std::string join_words(const std::vector<std::string>& words) {
    std::string s;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i) s += i + 1 == words.size() ? " or " : ", ";
        s += words[i];
    }
    return s;
}

/// `--key value`, `--key=value` and `--flag` arguments. `-h` and `--help` are always accepted
/// (as the flag "help"). An option that is neither a flag nor a key is unknown, wherever it is on
/// the line; an option given twice is an error (the second would silently win); a key whose value
/// is missing or is itself one of the program's options "needs a value" (a value that starts with
/// "--" can still be given as --key=--value). A key in `repeatable` may be given several times
/// (unetpp-predict --checkpoint A --checkpoint B): values(k) lists them in order, str(k) is the first.
class args {
public:
    args(int argc, const char* const* argv, std::set<std::string> flags, std::set<std::string> keys,
         std::set<std::string> repeatable = {})
        : flags_(std::move(flags)), keys_(std::move(keys)) {
        for (int i = 1; i < argc; ++i) {
            const std::string_view raw = argv[i] ? argv[i] : "";
            const std::string a(raw == "-h" ? std::string_view("--help") : raw);
            if (!a.starts_with("--") || a.size() == 2)
                throw usage_error("unexpected argument '" + a + "'; options start with -- (see --help)");
            std::string k = a.substr(2), v;
            bool inline_value = false;
            if (const auto eq = k.find('='); eq != std::string::npos) {
                v = k.substr(eq + 1);
                k = k.substr(0, eq);
                inline_value = true;
            }
            const bool is_flag = flags_.count(k) != 0 || k == "help";
            if (!is_flag && keys_.count(k) == 0) throw usage_error("unknown option --" + k + " (see --help)");
            if (is_flag) {
                if (inline_value) throw usage_error("option --" + k + " is a switch and takes no value");
                v.push_back('1');  // (assigning "1" trips a false -Wrestrict in g++ 12)
            } else if (!inline_value) {
                if (i + 1 >= argc || argv[i + 1] == nullptr)
                    throw usage_error("option --" + k + " needs a value (see --help)");
                const std::string next = argv[i + 1];
                if (next.starts_with("--") && known(next.substr(2, next.find('=') - 2)))
                    throw usage_error("option --" + k + " needs a value, but " + next + " follows it (write --" + k +
                                      "=VALUE for a value that starts with --)");
                v = next;
                ++i;
            }
            if (repeatable.count(k) && !is_flag) {
                m_.emplace(k, v);
                many_[k].push_back(v);
                continue;
            }
            if (m_.count(k)) throw usage_error("option --" + k + " is given twice; give it once");
            m_[k] = v;
        }
    }
    args(int argc, char** argv, std::set<std::string> flags, std::set<std::string> keys,
         std::set<std::string> repeatable = {})
        : args(argc, const_cast<const char* const*>(argv), std::move(flags), std::move(keys), std::move(repeatable)) {}

    [[nodiscard]] bool has(const std::string& k) const { return m_.count(k) != 0; }
    /// Every value of a repeatable key, in the order given (empty when absent); for another key
    /// its one value.
    [[nodiscard]] std::vector<std::string> values(const std::string& k) const {
        if (const auto it = many_.find(k); it != many_.end()) return it->second;
        if (const auto it = m_.find(k); it != m_.end()) return {it->second};
        return {};
    }
    [[nodiscard]] std::string str(const std::string& k, const std::string& def = "") const {
        const auto it = m_.find(k);
        return it == m_.end() ? def : it->second;
    }
    /// The integer value of --k in `r`, or `def` when absent (`def` is not range-checked, so a
    /// default such as 0 = "off" may lie outside the range a given value must be in).
    [[nodiscard]] std::int64_t integer(const std::string& k, std::int64_t def, const int_range& r) const {
        return has(k) ? parse_integer("--" + k, str(k), r) : def;
    }
    [[nodiscard]] std::int64_t integer(const std::string& k, std::int64_t def, std::int64_t min,
                                       std::int64_t max) const {
        return integer(k, def, int_range{min, max});
    }
    /// The finite real value of --k in `r`, or `def` when absent.
    [[nodiscard]] double real(const std::string& k, double def, const real_range& r) const {
        return has(k) ? parse_real("--" + k, str(k), r) : def;
    }
    [[nodiscard]] double real(const std::string& k, double def, double min, double max,
                              bounds b = bounds::closed) const {
        return real(k, def, real_range{min, max, b});
    }
    /// The value of --k, which must be one of `words`; `def` when absent.
    [[nodiscard]] std::string choice(const std::string& k, const std::string& def,
                                     const std::vector<std::string>& words) const {
        if (!has(k)) return def;
        const std::string v = str(k);
        for (const auto& w : words)
            if (v == w) return v;
        throw usage_error("--" + k + " '" + v + "' is not one of " + join_words(words));
    }
    [[nodiscard]] const std::map<std::string, std::string>& all() const noexcept { return m_; }

    /// For callers that check ranges themselves (examples/busi_experiment.hpp): a whole number
    /// that fits in an int, or `def`. New code uses integer(k, def, range).
    [[nodiscard]] long integer(const std::string& k, long def) const {
        return static_cast<long>(
            integer(k, def, int_range{std::numeric_limits<int>::min(), std::numeric_limits<int>::max()}));
    }
    /// For callers that check ranges themselves: any finite number, or `def`. New code uses real.
    [[nodiscard]] double num(const std::string& k, double def) const {
        return real(k, def, real_range{-std::numeric_limits<double>::max(), std::numeric_limits<double>::max()});
    }

private:
    [[nodiscard]] bool known(const std::string& k) const {
        return flags_.count(k) != 0 || keys_.count(k) != 0 || k == "help";
    }
    std::set<std::string> flags_, keys_;
    std::map<std::string, std::string> m_;
    std::map<std::string, std::vector<std::string>> many_;  ///< the repeatable keys' values
};

/// Parses --split "a,b,c": three fractions in [0, 1], each checked as parse_real does, the
/// validation fraction above 0 and the sum at most 1 (with rounding slack).
struct split_fractions {
    double train = 0.8, val = 0.1, test = 0.1;
};

inline split_fractions parse_split(std::string_view text) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const auto comma = text.find(',', start);
        parts.push_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (parts.size() != 3)
        throw usage_error("--split '" + std::string(text) +
                          "' must be three fractions like 0.8,0.1,0.1 (train,val,test)");
    const char* names[3] = {"--split train fraction", "--split validation fraction", "--split test fraction"};
    double v[3];
    for (int i = 0; i < 3; ++i) v[i] = parse_real(names[i], parts[static_cast<std::size_t>(i)], range::fraction);
    if (!(v[1] > 0)) throw usage_error("--split '" + std::string(text) + "' needs a validation fraction above 0");
    if (!(v[0] > 0)) throw usage_error("--split '" + std::string(text) + "' needs a training fraction above 0");
    if (v[0] + v[1] + v[2] > 1.0 + 1e-9)
        throw usage_error("--split '" + std::string(text) + "' adds up to more than 1; use fractions that sum to 1");
    return {v[0], v[1], v[2]};
}

}  // namespace cli
