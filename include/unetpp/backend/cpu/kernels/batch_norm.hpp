#pragma once
/// \file BatchNorm2d kernels (per-channel statistics over N, H, W; PyTorch semantics).

#include <cmath>
#include <cstddef>

#include "../../../config/abi.hpp"
#include "parallel.hpp"
#include "reduce.hpp"  // lane_sum, tree_sum: the per-plane sums in a fixed order

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

namespace detail {
/// y = x * scale + shift, optionally followed by ReLU (the fused Conv-BN-ReLU blocks' last two
/// steps in one pass over memory).
template <class T>
inline void scale_shift(const T* x, T* y, std::ptrdiff_t n, T scale, T shift, bool relu) {
    if (relu) {
#pragma omp simd
        for (std::ptrdiff_t i = 0; i < n; ++i) {
            const T v = x[i] * scale + shift;
            y[i] = v > T(0) ? v : T(0);
        }
    } else {
#pragma omp simd
        for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
    }
}

/// sum of (x[i] - m)^2 over [0, n).
template <class T>
inline T lane_centred_squares(const T* x, std::ptrdiff_t n, T m) noexcept {
    return lane_sums_of<T, 1>(n, [x, m](std::ptrdiff_t i) { return std::array<T, 1>{(x[i] - m) * (x[i] - m)}; })[0];
}

/// a = sum of g[i], b = sum of g[i] (x[i] - m) over [0, n), with g = dy, or dy where relu_out > 0
/// and 0 elsewhere when relu_out is set (two loops, so that neither tests relu_out per element).
template <class T>
inline void lane_grad_sums(const T* x, const T* dy, const T* relu_out, std::ptrdiff_t n, T m, T& a, T& b) noexcept {
    std::array<T, 2> s;
    if (relu_out)
        s = lane_sums_of<T, 2>(n, [=](std::ptrdiff_t i) {
            const T g = relu_out[i] > T(0) ? dy[i] : T(0);
            return std::array<T, 2>{g, g * (x[i] - m)};
        });
    else
        s = lane_sums_of<T, 2>(n, [=](std::ptrdiff_t i) { return std::array<T, 2>{dy[i], dy[i] * (x[i] - m)}; });
    a = s[0];
    b = s[1];
}
}  // namespace detail

/// The eval-mode normalisation of channel ch as an affine map y = scale * x + shift:
/// scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale. The eval forward
/// uses it, and so does a convolution that folds the norm into its weights.
template <class T>
inline void batch_norm_eval_affine(const T* gamma, const T* beta, T eps, const T* running_mean, const T* running_var,
                                   int ch, T& scale, T& shift) {
    scale = gamma[ch] / std::sqrt(running_var[ch] + eps);
    shift = beta[ch] - running_mean[ch] * scale;
}

/// The eval-mode norm of c channels as a per-channel affine map (batch_norm_eval_affine per
/// channel), written to scale[0..c) and shift[0..c): what a convolution folds into its weights.
template <class T>
void batch_norm_fold(const T* gamma, const T* beta, T eps, const T* running_mean, const T* running_var, int c,
                     T* scale, T* shift) {
    for (int ch = 0; ch < c; ++ch)
        batch_norm_eval_affine(gamma, beta, eps, running_mean, running_var, ch, scale[ch], shift[ch]);
}

/// Training forward: normalises with batch statistics, stores mean and 1/sqrt(var + eps) for the
/// backward pass, and updates running statistics with the unbiased variance (as PyTorch).
template <class T>
void batch_norm_forward_train(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma, const T* beta,
                              T eps, T momentum, T* running_mean, T* running_var, T* save_mean, T* save_invstd,
                              bool relu = false) {
    const double count = static_cast<double>(n) * static_cast<double>(plane);
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int ch = 0; ch < c; ++ch) {
        // Two passes in double: the mean first, then centred squares, for accuracy at large N*H*W.
        // Each image's plane in T with detail::reduce_lanes lanes, the images in double.
        double sum = 0;
        for (int s = 0; s < n; ++s)
            sum += detail::lane_sum(x + (static_cast<std::ptrdiff_t>(s) * c + ch) * plane, plane);
        const double mean = sum / count;
        double sq = 0;
        for (int s = 0; s < n; ++s)
            sq += detail::lane_centred_squares(x + (static_cast<std::ptrdiff_t>(s) * c + ch) * plane, plane,
                                               static_cast<T>(mean));
        const double var = sq / count;
        const T invstd = static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(eps)));
        save_mean[ch] = static_cast<T>(mean);
        save_invstd[ch] = invstd;
        const double unbiased = count > 1 ? sq / (count - 1) : var;
        running_mean[ch] = static_cast<T>((1 - static_cast<double>(momentum)) * running_mean[ch] + momentum * mean);
        running_var[ch] = static_cast<T>((1 - static_cast<double>(momentum)) * running_var[ch] + momentum * unbiased);
        const T scale = gamma[ch] * invstd, shift = beta[ch] - static_cast<T>(mean) * scale;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            detail::scale_shift(x + off, y + off, plane, scale, shift, relu);
        }
    }
}

