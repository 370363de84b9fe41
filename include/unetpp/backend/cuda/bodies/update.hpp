#pragma once
/// \file Kernel bodies of the optimiser steps (backend/cpu/kernels/update.hpp's arithmetic, the
/// same float expressions) and of the two whole-tensor reductions. A reduction runs in two
/// stages: reduction_blocks(n) blocks each reduce the elements b * block_threads + t + k * stride
/// (thread t, stride = blocks * block_threads) in double with hd.hpp's tree into one partial per
/// block; then one block reduces the partials (thread t takes partials t, t + block_threads, ...)
/// with the same tree. The order depends on n only.

#include <cstddef>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "../hd.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::bodies {

/// The float constants of one SGD step, converted once as the CPU does.
struct sgd_constants {
    float lr, mu, damp, wd;
    bool first, nesterov, use_momentum;
    static sgd_constants from(const backend::sgd_step& st) {
        return {static_cast<float>(st.lr),          static_cast<float>(st.momentum),
                static_cast<float>(1.0 - st.dampening), static_cast<float>(st.weight_decay),
                st.first,                           st.nesterov,
                st.momentum != 0};
    }
};
struct sgd_update {
    float* p;
    const float* gp;
    float* b;  // momentum buffer (unused without momentum)
    sgd_constants k;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        float g = gp[i];
        if (k.wd != 0.0f) g += k.wd * p[i];
        if (k.use_momentum) {
            b[i] = k.first ? g : k.mu * b[i] + k.damp * g;
            g = k.nesterov ? g + k.mu * b[i] : b[i];
        }
        p[i] -= k.lr * g;
    }
};

/// The float constants of one Adam step.
struct adam_constants {
    float lr, b1, b2, eps, wd, step_size, inv_sqrt_c2;
    bool decoupled;
    static adam_constants from(const backend::adam_step& st) {
        return {static_cast<float>(st.lr),        static_cast<float>(st.beta1),
                static_cast<float>(st.beta2),     static_cast<float>(st.eps),
                static_cast<float>(st.weight_decay), static_cast<float>(st.step_size),
                static_cast<float>(st.inv_sqrt_c2), st.decoupled_weight_decay};
    }
};
struct adam_update {
    float* p;
    const float* g;
    float *m, *v;
    adam_constants k;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        float gi = g[i];
        if (k.wd != 0.0f) {
            if (k.decoupled)
                p[i] *= 1.0f - k.lr * k.wd;
            else
                gi += k.wd * p[i];
        }
        m[i] = k.b1 * m[i] + (1.0f - k.b1) * gi;
        v[i] = k.b2 * v[i] + (1.0f - k.b2) * gi * gi;
        p[i] -= k.step_size * m[i] / (hd_sqrt(v[i]) * k.inv_sqrt_c2 + k.eps);
    }
};

/// Terms of sum_squares: x[i]^2 in double.
struct square_terms {
    const float* x;
    UNETPP_HD double operator()(std::ptrdiff_t i) const {
        const double v = static_cast<double>(x[i]);
        return v * v;
    }
};
/// Terms of all_finite: 1 for a NaN or an infinity, else 0 (the result is "the sum is 0").
struct nonfinite_terms {
    const float* x;
    UNETPP_HD double operator()(std::ptrdiff_t i) const { return hd_isfinite(x[i]) ? 0.0 : 1.0; }
};

/// Stage 1, thread t of block b of `blocks`: its strided share of the n terms.
template <class Terms>
UNETPP_HD double reduction_partial(const Terms& term, std::ptrdiff_t n, int blocks, int b, int t) {
    const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(blocks) * block_threads;
    double acc = 0;
    for (std::ptrdiff_t i = static_cast<std::ptrdiff_t>(b) * block_threads + t; i < n; i += stride) acc += term(i);
    return acc;
}
/// Stage 2, thread t of the single block: its share of the `blocks` partials.
UNETPP_HD inline double partials_share(const double* partials, int blocks, int t) {
    double acc = 0;
    for (int i = t; i < blocks; i += block_threads) acc += partials[i];
    return acc;
}

}  // namespace unetpp::cuda_kernels::bodies
