// The fast float convolution kernels declared in conv2d.hpp: the dispatch between Winograd
// (winograd.hpp), the register-blocked direct kernels (conv2d_direct_avx512.hpp,
// conv2d_direct_avx2.hpp) and im2col + Eigen GEMM (conv2d_gemm.hpp); see conv2d.hpp for the
// design. Included by conv2d.hpp in header-only builds and compiled once by the unetpp::kernels
// library otherwise (api.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "conv2d_direct_avx2.hpp"
#include "conv2d_direct_avx512.hpp"
#include "reduce.hpp"
#include "conv2d_direct_common.hpp"
#include "conv2d_gemm.hpp"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define UNETPP_DIRECT_CONV 1  // direct forward / backward-data kernels (AVX-512 or AVX2); #undef at the end
#else
#define UNETPP_DIRECT_CONV 0
#endif

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

namespace detail {

#if !defined(__AVX512F__)
inline constexpr bool have_direct = UNETPP_DIRECT_CONV;
enum class bwdw_kind { gemm };
inline bwdw_kind bwdw_choice(const conv_geometry&) noexcept { return bwdw_kind::gemm; }
#endif

#if UNETPP_DIRECT_CONV
// Stride-1 direct convolution through the ISA's direct_conv_run, instantiated for the common
// kernel sizes (any other size runs the run-time-size instantiation).
inline void direct_conv(int n, int cin, int h, int w, int cout, int kh, int kw, int pad_y, int pad_x,
                        const float* x, const float* wpk, const float* b, float* y, bool relu = false) {
    if (kh == 3 && kw == 3)
        direct_conv_run<3, 3>(n, cin, h, w, cout, kh, kw, pad_y, pad_x, x, wpk, b, y, relu);
    else if (kh == 1 && kw == 1)
        direct_conv_run<1, 1>(n, cin, h, w, cout, kh, kw, pad_y, pad_x, x, wpk, b, y, relu);
    else if (kh == 2 && kw == 2)
        direct_conv_run<2, 2>(n, cin, h, w, cout, kh, kw, pad_y, pad_x, x, wpk, b, y, relu);
    else
        direct_conv_run<0, 0>(n, cin, h, w, cout, kh, kw, pad_y, pad_x, x, wpk, b, y, relu);
}
#endif

// The direct forward / backward-data kernels: stride 1, padding smaller than the kernel (so the
// backward-data pass is again a padded convolution), not too many taps; not forced to GEMM.
inline bool use_direct(const conv_geometry& g) {
    return have_direct && conv2d_algorithm() != conv_algo::gemm && g.stride == 1 && g.pad < g.kh && g.pad < g.kw && g.kh * g.kw <= direct_max_taps &&
           g.oh() > 0 && g.ow() > 0;
}

// The forward of a convolution whose first c0 input channels are x0 (h0 x w0 maps, read
// centre-cropped to g's input size) and the rest x1, on Winograd; `supported` is the caller's
// query, checked here so that a caller who skipped it gets a clear error.
inline void winograd_forward_two(const char* op, bool supported, const conv_geometry& g, const float* x0, int h0,
                                 int w0, const float* x1, int c0, const float* w, const float* b, const float* scale,
                                 const float* shift, bool relu, float* y, float* ws, bool cached) {
    if (!supported)
        throw std::invalid_argument(std::string(op) + ": this geometry cannot read two input tensors (check its "
                                                      "*_supported query first and concatenate them otherwise)");
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    winograd_forward(g, wino::two_tensors(x0, c0, h0, w0, x1, g.cin - c0, g.h, g.w), w, b, scale, shift, relu, y, ws,
                     cached);
#else
    (void)g, (void)x0, (void)h0, (void)w0, (void)x1, (void)c0, (void)w, (void)b, (void)scale, (void)shift, (void)relu,
        (void)y, (void)ws, (void)cached;  // never supported
#endif
}

// Whether conv2d_backward_weights_two runs on Winograd, reading both tensors where they lie.
inline bool winograd_wgrad_two(const conv_geometry& g, int c0) {
    return use_winograd_wgrad(g) && two_tensor_split(g, c0, false);
}

// db[co] += the sum of dy over images and pixels (in double per channel).
inline void bias_gradient(const conv_geometry& g, const float* dy, float* db) {
    const std::ptrdiff_t P = std::ptrdiff_t(g.oh()) * g.ow();
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(g.cout) * P * g.n > 65536)
    for (int co = 0; co < g.cout; ++co) {
        double s = 0.0;
        for (int n = 0; n < g.n; ++n) {
            s += lane_sum(dy + (std::ptrdiff_t(n) * g.cout + co) * P, P);  // each plane in fixed lanes
        }
        db[co] += float(s);
    }
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Fast float kernels
// ------------------------------------------------------------------------------------------------

UNETPP_KERNEL_API std::size_t conv2d_forward_workspace_floats(const conv_geometry& g) {
    if (detail::use_winograd(g)) return detail::winograd_workspace_floats(g);
    if (detail::use_direct(g)) return detail::direct_packed_floats(g.cout, g.cin, g.kh, g.kw);
    return detail::im2col_workspace_floats(g);
}

UNETPP_KERNEL_API std::size_t conv2d_backward_data_workspace_floats(const conv_geometry& g) {
    if (detail::use_winograd_backward(g)) return detail::winograd_workspace_floats(detail::winograd_backward_geometry(g));
    if (detail::use_direct(g)) return detail::direct_packed_floats(g.cin, g.cout, g.kh, g.kw);
    return detail::im2col_workspace_floats(g);
}

UNETPP_KERNEL_API std::size_t conv2d_backward_weights_workspace_floats(const conv_geometry& g) {
    if (detail::use_winograd_wgrad(g)) return detail::winograd_wgrad_workspace_floats(g);
    if (detail::bwdw_choice(g) != detail::bwdw_kind::gemm) return 0;
    return detail::im2col_workspace_floats(g);
}

UNETPP_KERNEL_API const char* conv2d_forward_algorithm(const conv_geometry& g) {
    if (detail::use_winograd(g)) return detail::winograd_name;
    if (detail::use_direct(g)) {
#if defined(__AVX512F__)
#define UNETPP_DIRECT_NAME(k) "direct-avx512 6x64 (" k ")"
#else
#define UNETPP_DIRECT_NAME(k) "direct-avx2 6x16 (" k ")"
#endif
        return g.kh == 3 && g.kw == 3   ? UNETPP_DIRECT_NAME("3x3")
               : g.kh == 1 && g.kw == 1 ? UNETPP_DIRECT_NAME("1x1") : UNETPP_DIRECT_NAME("generic kernel size");
#undef UNETPP_DIRECT_NAME
    }
    return "im2col+eigen-gemm";
}

UNETPP_KERNEL_API const char* conv2d_backward_weights_algorithm(const conv_geometry& g) {
    if (detail::use_winograd_wgrad(g)) return detail::winograd_wgrad_name;
#if defined(__AVX512F__)
    switch (detail::bwdw_choice(g)) {
        case detail::bwdw_kind::six_by_three: return "direct-avx512 6co x 3 taps";
        case detail::bwdw_kind::small_tile: return "direct-avx512 small tile";
        default: break;
    }
#endif
    (void)g;
    return "im2col+eigen-gemm (own partition)";
}

UNETPP_KERNEL_API void conv2d_forward(const conv_geometry& g, const float* x, const float* w, const float* b, float* y,
                                      float* ws) {
    if (detail::winograd_forward_if_chosen(g, x, w, b, nullptr, nullptr, false, y, ws)) return;
#if UNETPP_DIRECT_CONV
    if (detail::use_direct(g)) {
        const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
        detail::pack_direct_weights(
            g.cout, g.cin, g.kh, g.kw,
            [&](int co, int ci, int ky, int kx) { return w[(std::ptrdiff_t(co) * g.cin + ci) * kk + ky * g.kw + kx]; },
            ws);
        detail::direct_conv(g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.pad, g.pad, x, ws, b, y);
        return;
    }
#endif
    detail::gemm_forward(g, x, w, b, y, ws);
}

// Workspace of conv2d_forward_fused: the forward's plus the combined bias.
UNETPP_KERNEL_API std::size_t conv2d_forward_fused_workspace_floats(const conv_geometry& g) {
    return detail::round_up(conv2d_forward_workspace_floats(g), 16) + detail::round_up(std::size_t(g.cout), 16);
}

// Fused convolution y = act(scale * (conv(x, w) + b) + shift) per output channel (see
// conv2d_forward_fused_ref). On the direct path the scale is folded into the packed weights, the
// bias becomes scale * b + shift and the ReLU is applied to the accumulators before they are
// stored, so the output is written once; the GEMM path runs the plain convolution and then the
// epilogue over y.
UNETPP_KERNEL_API void conv2d_forward_fused(const conv_geometry& g, const float* x, const float* w, const float* b,
                                            const float* scale, const float* shift, bool relu, float* y, float* ws) {
    // The fused forward runs only at inference (unetpp::inference_mode), where the weights stay put:
    // Winograd keeps their transform across calls (winograd_cache.hpp checks they are unchanged).
    if (detail::winograd_forward_if_chosen(g, x, w, b, scale, shift, relu, y, ws, /*cached=*/true)) return;
#if UNETPP_DIRECT_CONV
    if (detail::use_direct(g)) {
        const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
        float* fb = ws + detail::round_up(conv2d_forward_workspace_floats(g), 16);
        for (int co = 0; co < g.cout; ++co)
            fb[co] = (scale ? scale[co] : 1.0f) * (b ? b[co] : 0.0f) + (shift ? shift[co] : 0.0f);
        detail::pack_direct_weights(
            g.cout, g.cin, g.kh, g.kw,
            [&](int co, int ci, int ky, int kx) {
                const float v = w[(std::ptrdiff_t(co) * g.cin + ci) * kk + ky * g.kw + kx];
                return scale ? v * scale[co] : v;
            },
            ws);
        detail::direct_conv(g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.pad, g.pad, x, ws, fb, y, relu);
        return;
    }
#endif
    detail::gemm_forward(g, x, w, b, y, ws);
    conv_epilogue(y, g.n, g.cout, std::ptrdiff_t(g.oh()) * g.ow(), scale, shift, relu);
}

// Two input tensors: Winograd's input transform reads each channel where it lies (wino::in_planes);
// the transform, the sums and the epilogue are those of conv2d_forward_fused. The workspace is
// conv2d_forward_fused_workspace_floats(g).
UNETPP_KERNEL_API bool conv2d_forward_fused_two_supported(const conv_geometry& g, int c0, int h0, int w0) {
    return detail::winograd_two_inputs(g, c0, h0, w0);
}

UNETPP_KERNEL_API void conv2d_forward_fused_two(const conv_geometry& g, const float* x0, int h0, int w0,
                                                const float* x1, int c0, const float* w, const float* b,
                                                const float* scale, const float* shift, bool relu, float* y,
                                                float* ws) {
    detail::winograd_forward_two("conv2d_forward_fused_two", detail::winograd_two_inputs(g, c0, h0, w0), g, x0, h0,
                                 w0, x1, c0, w, b, scale, shift, relu, y, ws, /*cached=*/true);
}

// Two inputs in training (and in eval mode outside inference_mode): Winograd runs the forward and
// the backward-data pass, reading x0 and x1 and writing dx0 and dx1 where they lie; the
// backward-weights pass runs on each input in turn (its sums for an input channel do not involve
// the others) into a part of the workspace, added into dw.
UNETPP_KERNEL_API bool conv2d_two_inputs_supported(const conv_geometry& g, int c0) {
    return detail::winograd_two_inputs(g, c0, g.h, g.w) && detail::winograd_two_outputs(g, c0);
}

UNETPP_KERNEL_API void conv2d_forward_two(const conv_geometry& g, const float* x0, const float* x1, int c0,
                                          const float* w, const float* b, float* y, float* ws) {
    detail::winograd_forward_two("conv2d_forward_two", conv2d_two_inputs_supported(g, c0), g, x0, g.h, g.w, x1, c0,
                                 w, b, nullptr, nullptr, false, y, ws, /*cached=*/false);
}

UNETPP_KERNEL_API void conv2d_backward_data_two(const conv_geometry& g, const float* dy, const float* w, float* dx0,
                                                float* dx1, int c0, float* ws) {
    if (!conv2d_two_inputs_supported(g, c0))
        throw std::invalid_argument("conv2d_backward_data_two: this geometry cannot write two input gradients "
                                    "(check conv2d_two_inputs_supported first)");
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    detail::winograd_backward_data(g, dy, w, detail::wino::out_planes{dx0, dx1, c0, c0, g.cin - c0}, ws);
#else
    (void)dy, (void)w, (void)dx0, (void)dx1, (void)ws;  // never supported
#endif
}

UNETPP_KERNEL_API std::size_t conv2d_backward_weights_two_workspace_floats(const conv_geometry& g, int c0) {
    if (detail::winograd_wgrad_two(g, c0)) return detail::winograd_wgrad_workspace_floats(g);
    conv_geometry g0 = g, g1 = g;
    g0.cin = c0;
    g1.cin = g.cin - c0;
    const std::size_t part = std::size_t(g.cout) * std::size_t(std::max(c0, g.cin - c0)) * std::size_t(g.kh * g.kw);
    return detail::round_up(part, 16) + std::max(conv2d_backward_weights_workspace_floats(g0),
                                                 conv2d_backward_weights_workspace_floats(g1));
}

UNETPP_KERNEL_API void conv2d_backward_weights_two(const conv_geometry& g, const float* x0, const float* x1, int c0,
                                                   const float* dy, float* dw, float* db, float* ws) {
    if (detail::winograd_wgrad_two(g, c0)) {
        detail::winograd_backward_weights(g, detail::wino::two_tensors(x0, c0, g.h, g.w, x1, g.cin - c0, g.h, g.w),
                                          dy, dw, ws);
        if (db) detail::bias_gradient(g, dy, db);
        return;
    }
    const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
    const std::size_t part_floats = std::size_t(g.cout) * std::size_t(std::max(c0, g.cin - c0)) * std::size_t(kk);
    float* part = ws;
    float* kernel_ws = ws + detail::round_up(part_floats, 16);
    for (int half = 0; half < 2; ++half) {
        conv_geometry h = g;
        h.cin = half == 0 ? c0 : g.cin - c0;
        const int first = half == 0 ? 0 : c0;
        const std::ptrdiff_t row = std::ptrdiff_t(h.cin) * kk;
        std::fill_n(part, std::size_t(g.cout) * std::size_t(row), 0.0f);
        conv2d_backward_weights(h, half == 0 ? x0 : x1, dy, part, half == 0 ? db : nullptr, kernel_ws);
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(g.cout) * row > 65536)
        for (int co = 0; co < g.cout; ++co) {
            float* d = dw + (std::ptrdiff_t(co) * g.cin + first) * kk;
            const float* p = part + std::ptrdiff_t(co) * row;
            for (std::ptrdiff_t k = 0; k < row; ++k) d[k] += p[k];
        }
    }
}

