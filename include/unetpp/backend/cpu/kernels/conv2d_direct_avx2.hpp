#pragma once
// The AVX2 direct convolution kernels (stride 1) for machines without AVX-512: forward and
// backward-data on 6 output channels x 16 pixels. Empty with AVX-512 (which has its own) or
// without AVX2 and FMA. Part of the fast float kernels (conv2d_fast.hpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "conv2d_direct_common.hpp"
#include "parallel.hpp"

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

// ---- Direct AVX2 path (stride 1) ------------------------------------------------------------
//
// The AVX-512 design at half the vector width, for machines without AVX-512. One micro-kernel
// call computes 6 output channels x 2 segments of 8 output pixels: 12 ymm accumulators, 2 input
// vectors and 1 broadcast weight, 15 of the 16 registers. AVX2 has no mask registers, so a tile
// whose two segments are full and whose taps all fall inside the image ("full" tile: almost all
// of them on a large image) loads and stores without masks; the others use per-tap lane masks
// with vmaskmovps, which reads nothing and does not fault on masked-off lanes. The weights use
// the same packing as the AVX-512 kernel (pack_direct_weights, blocks of 6 output channels).

inline constexpr int avx2_segs = 2;   // 8-pixel segments per micro-kernel
inline constexpr int avx2_lanes = 8;

// Lane l of the result is all ones when bit l of `bits` is set.
inline __m256i avx2_lane_mask(std::uint32_t bits) noexcept {
    const __m256i lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(bits & 0xFFu)), lanes), lanes);
}

// One micro-kernel call (see direct_tile of the AVX-512 path for the arguments). x0/x1 point at
// input channel 0 of the two segments, shifted by the padding; y0/y1 at output channel 0 of the
// block. Full tiles ignore the masks; the others read tap t of segment v with mk[v * 64 + t] and
// load/store the outputs with ms[v].
template <int KH, int KW, bool Full>
inline void direct_tile(const float* x0, const float* x1, const __m256i* ms, const __m256i* mk, float* y0, float* y1,
                        std::ptrdiff_t in_plane, std::ptrdiff_t out_plane, std::ptrdiff_t in_w, const float* wp,
                        int cic, int kh_rt, int kw_rt, int nco, const float* bias, bool init, bool relu) {
    const int kh = KH > 0 ? KH : kh_rt;
    const int kw = KW > 0 ? KW : kw_rt;
    float* ys[avx2_segs] = {y0, y1};
    __m256 acc[co_block][avx2_segs];
#pragma GCC unroll 6
    for (int j = 0; j < co_block; ++j) {
#pragma GCC unroll 2
        for (int v = 0; v < avx2_segs; ++v) {
            if (init)
                acc[j][v] = (bias && j < nco) ? _mm256_set1_ps(bias[j]) : _mm256_setzero_ps();
            else if (j >= nco)
                acc[j][v] = _mm256_setzero_ps();
            else if constexpr (Full)
                acc[j][v] = _mm256_loadu_ps(ys[v] + j * out_plane);
            else
                acc[j][v] = _mm256_maskload_ps(ys[v] + j * out_plane, ms[v]);
        }
    }
    for (int ci = 0; ci < cic; ++ci) {
        for (int ky = 0; ky < kh; ++ky) {
            const std::ptrdiff_t row = ky * in_w;
#pragma GCC unroll 8
            for (int kx = 0; kx < kw; ++kx) {
                const std::ptrdiff_t off = row + kx;
                __m256 a0, a1;
                if constexpr (Full) {
                    a0 = _mm256_loadu_ps(x0 + off);
                    a1 = _mm256_loadu_ps(x1 + off);
                } else {
                    const int t = ky * kw + kx;
                    a0 = _mm256_maskload_ps(x0 + off, mk[t]);
                    a1 = _mm256_maskload_ps(x1 + off, mk[direct_max_taps + t]);
                }
#pragma GCC unroll 6
                for (int j = 0; j < co_block; ++j) {
                    const __m256 wv = _mm256_broadcast_ss(wp + j);
                    acc[j][0] = _mm256_fmadd_ps(wv, a0, acc[j][0]);
                    acc[j][1] = _mm256_fmadd_ps(wv, a1, acc[j][1]);
                }
                wp += co_block;
            }
        }
        x0 += in_plane;
        x1 += in_plane;
    }
    if (relu) {
        const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 6
        for (int j = 0; j < co_block; ++j)
#pragma GCC unroll 2
            for (int v = 0; v < avx2_segs; ++v) acc[j][v] = _mm256_max_ps(acc[j][v], zero);
    }
#pragma GCC unroll 6
    for (int j = 0; j < co_block; ++j) {
        if (j >= nco) break;
#pragma GCC unroll 2
        for (int v = 0; v < avx2_segs; ++v) {
            if constexpr (Full)
                _mm256_storeu_ps(ys[v] + j * out_plane, acc[j][v]);
            else
                _mm256_maskstore_ps(ys[v] + j * out_plane, ms[v], acc[j][v]);
        }
    }
}

