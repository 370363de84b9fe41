// Winograd F(4x4, 3x3) convolution for the CPU backend (float). The driver (weight packing and
// the run over tiles, winograd_driver.hpp) is one template over an instruction-set traits type;
// this file holds the entry points and the AVX-512 traits with their GEMM micro-kernel,
// winograd_avx2.hpp the AVX2 + FMA ones (it describes what differs). The plan
// (winograd_plan.hpp) and the transforms (winograd_transforms.hpp) are shared.
//
// What it computes: the stride-1 3x3 convolutions of conv2d.hpp (cross-correlation, implicit zero
// padding 0, 1 or 2 on every side, any H, W, cin, cout, batch), forward with bias, the fused
// Conv -> BatchNorm -> ReLU epilogue, and backward-data (which is itself such a convolution of dy,
// padded by 2 - pad, with the weights flipped in space and input/output channels swapped).
//
// Algorithm (the transforms and where their matrices come from: winograd_transforms.hpp). The
// output is cut into 4 x 4 tiles (partial tiles at the right and bottom edges compute 4 x 4 and
// store what lies inside); each reads a 6 x 6 input window. Then
//   1. weights: U[a][co][ci] = (G g G^T)[a] for the 36 points a, packed per call into the
//      workspace as [a][block of 8 output channels][ci][8] (the BatchNorm scale of the fused path
//      is folded in here). Training changes the weights every step, so the training passes
//      transform them on every call; the inference path (conv2d_forward_fused) keeps U across
//      calls in winograd_cache.hpp, which reuses it only while the weights are bit for bit
//      unchanged.
//   2. input: V[a][ci][tile] = (BT d B)[a] for a block of 48 tiles (three groups of 16, one tile
//      per vector lane) into a per-thread tile-major buffer. 16 tiles of one tile row load their
//      6 input rows with masked contiguous loads and de-interleave them with permutes; groups that
//      span tile rows (images narrower than 64 columns) use gathers.
//   3. 36 GEMMs M[a][co][tile] = sum_ci U[a][co][ci] V[a][ci][tile]: an AVX-512 micro-kernel of
//      8 output channels x 3 vectors of 16 tiles (24 zmm accumulators, 3 loads and 8 broadcasts
//      per 24 FMAs), over blocks of 64 output channels (AVX2: 4 output channels x 3 vectors of 8).
//   4. output: Y = AT M A per tile, plus bias, optional ReLU, written once to y (NCHW).
// Multiplies per output pixel and channel pair: 36 / 16 = 2.25 instead of 9 (4x fewer); the
// transforms add O(cin + cout) work per tile, which is why small channel counts stay direct.
//
// Wide layers: U is 4x the layer's weights (151 MB for a 1024 -> 1024 layer), and packing it
// whole into the workspace made the workspace the largest buffer of an inference pass. Where U
// would exceed 16 MiB (wino::wide_layer), run_wide packs it per chunk of 64 output channels inside
// the work: each thread into its own one-chunk buffer, for the chunks it computes. The inputs of
// such a layer are transformed once into a buffer shared by the threads (wino::share_inputs, up to
// 32 MiB: the wide layers are the deep ones, with few tiles) and the work runs chunk by chunk, so
// each chunk is packed once; where that buffer would not fit, each thread transforms its blocks
// and packs a chunk again when it moves on to the next. All of it is one parallel region with at
// most one barrier: a first version ran 8 regions of 128 channels each for the 1024 -> 1024 layer,
// and on a loaded machine every region waited for a descheduled thread (2.5x slower). Chunks
// start at multiples of 64 channels and their packing is the same code, so every output is the
// same bit for bit as with the whole layer packed (tested against the cached path, which packs the
// whole layer once).
//
// Work split (parallel.hpp): items are (block of 48 tiles, chunk of 64 output channels), cut into
// max_threads() contiguous ranges that the team takes in turn; a thread recomputes V only when
// its next item starts a new tile block. Every output element is computed the same way whatever
// the split (one fixed-order sum over ci per point), so results do not depend on the thread count
// at all. Small images at batch 1 still give every thread work: their tile block is split over
// output-channel chunks.
//
// Speed (bench/conv_kernels_bench.cpp "wino", 2 threads, docs/PERFORMANCE.md "Winograd
// convolution"): 2.0-2.7x the direct kernel from 32 channels at 32x32 and up, level at 16 -> 16,
// slower on 8x8 images at batch 1 (winograd_pays keeps those direct); unet_bn<64,4> inference
// 1.64x, ronneberger2015 2.0x.
//
// Accuracy: the transforms multiply by up to 8 and divide by 6 and 24, so the rounding error
// exceeds the direct sum's; test_winograd.cpp measures it against the reference convolution for
// every preset geometry: at most 4.2e-5 of the sum of |products| of an output (1-3 input
// channels), 4e-6 from 16 channels on; tested bound 1e-4.
//
// Workspace: winograd_workspace_floats(g), which depends on max_threads() (per part a V and an M
// buffer, and a wide layer's chunk of packed weights): query it with the thread count the call
// will run under, as the backend does.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "parallel.hpp"
#include "winograd_avx2.hpp"
#include "winograd_cache.hpp"
#include "winograd_driver.hpp"
#include "winograd_plan.hpp"
#include "winograd_transforms.hpp"
#include "winograd_wgrad.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

