#pragma once
/// \file Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, with
/// exactly the update of PyTorch's torch.optim.SGD (documented in its reference page and
/// implemented in torch/optim/sgd.py, `_single_tensor_sgd`). For every parameter p with
/// gradient g, at step t = 1, 2, ...:
///
///   g = g + weight_decay * p                              (when weight_decay != 0)
///   if momentum != 0:
///       b = g                                 at t = 1    (the buffer starts as a copy of g)
///       b = momentum * b + (1 - dampening) * g  at t > 1
///       g = g + momentum * b                  (nesterov)
///       g = b                                 (otherwise)
///   p = p - lr * g
///
/// PyTorch's rules, kept here: nesterov needs momentum > 0 and dampening == 0; the first step
/// copies g into the buffer without dampening. The buffers are named `optim.momentum.<param>`
/// in checkpoints (see train/checkpoint.hpp and docs/TRAINING.md).

#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "../backend/profiler.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::optim {

struct sgd_options {
    double lr = 1e-2;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
};
/// The name before the naming rule; it goes away in a later release.
using sgd_cfg [[deprecated("renamed sgd_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = sgd_options;

/// SGD over every parameter a model visits. The model must outlive the optimiser and must not be
/// moved (the optimiser keeps pointers to its parameter tensors). The update runs as the model's
/// backend's sgd_update, where the parameters live; `optim::sgd opt(net)` deduces T and B.
template <backend::backend_type B = backend::cpu, class T = float>
class sgd {
public:
    using tensor_type = tensor<T, typename B::memory>;

    template <class Model>
    sgd(Model& model, sgd_options cfg = {}) : cfg_(cfg) {
        if (!(cfg_.lr >= 0)) throw std::invalid_argument("sgd: lr must be >= 0, got " + std::to_string(cfg_.lr));
        if (!(cfg_.momentum >= 0)) throw std::invalid_argument("sgd: momentum must be >= 0");
        if (!(cfg_.weight_decay >= 0)) throw std::invalid_argument("sgd: weight_decay must be >= 0");
        if (cfg_.nesterov && (cfg_.momentum <= 0 || cfg_.dampening != 0))
            throw std::invalid_argument("sgd: Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch)");
        model.visit_parameters([&](std::string_view name, tensor_type& value, tensor_type& grad) {
            slots_.push_back({std::string(name), &value, &grad, tensor_type(value.shape())});
        });
    }

    void step() {
        profiler::scope timer("sgd_step");
        ++t_;
        const backend::sgd_step st{.lr = cfg_.lr,
                                   .momentum = cfg_.momentum,
                                   .dampening = cfg_.dampening,
                                   .weight_decay = cfg_.weight_decay,
                                   .nesterov = cfg_.nesterov,
                                   .first = t_ == 1};
        for (auto& s : slots_)
            B::sgd_update(s.value->data(), s.grad->data(), s.buf.data(), static_cast<std::ptrdiff_t>(s.value->size()), st);
    }

    void zero_grad() {
        for (auto& s : slots_) s.grad->zero();
    }
    [[nodiscard]] double lr() const noexcept { return cfg_.lr; }
    void set_lr(double lr) noexcept { cfg_.lr = lr; }
    [[nodiscard]] long steps() const noexcept { return t_; }
    [[nodiscard]] const sgd_options& config() const noexcept { return cfg_; }

    // --- state for checkpoints (train/checkpoint.hpp) ---------------------------------------
    [[nodiscard]] static constexpr std::string_view name() noexcept { return "sgd"; }
    /// Hyper-parameters as (key, value text); stored in the checkpoint's metadata.
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> hyper_parameters() const {
        return {{"lr", num(cfg_.lr)},
                {"momentum", num(cfg_.momentum)},
                {"dampening", num(cfg_.dampening)},
                {"weight_decay", num(cfg_.weight_decay)},
                {"nesterov", cfg_.nesterov ? "true" : "false"}};
    }
    /// Calls f(name, tensor) for every state tensor (momentum buffers), in a fixed order.
    template <class F>
    void visit_state(F&& f) {
        for (auto& s : slots_) f("optim.momentum." + s.name, s.buf);
    }
    void set_steps(long t) noexcept { t_ = t; }

private:
    static std::string num(double v) {
        char b[40];
        std::snprintf(b, sizeof b, "%.17g", v);
        return b;
    }
    struct slot {
        std::string name;
        tensor_type* value;
        tensor_type* grad;
        tensor_type buf;
    };
    sgd_options cfg_;
    std::vector<slot> slots_;
    long t_ = 0;
};

template <class Model>
sgd(Model&, sgd_options = {}) -> sgd<typename Model::backend_type, typename Model::value_type>;

}  // namespace unetpp::optim
