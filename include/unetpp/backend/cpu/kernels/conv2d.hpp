// Dense 2-D convolution kernels for the CPU backend (NCHW, contiguous, row-major).
//
// Two families live here:
//   * *_ref  : plain nested loops for any scalar type. They are the oracle of the tests and are
//              written to be obviously correct, not fast.
//   * fast   : float kernels. Stride-1 convolutions use register-blocked direct kernels: with
//              AVX-512, forward and backward-data compute 6 output channels x 4 vectors of 16
//              output pixels (24 zmm accumulators) and backward-weights 6 output channels x 3
//              taps of one kernel row; with AVX2 + FMA (no AVX-512), forward and backward-data
//              compute 6 output channels x 2 vectors of 8 pixels (12 ymm accumulators). Zero
//              padding is implicit: border pixels are handled with masked loads, nothing is
//              copied. Everything else (other strides, AVX2's backward-weights, machines with
//              neither) goes through im2col + Eigen GEMM, which is correct for every geometry.
//              With AVX-512, stride-1 3x3 forward and backward-data with at least 16 channels on
//              both sides run Winograd F(4x4, 3x3) instead (winograd.hpp: 4x fewer multiplies).
//
// Choosing the algorithm: conv2d_algorithm() is `automatic` (the above) unless the environment
// variable UNETPP_CONV_ALGO=direct|gemm|winograd|auto (read once, at the first convolution) or
// set_conv2d_algorithm() forces one: `direct` never runs Winograd, `gemm` runs im2col + GEMM for
// every forward and backward-data pass, `winograd` runs Winograd for every stride-1 3x3 one
// whatever its channels. Geometries the forced algorithm does not cover keep the automatic
// choice; backward-weights is not affected. The slower paths thus stay available as oracles.
//
// Threading: every kernel opens its own OpenMP parallel region. GEMMs are cut into max_threads()
// fixed blocks (the requested thread count, not the team OpenMP gives: see parallel.hpp), which
// the team takes in turn, and Eigen runs single-threaded on each block, so Eigen's own parallel
// GEMM (whose threads spin-wait and collapse when the cores are shared with other jobs, and whose
// split follows the actual team) is never used. The result is bit-identical for a given requested
// thread count whatever the team sizes; the direct kernels do not depend on the split at all.
//
// The fast kernels never allocate: the caller passes a 64-byte aligned workspace of at least
// *_workspace_floats(g) floats and may reuse it between calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "api.hpp"
#include "batch_norm.hpp"  // detail::scale_shift, the epilogue of fused convolutions


namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

// The convolution's geometry is the backend contract's (backend/backend.hpp). The kernels take
// implicit zero padding of `pad` pixels only (`padding` must be pad_kind::zero here); the backend
// copies a reflect-padded input before calling them.
using backend::conv_geometry;

// The fast kernels' algorithm choice (see the top of this file).
enum class conv_algo { automatic, direct, gemm, winograd };

namespace detail {
inline conv_algo conv_algo_from_env() {
    const char* v = std::getenv("UNETPP_CONV_ALGO");
    const std::string s = v ? v : "";
    if (s.empty() || s == "auto") return conv_algo::automatic;
    if (s == "direct") return conv_algo::direct;
    if (s == "gemm") return conv_algo::gemm;
    if (s == "winograd") return conv_algo::winograd;
    throw std::invalid_argument("UNETPP_CONV_ALGO=" + s +
                                " is not an algorithm: set it to direct, gemm, winograd or auto, or unset it");
}
inline std::atomic<conv_algo>& conv_algo_state() {
    static std::atomic<conv_algo> state{conv_algo_from_env()};
    return state;
}
}  // namespace detail

inline conv_algo conv2d_algorithm() { return detail::conv_algo_state().load(std::memory_order_relaxed); }
inline void set_conv2d_algorithm(conv_algo a) { detail::conv_algo_state().store(a, std::memory_order_relaxed); }

// ------------------------------------------------------------------------------------------------
// Reference kernels
// ------------------------------------------------------------------------------------------------