UNETPP_KERNEL_API void conv2d_backward_data(const conv_geometry& g, const float* dy, const float* w, float* dx,
                                            float* ws) {
    if (detail::winograd_backward_data_if_chosen(g, dy, w, dx, ws)) return;
#if UNETPP_DIRECT_CONV
    if (detail::use_direct(g)) {
        // dx is the correlation of dy, implicitly zero padded by k-1-pad on each side, with the
        // weights flipped in space and with input/output channels swapped. Nothing is copied.
        const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
        detail::pack_direct_weights(
            g.cin, g.cout, g.kh, g.kw,
            [&](int ci, int co, int ky, int kx) {
                return w[(std::ptrdiff_t(co) * g.cin + ci) * kk + (g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)];
            },
            ws);
        detail::direct_conv(g.n, g.cout, g.oh(), g.ow(), g.cin, g.kh, g.kw, g.kh - 1 - g.pad, g.kw - 1 - g.pad, dy,
                            ws, nullptr, dx);
        return;
    }
#endif
    detail::gemm_backward_data(g, dy, w, dx, ws);
}

UNETPP_KERNEL_API void conv2d_backward_weights(const conv_geometry& g, const float* x, const float* dy, float* dw,
                                               float* db, float* ws) {
    if (detail::use_winograd_wgrad(g)) {
        detail::winograd_backward_weights(g, detail::wino::one_tensor(x, g.cin, g.h, g.w), dy, dw, ws);
        if (db) detail::bias_gradient(g, dy, db);
        return;
    }
#if defined(__AVX512F__)
    const detail::bwdw_kind kind = detail::bwdw_choice(g);
    if (kind != detail::bwdw_kind::gemm) {
        if (kind == detail::bwdw_kind::six_by_three)
            detail::bwdw6_run(g, x, dy, dw);
        else
            detail::bwdw_small_tile(g, x, dy, dw);
        if (db) detail::bias_gradient(g, dy, db);
        return;
    }
#endif
    detail::gemm_backward_weights(g, x, dy, dw, db, ws);
}

}  // namespace unetpp::backend::cpu_kernels

#undef UNETPP_DIRECT_CONV
