#pragma once
/// \file plan.json: a training_plan (plan.hpp) as JSON, and back. The file holds the plan, the
/// fingerprint and the machine speed it came from, and the budget, so that it explains itself
/// and plan_recipe(fingerprint, machine, budget) can be checked against it.
///
/// Reading treats the text as untrusted (io/json.hpp's strict parser, then checks here): the file
/// must be a JSON object of at most 1 MiB with "format": "unetpp.plan" and "version": 1, every
/// field present with its type, numbers finite and in range, strings from the accepted set,
/// unknown fields refused. Each error is a std::runtime_error "<context>: <field>: <what>".

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../config/abi.hpp"
#include "../io/json.hpp"
#include "plan.hpp"

namespace unetpp::inline UNETPP_ABI::train {

namespace plan_json_detail {

using io::json_number;
using io::json_quote;
using io::json_value;

inline std::string num(double v) { return json_number(v); }

inline std::string size_json(const size_stats& s) {
    return "{\"median\": " + std::to_string(s.median) + ", \"min\": " + std::to_string(s.min) +
           ", \"max\": " + std::to_string(s.max) + "}";
}
inline std::string intensity_json(const intensity_stats& s) {
    return "{\"mean\": " + num(s.mean) + ", \"std\": " + num(s.std) + ", \"p00_5\": " + num(s.p00_5) +
           ", \"p99_5\": " + num(s.p99_5) + ", \"values\": " + std::to_string(s.values) + "}";
}
inline std::string strings_json(const std::vector<std::string>& v, const std::string& indent) {
    if (v.empty()) return "[]";
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ",\n" : "\n") + indent + "  " + json_quote(v[i]);
    return s + "\n" + indent + "]";
}

/// Field access with the checks of the file comment. Errors read "<context>: <path>.<key> ...".
class reader {
public:
    reader(const json_value& v, std::string context, std::string path = "")
        : v_(v), context_(std::move(context)), path_(std::move(path)) {
        if (!v_.is_object()) fail((path_.empty() ? std::string("the file") : path_) + " is not a JSON object");
    }
    [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(context_ + ": " + what); }
    [[nodiscard]] std::string field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
    const json_value& get(const std::string& key) {
        seen_.insert(key);
        const json_value* f = v_.find(key);
        if (!f) fail(field(key) + " is missing");
        return *f;
    }
    double number(const std::string& key, double lo, double hi) {
        const json_value& f = get(key);
        const double x = f.as_number();
        if (!f.is_number() || !std::isfinite(x)) fail(field(key) + " must be a finite number");
        if (x < lo || x > hi)
            fail(field(key) + " is " + *f.number_text_if() + ", outside [" + json_number(lo) + ", " + json_number(hi) + "]");
        return x;
    }
    long long integer(const std::string& key, long long lo, long long hi) {
        const double x = number(key, static_cast<double>(lo), static_cast<double>(hi));
        if (x != std::floor(x)) fail(field(key) + " must be a whole number");
        return static_cast<long long>(x);
    }
    bool boolean(const std::string& key) {
        const json_value& f = get(key);
        if (!f.is_bool()) fail(field(key) + " must be true or false");
        return std::get<bool>(f.v);
    }
    std::string text(const std::string& key, const std::vector<std::string>& allowed = {}, std::size_t max_len = 1024) {
        const json_value& f = get(key);
        const std::string* s = f.string_if();
        if (!s) fail(field(key) + " must be a string");
        if (s->size() > max_len) fail(field(key) + " is longer than " + std::to_string(max_len) + " bytes");
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
            fail(field(key) + " '" + *s + "' is not one of " + list);
        }
        return *s;
    }
    std::vector<std::string> texts(const std::string& key) {
        const json_value& f = get(key);
        const auto* a = f.array_if();
        if (!a) fail(field(key) + " must be an array of strings");
        if (a->size() > 100) fail(field(key) + " has more than 100 entries");
        std::vector<std::string> out;
        for (const auto& e : *a) {
            const std::string* s = e.string_if();
            if (!s || s->size() > 4096) fail(field(key) + " must hold strings of at most 4096 bytes");
            out.push_back(*s);
        }
        return out;
    }
    reader child(const std::string& key) { return reader(get(key), context_, field(key)); }
    /// Refuses the members that no getter asked for.
    void done() const {
        for (const auto& m : *v_.object_if())
            if (!seen_.count(m.key)) fail((path_.empty() ? std::string("the file") : path_) + " has an unknown field \"" + m.key + "\"");
    }

private:
    const json_value& v_;
    std::string context_, path_;
    std::set<std::string> seen_;
};