/// The last step of the training forward again, from the statistics it saved: y = x * scale +
/// shift with scale = gamma * invstd and shift = beta - mean * scale (the same arithmetic as
/// batch_norm_forward_train, so the result is bit-identical). A block that does not keep a batch
/// norm's output for backward recomputes it with this (see sequential).
template <class T>
void batch_norm_apply_saved(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma, const T* beta,
                            const T* save_mean, const T* save_invstd, bool relu = false) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int ch = 0; ch < c; ++ch) {
            const T scale = gamma[ch] * save_invstd[ch], shift = beta[ch] - save_mean[ch] * scale;
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            detail::scale_shift(x + off, y + off, plane, scale, shift, relu);
        }
}

/// Inference forward with running statistics: y = x * scale + shift per channel.
template <class T>
void batch_norm_forward_eval(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma, const T* beta,
                             T eps, const T* running_mean, const T* running_var, bool relu = false) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int ch = 0; ch < c; ++ch) {
            T scale, shift;
            batch_norm_eval_affine(gamma, beta, eps, running_mean, running_var, ch, scale, shift);
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            detail::scale_shift(x + off, y + off, plane, scale, shift, relu);
        }
}

/// Backward through training-mode batch norm. With xhat = (x - mean) * invstd:
///   dgamma = sum(dy * xhat), dbeta = sum(dy),
///   dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma), M = N*H*W.
/// dgamma and dbeta are accumulated.
///
/// With `relu_out` (the output of a fused BN+ReLU forward), dy is first masked by relu_out > 0.
template <class T>
void batch_norm_backward_train(const T* x, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane, const T* gamma,
                               const T* save_mean, const T* save_invstd, T* dgamma, T* dbeta,
                               const T* relu_out = nullptr) {
    const T count = static_cast<T>(static_cast<double>(n) * static_cast<double>(plane));
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int ch = 0; ch < c; ++ch) {
        const T mean = save_mean[ch], invstd = save_invstd[ch];
        double sdy = 0, sdyx = 0;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            T a, b;
            detail::lane_grad_sums(x + off, dy + off, relu_out ? relu_out + off : nullptr, plane, mean, a, b);
            sdy += a;
            sdyx += b;
        }
        const T dg = static_cast<T>(sdyx) * invstd, db = static_cast<T>(sdy);
        dgamma[ch] += dg;
        dbeta[ch] += db;
        const T k = gamma[ch] * invstd / count;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            const T* xs = x + off;
            const T* dys = dy + off;
            T* dxs = dx + off;
            if (relu_out) {  // two loops, so that each vectorises without a test of relu_out inside
                const T* rs = relu_out + off;
#pragma omp simd
                for (std::ptrdiff_t i = 0; i < plane; ++i) {
                    const T xhat = (xs[i] - mean) * invstd;
                    const T g = rs[i] > T(0) ? dys[i] : T(0);
                    dxs[i] = k * (count * g - db - xhat * dg);
                }
            } else {
#pragma omp simd
                for (std::ptrdiff_t i = 0; i < plane; ++i) {
                    const T xhat = (xs[i] - mean) * invstd;
                    dxs[i] = k * (count * dys[i] - db - xhat * dg);
                }
            }
        }
    }
}

/// Backward through eval-mode batch norm (statistics are constants): dx = dy * gamma * invstd.
template <class T>
void batch_norm_backward_eval(const T* x, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane, const T* gamma,
                              T eps, const T* running_mean, const T* running_var, T* dgamma, T* dbeta,
                              const T* relu_out = nullptr) {
    for (int ch = 0; ch < c; ++ch) {
        const T invstd = T(1) / std::sqrt(running_var[ch] + eps);
        double sdy = 0, sdyx = 0;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = 0; i < plane; ++i) {
                const T g = relu_out && !(relu_out[off + i] > T(0)) ? T(0) : dy[off + i];
                sdy += g;
                sdyx += g * (x[off + i] - running_mean[ch]) * invstd;
                dx[off + i] = g * gamma[ch] * invstd;
            }
        }
        dgamma[ch] += static_cast<T>(sdyx);
        dbeta[ch] += static_cast<T>(sdy);
    }
}

}  // namespace unetpp::backend::cpu_kernels
