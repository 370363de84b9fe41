// The AVX2 + FMA traits of the Winograd F(4x4, 3x3) convolution (winograd.hpp), for machines
// with AVX2 and FMA but no AVX-512. Empty otherwise.
//
// The algorithm, the driver (winograd_driver.hpp), the plan (winograd_plan.hpp) and the
// transforms (winograd_transforms.hpp) are the AVX-512 kernel's; what changes with 8-lane vectors
// and no mask registers, and is all this file holds:
//   - a vector holds 8 tiles, a block of 48 tiles is 6 vectors;
//   - the GEMM micro-kernel computes 4 output channels x 3 vectors of 8 tiles: 12 ymm
//     accumulators, 3 loads and 1 broadcast, all 16 registers, no spills (objdump of g++ 12 -O3);
//     a block takes two calls;
//   - 8 tiles of one tile row read 36 consecutive input columns. They are loaded as plain vectors
//     (or, where the window crosses the image border, from a zero-padded copy of those columns)
//     and de-interleaved by 4 x 4 transposes inside each 128-bit half. The transposes put tiles
//     0, 2, 4, 6 in lanes 0-3 and 1, 3, 5, 7 in lanes 4-7; the output side applies the same
//     transpose, which is its own inverse, so the tiles land back in order;
//   - tiles that span tile rows (images narrower than 32 output columns) load with gathers and
//     store lane by lane (AVX2 has no scatter).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../../../config/abi.hpp"
#include "winograd_driver.hpp"
#include "winograd_plan.hpp"
#include "winograd_transforms.hpp"

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail::wino {

// Lane l of the result is all ones when bit l of `bits` is set (a vmaskmovps / gather mask).
inline __m256 lane_mask8(unsigned bits) noexcept {
    const __m256i lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(bits)), lanes), lanes));
}

// In each 128-bit half, the 4 x 4 transpose of the rows a, b, c, d: p[j] holds element j of
// every row. Applied to four vectors of 8 consecutive columns (two tiles of 4 each) it gives the
// column phases j = 0..3 of tiles 0, 2, 4, 6, 1, 3, 5, 7; applied to those it gives the columns
// back.
inline void transpose4x4_halves(__m256 a, __m256 b, __m256 c, __m256 d, __m256* p) noexcept {
    const __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpacklo_ps(c, d);
    const __m256 t2 = _mm256_unpackhi_ps(a, b), t3 = _mm256_unpackhi_ps(c, d);
    p[0] = _mm256_shuffle_ps(t0, t1, 0x44);
    p[1] = _mm256_shuffle_ps(t0, t1, 0xEE);
    p[2] = _mm256_shuffle_ps(t2, t3, 0x44);
    p[3] = _mm256_shuffle_ps(t2, t3, 0xEE);
}

// ph[j] = columns 4 t + j (j = 0..5) of the 8 tiles t whose windows start at p[0] (36 floats).
inline void load_row_phases(const float* p, __m256* ph) noexcept {
    transpose4x4_halves(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _mm256_loadu_ps(p + 16), _mm256_loadu_ps(p + 24),
                        ph);
    // Phases 4 and 5 are phases 0 and 1 of the windows one tile further.
    __m256 next[4];
    transpose4x4_halves(_mm256_loadu_ps(p + 4), _mm256_loadu_ps(p + 12), _mm256_loadu_ps(p + 20),
                        _mm256_loadu_ps(p + 28), next);
    ph[4] = next[0];
    ph[5] = next[1];
}

// The AVX2 + FMA traits of the driver (winograd_driver.hpp): 8 tiles per __m256, row loads
// through 4 x 4 transposes, gathers and lane-by-lane stores for groups that span tile rows, and
// the GEMM micro-kernel.
struct isa_avx2 : simd256 {
    // 8 consecutive tiles (place_group, winograd_plan.hpp) and, for the gather path, their lanes.
    struct group : group_place, lane_places {
        bool inside;   // row path: the 36 input columns lie inside the image row
        int c0;        // row path: first input column of the window (may be negative)
        int out_cols;  // row path: output columns to store (from 4 * tx0)
    };

