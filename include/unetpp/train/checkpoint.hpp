#pragma once
/// \file Training checkpoints: model weights + optimiser state + progress, in one safetensors file.
///
///   train::checkpoint_info info{.epoch = 3, .step = 120, .seed = 1};
///   train::save_checkpoint("run/last.safetensors", net, opt, info);     // atomic + fsync
///   auto back = train::load_checkpoint("run/last.safetensors", net, opt);  // all-or-nothing
///   train::load_checkpoint_weights("run/best.safetensors", net);        // weights only
///
/// The file is what io::save_weights writes (same tensor names, shapes and metadata, so it also
/// loads with io::load_weights after dropping the optim.* tensors, and in PyTorch) plus:
///   tensors   optim.<kind>.<param> for every optimiser state tensor (Adam: optim.m.*, optim.v.*;
///             SGD: optim.momentum.*), stored in the network's dtype with NCHW shapes
///   metadata  unetpp.checkpoint.format   "1"
///             unetpp.optim.name          "adam" | "adamw" | "sgd"
///             unetpp.optim.<hyper>       every hyper-parameter (lr, beta1, ...), as text
///             unetpp.optim.step          optimiser steps taken (Adam's bias-correction t)
///             unetpp.train.epoch         completed epochs (the next run starts there)
///             unetpp.train.step          training steps (batches) done
///             unetpp.train.seed          the run's seed; data order and augmentation of epoch e
///                                        derive from (seed, e), which is the whole rng state
///             unetpp.train.monitor, .best_metric, .best_epoch, .es_best, .es_bad_epochs
///             unetpp.schedule.name, unetpp.schedule.state.<key>
///             unetpp.extra.<key>         free text the caller adds (e.g. the CLI configuration)
///             unetpp.crc32c.<tensor>, unetpp.crc32c_header   CRC-32C checksums (io/safetensors.hpp)
/// Numbers are decimal text that reads back exactly ("%.17g"; "inf", "nan" allowed).
///
/// Keeping two: save_checkpoint_keeping_previous keeps the replaced file as last.prev.safetensors
/// (crash-safe at every step), and find_resume_checkpoint picks the newest of the two that
/// verifies, saying which one it skipped and why. The trainer uses both.
///
/// Loading checks, in order, and changes nothing unless all pass: the file is a valid
/// safetensors file (truncation, header, offsets, checksums: io::safetensors_file); it is a checkpoint
/// (format key present and known); the architecture matches (io::load_weights' checks: the first
/// missing, unexpected or mis-shaped tensor is named, and the unetpp.config fields); the
/// optimiser kind matches; every optimiser tensor is present with the right size. Every error
/// is a std::runtime_error starting with "checkpoint '<file>': ".

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../io/safetensors.hpp"
#include "../io/weights.hpp"
#include "atomic_file.hpp"

