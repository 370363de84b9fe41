#pragma once
// The im2col + Eigen GEMM convolution kernels (any geometry): forward, backward-data and
// backward-weights, each cut into fixed blocks so the result does not depend on which thread runs
// which block. Part of the fast float kernels (conv2d_fast.hpp, which dispatches to them).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <Eigen/Core>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_strided_map = Eigen::Map<const row_matrix, 0, Eigen::OuterStride<>>;
using strided_map = Eigen::Map<row_matrix, 0, Eigen::OuterStride<>>;

// Work split: see parallel.hpp. The GEMM kernels cut each product into max_threads() fixed
// blocks (gemm_share), read before their parallel region opens, and the team takes the blocks in
// turn (for_each_part); inside the region Eigen runs single-threaded on each block. The direct
// kernels hand out work items whose arithmetic does not depend on which thread runs them.

// ---- im2col + GEMM path (any geometry) --------------------------------------------------------

// Upper bound on the im2col tile, in floats; a tile is always at least one output row.
inline constexpr std::size_t im2col_tile_cap = std::size_t(1) << 21;

// Number of output rows per im2col tile for g.
inline int im2col_rows_per_tile(const conv_geometry& g) noexcept {
    const std::size_t row = std::size_t(g.cin) * g.kh * g.kw * std::size_t(g.ow());
    if (row == 0) return 1;
    const std::size_t r = im2col_tile_cap / row;
    return int(std::clamp<std::size_t>(r, 1, std::size_t(std::max(1, g.oh()))));
}

inline std::size_t im2col_workspace_floats(const conv_geometry& g) noexcept {
    return std::size_t(g.cin) * g.kh * g.kw * std::size_t(g.ow()) * std::size_t(im2col_rows_per_tile(g));
}

// Valid output columns [ox0, ox1) for tap kx: 0 <= ox*s + kx - pad < W.
inline void valid_columns(const conv_geometry& g, std::ptrdiff_t kx, std::ptrdiff_t& ox0, std::ptrdiff_t& ox1) {
    const std::ptrdiff_t OW = g.ow(), s = g.stride, off = kx - g.pad;
    ox0 = off >= 0 ? 0 : (-off + s - 1) / s;
    ox1 = g.w - off <= 0 ? 0 : std::min<std::ptrdiff_t>(OW, (g.w - off + s - 1) / s);
    ox0 = std::min(ox0, ox1);
}

// col[(ci*kh+ky)*kw+kx][(oy-r0)*OW+ox] = x[ci][oy*s+ky-pad][ox*s+kx-pad] (zero outside) for oy in
// [r0, r1). Work-shared over the rows of col: call from inside a parallel region (or serially).
inline void im2col_rows(const conv_geometry& g, const float* x, int r0, int r1, float* col) {
    const std::ptrdiff_t OW = g.ow(), H = g.h, W = g.w, s = g.stride;
    const std::ptrdiff_t P = std::ptrdiff_t(r1 - r0) * OW;
    const std::ptrdiff_t K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
#pragma omp for schedule(static)
    for (std::ptrdiff_t k = 0; k < K; ++k) {
        const std::ptrdiff_t kx = k % g.kw, ky = (k / g.kw) % g.kh, ci = k / (std::ptrdiff_t(g.kw) * g.kh);
        std::ptrdiff_t ox0, ox1;
        valid_columns(g, kx, ox0, ox1);
        float* dst = col + k * P;
        for (std::ptrdiff_t oy = r0; oy < r1; ++oy) {
            float* d = dst + (oy - r0) * OW;
            const std::ptrdiff_t iy = oy * s + ky - g.pad;
            if (iy < 0 || iy >= H) {
                std::fill(d, d + OW, 0.0f);
                continue;
            }
            const float* src = x + (ci * H + iy) * W + kx - g.pad;
            std::fill(d, d + ox0, 0.0f);
            if (s == 1) {
                if (ox1 > ox0) std::memcpy(d + ox0, src + ox0, sizeof(float) * std::size_t(ox1 - ox0));
            } else {
                for (std::ptrdiff_t ox = ox0; ox < ox1; ++ox) d[ox] = src[ox * s];
            }
            std::fill(d + ox1, d + OW, 0.0f);
        }
    }
}

// dx[ci][oy*s+ky-pad][ox*s+kx-pad] += col[...] for oy in [r0, r1); work-shared over ci (no races).
inline void col2im_rows_add(const conv_geometry& g, const float* col, int r0, int r1, float* dx) {
    const std::ptrdiff_t OW = g.ow(), H = g.h, W = g.w, s = g.stride;
    const std::ptrdiff_t P = std::ptrdiff_t(r1 - r0) * OW;
#pragma omp for schedule(static)
    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                std::ptrdiff_t ox0, ox1;
                valid_columns(g, kx, ox0, ox1);
                const float* src = col + ((ci * g.kh + ky) * g.kw + kx) * P;
                for (std::ptrdiff_t oy = r0; oy < r1; ++oy) {
                    const std::ptrdiff_t iy = oy * s + ky - g.pad;
                    if (iy < 0 || iy >= H) continue;
                    float* d = dx + (ci * H + iy) * W + kx - g.pad;
                    const float* c = src + (oy - r0) * OW;
                    if (s == 1) {
                        for (std::ptrdiff_t ox = ox0; ox < ox1; ++ox) d[ox] += c[ox];
                    } else {
                        for (std::ptrdiff_t ox = ox0; ox < ox1; ++ox) d[ox * s] += c[ox];
                    }
                }
            }
}

