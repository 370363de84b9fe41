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

#include "../backend/profiler.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::optim {

struct sgd_cfg {
    double lr = 1e-2;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
};

/// SGD over every parameter a model visits. The model must outlive the optimiser and must not be
/// moved (the optimiser keeps pointers to its parameter tensors).
template <class T = float>
class sgd {
public:
    template <class Model>
    sgd(Model& model, sgd_cfg cfg = {}) : cfg_(cfg) {
        if (!(cfg_.lr >= 0)) throw std::invalid_argument("sgd: lr must be >= 0, got " + std::to_string(cfg_.lr));
        if (!(cfg_.momentum >= 0)) throw std::invalid_argument("sgd: momentum must be >= 0");
        if (!(cfg_.weight_decay >= 0)) throw std::invalid_argument("sgd: weight_decay must be >= 0");
        if (cfg_.nesterov && (cfg_.momentum <= 0 || cfg_.dampening != 0))
            throw std::invalid_argument("sgd: Nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch)");
        model.visit_parameters([&](std::string_view name, tensor<T>& value, tensor<T>& grad) {
            slots_.push_back({std::string(name), &value, &grad, tensor<T>(value.shape())});
        });
    }

    void step() {
        profiler::scope timer("sgd_step");
        ++t_;
        const T lr = static_cast<T>(cfg_.lr), mu = static_cast<T>(cfg_.momentum);
        const T damp = static_cast<T>(1.0 - cfg_.dampening), wd = static_cast<T>(cfg_.weight_decay);
        const bool first = t_ == 1, nesterov = cfg_.nesterov, use_momentum = cfg_.momentum != 0;
        for (auto& s : slots_) {
            T* p = s.value->data();
            const T* gp = s.grad->data();
            T* b = s.buf.data();
            const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(s.value->size());
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
            for (std::ptrdiff_t i = 0; i < n; ++i) {
                T g = gp[i];
                if (wd != T(0)) g += wd * p[i];
                if (use_momentum) {
                    b[i] = first ? g : mu * b[i] + damp * g;
                    g = nesterov ? g + mu * b[i] : b[i];
                }
                p[i] -= lr * g;
            }
        }
    }

    void zero_grad() {
        for (auto& s : slots_) s.grad->zero();
    }
    [[nodiscard]] double lr() const noexcept { return cfg_.lr; }
    void set_lr(double lr) noexcept { cfg_.lr = lr; }
    [[nodiscard]] long steps() const noexcept { return t_; }
    [[nodiscard]] const sgd_cfg& config() const noexcept { return cfg_; }

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
        tensor<T>* value;
        tensor<T>* grad;
        tensor<T> buf;
    };
    sgd_cfg cfg_;
    std::vector<slot> slots_;
    long t_ = 0;
};

}  // namespace unetpp::optim
