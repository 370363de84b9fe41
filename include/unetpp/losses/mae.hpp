#pragma once
/// \file Mean absolute error (L1) between sigmoid probabilities and the target, seed 001 eq. 9:
///   MAE = sum_i |y_i - x_i| / n,  here with y = sigmoid(logits):
///   loss = mean_i |sigmoid(x_i) - t_i|,
///   dl/dx_i = sign(sigmoid(x_i) - t_i) sigmoid(x_i) (1 - sigmoid(x_i)) / count,
/// with sign(0) = 0 (torch's l1_loss gradient at a tie).

#include <cmath>
#include <cstddef>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

struct mae {
    static constexpr const char* name = "mae";

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_binary_inputs(name, logits, target);
        if (grad) grad->resize(logits.shape());
        const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(logits.size());
        const T* x = logits.data();
        const T* t = target.data();
        T* g = grad ? grad->data() : nullptr;
        const double inv_n = 1.0 / static_cast<double>(n);
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t i) {
            const double p = detail::stable_sigmoid(static_cast<double>(x[i])), d = p - t[i];
            if (g) {
                const double s = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
                // p (1 - p) = sigmoid(x) sigmoid(-x), exact for large |x|.
                g[i] = static_cast<T>(s * p * detail::stable_sigmoid(-static_cast<double>(x[i])) * inv_n);
            }
            return std::abs(d);
        });
        return static_cast<T>(sum * inv_n);
    }

    /// Weighted mean over pixels (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        detail::check_binary_inputs(name, logits, target);
        const auto w = detail::check_weights(name, logits, weight);
        return detail::weighted_mean(logits, w, grad, [&](std::size_t i, double& d) {
            const double x = logits[i], p = detail::stable_sigmoid(x), e = p - target[i];
            d = (e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0)) * p * detail::stable_sigmoid(-x);
            return std::abs(e);
        });
    }
};

}  // namespace unetpp::losses
