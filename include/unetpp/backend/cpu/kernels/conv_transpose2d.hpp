// Transposed 2-D convolution kernels for the CPU backend (NCHW, contiguous, row-major).
//
// PyTorch ConvTranspose2d semantics with weight layout [cin, cout, kh, kw], no output_padding and
// no dilation:
//   y[n,co,oy,ox] = b[co] + sum over (ci,iy,ix,ky,kx) with oy = iy*stride - pad + ky and
//                   ox = ix*stride - pad + kx of w[ci,co,ky,kx] * x[n,ci,iy,ix]
//
// The fast float kernels are built around one GEMM per tile of input rows:
//   forward         Z[co*kk + k, p] = sum_ci w[ci, co*kk + k] * x[ci, p], then Z is scattered into y
//   backward data   G = gather of dy into the same [co*kk + k, p] layout, dx[ci, p] = W * G
//   backward weight dW[ci, co*kk + k] += sum_p x[ci, p] * G[co*kk + k, p]
// When kernel == stride and pad == 0 (the U-Net up-sampling case) every output pixel receives
// exactly one term, so the scatter is a plain interleaved copy with no bounds checks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "api.hpp"


namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

using backend::conv_transpose_geometry;  // backend/backend.hpp

// ------------------------------------------------------------------------------------------------
// Reference kernels (any T): direct transcription of the definition above.
// ------------------------------------------------------------------------------------------------

// y (n, cout, oh, ow) is overwritten. b may be null.
template <class T>
void conv_transpose2d_forward_ref(const conv_transpose_geometry& g, const T* x, const T* w, const T* b, T* y) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co)
            for (std::ptrdiff_t p = 0; p < OH * OW; ++p) y[(n * g.cout + co) * OH * OW + p] = b ? b[co] : T(0);
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
            for (std::ptrdiff_t iy = 0; iy < H; ++iy)
                for (std::ptrdiff_t ix = 0; ix < W; ++ix) {
                    const T xv = x[((n * g.cin + ci) * H + iy) * W + ix];
                    for (std::ptrdiff_t co = 0; co < g.cout; ++co)
                        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                                const std::ptrdiff_t oy = iy * g.stride - g.pad + ky;
                                const std::ptrdiff_t ox = ix * g.stride - g.pad + kx;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                                y[((n * g.cout + co) * OH + oy) * OW + ox] +=
                                    w[((ci * g.cout + co) * g.kh + ky) * g.kw + kx] * xv;
                            }
                }
}

// dx (n, cin, h, w) is overwritten.
template <class T>
void conv_transpose2d_backward_data_ref(const conv_transpose_geometry& g, const T* dy, const T* w, T* dx) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
            for (std::ptrdiff_t iy = 0; iy < H; ++iy)
                for (std::ptrdiff_t ix = 0; ix < W; ++ix) {
                    T s = T(0);
                    for (std::ptrdiff_t co = 0; co < g.cout; ++co)
                        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                                const std::ptrdiff_t oy = iy * g.stride - g.pad + ky;
                                const std::ptrdiff_t ox = ix * g.stride - g.pad + kx;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                                s += w[((ci * g.cout + co) * g.kh + ky) * g.kw + kx] *
                                     dy[((n * g.cout + co) * OH + oy) * OW + ox];
                            }
                    dx[((n * g.cin + ci) * H + iy) * W + ix] = s;
                }
}

// dw (cin, cout, kh, kw) and db (cout, may be null) are ACCUMULATED (+=).
template <class T>
void conv_transpose2d_backward_weights_ref(const conv_transpose_geometry& g, const T* x, const T* dy, T* dw,
                                           T* db) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co)
            for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                    T s = T(0);
                    for (std::ptrdiff_t n = 0; n < g.n; ++n)
                        for (std::ptrdiff_t iy = 0; iy < H; ++iy)
                            for (std::ptrdiff_t ix = 0; ix < W; ++ix) {
                                const std::ptrdiff_t oy = iy * g.stride - g.pad + ky;
                                const std::ptrdiff_t ox = ix * g.stride - g.pad + kx;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                                s += x[((n * g.cin + ci) * H + iy) * W + ix] *
                                     dy[((n * g.cout + co) * OH + oy) * OW + ox];
                            }
                    dw[((ci * g.cout + co) * g.kh + ky) * g.kw + kx] += s;
                }
    if (db)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co) {
            T s = T(0);
            for (std::ptrdiff_t n = 0; n < g.n; ++n)
                for (std::ptrdiff_t p = 0; p < OH * OW; ++p) s += dy[(n * g.cout + co) * OH * OW + p];
            db[co] += s;
        }
}

// ------------------------------------------------------------------------------------------------
// Fast float kernels (defined in conv_transpose2d_fast.hpp); the workspace holds at least
// conv_transpose2d_workspace_floats(g) floats.
// ------------------------------------------------------------------------------------------------
UNETPP_KERNEL_API std::size_t conv_transpose2d_workspace_floats(const conv_transpose_geometry& g);
UNETPP_KERNEL_API void conv_transpose2d_forward(const conv_transpose_geometry& g, const float* x, const float* w,
                                                const float* b, float* y, float* ws);
UNETPP_KERNEL_API void conv_transpose2d_backward_data(const conv_transpose_geometry& g, const float* dy, const float* w,
                                                      float* dx, float* ws);
UNETPP_KERNEL_API void conv_transpose2d_backward_weights(const conv_transpose_geometry& g, const float* x,
                                                         const float* dy, float* dw, float* db, float* ws);

}  // namespace unetpp::backend::cpu_kernels

#if UNETPP_KERNEL_DEFINITIONS
#include "conv_transpose2d_fast.hpp"
#endif
