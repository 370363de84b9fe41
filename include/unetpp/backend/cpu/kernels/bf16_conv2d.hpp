// Forward convolution computed in bf16 with fp32 accumulation (AVX512-BF16, vdpbf16ps), for
// backend::cpu_bf16 (backend/cpu_bf16.hpp). Inputs, weights and outputs are fp32 arrays; the
// kernel rounds the operands of every product to bf16 (round to nearest, ties to even) and sums
// the products in fp32. Any kernel size, stride, zero or reflect padding and channel count.
//
// vdpbf16ps multiplies pairs: lane i of the result gains a[2i] * b[2i] + a[2i+1] * b[2i+1]. The
// pairs run along the input channels, so one instruction does 16 output positions x 2 input
// channels for one output channel (32 multiply-adds, twice an fp32 FMA's 16):
//
//   activations  converted per call into `xb`, one 32-bit word per (channel pair, padded row,
//                padded column) holding bf16(x[2p]) in the low half and bf16(x[2p+1]) in the high
//                half (zero for a missing odd channel), with the padding written out (zeros or the
//                reflected border), so the inner loop has no bounds checks;
//   weights      converted per call into `wb`, blocks of 6 output channels: for each (pair, ky,
//                kx) the 6 words (w[co][2p], w[co][2p+1]) scaled by the folded BatchNorm scale
//                (zero for output channels past cout);
//   micro-kernel a tile of 6 output channels x 64 output positions (4 vectors) in 24 zmm
//                accumulators: per (pair, ky, kx) 4 loads of activations, 6 broadcast weights,
//                24 vdpbf16ps. Then the epilogue (bias + BatchNorm shift folded into one bias,
//                ReLU) and the store.
//
// Positions: a stride-1 convolution walks the output in the padded input's row pitch (q = oy * Wp
// + ox), so the activations of 16 consecutive q are 16 consecutive words for every tap; the
// kw - 1 positions per row that fall past the output are computed and not stored. A strided
// convolution walks q = oy * OW + ox and gathers its activations (vpgatherdd); U-Nets have no
// strided convolutions on their hot path, so that path is correct rather than fast.
//
// Weights are converted on every call, like the fp32 direct kernel packs them. A cache would have
// to compare the weights with a copy on every call to be sure they are unchanged (the invariant
// of winograd_cache.hpp); measured (bench/bf16_bench.cpp --convert-cost, one thread), that
// comparison costs 0.27x, 0.5x and 0.92x the conversion for 256, 512 and 1024 channels, and the
// conversion is 1 / (OH * OW * N) of the convolution's multiply-adds: at most about 5% of a deep
// layer to gain (docs/PERFORMANCE.md, "bf16 compute").
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../../config/abi.hpp"
#include "../../../tensor/numeric.hpp"
#include "../../backend.hpp"
#include "bf16_support.hpp"

#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::bf16 {

/// Sizes of one call's converted operands (32-bit words: two bf16 values each).
struct conv_plan {
    int pairs;                // (cin + 1) / 2
    int hp, wp;               // padded input
    int oh, ow;               // output
    int wq;                   // row pitch of the position index q: wp (stride 1) or ow
    std::ptrdiff_t plane;     // words per channel pair: hp * wp
    std::ptrdiff_t image;     // words per image: pairs * plane
    std::ptrdiff_t q_count;   // positions walked per image: (oh - 1) * wq + ow
    int q_tiles;              // ceil(q_count / 64)
    int co_blocks;            // ceil(cout / 6)
    std::size_t x_words, w_words;
};

inline constexpr int co_block = 6;
inline constexpr int q_tile = 64;

inline conv_plan make_plan(const conv_geometry& g) {
    conv_plan p{};
    p.pairs = (g.cin + 1) / 2;
    p.hp = g.h + 2 * g.pad;
    p.wp = g.w + 2 * g.pad;
    p.oh = g.oh();
    p.ow = g.ow();
    p.wq = g.stride == 1 ? p.wp : p.ow;
    p.plane = std::ptrdiff_t(p.hp) * p.wp;
    p.image = p.plane * p.pairs;
    p.q_count = std::ptrdiff_t(p.oh - 1) * p.wq + p.ow;
    p.q_tiles = int((p.q_count + q_tile - 1) / q_tile);
    p.co_blocks = (g.cout + co_block - 1) / co_block;
    // The last tile of the last image may read up to q_tile words past the last plane.
    p.x_words = std::size_t(p.image) * g.n + q_tile + 16;
    p.w_words = std::size_t(p.co_blocks) * p.pairs * g.kh * g.kw * co_block;
    return p;
}

