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

// d[r*6+c] = the 6 x 6 input windows of group s's tiles in channel ci (zero outside the image).
template <class I>
inline void load_window(const geom& q, const float* x, int ci, const typename I::group& s,
                        typename I::V* d) noexcept {
    const std::ptrdiff_t hw = std::ptrdiff_t(q.h) * q.w;
    if (!s.row) {
        I::gather_window(q, x + ci * hw, s, d);
        return;
    }
    const float* plane = x + (std::ptrdiff_t(s.n) * q.cin + ci) * hw;
    for (int r = 0; r < 6; ++r) {
        const int iy = 4 * s.ty - q.pad + r;
        if (iy >= 0 && iy < q.h)
            I::load_row(q, s, plane + std::ptrdiff_t(iy) * q.w, d + r * 6);
        else
            for (int c = 0; c < 6; ++c) d[r * 6 + c] = I::splat(0.0f);
    }
}

// Writes group s's 4 x 4 outputs o[i*4+j] of channel co to y (what lies inside the output).
template <class I>
inline void store_tiles(const geom& q, float* y, int co, const typename I::group& s,
                        const typename I::V* o) noexcept {
    const std::ptrdiff_t ohw = std::ptrdiff_t(q.oh) * q.ow;
    if (!s.row) {
        I::scatter_tiles(q, y + co * ohw, s, o);
        return;
    }
    float* plane = y + (std::ptrdiff_t(s.n) * q.cout + co) * ohw;
    for (int i = 0; i < 4 && 4 * s.ty + i < q.oh; ++i)
        I::store_row(s, plane + std::ptrdiff_t(4 * s.ty + i) * q.ow, o + 4 * i);
}

// Packs U = G g G^T (winograd.hpp, step 1) for cout output and cin input channels into u, as
// [a][block of co_blk output channels][ci][co_blk], the output channels padded to a multiple of
// 16 with zero filters; the filters as filter_source describes (w, lane_stride, in_stride, flip,
// scale). One vector of filters fills two micro-kernel blocks.
template <class I>
inline void pack_weights(int cout, int cin, const float* w, std::ptrdiff_t lane_stride, std::ptrdiff_t in_stride,
                         bool flip, const float* scale, float* u) {
    using V = typename I::V;
    static_assert(sizeof(V) == sizeof(float) * group_tiles && group_tiles == 2 * co_blk);
    const int vectors = int(round16(cout) / group_tiles);
    const std::ptrdiff_t cb = round16(cout) / co_blk;
#pragma omp parallel for collapse(2) schedule(static) if (std::ptrdiff_t(cout) * cin > 4096)
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

// The output channels [co_begin, co_end) of the convolution of x (q.n x q.cin x q.h x q.w) with
// packed weights u: y = conv + bias, ReLU'd when relu is set. u holds the packed weights of those
// channels only (pack_weights of co_end - co_begin filters from filter co_begin on); co_begin is a
// multiple of co_chunk, so the chunks, and every output, are the same whatever the slab
// (winograd.hpp, "Slabs"). bias is indexed by the absolute channel. parts_ws holds max_threads()
// x (V, M) buffers, aligned to V. Work split: winograd.hpp ("Work split"); results do not depend
// on the thread count.
template <class I>
inline void run(const geom& q, const float* x, const float* u, const float* bias, bool relu, float* y,
                float* parts_ws, int co_begin, int co_end) {
    using V = typename I::V;
    static_assert(sizeof(V) == sizeof(float) * group_tiles);
    const int parts = max_threads();
    const int slab = co_end - co_begin;
    const std::ptrdiff_t chunks = (slab + co_chunk - 1) / co_chunk;
    const std::ptrdiff_t items = q.blocks * chunks, cb = round16(slab) / co_blk;
    const std::size_t vsz = part_v_floats(q.cin);
    const double macs = double(q.tiles) * q.cin * slab;
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
            const std::ptrdiff_t blk = it / chunks;
            const int co0 = co_begin + int(it % chunks) * co_chunk, co1 = std::min(co_end, co0 + co_chunk);
            if (blk != current) {  // input transform of the block's tiles
                current = blk;
                ng = int(std::min<std::ptrdiff_t>(block_groups, q.groups - blk * block_groups));
                for (int v = 0; v < ng; ++v) gs[v] = I::make_group(q, blk * block_groups + v);
                for (int ci = 0; ci < q.cin; ++ci)
                    for (int v = 0; v < ng; ++v) {
                        V d[36], t[36];
                        load_window<I>(q, x, ci, gs[v], d);
                        input_tile_t<I>(d, t);
                        for (int a = 0; a < winograd_points; ++a)
                            I::store(vbuf + (std::ptrdiff_t(a) * q.cin + ci) * block_tiles + group_tiles * v, t[a]);
                    }
            }
            const int nb = (co1 - co0 + co_blk - 1) / co_blk;
            for (int a = 0; a < winograd_points; ++a) {
                const float* va = vbuf + std::ptrdiff_t(a) * q.cin * block_tiles;
                for (int b = 0; b < nb; ++b)
                    I::gemm_block(q.cin, ng, u + (a * cb + (co0 - co_begin) / co_blk + b) * q.cin * co_blk, va,
                                  mbuf + (std::ptrdiff_t(a) * co_chunk + b * co_blk) * block_tiles);
            }
            for (int co = co0; co < co1; ++co) {
                const V bv = I::splat(bias ? bias[co] : 0.0f);
                for (int v = 0; v < ng; ++v) {
                    V m[36], o[16];
                    for (int a = 0; a < winograd_points; ++a)
                        m[a] = I::load(mbuf + (std::ptrdiff_t(a) * co_chunk + co - co0) * block_tiles +
                                       group_tiles * v);
                    output_tile_t<I>(m, o);
                    for (int e = 0; e < 16; ++e) {
                        o[e] = I::add(o[e], bv);
                        if (relu) o[e] = I::max(o[e], I::splat(0.0f));
                    }
                    store_tiles<I>(q, y, co, gs[v], o);
                }
            }
        }
    });
}

}  // namespace unetpp::backend::cpu_kernels::detail::wino
#endif  // AVX-512 or AVX2 + FMA
