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

#include "../backend/profiler.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::optim {

struct adam_cfg {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  ///< true: AdamW
};

/// Adam over every parameter a model visits. The model must outlive the optimiser and must not be
/// moved (the optimiser keeps pointers to its parameter tensors).
template <class T = float>
class adam {
public:
    template <class Model>
    adam(Model& model, adam_cfg cfg = {}) : cfg_(cfg) {
        model.visit_parameters([&](std::string_view name, tensor<T>& value, tensor<T>& grad) {
            slots_.push_back({&value, &grad, tensor<T>(value.shape()), tensor<T>(value.shape()), std::string(name)});
        });
    }

    void step() {
        profiler::scope timer("adam_step");
        ++t_;
        const double c1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
        const double c2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
        const T lr = static_cast<T>(cfg_.lr), b1 = static_cast<T>(cfg_.beta1), b2 = static_cast<T>(cfg_.beta2);
        const T eps = static_cast<T>(cfg_.eps), wd = static_cast<T>(cfg_.weight_decay);
        const T step_size = static_cast<T>(cfg_.lr / c1), inv_sqrt_c2 = static_cast<T>(1.0 / std::sqrt(c2));
        const bool decoupled = cfg_.decoupled_weight_decay;
        for (auto& s : slots_) {
            T* p = s.value->data();
            const T* g = s.grad->data();
            T* m = s.m.data();
            T* v = s.v.data();
            const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(s.value->size());
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
            for (std::ptrdiff_t i = 0; i < n; ++i) {
                T gi = g[i];
                if (wd != T(0)) {
                    if (decoupled)
                        p[i] *= T(1) - lr * wd;
                    else
                        gi += wd * p[i];
                }
                m[i] = b1 * m[i] + (T(1) - b1) * gi;
                v[i] = b2 * v[i] + (T(1) - b2) * gi * gi;
                p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
            }
        }
    }

    void zero_grad() {
        for (auto& s : slots_) s.grad->zero();
    }
    [[nodiscard]] double lr() const noexcept { return cfg_.lr; }
    void set_lr(double lr) noexcept { cfg_.lr = lr; }
    [[nodiscard]] long steps() const noexcept { return t_; }
    [[nodiscard]] const adam_cfg& config() const noexcept { return cfg_; }

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
        tensor<T>* value;
        tensor<T>* grad;
        tensor<T> m, v;
        std::string name;
    };
    adam_cfg cfg_;
    std::vector<slot> slots_;
    long t_ = 0;
};

/// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, PyTorch's defaults
/// (lr 1e-3, betas 0.9 / 0.999, eps 1e-8, weight_decay 1e-2). The configuration's
/// decoupled_weight_decay is forced on.
inline adam_cfg adamw_cfg(double lr = 1e-3, double weight_decay = 1e-2, double beta1 = 0.9, double beta2 = 0.999,
                          double eps = 1e-8) {
    return adam_cfg{lr, beta1, beta2, eps, weight_decay, true};
}

template <class T = float>
class adamw : public adam<T> {
public:
    template <class Model>
    adamw(Model& model, adam_cfg cfg = adamw_cfg()) : adam<T>(model, force_decoupled(cfg)) {}

private:
    static adam_cfg force_decoupled(adam_cfg c) {
        c.decoupled_weight_decay = true;
        return c;
    }
};

}  // namespace unetpp::optim