inline size_stats read_size(reader r) {
    size_stats s;
    s.median = static_cast<int>(r.integer("median", 0, 1 << 24));
    s.min = static_cast<int>(r.integer("min", 0, 1 << 24));
    s.max = static_cast<int>(r.integer("max", 0, 1 << 24));
    r.done();
    if (s.min > s.median || s.median > s.max) r.fail(r.field("median") + " must have min <= median <= max");
    return s;
}

inline intensity_stats read_intensity(reader r) {
    intensity_stats s;
    s.mean = r.number("mean", -1e6, 1e6);
    s.std = r.number("std", 0, 1e6);
    s.p00_5 = r.number("p00_5", -1e6, 1e6);
    s.p99_5 = r.number("p99_5", -1e6, 1e6);
    s.values = static_cast<std::size_t>(r.integer("values", 0, 1LL << 50));
    r.done();
    return s;
}

}  // namespace plan_json_detail

/// plan.json's text (see the file comment); ends with a newline.
inline std::string plan_to_json(const training_plan& p) {
    using namespace plan_json_detail;
    const data_fingerprint& f = p.fingerprint;
    std::string s = "{\n  \"format\": \"unetpp.plan\",\n  \"version\": 1,\n";
    s += "  \"input_size\": " + std::to_string(p.input_size) + ",\n  \"patch\": " + std::to_string(p.patch) +
         ",\n  \"fg_oversample\": " + num(p.fg_oversample) + ",\n  \"model\": " + json_quote(p.model) +
         ",\n  \"base\": " + std::to_string(p.base) + ",\n  \"depth\": " + std::to_string(p.depth) +
         ",\n  \"batch\": " + std::to_string(p.batch) + ",\n  \"epochs\": " + std::to_string(p.epochs) +
         ",\n  \"optimizer\": " + json_quote(p.optimizer) + ",\n  \"lr\": " + num(p.lr) +
         ",\n  \"schedule\": " + json_quote(p.schedule) + ",\n  \"loss\": " + json_quote(p.loss) +
         ",\n  \"deep_supervision\": " + (p.deep_supervision ? "true" : "false") +
         ",\n  \"augment_level\": " + json_quote(p.augment_level) + ",\n  \"augment\": " + json_quote(p.augment) +
         ",\n  \"tta\": " + json_quote(p.tta) + ",\n  \"monitor\": " + json_quote(p.monitor) +
         ",\n  \"seconds_per_epoch\": " + num(p.seconds_per_epoch) +
         ",\n  \"reasons\": " + strings_json(p.reasons, "  ") + ",\n  \"warnings\": " + strings_json(p.warnings, "  ");
    s += ",\n  \"fingerprint\": {\n    \"images\": " + std::to_string(f.images) + ",\n    \"sampled\": " +
         std::to_string(f.sampled) + ",\n    \"height\": " + size_json(f.height) + ",\n    \"width\": " +
         size_json(f.width) + ",\n    \"channels\": " + std::to_string(f.channels) + ",\n    \"classes\": " +
         std::to_string(f.classes) + ",\n    \"intensity_all\": " + intensity_json(f.all) +
         ",\n    \"intensity_foreground\": " + intensity_json(f.foreground) +
         ",\n    \"foreground_fraction\": " + num(f.foreground_fraction) +
         ",\n    \"foreground_fraction_median\": " + num(f.foreground_fraction_median) +
         ",\n    \"foreground_fraction_min\": " + num(f.foreground_fraction_min) +
         ",\n    \"foreground_fraction_max\": " + num(f.foreground_fraction_max) +
         ",\n    \"empty_mask_fraction\": " + num(f.empty_mask_fraction) + "\n  }";
    s += ",\n  \"machine\": {\n    \"seconds_per_read\": " + num(p.machine.seconds_per_read) +
         ",\n    \"deep_supervision\": " + (p.machine.deep_supervision ? "true" : "false") + ",\n    \"networks\": [";
    for (std::size_t i = 0; i < p.machine.networks.size(); ++i) {
        const network_speed& n = p.machine.networks[i];
        s += std::string(i ? "," : "") + "\n      {\"base\": " + std::to_string(n.base) + ", \"depth\": " +
             std::to_string(n.depth) + ", \"size\": " + std::to_string(n.size) + ", \"batch\": " +
             std::to_string(n.batch) + ", \"seconds_per_image\": " + num(n.seconds_per_image) + "}";
    }
    s += "\n    ]\n  }";
    s += ",\n  \"budget\": {\"seconds\": " + num(p.budget.seconds) + ", \"train_share\": " + num(p.budget.train_share) +
         ", \"val_share\": " + num(p.budget.val_share) + "}\n}\n";
    return s;
}

