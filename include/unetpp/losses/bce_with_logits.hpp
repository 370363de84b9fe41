#pragma once
/// \file Binary cross-entropy on logits, the numerically stable form of torch's
/// binary_cross_entropy_with_logits (mean reduction):
///   l(x, t) = max(x, 0) - x t + log(1 + exp(-|x|)),   dl/dx = (sigmoid(x) - t) / count.

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include "../config/abi.hpp"
#include "../backend/cpu/kernels/parallel.hpp"
#include "../tensor/numeric.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// Mean binary cross-entropy of `logits` against `target` (values in [0, 1]), computed from the
/// logits so that large magnitudes neither overflow nor lose precision.
struct bce_with_logits {
    static constexpr const char* name = "bce_with_logits";

    /// Returns the loss and, when `grad` is given, writes dloss/dlogits into it (resized).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_binary_inputs(name, logits, target);
        const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(logits.size());
        if (grad) grad->resize(logits.shape());
        const T inv_n = T(1) / static_cast<T>(n);
        const T* x = logits.data();
        const T* t = target.data();
        T* g = grad ? grad->data() : nullptr;
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t i) {
            const T v = x[i];
            if (g) g[i] = (numeric::stable_sigmoid(v) - t[i]) * inv_n;
            return static_cast<double>((v > T(0) ? v : T(0)) - v * t[i] + std::log1p(std::exp(-std::abs(v))));
        });
        return static_cast<T>(sum / static_cast<double>(n));
    }

    /// Weighted mean over pixels: sum w_i l_i / sum w_i (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        detail::check_binary_inputs(name, logits, target);
        const auto w = detail::check_weights(name, logits, weight);
        return detail::weighted_mean(logits, w, grad, [&](std::size_t i, double& d) {
            const double v = logits[i], t = target[i];
            d = detail::stable_sigmoid(v) - t;
            return detail::bce_logit(v, t);
        });
    }
};

}  // namespace unetpp::losses