#if defined(__AVX512F__)
inline constexpr bool have_winograd = true;
inline constexpr const char* winograd_name = "winograd-avx512 F(4x4,3x3)";
inline constexpr const char* winograd_wgrad_name = "winograd-avx512 F(3x3,4x4)";
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr bool have_winograd = true;
inline constexpr const char* winograd_name = "winograd-avx2 F(4x4,3x3)";
inline constexpr const char* winograd_wgrad_name = "winograd-avx2 F(3x3,4x4)";
#else
inline constexpr bool have_winograd = false;
inline constexpr const char* winograd_name = "winograd (not compiled: needs AVX-512 or AVX2 + FMA)";
inline constexpr const char* winograd_wgrad_name = winograd_name;
#endif

namespace wino {

#if defined(__AVX512F__)

// ---- Loading 16 tiles of one tile row -------------------------------------------------------
//
// ph[j] = elements 4 l + j (l = 0..15, j = 0..3) of the 64 consecutive floats l0, l1, l2, l3.
inline void phases4(__m512 l0, __m512 l1, __m512 l2, __m512 l3, __m512* ph) noexcept {
    // Lanes 0-7: phase j of elements 0..31, lanes 8-15: phase j+1.
    const __m512i ia = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i ib = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512 a = _mm512_permutex2var_ps(l0, ia, l1), b = _mm512_permutex2var_ps(l0, ib, l1);
    const __m512 c = _mm512_permutex2var_ps(l2, ia, l3), d = _mm512_permutex2var_ps(l2, ib, l3);
    ph[0] = _mm512_shuffle_f32x4(a, c, 0x44);
    ph[1] = _mm512_shuffle_f32x4(a, c, 0xEE);
    ph[2] = _mm512_shuffle_f32x4(b, d, 0x44);
    ph[3] = _mm512_shuffle_f32x4(b, d, 0xEE);
}

// Tiles tx0 .. tx0+15 of one tile row read input columns c0 + 4 l + j (lane l, j = 0..5) of each
// of their 6 rows: a stride-4 de-interleave of 66 consecutive floats. The row is loaded as five
// masked vectors (the masks clear columns outside the image: the zero padding) and split into the
// six column phases with permutes. `p` may point before the row (left padding): masked-off lanes
// are never read.
inline void load_row_phases(const float* p, const __mmask16* lm, __m512* ph) noexcept {
    const __m512 l0 = _mm512_maskz_loadu_ps(lm[0], p), l1 = _mm512_maskz_loadu_ps(lm[1], p + 16);
    const __m512 l2 = _mm512_maskz_loadu_ps(lm[2], p + 32), l3 = _mm512_maskz_loadu_ps(lm[3], p + 48);
    const __m512 l4 = _mm512_maskz_loadu_ps(lm[4], p + 64);
    phases4(l0, l1, l2, l3, ph);
    // Phases 4 and 5 are phases 0 and 1 one tile further: shift in columns 64 and 65.
    const __m512i n0 = _mm512_castps_si512(l4);
    ph[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(n0, _mm512_castps_si512(ph[0]), 1));
    ph[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_alignr_epi32(n0, n0, 1), _mm512_castps_si512(ph[1]), 1));
}

