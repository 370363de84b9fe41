// The fast float transposed-convolution kernels declared in conv_transpose2d.hpp (one GEMM per
// tile of input rows, see there). Included by conv_transpose2d.hpp in header-only builds and
// compiled once by the unetpp::kernels library otherwise (api.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <Eigen/Core>

#include "../../../config/abi.hpp"
#include "conv2d_fast.hpp"
#include "parallel.hpp"  // gemm_share, for_each_part
#include "conv_transpose2d.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

// ------------------------------------------------------------------------------------------------
// Fast float kernels
// ------------------------------------------------------------------------------------------------
namespace detail {

using ct_row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ct_const_strided = Eigen::Map<const ct_row_matrix, 0, Eigen::OuterStride<>>;
using ct_strided = Eigen::Map<ct_row_matrix, 0, Eigen::OuterStride<>>;

// Upper bound on the [cout*kh*kw, rows*w] tile in floats (at least one input row per tile).
inline constexpr std::size_t ct_tile_cap = std::size_t(1) << 21;

inline int ct_rows_per_tile(const conv_transpose_geometry& g) noexcept {
    const std::size_t row = std::size_t(g.cout) * g.kh * g.kw * std::size_t(g.w);
    if (row == 0) return 1;
    return int(std::clamp<std::size_t>(ct_tile_cap / row, 1, std::size_t(std::max(1, g.h))));
}

inline bool ct_non_overlapping(const conv_transpose_geometry& g) noexcept {
    return g.pad == 0 && g.kh == g.stride && g.kw == g.stride;
}

// Moves between the column tile Z[(co*kh+ky)*kw+kx][(iy-r0)*W+ix] (input rows [r0, r1)) and the
// output image: Scatter=true adds Z into y, Scatter=false gathers dy into Z (zero where the tap
// falls outside the output). Work-shared over co (call from inside a parallel region), so no two
// threads touch the same plane; ends with a barrier.
template <bool Scatter>
inline void ct_move(const conv_transpose_geometry& g, float* z, float* img, int r0, int r1) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), W = g.w, s = g.stride;
    const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * W;
    const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
#pragma omp for schedule(static)
    for (int co = 0; co < g.cout; ++co) {
        float* plane = img + co * OH * OW;
        for (int ky = 0; ky < g.kh; ++ky)
            for (int kx = 0; kx < g.kw; ++kx) {
                float* zr = z + (co * kk + ky * g.kw + kx) * pt;
                // Input columns whose tap lands inside the output: 0 <= ix*s - pad + kx < OW.
                std::ptrdiff_t ix0 = 0, ix1 = W;
                while (ix0 < W && ix0 * s - g.pad + kx < 0) ++ix0;
                while (ix1 > ix0 && (ix1 - 1) * s - g.pad + kx >= OW) --ix1;
                for (int iy = r0; iy < r1; ++iy) {
                    float* zrow = zr + std::ptrdiff_t(iy - r0) * W;
                    const std::ptrdiff_t oy = std::ptrdiff_t(iy) * s - g.pad + ky;
                    if (oy < 0 || oy >= OH) {
                        if constexpr (!Scatter) std::fill(zrow, zrow + W, 0.0f);
                        continue;
                    }
                    float* orow = plane + oy * OW - g.pad + kx;
                    if constexpr (Scatter) {
                        for (std::ptrdiff_t ix = ix0; ix < ix1; ++ix) orow[ix * s] += zrow[ix];
                    } else {
                        std::fill(zrow, zrow + ix0, 0.0f);
                        for (std::ptrdiff_t ix = ix0; ix < ix1; ++ix) zrow[ix] = orow[ix * s];
                        std::fill(zrow + ix1, zrow + W, 0.0f);
                    }
                }
            }
    }
}

