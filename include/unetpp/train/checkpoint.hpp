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
///             unetpp.train.epoch_step    batches of the next epoch already done (0 at an
///                                        epoch's end; > 0 when a stop was requested mid-epoch)
///             unetpp.train.epoch_loss_sum, .epoch_loss_count   that partial epoch's running
///                                        train-loss sum (loss * images) and image count
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
#include <type_traits>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../io/safetensors.hpp"
#include "../io/weights.hpp"
#include "atomic_file.hpp"
#include "checkpoint_file.hpp"

namespace unetpp::inline UNETPP_ABI::train {

/// What an optimiser must offer to be checkpointed (optim::sgd, optim::adam, optim::adamw).
template <class O>
concept CheckpointableOptimizer = requires(O& o, const O& co, long t) {
    { co.name() } -> std::convertible_to<std::string_view>;
    co.hyper_parameters();
    { co.steps() } -> std::convertible_to<long>;
    o.set_steps(t);
};
/// The name before the naming rule (docs/DESIGN.md, Naming); it goes away in a later release.
template <class O>
concept checkpointable_optimizer = CheckpointableOptimizer<O>;

namespace detail {

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
template <class Net, CheckpointableOptimizer Optim>
std::string checkpoint_bytes(const Net& net, Optim& opt, const checkpoint_info& info) {
    io::safetensors_writer w = io::weights_writer(net);
    opt.visit_state([&](const std::string& name, const auto& t) {
        if constexpr (std::remove_cvref_t<decltype(t)>::host_accessible)
            w.add(name, t);
        else
            w.add(name, to_host(t));  // a device network's optimiser state is copied out
    });
    w.set_metadata("unetpp.checkpoint.format", std::string(checkpoint_format_version));
    w.set_metadata("unetpp.optim.name", std::string(opt.name()));
    for (const auto& [k, v] : opt.hyper_parameters()) w.set_metadata("unetpp.optim." + k, v);
    w.set_metadata("unetpp.optim.step", std::to_string(opt.steps()));
    w.set_metadata("unetpp.train.epoch", std::to_string(info.epoch));
    w.set_metadata("unetpp.train.step", std::to_string(info.step));
    w.set_metadata("unetpp.train.seed", std::to_string(info.seed));
    w.set_metadata("unetpp.train.epoch_step", std::to_string(info.epoch_step));
    w.set_metadata("unetpp.train.epoch_loss_sum", detail::num(info.epoch_loss_sum));
    w.set_metadata("unetpp.train.epoch_loss_count", std::to_string(info.epoch_loss_count));
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
template <class Net, CheckpointableOptimizer Optim>
void save_checkpoint(const std::filesystem::path& path, const Net& net, Optim& opt, const checkpoint_info& info) {
    write_file_atomic(path, checkpoint_bytes(net, opt, info));
}

/// Like save_checkpoint, and keeps the file it replaces as previous_checkpoint_path(path), so
/// that the last two checkpoints exist. At every instant, even across a crash or kill -9, both
/// names hold complete files (io::replace_file_keeping_previous explains the steps). With
/// `keep_current` false the file now at `path` is replaced without being kept (the trainer does
/// that when `path` failed verification and it resumed from the previous one).
template <class Net, CheckpointableOptimizer Optim>
void save_checkpoint_keeping_previous(const std::filesystem::path& path, const Net& net, Optim& opt,
                                      const checkpoint_info& info, bool keep_current = true) {
    replace_file_keeping_previous(path, previous_checkpoint_path(path), checkpoint_bytes(net, opt, info), keep_current);
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
template <class Net, CheckpointableOptimizer Optim>
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
    using Tensor = io::detail::net_tensor_t<Net>;
    std::vector<std::pair<Tensor*, tensor<T>>> staged;
    std::size_t expected = 0;
    opt.visit_state([&](const std::string& name, Tensor& t) {
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
    for (auto& [dst, src] : staged) dst->copy_from_host(std::as_const(src).span());  // sizes checked above
    opt.set_steps(ostep);
    return info;
}

}  // namespace unetpp::train
