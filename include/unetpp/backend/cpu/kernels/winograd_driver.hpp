// The driver of the Winograd F(4x4, 3x3) convolution (winograd.hpp describes the algorithm): the
// weight packing, the window loads and tile stores, and the run over blocks of tiles and chunks of
// output channels, written once as templates over an instruction-set traits type I. The AVX-512 traits are in winograd.hpp, the
// AVX2 + FMA ones in winograd_avx2.hpp; each build compiles exactly one of them.
//
// What the traits I provide:
//   - the vector arithmetic of the transforms (winograd_transforms.hpp: V, splat, add, sub, mul,
//     fmadd, fnmadd) and the aligned load, store and max of whole vectors;
//   - group, make_group(q, gi): one vector's worth of consecutive tiles, where they lie (a
//     group_place, winograd_plan.hpp) and the masks or offsets the traits' loads and stores use;
//   - load_row(q, group, row, ph) and store_row(group, row, o): for groups in one tile row, one
//     input row of their 6 x 6 windows (zero outside the image) and one output row of their
//     4 x 4 outputs (written where it lies inside the output), as column phases;
//   - gather_window(q, plane, group, d) and scatter_tiles(q, plane, group, o): the same for
//     groups that span tile rows, whole windows and tiles at once;
//   - filter_taps(src, co0, ci, g): the 9 taps of the filters co0 .. co0 + group_tiles - 1 for
//     input channel ci, one filter per lane (zero lanes past src.cout), scaled by src.scale;
//   - store_halves(lo, hi, v): the lower and upper co_blk lanes of v, stored to lo and hi;
//   - gemm_block(kdim, ng, u, v, m): the register-blocked GEMM micro-kernel over one block of
//     co_blk output channels and ng vectors of tiles (the layouts: winograd.hpp, step 3).
// Every output is the same fixed-order sum whatever the traits' register blocking. But GCC may
// fuse a multiply and an add of the transforms' arithmetic into one FMA (its default
// -ffp-contract=fast: the AVX intrinsics for mul and add are plain vector operations to it), and
// whether it does depends on the code around them: a change here can move results by a rounding
// without changing any sum. Compare the outputs bit for bit before and after such a change.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../../../config/abi.hpp"
#include "parallel.hpp"
#include "winograd_plan.hpp"
#include "winograd_transforms.hpp"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail::wino {

// Where the 3x3 filters come from: tap k = ky*3+kx of (co, ci) is
// w[co*lane_stride + ci*in_stride + (flip ? 8-k : k)], multiplied by scale[co] when scale is
// given; cout output channels.
struct filter_source {
    const float* w;
    std::ptrdiff_t lane_stride, in_stride;
    bool flip;
    const float* scale;
    int cout;
};

// The gather path for channels of a cropped tensor (in_planes): its rows are longer than the
// input's, so lane_places' offsets do not fit it; each lane's window is read where it lies.
template <class I>
inline void gather_window_lanes(const geom& q, const in_planes& x, int ci, const typename I::group& s,
                                typename I::V* d) noexcept {
    alignas(64) float win[36][group_tiles] = {};
    const std::ptrdiff_t per_image = std::ptrdiff_t(q.tiles_y) * q.tiles_x;
    const std::ptrdiff_t t0 = (std::ptrdiff_t(s.n) * q.tiles_y + s.ty) * q.tiles_x + s.tx0;
    for (int l = 0; l < s.len; ++l) {
        const std::ptrdiff_t t = t0 + l;
        const int n = int(t / per_image), ty = int(t % per_image / q.tiles_x), tx = int(t % q.tiles_x);
        for (int r = 0; r < 6; ++r) {
            const int iy = 4 * ty - q.pad + r;
            if (iy < 0 || iy >= q.h) continue;
            const float* row = x.row(ci, n, iy, q);
            for (int c = 0; c < 6; ++c) {
                const int ix = 4 * tx - q.pad + c;
                if (ix >= 0 && ix < q.w) win[r * 6 + c][l] = row[ix];
            }
        }
    }
    for (int k = 0; k < 36; ++k) d[k] = I::load(win[k]);
}