// The inverse for one output row of 16 tiles: o[j] holds column j of every tile; writes the
// 64 columns 4 l + j to p with the store masks sm[0..3].
inline void store_row_phases(float* p, const __mmask16* sm, const __m512* o) noexcept {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512d e0 = _mm512_castps_pd(_mm512_permutex2var_ps(o[0], lo, o[1]));
    const __m512d e1 = _mm512_castps_pd(_mm512_permutex2var_ps(o[0], hi, o[1]));
    const __m512d f0 = _mm512_castps_pd(_mm512_permutex2var_ps(o[2], lo, o[3]));
    const __m512d f1 = _mm512_castps_pd(_mm512_permutex2var_ps(o[2], hi, o[3]));
    const __m512i q0 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), q1 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    _mm512_mask_storeu_ps(p, sm[0], _mm512_castpd_ps(_mm512_permutex2var_pd(e0, q0, f0)));
    _mm512_mask_storeu_ps(p + 16, sm[1], _mm512_castpd_ps(_mm512_permutex2var_pd(e0, q1, f0)));
    _mm512_mask_storeu_ps(p + 32, sm[2], _mm512_castpd_ps(_mm512_permutex2var_pd(e1, q0, f1)));
    _mm512_mask_storeu_ps(p + 48, sm[3], _mm512_castpd_ps(_mm512_permutex2var_pd(e1, q1, f1)));
}

// p + off for an offset that may point before p's array (only masked loads/stores use it).
inline const float* shifted(const float* p, std::ptrdiff_t off) noexcept {
    return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(p) + std::uintptr_t(off) * sizeof(float));
}
inline float* shifted(float* p, std::ptrdiff_t off) noexcept {
    return reinterpret_cast<float*>(reinterpret_cast<std::uintptr_t>(p) + std::uintptr_t(off) * sizeof(float));
}

// The AVX-512 traits of the driver (winograd_driver.hpp): 16 tiles per __m512, masked row loads
// and stores, gathers and scatters for groups that span tile rows, and the GEMM micro-kernel.
struct isa_avx512 : simd512 {
    // 16 consecutive tiles (place_group, winograd_plan.hpp) and their lane masks.
    struct group : group_place {
        __mmask16 lm[5], sm[4];                  // row path: input load masks, output store masks
        __m512i in_idx, out_idx;                 // gather path: lane_places' in_off, out_off
        __mmask16 rm[6], cm[6], orm[4], ocm[4];  // gather path: lane_places' masks
    };

    static group make_group(const geom& q, std::ptrdiff_t gi) noexcept {
        group s{};
        static_cast<group_place&>(s) = place_group(q, gi);
        if (s.row) {
            const int c0 = 4 * s.tx0 - q.pad;
            for (int k = 0; k < 5; ++k) {
                unsigned m = 0;
                for (int e = 0; e < (k < 4 ? 16 : 2); ++e) {
                    const int c = c0 + 16 * k + e;
                    if (c >= 0 && c < q.w) m |= 1u << e;
                }
                s.lm[k] = __mmask16(m);
            }
            for (int k = 0; k < 4; ++k) {
                unsigned m = 0;
                for (int e = 0; e < 16; ++e)
                    if ((16 * k + e) / 4 < s.len && 4 * s.tx0 + 16 * k + e < q.ow) m |= 1u << e;
                s.sm[k] = __mmask16(m);
            }
            return s;
        }
        alignas(64) lane_places p;
        place_lanes(q, gi, s.len, p);
        s.in_idx = _mm512_load_si512(p.in_off);
        s.out_idx = _mm512_load_si512(p.out_off);
        for (int r = 0; r < 6; ++r) s.rm[r] = __mmask16(p.rm[r]), s.cm[r] = __mmask16(p.cm[r]);
        for (int i = 0; i < 4; ++i) s.orm[i] = __mmask16(p.orm[i]), s.ocm[i] = __mmask16(p.ocm[i]);
        return s;
    }

    // ph[j] = column phase j (j = 0..5) of the group's 16 tiles in the input row starting at `row`
    // (masked loads: zero outside the image).
    static void load_row(const geom& q, const group& s, const float* row, __m512* ph) noexcept {
        load_row_phases(shifted(row, 4 * s.tx0 - q.pad), s.lm, ph);
    }

