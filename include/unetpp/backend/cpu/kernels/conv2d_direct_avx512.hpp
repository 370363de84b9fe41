#pragma once
// The AVX-512 direct convolution kernels (stride 1): forward and backward-data on 6 output
// channels x 64 pixels, and backward-weights (6 output channels x 3 taps, and small tiles).
// Empty without AVX-512. Part of the fast float kernels (conv2d_fast.hpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "conv2d_direct_common.hpp"
#include "parallel.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

// One micro-kernel call: 6 output channels x 4 segments of 16 pixels, summed over cic input
// channels. xs[v] points at input channel 0 of segment v, shifted by the padding (row oy - pad_y,
// column ox - pad_x), so tap (ky, kx) of lane l reads xs[v][ky*in_w + kx + l]. Interior tiles
// (every tap inside the image) load with the segment mask ms[v]; border tiles use mk[v*64 + tap],
// which also clears lanes and rows that fall into the zero padding. ys[v] points at output
// channel 0 of the block. wp points at the packed weights [ci][ky][kx][6] of this block and chunk.
// When init is true the accumulators start at the bias (or zero), otherwise at the current y; when
// relu is true (the last input-channel chunk of a fused Conv -> ReLU) negative sums store as zero.
template <int KH, int KW, bool Interior>
inline void direct_tile(const float* const* xs, const __mmask16* ms, const __mmask16* mk, float* const* ys,
                        std::ptrdiff_t in_plane, std::ptrdiff_t out_plane, std::ptrdiff_t in_w, const float* wp,
                        int cic, int kh_rt, int kw_rt, int nco, const float* bias, bool init, bool relu) {
    const int kh = KH > 0 ? KH : kh_rt;
    const int kw = KW > 0 ? KW : kw_rt;
    __m512 acc[co_block][seg_count];
#pragma GCC unroll 6
    for (int j = 0; j < co_block; ++j) {
#pragma GCC unroll 4
        for (int v = 0; v < seg_count; ++v) {
            if (init)
                acc[j][v] = (bias && j < nco) ? _mm512_set1_ps(bias[j]) : _mm512_setzero_ps();
            else
                acc[j][v] = j < nco ? _mm512_maskz_loadu_ps(ms[v], ys[v] + j * out_plane) : _mm512_setzero_ps();
        }
    }
    const float* p0 = xs[0];
    const float* p1 = xs[1];
    const float* p2 = xs[2];
    const float* p3 = xs[3];
    const __mmask16 m0 = ms[0], m1 = ms[1], m2 = ms[2], m3 = ms[3];
    for (int ci = 0; ci < cic; ++ci) {
        for (int ky = 0; ky < kh; ++ky) {
            const std::ptrdiff_t row = ky * in_w;
#pragma GCC unroll 8
            for (int kx = 0; kx < kw; ++kx) {
                const std::ptrdiff_t off = row + kx;
                __m512 a0, a1, a2, a3;
                if constexpr (Interior) {
                    a0 = _mm512_maskz_loadu_ps(m0, p0 + off);
                    a1 = _mm512_maskz_loadu_ps(m1, p1 + off);
                    a2 = _mm512_maskz_loadu_ps(m2, p2 + off);
                    a3 = _mm512_maskz_loadu_ps(m3, p3 + off);
                } else {
                    const int t = ky * kw + kx;
                    a0 = _mm512_maskz_loadu_ps(mk[0 * direct_max_taps + t], p0 + off);
                    a1 = _mm512_maskz_loadu_ps(mk[1 * direct_max_taps + t], p1 + off);
                    a2 = _mm512_maskz_loadu_ps(mk[2 * direct_max_taps + t], p2 + off);
                    a3 = _mm512_maskz_loadu_ps(mk[3 * direct_max_taps + t], p3 + off);
                }
#pragma GCC unroll 6
                for (int j = 0; j < co_block; ++j) {
                    const __m512 wv = _mm512_set1_ps(wp[j]);
                    acc[j][0] = _mm512_fmadd_ps(wv, a0, acc[j][0]);
                    acc[j][1] = _mm512_fmadd_ps(wv, a1, acc[j][1]);
                    acc[j][2] = _mm512_fmadd_ps(wv, a2, acc[j][2]);
                    acc[j][3] = _mm512_fmadd_ps(wv, a3, acc[j][3]);
                }
                wp += co_block;
            }
        }
        p0 += in_plane;
        p1 += in_plane;
        p2 += in_plane;
        p3 += in_plane;
    }
    if (relu) {
        const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 6
        for (int j = 0; j < co_block; ++j)
#pragma GCC unroll 4
            for (int v = 0; v < seg_count; ++v) acc[j][v] = _mm512_max_ps(acc[j][v], zero);
    }
#pragma GCC unroll 6
    for (int j = 0; j < co_block; ++j) {
        if (j >= nco) break;
#pragma GCC unroll 4
        for (int v = 0; v < seg_count; ++v) _mm512_mask_storeu_ps(ys[v] + j * out_plane, ms[v], acc[j][v]);
    }
}

