// Winograd F(4x4, 3x3) convolution for the CPU backend (float; AVX-512 here, AVX2 + FMA in
// winograd_avx2.hpp, which describes what differs; the plan in winograd_plan.hpp and the
// transforms in winograd_transforms.hpp are shared).
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
// Workspace: winograd_workspace_floats(g), which depends on max_threads() (one V and one M
// buffer per part): query it with the thread count the call will run under, as the backend does.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <memory>

#include "conv2d.hpp"
#include "parallel.hpp"
#include "winograd_avx2.hpp"
#include "winograd_cache.hpp"
#include "winograd_plan.hpp"
#include "winograd_transforms.hpp"

namespace unetpp::backend::cpu_kernels::detail {

#if defined(__AVX512F__)
inline constexpr bool have_winograd = true;
inline constexpr const char* winograd_name = "winograd-avx512 F(4x4,3x3)";
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr bool have_winograd = true;
inline constexpr const char* winograd_name = "winograd-avx2 F(4x4,3x3)";
#else
inline constexpr bool have_winograd = false;
inline constexpr const char* winograd_name = "winograd (not compiled: needs AVX-512 or AVX2 + FMA)";
#endif

namespace wino {

#if defined(__AVX512F__)

// 16 consecutive tiles (linear order n, ty, tx): their positions and lane masks.
struct group {
    bool row;             // all in one tile row: contiguous loads and stores
    int n, ty, tx0, len;  // first tile, number of real tiles (lanes)
    __mmask16 lm[5], sm[4];            // row path: input load masks, output store masks
    __m512i in_idx, out_idx;           // gather path: per-lane offsets of the window / output origin
    __mmask16 rm[6], cm[6], orm[4], ocm[4];  // gather path: lanes whose input row r / column c,
                                             // output row i / column j lie inside the tensor
};

inline group make_group(const geom& q, std::ptrdiff_t gi) noexcept {
    group s{};
    const std::ptrdiff_t t0 = gi * group_tiles, per_image = std::ptrdiff_t(q.tiles_y) * q.tiles_x;
    s.len = int(std::min<std::ptrdiff_t>(group_tiles, q.tiles - t0));
    s.n = int(t0 / per_image);
    s.ty = int(t0 % per_image / q.tiles_x);
    s.tx0 = int(t0 % q.tiles_x);
    s.row = s.tx0 + s.len <= q.tiles_x;
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
    alignas(64) int in_off[16], out_off[16];
    unsigned rm[6] = {}, cm[6] = {}, orm[4] = {}, ocm[4] = {};
    for (int l = 0; l < 16; ++l) {
        in_off[l] = out_off[l] = 0;
        if (l >= s.len) continue;
        const std::ptrdiff_t t = t0 + l;
        const int n = int(t / per_image), ty = int(t % per_image / q.tiles_x), tx = int(t % q.tiles_x);
        const int iy = 4 * ty - q.pad, ix = 4 * tx - q.pad;
        in_off[l] = int((std::ptrdiff_t(n) * q.cin * q.h + iy) * q.w + ix);
        out_off[l] = int((std::ptrdiff_t(n) * q.cout * q.oh + 4 * ty) * q.ow + 4 * tx);
        for (int r = 0; r < 6; ++r) {
            if (iy + r >= 0 && iy + r < q.h) rm[r] |= 1u << l;
            if (ix + r >= 0 && ix + r < q.w) cm[r] |= 1u << l;
        }
        for (int i = 0; i < 4; ++i) {
            if (4 * ty + i < q.oh) orm[i] |= 1u << l;
            if (4 * tx + i < q.ow) ocm[i] |= 1u << l;
        }
    }
    s.in_idx = _mm512_load_si512(in_off);
    s.out_idx = _mm512_load_si512(out_off);
    for (int r = 0; r < 6; ++r) s.rm[r] = __mmask16(rm[r]), s.cm[r] = __mmask16(cm[r]);
    for (int i = 0; i < 4; ++i) s.orm[i] = __mmask16(orm[i]), s.ocm[i] = __mmask16(ocm[i]);
    return s;
}

// d[r*6+c] = input window of the group's 16 tiles in channel ci (zero outside the image).
inline void load_window(const geom& q, const float* x, int ci, const group& s, __m512* d) noexcept {
    const std::ptrdiff_t hw = std::ptrdiff_t(q.h) * q.w;
    if (s.row) {
        const float* plane = x + (std::ptrdiff_t(s.n) * q.cin + ci) * hw;
        for (int r = 0; r < 6; ++r) {
            const int iy = 4 * s.ty - q.pad + r;
            if (iy < 0 || iy >= q.h) {
                for (int c = 0; c < 6; ++c) d[r * 6 + c] = _mm512_setzero_ps();
                continue;
            }
            load_row_phases(shifted(plane, std::ptrdiff_t(iy) * q.w + 4 * s.tx0 - q.pad), s.lm, d + r * 6);
        }
        return;
    }
    const float* plane = x + ci * hw;
    for (int r = 0; r < 6; ++r)
        for (int c = 0; c < 6; ++c) {
            const __m512i idx = _mm512_add_epi32(s.in_idx, _mm512_set1_epi32(r * q.w + c));
            d[r * 6 + c] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(s.rm[r] & s.cm[c]), idx, plane, 4);
        }
}

// Writes the group's 4 x 4 outputs o[i*4+j] of channel co (what lies inside the output).
inline void store_tiles(const geom& q, float* y, int co, const group& s, const __m512* o) noexcept {
    const std::ptrdiff_t ohw = std::ptrdiff_t(q.oh) * q.ow;
    if (s.row) {
        float* plane = y + (std::ptrdiff_t(s.n) * q.cout + co) * ohw;
        for (int i = 0; i < 4 && 4 * s.ty + i < q.oh; ++i)
            store_row_phases(shifted(plane, std::ptrdiff_t(4 * s.ty + i) * q.ow + 4 * s.tx0), s.sm, o + 4 * i);
        return;
    }
    float* plane = y + co * ohw;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const __m512i idx = _mm512_add_epi32(s.out_idx, _mm512_set1_epi32(i * q.ow + j));
            _mm512_mask_i32scatter_ps(plane, __mmask16(s.orm[i] & s.ocm[j]), idx, o[i * 4 + j], 4);
        }
}

