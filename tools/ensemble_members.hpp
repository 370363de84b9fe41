// The checkpoints of unetpp-predict and unetpp-evaluate: one, or an ensemble of 2 to 16 given as
// repeated --checkpoint options. Each member is built with its own network type and applies its
// own recorded preprocessing (trained scale, mapped back to the image's own size) and its own
// test-time transforms, so that members trained at different --size or with different networks
// combine: the program averages their probabilities at each image's own size (infer::ensemble)
// and thresholds the mean once. Members must agree on the image channels, the number of classes
// and the mask encoding (check_members_agree); the programs refuse a disagreement before anything
// is written. A single checkpoint is an ensemble of one: the mean of one map is the map itself,
// bit for bit.
//
// Test-time augmentation (one rule for both programs, tta_transforms): --tta all 8 flips and
// rotations, --no-tta none, else the checkpoint's plan (unetpp-train --auto records
// unetpp.extra.plan.tta = "hflip": the image and its left-right mirror averaged).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unetpp/exec/workspace.hpp>
#include <unetpp/infer.hpp>
#include <unetpp/train/checkpoint.hpp>

#include "cli_args.hpp"
#include "cli_device.hpp"
#include "model_record.hpp"
#include "model_set.hpp"
#include "scaled_predict.hpp"

namespace cli {

namespace fs = std::filesystem;

/// How many --checkpoint options a program takes.
inline constexpr int_range ensemble_size{1, 16};

/// --tta, --no-tta or neither (the checkpoint's plan decides).
enum class tta_option { plan, all, none };

/// --tta / --no-tta of the command line; both are refused.
inline tta_option tta_option_of(const args& a) {
    if (a.has("tta") && a.has("no-tta")) throw usage_error("--tta and --no-tta contradict each other; give one of them");
    return a.has("tta") ? tta_option::all : a.has("no-tta") ? tta_option::none : tta_option::plan;
}

/// The test-time mirroring a checkpoint's plan records ("hflip" or "none"; "" when the run was not
/// planned). The record is untrusted: anything else is refused, naming the file.
inline std::string plan_tta_of(const std::map<std::string, std::string>& rec, const std::string& file) {
    const auto t = rec.find("plan.tta");
    if (t == rec.end()) return "";
    if (t->second != "hflip" && t->second != "none")
        throw usage_error(file + ": unetpp.extra.plan.tta '" + t->second + "' is not hflip or none");
    return t->second;
}

/// The test-time transforms a checkpoint gets: --tta all 8 flips and rotations, --no-tta none,
/// else its plan's (the image and its left-right mirror for "hflip"; none without a plan).
/// Empty: the image alone.
inline std::vector<infer::dihedral> tta_transforms(tta_option opt, const std::string& plan_tta) {
    if (opt == tta_option::all) return infer::all_dihedral();
    if (opt == tta_option::plan && plan_tta == "hflip") return {infer::dihedral::identity, infer::dihedral::flip_h};
    return {};
}

/// tta_transforms in words, for the printout and the summary.
inline std::string tta_words(tta_option opt, const std::string& plan_tta) {
    if (opt == tta_option::all) return "--tta: 8 flips and rotations averaged";
    if (opt == tta_option::none) return plan_tta == "hflip" ? "none (--no-tta; the plan mirrors)" : "none (--no-tta)";
    if (plan_tta == "hflip") return "the plan's mirroring: the image and its left-right mirror averaged";
    return "none";
}

/// One member as the command line and its checkpoint describe it, before its network is built.
struct member_spec {
    fs::path file;
    std::string model;  ///< unet_bn or ronneberger2015
    int base = 0, depth = 0;
    preprocessing pre;  ///< the record (pre.layout: channels, classes, mask encoding)
    std::string plan_tta;
    scale_rule rule;                    ///< trained scale or full size
    std::vector<infer::dihedral> tta;   ///< its test-time transforms (empty: none)
    std::string tta_note;               ///< the same in words
    int size_check = 0;                 ///< > 0: check_size<Net>(size_check) before loading
    infer::tile_options tiles;
};

/// A member's network, loaded: `predict` maps an image [1, C, H, W] to probabilities [1, K, H, W]
/// at the same size, by the member's scale rule and test-time transforms.
struct member_net {
    infer::proba_fn predict;
    std::string describe;     ///< Net::describe()
    std::string describe_io;  ///< with the run-time channels, Net::describe(net.channels())
    std::string compute;      ///< empty for fp32; what --precision bf16 computes in bf16
    int in_channels = 1, classes = 1;
};

/// The workspace that every member of an ensemble uses (per tensor type): the members predict one
/// after the other, so one set of slots serves them all instead of one per member.
template <class Tensor>
exec::workspace<Tensor>& members_workspace() {
    static exec::workspace<Tensor> ws;
    return ws;
}

/// Builds network type Net for `m`, loads its weights (a training checkpoint's optimiser state is
/// ignored), checks them finite and wraps prediction at the member's scale.
template <class Net>
member_net load_member(const member_spec& m) {
    if (m.size_check > 0) check_size<Net>(m.size_check);
    auto net = std::make_shared<Net>(std::uint64_t{0},
                                     io_channels{.in_channels = m.pre.layout.channels, .classes = m.pre.layout.classes});
    try {
        train::load_checkpoint_weights(m.file, *net);
    } catch (const std::exception& e) {
        std::string msg = e.what();
        for (char& c : msg)
            if (c == '\n') c = ' ';
        throw usage_error(msg.find(m.file.string()) != std::string::npos ? msg : "'" + m.file.string() + "': " + msg);
    }
    check_finite_weights(*net, m.file.string());
    net->eval();
    if constexpr (requires { net->share_workspace(&members_workspace<typename Net::tensor_type>()); })
        net->share_workspace(&members_workspace<typename Net::tensor_type>());
    member_net out;
    out.describe = Net::describe();
    out.describe_io = Net::describe(net->channels());
    out.in_channels = net->in_channels();
    out.classes = net->classes();
    out.predict = [net, rule = m.rule, tiles = m.tiles, tta = m.tta](const tensor<float>& x) {
        return predict_at_scale(*net, x, rule, tiles, tta);
    };
    return out;
}

/// load_member for the network the member names, on `Backend`.
template <class Backend>
member_net load_member_on(const member_spec& m) {
    member_net out;
    with_model<Backend>(m.model, m.base, m.depth, [&]<class Net>() -> int {
        out = load_member<Net>(m);
        return 0;
    });
    return out;
}

/// load_member_on<backend::cuda> (defined in ensemble_members_cuda.cpp, only in a build with
/// UNETPP_WITH_CUDA=ON).
member_net load_member_on_cuda(const member_spec& m);

/// load_member_on<backend::cpu_bf16>, with `compute` saying so (--precision bf16; defined in
/// ensemble_members_bf16.cpp, compiled in every build).
member_net load_member_on_bf16(const member_spec& m);

/// Loads every member on the CPU (in bf16 with --precision bf16), or with --device cuda on the
/// device (device_option refuses cuda in a build without it).
inline std::vector<member_net> load_members(const std::vector<member_spec>& specs, device_kind device,
                                            precision_kind precision = precision_kind::fp32) {
    const auto load = [&](const member_spec& m) {
        if constexpr (cuda_built)
            if (device == device_kind::cuda) return load_member_on_cuda(m);
        return precision == precision_kind::bf16 ? load_member_on_bf16(m) : load_member_on<backend::cpu>(m);
    };
    std::vector<member_net> out;
    for (const member_spec& m : specs) {
        try {
            out.push_back(load(m));
        } catch (const usage_error& e) {
            const std::string msg = e.what();
            if (msg.rfind("--model", 0) != 0) throw;
            throw usage_error(m.file.string() + ": the file holds a network that is not compiled in (" + msg + ")");
        }
    }
    return out;
}

/// The ensemble's mean probabilities (one member: its own, unchanged).
inline infer::ensemble ensemble_of(const std::vector<member_net>& nets) {
    infer::ensemble e;
    for (const member_net& n : nets) e.add(n.predict);
    return e;
}

/// Refuses two members that disagree on `field`, naming both checkpoints, both values and what to do.
inline void require_same(const std::string& field, const member_spec& a, const std::string& va, const member_spec& b,
                         const std::string& vb, const std::string& todo) {
    if (va == vb) return;
    throw usage_error("--checkpoint '" + a.file.string() + "' and --checkpoint '" + b.file.string() +
                      "' disagree on " + field + ": " + va + " against " + vb + "; " + todo);
}

/// Every member must read the same images and say the same classes in the same mask encoding.
inline void check_members_agree(const std::vector<member_spec>& ms) {
    const std::string todo = "an ensemble averages the members' probabilities pixel by pixel, so give checkpoints "
                             "of runs with the same --in-channels, --classes and --mask-encoding (and palette)";
    for (std::size_t i = 1; i < ms.size(); ++i) {
        const class_layout &a = ms[0].pre.layout, &b = ms[i].pre.layout;
        require_same("the image channels", ms[0], std::to_string(a.channels), ms[i], std::to_string(b.channels), todo);
        require_same("the number of classes", ms[0], std::to_string(a.classes), ms[i], std::to_string(b.classes), todo);
        require_same("the mask encoding", ms[0], std::string(data::to_string(a.encoding)), ms[i],
                     std::string(data::to_string(b.encoding)), todo);
        require_same("the palette", ms[0], data::format_palette(a.palette), ms[i], data::format_palette(b.palette),
                     todo);
    }
}

/// The mask threshold of the ensemble: --threshold when given, else the members' recorded one
/// (0.5 without a record); members that record different thresholds need --threshold.
inline double members_threshold(const std::vector<member_spec>& ms, bool given, double value) {
    if (given) return value;
    const auto of = [value](const member_spec& m) { return m.pre.recorded ? m.pre.threshold : value; };
    for (std::size_t i = 1; i < ms.size(); ++i)
        require_same("the mask threshold", ms[0], format_real(of(ms[0])), ms[i], format_real(of(ms[i])),
                     "give --threshold T for the ensemble's mean probability");
    return ms.empty() ? value : of(ms.front());
}

/// How a member is brought to its scale, in a few words ("trained at 32x32", "full size").
inline std::string member_scale_words(const member_spec& m) {
    if (!m.rule.full_size()) return "at its trained " + std::to_string(m.rule.square) + "x" + std::to_string(m.rule.square);
    return "full size (" + m.rule.why + (m.rule.factor != 1.0 ? ", --scale " + format_real(m.rule.factor) : "") + ")";
}

/// The members and their test-time transforms, for the printout and the summary: one line for a
/// single checkpoint ("TTA: ..."), else a line per member under a heading.
inline std::string members_text(const std::vector<member_spec>& ms, const std::vector<member_net>& nets) {
    const std::string compute = nets.empty() || nets[0].compute.empty() ? "" : "compute: " + nets[0].compute + "\n";
    if (ms.size() == 1) return "TTA: " + ms[0].tta_note + "\n" + compute;
    std::string s = "ensemble of " + std::to_string(ms.size()) +
                    " checkpoints: the mean of their probabilities at each image's own size, thresholded once\n";
    for (std::size_t i = 0; i < ms.size(); ++i)
        s += "  member " + std::to_string(i + 1) + ": " + ms[i].file.string() + " (" + nets[i].describe_io + ", " +
             member_scale_words(ms[i]) + "; TTA: " + ms[i].tta_note + ")\n";
    return s + compute;
}

/// The --checkpoint values of the command line: 1 to 16 files, each named once; `what` names the
/// option in messages.
inline std::vector<fs::path> checkpoint_paths(const args& a, const std::string& what) {
    std::vector<fs::path> out;
    for (const std::string& v : a.values(what)) out.emplace_back(v);
    if (out.size() > static_cast<std::size_t>(ensemble_size.max))
        throw usage_error("--" + what + " is given " + std::to_string(out.size()) + " times; an ensemble takes " +
                          describe(ensemble_size) + " checkpoints");
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i].empty()) throw usage_error("--" + what + " needs a file name");
        for (std::size_t j = 0; j < i; ++j)
            if (fs::absolute(out[i]).lexically_normal() == fs::absolute(out[j]).lexically_normal())
                throw usage_error("--" + what + " '" + out[i].string() +
                                  "' is given twice; an ensemble takes each checkpoint once");
    }
    return out;
}

}  // namespace cli
