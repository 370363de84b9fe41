#pragma once
/// \file Kernel bodies of batch norm (backend/cpu/kernels/batch_norm.hpp's formulas) and of the
/// per-channel bias-gradient sum. The statistics of channel ch are reduced by one block of
/// channel_threads: thread t sums in double the elements t, t + channel_threads, ... of every
/// sample's plane, samples in order, and the block adds the threads' sums with the tree of hd.hpp. A reduction body has
///   partial(ch, t)        thread t's sum (before the tree),
///   finish(ch, total)     run by thread 0 after the tree (per-channel outputs),
///   apply(ch, t, total)   thread t's share of the per-element pass that follows.
/// The CPU sums in float per sample and in double across samples, so the statistics agree to
/// rounding, not to the bit; the element-wise maps (eval, apply_saved, fold) are the CPU's exactly.

#include <cstddef>

#include "../../../config/abi.hpp"
#include "../hd.hpp"
#include "eltwise.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::bodies {

/// Two sums reduced together (a trivially constructible aggregate, so it can live in shared memory).
struct sum2 {
    double a, b;
    UNETPP_HD sum2& operator+=(const sum2& o) {
        a += o.a;
        b += o.b;
        return *this;
    }
};

/// y = act(x * scale + shift).
UNETPP_HD inline float scale_shift(float x, float scale, float shift, bool relu) {
    const float v = x * scale + shift;
    return relu ? (v > 0.0f ? v : 0.0f) : v;
}

/// The training forward. Its kernel runs two trees per channel: sums (partial_sum), then centred
/// squares about the float mean (partial_sq); then finish and apply.
struct batch_norm_forward_train {
    const float* x;
    float* y;
    int n, c;
    std::ptrdiff_t plane;
    const float *gamma, *beta;
    float eps, momentum;
    float *running_mean, *running_var, *save_mean, *save_invstd;
    bool relu;

    UNETPP_HD double count() const { return static_cast<double>(n) * static_cast<double>(plane); }
    UNETPP_HD const float* channel(int s, int ch) const {
        return x + (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
    }
    UNETPP_HD double partial_sum(int ch, int t) const {
        double acc = 0;
        for (int s = 0; s < n; ++s) {
            const float* xp = channel(s, ch);
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads) acc += static_cast<double>(xp[i]);
        }
        return acc;
    }
    /// Thread t's sum of (x - mean)^2, the square taken in float as on the CPU.
    UNETPP_HD double partial_sq(int ch, int t, double sum) const {
        const float m = static_cast<float>(sum / count());
        double acc = 0;
        for (int s = 0; s < n; ++s) {
            const float* xp = channel(s, ch);
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads)
                acc += static_cast<double>((xp[i] - m) * (xp[i] - m));
        }
        return acc;
    }
    UNETPP_HD float invstd(double sq) const {
        return static_cast<float>(1.0 / hd_sqrt(sq / count() + static_cast<double>(eps)));
    }
    /// Thread 0: saved statistics and the running ones (unbiased variance, PyTorch's momentum).
    UNETPP_HD void finish(int ch, double sum, double sq) const {
        const double mean = sum / count(), var = sq / count();
        save_mean[ch] = static_cast<float>(mean);
        save_invstd[ch] = invstd(sq);
        const double unbiased = count() > 1 ? sq / (count() - 1) : var;
        running_mean[ch] =
            static_cast<float>((1 - static_cast<double>(momentum)) * running_mean[ch] + momentum * mean);
        running_var[ch] =
            static_cast<float>((1 - static_cast<double>(momentum)) * running_var[ch] + momentum * unbiased);
    }
    UNETPP_HD void apply(int ch, int t, double sum, double sq) const {
        const float inv = invstd(sq);
        const float sc = gamma[ch] * inv, sh = beta[ch] - static_cast<float>(sum / count()) * sc;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads) y[off + i] = scale_shift(x[off + i], sc, sh, relu);
        }
    }
};

/// y = act(x * scale + shift) with scale = gamma * invstd, shift = beta - mean * scale (saved stats).
struct batch_norm_apply_saved {
    const float* x;
    float* y;
    int c;
    std::ptrdiff_t plane;
    const float *gamma, *beta, *save_mean, *save_invstd;
    bool relu;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const int ch = channel_of(i, c, plane);
        const float sc = gamma[ch] * save_invstd[ch], sh = beta[ch] - save_mean[ch] * sc;
        y[i] = scale_shift(x[i], sc, sh, relu);
    }
};

