#pragma once
/// \file Overlap-tile inference: predicting images of any size with a U-Net (seeds 000 and 004).
///
///   net_t net; unetpp::io::load_weights(net, "model.safetensors");
///   auto x = unetpp::io::to_tensor(unetpp::io::read_image("cells.png", 1));   // [1, 1, H, W]
///   auto p = unetpp::infer::predict_tiled(net, x);        // p.prob [1, K, H, W], p.mask [1, 1, H, W]
///
/// The image is cut into input tiles of a size the network accepts. Around the image the pixels
/// are mirrored (reflect rule of backend/cpu/kernels/resample.hpp: the edge pixel is not
/// repeated, and an image narrower than the mirror bounces back and forth; a 1-pixel-wide image
/// becomes constant), so every tile is full of plausible context and any image size works,
/// including images smaller than the smallest valid tile.
///
/// Unpadded networks (padding::valid, Ronneberger et al.): a tile of side s gives an output of
/// side o = output_size(s) < s, and output pixel i belongs to input pixel i + m with the margin
/// m = (s - o) / 2. Each tile is placed so that its output covers a block of the image; the tile
/// origins are multiples of 2^depth apart, so every 2x2 pooling sees the same pixel pairs as it
/// would in one pass over the whole mirrored image, and the result is EXACTLY the whole-image
/// result (the same numbers up to float summation order; tests/unit/infer/test_tiling.cpp). When
/// o is not a multiple of 2^depth, neighbouring output blocks overlap by o mod 2^depth pixels;
/// the overlapping values are identical and are simply written twice. The last tile of a row or
/// column is pulled back so that it ends less than 2^depth pixels past the image; what it
/// predicts beyond the image is discarded.
///
/// Padded networks (padding::same / reflect): output side = input side, but pixels near a tile
/// border see zero padding instead of the neighbouring image. Tiles therefore overlap: each tile
/// keeps only its central part, discarding `overlap` pixels on every side (rounded up to a
/// multiple of 2^depth), and the image itself is mirrored by `overlap` pixels. No blending is
/// done: every output pixel comes from one tile whose central part contains it (where central
/// parts overlap, the later tile's value is kept; with the default overlap both values agree),
/// so no weight map is needed. The default overlap is
/// receptive_radius<Net>(), the farthest a tile border's zero padding can reach; tiling is then
/// exact as well (identical to one pass over the image mirrored by `overlap`). A smaller overlap
/// trades exactness for less computation; the tests measure the error.
///
/// Tile size: `tile_options::tile` (square tiles; must be a valid size), or automatically per axis
/// the smallest valid size covering the whole image, capped by `memory_budget` (largest valid
/// size whose estimated activations fit). Memory therefore stays bounded by the tile size and the
/// batch, whatever the image size; only the input and the [N, K, H, W] result scale with the image.
/// Tiles run `batch` at a time through one forward call.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/numeric.hpp"
#include "../models/unet.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::infer {

namespace detail {
/// The tensor type a network's forward takes: its tensor_type (a device tensor for a network on a
/// device backend), or the host float tensor for a stand-in that names none.
template <class Net>
struct net_input {
    using type = tensor<float>;
};
template <class Net>
    requires requires { typename Net::tensor_type; }
struct net_input<Net> {
    using type = typename Net::tensor_type;
};
template <class Net>
using net_input_t = typename net_input<Net>::type;
}  // namespace detail

/// What overlap-tile inference needs from a network: its configuration (pad, depth, channels,
/// classes, base), the size rules as static functions, and a forward pass on float tensors, host
/// or device: the tiles are gathered on the host and, for a network on a device backend, copied
/// there, and its logits copied back. Every `unet<cfg, B>` qualifies; tests use recording
/// stand-ins.
template <class Net>
concept TileableNet = requires(Net& net, const detail::net_input_t<Net>& x, int s) {
    { Net::cfg.pad } -> std::convertible_to<padding>;
    { Net::cfg.depth } -> std::convertible_to<int>;
    { Net::cfg.classes } -> std::convertible_to<int>;
    { Net::cfg.in_channels } -> std::convertible_to<int>;
    { Net::output_size(s) } -> std::convertible_to<std::optional<int>>;
    { Net::is_valid_size(s) } -> std::convertible_to<bool>;
    { Net::next_valid_size(s) } -> std::convertible_to<int>;
    { Net::previous_valid_size(s) } -> std::convertible_to<int>;
    { net.forward(x) } -> std::convertible_to<const detail::net_input_t<Net>&>;
    requires std::is_same_v<typename detail::net_input_t<Net>::value_type, float>;
};
/// The name before the naming rule (docs/DESIGN.md, Naming); it goes away in a later release.
template <class Net>
concept tileable_net = TileableNet<Net>;

