#pragma once
/// \file Segmentation scores per image and over a data set.
///
/// Aggregation (both reported by segmentation_evaluator):
///   micro  the counts of all images are added first, then the ratios are taken once ("data set
///          level"; large lesions weigh more, empty images add only TN / FP);
///   macro  the ratios are taken per image (over its C x H x W pixels), then averaged over images
///          ("per image", as the BUSI papers report Dice; an empty image predicted empty scores
///          1, an empty image with any false positive scores 0 for Dice / IoU).
/// Zero-denominator conventions and binarisation: metrics/confusion.hpp.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "confusion.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

/// All ratios of one binary_confusion (or the mean of several).
struct segmentation_scores {
    double iou = 0, dice = 0, accuracy = 0, precision = 0, recall = 0, specificity = 0, f1 = 0;

    [[nodiscard]] static segmentation_scores of(const binary_confusion& c) noexcept {
        return {c.iou(), c.dice(), c.accuracy(), c.precision(), c.recall(), c.specificity(), c.f1()};
    }
};

/// Counts of every image of an [N, C, H, W] batch, each over its C x H x W pixels.
template <class T>
[[nodiscard]] std::vector<binary_confusion> count_per_image(const tensor<T>& prediction, const tensor<T>& target,
                                                            prediction_kind kind = prediction_kind::probabilities,
                                                            double threshold = 0.5) {
    if (prediction.shape() != target.shape())
        throw std::invalid_argument("count_per_image: prediction " + prediction.shape().str() + " and target " +
                                    target.shape().str() + " differ in shape");
    const std::size_t per = prediction.shape().sample_size();
    std::vector<binary_confusion> out;
    out.reserve(static_cast<std::size_t>(prediction.shape().n));
    for (int i = 0; i < prediction.shape().n; ++i)
        out.push_back(count_pixels(prediction.data() + i * per, target.data() + i * per, per, kind, threshold));
    return out;
}

/// count_per_image counting only the pixels inside a region mask of the same shape (roi > 0.5;
/// see count_pixels).
template <class T>
[[nodiscard]] std::vector<binary_confusion> count_per_image(const tensor<T>& prediction, const tensor<T>& target,
                                                            const tensor<T>& roi, prediction_kind kind,
                                                            double threshold = 0.5) {
    if (prediction.shape() != target.shape() || roi.shape() != target.shape())
        throw std::invalid_argument("count_per_image: prediction " + prediction.shape().str() + ", target " +
                                    target.shape().str() + " and region mask " + roi.shape().str() +
                                    " must have one shape");
    const std::size_t per = prediction.shape().sample_size();
    std::vector<binary_confusion> out;
    out.reserve(static_cast<std::size_t>(prediction.shape().n));
    for (int i = 0; i < prediction.shape().n; ++i)
        out.push_back(count_pixels(prediction.data() + i * per, target.data() + i * per, per, kind, threshold,
                                   roi.data() + i * per));
    return out;
}

/// Accumulates per-image counts over batches; reports micro and macro scores.
class segmentation_evaluator {
public:
    explicit segmentation_evaluator(prediction_kind kind = prediction_kind::probabilities, double threshold = 0.5)
        : kind_(kind), threshold_(threshold) {}

    /// Adds every image of a batch.
    template <class T>
    void add(const tensor<T>& prediction, const tensor<T>& target) {
        for (const auto& c : count_per_image(prediction, target, kind_, threshold_)) add(c);
    }
    /// Adds one image's counts.
    void add(const binary_confusion& c) {
        images_.push_back(c);
        total_ += c;
    }

    [[nodiscard]] std::size_t images() const noexcept { return images_.size(); }
    [[nodiscard]] const std::vector<binary_confusion>& per_image() const noexcept { return images_; }
    /// Sum of all counts.
    [[nodiscard]] const binary_confusion& counts() const noexcept { return total_; }

    /// Ratios of the summed counts.
    [[nodiscard]] segmentation_scores micro() const {
        require_images("micro");
        return segmentation_scores::of(total_);
    }
    /// Mean over images of each image's ratios.
    [[nodiscard]] segmentation_scores macro() const {
        require_images("macro");
        segmentation_scores m;
        for (const auto& c : images_) {
            const auto s = segmentation_scores::of(c);
            m.iou += s.iou, m.dice += s.dice, m.accuracy += s.accuracy, m.precision += s.precision;
            m.recall += s.recall, m.specificity += s.specificity, m.f1 += s.f1;
        }
        const double k = static_cast<double>(images_.size());
        m.iou /= k, m.dice /= k, m.accuracy /= k, m.precision /= k, m.recall /= k, m.specificity /= k, m.f1 /= k;
        return m;
    }
    void reset() {
        images_.clear();
        total_ = {};
    }

private:
    void require_images(const char* what) const {
        if (images_.empty())
            throw std::logic_error(std::string("segmentation_evaluator::") + what + ": no images added yet");
    }
    prediction_kind kind_;
    double threshold_;
    std::vector<binary_confusion> images_;
    binary_confusion total_;
};

}  // namespace unetpp::metrics
