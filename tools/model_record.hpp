// What a checkpoint tells unetpp-predict and unetpp-evaluate: the model and the preprocessing of
// the training run (recorded by unetpp-train as unetpp.extra.<key> metadata), and the run's
// split (split.json beside the checkpoint). Light (standard library and cli_args.hpp only):
// tests/unit/cli/test_model_record.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unetpp/data/mask_encoding.hpp>
#include <unetpp/io/json.hpp>

#include "cli_args.hpp"

namespace cli {

/// Prefix of the training options in a checkpoint's metadata.
inline constexpr std::string_view extra_prefix = "unetpp.extra.";

/// The unetpp.extra.<key> entries of a safetensors metadata map, without the prefix.
template <class Map>
std::map<std::string, std::string> extras_of(const Map& metadata) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : metadata)
        if (std::string_view(k).substr(0, extra_prefix.size()) == extra_prefix)
            out.emplace(std::string(k).substr(extra_prefix.size()), v);
    return out;
}

/// Which mask pixels are foreground for a data set type, as the readers decide (mask_rule: a pixel
/// value > 127 is "set"; ISBI 2012 inverts it so that the membranes are the foreground).
inline std::string polarity_of(const std::string& data_type) {
    if (data_type == "isbi2012") return "foreground = label pixel <= 127 (membranes; the label files are inverted)";
    if (data_type == "synthetic") return "foreground = mask 1 (generated)";
    return "foreground = mask pixel > 127";
}

/// What the network sees and says: image channels (1 grey, 3 RGB), classes (1: one logit,
/// sigmoid, mask = probability >= threshold; N >= 2: N logits, softmax, mask = the most probable
/// class) and how mask files encode them (binary, labels or palette; data/mask_encoding.hpp).
struct class_layout {
    int channels = 1;
    int classes = 1;
    unetpp::data::mask_encoding encoding = unetpp::data::mask_encoding::binary;
    std::vector<unetpp::data::rgb8> palette;  ///< encoding palette: colour k is class k
};

/// The preprocessing unetpp-train applies, as recorded in every checkpoint (trainer_options.extra):
/// 8-bit values scaled by 1/255 to [0, 1], the channels and classes of `layout` ("channels",
/// "classes", "mask-encoding" and, for a palette, "palette"), threshold 0.5, and the scale:
///   size > 0    images resized to size x size (bilinear; masks nearest): "preprocess.resize"
///               = "square <size>"
///   size == 0   images kept at their own size: "preprocess.resize" = "none"
///   patch > 0   trained on patch x patch crops drawn from the (resized or own-size) images:
///               "preprocess.patch" = "<patch>"
/// predict and evaluate read it back (preprocessing_from): a "square" record is predicted at
/// size x size and mapped back; a "none" record is predicted at the image's own size by tiling.
inline std::map<std::string, std::string> preprocessing_record(int size, const std::string& data_type, int patch = 0,
                                                               const class_layout& layout = {}) {
    std::map<std::string, std::string> r = {{"preprocess.resize", size > 0 ? "square " + std::to_string(size) : "none"},
                                            {"preprocess.scale", "1/255"},
                                            {"channels", std::to_string(layout.channels)},
                                            {"classes", std::to_string(layout.classes)},
                                            {"threshold", "0.5"},
                                            {"polarity", layout.classes >= 2 && layout.encoding !=
                                                                                    unetpp::data::mask_encoding::binary
                                                             ? std::string("class = mask value (") +
                                                                   std::string(unetpp::data::to_string(layout.encoding)) +
                                                                   ")"
                                                             : polarity_of(data_type)}};
    // binary masks are the default and not recorded (the records of earlier runs stay the same)
    if (layout.encoding != unetpp::data::mask_encoding::binary)
        r.emplace("mask-encoding", std::string(unetpp::data::to_string(layout.encoding)));
    if (layout.encoding == unetpp::data::mask_encoding::palette)
        r.emplace("palette", unetpp::data::format_palette(layout.palette));
    if (patch > 0) r.emplace("preprocess.patch", std::to_string(patch));
    return r;
}

/// Checks a layout's combination of channels, classes and encoding; `where` prefixes messages.
inline void check_layout(const class_layout& l, const std::string& where) {
    using unetpp::data::mask_encoding;
    if (l.channels != 1 && l.channels != 3)
        throw usage_error(where + "in-channels " + std::to_string(l.channels) + ": give 1 (grey) or 3 (RGB)");
    if (l.encoding == mask_encoding::binary && l.classes > 2)
        throw usage_error(where + "classes " + std::to_string(l.classes) +
                          " with binary masks (0/255): binary masks hold two classes; use --mask-encoding labels or "
                          "palette, or --classes 1");
    if (l.encoding != mask_encoding::binary && l.classes < 2)
        throw usage_error(where + "mask-encoding " + std::string(unetpp::data::to_string(l.encoding)) +
                          " needs --classes N with N >= 2 (background is class 0)");
    if (l.encoding == mask_encoding::palette && static_cast<int>(l.palette.size()) != l.classes)
        throw usage_error(where + "palette has " + std::to_string(l.palette.size()) + " colours for " +
                          std::to_string(l.classes) + " classes; give one colour per class, class 0 first");
}