// Stride-1 direct convolution of all images with implicit zero padding pad_y (top and bottom) and
// pad_x (left and right): y = conv(x, packed weights) + b. cin/cout/h/w describe the stored input;
// wpk is packed by pack_direct_weights. Work items are (image, group of 4 segments, range of
// output-channel blocks); small images are split over output channels too, so every thread gets
// work.
template <int KH, int KW>
inline void direct_conv_run(int n, int cin, int h, int w, int cout, int kh, int kw, int pad_y, int pad_x,
                            const float* x, const float* wpk, const float* b, float* y, bool relu) {
    const int OH = h + 2 * pad_y - kh + 1, OW = w + 2 * pad_x - kw + 1;
    const int spr = (OW + 15) / 16;  // segments per output row
    const std::ptrdiff_t segs = std::ptrdiff_t(OH) * spr;
    const std::ptrdiff_t groups = (segs + seg_count - 1) / seg_count;
    const std::ptrdiff_t in_plane = std::ptrdiff_t(h) * w, out_plane = std::ptrdiff_t(OH) * OW;
    const int nblocks = (cout + co_block - 1) / co_block;
    const int chunk = direct_ci_chunk(kh, kw);
    const std::ptrdiff_t wblock = std::ptrdiff_t(cin) * kh * kw * co_block;
    const std::ptrdiff_t tiles = groups * n;
    const int parts = direct_parts(tiles, nblocks);
    const std::ptrdiff_t total = tiles * parts;
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t it = 0; it < total; ++it) {
        const std::ptrdiff_t tile = it / parts;
        const int part = int(it % parts);
        const int cb0 = nblocks * part / parts, cb1 = nblocks * (part + 1) / parts;
        const std::ptrdiff_t img = tile / groups, grp = tile % groups;
        const float* xn = x + img * cin * in_plane;
        float* yn = y + img * cout * out_plane;
        const float* xs[seg_count];
        float* ys[seg_count];
        __mmask16 ms[seg_count];
        bool interior = true;
        int oys[seg_count], oxs[seg_count], lens[seg_count];
        for (int v = 0; v < seg_count; ++v) {
            const std::ptrdiff_t s = grp * seg_count + v;
            if (s < segs) {
                const std::ptrdiff_t oy = s / spr, ox = (s % spr) * 16;
                const int len = int(std::min<std::ptrdiff_t>(16, OW - ox));
                oys[v] = int(oy);
                oxs[v] = int(ox);
                lens[v] = len;
                // Pointer arithmetic in integers: at the border the shifted start may lie before x.
                xs[v] = reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(xn) +
                                                       std::uintptr_t((oy - pad_y) * w + (ox - pad_x)) * sizeof(float));
                ys[v] = yn + oy * OW + ox;
                ms[v] = __mmask16((1u << len) - 1u);
                if (oy - pad_y < 0 || oy - pad_y + kh > h || ox - pad_x < 0 || ox - pad_x + len + kw - 1 > w)
                    interior = false;
            } else {
                xs[v] = xn;
                ys[v] = yn;
                ms[v] = 0;
                lens[v] = 0;
                oys[v] = oxs[v] = 0;
            }
        }
        __mmask16 mk[seg_count * direct_max_taps];
        if (!interior)
            for (int v = 0; v < seg_count; ++v)
                for (int ky = 0; ky < kh; ++ky) {
                    const int iy = oys[v] - pad_y + ky;
                    for (int kx = 0; kx < kw; ++kx)
                        mk[v * direct_max_taps + ky * kw + kx] =
                            (lens[v] == 0 || iy < 0 || iy >= h)
                                ? __mmask16(0)
                                : __mmask16(column_mask(oxs[v] - pad_x + kx, lens[v], w));
                }
        for (int c0 = 0; c0 < cin; c0 += chunk) {
            const int cic = std::min(chunk, cin - c0);
            const float* xs_c[seg_count];
            for (int v = 0; v < seg_count; ++v) xs_c[v] = xs[v] + c0 * in_plane;
            for (int cb = cb0; cb < cb1; ++cb) {
                float* ys_b[seg_count];
                for (int v = 0; v < seg_count; ++v) ys_b[v] = ys[v] + std::ptrdiff_t(cb) * co_block * out_plane;
                const int nco = std::min(co_block, cout - cb * co_block);
                const float* wp = wpk + cb * wblock + std::ptrdiff_t(c0) * kh * kw * co_block;
                const float* bb = b ? b + cb * co_block : nullptr;
                const bool last = c0 + cic >= cin;
                if (interior)
                    direct_tile<KH, KW, true>(xs_c, ms, mk, ys_b, in_plane, out_plane, w, wp, cic, kh, kw, nco, bb,
                                              c0 == 0, relu && last);
                else
                    direct_tile<KH, KW, false>(xs_c, ms, mk, ys_b, in_plane, out_plane, w, wp, cic, kh, kw, nco, bb,
                                               c0 == 0, relu && last);
            }
        }
    }
}

