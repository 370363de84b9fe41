#pragma once
/// \file Class-weighted binary cross-entropy on logits: weighted BCE with torch's `pos_weight`,
/// and balanced BCE whose weight comes from the batch's class frequencies. Seed 004 (section
/// 4.1): "Weighted cross entropy (WCE) ... assign different weight to each class. Skewed dataset
/// matches this method. Balanced Cross-Entropy resembles WCE".

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// torch.nn.functional.binary_cross_entropy_with_logits(x, t, pos_weight = w), mean reduction:
///   l = -[ w t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)) ]
///     = (1 - t) x + (1 + (w - 1) t) softplus(-x)                  (stable form, as torch computes it)
///   dl/dx = ((1 + (w - 1) t) sigmoid(x) - w t) / count.
/// w > 1 raises recall on the positive (foreground) class; w = (#negatives / #positives) of the
/// training set is the usual choice. A scalar weight (one foreground class).
struct weighted_bce {
    static constexpr const char* name = "weighted_bce";
    double pos_weight = 1.0;

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        if (!(pos_weight >= 0.0) || !std::isfinite(pos_weight))
            throw std::invalid_argument(std::string(name) + ": pos_weight " + detail::number(pos_weight) +
                                        " must be finite and >= 0");
        detail::check_binary_inputs(name, logits, target);
        if (grad) grad->resize(logits.shape());
        const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(logits.size());
        const T* x = logits.data();
        const T* t = target.data();
        T* g = grad ? grad->data() : nullptr;
        const double w = pos_weight, inv_n = 1.0 / static_cast<double>(n);
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t i) {
            const double xi = x[i], ti = t[i], lw = 1.0 + (w - 1.0) * ti;
            if (g) g[i] = static_cast<T>((lw * detail::stable_sigmoid(xi) - w * ti) * inv_n);
            return (1.0 - ti) * xi + lw * detail::softplus(-xi);
        });
        return static_cast<T>(sum * inv_n);
    }

    /// Weighted mean over pixels (see common.hpp); pos_weight applies on top.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        (void)(*this)(logits, target);  // the checks, with their messages
        const auto w = detail::check_weights(name, logits, weight);
        const double pw = pos_weight;
        return detail::weighted_mean(logits, w, grad, [&](std::size_t i, double& d) {
            const double xi = logits[i], ti = target[i], lw = 1.0 + (pw - 1.0) * ti;
            d = lw * detail::stable_sigmoid(xi) - pw * ti;
            return (1.0 - ti) * xi + lw * detail::softplus(-xi);
        });
    }
};

/// Balanced (class-balanced) BCE on logits, weight from the batch (Xie and Tu's HED form, the
/// "balanced cross-entropy" of the loss survey that seed 004 section 4 follows):
///   beta = 1 - mean(t)                 fraction of negative pixels in the whole batch (soft
///                                      targets count by their value); a constant (it depends
///                                      on the target only)
///   l_i  = -[ beta t log sigmoid(x) + (1 - beta) (1 - t) log(1 - sigmoid(x)) ]
///   loss = mean_i l_i,    dl/dx_i = ((beta t + (1 - beta)(1 - t)) sigmoid(x) - beta t) / count.
/// The rare class gets the large weight: with 5 % foreground, positives weigh 0.95 and
/// negatives 0.05. A batch with no positives has beta = 1, so only the (absent) positives would
/// count and the loss is 0; use it with batches that contain foreground, or weighted_bce.
struct balanced_bce {
    static constexpr const char* name = "balanced_bce";

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_binary_inputs(name, logits, target);
        if (grad) grad->resize(logits.shape());
        const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(logits.size());
        const T* x = logits.data();
        const T* t = target.data();
        T* g = grad ? grad->data() : nullptr;
        const double inv_n = 1.0 / static_cast<double>(n);
        double pos = 0;
        for (std::ptrdiff_t i = 0; i < n; ++i) pos += t[i];
        const double beta = 1.0 - pos * inv_n;
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t i) {
            const double xi = x[i], ti = t[i];
            // -log sigmoid(x) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x).
            if (g)
                g[i] = static_cast<T>(((beta * ti + (1.0 - beta) * (1.0 - ti)) * detail::stable_sigmoid(xi) -
                                       beta * ti) *
                                      inv_n);
            return beta * ti * detail::softplus(-xi) + (1.0 - beta) * (1.0 - ti) * detail::softplus(xi);
        });
        return static_cast<T>(sum * inv_n);
    }

    /// Weighted (see common.hpp): beta = 1 - sum w t / sum w, then the weighted mean.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        detail::check_binary_inputs(name, logits, target);
        const auto w = detail::check_weights(name, logits, weight);
        const double pos = backend::cpu_kernels::ordered_sum(static_cast<std::ptrdiff_t>(logits.size()), [&](std::ptrdiff_t k) {
            return w(static_cast<std::size_t>(k)) * static_cast<double>(target[static_cast<std::size_t>(k)]);
        });
        const double beta = w.total > 0 ? 1.0 - pos / w.total : 1.0;
        return detail::weighted_mean(logits, w, grad, [&](std::size_t i, double& d) {
            const double xi = logits[i], ti = target[i];
            d = (beta * ti + (1.0 - beta) * (1.0 - ti)) * detail::stable_sigmoid(xi) - beta * ti;
            return beta * ti * detail::softplus(-xi) + (1.0 - beta) * (1.0 - ti) * detail::softplus(xi);
        });
    }
};

}  // namespace unetpp::losses