// Non-overlapping forward scatter (kh == kw == stride, pad == 0): y = Z + b, every pixel once.
// Work-shared over co like ct_move; ends with a barrier.
inline void ct_scatter_exact(const conv_transpose_geometry& g, const float* z, const float* b, float* img, int r0,
                             int r1) {
    const std::ptrdiff_t OW = g.ow(), OH = g.oh(), W = g.w, s = g.stride;
    const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * W;
    const std::ptrdiff_t kk = s * s;
#pragma omp for schedule(static)
    for (int co = 0; co < g.cout; ++co) {
        const float bias = b ? b[co] : 0.0f;
        float* plane = img + co * OH * OW;
        for (int iy = r0; iy < r1; ++iy)
            for (std::ptrdiff_t ky = 0; ky < s; ++ky) {
                float* orow = plane + (iy * s + ky) * OW;
                if (s == 2) {
                    const float* z0 = z + (co * kk + ky * 2) * pt + std::ptrdiff_t(iy - r0) * W;
                    const float* z1 = z0 + pt;
                    for (std::ptrdiff_t ix = 0; ix < W; ++ix) {
                        orow[2 * ix] = z0[ix] + bias;
                        orow[2 * ix + 1] = z1[ix] + bias;
                    }
                } else {
                    for (std::ptrdiff_t kx = 0; kx < s; ++kx) {
                        const float* zr = z + (co * kk + ky * s + kx) * pt + std::ptrdiff_t(iy - r0) * W;
                        for (std::ptrdiff_t ix = 0; ix < W; ++ix) orow[ix * s + kx] = zr[ix] + bias;
                    }
                }
            }
    }
}

}  // namespace detail

// Workspace for all three passes (they share the same tile).
UNETPP_KERNEL_API std::size_t conv_transpose2d_workspace_floats(const conv_transpose_geometry& g) {
    return std::size_t(g.cout) * g.kh * g.kw * std::size_t(g.w) * std::size_t(detail::ct_rows_per_tile(g));
}

// Threading: each pass opens one parallel region; the GEMM of a tile is split into max_threads()
// fixed blocks (rows or columns, gemm_share in parallel.hpp), which the team takes in turn, and
// Eigen runs single-threaded on each block, so Eigen's own parallel GEMM is never used and the
// rounding does not depend on the team size OpenMP gives.
UNETPP_KERNEL_API void conv_transpose2d_forward(const conv_transpose_geometry& g, const float* x, const float* w,
                                                const float* b, float* y, float* ws) {
    const std::ptrdiff_t HW = std::ptrdiff_t(g.h) * g.w, OHW = std::ptrdiff_t(g.oh()) * g.ow();
    const std::ptrdiff_t M = std::ptrdiff_t(g.cout) * g.kh * g.kw;
    const int rows = detail::ct_rows_per_tile(g);
    const bool exact = detail::ct_non_overlapping(g);
    const Eigen::Map<const detail::ct_row_matrix> wm(w, g.cin, M);
    const int parts = max_threads();
#pragma omp parallel
    {
        detail::serial_nested_regions();
        for (int n = 0; n < g.n; ++n) {
            const float* xn = x + std::ptrdiff_t(n) * g.cin * HW;
            float* yn = y + std::ptrdiff_t(n) * g.cout * OHW;
            if (!exact) {
#pragma omp for schedule(static)
                for (int co = 0; co < g.cout; ++co)
                    std::fill(yn + co * OHW, yn + (co + 1) * OHW, b ? b[co] : 0.0f);
            }
            for (int r0 = 0; r0 < g.h; r0 += rows) {
                const int r1 = std::min(g.h, r0 + rows);
                const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * g.w;
                detail::for_each_part(parts, [&](int part) {
                    const detail::gemm_block s = detail::gemm_share(M, pt, part, parts);
                    if (s.empty()) return;
                    const detail::ct_const_strided xt(xn + std::ptrdiff_t(r0) * g.w + s.c0, g.cin, s.c1 - s.c0,
                                                      Eigen::OuterStride<>(HW));
                    detail::ct_strided z(ws + s.r0 * pt + s.c0, s.r1 - s.r0, s.c1 - s.c0, Eigen::OuterStride<>(pt));
                    z.noalias() = wm.middleCols(s.r0, s.r1 - s.r0).transpose() * xt;
                });
#pragma omp barrier
                if (exact)
                    detail::ct_scatter_exact(g, ws, b, yn, r0, r1);
                else
                    detail::ct_move<true>(g, ws, yn, r0, r1);
            }
        }
    }
}