/// Workspace of forward(): converted activations and weights (words) and the combined bias.
inline std::size_t workspace_words(const conv_geometry& g) {
    const conv_plan p = make_plan(g);
    return p.x_words + p.w_words + std::size_t(g.cout) + 32;
}

/// The source index of padded coordinate i (0 <= i < n + 2 * pad) along an axis of n, or -1 for a
/// zero border.
inline int source_index(int i, int n, int pad, pad_kind kind) {
    const int s = i - pad;
    if (s >= 0 && s < n) return s;
    if (kind != pad_kind::reflect) return -1;
    return numeric::reflect_index(s, n);
}

#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512F__)

// vcvtne2ps2bf16 puts its second source in words 0..15 and its first in 16..31; this permutation
// (vpermw) interleaves them into (low channel, high channel) pairs.
alignas(64) inline constexpr short pair_interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                          8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/// Packs the weights (cout, cin, kh, kw), each scaled by scale[co] when scale is set, into wb
/// (layout in the file comment). Each (block, pair) reads the 2 x kh x kw contiguous weights of
/// its channel pair for each of its 6 output channels, converts kernels of up to 16 taps 16 at a
/// time (vcvtne2ps2bf16) and transposes the 6 x kh x kw words into place.
inline void pack_weights(const conv_geometry& g, const conv_plan& p, const float* w, const float* scale,
                         std::uint32_t* wb) {
    const int kk = g.kh * g.kw;
    const __m512i perm = _mm512_load_si512(pair_interleave);
    const __mmask16 m = static_cast<__mmask16>(kk >= 16 ? 0xFFFFu : (1u << kk) - 1u);
    const int total = p.co_blocks * p.pairs;
#pragma omp parallel for schedule(static) if (p.w_words > 65536)
    for (int bp = 0; bp < total; ++bp) {
        const int cb = bp / p.pairs, cp = bp % p.pairs;
        std::uint32_t* dst = wb + std::ptrdiff_t(bp) * kk * co_block;
        const int c0 = 2 * cp, c1 = 2 * cp + 1;
        alignas(64) std::uint32_t words[co_block][16];  // [j][tap] when kk <= 16
        for (int j = 0; j < co_block; ++j) {
            const int co = cb * co_block + j;
            if (co >= g.cout) {
                std::fill(words[j], words[j] + 16, 0u);
                for (int t = 0; t < kk; ++t) dst[t * co_block + j] = 0u;
                continue;
            }
            const float s = scale ? scale[co] : 1.0f;
            const float* lo = w + (std::ptrdiff_t(co) * g.cin + c0) * kk;
            const float* hi = c1 < g.cin ? lo + kk : nullptr;
            if (kk <= 16) {
                const __m512 vs = _mm512_set1_ps(s);
                const __m512 vlo = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, lo), vs);
                const __m512 vhi = hi ? _mm512_mul_ps(_mm512_maskz_loadu_ps(m, hi), vs) : _mm512_setzero_ps();
                _mm512_store_si512(words[j], _mm512_permutexvar_epi16(
                                                 perm, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(vhi, vlo))));
            } else {
                for (int t = 0; t < kk; ++t)
                    dst[t * co_block + j] = std::uint32_t(to_bf16(lo[t] * s)) |
                                            (hi ? std::uint32_t(to_bf16(hi[t] * s)) << 16 : 0u);
            }
        }
        if (kk <= 16)  // [j][tap] -> [tap][j]
            for (int t = 0; t < kk; ++t)
                for (int j = 0; j < co_block; ++j) dst[t * co_block + j] = words[j][t];
    }
}

