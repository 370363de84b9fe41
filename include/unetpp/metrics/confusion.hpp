#pragma once
/// \file Binary confusion counts (TP, FP, FN, TN) of a prediction against a target, and the
/// ratios built from them (seed 002, section "Performance Evaluation Metrics"; seed 000):
///   IoU         = TP / (TP + FP + FN)                 (Jaccard; seed 000's "accuracy = IoU")
///   Dice        = 2 TP / (2 TP + FP + FN)             (= F1)
///   accuracy    = (TP + TN) / (TP + TN + FP + FN)
///   precision   = TP / (TP + FP)
///   recall      = TP / (TP + FN)                      (sensitivity, true positive rate)
///   specificity = TN / (TN + FP)
///   F1          = 2 P R / (P + R) = 2 TP / (2 TP + FP + FN)
///
/// Zero denominators (empty masks). Every ratio above is the agreement on one set of pixels; when
/// that set is empty on both sides there is nothing to get wrong and the ratio is 1, when only
/// the prediction side is non-empty (or only the target side) it is 0:
///   IoU, Dice, F1   TP + FP + FN = 0 (prediction and target both empty)         -> 1
///   precision       TP + FP = 0 (nothing predicted): 1 if FN = 0 (target empty too), else 0
///   recall          TP + FN = 0 (empty target):      1 if FP = 0 (nothing predicted), else 0
///   specificity     TN + FP = 0 (target all foreground): 1 if FN = 0, else 0
///   accuracy        no pixels at all                                              -> 1
/// This keeps F1 = Dice and 2 P R / (P + R) = F1 in every case, and matches metrics/dice.hpp.
/// No smoothing term is added: these are metrics, not the smoothed losses.
///
/// Binarisation: a prediction pixel is positive when
///   probabilities  p > threshold          (threshold 0.5 by default)
///   logits         sigmoid(x) > threshold (the same rule applied to the logit)
///   mask           m > 0.5
/// and a target pixel is positive when t > 0.5.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/numeric.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

/// What a prediction tensor holds.
enum class prediction_kind { probabilities, logits, mask };

struct binary_confusion {
    std::uint64_t tp = 0, fp = 0, fn = 0, tn = 0;

    [[nodiscard]] std::uint64_t total() const noexcept { return tp + fp + fn + tn; }
    [[nodiscard]] std::uint64_t predicted_positive() const noexcept { return tp + fp; }
    [[nodiscard]] std::uint64_t actual_positive() const noexcept { return tp + fn; }

    binary_confusion& operator+=(const binary_confusion& o) noexcept {
        tp += o.tp, fp += o.fp, fn += o.fn, tn += o.tn;
        return *this;
    }
    friend binary_confusion operator+(binary_confusion a, const binary_confusion& b) noexcept { return a += b; }
    friend bool operator==(const binary_confusion&, const binary_confusion&) = default;

    [[nodiscard]] double iou() const noexcept { return ratio(tp, tp + fp + fn, 1.0); }
    [[nodiscard]] double dice() const noexcept { return ratio(2 * tp, 2 * tp + fp + fn, 1.0); }
    [[nodiscard]] double f1() const noexcept { return dice(); }
    [[nodiscard]] double accuracy() const noexcept { return ratio(tp + tn, total(), 1.0); }
    [[nodiscard]] double precision() const noexcept { return ratio(tp, tp + fp, fn == 0 ? 1.0 : 0.0); }
    [[nodiscard]] double recall() const noexcept { return ratio(tp, tp + fn, fp == 0 ? 1.0 : 0.0); }
    [[nodiscard]] double sensitivity() const noexcept { return recall(); }
    [[nodiscard]] double specificity() const noexcept { return ratio(tn, tn + fp, fn == 0 ? 1.0 : 0.0); }

    [[nodiscard]] std::string str() const {
        return "TP " + std::to_string(tp) + ", FP " + std::to_string(fp) + ", FN " + std::to_string(fn) + ", TN " +
               std::to_string(tn);
    }

private:
    static double ratio(std::uint64_t num, std::uint64_t den, double if_empty) noexcept {
        return den == 0 ? if_empty : static_cast<double>(num) / static_cast<double>(den);
    }
};

/// Whether prediction value v counts as positive (see the file comment).
template <class T>
[[nodiscard]] inline bool predicted_positive(T v, prediction_kind kind, double threshold) noexcept {
    switch (kind) {
        case prediction_kind::logits:
            return numeric::stable_sigmoid(static_cast<double>(v)) > threshold;
        case prediction_kind::mask:
            return static_cast<double>(v) > 0.5;
        default:
            return static_cast<double>(v) > threshold;
    }
}

/// Counts n prediction values against n target values. With a region mask `roi` (n values),
/// only pixels whose roi value is > 0.5 are counted (an ignore mask: the others add nothing to
/// any count); nullptr counts every pixel.
template <class T>
[[nodiscard]] binary_confusion count_pixels(const T* prediction, const T* target, std::size_t n,
                                            prediction_kind kind = prediction_kind::probabilities,
                                            double threshold = 0.5, const T* roi = nullptr) {
    if (n && (!prediction || !target)) throw std::invalid_argument("count_pixels: null pointer with a non-zero size");
    if (!(threshold >= 0.0 && threshold <= 1.0))
        throw std::invalid_argument("count_pixels: threshold " + std::to_string(threshold) + " is outside [0, 1]");
    binary_confusion c;
    for (std::size_t i = 0; i < n; ++i) {
        if (roi && !(static_cast<double>(roi[i]) > 0.5)) continue;
        if (std::isnan(prediction[i]))
            throw std::invalid_argument("count_pixels: prediction value " + std::to_string(i) + " is NaN");
        const bool p = predicted_positive(prediction[i], kind, threshold);
        const bool t = static_cast<double>(target[i]) > 0.5;
        c.tp += p && t;
        c.fp += p && !t;
        c.fn += !p && t;
        c.tn += !p && !t;
    }
    return c;
}

/// Counts a whole tensor (all images pooled).
template <class T>
[[nodiscard]] binary_confusion count_pixels(const tensor<T>& prediction, const tensor<T>& target,
                                            prediction_kind kind = prediction_kind::probabilities,
                                            double threshold = 0.5) {
    if (prediction.shape() != target.shape())
        throw std::invalid_argument("count_pixels: prediction " + prediction.shape().str() + " and target " +
                                    target.shape().str() + " differ in shape");
    return count_pixels(prediction.data(), target.data(), prediction.size(), kind, threshold);
}

}  // namespace unetpp::metrics