UNETPP_KERNEL_API void conv_transpose2d_backward_data(const conv_transpose_geometry& g, const float* dy, const float* w,
                                                      float* dx, float* ws) {
    const std::ptrdiff_t HW = std::ptrdiff_t(g.h) * g.w, OHW = std::ptrdiff_t(g.oh()) * g.ow();
    const std::ptrdiff_t M = std::ptrdiff_t(g.cout) * g.kh * g.kw;
    const int rows = detail::ct_rows_per_tile(g);
    const Eigen::Map<const detail::ct_row_matrix> wm(w, g.cin, M);
    const int parts = max_threads();
#pragma omp parallel
    {
        detail::serial_nested_regions();
        for (int n = 0; n < g.n; ++n) {
            float* dyn = const_cast<float*>(dy + std::ptrdiff_t(n) * g.cout * OHW);  // only read by the gather
            float* dxn = dx + std::ptrdiff_t(n) * g.cin * HW;
            for (int r0 = 0; r0 < g.h; r0 += rows) {
                const int r1 = std::min(g.h, r0 + rows);
                const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * g.w;
                detail::ct_move<false>(g, ws, dyn, r0, r1);  // ends with a barrier
                detail::for_each_part(parts, [&](int part) {
                    const detail::gemm_block s = detail::gemm_share(g.cin, pt, part, parts);
                    if (s.empty()) return;
                    const detail::ct_const_strided z(ws + s.c0, M, s.c1 - s.c0, Eigen::OuterStride<>(pt));
                    detail::ct_strided dxt(dxn + std::ptrdiff_t(r0) * g.w + s.r0 * HW + s.c0, s.r1 - s.r0,
                                           s.c1 - s.c0, Eigen::OuterStride<>(HW));
                    dxt.noalias() = wm.middleRows(s.r0, s.r1 - s.r0) * z;
                });
#pragma omp barrier
            }
        }
    }
}

UNETPP_KERNEL_API void conv_transpose2d_backward_weights(const conv_transpose_geometry& g, const float* x,
                                                         const float* dy, float* dw, float* db, float* ws) {
    const std::ptrdiff_t HW = std::ptrdiff_t(g.h) * g.w, OHW = std::ptrdiff_t(g.oh()) * g.ow();
    const std::ptrdiff_t M = std::ptrdiff_t(g.cout) * g.kh * g.kw;
    const int rows = detail::ct_rows_per_tile(g);
    const int parts = max_threads();
#pragma omp parallel
    {
        detail::serial_nested_regions();
        for (int n = 0; n < g.n; ++n) {
            const float* xn = x + std::ptrdiff_t(n) * g.cin * HW;
            float* dyn = const_cast<float*>(dy + std::ptrdiff_t(n) * g.cout * OHW);  // only read by the gather
            for (int r0 = 0; r0 < g.h; r0 += rows) {
                const int r1 = std::min(g.h, r0 + rows);
                const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * g.w;
                detail::ct_move<false>(g, ws, dyn, r0, r1);  // ends with a barrier
                // Each part owns a block of dw: no reduction between threads.
                detail::for_each_part(parts, [&](int part) {
                    const detail::gemm_block s = detail::gemm_share(g.cin, M, part, parts);
                    if (s.empty()) return;
                    const detail::ct_const_strided z(ws + s.c0 * pt, s.c1 - s.c0, pt, Eigen::OuterStride<>(pt));
                    const detail::ct_const_strided xt(xn + std::ptrdiff_t(r0) * g.w + s.r0 * HW, s.r1 - s.r0, pt,
                                                      Eigen::OuterStride<>(HW));
                    detail::ct_strided dwm(dw + s.r0 * M + s.c0, s.r1 - s.r0, s.c1 - s.c0, Eigen::OuterStride<>(M));
                    dwm.noalias() += xt * z.transpose();
                });
#pragma omp barrier
            }
        }
        if (db) {
#pragma omp for schedule(static)
            for (int co = 0; co < g.cout; ++co) {
                double sum = 0.0;
                for (int n = 0; n < g.n; ++n) {
                    const Eigen::Map<const Eigen::VectorXf> d(dy + (std::ptrdiff_t(n) * g.cout + co) * OHW, OHW);
                    sum += d.sum();
                }
                db[co] += float(sum);
            }
        }
    }
}

}  // namespace unetpp::backend::cpu_kernels
