// Prediction of unetpp-predict and unetpp-evaluate at the trained scale, and the checks of the
// weights after loading and of a probability map before it is written.
//
// A network trained by unetpp-train saw every image resized to size x size (bilinear). An image
// of another size is resized the same way, predicted there (overlap tiling, so unpadded networks
// cover the whole image too), and the probability map is resized back to the image's own size
// (bilinear) before it is thresholded: masks and metrics are at the data's own resolution.
#pragma once

#include <cmath>
#include <string>
#include <string_view>

#include <unetpp/data/transforms.hpp>
#include <unetpp/infer.hpp>

#include "cli_args.hpp"

namespace cli {

/// Throws usage_error when a parameter or buffer of `net` holds NaN or an infinity (a damaged
/// file whose checksum was not there or was rewritten; a run that diverged).
template <class Net>
void check_finite_weights(Net& net, const std::string& file) {
    std::string bad;
    const auto scan = [&](std::string_view name, const auto& v) {
        if (!bad.empty()) return;
        for (const float x : v)
            if (!std::isfinite(x)) {
                bad = std::string(name);
                return;
            }
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

/// What was done to one image, for the user: "resized 512x512 -> 256x256 as in training, mask
/// mapped back to 512x512".
inline std::string scale_note(int w, int h, int size) {
    const std::string own = std::to_string(w) + "x" + std::to_string(h);
    if (size <= 0) return "predicted at the native " + own + " by tiling; no training scale is known";
    const std::string trained = std::to_string(size) + "x" + std::to_string(size);
    if (w == size && h == size) return own + ", the trained size";
    return "resized " + own + " -> " + trained + " as in training, mask mapped back to " + own;
}

/// Foreground probabilities [1, K, H, W] of `image` [1, C, H, W] at the image's own size:
/// predicted at size x size (bilinear both ways) when size > 0, at the native size otherwise.
template <class Net>
tensor<float> predict_at_scale(Net& net, const tensor<float>& image, int size, const infer::tile_options& tiles,
                               bool tta) {
    const int h = image.shape().h, w = image.shape().w;
    const bool resize = size > 0 && (h != size || w != size);
    const tensor<float> x = resize ? data::resize_bilinear(image, size, size) : image;
    tensor<float> p = tta ? infer::predict_tta(net, x, infer::all_dihedral(), tiles).prob
                          : infer::predict_proba_tiled(net, x, tiles);
    if (resize) p = data::resize_bilinear(p, h, w);
    return p;
}

}  // namespace cli