inline void gemm_forward(const conv_geometry& g, const float* x, const float* w, const float* b, float* y,
                         float* ws) {
    const int OH = g.oh(), OW = g.ow();
    const std::ptrdiff_t P = std::ptrdiff_t(OH) * OW, K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
    const int rows = im2col_rows_per_tile(g);
    const Eigen::Map<const row_matrix> wm(w, g.cout, K);
    const int parts = max_threads();
#pragma omp parallel
    {
        serial_nested_regions();
        for (int n = 0; n < g.n; ++n) {
            const float* xn = x + std::ptrdiff_t(n) * g.cin * g.h * g.w;
            float* yn = y + std::ptrdiff_t(n) * g.cout * P;
            for (int r0 = 0; r0 < OH; r0 += rows) {
                const int r1 = std::min(OH, r0 + rows);
                const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * OW;
                im2col_rows(g, xn, r0, r1, ws);  // ends with a barrier
                for_each_part(parts, [&](int part) {
                    const gemm_block s = gemm_share(g.cout, pt, part, parts);
                    if (s.empty()) return;
                    const Eigen::Map<const row_matrix, 0, Eigen::OuterStride<>> col(ws + s.c0, K, s.c1 - s.c0,
                                                                                     Eigen::OuterStride<>(pt));
                    strided_map ym(yn + std::ptrdiff_t(r0) * OW + s.r0 * P + s.c0, s.r1 - s.r0, s.c1 - s.c0,
                                   Eigen::OuterStride<>(P));
                    ym.noalias() = wm.middleRows(s.r0, s.r1 - s.r0) * col;
                    if (b)
                        for (std::ptrdiff_t co = s.r0; co < s.r1; ++co) ym.row(co - s.r0).array() += b[co];
                });
#pragma omp barrier
            }
        }
    }
}

inline void gemm_backward_data(const conv_geometry& g, const float* dy, const float* w, float* dx, float* ws) {
    const int OH = g.oh(), OW = g.ow();
    const std::ptrdiff_t P = std::ptrdiff_t(OH) * OW, K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
    const std::ptrdiff_t in_plane = std::ptrdiff_t(g.h) * g.w;
    const int rows = im2col_rows_per_tile(g);
    const Eigen::Map<const row_matrix> wm(w, g.cout, K);
    const int parts = max_threads();
#pragma omp parallel
    {
        serial_nested_regions();
#pragma omp for schedule(static)
        for (std::ptrdiff_t c = 0; c < std::ptrdiff_t(g.n) * g.cin; ++c)
            std::fill(dx + c * in_plane, dx + (c + 1) * in_plane, 0.0f);
        for (int n = 0; n < g.n; ++n) {
            const float* dyn = dy + std::ptrdiff_t(n) * g.cout * P;
            float* dxn = dx + std::ptrdiff_t(n) * g.cin * in_plane;
            for (int r0 = 0; r0 < OH; r0 += rows) {
                const int r1 = std::min(OH, r0 + rows);
                const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * OW;
                for_each_part(parts, [&](int part) {
                    const gemm_block s = gemm_share(K, pt, part, parts);
                    if (s.empty()) return;
                    const_strided_map dym(dyn + std::ptrdiff_t(r0) * OW + s.c0, g.cout, s.c1 - s.c0,
                                          Eigen::OuterStride<>(P));
                    strided_map col(ws + s.r0 * pt + s.c0, s.r1 - s.r0, s.c1 - s.c0, Eigen::OuterStride<>(pt));
                    col.noalias() = wm.middleCols(s.r0, s.r1 - s.r0).transpose() * dym;
                });
#pragma omp barrier
                col2im_rows_add(g, ws, r0, r1, dxn);  // ends with a barrier
            }
        }
    }
}

inline void gemm_backward_weights(const conv_geometry& g, const float* x, const float* dy, float* dw, float* db,
                                  float* ws) {
    const int OH = g.oh(), OW = g.ow();
    const std::ptrdiff_t P = std::ptrdiff_t(OH) * OW, K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
    const int rows = im2col_rows_per_tile(g);
    const int parts = max_threads();
#pragma omp parallel
    {
        serial_nested_regions();
        for (int n = 0; n < g.n; ++n) {
            const float* xn = x + std::ptrdiff_t(n) * g.cin * g.h * g.w;
            const float* dyn = dy + std::ptrdiff_t(n) * g.cout * P;
            for (int r0 = 0; r0 < OH; r0 += rows) {
                const int r1 = std::min(OH, r0 + rows);
                const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * OW;
                im2col_rows(g, xn, r0, r1, ws);  // ends with a barrier
                // Each part owns a block of dw: no reduction between threads, and every tile adds
                // into a given dw entry in the same order whichever thread holds the part.
                for_each_part(parts, [&](int part) {
                    const gemm_block s = gemm_share(g.cout, K, part, parts);
                    if (s.empty()) return;
                    const Eigen::Map<const row_matrix> col(ws, K, pt);
                    const_strided_map dym(dyn + std::ptrdiff_t(r0) * OW + s.r0 * P, s.r1 - s.r0, pt,
                                          Eigen::OuterStride<>(P));
                    strided_map dwm(dw + s.r0 * K + s.c0, s.r1 - s.r0, s.c1 - s.c0, Eigen::OuterStride<>(K));
                    dwm.noalias() += dym * col.middleRows(s.c0, s.c1 - s.c0).transpose();
                });
#pragma omp barrier
            }
        }
        if (db) {
#pragma omp for schedule(static)
            for (int co = 0; co < g.cout; ++co) {
                double sum = 0.0;
                for (int n = 0; n < g.n; ++n) {
                    const Eigen::Map<const Eigen::VectorXf> d(dy + (std::ptrdiff_t(n) * g.cout + co) * P, P);
                    sum += d.sum();
                }
                db[co] += float(sum);
            }
        }
    }
}

}  // namespace unetpp::backend::cpu_kernels::detail