namespace unetpp::train {

inline constexpr std::string_view checkpoint_format_version = "1";

/// Progress and bookkeeping stored with a checkpoint.
struct checkpoint_info {
    long epoch = 0;          ///< completed epochs
    long step = 0;           ///< training steps (batches) done
    std::uint64_t seed = 0;  ///< the run's seed (data order / augmentation derive from (seed, epoch))
    std::string monitor{};   ///< metric deciding "best" (e.g. "val_loss")
    double best_metric = std::numeric_limits<double>::quiet_NaN();
    long best_epoch = -1;    ///< 1-based epoch of best_metric (-1: none yet)
    double es_best = std::numeric_limits<double>::quiet_NaN();  ///< early stopping's reference value
    int es_bad_epochs = 0;   ///< early stopping's count of epochs without improvement
    std::string schedule_name{};
    std::map<std::string, double> schedule_state{};
    std::map<std::string, std::string> extra{};  ///< stored as unetpp.extra.<key>
};

/// What an optimiser must offer to be checkpointed (optim::sgd, optim::adam, optim::adamw).
template <class O>
concept checkpointable_optimizer = requires(O& o, const O& co, long t) {
    { co.name() } -> std::convertible_to<std::string_view>;
    co.hyper_parameters();
    { co.steps() } -> std::convertible_to<long>;
    o.set_steps(t);
};

namespace detail {

inline std::string num(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

inline const std::string& md_get(const std::map<std::string, std::string, std::less<>>& md, const std::string& key,
                                 const std::string& where) {
    const auto it = md.find(key);
    if (it == md.end()) throw std::runtime_error(where + "metadata \"" + key + "\" is missing (not a unetpp checkpoint, or damaged)");
    return it->second;
}

inline double md_double(const std::map<std::string, std::string, std::less<>>& md, const std::string& key,
                        const std::string& where) {
    const std::string& s = md_get(md, key, where);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size())
        throw std::runtime_error(where + "metadata \"" + key + "\" = \"" + s + "\" is not a number");
    return v;
}

inline long md_long(const std::map<std::string, std::string, std::less<>>& md, const std::string& key,
                    const std::string& where) {
    const double v = md_double(md, key, where);
    if (!(v == std::floor(v)) || std::fabs(v) > 9e15)
        throw std::runtime_error(where + "metadata \"" + key + "\" is not an integer");
    return static_cast<long>(v);
}

inline checkpoint_info parse_info(const io::safetensors_file& f, const std::string& where) {
    const auto& md = f.metadata();
    const std::string& fmt = md_get(md, "unetpp.checkpoint.format", where);
    if (fmt != checkpoint_format_version)
        throw std::runtime_error(where + "checkpoint format \"" + fmt + "\" is not supported (this build reads \"" +
                                 std::string(checkpoint_format_version) + "\")");
    checkpoint_info c;
    c.epoch = md_long(md, "unetpp.train.epoch", where);
    c.step = md_long(md, "unetpp.train.step", where);
    {
        const std::string& s = md_get(md, "unetpp.train.seed", where);
        char* end = nullptr;
        c.seed = std::strtoull(s.c_str(), &end, 10);
        if (s.empty() || end != s.c_str() + s.size())
            throw std::runtime_error(where + "metadata \"unetpp.train.seed\" is not an integer");
    }
    c.monitor = md_get(md, "unetpp.train.monitor", where);
    c.best_metric = md_double(md, "unetpp.train.best_metric", where);
    c.best_epoch = md_long(md, "unetpp.train.best_epoch", where);
    c.es_best = md_double(md, "unetpp.train.es_best", where);
    c.es_bad_epochs = static_cast<int>(md_long(md, "unetpp.train.es_bad_epochs", where));
    c.schedule_name = md_get(md, "unetpp.schedule.name", where);
    const std::string sp = "unetpp.schedule.state.", ep = "unetpp.extra.";
    for (const auto& [k, v] : md) {
        if (k.starts_with(sp)) c.schedule_state[k.substr(sp.size())] = md_double(md, k, where);
        if (k.starts_with(ep)) c.extra[k.substr(ep.size())] = v;
    }
    if (c.epoch < 0 || c.step < 0) throw std::runtime_error(where + "negative epoch or step");
    return c;
}

inline std::string where_of(const std::filesystem::path& p) { return "checkpoint '" + p.string() + "': "; }

/// Loads the model tensors of a checkpoint into `net` with io::load_weights' checks.
template <class Net>
void load_model_part(Net& net, const io::safetensors_file& f, const std::string& where) {
    io::safetensors_writer w;
    for (const auto& name : f.names()) {
        if (name.starts_with("optim.")) continue;
        w.add(name, f.get<double>(name), f.shape(name));
    }
    for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
    try {
        io::load_weights(net, io::safetensors_file::parse(w.serialize(), f.source()));
    } catch (const std::exception& e) {
        std::string msg = e.what();
        const std::string pre = "weights: " + f.source() + ": ";
        if (msg.starts_with(pre)) msg = msg.substr(pre.size());
        throw std::runtime_error(where + msg);
    }
}

}  // namespace detail

/// The complete file contents of a checkpoint (what save_checkpoint writes).
template <class Net, checkpointable_optimizer Optim>
std::string checkpoint_bytes(const Net& net, Optim& opt, const checkpoint_info& info) {
    io::safetensors_writer w = io::weights_writer(net);
    opt.visit_state([&](const std::string& name, const auto& t) { w.add(name, t); });
    w.set_metadata("unetpp.checkpoint.format", std::string(checkpoint_format_version));
    w.set_metadata("unetpp.optim.name", std::string(opt.name()));
    for (const auto& [k, v] : opt.hyper_parameters()) w.set_metadata("unetpp.optim." + k, v);
    w.set_metadata("unetpp.optim.step", std::to_string(opt.steps()));
    w.set_metadata("unetpp.train.epoch", std::to_string(info.epoch));
    w.set_metadata("unetpp.train.step", std::to_string(info.step));
    w.set_metadata("unetpp.train.seed", std::to_string(info.seed));
    w.set_metadata("unetpp.train.monitor", info.monitor);
    w.set_metadata("unetpp.train.best_metric", detail::num(info.best_metric));
    w.set_metadata("unetpp.train.best_epoch", std::to_string(info.best_epoch));
    w.set_metadata("unetpp.train.es_best", detail::num(info.es_best));
    w.set_metadata("unetpp.train.es_bad_epochs", std::to_string(info.es_bad_epochs));
    w.set_metadata("unetpp.schedule.name", info.schedule_name);
    for (const auto& [k, v] : info.schedule_state) w.set_metadata("unetpp.schedule.state." + k, detail::num(v));
    for (const auto& [k, v] : info.extra) w.set_metadata("unetpp.extra." + k, v);
    return w.serialize();
}

/// Writes `net`, the optimiser's state and `info` to `path` atomically and durably (temporary
/// file, fsync, rename, fsync of the folder). The previous file at `path` survives any failure.
template <class Net, checkpointable_optimizer Optim>
void save_checkpoint(const std::filesystem::path& path, const Net& net, Optim& opt, const checkpoint_info& info) {
    write_file_atomic(path, checkpoint_bytes(net, opt, info));
}

/// The name under which the checkpoint before `path` is kept: "run/last.safetensors" ->
/// "run/last.prev.safetensors".
inline std::filesystem::path previous_checkpoint_path(const std::filesystem::path& path) {
    std::filesystem::path p = path.parent_path() / path.stem();
    p += ".prev";
    p += path.extension();
    return p;
}

/// Like save_checkpoint, and keeps the file it replaces as previous_checkpoint_path(path), so
/// that the last two checkpoints exist. At every instant, even across a crash or kill -9, both
/// names hold complete files (io::replace_file_keeping_previous explains the steps). With
/// `keep_current` false the file now at `path` is replaced without being kept (the trainer does
/// that when `path` failed verification and it resumed from the previous one).
template <class Net, checkpointable_optimizer Optim>
void save_checkpoint_keeping_previous(const std::filesystem::path& path, const Net& net, Optim& opt,
                                      const checkpoint_info& info, bool keep_current = true) {
    replace_file_keeping_previous(path, previous_checkpoint_path(path), checkpoint_bytes(net, opt, info), keep_current);
}

/// Reads only the bookkeeping of a checkpoint (validating the whole file).
inline checkpoint_info read_checkpoint_info(const std::filesystem::path& path) {
    const std::string where = detail::where_of(path);
    try {
        return detail::parse_info(io::safetensors_file::load(path), where);
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        if (m.starts_with("checkpoint '")) throw;
        throw std::runtime_error(where + m);
    }
}

/// Loads the model weights of a checkpoint (or of a plain weights file) into `net`.
template <class Net>
void load_checkpoint_weights(const std::filesystem::path& path, Net& net) {
    const std::string where = detail::where_of(path);
    io::safetensors_file f = [&] {
        try {
            return io::safetensors_file::load(path);
        } catch (const std::exception& e) {
            throw std::runtime_error(where + e.what());
        }
    }();
    detail::load_model_part(net, f, where);
}

/// Restores `net` and `opt` from a checkpoint and returns its bookkeeping. All-or-nothing:
/// neither is modified unless every check passes (see the file comment).
template <class Net, checkpointable_optimizer Optim>
checkpoint_info load_checkpoint(const std::filesystem::path& path, Net& net, Optim& opt) {
    using T = typename Net::value_type;
    const std::string where = detail::where_of(path);
    io::safetensors_file f = [&] {
        try {
            return io::safetensors_file::load(path);
        } catch (const std::exception& e) {
            throw std::runtime_error(where + e.what());
        }
    }();
    checkpoint_info info = detail::parse_info(f, where);
    const std::string& oname = detail::md_get(f.metadata(), "unetpp.optim.name", where);
    if (oname != opt.name())
        throw std::runtime_error(where + "written with optimiser '" + oname + "' but this run uses '" +
                                 std::string(opt.name()) + "'; choose the same optimiser to resume");
    const long ostep = detail::md_long(f.metadata(), "unetpp.optim.step", where);

    // Stage the optimiser tensors (checked) before touching anything.
    std::vector<std::pair<tensor<T>*, tensor<T>>> staged;
    std::size_t expected = 0;
    opt.visit_state([&](const std::string& name, tensor<T>& t) {
        ++expected;
        if (!f.contains(name))
            throw std::runtime_error(where + "optimiser tensor \"" + name + "\" is missing");
        tensor<T> v = f.get<T>(name);
        if (v.size() != t.size())
            throw std::runtime_error(where + "optimiser tensor \"" + name + "\" has " + std::to_string(v.size()) +
                                     " elements, the network's parameter has " + std::to_string(t.size()));
        staged.emplace_back(&t, std::move(v));
    });
    std::size_t in_file = 0;
    for (const auto& n : f.names())
        if (n.starts_with("optim.")) ++in_file;
    if (in_file != expected)
        throw std::runtime_error(where + "holds " + std::to_string(in_file) + " optimiser tensors, '" +
                                 std::string(opt.name()) + "' on this network has " + std::to_string(expected));

    detail::load_model_part(net, f, where);  // checks everything before writing the network
    for (auto& [dst, src] : staged)
        for (std::size_t i = 0; i < dst->size(); ++i) (*dst)[i] = src[i];
    opt.set_steps(ostep);
    return info;
}

/// The checkpoint a resume should use, as find_resume_checkpoint chose it.
struct resume_checkpoint {
    std::filesystem::path path;  ///< the file to load
    checkpoint_info info;        ///< its bookkeeping (already read and verified)
    bool fell_back = false;      ///< true when a newer candidate was skipped
};

/// Chooses the newest checkpoint to resume from that loads and verifies: for a folder, its
/// last.safetensors, else last.prev.safetensors; for a file, that file, else the one kept
/// before it (previous_checkpoint_path). A candidate is verified by reading the whole file
/// (safetensors structure, every CRC-32C checksum, the checkpoint bookkeeping); the network
/// itself is not touched. When a candidate is skipped, `message` (if given) says which and why,
/// e.g. "last.safetensors is corrupt (...); resuming from last.prev.safetensors, epoch 4";
/// otherwise it is cleared. Throws std::runtime_error listing every candidate's problem when
/// none is usable.
inline resume_checkpoint find_resume_checkpoint(const std::filesystem::path& where, std::string* message = nullptr) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path newest = fs::is_directory(where, ec) ? where / "last.safetensors" : where;
    const fs::path candidates[2] = {newest, previous_checkpoint_path(newest)};
    std::string skipped;
    for (const auto& c : candidates) {
        std::string why;
        if (!fs::exists(c, ec)) {
            why = "does not exist";
        } else {
            try {
                resume_checkpoint r{c, read_checkpoint_info(c), !skipped.empty()};
                if (message) {
                    message->clear();
                    if (r.fell_back)
                        *message = skipped + "; resuming from " + c.string() + ", epoch " + std::to_string(r.info.epoch);
                }
                return r;
            } catch (const std::exception& e) {
                std::string reason = e.what();
                for (const std::string pre : {detail::where_of(c), "safetensors: " + c.string() + ": "})
                    if (reason.starts_with(pre)) reason = reason.substr(pre.size());
                const std::string corrupt = "corrupt: ";
                why = reason.starts_with(corrupt) ? "is corrupt (" + reason.substr(corrupt.size()) + ")"
                                                  : "cannot be loaded (" + reason + ")";
            }
        }
        if (!skipped.empty()) skipped += "; ";
        skipped += c.string() + " " + why;
    }
    throw std::runtime_error("no checkpoint to resume from: " + skipped +
                             "; start a new run (in another output folder) instead of resuming");
}

}  // namespace unetpp::train