// Packs U (see the header comment) for a convolution with cout output and cin input channels
// whose tap k = ky*3+kx of (co, ci) is w[co*lane_stride + ci*in_stride + (flip ? 8-k : k)],
// each output channel's filter multiplied by scale[co] when scale is given.
inline void pack_weights(int cout, int cin, const float* w, std::ptrdiff_t lane_stride, std::ptrdiff_t in_stride,
                         bool flip, const float* scale, float* u) {
    const int b16s = int(round16(cout) / 16);
    const std::ptrdiff_t cb = std::ptrdiff_t(b16s) * 2;  // blocks of 8 output channels
#pragma omp parallel for collapse(2) schedule(static) if (std::ptrdiff_t(cout) * cin > 4096)
    for (int b = 0; b < b16s; ++b)
        for (int ci = 0; ci < cin; ++ci) {
            const int live = std::min(16, cout - 16 * b);
            const __mmask16 mask = __mmask16((1u << live) - 1u);
            const __m512i lane = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                    _mm512_set1_epi32(int(lane_stride)));
            const float* base = w + std::ptrdiff_t(16) * b * lane_stride + ci * in_stride;
            __m512 g[9], t[36];
            const __m512 s = scale ? _mm512_maskz_loadu_ps(mask, scale + 16 * b) : _mm512_set1_ps(1.0f);
            for (int k = 0; k < 9; ++k) {
                const __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32(flip ? 8 - k : k));
                g[k] = _mm512_mul_ps(s, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, idx, base, 4));
            }
            filter_tile(g, t);
            for (int a = 0; a < winograd_points; ++a) {
                float* dst = u + ((a * cb + 2 * b) * cin + ci) * co_blk;
                const __m512d v = _mm512_castps_pd(t[a]);
                _mm256_storeu_ps(dst, _mm256_castpd_ps(_mm512_castpd512_pd256(v)));
                _mm256_storeu_ps(dst + std::ptrdiff_t(cin) * co_blk, _mm256_castpd_ps(_mm512_extractf64x4_pd(v, 1)));
            }
        }
}

