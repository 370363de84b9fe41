#pragma once
/// \file Dice and IoU of binarised predictions (a minimal metric set; the full metrics module
/// with confusion matrices and aggregation comes later).
///
/// Predictions are binarised as p > threshold, targets as t > 0.5. With P and T the sets of
/// positive pixels:
///   Dice = 2 |P n T| / (|P| + |T|)          (Sorensen-Dice, seeds 000 and 002; equals F1)
///   IoU  = |P n T| / |P u T|                (Jaccard)
/// Convention for images with no lesion: both empty gives 1 (a perfect answer), one empty and
/// the other not gives 0. No smoothing term is added: these are metrics, not the smoothed Dice
/// loss.
///
/// The batch versions score every image of an [N, C, H, W] tensor on its own (over C * H * W)
/// and return the mean over images (per-image aggregation, as BUSI papers report it).

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

/// Pixel counts of a binarised prediction against a binary target.
struct overlap {
    std::uint64_t intersection = 0;  ///< |P n T|
    std::uint64_t predicted = 0;     ///< |P|
    std::uint64_t target = 0;        ///< |T|

    [[nodiscard]] double dice() const noexcept {
        const std::uint64_t den = predicted + target;
        return den == 0 ? 1.0 : 2.0 * static_cast<double>(intersection) / static_cast<double>(den);
    }
    [[nodiscard]] double iou() const noexcept {
        const std::uint64_t uni = predicted + target - intersection;
        return uni == 0 ? 1.0 : static_cast<double>(intersection) / static_cast<double>(uni);
    }
};

/// Counts the overlap of `n` predictions (probabilities or a mask) with `n` target values.
inline overlap count_overlap(const float* prediction, const float* target, std::size_t n, float threshold = 0.5f) {
    if (n && (!prediction || !target)) throw std::invalid_argument("metrics: null pointer with a non-zero size");
    overlap o;
    for (std::size_t i = 0; i < n; ++i) {
        const bool p = prediction[i] > threshold;
        const bool t = target[i] > 0.5f;
        o.predicted += p;
        o.target += t;
        o.intersection += p && t;
    }
    return o;
}

/// Dice of one image (see the file comment; both empty = 1).
inline double dice(const float* prediction, const float* target, std::size_t n, float threshold = 0.5f) {
    return count_overlap(prediction, target, n, threshold).dice();
}
/// IoU (Jaccard) of one image (both empty = 1).
inline double iou(const float* prediction, const float* target, std::size_t n, float threshold = 0.5f) {
    return count_overlap(prediction, target, n, threshold).iou();
}

namespace detail {
template <class F>
double mean_over_images(const tensor<float>& prediction, const tensor<float>& target, float threshold, F score,
                        const char* name) {
    if (prediction.shape() != target.shape())
        throw std::invalid_argument(std::string(name) + ": prediction " + prediction.shape().str() + " and target " +
                                    target.shape().str() + " differ in shape");
    const int n = prediction.shape().n;
    if (n < 1) throw std::invalid_argument(std::string(name) + ": empty batch");
    const std::size_t per = prediction.shape().sample_size();
    double sum = 0;
    for (int i = 0; i < n; ++i)
        sum += score(count_overlap(prediction.data() + i * per, target.data() + i * per, per, threshold));
    return sum / n;
}
}  // namespace detail

/// Mean per-image Dice over a batch [N, C, H, W].
inline double mean_dice(const tensor<float>& prediction, const tensor<float>& target, float threshold = 0.5f) {
    return detail::mean_over_images(prediction, target, threshold, [](const overlap& o) { return o.dice(); },
                                    "mean_dice");
}
/// Mean per-image IoU over a batch [N, C, H, W].
inline double mean_iou(const tensor<float>& prediction, const tensor<float>& target, float threshold = 0.5f) {
    return detail::mean_over_images(prediction, target, threshold, [](const overlap& o) { return o.iou(); },
                                    "mean_iou");
}

}  // namespace unetpp::metrics