/// Options of overlap-tile inference.
struct tile_options {
    /// Input tile side (square tiles). 0 = choose per axis: the smallest valid size that covers
    /// the image, capped by memory_budget.
    int tile = 0;
    /// Padded nets only: pixels discarded on each side of a tile (context), rounded up to a
    /// multiple of 2^depth. -1 = receptive_radius<Net>() (tiling is then exact, see above).
    /// Unpadded nets take their margin from the network and ignore this.
    int overlap = -1;
    /// Tiles per forward call.
    int batch = 1;
    /// Upper bound for the estimated activation memory of one forward call (automatic tile only).
    std::size_t memory_budget = std::size_t{2} << 30;
    /// Binary nets (1 class, or 2 classes where channel 1 is foreground): mask = prob >= threshold.
    float threshold = 0.5f;
};

/// Geometry of the tiles along one axis (rows or columns).
struct axis_plan {
    int extent = 0;    ///< image size along this axis
    int in_tile = 0;   ///< input tile side
    int out_tile = 0;  ///< output pixels kept per tile
    int margin = 0;    ///< image coordinate of tile input pixel 0 is origin - margin
    int crop = 0;      ///< index in the network's output of the first kept pixel
    int step = 0;      ///< distance between tile origins (a multiple of 2^depth)
    std::vector<int> origins;  ///< image coordinate of each tile's first kept pixel
};

/// Tiles along both axes; tiles = rows.origins x cols.origins.
struct tile_plan {
    axis_plan rows, cols;
    [[nodiscard]] std::size_t count() const noexcept { return rows.origins.size() * cols.origins.size(); }
};

/// Sigmoid / softmax output and the mask derived from it.
struct prediction {
    tensor<float> prob;  ///< [N, K, H, W]: sigmoid (K = 1) or softmax over channels (K > 1)
    tensor<float> mask;  ///< [N, 1, H, W]: 0/1 for K = 1 and K = 2 (threshold), class index for K > 2
};

/// How far (in input pixels) the zero padding at a tile border can reach into a padded U-Net's
/// output: two convolutions of radius (k - 1) / 2 per encoder and decoder level at scale 2^L, two
/// at the bottleneck at scale 2^depth, plus 2^depth for the pooling grid:
/// (k - 1) (3 * 2^depth - 2) + 2^depth. For kernel 3, depth 4: 108.
template <class Net>
constexpr int receptive_radius() noexcept {
    return (Net::cfg.kernel - 1) * (3 * (1 << Net::cfg.depth) - 2) + (1 << Net::cfg.depth);
}

/// Rough activation memory of one forward pass per input pixel and per sample, in bytes: every
/// level keeps about a dozen maps of base * 2^L channels at 1/4^L of the pixels, which sums to
/// at most 24 * base floats per input pixel.
template <class Net>
constexpr std::size_t activation_bytes_per_pixel() noexcept {
    // a runtime_channels count (input bands, classes) is small next to 24 * base; count it as 4
    constexpr auto known = [](int c) { return static_cast<std::size_t>(c > 0 ? c : 4); };
    return sizeof(float) * (24 * static_cast<std::size_t>(Net::cfg.base) + known(Net::cfg.in_channels) +
                            known(Net::cfg.classes));
}