// y is overwritten. b may be null (no bias).
template <class T>
void conv2d_forward_ref(const conv_geometry& g, const T* x, const T* w, const T* b, T* y) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co)
            for (std::ptrdiff_t oy = 0; oy < OH; ++oy)
                for (std::ptrdiff_t ox = 0; ox < OW; ++ox) {
                    T s = b ? b[co] : T(0);
                    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
                        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                                const std::ptrdiff_t iy = oy * g.stride + ky - g.pad, ix = ox * g.stride + kx - g.pad;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                const T wv = w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx];
                                const T xv = x[((n * g.cin + ci) * H + iy) * W + ix];
                                s += wv * xv;
                            }
                    y[((n * g.cout + co) * OH + oy) * OW + ox] = s;
                }
}

// dx (n, cin, h, w) is overwritten: dx = conv^T(dy).
template <class T>
void conv2d_backward_data_ref(const conv_geometry& g, const T* dy, const T* w, T* dx) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    std::fill(dx, dx + std::ptrdiff_t(g.n) * g.cin * H * W, T(0));
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co)
            for (std::ptrdiff_t oy = 0; oy < OH; ++oy)
                for (std::ptrdiff_t ox = 0; ox < OW; ++ox) {
                    const T d = dy[((n * g.cout + co) * OH + oy) * OW + ox];
                    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
                        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                                const std::ptrdiff_t iy = oy * g.stride + ky - g.pad, ix = ox * g.stride + kx - g.pad;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                dx[((n * g.cin + ci) * H + iy) * W + ix] +=
                                    w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx] * d;
                            }
                }
}

// dw (cout, cin, kh, kw) and db (cout, may be null) are ACCUMULATED (+=).
template <class T>
void conv2d_backward_weights_ref(const conv_geometry& g, const T* x, const T* dy, T* dw, T* db) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t co = 0; co < g.cout; ++co) {
        for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
            for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                    T s = T(0);
                    for (std::ptrdiff_t n = 0; n < g.n; ++n)
                        for (std::ptrdiff_t oy = 0; oy < OH; ++oy)
                            for (std::ptrdiff_t ox = 0; ox < OW; ++ox) {
                                const std::ptrdiff_t iy = oy * g.stride + ky - g.pad,
                                                     ix = ox * g.stride + kx - g.pad;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += dy[((n * g.cout + co) * OH + oy) * OW + ox] * x[((n * g.cin + ci) * H + iy) * W + ix];
                            }
                    dw[((co * g.cin + ci) * g.kh + ky) * g.kw + kx] += s;
                }
        if (db) {
            T s = T(0);
            for (std::ptrdiff_t n = 0; n < g.n; ++n)
                for (std::ptrdiff_t p = 0; p < OH * OW; ++p) s += dy[(n * g.cout + co) * OH * OW + p];
            db[co] += s;
        }
    }
}

// Per-output-channel epilogue of a fused convolution, in place on y [n, c, plane]:
//   y = act(scale[co] * y + shift[co])
// scale null means 1, shift null means 0, act is ReLU when `relu` is set and the identity otherwise.
template <class T>
void conv_epilogue(T* y, int n, int c, std::ptrdiff_t plane, const T* scale, const T* shift, bool relu) {
#pragma omp parallel for collapse(2) schedule(static) if (std::ptrdiff_t(n) * c * plane > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int co = 0; co < c; ++co) {
            T* p = y + (std::ptrdiff_t(s) * c + co) * plane;
            detail::scale_shift(p, p, plane, scale ? scale[co] : T(1), shift ? shift[co] : T(0), relu);
        }
}

// Fused convolution (the oracle): y = act(scale * (conv(x, w) + b) + shift) per output channel,
// computed as the plain convolution followed by conv_epilogue. This is what an eval-mode
// Conv -> BatchNorm -> ReLU chain computes, with scale and shift the norm's affine map.
template <class T>
void conv2d_forward_fused_ref(const conv_geometry& g, const T* x, const T* w, const T* b, const T* scale,
                              const T* shift, bool relu, T* y) {
    conv2d_forward_ref(g, x, w, b, y);
    conv_epilogue(y, g.n, g.cout, std::ptrdiff_t(g.oh()) * g.ow(), scale, shift, relu);
}

