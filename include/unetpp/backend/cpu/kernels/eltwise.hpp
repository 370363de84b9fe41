#pragma once
/// \file Element-wise CPU kernels: activations, dropout masks, sums. Memory bound; written as
/// plain loops the compiler vectorises, parallel above a grain size.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "../../../config/abi.hpp"
#include "../../../tensor/numeric.hpp"
#include "parallel.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

namespace detail {
/// Applies `vec(batch)` over full SIMD batches and `scalar(value)` over the tail, in parallel
/// chunks aligned to the batch size. Used for the float activations; other types (double for
/// gradient checks) take the scalar path only.
template <class T, class Vec, class Scalar>
void simd_map(const T* x, T* y, std::ptrdiff_t n, Vec vec, Scalar scalar) {
    using batch = xsimd::batch<T>;
    constexpr std::ptrdiff_t w = static_cast<std::ptrdiff_t>(batch::size);
    const std::ptrdiff_t chunk = 4096;
    const std::ptrdiff_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t c = 0; c < chunks; ++c) {
        const std::ptrdiff_t lo = c * chunk, hi = std::min(n, lo + chunk);
        std::ptrdiff_t i = lo;
        for (; i + w <= hi; i += w) vec(batch::load_unaligned(x + i)).store_unaligned(y + i);
        for (; i < hi; ++i) y[i] = scalar(x[i]);
    }
}
}  // namespace detail

template <class T>
void relu_forward(const T* x, T* y, std::ptrdiff_t n) {
    if constexpr (std::is_same_v<T, float>) {
        detail::simd_map(
            x, y, n, [](auto v) { return xsimd::max(v, decltype(v)(0.0f)); },
            [](float v) { return v > 0.0f ? v : 0.0f; });
    } else {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
        for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
    }
}
/// dx = dy where x > 0 (PyTorch's convention: the gradient at exactly 0 is 0).
template <class T>
void relu_backward(const T* x, const T* dy, T* dx, std::ptrdiff_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

template <class T>
void leaky_relu_forward(const T* x, T* y, std::ptrdiff_t n, T slope) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}
template <class T>
void leaky_relu_backward(const T* x, const T* dy, T* dx, std::ptrdiff_t n, T slope) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i];
}

using numeric::stable_sigmoid;  // tensor/numeric.hpp
template <class T>
void sigmoid_forward(const T* x, T* y, std::ptrdiff_t n) {
    if constexpr (std::is_same_v<T, float>) {
        // 1 / (1 + e^-|x|) mirrored for negative x: exp never overflows.
        detail::simd_map(
            x, y, n,
            [](auto v) {
                using b = decltype(v);
                const b e = xsimd::exp(-xsimd::abs(v));
                const b pos = b(1.0f) / (b(1.0f) + e);
                return xsimd::select(v >= b(0.0f), pos, b(1.0f) - pos);
            },
            [](float v) { return stable_sigmoid(v); });
    } else {
#pragma omp parallel for schedule(static) if (n > parallel_grain)
        for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = stable_sigmoid(x[i]);
    }
}
/// Uses the forward output: dx = dy * y * (1 - y).
template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, std::ptrdiff_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

/// Softmax over the channel axis of an NCHW tensor (max-subtracted for stability).
template <class T>
void softmax_channels_forward(const T* x, T* y, int n, int c, std::ptrdiff_t plane) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * plane * c > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (std::ptrdiff_t p = 0; p < plane; ++p) {
            const T* xs = x + static_cast<std::ptrdiff_t>(s) * c * plane + p;
            T* ys = y + static_cast<std::ptrdiff_t>(s) * c * plane + p;
            T m = xs[0];
            for (int k = 1; k < c; ++k) m = std::max(m, xs[k * plane]);
            T sum = 0;
            for (int k = 0; k < c; ++k) {
                const T e = std::exp(xs[k * plane] - m);
                ys[k * plane] = e;
                sum += e;
            }
            const T inv = T(1) / sum;
            for (int k = 0; k < c; ++k) ys[k * plane] *= inv;
        }
}
/// dx_k = y_k * (dy_k - sum_j dy_j y_j).
template <class T>
void softmax_channels_backward(const T* y, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * plane * c > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (std::ptrdiff_t p = 0; p < plane; ++p) {
            const std::ptrdiff_t base = static_cast<std::ptrdiff_t>(s) * c * plane + p;
            T dot = 0;
            for (int k = 0; k < c; ++k) dot += dy[base + k * plane] * y[base + k * plane];
            for (int k = 0; k < c; ++k) dx[base + k * plane] = y[base + k * plane] * (dy[base + k * plane] - dot);
        }
}

