#pragma once
/// \file How mask files encode classes: the encodings, `mask_rule` (which the readers of
/// dataset.hpp apply), the parser of a palette given on a command line, and the decoder of label
/// and palette pixels. Light (the standard library only), so programs can parse their options
/// without the image readers.
///
///   auto enc = unetpp::data::parse_mask_encoding("labels");               // binary | labels | palette
///   auto pal = unetpp::data::parse_palette("0,0,0; 255,0,0; #00ff00");    // colour k is class k
///   std::string text = unetpp::data::format_palette(pal);                 // "0,0,0;255,0,0;0,255,0"
///   reader_options.mask = unetpp::data::mask_rule::labels(3);             // or ::palette(pal), ::binary()
///
/// Encodings (the readers apply them through mask_rule, dataset.hpp):
///  - binary: a pixel's value is the largest of its colour channels; foreground when > 127.
///  - labels: the mask is a label image; each pixel's value is its class index 0..N-1.
///  - palette: the mask is a colour image; colour k of the palette is class k.
///
/// Palette text: entries separated by ';', entry k is class k. An entry is either three decimal
/// numbers 0..255 separated by ',' ("255,0,0") or '#' and six hexadecimal digits ("#ff0000", any
/// case). Spaces around entries and numbers are ignored. A palette has 2 to 256 entries, all
/// different. Every error names the entry (and its class) and says what is expected.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// An 8-bit RGB colour.
struct rgb8 {
    std::uint8_t r = 0, g = 0, b = 0;
    friend bool operator==(const rgb8&, const rgb8&) = default;
    /// The colour packed as 0xRRGGBB (for look-up tables).
    [[nodiscard]] constexpr std::uint32_t key() const noexcept {
        return (std::uint32_t{r} << 16) | (std::uint32_t{g} << 8) | std::uint32_t{b};
    }
    /// "(r, g, b)" for messages.
    [[nodiscard]] std::string str() const {
        std::string s = "(";
        s += std::to_string(r) + ", " + std::to_string(g) + ", " + std::to_string(b) + ")";
        return s;
    }
};

/// How a mask file's pixels become classes (see the file comment).
enum class mask_encoding {
    binary,   ///< 0/1 by threshold (the default)
    labels,   ///< pixel value = class index
    palette,  ///< pixel colour = palette entry = class index
};

/// Most classes a label or palette mask can hold: 8-bit label values 0..255.
inline constexpr int max_mask_classes = 256;

/// "binary", "labels" or "palette".
[[nodiscard]] inline std::string_view to_string(mask_encoding e) noexcept {
    switch (e) {
        case mask_encoding::labels: return "labels";
        case mask_encoding::palette: return "palette";
        case mask_encoding::binary: break;
    }
    return "binary";
}

/// Parses "binary", "labels" or "palette" (exactly, lower case); anything else is an
/// std::invalid_argument naming the text and the choices.
[[nodiscard]] inline mask_encoding parse_mask_encoding(std::string_view text) {
    if (text == "binary") return mask_encoding::binary;
    if (text == "labels") return mask_encoding::labels;
    if (text == "palette") return mask_encoding::palette;
    throw std::invalid_argument("mask encoding '" + std::string(text) +
                                "' is not one of binary, labels, palette");
}

/// The palette as text that parse_palette reads back: "r,g,b;r,g,b;...".
[[nodiscard]] inline std::string format_palette(const std::vector<rgb8>& colours) {
    std::string s;
    for (std::size_t k = 0; k < colours.size(); ++k) {
        const rgb8& c = colours[k];
        if (k) s += ';';
        s += std::to_string(c.r) + ',' + std::to_string(c.g) + ',' + std::to_string(c.b);
    }
    return s;
}

/// The palette listed for messages: "0: (0, 0, 0), 1: (255, 0, 0), ...".
[[nodiscard]] inline std::string describe_palette(const std::vector<rgb8>& colours) {
    std::string s;
    for (std::size_t k = 0; k < colours.size(); ++k) {
        if (k) s += ", ";
        s += std::to_string(k) + ": " + colours[k].str();
    }
    return s;
}