// Lane i of the result is the horizontal sum of v[i] (v[k] for k >= count are taken as zero).
// (The maskz forms with a full mask are used because GCC's plain forms read an undefined
// pass-through vector, which -Wall reports as maybe-uninitialized after inlining.)
inline __m512 hsum16(const __m512* v, int count) {
    const __mmask16 full = 0xFFFF;
    __m512 t[16];
    for (int i = 0; i < 16; ++i) t[i] = i < count ? v[i] : _mm512_setzero_ps();
    __m512 l1[8], l2[4], l3[2];
    for (int i = 0; i < 8; ++i)  // halves of 512 bits
        l1[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(full, t[2 * i], t[2 * i + 1], 0x44),
                              _mm512_maskz_shuffle_f32x4(full, t[2 * i], t[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; ++i)  // 128-bit quarters
        l2[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(full, l1[2 * i], l1[2 * i + 1], 0x88),
                              _mm512_maskz_shuffle_f32x4(full, l1[2 * i], l1[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; ++i)  // pairs of floats inside each 128-bit lane
        l3[i] = _mm512_add_ps(_mm512_maskz_shuffle_ps(full, l2[2 * i], l2[2 * i + 1], 0x44),
                              _mm512_maskz_shuffle_ps(full, l2[2 * i], l2[2 * i + 1], 0xEE));
    const __m512 r = _mm512_add_ps(_mm512_maskz_shuffle_ps(full, l3[0], l3[1], 0x88), _mm512_maskz_shuffle_ps(full, l3[0], l3[1], 0xDD));
    // The tree leaves the sum of v[k] in lane (k % 4) * 4 + k / 4; undo that 4x4 transpose.
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_maskz_permutexvar_ps(full, idx, r);
}

// ---- Direct AVX-512 backward-weights, 6 output channels x 3 taps (kw == 3, stride 1) ----------
//
// dw[co,ci,ky,kx] is a reduction over output pixels. One call of bwdw6_scan handles 6 output
// channels, one input channel and one kernel row ky over a tile of output rows, keeping
// 6 x 3 = 18 zmm accumulators (16 pixels of partial sums each). Per 16 pixels it loads 6 dy
// vectors (reused for the 3 taps) and 3 shifted x vectors (reused for the 6 channels): 9 loads
// for 18 FMAs. The dy tile (6 channels x ~1024 pixels) stays in L1 while the input channels and
// kernel rows sweep over it. Padding is implicit: rows outside the input are skipped, border
// columns are masked.

struct bwdw_tile_rows {
    int g0, g1;  // "global" output rows n*OH + oy, so a tile may span several small images
};

inline void bwdw6_scan(const conv_geometry& g, const float* x, const float* dy, int co0, int ci, int ky, int g0,
                       int g1, float* dw) {
    const int OH = g.oh(), OW = g.ow(), H = g.h, W = g.w, pad = g.pad;
    const std::ptrdiff_t in_plane = std::ptrdiff_t(H) * W, out_plane = std::ptrdiff_t(OH) * OW;
    const std::ptrdiff_t in_img = in_plane * g.cin, out_img = out_plane * g.cout;
    const int nco = std::min(co_block, g.cout - co0);
    std::ptrdiff_t dyoff[co_block];
    for (int o = 0; o < co_block; ++o) dyoff[o] = std::ptrdiff_t(std::min(co0 + o, g.cout - 1)) * out_plane;
    // Named accumulators (not an array) so that GCC keeps all 18 in registers.
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00, a20 = a00,
           a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00, a40 = a00, a41 = a00, a42 = a00, a50 = a00,
           a51 = a00, a52 = a00;
    const int spr = (OW + 15) / 16;
    const float* d0 = dy + dyoff[0];
    const float* d1 = dy + dyoff[1];
    const float* d2 = dy + dyoff[2];
    const float* d3 = dy + dyoff[3];
    const float* d4 = dy + dyoff[4];
    const float* d5 = dy + dyoff[5];
    for (int gr = g0; gr < g1; ++gr) {
        const int img = gr / OH, oy = gr % OH;
        const int iy = oy + ky - pad;
        if (iy < 0 || iy >= H) continue;
        const float* xrow = x + img * in_img + ci * in_plane + std::ptrdiff_t(iy) * W;
        const std::ptrdiff_t drow = img * out_img + std::ptrdiff_t(oy) * OW;
        // Interior segments (full vectors, all three taps inside the row) load without masks;
        // only the first and last segment of a row need them.
        const std::uintptr_t xr = reinterpret_cast<std::uintptr_t>(xrow) - std::uintptr_t(pad) * sizeof(float);
#define UNETPP_BWDW6_ROW(D, A0, A1, A2, LOAD)                    \
    {                                                            \
        const __m512 d = LOAD(D + o);                            \
        A0 = _mm512_fmadd_ps(d, x0, A0);                         \
        A1 = _mm512_fmadd_ps(d, x1, A1);                         \
        A2 = _mm512_fmadd_ps(d, x2, A2);                         \
    }
#define UNETPP_BWDW6_BODY(LOADX0, LOADX1, LOADX2, LOADD)                                  \
    {                                                                                     \
        const std::uintptr_t xb = xr + std::uintptr_t(ox) * sizeof(float);               \
        const __m512 x0 = LOADX0(reinterpret_cast<const float*>(xb));                      \
        const __m512 x1 = LOADX1(reinterpret_cast<const float*>(xb + 4));                  \
        const __m512 x2 = LOADX2(reinterpret_cast<const float*>(xb + 8));                  \
        const std::ptrdiff_t o = drow + ox;                                               \
        UNETPP_BWDW6_ROW(d0, a00, a01, a02, LOADD)                                        \
        UNETPP_BWDW6_ROW(d1, a10, a11, a12, LOADD)                                        \
        UNETPP_BWDW6_ROW(d2, a20, a21, a22, LOADD)                                        \
        UNETPP_BWDW6_ROW(d3, a30, a31, a32, LOADD)                                        \
        UNETPP_BWDW6_ROW(d4, a40, a41, a42, LOADD)                                        \
        UNETPP_BWDW6_ROW(d5, a50, a51, a52, LOADD)                                        \
    }
#define UNETPP_LOAD_MD(p) _mm512_maskz_loadu_ps(md, p)
#define UNETPP_LOAD_M0(p) _mm512_maskz_loadu_ps(m0, p)
#define UNETPP_LOAD_M1(p) _mm512_maskz_loadu_ps(m1, p)
#define UNETPP_LOAD_M2(p) _mm512_maskz_loadu_ps(m2, p)
#define UNETPP_LOAD_FULL(p) _mm512_loadu_ps(p)
        auto edge = [&](int s) {
            const int ox = s * 16;
            const int len = std::min(16, OW - ox);
            const __mmask16 md = __mmask16((1u << len) - 1u);
            const __mmask16 m0 = __mmask16(column_mask(ox - pad, len, W));
            const __mmask16 m1 = __mmask16(column_mask(ox - pad + 1, len, W));
            const __mmask16 m2 = __mmask16(column_mask(ox - pad + 2, len, W));
            UNETPP_BWDW6_BODY(UNETPP_LOAD_M0, UNETPP_LOAD_M1, UNETPP_LOAD_M2, UNETPP_LOAD_MD)
        };
        edge(0);
        for (int s = 1; s < spr - 1; ++s) {
            const int ox = s * 16;
            UNETPP_BWDW6_BODY(UNETPP_LOAD_FULL, UNETPP_LOAD_FULL, UNETPP_LOAD_FULL, UNETPP_LOAD_FULL)
        }
        if (spr > 1) edge(spr - 1);
#undef UNETPP_LOAD_MD
#undef UNETPP_LOAD_M0
#undef UNETPP_LOAD_M1
#undef UNETPP_LOAD_M2
#undef UNETPP_LOAD_FULL
#undef UNETPP_BWDW6_BODY
#undef UNETPP_BWDW6_ROW
    }
    const __m512 acc[18] = {a00, a01, a02, a10, a11, a12, a20, a21, a22,
                            a30, a31, a32, a40, a41, a42, a50, a51, a52};
    alignas(64) float sums[32];
    _mm512_store_ps(sums, hsum16(acc, 16));
    sums[16] = _mm512_reduce_add_ps(acc[16]);
    sums[17] = _mm512_reduce_add_ps(acc[17]);
    const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * 3;
    for (int o = 0; o < nco; ++o) {
        float* d = dw + (std::ptrdiff_t(co0 + o) * g.cin + ci) * kk + ky * 3;
        d[0] += sums[o * 3 + 0];
        d[1] += sums[o * 3 + 1];
        d[2] += sums[o * 3 + 2];
    }
}

inline bool bwdw6_supported(const conv_geometry& g) noexcept { return g.stride == 1 && g.kw == 3 && g.oh() > 0 && g.ow() > 0; }

// Work: items (output-channel block, input channel), split statically between threads (each
// thread owns its items' dw entries: no locking, no per-thread copies), swept tile by tile. The
// split may follow the team size: an item's dw entries receive its tiles' sums in tile order
// whichever thread runs it, so the result does not depend on the split.
inline void bwdw6_run(const conv_geometry& g, const float* x, const float* dy, float* dw) {
    const int OH = g.oh(), OW = g.ow();
    const int nblocks = (g.cout + co_block - 1) / co_block;
    const std::ptrdiff_t items = std::ptrdiff_t(nblocks) * g.cin;
    const int rows_total = g.n * OH;
    // About 1024 pixels per tile: 6 dy planes x 1024 x 4 B = 24 KiB stay in L1.
    const int rows = std::clamp(1024 / (((OW + 15) / 16) * 16), 1, std::max(1, rows_total));
#pragma omp parallel
    {
        std::ptrdiff_t i0, i1;
        static_share(items, 1, team_thread(), team_size(), i0, i1);
        for (int r0 = 0; r0 < rows_total; r0 += rows) {
            const int r1 = std::min(rows_total, r0 + rows);
            for (std::ptrdiff_t it = i0; it < i1; ++it) {
                const int cb = int(it / g.cin), ci = int(it % g.cin);
                for (int ky = 0; ky < g.kh; ++ky) bwdw6_scan(g, x, dy, cb * co_block, ci, ky, r0, r1, dw);
            }
        }
    }
}

// ---- Direct AVX-512 backward-weights for small tiles (stride 1, no padding) ----------------
//
// One zmm accumulator per (co, ci, tap) of a small CO_T x CI_T tile; used for 1x1 kernels and
// for layers with very few input channels, where the 6 x 3 kernel above has too little work.

// Accumulates dw for output channels [co0, co0+CO_T) x input channels [ci0, ci0+CI_T) over output
// rows [r0, r1) of one image. Channels past the end are clamped to a valid plane and their
// results dropped.
template <int CO_T, int CI_T, int KH, int KW>
inline void bwdw_tile(const float* xn, const float* dyn, int cin, int cout, int h, int w, int co0, int ci0, int r0,
                      int r1, float* dw) {
    constexpr int taps = KH * KW;
    constexpr int nacc = CO_T * CI_T * taps;
    static_assert(nacc <= 32, "too many accumulators");
    (void)h;
    const int OW = w - KW + 1, OH = h - KH + 1;
    const std::ptrdiff_t in_plane = std::ptrdiff_t(h) * w, out_plane = std::ptrdiff_t(OH) * OW;
    const float* dp[CO_T];
    const float* xp[CI_T];
    for (int c = 0; c < CO_T; ++c) dp[c] = dyn + std::min(co0 + c, cout - 1) * out_plane;
    for (int c = 0; c < CI_T; ++c) xp[c] = xn + std::min(ci0 + c, cin - 1) * in_plane;
    __m512 acc[nacc];
    for (int i = 0; i < nacc; ++i) acc[i] = _mm512_setzero_ps();
    for (int oy = r0; oy < r1; ++oy) {
        const std::ptrdiff_t orow = std::ptrdiff_t(oy) * OW, irow = std::ptrdiff_t(oy) * w;
        for (int ox = 0; ox < OW; ox += 16) {
            const int len = std::min(16, OW - ox);
            const __mmask16 m = __mmask16((1u << len) - 1u);
            __m512 d[CO_T];
#pragma GCC unroll 8
            for (int c = 0; c < CO_T; ++c) d[c] = _mm512_maskz_loadu_ps(m, dp[c] + orow + ox);
#pragma GCC unroll 8
            for (int c = 0; c < CI_T; ++c) {
#pragma GCC unroll 8
                for (int ky = 0; ky < KH; ++ky) {
#pragma GCC unroll 8
                    for (int kx = 0; kx < KW; ++kx) {
                        const __m512 xv = _mm512_maskz_loadu_ps(m, xp[c] + irow + ky * w + kx + ox);
#pragma GCC unroll 8
                        for (int o = 0; o < CO_T; ++o) {
                            __m512& a = acc[(o * CI_T + c) * taps + ky * KW + kx];
                            a = _mm512_fmadd_ps(d[o], xv, a);
                        }
                    }
                }
            }
        }
    }
    alignas(64) float sums[32];
    _mm512_store_ps(sums, hsum16(acc, std::min(nacc, 16)));
    if constexpr (nacc > 16) _mm512_store_ps(sums + 16, hsum16(acc + 16, nacc - 16));
    for (int o = 0; o < CO_T; ++o) {
        if (co0 + o >= cout) break;
        for (int c = 0; c < CI_T; ++c) {
            if (ci0 + c >= cin) break;
            float* d = dw + (std::ptrdiff_t(co0 + o) * cin + (ci0 + c)) * taps;
            for (int t = 0; t < taps; ++t) d[t] += sums[(o * CI_T + c) * taps + t];
        }
    }
}

template <int CO_T, int CI_T, int KH, int KW>
inline void bwdw_run(const conv_geometry& g, const float* x, const float* dy, float* dw) {
    const int OH = g.oh(), OW = g.ow();
    const int cot = (g.cout + CO_T - 1) / CO_T, cit = (g.cin + CI_T - 1) / CI_T;
    const std::ptrdiff_t items = std::ptrdiff_t(cot) * cit;
    // Rows per pixel tile: about 2048 pixels, so the dy rows of a co tile stay in L1 while the
    // reduction cost (one transpose-sum per tile) stays small.
    const int rows = std::clamp(2048 / std::max(1, OW), 1, std::max(1, OH));
    const std::ptrdiff_t in_img = std::ptrdiff_t(g.cin) * g.h * g.w, out_img = std::ptrdiff_t(g.cout) * OH * OW;
#pragma omp parallel
    {
        // As in bwdw6_run, an item's sums do not depend on which thread runs it.
        const int tid = team_thread(), nt = team_size();
        const std::ptrdiff_t i0 = items * tid / nt, i1 = items * (tid + 1) / nt;
        for (int n = 0; n < g.n; ++n)
            for (int r0 = 0; r0 < OH; r0 += rows) {
                const int r1 = std::min(OH, r0 + rows);
                for (std::ptrdiff_t it = i0; it < i1; ++it) {
                    const int co0 = int(it / cit) * CO_T, ci0 = int(it % cit) * CI_T;
                    bwdw_tile<CO_T, CI_T, KH, KW>(x + n * in_img, dy + n * out_img, g.cin, g.cout, g.h, g.w, co0,
                                                  ci0, r0, r1, dw);
                }
            }
    }
}

// Which backward-weights kernel runs.
enum class bwdw_kind { gemm, small_tile, six_by_three };

inline bwdw_kind bwdw_choice(const conv_geometry& g) noexcept {
    if (g.stride != 1 || g.oh() <= 0 || g.ow() <= 0) return bwdw_kind::gemm;
    if (g.kh == 1 && g.kw == 1 && g.pad == 0) return bwdw_kind::small_tile;
    // Measured (2 threads, 3x3 "same"): the 6x3 direct kernel reaches 135-190 GFLOP/s, the
    // im2col + single-threaded-Eigen-per-block GEMM 185-330 GFLOP/s once cin*kh*kw >= 64 (it
    // wins clearly on small images with many channels). The direct kernel is kept for layers with
    // few input channels (first layer), where the GEMM's K dimension is too short.
    if (g.kw == 3 && g.pad <= 1 && std::ptrdiff_t(g.cin) * g.kh * g.kw < 64) return bwdw_kind::six_by_three;
    if (g.kh == 2 && g.kw == 2 && g.pad == 0 && g.cin * 4 < 64) return bwdw_kind::small_tile;
    return bwdw_kind::gemm;
}

inline void bwdw_small_tile(const conv_geometry& g, const float* x, const float* dy, float* dw) {
    if (g.kh == 2)
        bwdw_run<3, 2, 2, 2>(g, x, dy, dw);
    else
        bwdw_run<4, 6, 1, 1>(g, x, dy, dw);
}

inline constexpr bool have_direct = true;

}  // namespace unetpp::backend::cpu_kernels::detail
#endif
