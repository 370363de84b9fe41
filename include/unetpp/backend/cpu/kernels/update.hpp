#pragma once
/// \file Parameter updates and gradient reductions: the optimisers' steps (SGD, Adam), the sum of
/// squares behind gradient norms, and the finite check. Memory bound, parallel above a grain.

#include <cmath>
#include <cstddef>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "parallel.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

/// One SGD step on n elements (optim/sgd.hpp gives the rule; PyTorch's torch.optim.SGD).
template <class T>
void sgd_update(T* p, const T* gp, T* b, std::ptrdiff_t n, const sgd_step& st) {
    const T lr = static_cast<T>(st.lr), mu = static_cast<T>(st.momentum);
    const T damp = static_cast<T>(1.0 - st.dampening), wd = static_cast<T>(st.weight_decay);
    const bool first = st.first, nesterov = st.nesterov, use_momentum = st.momentum != 0;
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

/// One Adam step on n elements (optim/adam.hpp gives the rule; PyTorch's torch.optim.Adam/AdamW).
template <class T>
void adam_update(T* p, const T* g, T* m, T* v, std::ptrdiff_t n, const adam_step& st) {
    const T lr = static_cast<T>(st.lr), b1 = static_cast<T>(st.beta1), b2 = static_cast<T>(st.beta2);
    const T eps = static_cast<T>(st.eps), wd = static_cast<T>(st.weight_decay);
    const T step_size = static_cast<T>(st.step_size), inv_sqrt_c2 = static_cast<T>(st.inv_sqrt_c2);
    const bool decoupled = st.decoupled_weight_decay;
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

/// Sum of x[i]^2 in double, in an order fixed by n alone (ordered_sum).
template <class T>
double sum_squares(const T* x, std::ptrdiff_t n) {
    return ordered_sum(n, [&](std::ptrdiff_t i) { return static_cast<double>(x[i]) * static_cast<double>(x[i]); });
}

/// Whether every element is finite (no NaN, no infinity).
template <class T>
bool all_finite(const T* x, std::ptrdiff_t n) {
    const double bad = ordered_sum(n, [&](std::ptrdiff_t i) { return std::isfinite(x[i]) ? 0.0 : 1.0; });
    return bad == 0;
}

}  // namespace unetpp::backend::cpu_kernels