/// Throws std::invalid_argument unless the palette has 2 to 256 colours, all different.
inline void check_palette(const std::vector<rgb8>& colours) {
    if (colours.size() < 2)
        throw std::invalid_argument("a palette needs at least 2 colours (background and one class), got " +
                                    std::to_string(colours.size()));
    if (colours.size() > static_cast<std::size_t>(max_mask_classes))
        throw std::invalid_argument("a palette holds at most " + std::to_string(max_mask_classes) + " colours, got " +
                                    std::to_string(colours.size()));
    for (std::size_t i = 0; i < colours.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (colours[i] == colours[j])
                throw std::invalid_argument("palette colours " + std::to_string(j) + " and " + std::to_string(i) +
                                            " are both " + colours[i].str() +
                                            "; each class needs its own colour");
}

namespace detail {

inline std::string_view trim_spaces(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

inline int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// One palette entry ("r,g,b" or "#rrggbb"); `k` is its class, for messages.
inline rgb8 parse_palette_entry(std::string_view entry, std::size_t k) {
    const std::string where = "palette entry " + std::to_string(k) + " (class " + std::to_string(k) + ") '" +
                              std::string(entry) + "'";
    const std::string expected = "; write each colour as R,G,B with numbers 0 to 255 (\"255,0,0\") or as "
                                 "#RRGGBB (\"#ff0000\"), entries separated by ';'";
    if (entry.empty())
        throw std::invalid_argument("palette entry " + std::to_string(k) + " (class " + std::to_string(k) +
                                    ") is empty (two ';' in a row, or a ';' at an end?)" + expected);
    if (entry.front() == '#') {
        const std::string_view hex = entry.substr(1);
        if (hex.size() != 6)
            throw std::invalid_argument(where + " has " + std::to_string(hex.size()) +
                                        " hexadecimal digits after '#', not 6" + expected);
        int v[6];
        for (std::size_t i = 0; i < 6; ++i)
            if ((v[i] = hex_digit(hex[i])) < 0)
                throw std::invalid_argument(where + ": '" + std::string(1, hex[i]) + "' is not a hexadecimal digit" +
                                            expected);
        return {static_cast<std::uint8_t>(v[0] * 16 + v[1]), static_cast<std::uint8_t>(v[2] * 16 + v[3]),
                static_cast<std::uint8_t>(v[4] * 16 + v[5])};
    }
    std::uint8_t out[3] = {0, 0, 0};
    std::size_t part = 0, start = 0;
    for (;;) {
        const std::size_t comma = entry.find(',', start);
        const std::size_t len = comma == std::string_view::npos ? entry.npos : comma - start;
        const std::string_view num = trim_spaces(entry.substr(start, len));
        if (part == 3)
            throw std::invalid_argument(where + (num.empty() ? " has a ',' after its third number"
                                                             : " has more than 3 numbers") + expected);
        if (num.empty())
            throw std::invalid_argument(where + ": number " + std::to_string(part + 1) + " is missing" + expected);
        int v = 0;
        for (char c : num) {
            if (c < '0' || c > '9')
                throw std::invalid_argument(where + ": '" + std::string(num) + "' is not a whole number" + expected);
            v = v * 10 + (c - '0');
            if (v > 255)
                throw std::invalid_argument(where + ": " + std::string(num) + " is outside 0 to 255" + expected);
        }
        out[part++] = static_cast<std::uint8_t>(v);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (part != 3)
        throw std::invalid_argument(where + " has " + std::to_string(part) + " number" + (part == 1 ? "" : "s") +
                                    ", not 3" + expected);
    return {out[0], out[1], out[2]};
}

}  // namespace detail

/// Parses palette text (see the file comment) and checks it (check_palette). Errors are
/// std::invalid_argument naming the entry and what is expected.
[[nodiscard]] inline std::vector<rgb8> parse_palette(std::string_view text) {
    if (detail::trim_spaces(text).empty())
        throw std::invalid_argument("the palette is empty; give one colour per class, class 0 first, e.g. "
                                    "\"0,0,0;255,0,0;0,255,0\" or \"#000000;#ff0000;#00ff00\"");
    std::vector<rgb8> colours;
    std::size_t start = 0;
    for (;;) {
        const std::size_t semi = text.find(';', start);
        const std::string_view entry =
            detail::trim_spaces(text.substr(start, semi == std::string_view::npos ? text.npos : semi - start));
        if (colours.size() == static_cast<std::size_t>(max_mask_classes))
            throw std::invalid_argument("the palette has more than " + std::to_string(max_mask_classes) +
                                        " entries; a mask holds at most " + std::to_string(max_mask_classes) +
                                        " classes");
        colours.push_back(detail::parse_palette_entry(entry, colours.size()));
        if (semi == std::string_view::npos) break;
        start = semi + 1;
    }
    check_palette(colours);
    return colours;
}

/// How mask files become masks (see the file comments here and in dataset.hpp). Binary by
/// default; build the others with mask_rule::labels(N) and mask_rule::palette(colours), which
/// check their arguments.
struct mask_rule {
    int threshold = 127;  ///< binary: value > threshold -> 1
    bool strict = false;  ///< binary: true: a value other than 0 and 255 is an error
    mask_encoding encoding = mask_encoding::binary;
    /// labels: the number of classes N, values must be below it (0: not checked); palette: the
    /// number of colours. Unused for binary masks.
    int classes = 0;
    std::vector<rgb8> colours{};  ///< palette: colour k is class k

    /// Binary masks: value > threshold is foreground; strict: only 0 and 255 allowed.
    [[nodiscard]] static mask_rule binary(int threshold = 127, bool strict = false) {
        mask_rule r;
        r.threshold = threshold;
        r.strict = strict;
        r.check();
        return r;
    }
    /// Label masks with `classes` classes (2 to 256), or 0 to accept any 8-bit value unchecked.
    [[nodiscard]] static mask_rule labels(int classes) {
        mask_rule r;
        r.encoding = mask_encoding::labels;
        r.classes = classes;
        r.check();
        return r;
    }
    /// Palette masks: colour k is class k (2 to 256 different colours; see parse_palette).
    [[nodiscard]] static mask_rule palette(std::vector<rgb8> colours) {
        mask_rule r;
        r.encoding = mask_encoding::palette;
        r.classes = static_cast<int>(colours.size());
        r.colours = std::move(colours);
        r.check();
        return r;
    }

    /// Classes a mask read with this rule can hold: 2 for binary, N for labels (0 when unchecked),
    /// the palette's size for palette.
    [[nodiscard]] int class_count() const noexcept {
        if (encoding == mask_encoding::binary) return 2;
        if (encoding == mask_encoding::palette) return static_cast<int>(colours.size());
        return classes;
    }

    /// Throws std::invalid_argument when a label or palette rule is inconsistent (for rules filled
    /// in by hand). Binary rules are not checked: any threshold keeps its meaning.
    void check() const {
        if (encoding == mask_encoding::labels && classes != 0 && (classes < 2 || classes > max_mask_classes))
            throw std::invalid_argument("mask_rule::labels: classes must be 2 to " + std::to_string(max_mask_classes) +
                                        " (or 0 to leave the values unchecked), got " + std::to_string(classes) +
                                        "; for one foreground class use the binary encoding");
        if (encoding == mask_encoding::palette) {
            check_palette(colours);
            if (classes != static_cast<int>(colours.size()))
                throw std::invalid_argument("mask_rule: a palette rule has " + std::to_string(colours.size()) +
                                            " colours but classes = " + std::to_string(classes) +
                                            "; build it with mask_rule::palette(colours)");
        }
    }
};


namespace detail {

/// "class 0 to N-1" wording for messages.
inline std::string class_range(int n) { return "classes 0 to " + std::to_string(n - 1); }

inline std::string pixel_str(int x, int y) { return "pixel (" + std::to_string(x) + ", " + std::to_string(y) + ")"; }

}  // namespace detail

/// Decodes one label or palette mask, given as interleaved 8-bit pixels (`channels` 1 to 4; the
/// alpha channel of 2 and 4 is ignored), into class indices: out[y * width + x] = class. Errors
/// are std::runtime_error starting with `what` and naming `file`, the pixel and the value or
/// colour, and saying what to do (see the file comment of dataset.hpp for the rules).
inline void decode_class_mask(const std::uint8_t* pixels, int width, int height, int channels, const mask_rule& rule,
                              float* out, std::string_view what, std::string_view file) {
    if (rule.encoding == mask_encoding::binary)
        throw std::invalid_argument("decode_class_mask: the rule is binary; read binary masks with read_masks_into");
    if (channels < 1 || channels > 4)
        throw std::invalid_argument("decode_class_mask: channels must be 1 to 4, got " + std::to_string(channels));
    rule.check();
    const std::string head = std::string(what) + ": mask '" + std::string(file) + "'";
    const int colour = (channels == 2 || channels == 4) ? channels - 1 : channels;
    const std::size_t n = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
    const auto rgb_at = [&](std::size_t i) {
        const std::uint8_t* p = pixels + i * static_cast<std::size_t>(channels);
        return colour == 1 ? rgb8{p[0], p[0], p[0]} : rgb8{p[0], p[1], p[2]};
    };
    const auto x_of = [&](std::size_t i) { return static_cast<int>(i % static_cast<std::size_t>(width)); };
    const auto y_of = [&](std::size_t i) { return static_cast<int>(i / static_cast<std::size_t>(width)); };

    if (rule.encoding == mask_encoding::labels) {
        const int N = rule.classes;
        std::size_t first_bad = n;
        int largest = 0;
        bool only_0_255 = true;
        for (std::size_t i = 0; i < n; ++i) {
            const rgb8 c = rgb_at(i);
            if (c.g != c.r || c.b != c.r)
                throw std::runtime_error(head + " has colour " + c.str() + " at " +
                                         detail::pixel_str(x_of(i), y_of(i)) + "; a label mask holds one class index per pixel (gray, or colour with equal "
                                         "channels); for colour-coded masks use the palette encoding");
            largest = std::max<int>(largest, c.r);
            only_0_255 = only_0_255 && (c.r == 0 || c.r == 255);
            if (N > 0 && c.r >= N && first_bad == n) first_bad = i;
            out[i] = static_cast<float>(c.r);
        }
        if (first_bad < n) {
            std::string msg = head + " holds class " + std::to_string(rgb_at(first_bad).r) + " at " +
                              detail::pixel_str(x_of(first_bad), y_of(first_bad)) + " (its largest value is " +
                              std::to_string(largest) + "), but --classes is " + std::to_string(N) + " (" +
                              detail::class_range(N) + "); pass --classes " + std::to_string(largest + 1) +
                              " or fix the mask";
            if (only_0_255)
                msg += " (it holds only 0 and 255, so it looks like a binary mask: read it with the binary encoding)";
            throw std::runtime_error(msg);
        }
        return;
    }

    // Palette: a sorted table of packed colours, with the previous pixel's colour as a fast path
    // (masks are mostly runs of one colour).
    std::vector<std::pair<std::uint32_t, int>> table;
    table.reserve(rule.colours.size());
    for (std::size_t k = 0; k < rule.colours.size(); ++k)
        table.emplace_back(rule.colours[k].key(), static_cast<int>(k));
    std::sort(table.begin(), table.end());
    std::uint32_t last_key = table.front().first;
    int last_class = table.front().second;
    for (std::size_t i = 0; i < n; ++i) {
        const rgb8 c = rgb_at(i);
        const std::uint32_t key = c.key();
        if (key != last_key) {
            const auto it = std::lower_bound(table.begin(), table.end(), std::pair<std::uint32_t, int>{key, -1});
            if (it == table.end() || it->first != key) {
                std::string listed;
                const std::size_t shown = std::min<std::size_t>(rule.colours.size(), 16);
                listed = describe_palette(std::vector<rgb8>(rule.colours.begin(), rule.colours.begin() + shown));
                if (shown < rule.colours.size())
                    listed += ", ... (" + std::to_string(rule.colours.size()) + " colours)";
                throw std::runtime_error(head + " has colour " + c.str() + " at " +
                                         detail::pixel_str(x_of(i), y_of(i)) + ", which is in no palette entry (the palette is " + listed +
                                         "); add the colour to the palette or fix the mask");
            }
            last_key = key;
            last_class = it->second;
        }
        out[i] = static_cast<float>(last_class);
    }
}

}  // namespace unetpp::data