// d[r*6+c] = the 6 x 6 input windows of group s's tiles in channel ci (zero outside the image).
template <class I>
inline void load_window(const geom& q, const in_planes& x, int ci, const typename I::group& s,
                        typename I::V* d) noexcept {
    if (!s.row) {
        if (x.a_cropped && ci < x.split)
            gather_window_lanes<I>(q, x, ci, s, d);
        else
            I::gather_window(q, x.row(ci, 0, 0, q), s, d);
        return;
    }
    for (int r = 0; r < 6; ++r) {
        const int iy = 4 * s.ty - q.pad + r;
        if (iy >= 0 && iy < q.h)
            I::load_row(q, s, x.row(ci, s.n, iy, q), d + r * 6);
        else
            for (int c = 0; c < 6; ++c) d[r * 6 + c] = I::splat(0.0f);
    }
}

// Writes group s's 4 x 4 outputs o[i*4+j] of channel co to y (what lies inside the output).
template <class I>
inline void store_tiles(const geom& q, const out_planes& y, int co, const typename I::group& s,
                        const typename I::V* o) noexcept {
    const std::ptrdiff_t ohw = std::ptrdiff_t(q.oh) * q.ow;
    if (!s.row) {
        I::scatter_tiles(q, y.channel(co, 0, ohw), s, o);
        return;
    }
    float* plane = y.channel(co, s.n, ohw);
    for (int i = 0; i < 4 && 4 * s.ty + i < q.oh; ++i)
        I::store_row(s, plane + std::ptrdiff_t(4 * s.ty + i) * q.ow, o + 4 * i);
}

// Packs U = G g G^T (winograd.hpp, step 1) for cout output and cin input channels into u, as
// [a][block of co_blk output channels][ci][co_blk], the output channels padded to a multiple of
// 16 with zero filters; the filters as filter_source describes (w, lane_stride, in_stride, flip,
// scale). One vector of filters fills two micro-kernel blocks. Split over the threads unless
// `parallel` is false (a caller already inside a parallel region); the packed values are the same
// either way (one loop body).
template <class I>
inline void pack_weights(int cout, int cin, const float* w, std::ptrdiff_t lane_stride, std::ptrdiff_t in_stride,
                         bool flip, const float* scale, float* u, bool parallel = true) {
    using V = typename I::V;
    static_assert(sizeof(V) == sizeof(float) * group_tiles && group_tiles == 2 * co_blk);
    const int vectors = int(round16(cout) / group_tiles);
    const std::ptrdiff_t cb = round16(cout) / co_blk;
#pragma omp parallel for collapse(2) schedule(static) if (parallel && std::ptrdiff_t(cout) * cin > 4096)
    for (int b = 0; b < vectors; ++b)
        for (int ci = 0; ci < cin; ++ci) {
            // Made here from the scalars (it stays in registers): with one filter_source passed in
            // (by reference, or copied per thread), GCC 12 fused other multiplies and adds of the
            // AVX2 filter transform and the packed weights changed in the last bit.
            const filter_source src{w, lane_stride, in_stride, flip, scale, cout};
            V g[9], t[36];
            I::filter_taps(src, group_tiles * b, ci, g);
            filter_tile_t<I>(g, t);
            for (int a = 0; a < winograd_points; ++a) {
                float* dst = u + ((a * cb + 2 * b) * cin + ci) * co_blk;
                I::store_halves(dst, dst + std::ptrdiff_t(cin) * co_blk, t[a]);
            }
        }
}

// The input transform of one block's tiles (groups gs[0 .. ng-1]) for input channels
// [ci0, ci1) into vbuf, laid out [a][ci][block_tiles] over all q.cin channels.
template <class I>
inline void transform_block(const geom& q, const in_planes& x, const typename I::group* gs, int ng, int ci0, int ci1,
                            float* vbuf) noexcept {
    using V = typename I::V;
    for (int ci = ci0; ci < ci1; ++ci)
        for (int v = 0; v < ng; ++v) {
            V d[36], t[36];
            load_window<I>(q, x, ci, gs[v], d);
            input_tile_t<I>(d, t);
            for (int a = 0; a < winograd_points; ++a)
                I::store(vbuf + (std::ptrdiff_t(a) * q.cin + ci) * block_tiles + group_tiles * v, t[a]);
        }
}

