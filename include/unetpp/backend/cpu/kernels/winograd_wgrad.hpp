// The backward-weights pass of a stride-1 3x3 convolution on Winograd F(3x3, 4x4)
// (winograd.hpp holds the forward and backward-data passes; the transforms and why this one holds:
// winograd_transforms.hpp, "The backward-weights pass").
//
// What it computes: dw[co][ci][ky][kx] += sum over images and output pixels of
// dy[co][y][x] * x[ci][y + ky - pad][x + kx - pad], for the convolutions the forward runs on
// Winograd (padding 0, 1 or 2; the input in one tensor or, for a decoder, two: wino::in_planes).
//
// Algorithm. The output is cut into the forward's 4 x 4 tiles, each with its 6 x 6 input window.
// Per tile, the 3 x 3 gradient is G^T ((AT^T E AT) .* (BT D B)) G for the tile's output gradient E
// and input window D, and G^T . G is linear, so the sums over tiles run on the 36 transformed
// points and G^T . G is applied once at the end:
//   1. for a superblock of tiles (wgrad_plan: as many groups of tiles as fit the budget), the
//      input transform V[a][ci][tile] = (BT D B)[a] (the forward's own loads and transform) and the
//      output-gradient transform Z[a][co][tile] = (AT^T E AT)[a], tile-major per channel;
//   2. 36 sums M[a][co][ci] += sum_tile Z[a][co][tile] V[a][ci][tile]: a micro-kernel of 4 output x
//      4 input channels (AVX2: 4 x 2) that multiplies whole vectors of tiles into accumulators per
//      lane, then adds the lanes of each (a fixed tree, the traits' lane sums);
//   3. after the last superblock, dw += G^T M G per (co, ci), vectorised over ci.
// Multiplies per (output pixel, co, ci): 36 / 16 = 2.25 instead of 9.
//
// Work split: one parallel region; per superblock, the transforms are split over the parts by
// (channel, group) and the sums by (point, block of 4 output channels), with a barrier after each;
// the last step by output channel. Every sum runs in one fixed order (superblocks, then the lanes'
// partial sums, then the tree), so the result does not depend on the thread count at all.
//
// Wide layers: the sums M take 36 x cout x cin floats (38 MB for 512 -> 512 channels), so where
// they would exceed wgrad_sums_budget the output channels are cut into equal chunks that fit it,
// and the steps above run per chunk (the input transform again for each: the wide layers are the
// deep ones, with few tiles).
//
// Workspace (winograd_wgrad_workspace_floats): one superblock's V and Z (of one chunk), one
// chunk's sums and each part's groups of tiles.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "parallel.hpp"
#include "winograd_driver.hpp"
#include "winograd_plan.hpp"
#include "winograd_transforms.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