/// Reads plan.json's text; `context` (the file name) starts every error (see the file comment).
inline training_plan plan_from_json(std::string_view text, const std::string& context) {
    using namespace plan_json_detail;
    constexpr std::size_t max_bytes = 1 << 20;
    if (text.size() > max_bytes)
        throw std::runtime_error(context + ": " + std::to_string(text.size()) + " bytes, more than a plan file's " +
                                 std::to_string(max_bytes));
    const json_value doc = io::json_parse(text, context + ": malformed JSON", {.max_depth = 8, .max_values = 100000});
    reader r(doc, context);
    if (r.text("format") != "unetpp.plan") r.fail("not a unetpp plan (\"format\" is not \"unetpp.plan\")");
    if (r.integer("version", 0, 1000000) != 1) r.fail("a plan version other than 1 (written by another unetpp)");
    training_plan p;
    p.input_size = static_cast<int>(r.integer("input_size", 8, 4096));
    p.patch = static_cast<int>(r.integer("patch", 0, 4096));
    if (p.patch != 0 && p.patch != p.input_size) r.fail("patch must be 0 or the input size");
    p.fg_oversample = r.number("fg_oversample", 0, 1);
    p.model = r.text("model", {"unet_bn"});
    p.base = static_cast<int>(r.integer("base", 1, 1024));
    p.depth = static_cast<int>(r.integer("depth", 1, 10));
    p.batch = static_cast<int>(r.integer("batch", 1, 4096));
    p.epochs = static_cast<int>(r.integer("epochs", 1, 100000));
    p.optimizer = r.text("optimizer", {"adam"});
    p.lr = r.number("lr", 1e-12, 10);
    p.schedule = r.text("schedule", {"constant", "cosine"});
    p.loss = r.text("loss", {"dice_bce", "dice_ce"});
    p.deep_supervision = r.boolean("deep_supervision");
    p.augment_level = r.text("augment_level", {"light", "medium", "strong"});
    p.augment = r.text("augment");
    p.tta = r.text("tta", {"none", "hflip"});
    p.monitor = r.text("monitor", {"val_dice", "val_loss", "val_iou", "train_loss"});
    p.seconds_per_epoch = r.number("seconds_per_epoch", 0, 1e12);
    p.reasons = r.texts("reasons");
    p.warnings = r.texts("warnings");
    {
        reader f = r.child("fingerprint");
        data_fingerprint& fp = p.fingerprint;
        fp.images = static_cast<std::size_t>(f.integer("images", 1, 1LL << 40));
        fp.sampled = static_cast<std::size_t>(f.integer("sampled", 1, 1LL << 40));
        if (fp.sampled > fp.images) f.fail("fingerprint.sampled must be at most fingerprint.images");
        fp.height = read_size(f.child("height"));
        fp.width = read_size(f.child("width"));
        fp.channels = static_cast<int>(f.integer("channels", 1, 4));
        fp.classes = static_cast<int>(f.integer("classes", 1, 256));
        fp.all = read_intensity(f.child("intensity_all"));
        fp.foreground = read_intensity(f.child("intensity_foreground"));
        fp.foreground_fraction = f.number("foreground_fraction", 0, 1);
        fp.foreground_fraction_median = f.number("foreground_fraction_median", 0, 1);
        fp.foreground_fraction_min = f.number("foreground_fraction_min", 0, 1);
        fp.foreground_fraction_max = f.number("foreground_fraction_max", 0, 1);
        fp.empty_mask_fraction = f.number("empty_mask_fraction", 0, 1);
        f.done();
    }
    {
        reader m = r.child("machine");
        p.machine.seconds_per_read = m.number("seconds_per_read", 0, 1e6);
        p.machine.deep_supervision = m.boolean("deep_supervision");
        const json_value& nets = m.get("networks");
        const auto* a = nets.array_if();
        if (!a || a->empty() || a->size() > 64) m.fail("machine.networks must be an array of 1 to 64 networks");
        for (std::size_t i = 0; i < a->size(); ++i) {
            reader n((*a)[i], context, "machine.networks[" + std::to_string(i) + "]");
            network_speed s;
            s.base = static_cast<int>(n.integer("base", 1, 1024));
            s.depth = static_cast<int>(n.integer("depth", 1, 10));
            s.size = static_cast<int>(n.integer("size", 1, 65536));
            s.batch = static_cast<int>(n.integer("batch", 1, 4096));
            s.seconds_per_image = n.number("seconds_per_image", 1e-12, 1e6);
            n.done();
            p.machine.networks.push_back(s);
        }
        m.done();
    }
    {
        reader b = r.child("budget");
        p.budget.seconds = b.number("seconds", 1e-3, 1e9);
        p.budget.train_share = b.number("train_share", 1e-9, 1);
        p.budget.val_share = b.number("val_share", 0, 1);
        b.done();
    }
    r.done();
    return p;
}

}  // namespace unetpp::train