    static group make_group(const geom& q, std::ptrdiff_t gi) noexcept {
        group s{};
        static_cast<group_place&>(s) = place_group(q, gi);
        if (s.row) {
            s.c0 = 4 * s.tx0 - q.pad;
            s.inside = s.c0 >= 0 && s.c0 + 36 <= q.w;
            s.out_cols = std::min(4 * s.len, q.ow - 4 * s.tx0);
            return s;
        }
        place_lanes(q, gi, s.len, s);
        return s;
    }

    // ph[j] = column phase j (j = 0..5) of the group's 8 tiles in the input row starting at `row`:
    // 36 columns loaded as plain vectors or, where they cross the image border, from a copy with
    // zeros outside.
    static void load_row(const geom& q, const group& s, const float* row, __m256* ph) noexcept {
        if (s.inside) {
            load_row_phases(row + s.c0, ph);
            return;
        }
        alignas(32) float cols[40] = {};
        const int lo = std::max(0, -s.c0), hi = std::min(36, q.w - s.c0);
        if (hi > lo) std::memcpy(cols + lo, row + s.c0 + lo, sizeof(float) * std::size_t(hi - lo));
        load_row_phases(cols, ph);
    }

    // d[r*6+c] = input window of the group's tiles from the channel plane, gathered (zero outside).
    static void gather_window(const geom& q, const float* plane, const group& s, __m256* d) noexcept {
        const __m256i base = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.in_off));
        for (int r = 0; r < 6; ++r)
            for (int c = 0; c < 6; ++c) {
                const __m256i idx = _mm256_add_epi32(base, _mm256_set1_epi32(r * q.w + c));
                d[r * 6 + c] =
                    _mm256_mask_i32gather_ps(_mm256_setzero_ps(), plane, idx, lane_mask8(s.rm[r] & s.cm[c]), 4);
            }
    }

    // Writes o[j], column j of one output row of the group's 8 tiles, to the output row starting at
    // `row` (the transpose back to columns; out_cols of them).
    static void store_row(const group& s, float* row, const __m256* o) noexcept {
        float* dst = row + 4 * s.tx0;
        __m256 c[4];
        transpose4x4_halves(o[0], o[1], o[2], o[3], c);
        if (s.out_cols == 32) {
            for (int k = 0; k < 4; ++k) _mm256_storeu_ps(dst + 8 * k, c[k]);
        } else {
            alignas(32) float tmp[32];
            for (int k = 0; k < 4; ++k) _mm256_store_ps(tmp + 8 * k, c[k]);
            std::memcpy(dst, tmp, sizeof(float) * std::size_t(s.out_cols));
        }
    }

    // Writes the group's 4 x 4 outputs o[i*4+j] into the channel plane lane by lane (AVX2 has no
    // scatter; what lies inside).
    static void scatter_tiles(const geom& q, float* plane, const group& s, const __m256* o) noexcept {
        alignas(32) float lanes[8];
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                const unsigned live = s.orm[i] & s.ocm[j];
                if (!live) continue;
                _mm256_store_ps(lanes, o[i * 4 + j]);
                for (int l = 0; l < s.len; ++l)
                    if (live >> l & 1u) plane[s.out_off[l] + i * q.ow + j] = lanes[l];
            }
    }

    // The inverse of store_row for the backward-weights pass: o[j] = column j of one output row of
    // the group's 8 tiles, read from the row starting at `row` (out_cols columns, zero after).
    static void load_out_row(const group& s, const float* row, __m256* o) noexcept {
        const float* src = row + 4 * s.tx0;
        if (s.out_cols == 32) {
            transpose4x4_halves(_mm256_loadu_ps(src), _mm256_loadu_ps(src + 8), _mm256_loadu_ps(src + 16),
                                _mm256_loadu_ps(src + 24), o);
            return;
        }
        alignas(32) float tmp[32] = {};
        std::memcpy(tmp, src, sizeof(float) * std::size_t(s.out_cols));
        transpose4x4_halves(_mm256_load_ps(tmp), _mm256_load_ps(tmp + 8), _mm256_load_ps(tmp + 16),
                            _mm256_load_ps(tmp + 24), o);
    }

    // The inverse of scatter_tiles: o[i*4+j] = the group's 4 x 4 tiles of the channel plane,
    // gathered (zero outside the output).
    static void gather_tiles(const geom& q, const float* plane, const group& s, __m256* o) noexcept {
        const __m256i base = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.out_off));
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                const __m256i idx = _mm256_add_epi32(base, _mm256_set1_epi32(i * q.ow + j));
                o[i * 4 + j] =
                    _mm256_mask_i32gather_ps(_mm256_setzero_ps(), plane, idx, lane_mask8(s.orm[i] & s.ocm[j]), 4);
            }
    }

    // out[i] = the sum of the lanes of v[i] for the 8 vectors v[0..7]: a tree of 3 steps that adds
    // halves, pairs and then single lanes of two vectors at a time, in a fixed order. After it, lane
    // 4h + m holds the sum of v[2m + h].
    static void lane_sums8(const __m256* v, float* out) noexcept {
        __m256 w[4], x[2];
        for (int j = 0; j < 4; ++j)
            w[j] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * j], v[2 * j + 1], 0x20),
                                 _mm256_permute2f128_ps(v[2 * j], v[2 * j + 1], 0x31));
        for (int j = 0; j < 2; ++j)
            x[j] = _mm256_add_ps(_mm256_shuffle_ps(w[2 * j], w[2 * j + 1], 0x44),
                                 _mm256_shuffle_ps(w[2 * j], w[2 * j + 1], 0xEE));
        const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], 0x88), _mm256_shuffle_ps(x[0], x[1], 0xDD));
        _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }

    // The backward-weights micro-kernel (winograd_wgrad.hpp): out[r*2 + c] = the sum over the nvec
    // vectors of tiles of z[r*zs + ...] * v[c*vs + ...], for 4 output channels r and 2 input
    // channels c: 8 accumulators, 6 loads per 8 FMAs, then lane_sums8.
    static constexpr int wgrad_rows = 4, wgrad_cols = 2;
    static void wgrad_kernel(int nvec, const float* z, std::ptrdiff_t zs, const float* v, std::ptrdiff_t vs,
                             float* out) noexcept {
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int k = 0; k < nvec; ++k) {
            const __m256 b0 = _mm256_load_ps(v + 8 * k), b1 = _mm256_load_ps(v + vs + 8 * k);
            __m256 a = _mm256_load_ps(z + 8 * k);
            c00 = _mm256_fmadd_ps(a, b0, c00);
            c01 = _mm256_fmadd_ps(a, b1, c01);
            a = _mm256_load_ps(z + zs + 8 * k);
            c10 = _mm256_fmadd_ps(a, b0, c10);
            c11 = _mm256_fmadd_ps(a, b1, c11);
            a = _mm256_load_ps(z + 2 * zs + 8 * k);
            c20 = _mm256_fmadd_ps(a, b0, c20);
            c21 = _mm256_fmadd_ps(a, b1, c21);
            a = _mm256_load_ps(z + 3 * zs + 8 * k);
            c30 = _mm256_fmadd_ps(a, b0, c30);
            c31 = _mm256_fmadd_ps(a, b1, c31);
        }
        const __m256 acc[8] = {c00, c01, c10, c11, c20, c21, c30, c31};
        lane_sums8(acc, out);
    }

    // Taps of the filters co0 .. co0+7 for input channel ci (driver: filter_taps), assembled lane
    // by lane.
    static void filter_taps(const filter_source& f, int co0, int ci, __m256* g) noexcept {
        alignas(32) float taps[9][8] = {};
        for (int l = 0; l < 8 && co0 + l < f.cout; ++l) {
            const int co = co0 + l;
            const float* src = f.w + co * f.lane_stride + ci * f.in_stride;
            const float sc = f.scale ? f.scale[co] : 1.0f;
            for (int k = 0; k < 9; ++k) taps[k][l] = sc * src[f.flip ? 8 - k : k];
        }
        for (int k = 0; k < 9; ++k) g[k] = _mm256_load_ps(taps[k]);
    }

    static void store_halves(float* lo, float* hi, __m256 v) noexcept {
        _mm_storeu_ps(lo, _mm256_castps256_ps128(v));
        _mm_storeu_ps(hi, _mm256_extractf128_ps(v, 1));
    }

    // m[j*48 + 8i] = sum_k u[k*4 + j] * v[k*48 + 8i] for j < 4, i < NV. The accumulators are named
    // variables: with an array of them GCC 12 stored all 12 back to the stack on every step.
    template <int NV>
    static void gemm_kernel(int kdim, const float* u, const float* v, float* m) noexcept {
        static_assert(NV >= 1 && NV <= 3 && co_blk == 4);
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        for (int k = 0; k < kdim; ++k) {
            const float* vk = v + std::ptrdiff_t(k) * block_tiles;
            const float* uk = u + std::ptrdiff_t(k) * co_blk;
            const __m256 b0 = _mm256_load_ps(vk);
            const __m256 b1 = NV > 1 ? _mm256_load_ps(vk + 8) : b0;
            const __m256 b2 = NV > 2 ? _mm256_load_ps(vk + 16) : b0;
            __m256 a = _mm256_broadcast_ss(uk);
            c00 = _mm256_fmadd_ps(a, b0, c00);
            if constexpr (NV > 1) c01 = _mm256_fmadd_ps(a, b1, c01);
            if constexpr (NV > 2) c02 = _mm256_fmadd_ps(a, b2, c02);
            a = _mm256_broadcast_ss(uk + 1);
            c10 = _mm256_fmadd_ps(a, b0, c10);
            if constexpr (NV > 1) c11 = _mm256_fmadd_ps(a, b1, c11);
            if constexpr (NV > 2) c12 = _mm256_fmadd_ps(a, b2, c12);
            a = _mm256_broadcast_ss(uk + 2);
            c20 = _mm256_fmadd_ps(a, b0, c20);
            if constexpr (NV > 1) c21 = _mm256_fmadd_ps(a, b1, c21);
            if constexpr (NV > 2) c22 = _mm256_fmadd_ps(a, b2, c22);
            a = _mm256_broadcast_ss(uk + 3);
            c30 = _mm256_fmadd_ps(a, b0, c30);
            if constexpr (NV > 1) c31 = _mm256_fmadd_ps(a, b1, c31);
            if constexpr (NV > 2) c32 = _mm256_fmadd_ps(a, b2, c32);
        }
        const __m256 rows[4][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
        for (int j = 0; j < co_blk; ++j)
            for (int i = 0; i < NV; ++i) _mm256_store_ps(m + j * block_tiles + 8 * i, rows[j][i]);
    }

    // The GEMM of one block of 4 output channels over ng (1 to 6) vectors of tiles: two
    // micro-kernel calls of up to 3 vectors.
    static void gemm_block(int kdim, int ng, const float* u, const float* v, float* m) noexcept {
        for (int v0 = 0; v0 < ng; v0 += 3) {
            const int nv = std::min(3, ng - v0);
            if (nv == 3)
                gemm_kernel<3>(kdim, u, v + 8 * v0, m + 8 * v0);
            else if (nv == 2)
                gemm_kernel<2>(kdim, u, v + 8 * v0, m + 8 * v0);
            else
                gemm_kernel<1>(kdim, u, v + 8 * v0, m + 8 * v0);
        }
    }
};

using isa = isa_avx2;  // the traits this build runs

}  // namespace unetpp::backend::cpu_kernels::detail::wino
#endif  // AVX2 + FMA without AVX-512
