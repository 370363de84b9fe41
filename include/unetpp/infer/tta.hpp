#pragma once
/// \file Test-time augmentation: the prediction averaged over flips and 90-degree rotations.
///
///   auto p = unetpp::infer::predict_tta(net, x, unetpp::infer::all_dihedral());      // 8 passes
///   auto q = unetpp::infer::predict_tta(net, x, {dihedral::identity, dihedral::flip_h});
///
/// A transform d of the dihedral group of the square is applied to the image, the network
/// predicts probabilities for the transformed image, the exact inverse of d maps them back onto
/// the original pixel grid, and the results are averaged (probabilities, not logits, so that a
/// confident pass cannot outvote the others without bound). Rotations by 90 degrees swap height
/// and width; the overlap tiler handles any rectangle, so no image size restriction arises.
///
/// Every transform is "transpose (optional), then flip rows (optional), then flip columns
/// (optional)"; its inverse undoes the flips and then the transpose. Both are pure index
/// permutations, so the round trip is exact.

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "tiling.hpp"

namespace unetpp::inline UNETPP_ABI::infer {

/// The eight symmetries of the square (as image transforms).
enum class dihedral : std::uint8_t {
    identity = 0,        ///< unchanged
    flip_h = 1,          ///< mirror left-right (columns reversed)
    flip_v = 2,          ///< mirror top-bottom (rows reversed)
    rot180 = 3,          ///< both flips
    transpose = 4,       ///< swap rows and columns (mirror about the main diagonal)
    rot90 = 6,           ///< counter-clockwise quarter turn = transpose, then rows reversed
    rot270 = 5,          ///< clockwise quarter turn = transpose, then columns reversed
    anti_transpose = 7,  ///< mirror about the anti-diagonal = transpose, then both flips
};

/// Bits of a dihedral value: 1 = reverse columns, 2 = reverse rows, 4 = transpose first.
constexpr bool flips_columns(dihedral d) noexcept { return (static_cast<int>(d) & 1) != 0; }
constexpr bool flips_rows(dihedral d) noexcept { return (static_cast<int>(d) & 2) != 0; }
constexpr bool transposes(dihedral d) noexcept { return (static_cast<int>(d) & 4) != 0; }

inline const char* name(dihedral d) noexcept {
    switch (d) {
        case dihedral::identity: return "identity";
        case dihedral::flip_h: return "flip_h";
        case dihedral::flip_v: return "flip_v";
        case dihedral::rot180: return "rot180";
        case dihedral::transpose: return "transpose";
        case dihedral::rot90: return "rot90";
        case dihedral::rot270: return "rot270";
        case dihedral::anti_transpose: return "anti_transpose";
    }
    return "?";
}

/// All eight transforms (identity first).
inline std::vector<dihedral> all_dihedral() {
    return {dihedral::identity, dihedral::flip_h,    dihedral::flip_v, dihedral::rot180,
            dihedral::transpose, dihedral::rot90, dihedral::rot270, dihedral::anti_transpose};
}
/// Identity and the two flips and their product: the transforms that keep height and width.
inline std::vector<dihedral> flip_set() {
    return {dihedral::identity, dihedral::flip_h, dihedral::flip_v, dihedral::rot180};
}

namespace detail {
/// Calls f(dst_index, src_index) for every pixel of the transformed plane: transformed(y, x) =
/// original(sy, sx). `h`, `w` are the ORIGINAL plane's sizes.
template <class F>
void for_each_dihedral_pixel(dihedral d, int h, int w, F&& f) {
    const bool t = transposes(d), fr = flips_rows(d), fc = flips_columns(d);
    const int th = t ? w : h, tw = t ? h : w;
    for (int y = 0; y < th; ++y) {
        const int y1 = fr ? th - 1 - y : y;
        for (int x = 0; x < tw; ++x) {
            const int x1 = fc ? tw - 1 - x : x;
            const int sy = t ? x1 : y1, sx = t ? y1 : x1;
            f(static_cast<std::size_t>(y) * tw + x, static_cast<std::size_t>(sy) * w + sx);
        }
    }
}
}  // namespace detail

/// The transformed image: shape [N, C, W, H] when d transposes, [N, C, H, W] otherwise.
inline tensor<float> apply(dihedral d, const tensor<float>& x) {
    const shape4 s = x.shape();
    const bool t = transposes(d);
    tensor<float> out(shape4{s.n, s.c, t ? s.w : s.h, t ? s.h : s.w});
    const std::size_t plane = s.plane();
    for (std::size_t p = 0; p < static_cast<std::size_t>(s.n) * s.c; ++p) {
        const float* src = x.data() + p * plane;
        float* dst = out.data() + p * plane;
        detail::for_each_dihedral_pixel(d, s.h, s.w, [&](std::size_t di, std::size_t si) { dst[di] = src[si]; });
    }
    return out;
}

/// The exact inverse of apply(d, .): maps a tensor on the transformed grid back to the original.
inline tensor<float> invert(dihedral d, const tensor<float>& y) {
    const shape4 s = y.shape();
    const bool t = transposes(d);
    const int h = t ? s.w : s.h, w = t ? s.h : s.w;  // original sizes
    tensor<float> out(shape4{s.n, s.c, h, w});
    const std::size_t plane = s.plane();
    for (std::size_t p = 0; p < static_cast<std::size_t>(s.n) * s.c; ++p) {
        const float* src = y.data() + p * plane;
        float* dst = out.data() + p * plane;
        detail::for_each_dihedral_pixel(d, h, w, [&](std::size_t ti, std::size_t oi) { dst[oi] = src[ti]; });
    }
    return out;
}

/// Average over `transforms` of invert(d, f(apply(d, image))). `f` maps [N, C, H, W] to
/// probabilities [N, K, H, W] on the same grid (any callable; a network wrapped by
/// predict_proba_tiled, an ensemble, a test stand-in).
template <class F>
    requires std::invocable<F&, const tensor<float>&>
tensor<float> predict_tta(F&& f, const tensor<float>& image, std::span<const dihedral> transforms) {
    if (transforms.empty()) throw std::invalid_argument("infer::predict_tta: no transforms given");
    tensor<float> sum;
    for (const dihedral d : transforms) {
        const tensor<float> p = [&] {
            if (d == dihedral::identity) return tensor<float>(f(image));
            return invert(d, tensor<float>(f(apply(d, image))));
        }();
        if (sum.empty()) {
            if (p.shape().n != image.shape().n || p.shape().h != image.shape().h || p.shape().w != image.shape().w)
                throw std::invalid_argument("infer::predict_tta: the predictor returned " + p.shape().str() +
                                            " for an image of shape " + image.shape().str() +
                                            " (it must keep batch, height and width)");
            sum = p;
        } else {
            if (p.shape() != sum.shape())
                throw std::invalid_argument(std::string("infer::predict_tta: the prediction for ") + name(d) +
                                            " has shape " + p.shape().str() + ", the first had " + sum.shape().str());
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += p[i];
        }
    }
    const float inv = 1.0f / static_cast<float>(transforms.size());
    for (float& v : sum) v *= inv;
    return sum;
}
template <class F>
    requires std::invocable<F&, const tensor<float>&>
tensor<float> predict_tta(F&& f, const tensor<float>& image, std::initializer_list<dihedral> transforms) {
    return predict_tta(std::forward<F>(f), image, std::span<const dihedral>(transforms.begin(), transforms.size()));
}

/// TTA around overlap-tile prediction of a network: averaged probabilities and their mask.
template <TileableNet Net>
prediction predict_tta(Net& net, const tensor<float>& image, std::span<const dihedral> transforms,
                       const tile_options& opt = {}) {
    prediction p;
    p.prob = predict_tta([&](const tensor<float>& x) { return predict_proba_tiled(net, x, opt); }, image, transforms);
    p.mask = make_mask(p.prob, opt.threshold);
    return p;
}
template <TileableNet Net>
prediction predict_tta(Net& net, const tensor<float>& image, const std::vector<dihedral>& transforms,
                       const tile_options& opt = {}) {
    return predict_tta(net, image, std::span<const dihedral>(transforms), opt);
}

}  // namespace unetpp::infer