    // d[r*6+c] = input window of the group's tiles from the channel plane, gathered (zero outside).
    static void gather_window(const geom& q, const float* plane, const group& s, __m512* d) noexcept {
        for (int r = 0; r < 6; ++r)
            for (int c = 0; c < 6; ++c) {
                const __m512i idx = _mm512_add_epi32(s.in_idx, _mm512_set1_epi32(r * q.w + c));
                d[r * 6 + c] =
                    _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(s.rm[r] & s.cm[c]), idx, plane, 4);
            }
    }

    // Writes o[j], column j of one output row of the group's 16 tiles, to the output row starting at
    // `row` (masked stores: what lies inside the output).
    static void store_row(const group& s, float* row, const __m512* o) noexcept {
        store_row_phases(shifted(row, 4 * s.tx0), s.sm, o);
    }

    // Writes the group's 4 x 4 outputs o[i*4+j] into the channel plane, scattered (what lies inside).
    static void scatter_tiles(const geom& q, float* plane, const group& s, const __m512* o) noexcept {
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                const __m512i idx = _mm512_add_epi32(s.out_idx, _mm512_set1_epi32(i * q.ow + j));
                _mm512_mask_i32scatter_ps(plane, __mmask16(s.orm[i] & s.ocm[j]), idx, o[i * 4 + j], 4);
            }
    }

    // The inverse of store_row for the backward-weights pass: o[j] = column j of one output row of
    // the group's 16 tiles, read from the row starting at `row` (zero outside the output).
    static void load_out_row(const group& s, const float* row, __m512* o) noexcept {
        const float* p = shifted(row, 4 * s.tx0);
        phases4(_mm512_maskz_loadu_ps(s.sm[0], p), _mm512_maskz_loadu_ps(s.sm[1], p + 16),
                _mm512_maskz_loadu_ps(s.sm[2], p + 32), _mm512_maskz_loadu_ps(s.sm[3], p + 48), o);
    }

    // The inverse of scatter_tiles: o[i*4+j] = the group's 4 x 4 tiles of the channel plane,
    // gathered (zero outside the output).
    static void gather_tiles(const geom& q, const float* plane, const group& s, __m512* o) noexcept {
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                const __m512i idx = _mm512_add_epi32(s.out_idx, _mm512_set1_epi32(i * q.ow + j));
                o[i * 4 + j] =
                    _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(s.orm[i] & s.ocm[j]), idx, plane, 4);
            }
    }

    // out[i] = the sum of the lanes of v[i] for the 16 vectors v[0..15]: a tree of 4 steps that adds
    // halves, quarters, pairs and then single lanes of two vectors at a time (45 instructions for
    // 16 sums), in a fixed order. After it, lane 4k + m holds the sum of v[4m + k].
    static void lane_sums16(const __m512* v, float* out) noexcept {
        __m512 w[8], x[4], y[2];
        for (int j = 0; j < 8; ++j)
            w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0x44),
                                 _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], 0xEE));
        for (int j = 0; j < 4; ++j)
            x[j] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], 0x88),
                                 _mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], 0xDD));
        for (int j = 0; j < 2; ++j)
            y[j] = _mm512_add_ps(_mm512_shuffle_ps(x[2 * j], x[2 * j + 1], 0x44),
                                 _mm512_shuffle_ps(x[2 * j], x[2 * j + 1], 0xEE));
        const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], 0x88), _mm512_shuffle_ps(y[0], y[1], 0xDD));
        const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, z));
    }

    // The backward-weights micro-kernel (winograd_wgrad.hpp): out[r*4 + c] = the sum over the nvec
    // vectors of tiles of z[r*zs + ...] * v[c*vs + ...], for 4 output channels r and 4 input
    // channels c: 16 accumulators over the tile lanes, 8 loads per 16 FMAs, then lane_sums16.
    static constexpr int wgrad_rows = 4, wgrad_cols = 4;
    static void wgrad_kernel(int nvec, const float* z, std::ptrdiff_t zs, const float* v, std::ptrdiff_t vs,
                             float* out) noexcept {
        __m512 acc[4][4];
        for (int r = 0; r < 4; ++r)
            for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
        for (int k = 0; k < nvec; ++k) {
            __m512 a[4], b[4];
            // The empty asm statements keep a[] and b[] in registers: GCC 12 otherwise folds one
            // of the two loads into each of the 4 FMAs that use it (20 loads per 16 FMAs, not 8).
            for (int r = 0; r < 4; ++r) {
                a[r] = _mm512_load_ps(z + r * zs + 16 * k);
                __asm__("" : "+v"(a[r]));
            }
            for (int c = 0; c < 4; ++c) {
                b[c] = _mm512_load_ps(v + c * vs + 16 * k);
                __asm__("" : "+v"(b[c]));
            }
            for (int r = 0; r < 4; ++r)
                for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_fmadd_ps(a[r], b[c], acc[r][c]);
        }
        lane_sums16(&acc[0][0], out);
    }

    // Taps of the filters co0 .. co0+15 for input channel ci (driver: filter_taps), gathered.
    static void filter_taps(const filter_source& f, int co0, int ci, __m512* g) noexcept {
        const int live = std::min(16, f.cout - co0);
        const __mmask16 mask = __mmask16((1u << live) - 1u);
        const __m512i lane = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                _mm512_set1_epi32(int(f.lane_stride)));
        const float* base = f.w + std::ptrdiff_t(co0) * f.lane_stride + ci * f.in_stride;
        const __m512 s = f.scale ? _mm512_maskz_loadu_ps(mask, f.scale + co0) : _mm512_set1_ps(1.0f);
        for (int k = 0; k < 9; ++k) {
            const __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32(f.flip ? 8 - k : k));
            g[k] = _mm512_mul_ps(s, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, base, 4));
        }
    }

    static void store_halves(float* lo, float* hi, __m512 v) noexcept {
        const __m512d d = _mm512_castps_pd(v);
        _mm256_storeu_ps(lo, _mm256_castpd_ps(_mm512_castpd512_pd256(d)));
        _mm256_storeu_ps(hi, _mm256_castpd_ps(_mm512_extractf64x4_pd(d, 1)));
    }

    // m[j*48 + 16i] = sum_k u[k*8 + j] * v[k*48 + 16i] for j < 8, i < NV.
    template <int NV>
    static void gemm_kernel(int kdim, const float* u, const float* v, float* m) noexcept {
        __m512 acc[co_blk][NV];
        for (int j = 0; j < co_blk; ++j)
            for (int i = 0; i < NV; ++i) acc[j][i] = _mm512_setzero_ps();
        for (int k = 0; k < kdim; ++k) {
            __m512 b[NV];
            for (int i = 0; i < NV; ++i) b[i] = _mm512_load_ps(v + std::ptrdiff_t(k) * block_tiles + 16 * i);
            const float* uk = u + std::ptrdiff_t(k) * co_blk;
    #pragma GCC unroll 8
            for (int j = 0; j < co_blk; ++j) {
                const __m512 a = _mm512_set1_ps(uk[j]);
                for (int i = 0; i < NV; ++i) acc[j][i] = _mm512_fmadd_ps(a, b[i], acc[j][i]);
            }
        }
        for (int j = 0; j < co_blk; ++j)
            for (int i = 0; i < NV; ++i) _mm512_store_ps(m + j * block_tiles + 16 * i, acc[j][i]);
    }


    // The GEMM of one block of 8 output channels over ng (1 to 3) vectors of tiles: one call.
    static void gemm_block(int kdim, int ng, const float* u, const float* v, float* m) noexcept {
        if (ng == 3)
            gemm_kernel<3>(kdim, u, v, m);
        else if (ng == 2)
            gemm_kernel<2>(kdim, u, v, m);
        else
            gemm_kernel<1>(kdim, u, v, m);
    }
};