// The groups of tile block blk into gs; returns how many there are.
template <class I>
inline int block_groups_of(const geom& q, std::ptrdiff_t blk, typename I::group* gs) noexcept {
    const int ng = int(std::min<std::ptrdiff_t>(block_groups, q.groups - blk * block_groups));
    for (int v = 0; v < ng; ++v) gs[v] = I::make_group(q, blk * block_groups + v);
    return ng;
}

// Output channels [co0, co1) of the block whose groups are gs[0 .. ng-1]: the GEMMs of the
// transformed inputs vbuf with the packed weights (micro-kernel block k of output channel co0 at
// u + (a * cb + ublk0) * cin * co_blk, a layout of cb blocks per point), then the output transform,
// bias and ReLU into y.
template <class I>
inline void compute_chunk(const geom& q, const float* u, std::ptrdiff_t cb, std::ptrdiff_t ublk0, const float* vbuf,
                          float* mbuf, const typename I::group* gs, int ng, int co0, int co1, const float* bias,
                          bool relu, const out_planes& y) noexcept {
    using V = typename I::V;
    const int nb = (co1 - co0 + co_blk - 1) / co_blk;
    for (int a = 0; a < winograd_points; ++a) {
        const float* va = vbuf + std::ptrdiff_t(a) * q.cin * block_tiles;
        for (int b = 0; b < nb; ++b)
            I::gemm_block(q.cin, ng, u + (a * cb + ublk0 + b) * q.cin * co_blk, va,
                          mbuf + (std::ptrdiff_t(a) * co_chunk + b * co_blk) * block_tiles);
    }
    for (int co = co0; co < co1; ++co) {
        const V bv = I::splat(bias ? bias[co] : 0.0f);
        for (int v = 0; v < ng; ++v) {
            V m[36], o[16];
            for (int a = 0; a < winograd_points; ++a)
                m[a] = I::load(mbuf + (std::ptrdiff_t(a) * co_chunk + co - co0) * block_tiles + group_tiles * v);
            output_tile_t<I>(m, o);
            for (int e = 0; e < 16; ++e) {
                o[e] = I::add(o[e], bv);
                if (relu) o[e] = I::max(o[e], I::splat(0.0f));
            }
            store_tiles<I>(q, y, co, gs[v], o);
        }
    }
}

// The convolution of x (q.n x q.cin x q.h x q.w, in one or two tensors: in_planes) into y (one or
// two tensors: out_planes) with packed weights u of the whole layer: y =
// conv + bias, ReLU'd when relu is set. parts_ws holds max_threads() x (V, M) buffers, aligned to
// V. Work split: winograd.hpp ("Work split"); results do not depend on the thread count.
template <class I>
inline void run(const geom& q, const in_planes& x, const float* u, const float* bias, bool relu, const out_planes& y,
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
        typename I::group gs[block_groups];
        int ng = 0;
        for (std::ptrdiff_t it = lo; it < hi; ++it) {
            const std::ptrdiff_t blk = it / q.chunks;
            const int co0 = int(it % q.chunks) * co_chunk, co1 = std::min(q.cout, co0 + co_chunk);
            if (blk != current) {  // input transform of the block's tiles
                current = blk;
                ng = block_groups_of<I>(q, blk, gs);
                transform_block<I>(q, x, gs, ng, 0, q.cin, vbuf);
            }
            compute_chunk<I>(q, u, cb, co0 / co_blk, vbuf, mbuf, gs, ng, co0, co1, bias, relu, y);
        }
    });
}

// Where the packed weights of one chunk are, as compute_chunk reads them: micro-kernel block k of
// the chunk's first output channel at u + (a * cb + ublk0 + k) * cin * co_blk.
struct chunk_weights {
    const float* u;
    std::ptrdiff_t cb, ublk0;
};