// m[j*48 + 16i] = sum_k u[k*8 + j] * v[k*48 + 16i] for j < 8, i < NV.
template <int NV>
inline void gemm_kernel(int kdim, const float* u, const float* v, float* m) noexcept {
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

// The convolution of x (q.n x q.cin x q.h x q.w) with packed weights u: y = conv + bias, ReLU'd
// when relu is set. parts_ws holds max_threads() x (V, M) buffers.
inline void run(const geom& q, const float* x, const float* u, const float* bias, bool relu, float* y,
                float* parts_ws) {
    const int parts = max_threads();
    const std::ptrdiff_t items = q.blocks * q.chunks, cb = round16(q.cout) / co_blk;
    const std::size_t vsz = part_v_floats(q.cin);
    const double macs = double(q.tiles) * q.cin * q.cout;
#pragma omp parallel if (parts > 1 && macs > 65536.0)
    for_each_part(parts, [&](int p) {
        float* vbuf = parts_ws + std::size_t(p) * (vsz + part_m_floats);
        float* mbuf = vbuf + vsz;
        std::ptrdiff_t lo, hi;
        static_share(items, 1, p, parts, lo, hi);
        std::ptrdiff_t current = -1;
        group gs[block_groups];
        int ng = 0;
        for (std::ptrdiff_t it = lo; it < hi; ++it) {
            const std::ptrdiff_t blk = it / q.chunks;
            const int co0 = int(it % q.chunks) * co_chunk, co1 = std::min(q.cout, co0 + co_chunk);
            if (blk != current) {  // input transform of the block's tiles
                current = blk;
                ng = int(std::min<std::ptrdiff_t>(block_groups, q.groups - blk * block_groups));
                for (int v = 0; v < ng; ++v) gs[v] = make_group(q, blk * block_groups + v);
                for (int ci = 0; ci < q.cin; ++ci)
                    for (int v = 0; v < ng; ++v) {
                        __m512 d[36], t[36];
                        load_window(q, x, ci, gs[v], d);
                        input_tile(d, t);
                        for (int a = 0; a < winograd_points; ++a)
                            _mm512_store_ps(vbuf + (std::ptrdiff_t(a) * q.cin + ci) * block_tiles + 16 * v, t[a]);
                    }
            }
            const int nb = (co1 - co0 + co_blk - 1) / co_blk;
            for (int a = 0; a < winograd_points; ++a) {
                const float* va = vbuf + std::ptrdiff_t(a) * q.cin * block_tiles;
                for (int b = 0; b < nb; ++b) {
                    const float* ua = u + (a * cb + co0 / co_blk + b) * q.cin * co_blk;
                    float* ma = mbuf + (std::ptrdiff_t(a) * co_chunk + b * co_blk) * block_tiles;
                    if (ng == 3)
                        gemm_kernel<3>(q.cin, ua, va, ma);
                    else if (ng == 2)
                        gemm_kernel<2>(q.cin, ua, va, ma);
                    else
                        gemm_kernel<1>(q.cin, ua, va, ma);
                }
            }
            for (int co = co0; co < co1; ++co) {
                const __m512 bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
                for (int v = 0; v < ng; ++v) {
                    __m512 m[36], o[16];
                    for (int a = 0; a < winograd_points; ++a)
                        m[a] = _mm512_load_ps(mbuf + (std::ptrdiff_t(a) * co_chunk + co - co0) * block_tiles + 16 * v);
                    output_tile(m, o);
                    for (int e = 0; e < 16; ++e) {
                        o[e] = _mm512_add_ps(o[e], bv);
                        if (relu) o[e] = _mm512_max_ps(o[e], _mm512_setzero_ps());
                    }
                    store_tiles(q, y, co, gs[v], o);
                }
            }
        }
    });
}

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
inline bool use_winograd(const conv_geometry& g) {
    if (!have_winograd || g.kh != 3 || g.kw != 3 || g.stride != 1 || g.pad < 0 || g.pad > 2 || g.oh() <= 0 ||
        g.ow() <= 0 || g.n <= 0 || g.cin <= 0 || g.cout <= 0)
        return false;
    if (!wino::fits_int32(wino::make_geom(g.n, g.cin, g.h, g.w, g.cout, g.pad))) return false;
    const conv_algo a = conv2d_algorithm();
    return a == conv_algo::winograd || (a == conv_algo::automatic && winograd_pays(g));
}

inline std::size_t winograd_workspace_floats(const conv_geometry& g) {
    return wino::packed_weight_floats(g.cout, g.cin) + std::size_t(wino::round16(g.cout)) +
           std::size_t(max_threads()) * (wino::part_v_floats(g.cin) + wino::part_m_floats);
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// y = act(scale * (conv(x, w) + b) + shift) (scale, shift, b may be null; act = ReLU if relu).
// With `cached` (the inference path, conv2d_forward_fused) the transformed weights come from the
// cache of winograd_cache.hpp, which checks that w and scale are unchanged before reusing them.
inline void winograd_forward(const conv_geometry& g, const float* x, const float* w, const float* b,
                             const float* scale, const float* shift, bool relu, float* y, float* ws, bool cached) {
    float* fb = ws + wino::packed_weight_floats(g.cout, g.cin);
    float* parts = fb + wino::round16(g.cout);
    const auto pack = [&](float* dst) {
        wino::pack_weights(g.cout, g.cin, w, std::ptrdiff_t(g.cin) * 9, 9, false, scale, dst);
    };
    std::shared_ptr<const wino::cached_weights> keep;  // holds the entry for this call
    if (cached)
        keep = wino::the_weight_cache().get(w, scale, g.cout, g.cin, wino::packed_weight_floats(g.cout, g.cin), pack);
    const float* u = keep ? keep->u() : ws;
    if (!keep) pack(ws);
    const bool has_bias = b || shift;
    for (int co = 0; has_bias && co < g.cout; ++co)
        fb[co] = (scale ? scale[co] : 1.0f) * (b ? b[co] : 0.0f) + (shift ? shift[co] : 0.0f);
    wino::run(wino::make_geom(g.n, g.cin, g.h, g.w, g.cout, g.pad), x, u, has_bias ? fb : nullptr, relu, y, parts);
}

// dx = conv^T(dy): the convolution of dy padded by 2 - pad with w[co][ci] flipped, ci <-> co.
inline void winograd_backward_data(const conv_geometry& g, const float* dy, const float* w, float* dx, float* ws) {
    const conv_geometry t = winograd_backward_geometry(g);
    float* u = ws;
    float* parts = u + wino::packed_weight_floats(t.cout, t.cin) + wino::round16(t.cout);
    wino::pack_weights(t.cout, t.cin, w, 9, std::ptrdiff_t(g.cin) * 9, true, nullptr, u);
    wino::run(wino::make_geom(t.n, t.cin, t.h, t.w, t.cout, t.pad), dy, u, nullptr, false, dx, parts);
}
#endif

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
    winograd_forward(g, x, w, b, scale, shift, relu, y, ws, cached);
#else
    (void)x, (void)w, (void)b, (void)scale, (void)shift, (void)relu, (void)y, (void)ws, (void)cached;  // never chosen
#endif
    return true;
}
inline bool winograd_backward_data_if_chosen(const conv_geometry& g, const float* dy, const float* w, float* dx,
                                             float* ws) {
    if (!use_winograd_backward(g)) return false;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    winograd_backward_data(g, dy, w, dx, ws);
#else
    (void)dy, (void)w, (void)dx, (void)ws;  // never chosen
#endif
    return true;
}

}  // namespace unetpp::backend::cpu_kernels::detail

namespace unetpp::backend::cpu_kernels {

UNETPP_KERNEL_API const char* conv2d_backward_data_algorithm(const conv_geometry& g) {
    return detail::use_winograd_backward(g) ? detail::winograd_name : conv2d_forward_algorithm(g);
}

}  // namespace unetpp::backend::cpu_kernels