using isa = isa_avx512;  // the traits this build runs

#endif  // __AVX512F__

}  // namespace wino

// The geometry of the convolution that computes g's backward-data pass.
inline conv_geometry winograd_backward_geometry(const conv_geometry& g) noexcept {
    return conv_geometry{g.n, g.cout, g.oh(), g.ow(), g.cin, 3, 3, 1, 2 - g.pad};
}

// Where Winograd beat the direct kernel in bench/conv_kernels_bench.cpp "wino" on the AVX-512
// machine it was measured on (docs/PERFORMANCE.md, "Winograd convolution"): at least 16 channels
// on both sides (at 16 -> 16 the two are level; below, the transforms dominate) and at least 16
// tiles of 4 x 4 outputs in the batch (below, packing the 4x larger transformed weights on every
// call costs more than the multiplies saved: 8 x 8 images at batch 1 stay direct).
//
// AVX2 (bench/conv_kernels_bench.cpp "wino:n1" built with -march=x86-64-v3, docs/PERFORMANCE.md
// "Winograd on AVX2"): 16 -> 16 and 32 -> 16 channels stayed at 0.6-0.95x the direct kernel from
// 64 x 64 to 256 x 256, so AVX2 asks for 32 channels on both sides; from there on 1.0-4x.
inline bool winograd_pays(const conv_geometry& g) noexcept {
#if defined(__AVX512F__)
    constexpr int min_channels = 16;
#else
    constexpr int min_channels = 32;
#endif
    const std::ptrdiff_t tiles = std::ptrdiff_t(g.n) * ((g.oh() + 3) / 4) * ((g.ow() + 3) / 4);
    return g.cin >= min_channels && g.cout >= min_channels && tiles >= 16;
}

