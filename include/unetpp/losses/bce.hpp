#pragma once
/// \file Binary cross-entropy on probabilities (torch.nn.functional.binary_cross_entropy, mean
/// reduction), for networks whose last layer is already a sigmoid, as in seed 002's Keras
/// model ("binary cross-entropy for managing binary segmentation pixel-by-pixel ... and for
/// handling binary classification") and seed 000's formula
///   BCE = -1/N sum_i [ y_i log(p_i) + (1 - y_i) log(1 - p_i) ].
///
/// Unlike every other loss here, the first argument is a probability map p in [0, 1] and the
/// gradient is d loss / d p. Prefer bce_with_logits on raw outputs: it is exact where this one
/// has to clamp.
///
/// Clamping, as torch does it (aten/src/ATen/native/Loss.cpp):
///   value     each log is clamped below at -100: log(0) counts as -100, so p = 0 with t = 1
///             costs 100 per pixel instead of infinity;
///   gradient  dl/dp = (p - t) / max(p (1 - p), eps) / count; eps keeps the gradient finite at
///             p = 0 and p = 1. torch's eps is 1e-12 stored as a float (9.99999996e-13, for
///             double inputs too); we use the same number so the clamped gradients agree exactly.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

struct bce {
    static constexpr const char* name = "bce";
    /// Lower clamp of each log term (torch's -100).
    static constexpr double log_floor = -100.0;
    /// Lower clamp of p (1 - p) in the gradient's denominator (torch's EPSILON, 1e-12f).
    static constexpr double grad_epsilon = static_cast<double>(1e-12f);

    /// `probabilities` in [0, 1] (a sigmoid output), `target` in [0, 1]. Returns the mean loss;
    /// writes d loss / d probabilities into *grad when given.
    template <class T>
    T operator()(const tensor<T>& probabilities, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_same_shape(name, probabilities, target);
        detail::check_finite(name, probabilities, "probabilities");
        const T* p = probabilities.data();
        const std::size_t count = probabilities.size();
        for (std::size_t i = 0; i < count; ++i)
            if (p[i] < T(0) || p[i] > T(1))
                throw std::invalid_argument(
                    std::string(name) + ": input value " + detail::number(static_cast<double>(p[i])) + " at " +
                    detail::position(probabilities.shape(), i) +
                    " is not a probability; bce takes sigmoid outputs in [0, 1] (use bce_with_logits on raw "
                    "network outputs)");
        detail::check_binary_target(name, target);
        if (grad) grad->resize(probabilities.shape());
        const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(count);
        const T* t = target.data();
        T* g = grad ? grad->data() : nullptr;
        const double inv_n = 1.0 / static_cast<double>(n);
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t i) {
            const double pi = p[i], ti = t[i];
            const double lp = std::max(std::log(pi), log_floor);
            const double lq = std::max(std::log1p(-pi), log_floor);
            if (g) g[i] = static_cast<T>((pi - ti) / std::max(pi * (1.0 - pi), grad_epsilon) * inv_n);
            return -(ti * lp + (1.0 - ti) * lq);
        });
        return static_cast<T>(sum * inv_n);
    }

    /// Weighted mean over pixels (see common.hpp); same clamping.
    template <class T>
    T operator()(const tensor<T>& probabilities, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        tensor<T> unused;
        (void)(*this)(probabilities, target, &unused);  // the input checks, with their messages
        const auto w = detail::check_weights(name, probabilities, weight);
        return detail::weighted_mean(probabilities, w, grad, [&](std::size_t i, double& d) {
            const double pi = probabilities[i], ti = target[i];
            d = (pi - ti) / std::max(pi * (1.0 - pi), grad_epsilon);
            return -(ti * std::max(std::log(pi), log_floor) + (1.0 - ti) * std::max(std::log1p(-pi), log_floor));
        });
    }
};

}  // namespace unetpp::losses