// Stride-1 direct convolution (the contract of the AVX-512 direct_conv_run): work items are
// (image, pair of 8-pixel segments, range of output-channel blocks).
template <int KH, int KW>
inline void direct_conv_run(int n, int cin, int h, int w, int cout, int kh, int kw, int pad_y, int pad_x,
                            const float* x, const float* wpk, const float* b, float* y, bool relu) {
    const int OH = h + 2 * pad_y - kh + 1, OW = w + 2 * pad_x - kw + 1;
    const int spr = (OW + avx2_lanes - 1) / avx2_lanes;  // segments per output row
    const std::ptrdiff_t segs = std::ptrdiff_t(OH) * spr;
    const std::ptrdiff_t groups = (segs + avx2_segs - 1) / avx2_segs;
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
        const float* xs[avx2_segs];
        float* ys[avx2_segs];
        int oys[avx2_segs], oxs[avx2_segs], lens[avx2_segs];
        bool full = true;
        for (int v = 0; v < avx2_segs; ++v) {
            const std::ptrdiff_t s = grp * avx2_segs + v;
            if (s < segs) {
                const std::ptrdiff_t oy = s / spr, ox = (s % spr) * avx2_lanes;
                const int len = int(std::min<std::ptrdiff_t>(avx2_lanes, OW - ox));
                oys[v] = int(oy);
                oxs[v] = int(ox);
                lens[v] = len;
                // Pointer arithmetic in integers: at the border the shifted start may lie before x.
                xs[v] = reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(xn) +
                                                       std::uintptr_t((oy - pad_y) * w + (ox - pad_x)) * sizeof(float));
                ys[v] = yn + oy * OW + ox;
                if (len < avx2_lanes || oy - pad_y < 0 || oy - pad_y + kh > h || ox - pad_x < 0 ||
                    ox - pad_x + len + kw - 1 > w)
                    full = false;
            } else {
                xs[v] = xn;
                ys[v] = yn;
                oys[v] = oxs[v] = lens[v] = 0;
                full = false;
            }
        }
        __m256i ms[avx2_segs];
        __m256i mk[avx2_segs * direct_max_taps];
        if (!full)
            for (int v = 0; v < avx2_segs; ++v) {
                ms[v] = avx2_lane_mask(lens[v] == 0 ? 0u : (1u << lens[v]) - 1u);
                for (int ky = 0; ky < kh; ++ky) {
                    const int iy = oys[v] - pad_y + ky;
                    for (int kx = 0; kx < kw; ++kx)
                        mk[v * direct_max_taps + ky * kw + kx] = avx2_lane_mask(
                            (lens[v] == 0 || iy < 0 || iy >= h) ? 0u : column_mask(oxs[v] - pad_x + kx, lens[v], w));
                }
            }
        for (int c0 = 0; c0 < cin; c0 += chunk) {
            const int cic = std::min(chunk, cin - c0);
            const float* x0 = xs[0] + c0 * in_plane;
            const float* x1 = xs[1] + c0 * in_plane;
            const bool last = c0 + cic >= cin;
            for (int cb = cb0; cb < cb1; ++cb) {
                const std::ptrdiff_t yoff = std::ptrdiff_t(cb) * co_block * out_plane;
                const int nco = std::min(co_block, cout - cb * co_block);
                const float* wp = wpk + cb * wblock + std::ptrdiff_t(c0) * kh * kw * co_block;
                const float* bb = b ? b + cb * co_block : nullptr;
                if (full)
                    direct_tile<KH, KW, true>(x0, x1, ms, mk, ys[0] + yoff, ys[1] + yoff, in_plane, out_plane, w, wp,
                                              cic, kh, kw, nco, bb, c0 == 0, relu && last);
                else
                    direct_tile<KH, KW, false>(x0, x1, ms, mk, ys[0] + yoff, ys[1] + yoff, in_plane, out_plane, w,
                                               wp, cic, kh, kw, nco, bb, c0 == 0, relu && last);
            }
        }
    }
}

}  // namespace unetpp::backend::cpu_kernels::detail
#endif