/// Converts x (n, cin, h, w) into the padded pair layout xb (file comment).
inline void convert_input(const conv_geometry& g, const conv_plan& p, const float* x, std::uint32_t* xb) {
    const std::ptrdiff_t hw = std::ptrdiff_t(g.h) * g.w;
    const __m512i perm = _mm512_load_si512(pair_interleave);
    const int total = g.n * p.pairs;
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(total) * p.plane > 32768)
    for (int np = 0; np < total; ++np) {
        const int n = np / p.pairs, cp = np % p.pairs;
        const bool has_hi = 2 * cp + 1 < g.cin;
        const float* lo_plane = x + (std::ptrdiff_t(n) * g.cin + 2 * cp) * hw;
        const float* hi_plane = has_hi ? lo_plane + hw : nullptr;
        std::uint32_t* out = xb + std::ptrdiff_t(n) * p.image + std::ptrdiff_t(cp) * p.plane;
        for (int r = 0; r < p.hp; ++r) {
            std::uint32_t* row = out + std::ptrdiff_t(r) * p.wp;
            const int sr = source_index(r, g.h, g.pad, g.padding);
            if (sr < 0) {
                std::fill(row, row + p.wp, 0u);
                continue;
            }
            const float* lo = lo_plane + std::ptrdiff_t(sr) * g.w;
            const float* hi = has_hi ? hi_plane + std::ptrdiff_t(sr) * g.w : nullptr;
            for (int c = 0; c < g.pad; ++c) {  // the borders
                for (const int pc : {c, p.wp - 1 - c}) {
                    const int sc = source_index(pc, g.w, g.pad, g.padding);
                    row[pc] = sc < 0 ? 0u
                                     : std::uint32_t(to_bf16(lo[sc])) |
                                           (hi ? std::uint32_t(to_bf16(hi[sc])) << 16 : 0u);
                }
            }
            std::uint32_t* dst = row + g.pad;
            for (int c = 0; c < g.w; c += 16) {
                const int len = std::min(16, g.w - c);
                const __mmask16 m = static_cast<__mmask16>((1u << len) - 1u);
                const __m512 vlo = _mm512_maskz_loadu_ps(m, lo + c);
                const __m512 vhi = hi ? _mm512_maskz_loadu_ps(m, hi + c) : _mm512_setzero_ps();
                const __m512i both = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(vhi, vlo));
                _mm512_mask_storeu_epi32(dst + c, m, _mm512_permutexvar_epi16(perm, both));
            }
        }
    }
}

/// One tile: output channels [cb * 6, cb * 6 + 6) x positions [q0, q0 + 64) of image n, written
/// to y with bias fb and ReLU when relu is set. KH, KW > 0 fix the kernel size at compile time.
template <int KH, int KW, bool Strided>
inline void tile(const conv_geometry& g, const conv_plan& p, const std::uint32_t* xn, const std::uint32_t* wblk,
                 const float* fb, bool relu, int cb, std::ptrdiff_t q0, float* yn) {
    const int kh = KH > 0 ? KH : g.kh, kw = KW > 0 ? KW : g.kw;
    __m512 acc[co_block][4];
    for (auto& a : acc)
        for (auto& v : a) v = _mm512_setzero_ps();
    __m512i idx[4];
    if constexpr (Strided) {  // word offsets of each lane's window corner, junk lanes clamped
        alignas(64) std::int32_t off[q_tile];
        for (int i = 0; i < q_tile; ++i) {
            const std::ptrdiff_t q = std::min<std::ptrdiff_t>(q0 + i, p.q_count - 1);
            off[i] = std::int32_t((q / p.ow) * g.stride * p.wp + (q % p.ow) * g.stride);
        }
        for (int v = 0; v < 4; ++v) idx[v] = _mm512_load_si512(off + 16 * v);
    }
    const std::uint32_t* wt = wblk;
    for (int cp = 0; cp < p.pairs; ++cp) {
        const std::uint32_t* xp = xn + std::ptrdiff_t(cp) * p.plane + (Strided ? 0 : q0);
        for (int ky = 0; ky < kh; ++ky)
            for (int kx = 0; kx < kw; ++kx, wt += co_block) {
                const std::uint32_t* xs = xp + std::ptrdiff_t(ky) * p.wp + kx;
                __m512bh xv[4];
                for (int v = 0; v < 4; ++v) {
                    if constexpr (Strided)
                        xv[v] = reinterpret_cast<__m512bh>(_mm512_i32gather_epi32(idx[v], xs, 4));
                    else
                        xv[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + 16 * v));
                }
                for (int j = 0; j < co_block; ++j) {
                    const __m512bh wv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(int(wt[j])));
                    for (int v = 0; v < 4; ++v) acc[j][v] = _mm512_dpbf16_ps(acc[j][v], xv[v], wv);
                }
            }
    }
    const std::ptrdiff_t out_plane = std::ptrdiff_t(p.oh) * p.ow;
    const std::ptrdiff_t row0 = q0 / p.wq;  // the tile's first position; later ones are walked
    const int col0 = int(q0 % p.wq);         // without dividing again
    for (int j = 0; j < co_block; ++j) {
        const int co = cb * co_block + j;
        if (co >= g.cout) break;
        const __m512 bias = _mm512_set1_ps(fb[co]);
        float* yc = yn + std::ptrdiff_t(co) * out_plane;
        std::ptrdiff_t row = row0, q = q0;
        int col = col0;
        for (int v = 0; v < 4; ++v) {
            __m512 r = _mm512_add_ps(acc[j][v], bias);
            if (relu) r = _mm512_max_ps(r, _mm512_setzero_ps());
            // Lanes i of this vector are positions q0 + 16 v + i: store each run that lies in one
            // output row and left of the row's end (a stride-1 row has kw - 1 positions past it).
            for (int i = 0; i < 16 && q < p.q_count;) {
                const int len = std::min<int>(16 - i, p.wq - col);
                const int keep = std::min(len, p.ow - col);
                if (keep > 0) {
                    const __mmask16 m = static_cast<__mmask16>(((1u << keep) - 1u) << i);
                    // Lane i lands on (row, col); the masked-off lanes are not accessed.
                    float* base = yc + row * p.ow + col;
                    _mm512_mask_storeu_ps(reinterpret_cast<float*>(reinterpret_cast<std::uintptr_t>(base) -
                                                                   sizeof(float) * std::uintptr_t(i)),
                                          m, r);
                }
                i += len;
                q += len;
                col += len;
                if (col == p.wq) col = 0, ++row;
            }
        }
    }
}

