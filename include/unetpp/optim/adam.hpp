#pragma once
/// \file Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019), with PyTorch's update:
///   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
///   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
/// Weight decay adds wd * p to g (Adam) or multiplies p by (1 - lr wd) first (AdamW).
/// Checkpoints (train/checkpoint.hpp) store the moments as `optim.m.<param>` and
/// `optim.v.<param>` through visit_state(), and the step count through steps()/set_steps().

#include <cmath>
#include <cstdio>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "../backend/profiler.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::optim {

struct adam_options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  ///< true: AdamW
};
/// The name before the naming rule; it goes away in a later release.
using adam_cfg [[deprecated("renamed adam_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = adam_options;

/// Adam over every parameter a model visits. The model must outlive the optimiser and must not be
/// moved (the optimiser keeps pointers to its parameter tensors).
template <backend::backend_type B = backend::cpu, class T = float>
class adam {
public:
    using tensor_type = tensor<T, typename B::memory>;

    template <class Model>
    adam(Model& model, adam_options cfg = {}) : cfg_(cfg) {
        model.visit_parameters([&](std::string_view name, tensor_type& value, tensor_type& grad) {
            slots_.push_back({&value, &grad, tensor_type(value.shape()), tensor_type(value.shape()), std::string(name)});
        });
    }

    void step() {
        profiler::scope timer("adam_step");
        ++t_;
        const double c1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
        const double c2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
        const backend::adam_step st{.lr = cfg_.lr,
                                    .beta1 = cfg_.beta1,
                                    .beta2 = cfg_.beta2,
                                    .eps = cfg_.eps,
                                    .weight_decay = cfg_.weight_decay,
                                    .decoupled_weight_decay = cfg_.decoupled_weight_decay,
                                    .step_size = cfg_.lr / c1,
                                    .inv_sqrt_c2 = 1.0 / std::sqrt(c2)};
        for (auto& s : slots_)
            B::adam_update(s.value->data(), s.grad->data(), s.m.data(), s.v.data(),
                           static_cast<std::ptrdiff_t>(s.value->size()), st);
    }

    void zero_grad() {
        for (auto& s : slots_) s.grad->zero();
    }
    [[nodiscard]] double lr() const noexcept { return cfg_.lr; }
    void set_lr(double lr) noexcept { cfg_.lr = lr; }
    [[nodiscard]] long steps() const noexcept { return t_; }
    [[nodiscard]] const adam_options& config() const noexcept { return cfg_; }

    // --- state for checkpoints (train/checkpoint.hpp) ---------------------------------------
    [[nodiscard]] std::string_view name() const noexcept { return cfg_.decoupled_weight_decay ? "adamw" : "adam"; }
    /// Hyper-parameters as (key, value text); stored in the checkpoint's metadata.
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> hyper_parameters() const {
        const auto num = [](double v) {
            char b[40];
            std::snprintf(b, sizeof b, "%.17g", v);
            return std::string(b);
        };
        return {{"lr", num(cfg_.lr)},
                {"beta1", num(cfg_.beta1)},
                {"beta2", num(cfg_.beta2)},
                {"eps", num(cfg_.eps)},
                {"weight_decay", num(cfg_.weight_decay)},
                {"decoupled_weight_decay", cfg_.decoupled_weight_decay ? "true" : "false"}};
    }
    /// Calls f(name, tensor) for every state tensor: all first moments `optim.m.<param>`, then all
    /// second moments `optim.v.<param>`, in parameter visiting order.
    template <class F>
    void visit_state(F&& f) {
        for (auto& s : slots_) f("optim.m." + s.name, s.m);
        for (auto& s : slots_) f("optim.v." + s.name, s.v);
    }
    /// Sets the step count t (bias corrections use it); for resuming from a checkpoint.
    void set_steps(long t) noexcept { t_ = t; }

private:
    struct slot {
        tensor_type* value;
        tensor_type* grad;
        tensor_type m, v;
        std::string name;
    };
    adam_options cfg_;
    std::vector<slot> slots_;
    long t_ = 0;
};

/// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, PyTorch's defaults
/// (lr 1e-3, betas 0.9 / 0.999, eps 1e-8, weight_decay 1e-2). The configuration's
/// decoupled_weight_decay is forced on.
inline adam_options adamw_options(double lr = 1e-3, double weight_decay = 1e-2, double beta1 = 0.9,
                                  double beta2 = 0.999, double eps = 1e-8) {
    return adam_options{lr, beta1, beta2, eps, weight_decay, true};
}
/// The name before the naming rule; it goes away in a later release.
[[deprecated("renamed adamw_options: run-time options are _options (docs/DESIGN.md, Naming)")]]
inline adam_options adamw_cfg(double lr = 1e-3, double weight_decay = 1e-2, double beta1 = 0.9, double beta2 = 0.999,
                              double eps = 1e-8) {
    return adamw_options(lr, weight_decay, beta1, beta2, eps);
}

template <backend::backend_type B = backend::cpu, class T = float>
class adamw : public adam<B, T> {
public:
    template <class Model>
    adamw(Model& model, adam_options cfg = adamw_options()) : adam<B, T>(model, force_decoupled(cfg)) {}

private:
    static adam_options force_decoupled(adam_options c) {
        c.decoupled_weight_decay = true;
        return c;
    }
};

template <class Model>
adam(Model&, adam_options = {}) -> adam<typename Model::backend_type, typename Model::value_type>;
template <class Model>
adamw(Model&, adam_options = adamw_options()) -> adamw<typename Model::backend_type, typename Model::value_type>;

}  // namespace unetpp::optim