// Whether conv2d_forward (and _fused) of g runs the Winograd kernel: compiled in, a stride-1 3x3
// convolution with padding 0..2, offsets within 32 bits, and chosen (automatically or forced:
// conv2d_algorithm()).
// What every Winograd pass needs of g: compiled in, a stride-1 3x3 convolution with padding 0..2,
// a non-empty output and offsets within 32 bits.
inline bool winograd_shape(const conv_geometry& g) noexcept {
    return have_winograd && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.pad >= 0 && g.pad <= 2 && g.oh() > 0 &&
           g.ow() > 0 && g.n > 0 && g.cin > 0 && g.cout > 0 &&
           wino::fits_int32(wino::make_geom(g.n, g.cin, g.h, g.w, g.cout, g.pad));
}
inline bool use_winograd(const conv_geometry& g) {
    if (!winograd_shape(g)) return false;
    const conv_algo a = conv2d_algorithm();
    return a == conv_algo::winograd || (a == conv_algo::automatic && winograd_pays(g));
}

inline wino::geom winograd_plan_of(const conv_geometry& g) noexcept {
    return wino::make_geom(g.n, g.cin, g.h, g.w, g.cout, g.pad);
}
// The workspace: the packed weights of the whole layer (or, for a wide layer, of one chunk per
// part), the folded bias, then per part its V buffer (absent where a wide layer shares one) and
// its M buffer, then the shared V of every tile block where there is one.
struct winograd_layout {
    std::size_t u, bias, part_stride, v_all;  // floats; part_stride includes a wide layer's chunk
    bool wide;
    std::size_t total(int parts) const noexcept { return u + bias + std::size_t(parts) * part_stride + v_all; }
    // The shared V of a wide layer after the parts (parts_ws: the first part), or null.
    float* v_all_in(float* parts_ws) const noexcept {
        return v_all ? parts_ws + std::size_t(max_threads()) * part_stride : nullptr;
    }
};
inline winograd_layout winograd_layout_of(const wino::geom& q) noexcept {
    const std::size_t vsz = wino::part_v_floats(q.cin), bias = std::size_t(wino::round16(q.cout));
    if (!wino::wide_layer(q)) return {wino::packed_weight_floats(q.cout, q.cin), bias, vsz + wino::part_m_floats, 0, false};
    const bool shared = wino::share_inputs(q);
    return {0, bias, wino::packed_weight_floats(wino::co_chunk, q.cin) + (shared ? 0 : vsz) + wino::part_m_floats,
            shared ? std::size_t(q.blocks) * vsz : 0, true};
}
inline std::size_t winograd_workspace_floats(const conv_geometry& g) {
    return winograd_layout_of(winograd_plan_of(g)).total(max_threads());
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// run_wide's weights source that packs each chunk with pack(c0, count, dst, parallel = false) into
// the part's own buffer (it runs inside run_wide's region).
template <class Pack>
auto packed_chunks(const Pack& pack) {
    return [&pack](int c0, int count, float* dst) {
        pack(c0, count, dst, false);
        return wino::chunk_weights{dst, wino::round16(count) / wino::co_blk, 0};
    };
}

// y = act(scale * (conv(x, w) + b) + shift) (scale, shift, b may be null; act = ReLU if relu).
// With `cached` (the inference path, conv2d_forward_fused) the transformed weights come from the
// cache of winograd_cache.hpp, which checks that w and scale are unchanged before reusing them.
// The input channels lie in one tensor or two (wino::in_planes; winograd_two_inputs says when two
// may be read).
inline void winograd_forward(const conv_geometry& g, const wino::in_planes& x, const float* w, const float* b,
                             const float* scale, const float* shift, bool relu, float* y, float* ws, bool cached) {
    const wino::geom q = wino::make_geom(g.n, g.cin, g.h, g.w, g.cout, g.pad, x.cb);
    const winograd_layout lay = winograd_layout_of(q);
    float* fb = ws + lay.u;
    float* parts = fb + lay.bias;
    const std::ptrdiff_t filter = std::ptrdiff_t(g.cin) * 9;
    // Packs filters c0 .. c0 + count - 1 (their BatchNorm scale folded in) into dst.
    const auto pack = [&](int c0, int count, float* dst, bool parallel) {
        wino::pack_weights<wino::isa>(count, g.cin, w + c0 * filter, filter, 9, false, scale ? scale + c0 : nullptr,
                                      dst, parallel);
    };
    const bool has_bias = b || shift;
    for (int co = 0; has_bias && co < g.cout; ++co)
        fb[co] = (scale ? scale[co] : 1.0f) * (b ? b[co] : 0.0f) + (shift ? shift[co] : 0.0f);
    const float* bias = has_bias ? fb : nullptr;
    const wino::out_planes out = wino::one_output(y, g.cout);
    if (cached) {  // the whole layer's transformed weights, kept across calls
        const std::shared_ptr<const wino::cached_weights> keep = wino::the_weight_cache().get(
            w, scale, g.cout, g.cin, wino::packed_weight_floats(g.cout, g.cin),
            [&](float* dst) { pack(0, g.cout, dst, true); });
        if (keep) {
            if (!lay.wide) {
                wino::run<wino::isa>(q, x, keep->u(), bias, relu, out, parts);
                return;
            }
            // A wide layer reads each chunk of the cached transform in place.
            const std::ptrdiff_t cb = wino::round16(g.cout) / wino::co_blk;
            const float* u = keep->u();
            wino::run_wide<wino::isa>(
                q, x, [&](int c0, int, float*) { return wino::chunk_weights{u, cb, c0 / wino::co_blk}; }, bias, relu,
                out, parts, lay.part_stride, lay.v_all_in(parts));
            return;
        }
    }
    if (!lay.wide) {
        pack(0, g.cout, ws, true);
        wino::run<wino::isa>(q, x, ws, bias, relu, out, parts);
        return;
    }
    wino::run_wide<wino::isa>(q, x, packed_chunks(pack), bias, relu, out, parts, lay.part_stride, lay.v_all_in(parts));
}

// dx = conv^T(dy): the convolution of dy padded by 2 - pad with w[co][ci] flipped, ci <-> co,
// into one tensor or two (wino::out_planes: the first dx.split input channels' gradients to dx.a,
// the rest to dx.b; winograd_two_outputs says when).
inline void winograd_backward_data(const conv_geometry& g, const float* dy, const float* w, const wino::out_planes& dx,
                                   float* ws) {
    const conv_geometry t = winograd_backward_geometry(g);
    const wino::geom q = wino::make_geom(t.n, t.cin, t.h, t.w, t.cout, t.pad, 0, dx.cb);
    const winograd_layout lay = winograd_layout_of(q);
    float* parts = ws + lay.u + lay.bias;
    // t's output channel c is g's input channel c: filters w[co][c] for co = 0 .. g.cout - 1.
    const auto pack = [&](int c0, int count, float* dst, bool parallel) {
        wino::pack_weights<wino::isa>(count, t.cin, w + std::ptrdiff_t(c0) * 9, 9, std::ptrdiff_t(g.cin) * 9, true,
                                      nullptr, dst, parallel);
    };
    if (!lay.wide) {
        pack(0, t.cout, ws, true);
        wino::run<wino::isa>(q, wino::one_tensor(dy, t.cin, t.h, t.w), ws, nullptr, false, dx, parts);
        return;
    }
    wino::run_wide<wino::isa>(q, wino::one_tensor(dy, t.cin, t.h, t.w), packed_chunks(pack), nullptr, false, dx, parts, lay.part_stride,
                              lay.v_all_in(parts));
}
#endif

// The backward-weights pass on Winograd F(3x3, 4x4) (winograd_wgrad.hpp): where it beat the
// GEMM kernel in bench/conv_kernels_bench.cpp "wino" (docs/PERFORMANCE.md, "Winograd backward
// weights"), for the convolutions the forward runs on Winograd whose channel counts fit the
// micro-kernel's blocks.
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
inline constexpr int wgrad_rows = wino::isa::wgrad_rows, wgrad_cols = wino::isa::wgrad_cols;
#else
inline constexpr int wgrad_rows = 1, wgrad_cols = 1;
#endif
// From 16 channels on both sides and 64 tiles it was 1.55-3.7x the GEMM kernel on every training
// geometry of the presets with AVX-512 and 1.2-2.7x with AVX2 (2 threads); with 16 tiles (a
// 16 x 16 output at batch 1), 0.73-1.28x: the sums then take one vector of tiles between two
// reductions of their lanes. Unlike the forward, AVX2 needs no more channels than AVX-512.
inline bool winograd_wgrad_pays(const conv_geometry& g) noexcept {
    const std::ptrdiff_t tiles = std::ptrdiff_t(g.n) * ((g.oh() + 3) / 4) * ((g.ow() + 3) / 4);
    return g.cin >= 16 && g.cout >= 16 && tiles >= 64;
}
inline bool use_winograd_wgrad(const conv_geometry& g) {
    if (!winograd_shape(g) || g.cout % wgrad_rows != 0 || g.cin % wgrad_cols != 0) return false;
    const conv_algo a = conv2d_algorithm();
    return a == conv_algo::winograd || (a == conv_algo::automatic && winograd_wgrad_pays(g));
}
inline std::size_t winograd_wgrad_workspace_floats(const conv_geometry& g) noexcept {
    const wino::wgrad_plan p = wino::make_wgrad_plan(winograd_plan_of(g), wgrad_rows);
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    return p.v_floats + p.z_floats + p.m_floats + wino::wgrad_group_floats<wino::isa>(p, max_threads());
#else
    return p.v_floats + p.z_floats + p.m_floats;
#endif
}
// dw += the weight gradient of g for input x (one tensor or two: wino::in_planes) and output
// gradient dy; ws: winograd_wgrad_workspace_floats(g) floats. The bias gradient is the caller's.
inline void winograd_backward_weights(const conv_geometry& g, const wino::in_planes& x, const float* dy, float* dw,
                                      float* ws) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    const wino::geom q = wino::make_geom(g.n, g.cin, g.h, g.w, g.cout, g.pad, x.cb);
    wino::run_wgrad<wino::isa>(wino::make_wgrad_plan(q, wgrad_rows), x, dy, dw, ws);
#else
    (void)g, (void)x, (void)dy, (void)dw, (void)ws;  // never chosen
#endif
}

