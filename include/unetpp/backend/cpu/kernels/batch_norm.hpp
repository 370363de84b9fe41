#pragma once
/// \file BatchNorm2d kernels (per-channel statistics over N, H, W; PyTorch semantics).

#include <cmath>
#include <cstddef>

#include "parallel.hpp"

namespace unetpp::backend::cpu_kernels {

/// Training forward: normalises with batch statistics, stores mean and 1/sqrt(var + eps) for the
/// backward pass, and updates running statistics with the unbiased variance (as PyTorch).
template <class T>
void batch_norm_forward_train(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma, const T* beta,
                              T eps, T momentum, T* running_mean, T* running_var, T* save_mean, T* save_invstd) {
    const double count = static_cast<double>(n) * static_cast<double>(plane);
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int ch = 0; ch < c; ++ch) {
        // Two passes in double: the mean first, then centred squares, for accuracy at large N*H*W.
        double sum = 0;
        for (int s = 0; s < n; ++s) {
            const T* xp = x + (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            T part = 0;
            for (std::ptrdiff_t i = 0; i < plane; ++i) part += xp[i];
            sum += part;
        }
        const double mean = sum / count;
        double sq = 0;
        for (int s = 0; s < n; ++s) {
            const T* xp = x + (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            const T m = static_cast<T>(mean);
            T part = 0;
            for (std::ptrdiff_t i = 0; i < plane; ++i) part += (xp[i] - m) * (xp[i] - m);
            sq += part;
        }
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
            for (std::ptrdiff_t i = 0; i < plane; ++i) y[off + i] = x[off + i] * scale + shift;
        }
    }
}

/// Inference forward with running statistics: y = x * scale + shift per channel.
template <class T>
void batch_norm_forward_eval(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma, const T* beta,
                             T eps, const T* running_mean, const T* running_var) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int ch = 0; ch < c; ++ch) {
            const T scale = gamma[ch] / std::sqrt(running_var[ch] + eps);
            const T shift = beta[ch] - running_mean[ch] * scale;
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = 0; i < plane; ++i) y[off + i] = x[off + i] * scale + shift;
        }
}

/// Backward through training-mode batch norm. With xhat = (x - mean) * invstd:
///   dgamma = sum(dy * xhat), dbeta = sum(dy),
///   dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma), M = N*H*W.
/// dgamma and dbeta are accumulated.
template <class T>
void batch_norm_backward_train(const T* x, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane, const T* gamma,
                               const T* save_mean, const T* save_invstd, T* dgamma, T* dbeta) {
    const T count = static_cast<T>(static_cast<double>(n) * static_cast<double>(plane));
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int ch = 0; ch < c; ++ch) {
        const T mean = save_mean[ch], invstd = save_invstd[ch];
        double sdy = 0, sdyx = 0;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            T a = 0, b = 0;
            for (std::ptrdiff_t i = 0; i < plane; ++i) {
                a += dy[off + i];
                b += dy[off + i] * (x[off + i] - mean);
            }
            sdy += a;
            sdyx += b;
        }
        const T dg = static_cast<T>(sdyx) * invstd, db = static_cast<T>(sdy);
        dgamma[ch] += dg;
        dbeta[ch] += db;
        const T k = gamma[ch] * invstd / count;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = 0; i < plane; ++i) {
                const T xhat = (x[off + i] - mean) * invstd;
                dx[off + i] = k * (count * dy[off + i] - db - xhat * dg);
            }
        }
    }
}

/// Backward through eval-mode batch norm (statistics are constants): dx = dy * gamma * invstd.
template <class T>
void batch_norm_backward_eval(const T* x, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane, const T* gamma,
                              T eps, const T* running_mean, const T* running_var, T* dgamma, T* dbeta) {
    for (int ch = 0; ch < c; ++ch) {
        const T invstd = T(1) / std::sqrt(running_var[ch] + eps);
        double sdy = 0, sdyx = 0;
        for (int s = 0; s < n; ++s) {
            const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(s) * c + ch) * plane;
            for (std::ptrdiff_t i = 0; i < plane; ++i) {
                sdy += dy[off + i];
                sdyx += dy[off + i] * (x[off + i] - running_mean[ch]) * invstd;
                dx[off + i] = dy[off + i] * gamma[ch] * invstd;
            }
        }
        dgamma[ch] += static_cast<T>(sdyx);
        dbeta[ch] += static_cast<T>(sdy);
    }
}

}  // namespace unetpp::backend::cpu_kernels
