#pragma once
/// \file Max pooling and global average pooling (NCHW, no padding, floor mode as PyTorch).

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../../../config/abi.hpp"
#include "../../../tensor/numeric.hpp"
#include "parallel.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

/// Max pooling with window k and stride s; `argmax` receives, per output, the flat index of the
/// winning input inside its (n, c) plane (first maximum wins, as PyTorch; NaN propagates). A null
/// `argmax` records nothing (an inference-only pass, which needs no backward). Any k and s: the
/// reference for max_pool2d_forward's 2x2 stride-2 path.
template <class T>
void max_pool2d_forward_generic(const T* x, T* y, std::int32_t* argmax, int planes, int h, int w, int k, int s) {
    const int oh = (h - k) / s + 1, ow = (w - k) / s + 1;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * h * w > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        const T* xp = x + static_cast<std::ptrdiff_t>(p) * h * w;
        T* yp = y + static_cast<std::ptrdiff_t>(p) * oh * ow;
        std::int32_t* ap = argmax ? argmax + static_cast<std::ptrdiff_t>(p) * oh * ow : nullptr;
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox) {
                T best = -std::numeric_limits<T>::infinity();
                std::int32_t bi = (oy * s) * w + ox * s;
                for (int ky = 0; ky < k; ++ky)
                    for (int kx = 0; kx < k; ++kx) {
                        const std::int32_t i = (oy * s + ky) * w + ox * s + kx;
                        const T v = xp[i];
                        if (v > best || v != v) {
                            best = v;
                            bi = i;
                            if (v != v) goto done;
                        }
                    }
            done:
                yp[oy * ow + ox] = best;
                if (ap) ap[oy * ow + ox] = bi;
            }
    }
}

namespace pool_detail {

/// One step of the window scan in max_pool2d_forward_generic's order, without a branch: v at flat
/// index i takes over when it is larger or NaN, unless the maximum so far is already NaN (the
/// generic loop stops at the first NaN).
template <class T>
inline void take_larger(T& best, std::int32_t& at, T v, std::int32_t i) noexcept {
    const bool take = (v > best || v != v) && best == best;
    best = take ? v : best;
    at = take ? i : at;
}

/// Output row oy of one plane for a 2x2 window with stride 2: the window's four inputs in the
/// generic order (top left, top right, bottom left, bottom right). Written as selects so that
/// the compiler vectorises it over the output columns.
template <class T, bool WithArgmax>
inline void max_pool_2x2_row(const T* __restrict r0, const T* __restrict r1, T* __restrict y,
                             std::int32_t* __restrict at, int ow, std::int32_t top, std::int32_t w) noexcept {
    for (int ox = 0; ox < ow; ++ox) {
        const std::int32_t i = top + 2 * ox;
        T best = r0[2 * ox];
        std::int32_t a = i;
        take_larger(best, a, r0[2 * ox + 1], i + 1);
        take_larger(best, a, r1[2 * ox], i + w);
        take_larger(best, a, r1[2 * ox + 1], i + w + 1);
        y[ox] = best;
        if constexpr (WithArgmax) at[ox] = a;
    }
}

}  // namespace pool_detail

/// max_pool2d_forward_generic's result, bit for bit (outputs and argmax), with a vectorised path
/// for the 2x2 window with stride 2 that every U-Net down-sampling uses: there the generic scalar
/// loop, with its branches, took 10-15% of a base-32 forward pass.
template <class T>
void max_pool2d_forward(const T* x, T* y, std::int32_t* argmax, int planes, int h, int w, int k, int s) {
    if (k != 2 || s != 2 || h < 2 || w < 2) {
        max_pool2d_forward_generic(x, y, argmax, planes, h, w, k, s);
        return;
    }
    const int oh = h / 2, ow = w / 2;
    const std::ptrdiff_t rows = static_cast<std::ptrdiff_t>(planes) * oh;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * h * w > parallel_grain)
    for (std::ptrdiff_t r = 0; r < rows; ++r) {
        const std::ptrdiff_t p = r / oh;
        const int oy = static_cast<int>(r % oh);
        const T* r0 = x + (p * h + 2 * oy) * w;
        const std::int32_t top = 2 * oy * w;
        T* yr = y + r * ow;
        if (argmax)
            pool_detail::max_pool_2x2_row<T, true>(r0, r0 + w, yr, argmax + r * ow, ow, top, w);
        else
            pool_detail::max_pool_2x2_row<T, false>(r0, r0 + w, yr, nullptr, ow, top, w);
    }
}

/// Routes each output gradient to the input that won the forward pass; overlapping windows add.
template <class T>
void max_pool2d_backward(const T* dy, const std::int32_t* argmax, T* dx, int planes, int h, int w, int oh, int ow) {
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * h * w > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        T* dxp = dx + static_cast<std::ptrdiff_t>(p) * h * w;
        for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(h) * w; ++i) dxp[i] = T(0);
        const T* dyp = dy + static_cast<std::ptrdiff_t>(p) * oh * ow;
        const std::int32_t* ap = argmax + static_cast<std::ptrdiff_t>(p) * oh * ow;
        for (std::ptrdiff_t o = 0; o < static_cast<std::ptrdiff_t>(oh) * ow; ++o) dxp[ap[o]] += dyp[o];
    }
}

/// Max pooling with stride 1 that keeps the size (Keras padding="same"): the window at (i, j)
/// covers rows i - (k-1)/2 ... and columns likewise, clipped at the border (padding never wins);
/// the first maximum wins. `argmax` as max_pool2d_forward's (required here).
template <class T>
void max_pool2d_same_forward(const T* x, T* y, std::int32_t* argmax, int planes, int h, int w, int k) {
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * h * w > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        const T* src = x + static_cast<std::ptrdiff_t>(p) * h * w;
        for (int i = 0; i < h; ++i)
            for (int j = 0; j < w; ++j) {
                T best;
                std::int32_t at;
                numeric::same_window_max(src, h, w, k, i, j, best, at);
                const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(p) * h * w + i * w + j;
                y[o] = best;
                argmax[o] = at;
            }
    }
}

template <class T>
void global_avg_pool_forward(const T* x, T* y, int planes, std::ptrdiff_t plane) {
#pragma omp parallel for schedule(static) if (planes * plane > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        const T* xp = x + p * plane;
        T sum = 0;
        for (std::ptrdiff_t i = 0; i < plane; ++i) sum += xp[i];
        y[p] = sum / static_cast<T>(plane);
    }
}
template <class T>
void global_avg_pool_backward(const T* dy, T* dx, int planes, std::ptrdiff_t plane) {
#pragma omp parallel for schedule(static) if (planes * plane > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        const T g = dy[p] / static_cast<T>(plane);
        for (std::ptrdiff_t i = 0; i < plane; ++i) dx[p * plane + i] = g;
    }
}

}  // namespace unetpp::backend::cpu_kernels