namespace wino {

// Floats of one superblock's transforms (V and Z together) and of the sums M of one chunk of
// output channels.
inline constexpr std::size_t wgrad_block_budget = std::size_t(1) << 20;  // 4 MiB
inline constexpr std::size_t wgrad_sums_budget = std::size_t(4) << 20;   // 16 MiB

// How the backward-weights pass of q is cut: chunks of output channels (multiples of `rows`, the
// micro-kernel's; as many as the sums budget needs, of equal size), groups of tiles per superblock
// (spread evenly over the superblocks the budget needs, at least 8 vectors of tiles each), and the
// buffer sizes.
struct wgrad_plan {
    geom q;
    int co_chunk, chunks;
    std::ptrdiff_t sb_groups, supers;
    std::ptrdiff_t v_point, z_point;  // floats from one point's V (Z) to the next
    std::size_t v_floats, z_floats, m_floats;
    std::ptrdiff_t tiles_per_sb() const noexcept { return sb_groups * group_tiles; }
};

inline wgrad_plan make_wgrad_plan(const geom& q, int rows) noexcept {
    wgrad_plan p{q, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const std::size_t per_row = std::size_t(winograd_points) * std::size_t(q.cin) * std::size_t(rows);
    const int max_chunk = int(std::max<std::size_t>(1, wgrad_sums_budget / per_row)) * rows;
    p.chunks = (q.cout + max_chunk - 1) / max_chunk;
    p.co_chunk = (q.cout / rows + p.chunks - 1) / p.chunks * rows;
    const std::size_t per_group = std::size_t(winograd_points) * std::size_t(q.cin + p.co_chunk) * group_tiles;
    std::ptrdiff_t sb = std::max<std::ptrdiff_t>(8, std::ptrdiff_t(wgrad_block_budget / per_group));
    sb = std::max<std::ptrdiff_t>(1, std::min(sb, q.groups));
    p.supers = (q.groups + sb - 1) / sb;
    p.sb_groups = (q.groups + p.supers - 1) / p.supers;
    // One vector more per point, so that the 36 stores of a tile's transform do not all map to the
    // same cache set when a point's size is a multiple of 4 KiB.
    p.v_point = std::ptrdiff_t(q.cin) * p.tiles_per_sb() + group_tiles;
    p.z_point = std::ptrdiff_t(p.co_chunk) * p.tiles_per_sb() + group_tiles;
    p.v_floats = std::size_t(winograd_points) * std::size_t(p.v_point);
    p.z_floats = std::size_t(winograd_points) * std::size_t(p.z_point);
    p.m_floats = std::size_t(round16(std::ptrdiff_t(winograd_points) * q.cin * p.co_chunk));
    return p;
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

// e[i*4+j] = the 4 x 4 output gradients of group s's tiles in output channel co of dy (one tensor
// of q.cout channels), zero outside the output: the inverse of store_tiles.
template <class I>
inline void load_out_grad(const geom& q, const float* dy, int co, const typename I::group& s,
                          typename I::V* e) noexcept {
    const std::ptrdiff_t ohw = std::ptrdiff_t(q.oh) * q.ow;
    if (!s.row) {
        I::gather_tiles(q, dy + std::ptrdiff_t(co) * ohw, s, e);
        return;
    }
    const float* plane = dy + (std::ptrdiff_t(s.n) * q.cout + co) * ohw;
    for (int i = 0; i < 4; ++i) {
        if (4 * s.ty + i < q.oh)
            I::load_out_row(s, plane + std::ptrdiff_t(4 * s.ty + i) * q.ow, e + 4 * i);
        else
            for (int j = 0; j < 4; ++j) e[4 * i + j] = I::splat(0.0f);
    }
}

// dw (cout x cin x 3 x 3) += G^T M G for output channels [co0, co1) of the chunk whose sums m
// (36 x count x cin) start at output channel first: the last step.
template <class I>
inline void wgrad_finish(const geom& q, const float* m, int first, int count, int co0, int co1, float* dw) noexcept {
    using V = typename I::V;
    constexpr int L = group_tiles;
    const std::ptrdiff_t point = std::ptrdiff_t(count) * q.cin;
    alignas(64) float pad[winograd_points][L];
    alignas(64) float out[9][L];
    for (int co = co0; co < co1; ++co)
        for (int ci0 = 0; ci0 < q.cin; ci0 += L) {
            const int live = std::min(L, q.cin - ci0);
            const float* src = m + std::ptrdiff_t(co - first) * q.cin + ci0;
            V mv[winograd_points], wv[9];
            if (live == L) {
                for (int a = 0; a < winograd_points; ++a) mv[a] = I::loadu(src + a * point);
            } else {
                for (int a = 0; a < winograd_points; ++a) {
                    for (int l = 0; l < L; ++l) pad[a][l] = l < live ? src[a * point + l] : 0.0f;
                    mv[a] = I::load(pad[a]);
                }
            }
            weight_grad_tile_t<I>(mv, wv);
            for (int k = 0; k < 9; ++k) I::store(out[k], wv[k]);
            float* d = dw + (std::ptrdiff_t(co) * q.cin + ci0) * 9;
            for (int l = 0; l < live; ++l)
                for (int k = 0; k < 9; ++k) d[l * 9 + k] += out[k][l];
        }
}

// Floats of the workspace that holds, per part, the groups of one superblock (run_wgrad).
template <class I>
inline std::size_t wgrad_group_floats(const wgrad_plan& p, int parts) noexcept {
    static_assert(alignof(typename I::group) <= 64 && std::is_trivially_copyable_v<typename I::group>);
    const std::size_t bytes = std::size_t(parts) * std::size_t(p.sb_groups) * sizeof(typename I::group);
    return std::size_t(round16(std::ptrdiff_t((bytes + sizeof(float) - 1) / sizeof(float))));
}

// The pass (see the top of this file): x in one or two tensors (in_planes, q.xc set to match), dy
// one tensor of q.cout channels, dw accumulated into; p = make_wgrad_plan(q, I::wgrad_rows); ws
// holds p.v_floats + p.z_floats + p.m_floats + wgrad_group_floats<I>(p, max_threads()) floats,
// 64-byte aligned (nothing is allocated here).
template <class I>
inline void run_wgrad(const wgrad_plan& p, const in_planes& x, const float* dy, float* dw, float* ws) {
    using V = typename I::V;
    constexpr int R = I::wgrad_rows, C = I::wgrad_cols;
    const geom& q = p.q;
    float* vbuf = ws;
    float* zbuf = vbuf + p.v_floats;
    float* msum = zbuf + p.z_floats;
    const std::ptrdiff_t S = p.tiles_per_sb(), col_blocks = q.cin / C;
    const int parts = max_threads();
    const double macs = double(q.tiles) * q.cin * q.cout;
    // Each thread's groups of the current superblock, after the sums (a team has at most `parts`
    // threads); made in place below.
    auto* groups = reinterpret_cast<typename I::group*>(msum + p.m_floats);
#pragma omp parallel if (parts > 1 && macs > 65536.0)
    {
        typename I::group* gs = groups + std::size_t(team_thread()) * std::size_t(p.sb_groups);
        for (int first = 0; first < q.cout; first += p.co_chunk) {
            const int count = std::min(p.co_chunk, q.cout - first), channels = q.cin + count;
            const std::ptrdiff_t row_blocks = count / R;
            for (std::ptrdiff_t sb = 0; sb < p.supers; ++sb) {
                const std::ptrdiff_t g0 = sb * p.sb_groups;
                const int ng = int(std::min<std::ptrdiff_t>(p.sb_groups, q.groups - g0));
                for_each_part(parts, [&](int part) {  // 1. the transforms, by (channel, group)
                    std::ptrdiff_t lo, hi;
                    static_share(std::ptrdiff_t(ng) * channels, 1, part, parts, lo, hi);
                    for (int v = 0; v < ng && lo < hi; ++v)
                        ::new (static_cast<void*>(gs + v)) typename I::group(I::make_group(q, g0 + v));
                    for (std::ptrdiff_t it = lo; it < hi; ++it) {
                        // Channel by channel: each channel's rows are read in order, which the
                        // hardware prefetchers follow (group by group, every channel's rows were
                        // streams of their own).
                        const int c = int(it / ng);
                        const std::ptrdiff_t v = it % ng;
                        V d[36], t[36];
                        float* dst;
                        std::ptrdiff_t step;
                        if (c < q.cin) {
                            load_window<I>(q, x, c, gs[v], d);
                            input_tile_t<I>(d, t);
                            dst = vbuf + std::ptrdiff_t(c) * S;
                            step = p.v_point;
                        } else {
                            load_out_grad<I>(q, dy, first + c - q.cin, gs[v], d);
                            out_grad_tile_t<I>(d, t);
                            dst = zbuf + std::ptrdiff_t(c - q.cin) * S;
                            step = p.z_point;
                        }
                        for (int a = 0; a < winograd_points; ++a) I::store(dst + a * step + v * group_tiles, t[a]);
                    }
                });
#pragma omp barrier
                for_each_part(parts, [&](int part) {  // 2. the sums, by (point, block of output channels)
                    std::ptrdiff_t lo, hi;
                    static_share(std::ptrdiff_t(winograd_points) * row_blocks, 1, part, parts, lo, hi);
                    alignas(64) float sums[R * C];
                    for (std::ptrdiff_t it = lo; it < hi; ++it) {
                        const std::ptrdiff_t a = it / row_blocks, co0 = it % row_blocks * R;
                        const float* z = zbuf + a * p.z_point + co0 * S;
                        float* mrow = msum + (a * count + co0) * q.cin;
                        for (std::ptrdiff_t cb = 0; cb < col_blocks; ++cb) {
                            I::wgrad_kernel(ng, z, S, vbuf + a * p.v_point + cb * C * S, S, sums);
                            for (int r = 0; r < R; ++r)
                                for (int c = 0; c < C; ++c) {
                                    float& m = mrow[r * q.cin + cb * C + c];
                                    m = (sb == 0 ? 0.0f : m) + sums[r * C + c];
                                }
                        }
                    }
                });
#pragma omp barrier
            }
            for_each_part(parts, [&](int part) {  // 3. dw += G^T M G, by output channel
                std::ptrdiff_t lo, hi;
                static_share(count, 1, part, parts, lo, hi);
                wgrad_finish<I>(q, msum, first, count, first + int(lo), first + int(hi), dw);
            });
            // No barrier: the next chunk's sums overwrite M only after its transforms' barrier.
        }
    }
}

#endif  // AVX-512 or AVX2 + FMA

}  // namespace wino

}  // namespace unetpp::backend::cpu_kernels::detail