/// y = x * mask, where mask already holds 0 or 1/(1-p) (inverted dropout).
template <class T>
void multiply(const T* x, const T* mask, T* y, std::ptrdiff_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = x[i] * mask[i];
}

/// y = a + b.
template <class T>
void add(const T* a, const T* b, T* y, std::ptrdiff_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}
/// y += x.
template <class T>
void accumulate(const T* x, T* y, std::ptrdiff_t n) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) y[i] += x[i];
}

/// x *= s.
template <class T>
void scale(T* x, std::ptrdiff_t n, T s) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) x[i] *= s;
}
/// x = min(max(x, lo), hi).
template <class T>
void clamp(T* x, std::ptrdiff_t n, T lo, T hi) {
#pragma omp parallel for simd schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) x[i] = std::clamp(x[i], lo, hi);
}

/// y[s, k, :] = x[s, k, :] * g[s, 0, :] for n samples of c channels of `plane` pixels: a
/// one-channel map gating every channel (attention gates).
template <class T>
void multiply_planes(const T* x, const T* g, T* y, int n, int c, std::ptrdiff_t plane) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int k = 0; k < c; ++k) {
            const std::ptrdiff_t o = (static_cast<std::ptrdiff_t>(s) * c + k) * plane;
            const T* gp = g + static_cast<std::ptrdiff_t>(s) * plane;
            for (std::ptrdiff_t i = 0; i < plane; ++i) y[o + i] = x[o + i] * gp[i];
        }
}
/// The adjoint of multiply_planes: dx = dy * g, and dg[s, 0, :] += sum over k of dy * x (the
/// channels are added in order, so the result does not depend on the thread count).
template <class T>
void multiply_planes_backward(const T* x, const T* g, const T* dy, T* dx, T* dg, int n, int c, std::ptrdiff_t plane) {
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * plane > parallel_grain)
    for (int s = 0; s < n; ++s) {
        const T* gp = g + static_cast<std::ptrdiff_t>(s) * plane;
        T* dgp = dg + static_cast<std::ptrdiff_t>(s) * plane;
        for (int k = 0; k < c; ++k) {
            const std::ptrdiff_t o = (static_cast<std::ptrdiff_t>(s) * c + k) * plane;
            for (std::ptrdiff_t i = 0; i < plane; ++i) {
                dgp[i] += dy[o + i] * x[o + i];
                dx[o + i] = dy[o + i] * gp[i];
            }
        }
    }
}

/// Inverted-dropout mask: mask[i] = 0 with probability p, else 1 / (1 - p). Element i's draw is a
/// hash of (seed, i) (SplitMix64's finaliser), so the mask is the same for every thread count and
/// on any device that computes the same hash.
template <class T>
void dropout_mask(T* mask, std::ptrdiff_t n, double p, std::uint64_t seed) {
    const T keep = static_cast<T>(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > parallel_grain)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
        const std::uint64_t z = numeric::mix64(seed + 0x9e3779b97f4a7c15ull * (static_cast<std::uint64_t>(i) + 1));
        const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // uniform in [0, 1)
        mask[i] = u < p ? T(0) : keep;
    }
}

}  // namespace unetpp::backend::cpu_kernels