inline bool use_winograd_backward(const conv_geometry& g) {
    return g.kh == 3 && g.kw == 3 && g.stride == 1 && g.pad >= 0 && g.pad <= 2 &&
           use_winograd(winograd_backward_geometry(g));
}

// The dispatch of conv2d_fast.hpp: run the pass on Winograd and return true where it is chosen.
// `cached`: keep the transformed weights across calls (inference only, winograd_cache.hpp).
inline bool winograd_forward_if_chosen(const conv_geometry& g, const float* x, const float* w, const float* b,
                                       const float* scale, const float* shift, bool relu, float* y, float* ws,
                                       bool cached = false) {
    if (!use_winograd(g)) return false;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    winograd_forward(g, wino::one_tensor(x, g.cin, g.h, g.w), w, b, scale, shift, relu, y, ws, cached);
#else
    (void)x, (void)w, (void)b, (void)scale, (void)shift, (void)relu, (void)y, (void)ws, (void)cached;  // never chosen
#endif
    return true;
}
// Whether the forward of g may read its first c0 input channels from a tensor of h0 x w0 maps,
// centre-cropped to g.h x g.w, and the rest from another (conv2d_forward_fused_two): where
// Winograd runs it, with zero padding, and the gathers' per-image step fits both tensors (the
// same width, or one image, or the first one cropped: wino::in_planes).
// The split both directions share: zero padding, each tensor at least one channel, and the
// gathers' and scatters' per-image step fitting both tensors (the same width, or one image;
// `cropped`: the first tensor is read lane by lane, so only the second's step matters).
inline bool two_tensor_split(const conv_geometry& g, int c0, bool cropped) noexcept {
    return have_winograd && g.padding == pad_kind::zero && c0 > 0 && c0 < g.cin &&
           (cropped || 2 * c0 == g.cin || g.n == 1);
}
inline bool winograd_two_inputs(const conv_geometry& g, int c0, int h0, int w0) {
    return h0 >= g.h && w0 >= g.w && two_tensor_split(g, c0, h0 != g.h || w0 != g.w) && use_winograd(g);
}
// Whether the backward-data pass of g may write the gradients of its first c0 input channels to
// one tensor and the rest to another, both of g's input size (conv2d_backward_data_two).
inline bool winograd_two_outputs(const conv_geometry& g, int c0) {
    return two_tensor_split(g, c0, false) && use_winograd_backward(g);
}
inline bool winograd_backward_data_if_chosen(const conv_geometry& g, const float* dy, const float* w, float* dx,
                                             float* ws) {
    if (!use_winograd_backward(g)) return false;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    winograd_backward_data(g, dy, w, wino::one_output(dx, g.cin), ws);
#else
    (void)dy, (void)w, (void)dx, (void)ws;  // never chosen
#endif
    return true;
}

}  // namespace unetpp::backend::cpu_kernels::detail

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

UNETPP_KERNEL_API const char* conv2d_backward_data_algorithm(const conv_geometry& g) {
    return detail::use_winograd_backward(g) ? detail::winograd_name : conv2d_forward_algorithm(g);
}

}  // namespace unetpp::backend::cpu_kernels
