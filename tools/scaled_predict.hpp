// Prediction of unetpp-predict and unetpp-evaluate at the trained scale, and the checks of the
// weights after loading and of a probability map before it is written.
//
// A network trained by unetpp-train with --size N saw every image resized to N x N (bilinear). An
// image of another size is resized the same way, predicted there (overlap tiling, so unpadded
// networks cover the whole image too), and the probability map is resized back to the image's own
// size (bilinear) before it is thresholded. At full size (a run that kept its images at their own
// size, or --full-size) the image is predicted whole by overlap tiling at its own pixels (or
// scaled by --scale). Either way masks and metrics are at the data's own resolution.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <unetpp/data/transforms.hpp>
#include <unetpp/infer.hpp>

#include "cli_args.hpp"

namespace cli {

using namespace unetpp;

/// Throws usage_error when a parameter or buffer of `net` holds NaN or an infinity (a damaged
/// file whose checksum was not there or was rewritten; a run that diverged).
template <class Net>
void check_finite_weights(Net& net, const std::string& file) {
    std::string bad;
    const auto scan_host = [&](std::string_view name, const auto& v) {
        if (!bad.empty()) return;
        for (const float x : v)
            if (!std::isfinite(x)) {
                bad = std::string(name);
                return;
            }
    };
    const auto scan = [&](std::string_view name, const auto& v) {  // a device network's tensors: on a copy
        if constexpr (std::remove_cvref_t<decltype(v)>::memory_space::host_accessible)
            scan_host(name, v);
        else
            scan_host(name, to_host(v));
    };
    net.visit_parameters([&](std::string_view name, auto& v, auto&) { scan(name, v); });
    net.visit_buffers([&](std::string_view name, auto& v) { scan(name, v); });
    if (!bad.empty())
        throw usage_error("'" + file + "': weights hold NaN/Inf in " + bad +
                          "; the file is damaged \u2014 use another checkpoint");
}

/// Throws usage_error when a probability map holds a value outside [0, 1] or NaN (nothing is
/// written from it).
inline void check_probabilities(const tensor<float>& prob, const std::string& what) {
    for (const float p : prob)
        if (!(p >= 0.0f && p <= 1.0f))
            throw usage_error(what + ": the probability map holds " +
                              (std::isnan(p) ? std::string("NaN") : format_real(p)) +
                              "; nothing was written for it (the weights or the input are damaged)");
}

/// --scale: the factor of --full-size prediction (each side multiplied by it, then tiled).
inline constexpr real_range scale_factor{0.0625, 16.0};

/// How an image is brought to the network's scale.
///   square > 0   resized to square x square (the preprocessing of a run trained with --size),
///                predicted there, the probabilities resized back: the trained scale
///   square == 0  full size: both sides multiplied by `factor` (1: the image's own pixels; no
///                resampling at all), predicted whole by overlap tiling, the probabilities resized
///                back when factor != 1
/// Tiling is exact (include/unetpp/infer/tiling.hpp): the tile size changes memory and time,
/// never the result. A square run is predicted in one zero-padded pass per image, as it was
/// trained (no mirrored context, unless --overlap is given); full size mirrors the image by the
/// overlap, so that tiles see their neighbours.
struct scale_rule {
    int square = 0;
    double factor = 1.0;
    std::string why;  ///< full size: why ("--full-size", "no training scale is known", ...)
    [[nodiscard]] bool full_size() const noexcept { return square <= 0; }
};

/// The side of an image after --scale f (at least 1 pixel).
inline int scaled_side(int side, double f) {
    return std::max(1, static_cast<int>(std::lround(static_cast<double>(side) * f)));
}

/// What was done to one image, for the user: "resized 512x512 -> 256x256 as in training, mask
/// mapped back to 512x512", "predicted at the native 768x512 by tiling; --full-size".
inline std::string scale_note(int w, int h, const scale_rule& r) {
    const std::string own = std::to_string(w) + "x" + std::to_string(h);
    if (r.full_size()) {
        const std::string why = r.why.empty() ? std::string() : "; " + r.why;
        if (r.factor == 1.0) return "predicted at the native " + own + " by tiling" + why;
        const std::string to = std::to_string(scaled_side(w, r.factor)) + "x" + std::to_string(scaled_side(h, r.factor));
        return "scaled " + own + " by " + format_real(r.factor) + " -> " + to + ", predicted by tiling, mask mapped back to " +
               own + why;
    }
    const std::string trained = std::to_string(r.square) + "x" + std::to_string(r.square);
    if (w == r.square && h == r.square) return own + ", the trained size";
    return "resized " + own + " -> " + trained + " as in training, mask mapped back to " + own;
}

/// Foreground probabilities [1, K, H, W] of `image` [1, C, H, W] at the image's own size, by the
/// rule above, averaged over the test-time transforms `tta` (empty: the image alone).
template <class Net>
tensor<float> predict_at_scale(Net& net, const tensor<float>& image, const scale_rule& rule,
                               const infer::tile_options& tiles, const std::vector<infer::dihedral>& tta) {
    const int h = image.shape().h, w = image.shape().w;
    const int th = rule.full_size() ? scaled_side(h, rule.factor) : rule.square;
    const int tw = rule.full_size() ? scaled_side(w, rule.factor) : rule.square;
    const bool resize = th != h || tw != w;
    const tensor<float> x = resize ? data::resize_bilinear(image, th, tw) : image;
    // A run trained on whole images resized to N x N saw each image once, zero-padded at its
    // border: predict it the same way, in one pass with no mirrored context (overlap 0), unless
    // the user asked for an overlap. Mirrored context is right for tiles inside a large image,
    // not for the border of an image the network was trained to see whole: on BUSI it put
    // large false detections along the borders (Dice 0.36 instead of the run's 0.72).
    infer::tile_options t = tiles;
    if (!rule.full_size() && t.overlap < 0) t.overlap = 0;
    tensor<float> p = !tta.empty() ? infer::predict_tta(net, x, tta, t).prob : infer::predict_proba_tiled(net, x, t);
    if (resize) p = data::resize_bilinear(p, h, w);
    return p;
}

/// The same with all 8 flips and rotations (`tta`) or none.
template <class Net>
tensor<float> predict_at_scale(Net& net, const tensor<float>& image, const scale_rule& rule,
                               const infer::tile_options& tiles, bool tta) {
    return predict_at_scale(net, image, rule, tiles, tta ? infer::all_dihedral() : std::vector<infer::dihedral>{});
}

}  // namespace cli