template <int KH, int KW, bool Strided>
inline void run_tiles(const conv_geometry& g, const conv_plan& p, const std::uint32_t* xb, const std::uint32_t* wb,
                      const float* fb, bool relu, float* y) {
    const std::ptrdiff_t per_image = std::ptrdiff_t(p.q_tiles) * p.co_blocks;
    const std::ptrdiff_t total = per_image * g.n;
    const std::ptrdiff_t w_block = std::ptrdiff_t(p.pairs) * g.kh * g.kw * co_block;
    const std::ptrdiff_t y_image = std::ptrdiff_t(g.cout) * p.oh * p.ow;
    // Tile-major order: consecutive items share a tile of activations (kept in L1/L2) and walk
    // the output-channel blocks, so each thread's contiguous range reuses what it loaded.
#pragma omp parallel for schedule(static) if (total > 1)
    for (std::ptrdiff_t t = 0; t < total; ++t) {
        const int n = int(t / per_image);
        const std::ptrdiff_t rem = t % per_image;
        const int qt = int(rem / p.co_blocks), cb = int(rem % p.co_blocks);
        tile<KH, KW, Strided>(g, p, xb + std::ptrdiff_t(n) * p.image, wb + cb * w_block, fb, relu, cb,
                              std::ptrdiff_t(qt) * q_tile, y + n * y_image);
    }
}

#endif  // AVX512-BF16

/// y = act(scale * (conv(x, w) + b) + shift) per output channel with bf16 products and fp32 sums
/// (scale, shift, b may be null; act = ReLU when relu is set). ws holds workspace_words(g) words.
/// Throws bf16_unavailable where AVX512-BF16 is missing (bf16_support.hpp).
inline void forward(const conv_geometry& g, const float* x, const float* w, const float* b, const float* scale,
                    const float* shift, bool relu, float* y, std::uint32_t* ws) {
    require();
#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512F__)
    const conv_plan p = make_plan(g);
    if (p.oh <= 0 || p.ow <= 0 || g.n <= 0 || g.cout <= 0) return;
    std::uint32_t* xb = ws;
    std::uint32_t* wb = xb + p.x_words;
    float* fb = reinterpret_cast<float*>(wb + p.w_words);
    for (int co = 0; co < g.cout; ++co)
        fb[co] = (scale ? scale[co] : 1.0f) * (b ? b[co] : 0.0f) + (shift ? shift[co] : 0.0f);
    pack_weights(g, p, w, scale, wb);
    convert_input(g, p, x, xb);
    std::fill(xb + p.image * g.n, xb + p.x_words, 0u);  // the slack read by the last tile
    if (g.stride != 1)
        run_tiles<0, 0, true>(g, p, xb, wb, fb, relu, y);
    else if (g.kh == 3 && g.kw == 3)
        run_tiles<3, 3, false>(g, p, xb, wb, fb, relu, y);
    else if (g.kh == 1 && g.kw == 1)
        run_tiles<1, 1, false>(g, p, xb, wb, fb, relu, y);
    else
        run_tiles<0, 0, false>(g, p, xb, wb, fb, relu, y);
#else
    (void)g, (void)x, (void)w, (void)b, (void)scale, (void)shift, (void)relu, (void)y, (void)ws;
#endif
}

}  // namespace unetpp::backend::cpu_kernels::bf16
