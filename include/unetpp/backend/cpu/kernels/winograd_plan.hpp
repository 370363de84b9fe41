// The ISA-independent plan of the Winograd F(4x4, 3x3) convolution (winograd.hpp): how a
// convolution is cut into tiles, blocks of tiles and chunks of output channels, and the sizes of
// the buffers. Shared by the AVX-512 kernel (winograd.hpp) and the AVX2 one (winograd_avx2.hpp).
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>

#include "../../../config/abi.hpp"
#include "winograd_transforms.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

namespace wino {

// Both ISAs transform blocks of 48 tiles and work on chunks of 64 output channels; they differ
// in the vector width (tiles per vector) and the GEMM micro-kernel's output channels.
#if defined(__AVX512F__)
inline constexpr int group_tiles = 16;  // tiles per vector
inline constexpr int block_groups = 3;  // vectors per block (one GEMM micro-kernel call)
inline constexpr int co_blk = 8;        // output channels per micro-kernel
#else
inline constexpr int group_tiles = 8;   // AVX2: tiles per vector
inline constexpr int block_groups = 6;  // vectors per block (two GEMM micro-kernel calls of 3)
inline constexpr int co_blk = 4;        // output channels per micro-kernel
#endif
inline constexpr int block_tiles = group_tiles * block_groups;  // 48
inline constexpr int co_chunk = 64;                             // output channels per work item
static_assert(block_tiles == 48 && co_chunk % co_blk == 0 && 16 % co_blk == 0);

inline std::ptrdiff_t round16(std::ptrdiff_t v) noexcept { return (v + 15) / 16 * 16; }

// A stride-1 3x3 convolution as the Winograd kernel sees it (input h x w, output oh x ow). xc and
// yc: the channels per image of the tensors the input planes lie in (in_planes) and the output
// planes go to (out_planes), which the gathers' and scatters' offsets step over: cin and cout for
// one tensor each.
struct geom {
    int n, cin, h, w, cout, pad, oh, ow, tiles_y, tiles_x;
    std::ptrdiff_t tiles, groups, blocks, chunks;  // chunks: of co_chunk output channels, over all of cout
    int xc, yc;
};

inline geom make_geom(int n, int cin, int h, int w, int cout, int pad, int xc = 0, int yc = 0) noexcept {
    geom q{n,    cin, h, w, cout, pad, h + 2 * pad - 2, w + 2 * pad - 2, 0, 0, 0, 0, 0, 0, xc > 0 ? xc : cin,
           yc > 0 ? yc : cout};
    q.tiles_y = (q.oh + 3) / 4;
    q.tiles_x = (q.ow + 3) / 4;
    q.tiles = std::ptrdiff_t(n) * q.tiles_y * q.tiles_x;
    q.groups = (q.tiles + group_tiles - 1) / group_tiles;
    q.blocks = (q.groups + block_groups - 1) / block_groups;
    q.chunks = (cout + co_chunk - 1) / co_chunk;
    return q;
}

// Where the input channels are: channels [0, split) of the convolution in tensor a, which holds
// ca channels of ha x wa per image, read through the window of the input's size at (oy, ox) (a
// centre crop where a is larger: the skip of an unpadded U-Net), and channels [split, cin) in
// tensor b, cb channels of the input's size per image. One input tensor is one_tensor(x, q); two
// are a decoder's skip and up-sampled map read where they lie instead of concatenated
// (conv2d_forward_fused_two). Groups spanning tile rows gather with offsets that step over
// geom::xc channels of the input's size per image: set to cb, they fit b, and a too where it is
// not cropped and ca == cb or the batch is 1; a cropped a is read lane by lane.
struct in_planes {
    const float* a;
    const float* b;
    int split, ca, cb;
    int ha, wa, oy, ox;
    bool a_cropped;
    // Input row iy (of the convolution's input, h x w) of channel ci of image n.
    const float* row(int ci, int n, int iy, const geom& q) const noexcept {
        if (ci < split) return a + ((std::ptrdiff_t(n) * ca + ci) * ha + iy + oy) * wa + ox;
        return b + ((std::ptrdiff_t(n) * cb + (ci - split)) * q.h + iy) * q.w;
    }
};
inline in_planes one_tensor(const float* x, int cin, int h, int w) noexcept {
    return {x, x, cin, cin, cin, h, w, 0, 0, false};
}
// a (n x ca x ha x wa) centre-cropped to h x w, then b (n x cb x h x w); ha >= h, wa >= w.
inline in_planes two_tensors(const float* a, int ca, int ha, int wa, const float* b, int cb, int h, int w) noexcept {
    return {a, b, ca, ca, cb, ha, wa, (ha - h) / 2, (wa - w) / 2, ha != h || wa != w};
}

// Where the output channels go: channels [0, split) to tensor a (ca channels per image), the rest to
// tensor b (cb per image), both of the output's size: a convolution's backward-data pass writing
// the gradients of a decoder's skip and up-sampled map where they are kept, instead of the
// gradient of their concatenation (conv2d_backward_data_two). One output tensor: one_output(y,
// cout). The scatters step over geom::yc = cb channels per image: a fits them too where ca == cb
// or the batch is 1.
struct out_planes {
    float* a;
    float* b;
    int split, ca, cb;
    // Channel co of image n (ohw: pixels per output channel).
    float* channel(int co, int n, std::ptrdiff_t ohw) const noexcept {
        return co < split ? a + (std::ptrdiff_t(n) * ca + co) * ohw : b + (std::ptrdiff_t(n) * cb + (co - split)) * ohw;
    }
};
inline out_planes one_output(float* y, int cout) noexcept { return {y, y, cout, cout, cout}; }

// Where group gi, the group_tiles consecutive tiles from tile gi * group_tiles (in the order n,
// ty, tx), lies. Each instruction set adds its own masks or offsets (its traits' group).
struct group_place {
    bool row;             // all in one tile row: contiguous loads and stores
    int n, ty, tx0, len;  // first tile, number of real tiles (lanes)
};

inline group_place place_group(const geom& q, std::ptrdiff_t gi) noexcept {
    group_place s{};
    const std::ptrdiff_t t0 = gi * group_tiles, per_image = std::ptrdiff_t(q.tiles_y) * q.tiles_x;
    s.len = int(std::min<std::ptrdiff_t>(group_tiles, q.tiles - t0));
    s.n = int(t0 / per_image);
    s.ty = int(t0 % per_image / q.tiles_x);
    s.tx0 = int(t0 % q.tiles_x);
    s.row = s.tx0 + s.len <= q.tiles_x;
    return s;
}

// The lanes of a group that spans tile rows (gathers and scatters), lane l < len holding tile
// gi * group_tiles + l: the offsets of its input window and output origin from the start of x and
// y (0 in the other lanes), and bit l of rm[r] / cm[c] / orm[i] / ocm[j] set where its input row
// r / column c, output row i / column j lie inside the tensor.
struct lane_places {
    int in_off[group_tiles], out_off[group_tiles];
    unsigned rm[6], cm[6], orm[4], ocm[4];
};

inline void place_lanes(const geom& q, std::ptrdiff_t gi, int len, lane_places& p) noexcept {
    p = lane_places{};
    const std::ptrdiff_t t0 = gi * group_tiles, per_image = std::ptrdiff_t(q.tiles_y) * q.tiles_x;
    for (int l = 0; l < len; ++l) {
        const std::ptrdiff_t t = t0 + l;
        const int n = int(t / per_image), ty = int(t % per_image / q.tiles_x), tx = int(t % q.tiles_x);
        const int iy = 4 * ty - q.pad, ix = 4 * tx - q.pad;
        p.in_off[l] = int((std::ptrdiff_t(n) * q.xc * q.h + iy) * q.w + ix);
        p.out_off[l] = int((std::ptrdiff_t(n) * q.yc * q.oh + 4 * ty) * q.ow + 4 * tx);
        for (int r = 0; r < 6; ++r) {
            if (iy + r >= 0 && iy + r < q.h) p.rm[r] |= 1u << l;
            if (ix + r >= 0 && ix + r < q.w) p.cm[r] |= 1u << l;
        }
        for (int i = 0; i < 4; ++i) {
            if (4 * ty + i < q.oh) p.orm[i] |= 1u << l;
            if (4 * tx + i < q.ow) p.ocm[i] |= 1u << l;
        }
    }
}

inline std::size_t packed_weight_floats(int cout, int cin) noexcept {
    return std::size_t(winograd_points) * std::size_t(round16(cout)) * std::size_t(cin);
}

inline std::size_t part_v_floats(int cin) noexcept { return std::size_t(winograd_points) * cin * block_tiles; }
inline constexpr std::size_t part_m_floats = std::size_t(winograd_points) * co_chunk * block_tiles;

// Wide layers (winograd.hpp): a layer whose packed weights would exceed wide_budget_floats
// packs them per chunk inside the work (run_wide), each part into its own buffer, instead of all of
// them up front; its inputs are transformed once for every chunk when all the blocks' V fit
// shared_v_budget_floats (the wide layers are the deep ones: few tiles).
inline constexpr std::size_t wide_budget_floats = std::size_t(4) << 20;      // 16 MiB
inline constexpr std::size_t shared_v_budget_floats = std::size_t(8) << 20;  // 32 MiB
inline bool wide_layer(const geom& q) noexcept { return packed_weight_floats(q.cout, q.cin) > wide_budget_floats; }
inline bool share_inputs(const geom& q) noexcept {
    return wide_layer(q) && std::size_t(q.blocks) * part_v_floats(q.cin) <= shared_v_budget_floats;
}

// Whether the kernel's 32-bit gather/scatter offsets cover the tensors.
inline bool fits_int32(const geom& q) noexcept {
    const double lim = double(INT_MAX) / 2;
    return double(q.n) * q.cin * q.h * q.w < lim && double(q.n) * q.cout * q.oh * q.ow < lim &&
           double(q.cout + 16) * q.cin * 9 < lim;
}

}  // namespace wino

}  // namespace unetpp::backend::cpu_kernels::detail
