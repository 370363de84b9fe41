#pragma once
/// \file Depthwise 2-D convolution (groups = channels, weight [C, 1, k, k]) on an already padded
/// input; stride s. Memory bound, so plain loops parallel over planes.

#include <cstddef>

#include "../../../config/abi.hpp"
#include "parallel.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

template <class T>
void depthwise_conv2d_forward(const T* x, const T* w, const T* b, T* y, int n, int c, int h, int wd, int k, int s) {
    const int oh = (h - k) / s + 1, ow = (wd - k) / s + 1;
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * h * wd > parallel_grain)
    for (int sm = 0; sm < n; ++sm)
        for (int ch = 0; ch < c; ++ch) {
            const T* xp = x + (static_cast<std::ptrdiff_t>(sm) * c + ch) * h * wd;
            const T* wp = w + static_cast<std::ptrdiff_t>(ch) * k * k;
            T* yp = y + (static_cast<std::ptrdiff_t>(sm) * c + ch) * oh * ow;
            const T bias = b ? b[ch] : T(0);
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    T acc = bias;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx)
                            acc += wp[ky * k + kx] * xp[static_cast<std::ptrdiff_t>(oy * s + ky) * wd + ox * s + kx];
                    yp[static_cast<std::ptrdiff_t>(oy) * ow + ox] = acc;
                }
        }
}

/// dx (padded input shape) overwritten; dw and db accumulated.
template <class T>
void depthwise_conv2d_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int n, int c, int h, int wd,
                               int k, int s) {
    const int oh = (h - k) / s + 1, ow = (wd - k) / s + 1;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * h * wd > parallel_grain)
    for (int ch = 0; ch < c; ++ch) {
        const T* wp = w + static_cast<std::ptrdiff_t>(ch) * k * k;
        T* dwp = dw + static_cast<std::ptrdiff_t>(ch) * k * k;
        T dbias = 0;
        for (int sm = 0; sm < n; ++sm) {
            const T* xp = x + (static_cast<std::ptrdiff_t>(sm) * c + ch) * h * wd;
            T* dxp = dx + (static_cast<std::ptrdiff_t>(sm) * c + ch) * h * wd;
            const T* dyp = dy + (static_cast<std::ptrdiff_t>(sm) * c + ch) * oh * ow;
            for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(h) * wd; ++i) dxp[i] = T(0);
            for (int oy = 0; oy < oh; ++oy)
                for (int ox = 0; ox < ow; ++ox) {
                    const T g = dyp[static_cast<std::ptrdiff_t>(oy) * ow + ox];
                    dbias += g;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const std::ptrdiff_t xi = static_cast<std::ptrdiff_t>(oy * s + ky) * wd + ox * s + kx;
                            dwp[ky * k + kx] += g * xp[xi];
                            dxp[xi] += g * wp[ky * k + kx];
                        }
                }
        }
        if (db) db[ch] += dbias;
    }
}

}  // namespace unetpp::backend::cpu_kernels