namespace detail {

/// The network object's input channels and classes: its own (a network with runtime_channels
/// knows them only at run time), else its configuration's.
template <class Net>
int in_channels_of(const Net& net) {
    if constexpr (requires { { net.in_channels() } -> std::convertible_to<int>; })
        return net.in_channels();
    else
        return Net::cfg.in_channels;
}
template <class Net>
int classes_of(const Net& net) {
    if constexpr (requires { { net.classes() } -> std::convertible_to<int>; })
        return net.classes();
    else
        return Net::cfg.classes;
}

inline int round_up(int v, int a) { return (v + a - 1) / a * a; }

template <class Net>
constexpr bool unpadded() noexcept {
    return Net::cfg.pad == padding::valid;
}

template <class Net>
std::string size_hint(int s) {
    const int lo = Net::previous_valid_size(s), hi = Net::next_valid_size(s);
    std::string near;
    if (lo) near += std::to_string(lo);
    if (hi) near += (near.empty() ? "" : " or ") + std::to_string(hi);
    return near.empty() ? std::string("none") : near;
}

/// Kept output pixels of an input tile of side s (0 when the tile is invalid or keeps nothing).
template <class Net>
int kept(int s, int overlap) {
    if (!Net::is_valid_size(s)) return 0;
    if constexpr (unpadded<Net>()) {
        return *Net::output_size(s);
    } else {
        return std::max(0, s - 2 * overlap);
    }
}

/// Plans one axis for input tile side s.
template <class Net>
axis_plan plan_axis(int extent, int s, int overlap) {
    constexpr int align = 1 << Net::cfg.depth;
    axis_plan a;
    a.extent = extent;
    a.in_tile = s;
    if constexpr (unpadded<Net>()) {
        const int o = *Net::output_size(s);
        if ((s - o) % 2 != 0)
            throw std::logic_error("infer: the network shrinks a tile of " + std::to_string(s) + " to " +
                                   std::to_string(o) + " pixels, an odd difference, so the output is not centred");
        a.out_tile = o;
        a.margin = (s - o) / 2;
        a.crop = 0;
    } else {
        a.out_tile = s - 2 * overlap;
        a.margin = overlap;
        a.crop = overlap;
    }
    a.step = a.out_tile / align * align;
    if (a.step <= 0) {
        int need = s;
        while (need < (1 << 16) && kept<Net>(need, overlap) < align) ++need;
        throw std::invalid_argument("infer: a tile of " + std::to_string(s) + " keeps " + std::to_string(a.out_tile) +
                                    " output pixels per side, fewer than 2^depth = " + std::to_string(align) +
                                    ", so tiles cannot be aligned with the pooling grid; use a tile of at least " +
                                    std::to_string(Net::next_valid_size(need)));
    }
    // Origins 0, step, 2 step, ...; the last one pulled back to end < align pixels past the image.
    const int last = std::max(0, round_up(extent - a.out_tile, align));
    for (int o = 0;; o += a.step) {
        if (o >= last) {
            a.origins.push_back(last);
            break;
        }
        a.origins.push_back(o);
    }
    return a;
}

/// Input tile side for one axis chosen automatically (see the file comment).
template <class Net>
int auto_tile(int extent, int overlap, int cap) {
    constexpr int align = 1 << Net::cfg.depth;
    // Smallest valid tile that keeps at least `align` pixels (needed for aligned tiling).
    int smallest = Net::next_valid_size(1);
    while (smallest && kept<Net>(smallest, overlap) < align) smallest = Net::next_valid_size(smallest + 1);
    if (!smallest) throw std::invalid_argument("infer: the network accepts no tile size that keeps 2^depth pixels");
    // Smallest valid tile whose kept part covers the whole extent.
    int cover = std::max(smallest, Net::next_valid_size(extent + (unpadded<Net>() ? 0 : 2 * overlap)));
    while (cover && kept<Net>(cover, overlap) < extent) cover = Net::next_valid_size(cover + 1);
    const int capped = Net::previous_valid_size(cap);
    int s = cover ? cover : capped;
    if (capped && capped < s) s = capped;
    return std::max(s, smallest);
}

/// Softmax over channels (K > 1) or sigmoid (K = 1), in place, for an [N, K, H, W] tensor.
inline void activate_inplace(tensor<float>& t) {
    const shape4 s = t.shape();
    const std::size_t plane = s.plane();
    float* d = t.data();
    if (s.c == 1) {
        for (std::size_t i = 0; i < t.size(); ++i) d[i] = 1.0f / (1.0f + std::exp(-d[i]));
        return;
    }
    for (int n = 0; n < s.n; ++n) {
        float* base = d + static_cast<std::size_t>(n) * s.sample_size();
        for (std::size_t i = 0; i < plane; ++i) {
            float mx = base[i];
            for (int c = 1; c < s.c; ++c) mx = std::max(mx, base[c * plane + i]);
            float sum = 0;
            for (int c = 0; c < s.c; ++c) {
                const float e = std::exp(base[c * plane + i] - mx);
                base[c * plane + i] = e;
                sum += e;
            }
            const float inv = 1.0f / sum;
            for (int c = 0; c < s.c; ++c) base[c * plane + i] *= inv;
        }
    }
}

/// Puts the network in evaluation mode for the scope (batch-norm running statistics, no dropout)
/// and restores its mode afterwards.
template <class Net>
struct eval_scope {
    Net& net;
    bool was_training = false;
    explicit eval_scope(Net& n) : net(n) {
        if constexpr (requires { net.training(); net.train(true); }) {
            was_training = net.training();
            if (was_training) net.train(false);
        }
    }
    ~eval_scope() {
        if constexpr (requires { net.training(); net.train(true); })
            if (was_training) net.train(true);
    }
    eval_scope(const eval_scope&) = delete;
    eval_scope& operator=(const eval_scope&) = delete;
};

}  // namespace detail