// The convolution of a wide layer (winograd.hpp, "Wide layers"), in one parallel region. Each
// part asks weights_of(co0, count, buf) for the packed weights of the chunk it works on next, and
// gets a chunk_weights: packed into buf, the part's own one-chunk buffer (serially: it runs inside
// the region), instead of all chunks packed up front, or found in place (the layer's cached
// transform). With v_all (q.blocks x part_v_floats(q.cin) floats) the inputs are transformed once,
// split over the parts, and the items run chunk by chunk, so each part asks for each of its chunks
// once; without it each part transforms its blocks itself and the items run block by block,
// asking again wherever the chunk changes. parts_ws: per part, part_stride floats holding one
// chunk's packed weights (packed_weight_floats(co_chunk, q.cin)), then its V buffer unless v_all
// is given, then its M buffer. The outputs are those of run() bit for bit: the same packed values
// per chunk (chunks start at multiples of 64 channels), the same sums.
template <class I, class Weights>
inline void run_wide(const geom& q, const in_planes& x, Weights&& weights_of, const float* bias, bool relu,
                     const out_planes& y, float* parts_ws, std::size_t part_stride, float* v_all) {
    const int parts = max_threads();
    const std::ptrdiff_t items = q.blocks * q.chunks;
    const std::size_t vsz = part_v_floats(q.cin), usz = packed_weight_floats(co_chunk, q.cin);
    const bool chunk_major = v_all != nullptr;
    const std::ptrdiff_t total_v = q.blocks * q.cin;
#pragma omp parallel if (parts > 1)
    {
        if (v_all) {
            for_each_part(parts, [&](int p) {  // every block's transformed inputs, by (block, channel)
                std::ptrdiff_t lo, hi;
                static_share(total_v, 1, p, parts, lo, hi);
                while (lo < hi) {
                    const std::ptrdiff_t blk = lo / q.cin;
                    const int ci0 = int(lo % q.cin), ci1 = int(std::min<std::ptrdiff_t>(q.cin, ci0 + (hi - lo)));
                    typename I::group gs[block_groups];
                    const int ng = block_groups_of<I>(q, blk, gs);
                    transform_block<I>(q, x, gs, ng, ci0, ci1, v_all + std::size_t(blk) * vsz);
                    lo += ci1 - ci0;
                }
            });
#pragma omp barrier
        }
        for_each_part(parts, [&](int p) {
            float* ubuf = parts_ws + std::size_t(p) * part_stride;
            float* own_v = ubuf + usz;
            float* mbuf = own_v + (v_all ? 0 : vsz);
            std::ptrdiff_t lo, hi;
            static_share(items, 1, p, parts, lo, hi);
            std::ptrdiff_t cur_chunk = -1, cur_blk = -1;
            chunk_weights cw{};
            typename I::group gs[block_groups];
            int ng = 0;
            const float* vbuf = own_v;
            for (std::ptrdiff_t it = lo; it < hi; ++it) {
                const std::ptrdiff_t chunk = chunk_major ? it / q.blocks : it % q.chunks;
                const std::ptrdiff_t blk = chunk_major ? it % q.blocks : it / q.chunks;
                const int co0 = int(chunk) * co_chunk, co1 = std::min(q.cout, co0 + co_chunk);
                if (chunk != cur_chunk) {
                    cur_chunk = chunk;
                    cw = weights_of(co0, co1 - co0, ubuf);
                }
                if (blk != cur_blk) {
                    cur_blk = blk;
                    ng = block_groups_of<I>(q, blk, gs);
                    if (v_all)
                        vbuf = v_all + std::size_t(blk) * vsz;
                    else
                        transform_block<I>(q, x, gs, ng, 0, q.cin, own_v);
                }
                compute_chunk<I>(q, cw.u, cw.cb, cw.ublk0, vbuf, mbuf, gs, ng, co0, co1, bias, relu, y);
            }
        });
    }
}

}  // namespace unetpp::backend::cpu_kernels::detail::wino
#endif  // AVX-512 or AVX2 + FMA