// ------------------------------------------------------------------------------------------------
// Fast float kernels (defined in conv2d_fast.hpp). Each takes a 64-byte aligned workspace of at
// least the matching *_workspace_floats(g) floats.
// ------------------------------------------------------------------------------------------------
UNETPP_KERNEL_API std::size_t conv2d_forward_workspace_floats(const conv_geometry& g);
UNETPP_KERNEL_API std::size_t conv2d_backward_data_workspace_floats(const conv_geometry& g);
UNETPP_KERNEL_API std::size_t conv2d_backward_weights_workspace_floats(const conv_geometry& g);
UNETPP_KERNEL_API const char* conv2d_forward_algorithm(const conv_geometry& g);
UNETPP_KERNEL_API const char* conv2d_backward_data_algorithm(const conv_geometry& g);
UNETPP_KERNEL_API const char* conv2d_backward_weights_algorithm(const conv_geometry& g);
UNETPP_KERNEL_API void conv2d_forward(const conv_geometry& g, const float* x, const float* w, const float* b, float* y,
                                      float* ws);
UNETPP_KERNEL_API std::size_t conv2d_forward_fused_workspace_floats(const conv_geometry& g);
UNETPP_KERNEL_API void conv2d_forward_fused(const conv_geometry& g, const float* x, const float* w, const float* b,
                                            const float* scale, const float* shift, bool relu, float* y, float* ws);
// The fused forward of a convolution whose first c0 input channels are tensor x0 (n x c0 x h0 x w0,
// read centre-cropped to g.h x g.w: the skip of an unpadded U-Net; h0 = g.h, w0 = g.w for none)
// and the other g.cin - c0 are x1 (n x (g.cin - c0) x g.h x g.w): the same outputs, bit for bit,
// as conv2d_forward_fused on their concatenation, which is never written. Only where
// conv2d_forward_fused_two_supported(g, c0, h0, w0).
UNETPP_KERNEL_API bool conv2d_forward_fused_two_supported(const conv_geometry& g, int c0, int h0, int w0);
UNETPP_KERNEL_API void conv2d_forward_fused_two(const conv_geometry& g, const float* x0, int h0, int w0,
                                                const float* x1, int c0, const float* w, const float* b,
                                                const float* scale, const float* shift, bool relu, float* y,
                                                float* ws);
// The three passes of a convolution whose first c0 input channels are tensor x0 and the other
// g.cin - c0 are x1, both of g's input size (a decoder reading its skip and up-sampled map in
// training): the forward (workspace: conv2d_forward_workspace_floats(g)), the backward-data pass
// writing the two inputs' gradients to dx0 and dx1 (conv2d_backward_data_workspace_floats(g))
// and the backward-weights pass adding into dw and db as conv2d_backward_weights does
// (conv2d_backward_weights_two_workspace_floats(g, c0)). The results are those of the one-input
// passes on the concatenation; the concatenation and its gradient are never written. Only where
// conv2d_two_inputs_supported(g, c0).
UNETPP_KERNEL_API bool conv2d_two_inputs_supported(const conv_geometry& g, int c0);
UNETPP_KERNEL_API void conv2d_forward_two(const conv_geometry& g, const float* x0, const float* x1, int c0,
                                          const float* w, const float* b, float* y, float* ws);
UNETPP_KERNEL_API void conv2d_backward_data_two(const conv_geometry& g, const float* dy, const float* w, float* dx0,
                                                float* dx1, int c0, float* ws);
UNETPP_KERNEL_API std::size_t conv2d_backward_weights_two_workspace_floats(const conv_geometry& g, int c0);
UNETPP_KERNEL_API void conv2d_backward_weights_two(const conv_geometry& g, const float* x0, const float* x1, int c0,
                                                   const float* dy, float* dw, float* db, float* ws);
UNETPP_KERNEL_API void conv2d_backward_data(const conv_geometry& g, const float* dy, const float* w, float* dx,
                                            float* ws);
UNETPP_KERNEL_API void conv2d_backward_weights(const conv_geometry& g, const float* x, const float* dy, float* dw,
                                               float* db, float* ws);

}  // namespace unetpp::backend::cpu_kernels

#if UNETPP_KERNEL_DEFINITIONS
#include "winograd.hpp"  // used by conv2d_fast.hpp's dispatch
#include "conv2d_fast.hpp"
#endif