/// Plans the tiles for an H x W image (throws std::invalid_argument for a bad tile option).
template <TileableNet Net>
tile_plan plan_tiles(int height, int width, const tile_options& opt = {}) {
    constexpr int align = 1 << Net::cfg.depth;
    if (height < 1 || width < 1)
        throw std::invalid_argument("infer: empty image (" + std::to_string(height) + " x " + std::to_string(width) +
                                    ")");
    if (opt.batch < 1) throw std::invalid_argument("infer: tile_options.batch must be at least 1");
    const int overlap = detail::unpadded<Net>() ? 0 : detail::round_up(opt.overlap < 0 ? receptive_radius<Net>() : opt.overlap, align);
    int th, tw;
    if (opt.tile > 0) {
        if (!Net::is_valid_size(opt.tile))
            throw std::invalid_argument("infer: tile " + std::to_string(opt.tile) +
                                        " is not a size the network can take; nearest valid sizes: " +
                                        detail::size_hint<Net>(opt.tile));
        th = tw = opt.tile;
    } else {
        const double pixels = static_cast<double>(opt.memory_budget) /
                              (static_cast<double>(opt.batch) * static_cast<double>(activation_bytes_per_pixel<Net>()));
        const int cap = static_cast<int>(std::min(65536.0, std::floor(std::sqrt(std::max(pixels, 1.0)))));
        th = detail::auto_tile<Net>(height, overlap, cap);
        tw = detail::auto_tile<Net>(width, overlap, cap);
    }
    return {detail::plan_axis<Net>(height, th, overlap), detail::plan_axis<Net>(width, tw, overlap)};
}

/// Stitched logits [N, K, H, W] of `image` [N, C, H, W] by overlap tiling (see the file comment).
/// The network is run in evaluation mode; its training mode is restored afterwards.
template <TileableNet Net>
tensor<float> predict_logits_tiled(Net& net, const tensor<float>& image, const tile_options& opt = {}) {
    const shape4 is = image.shape();
    const int in_channels = detail::in_channels_of(net);
    if (is.c != in_channels)
        throw std::invalid_argument("infer: image has " + std::to_string(is.c) + " channels, the network expects " +
                                    std::to_string(in_channels) + " (image shape " + is.str() + ")");
    if (is.n < 1) throw std::invalid_argument("infer: empty batch (image shape " + is.str() + ")");
    const tile_plan plan = plan_tiles<Net>(is.h, is.w, opt);
    const axis_plan& R = plan.rows;
    const axis_plan& C = plan.cols;
    const int K = detail::classes_of(net);
    detail::eval_scope<Net> scope(net);
    inference_mode no_intermediates;  // fused Conv-BN-ReLU; the passes keep nothing for backward

    struct tile_pos {
        int n, y0, x0;
    };
    std::vector<tile_pos> tiles;
    tiles.reserve(static_cast<std::size_t>(is.n) * plan.count());
    for (int n = 0; n < is.n; ++n)
        for (int y0 : R.origins)
            for (int x0 : C.origins) tiles.push_back({n, y0, x0});

    tensor<float> out(shape4{is.n, K, is.h, is.w});
    tensor<float> batch, logits_copy;
    using net_tensor = detail::net_input_t<Net>;
    net_tensor batch_copy;  // a device network's copy of the tiles (unused on the host)
    std::vector<int> col_src(static_cast<std::size_t>(C.in_tile));
    const std::size_t in_plane = is.plane();
    const std::size_t tile_plane = static_cast<std::size_t>(R.in_tile) * C.in_tile;
    using numeric::reflect_index;

    for (std::size_t first = 0; first < tiles.size(); first += static_cast<std::size_t>(opt.batch)) {
        const int count = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(opt.batch), tiles.size() - first));
        batch.resize(shape4{count, is.c, R.in_tile, C.in_tile});
        // Gather the tiles' input windows from the mirrored image.
        for (int b = 0; b < count; ++b) {
            const tile_pos& t = tiles[first + static_cast<std::size_t>(b)];
            for (int x = 0; x < C.in_tile; ++x) col_src[static_cast<std::size_t>(x)] = reflect_index(t.x0 - C.margin + x, is.w);
            for (int c = 0; c < is.c; ++c) {
                const float* src = image.data() + (static_cast<std::size_t>(t.n) * is.c + c) * in_plane;
                float* dst = batch.data() + (static_cast<std::size_t>(b) * is.c + c) * tile_plane;
                for (int y = 0; y < R.in_tile; ++y) {
                    const float* srow = src + static_cast<std::size_t>(reflect_index(t.y0 - R.margin + y, is.h)) * is.w;
                    float* drow = dst + static_cast<std::size_t>(y) * C.in_tile;
                    for (int x = 0; x < C.in_tile; ++x) drow[x] = srow[col_src[static_cast<std::size_t>(x)]];
                }
            }
        }
        const tensor<float>& y = in_space(net.forward(in_space(batch, batch_copy)), logits_copy);
        const shape4 ys = y.shape();
        if (ys.n != count || ys.c != K || ys.h < R.crop + R.out_tile || ys.w < C.crop + C.out_tile)
            throw std::logic_error("infer: the network returned " + ys.str() + " for tiles " + batch.shape().str());
        // Scatter the kept central parts into the image.
        for (int b = 0; b < count; ++b) {
            const tile_pos& t = tiles[first + static_cast<std::size_t>(b)];
            const int rows = std::min(R.out_tile, is.h - t.y0), cols = std::min(C.out_tile, is.w - t.x0);
            for (int c = 0; c < K; ++c) {
                const float* src = y.data() + (static_cast<std::size_t>(b) * K + c) * ys.plane();
                float* dst = out.data() + (static_cast<std::size_t>(t.n) * K + c) * in_plane;
                for (int r = 0; r < rows; ++r) {
                    const float* srow = src + static_cast<std::size_t>(R.crop + r) * ys.w + C.crop;
                    std::copy_n(srow, cols, dst + static_cast<std::size_t>(t.y0 + r) * is.w + t.x0);
                }
            }
        }
    }
    return out;
}