/// The preprocessing read back from a checkpoint's record.
struct preprocessing {
    bool recorded = false;  ///< false: no record (a plain weights file, or an older unetpp-train)
    int size = 0;           ///< > 0: trained on images resized to size x size; 0: at their own size
    int patch = 0;          ///< > 0: trained on patch x patch crops
    double threshold = 0.5;
    std::string polarity;
    class_layout layout;    ///< channels, classes and mask encoding (1, 1, binary when not recorded)
};

/// Parses the record; its values are untrusted and get the range checks of the options, with the
/// file named. A record that says anything else than what this program does is refused.
inline preprocessing preprocessing_from(const std::map<std::string, std::string>& rec, const std::string& file) {
    preprocessing p;
    const auto it = rec.find("preprocess.resize");
    if (it == rec.end()) return p;
    p.recorded = true;
    const std::string where = "'" + file + "' records ";
    const std::string& r = it->second;
    if (r.rfind("square ", 0) == 0)
        p.size = static_cast<int>(parse_integer(where + "preprocess.resize", r.substr(7), range::size));
    else if (r != "none")
        throw usage_error(where + "preprocess.resize '" + r +
                          "', which this program does not know; use the unetpp-predict of the unetpp-train that wrote it");
    // the patch side: preprocess.patch, else the run's --patch option (unetpp-train records "patch")
    if (const auto f = rec.find("preprocess.patch"); f != rec.end())
        p.patch = static_cast<int>(parse_integer(where + "preprocess.patch", f->second, range::size));
    else if (const auto g = rec.find("patch"); g != rec.end() && g->second != "(not used)")
        p.patch = static_cast<int>(parse_integer(where + "patch", g->second, range::size));
    const auto need = [&](const char* k, const char* want) {
        const auto f = rec.find(k);
        if (f != rec.end() && f->second != want)
            throw usage_error(where + k + " '" + f->second + "', but this program supports only '" + want + "'");
    };
    need("preprocess.scale", "1/255");
    if (const auto f = rec.find("channels"); f != rec.end())
        p.layout.channels = static_cast<int>(parse_integer(where + "channels", f->second, range::in_channels));
    if (const auto f = rec.find("classes"); f != rec.end())
        p.layout.classes = static_cast<int>(parse_integer(where + "classes", f->second, range::classes));
    try {
        if (const auto f = rec.find("mask-encoding"); f != rec.end())
            p.layout.encoding = unetpp::data::parse_mask_encoding(f->second);
        if (const auto f = rec.find("palette"); f != rec.end()) p.layout.palette = unetpp::data::parse_palette(f->second);
    } catch (const std::invalid_argument& e) {
        throw usage_error(where + e.what());
    }
    check_layout(p.layout, where);
    if (const auto f = rec.find("threshold"); f != rec.end())
        p.threshold = parse_real(where + "threshold", f->second, range::threshold);
    if (const auto f = rec.find("polarity"); f != rec.end()) p.polarity = f->second;
    return p;
}

/// The parts of a run's split.json ({"train": [names], "val": [...], "test": [...]}), as written
/// by unetpp-train. The file is untrusted input: anything else than an object of string arrays
/// is refused with its name and position.
inline std::map<std::string, std::vector<std::string>> parse_split_json(std::string_view text,
                                                                        const std::string& file) {
    const auto refuse = [&](const std::string& what) {
        return usage_error("'" + file + "' is not a split.json of unetpp-train (" + what + "); use the split.json of the run");
    };
    unetpp::io::json_value doc;
    try {
        doc = unetpp::io::json_parse(text, "malformed JSON", {.max_depth = 2});
    } catch (const std::runtime_error& e) {
        throw refuse(e.what());
    }
    const auto* parts = doc.object_if();
    if (!parts) throw refuse("not a JSON object");
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& [key, value] : *parts) {
        const auto* names = value.array_if();
        if (!names) throw refuse("part \"" + key + "\" is not a list of names");
        auto& dst = out[key];
        for (const auto& n : *names) {
            const auto* s = n.string_if();
            if (!s) throw refuse("part \"" + key + "\" holds something other than names");
            dst.push_back(*s);
        }
    }
    return out;
}

/// Reads and parses a split.json; a missing file is refused with what to do.
inline std::map<std::string, std::vector<std::string>> read_split_file(const std::filesystem::path& p,
                                                                       const std::string& why) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec))
        throw usage_error(why + " needs the run's split: '" + p.string() +
                          "' does not exist. Give the split.json that unetpp-train wrote beside the checkpoint "
                          "with --split-file F, or use --subset all");
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) throw usage_error("cannot read '" + p.string() + "'");
    return parse_split_json(ss.str(), p.string());
}

/// A run's recorded value of a split option ("" when not recorded). split-seed falls back to the
/// run's seed: unetpp-train records split-seed only where it differs from --seed.
inline std::string recorded_split_value(const std::map<std::string, std::string>& rec, const std::string& key) {
    auto it = rec.find(key);
    if (it == rec.end() && key == "split-seed") it = rec.find("seed");
    return it == rec.end() ? std::string() : it->second;
}

/// A split option given on the command line against the run's recorded value
/// (recorded_split_value): "" when they agree, else the difference in the words of run_record.hpp.
inline std::string split_difference(const std::string& key, const std::string& now,
                                    const std::map<std::string, std::string>& rec) {
    const std::string r = recorded_split_value(rec, key);
    if (r.empty()) return "--" + key + " " + now + " (this command) cannot be checked: the checkpoint records no " + key;
    if (r == now) return "";
    return "--" + key + " " + r + " (the run) against " + now + " (this command)";
}

}  // namespace cli
