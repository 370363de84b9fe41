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

/// The preprocessing unetpp-train applies, as recorded in every checkpoint (trainer_cfg.extra):
/// 8-bit values scaled by 1/255 to [0, 1], one gray channel, one logit channel, mask =
/// probability >= 0.5, and the scale:
///   size > 0    images resized to size x size (bilinear; masks nearest): "preprocess.resize"
///               = "square <size>"
///   size == 0   images kept at their own size: "preprocess.resize" = "none"
///   patch > 0   trained on patch x patch crops drawn from the (resized or own-size) images:
///               "preprocess.patch" = "<patch>"
/// predict and evaluate read it back (preprocessing_from): a "square" record is predicted at
/// size x size and mapped back; a "none" record is predicted at the image's own size by tiling.
inline std::map<std::string, std::string> preprocessing_record(int size, const std::string& data_type, int patch = 0) {
    std::map<std::string, std::string> r = {{"preprocess.resize", size > 0 ? "square " + std::to_string(size) : "none"},
                                            {"preprocess.scale", "1/255"},
                                            {"channels", "1"},
                                            {"classes", "1"},
                                            {"threshold", "0.5"},
                                            {"polarity", polarity_of(data_type)}};
    if (patch > 0) r.emplace("preprocess.patch", std::to_string(patch));
    return r;
}

/// The preprocessing read back from a checkpoint's record.
struct preprocessing {
    bool recorded = false;  ///< false: no record (a plain weights file, or an older unetpp-train)
    int size = 0;           ///< > 0: trained on images resized to size x size; 0: at their own size
    int patch = 0;          ///< > 0: trained on patch x patch crops
    double threshold = 0.5;
    std::string polarity;
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
    need("channels", "1");
    need("classes", "1");
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

/// A split option given on the command line against the run's recorded value: "" when they agree,
/// else the difference in the words of run_record.hpp.
inline std::string split_difference(const std::string& key, const std::string& now,
                                    const std::map<std::string, std::string>& rec) {
    const auto it = rec.find(key);
    if (it == rec.end())
        return "--" + key + " " + now + " (this command) cannot be checked: the checkpoint records no " + key;
    if (it->second == now) return "";
    return "--" + key + " " + it->second + " (the run) against " + now + " (this command)";
}

}  // namespace cli