/// Probabilities from logits: sigmoid for one channel, softmax over channels otherwise.
inline tensor<float> activate(tensor<float> logits) {
    detail::activate_inplace(logits);
    return logits;
}

/// Mask [N, 1, H, W] from probabilities [N, K, H, W]: K = 1: prob >= threshold; K = 2:
/// prob[1] >= threshold (1 = foreground); K > 2: index of the most probable class.
inline tensor<float> make_mask(const tensor<float>& prob, float threshold = 0.5f) {
    const shape4 s = prob.shape();
    tensor<float> m(shape4{s.n, 1, s.h, s.w});
    const std::size_t plane = s.plane();
    for (int n = 0; n < s.n; ++n) {
        const float* p = prob.data() + static_cast<std::size_t>(n) * s.sample_size();
        float* d = m.data() + static_cast<std::size_t>(n) * plane;
        for (std::size_t i = 0; i < plane; ++i) {
            if (s.c <= 2) {
                d[i] = p[(s.c - 1) * plane + i] >= threshold ? 1.0f : 0.0f;
            } else {
                int best = 0;
                for (int c = 1; c < s.c; ++c)
                    if (p[c * plane + i] > p[best * plane + i]) best = c;
                d[i] = static_cast<float>(best);
            }
        }
    }
    return m;
}

/// Probabilities [N, K, H, W] of `image` [N, C, H, W] by overlap tiling.
template <TileableNet Net>
tensor<float> predict_proba_tiled(Net& net, const tensor<float>& image, const tile_options& opt = {}) {
    return activate(predict_logits_tiled(net, image, opt));
}

/// Probabilities and mask of `image` [N, C, H, W] (any H, W >= 1) by overlap tiling.
template <TileableNet Net>
prediction predict_tiled(Net& net, const tensor<float>& image, const tile_options& opt = {}) {
    prediction p;
    p.prob = predict_proba_tiled(net, image, opt);
    p.mask = make_mask(p.prob, opt.threshold);
    return p;
}

/// Mirrors `image` [N, C, H, W] by `top`/`left`/`bottom`/`right` pixels with the reflect rule the
/// tiler uses (for building the "whole mirrored image" reference in tests and tools).
inline tensor<float> mirror_pad(const tensor<float>& image, int top, int left, int bottom, int right) {
    const shape4 s = image.shape();
    const int h = s.h + top + bottom, w = s.w + left + right;
    tensor<float> out(shape4{s.n, s.c, h, w});
    using numeric::reflect_index;
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    out(n, c, y, x) = image(n, c, reflect_index(y - top, s.h), reflect_index(x - left, s.w));
    return out;
}

}  // namespace unetpp::infer