/// The eval-mode affine map of channel ch: scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
UNETPP_HD inline void eval_affine(const float* gamma, const float* beta, float eps, const float* mean,
                                  const float* var, int ch, float& sc, float& sh) {
    sc = gamma[ch] / hd_sqrt(var[ch] + eps);
    sh = beta[ch] - mean[ch] * sc;
}
struct batch_norm_forward_eval {
    const float* x;
    float* y;
    int c;
    std::ptrdiff_t plane;
    const float *gamma, *beta;
    float eps;
    const float *running_mean, *running_var;
    bool relu;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        float sc, sh;
        eval_affine(gamma, beta, eps, running_mean, running_var, channel_of(i, c, plane), sc, sh);
        y[i] = scale_shift(x[i], sc, sh, relu);
    }
};
/// Item ch of c.
struct batch_norm_fold {
    const float *gamma, *beta;
    float eps;
    const float *mean, *var;
    float *scale_, *shift;
    UNETPP_HD void operator()(std::ptrdiff_t ch) const {
        eval_affine(gamma, beta, eps, mean, var, static_cast<int>(ch), scale_[ch], shift[ch]);
    }
};

/// dy masked by relu_out > 0 when relu_out is given (the fused BN+ReLU backward).
UNETPP_HD inline float masked_grad(const float* dy, const float* relu_out, std::ptrdiff_t i) {
    return relu_out && !(relu_out[i] > 0.0f) ? 0.0f : dy[i];
}

/// The training backward: sums a = sum(g), b = sum(g * (x - mean)); dgamma += b * invstd,
/// dbeta += a, dx = gamma * invstd / M * (M * g - dbeta_ch - xhat * dgamma_ch).
struct batch_norm_backward_train {
    const float *x, *dy;
    float* dx;
    int n, c;
    std::ptrdiff_t plane;
    const float *gamma, *save_mean, *save_invstd;
    float *dgamma, *dbeta;
    const float* relu_out;

    UNETPP_HD sum2 partial(int ch, int t) const {
        const float mean = save_mean[ch];
        sum2 acc{0, 0};
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads) {
                const float g = masked_grad(dy, relu_out, off + i);
                acc.a += static_cast<double>(g);
                acc.b += static_cast<double>(g * (x[off + i] - mean));
            }
        }
        return acc;
    }
    UNETPP_HD void finish(int ch, sum2 total) const {
        dgamma[ch] += static_cast<float>(total.b) * save_invstd[ch];
        dbeta[ch] += static_cast<float>(total.a);
    }
    UNETPP_HD void apply(int ch, int t, sum2 total) const {
        const float count = static_cast<float>(static_cast<double>(n) * static_cast<double>(plane));
        const float mean = save_mean[ch], invstd = save_invstd[ch];
        const float dg = static_cast<float>(total.b) * invstd, db = static_cast<float>(total.a);
        const float k = gamma[ch] * invstd / count;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads) {
                const float xhat = (x[off + i] - mean) * invstd;
                const float g = masked_grad(dy, relu_out, off + i);
                dx[off + i] = k * (count * g - db - xhat * dg);
            }
        }
    }
};

/// The eval backward (statistics constant): dx = g * gamma * invstd; dgamma += sum(g * xhat),
/// dbeta += sum(g).
struct batch_norm_backward_eval {
    const float *x, *dy;
    float* dx;
    int n, c;
    std::ptrdiff_t plane;
    const float* gamma;
    float eps;
    const float *running_mean, *running_var;
    float *dgamma, *dbeta;
    const float* relu_out;

    UNETPP_HD float invstd(int ch) const { return 1.0f / hd_sqrt(running_var[ch] + eps); }
    UNETPP_HD sum2 partial(int ch, int t) const {
        const float inv = invstd(ch), mean = running_mean[ch];
        sum2 acc{0, 0};
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads) {
                const float g = masked_grad(dy, relu_out, off + i);
                acc.a += static_cast<double>(g);
                acc.b += static_cast<double>(g * (x[off + i] - mean) * inv);
            }
        }
        return acc;
    }
    UNETPP_HD void finish(int ch, sum2 total) const {
        dgamma[ch] += static_cast<float>(total.b);
        dbeta[ch] += static_cast<float>(total.a);
    }
    UNETPP_HD void apply(int ch, int t, sum2) const {
        const float inv = invstd(ch);
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads)
                dx[off + i] = masked_grad(dy, relu_out, off + i) * gamma[ch] * inv;
        }
    }
};

/// db[ch] += sum over samples and pixels of dy (a convolution's bias gradient).
struct channel_sum_accumulate {
    const float* dy;
    float* db;
    int n, c;
    std::ptrdiff_t plane;
    UNETPP_HD double partial(int ch, int t) const {
        double acc = 0;
        for (int s = 0; s < n; ++s) {
            const float* p = dy + (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = t; i < plane; i += channel_threads) acc += static_cast<double>(p[i]);
        }
        return acc;
    }
    UNETPP_HD void finish(int ch, double total) const { db[ch] += static_cast<float>(total); }
    UNETPP_HD void apply(int, int, double) const {}
};

}  // namespace unetpp::cuda_kernels::bodies
