#pragma once
/// \file Multi-class segmentation scores: logits [N, C, H, W] with C >= 2 classes (a softmax over
/// channels) against class-index targets [N, 1, H, W].
///
/// Prediction: the label of a pixel is the argmax of its C logits (the first of equal maxima, as
/// torch.argmax); argmax_labels returns the label map [N, 1, H, W]. One-channel logits (a binary
/// network, sigmoid and threshold) are not handled here: use count_per_image with
/// prediction_kind::logits (segmentation.hpp).
///
/// Counts. For every image and every class k, a binary_confusion of "class k" against "any other
/// class" (confusion.hpp): TP = predicted k and true k, FP = predicted k and true other, FN =
/// predicted other and true k, TN = the rest; plus the pixels counted and the pixels whose label
/// is right (pixel accuracy). Pixels are skipped when their target equals ignore_index or, with a
/// region-of-interest mask [N, 1, H, W], when their mask value is <= 0.5 (as count_pixels).
///
/// Scores per image and class are binary_confusion's ratios, with its conventions for zero
/// denominators: a class absent from both the prediction and the truth of an image scores 1 for
/// Dice, IoU, precision and recall (nothing to get wrong); absent from one side only, Dice and IoU
/// are 0. An image with no counted pixel has accuracy 1.
///
/// Aggregation (multiclass_evaluator):
///   per class  macro: the mean over images of each image's score for that class (per_class()),
///              or micro: the ratios of the counts summed over images (per_class_micro());
///   headline   foreground(): the mean over the foreground classes 1..C-1 of the macro per-class
///              scores; class 0 is the background and is left out ("mean Dice");
///   accuracy   pixel_accuracy(): the mean over images of each image's pixel accuracy (macro, as
///              segmentation_evaluator's accuracy).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "confusion.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

/// Dice, IoU, precision and recall of one class (or a mean of several).
struct class_scores {
    double dice = 0, iou = 0, precision = 0, recall = 0;

    [[nodiscard]] static class_scores of(const binary_confusion& c) noexcept {
        return {c.dice(), c.iou(), c.precision(), c.recall()};
    }
};

/// The counts of one image (or a sum of images): one binary_confusion per class, and the pixels
/// counted and labelled right.
struct multiclass_confusion {
    std::vector<binary_confusion> classes;  ///< index k: class k against the others
    std::uint64_t counted = 0;              ///< pixels counted (not ignored, inside the region)
    std::uint64_t correct = 0;              ///< of those, pixels whose predicted label is the target

    multiclass_confusion() = default;
    explicit multiclass_confusion(int c) : classes(static_cast<std::size_t>(c)) {}

    /// Pixel accuracy, correct / counted (1 when nothing is counted).
    [[nodiscard]] double accuracy() const noexcept {
        return counted == 0 ? 1.0 : static_cast<double>(correct) / static_cast<double>(counted);
    }
    /// The scores of class k.
    [[nodiscard]] class_scores scores(int k) const { return class_scores::of(classes.at(static_cast<std::size_t>(k))); }

    multiclass_confusion& operator+=(const multiclass_confusion& o) {
        if (classes.size() != o.classes.size())
            throw std::invalid_argument("multiclass_confusion: adding counts of " + std::to_string(o.classes.size()) +
                                        " classes to counts of " + std::to_string(classes.size()));
        for (std::size_t k = 0; k < classes.size(); ++k) classes[k] += o.classes[k];
        counted += o.counted;
        correct += o.correct;
        return *this;
    }
    friend bool operator==(const multiclass_confusion&, const multiclass_confusion&) = default;
};

namespace detail {

template <class T>
void check_multiclass_logits(const char* name, const tensor<T>& logits) {
    const shape4 s = logits.shape();
    if (logits.empty()) throw std::invalid_argument(std::string(name) + ": empty batch");
    if (s.c < 2)
        throw std::invalid_argument(std::string(name) + ": logits " + s.str() +
                                    " have one channel; multi-class scores need C >= 2 (for a binary network use "
                                    "count_per_image with prediction_kind::logits)");
    const T* x = logits.data();
    for (std::size_t i = 0; i < logits.size(); ++i)
        if (std::isnan(x[i]))
            throw std::invalid_argument(std::string(name) + ": logits hold NaN at " + s.position_str(i) +
                                        " (the network diverged or the input is corrupt)");
}

/// The argmax label of pixel p of image n (the first of equal maxima).
template <class T>
int argmax_at(const T* x, int c, std::size_t plane, std::size_t base) noexcept {
    int best = 0;
    for (int k = 1; k < c; ++k)
        if (x[base + static_cast<std::size_t>(k) * plane] > x[base + static_cast<std::size_t>(best) * plane]) best = k;
    return best;
}

}  // namespace detail

/// The label map [N, 1, H, W] of logits [N, C, H, W], C >= 2: each pixel's argmax over the
/// channels (the first of equal maxima), stored as T.
template <class T>
[[nodiscard]] tensor<T> argmax_labels(const tensor<T>& logits) {
    detail::check_multiclass_logits("argmax_labels", logits);
    const shape4 s = logits.shape();
    const std::size_t plane = s.plane();
    tensor<T> out(shape4{s.n, 1, s.h, s.w});
    for (int n = 0; n < s.n; ++n)
        for (std::size_t p = 0; p < plane; ++p)
            out[static_cast<std::size_t>(n) * plane + p] = static_cast<T>(
                detail::argmax_at(logits.data(), s.c, plane, static_cast<std::size_t>(n) * s.c * plane + p));
    return out;
}

namespace detail {

/// The counts of every image: predicted(i) gives the predicted class of pixel i of the
/// [N, 1, H, W] label shape `ls`, against the class indices `target` (checked here), inside `roi`.
template <class T, class Predicted>
std::vector<multiclass_confusion> count_classes(const char* name, int classes, const shape4& ls,
                                                const tensor<T>& target, const tensor<T>* roi, int ignore_index,
                                                Predicted&& predicted) {
    const std::size_t plane = ls.plane();
    const T* tv = target.data();
    const T* rv = roi ? roi->data() : nullptr;
    std::vector<multiclass_confusion> out(static_cast<std::size_t>(ls.n), multiclass_confusion(classes));
    for (int n = 0; n < ls.n; ++n) {
        multiclass_confusion& m = out[static_cast<std::size_t>(n)];
        for (std::size_t p = 0; p < plane; ++p) {
            const std::size_t i = static_cast<std::size_t>(n) * plane + p;
            if (rv && !(static_cast<double>(rv[i]) > 0.5)) continue;
            const double v = tv[i];
            if (v == static_cast<double>(ignore_index)) continue;
            if (!(v >= 0.0 && v < classes) || v != std::floor(v))
                throw std::invalid_argument(std::string(name) + ": target value " + unetpp::detail::message_number(v) +
                                            " at " + ls.position_str(i) + " is not a class index 0.." +
                                            std::to_string(classes - 1) + " (nor ignore_index " +
                                            std::to_string(ignore_index) + "); index targets are " + ls.str());
            const int t = static_cast<int>(v);
            const int y = predicted(n, p, i);
            ++m.counted;
            if (y == t) {
                ++m.correct;
                ++m.classes[static_cast<std::size_t>(t)].tp;
            } else {
                ++m.classes[static_cast<std::size_t>(y)].fp;
                ++m.classes[static_cast<std::size_t>(t)].fn;
            }
        }
        // every other class saw a true negative at each counted pixel
        for (auto& c : m.classes) c.tn = m.counted - c.tp - c.fp - c.fn;
    }
    return out;
}

template <class T>
void check_label_shapes(const char* name, const shape4& ls, const std::string& of, const tensor<T>& target,
                        const tensor<T>* roi) {
    if (target.shape() != ls)
        throw std::invalid_argument(std::string(name) + ": target " + target.shape().str() + " does not fit " + of +
                                    "; give class indices as " + ls.str());
    if (roi && roi->shape() != ls)
        throw std::invalid_argument(std::string(name) + ": region mask " + roi->shape().str() + " does not fit " + of +
                                    "; give one value per pixel as " + ls.str());
}

}  // namespace detail

/// The counts of every image of a batch: logits [N, C, H, W] (C >= 2) against class indices
/// [N, 1, H, W] (integers 0..C-1 or ignore_index, stored as T), with an optional region mask
/// `roi` [N, 1, H, W] (nullptr: every pixel counts; see the file comment).
template <class T>
[[nodiscard]] std::vector<multiclass_confusion> count_per_image_multiclass(const tensor<T>& logits,
                                                                           const tensor<T>& target,
                                                                           const tensor<T>* roi = nullptr,
                                                                           int ignore_index = -100) {
    constexpr const char* name = "count_per_image_multiclass";
    detail::check_multiclass_logits(name, logits);
    const shape4 s = logits.shape(), ls{s.n, 1, s.h, s.w};
    detail::check_label_shapes(name, ls, "logits " + s.str(), target, roi);
    const std::size_t plane = s.plane();
    return detail::count_classes(name, s.c, ls, target, roi, ignore_index, [&](int n, std::size_t p, std::size_t) {
        return detail::argmax_at(logits.data(), s.c, plane, static_cast<std::size_t>(n) * s.c * plane + p);
    });
}

/// The same counts from predicted class indices `pred` [N, 1, H, W] (integers 0..classes-1, e.g.
/// a mask as it was written) instead of logits.
template <class T>
[[nodiscard]] std::vector<multiclass_confusion> count_per_image_labels(const tensor<T>& pred, const tensor<T>& target,
                                                                       int classes, const tensor<T>* roi = nullptr,
                                                                       int ignore_index = -100) {
    constexpr const char* name = "count_per_image_labels";
    if (classes < 2)
        throw std::invalid_argument(std::string(name) + ": " + std::to_string(classes) +
                                    " classes; multi-class counts need at least 2");
    const shape4 ls = pred.shape();
    if (ls.c != 1 || pred.empty())
        throw std::invalid_argument(std::string(name) + ": predicted labels " + ls.str() +
                                    " are not class indices [N, 1, H, W]");
    detail::check_label_shapes(name, ls, "predicted labels " + ls.str(), target, roi);
    const T* pv = pred.data();
    return detail::count_classes(name, classes, ls, target, roi, ignore_index, [&](int, std::size_t, std::size_t i) {
        const double v = pv[i];
        if (!(v >= 0.0 && v < classes) || v != std::floor(v))
            throw std::invalid_argument(std::string(name) + ": predicted value " + unetpp::detail::message_number(v) +
                                        " at " + ls.position_str(i) + " is not a class index 0.." +
                                        std::to_string(classes - 1));
        return static_cast<int>(v);
    });
}

/// Accumulates per-image counts over batches; reports per-class and headline scores (see the
/// file comment).
class multiclass_evaluator {
public:
    /// `classes` >= 2, the logits' channel count; target pixels equal to ignore_index are skipped.
    explicit multiclass_evaluator(int classes, int ignore_index = -100) : classes_(classes), ignore_(ignore_index) {
        if (classes < 2)
            throw std::invalid_argument("multiclass_evaluator: " + std::to_string(classes) +
                                        " classes; multi-class scores need at least 2 (background and one class)");
    }

    /// Adds every image of a batch (logits [N, C, H, W], targets [N, 1, H, W]).
    template <class T>
    void add(const tensor<T>& logits, const tensor<T>& target) {
        add_batch(logits, target, static_cast<const tensor<T>*>(nullptr));
    }
    /// The same, counting only pixels whose region mask value is > 0.5 (roi [N, 1, H, W]).
    template <class T>
    void add(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& roi) {
        add_batch(logits, target, &roi);
    }
    /// Adds one image's counts.
    void add(const multiclass_confusion& c) {
        if (c.classes.size() != static_cast<std::size_t>(classes_))
            throw std::invalid_argument("multiclass_evaluator: counts of " + std::to_string(c.classes.size()) +
                                        " classes added to an evaluator of " + std::to_string(classes_));
        images_.push_back(c);
    }

    [[nodiscard]] int classes() const noexcept { return classes_; }
    [[nodiscard]] std::size_t images() const noexcept { return images_.size(); }
    [[nodiscard]] const std::vector<multiclass_confusion>& per_image() const noexcept { return images_; }

    /// The counts summed over images.
    [[nodiscard]] multiclass_confusion counts() const {
        multiclass_confusion sum(classes_);
        for (const auto& c : images_) sum += c;
        return sum;
    }
    /// Per class, the mean over images of the image's scores (macro).
    [[nodiscard]] std::vector<class_scores> per_class() const {
        require_images("per_class");
        std::vector<class_scores> out(static_cast<std::size_t>(classes_));
        for (const auto& c : images_)
            for (int k = 0; k < classes_; ++k) {
                const class_scores s = c.scores(k);
                class_scores& o = out[static_cast<std::size_t>(k)];
                o.dice += s.dice, o.iou += s.iou, o.precision += s.precision, o.recall += s.recall;
            }
        const double n = static_cast<double>(images_.size());
        for (auto& o : out) o.dice /= n, o.iou /= n, o.precision /= n, o.recall /= n;
        return out;
    }
    /// Per class, the ratios of the counts summed over images (micro).
    [[nodiscard]] std::vector<class_scores> per_class_micro() const {
        require_images("per_class_micro");
        const multiclass_confusion sum = counts();
        std::vector<class_scores> out;
        for (int k = 0; k < classes_; ++k) out.push_back(sum.scores(k));
        return out;
    }
    /// The headline: the mean over the foreground classes 1..C-1 of per_class().
    [[nodiscard]] class_scores foreground() const {
        const std::vector<class_scores> pc = per_class();
        class_scores m;
        for (int k = 1; k < classes_; ++k) {
            const class_scores& s = pc[static_cast<std::size_t>(k)];
            m.dice += s.dice, m.iou += s.iou, m.precision += s.precision, m.recall += s.recall;
        }
        const double n = static_cast<double>(classes_ - 1);
        m.dice /= n, m.iou /= n, m.precision /= n, m.recall /= n;
        return m;
    }
    /// The mean over images of each image's pixel accuracy (macro).
    [[nodiscard]] double pixel_accuracy() const {
        require_images("pixel_accuracy");
        double sum = 0;
        for (const auto& c : images_) sum += c.accuracy();
        return sum / static_cast<double>(images_.size());
    }
    void reset() { images_.clear(); }

private:
    template <class T>
    void add_batch(const tensor<T>& logits, const tensor<T>& target, const tensor<T>* roi) {
        if (!logits.empty() && logits.shape().c != classes_)
            throw std::invalid_argument("multiclass_evaluator: logits " + logits.shape().str() + " have " +
                                        std::to_string(logits.shape().c) + " channels, the evaluator counts " +
                                        std::to_string(classes_) + " classes");
        for (auto& c : count_per_image_multiclass(logits, target, roi, ignore_)) images_.push_back(std::move(c));
    }
    void require_images(const char* what) const {
        if (images_.empty())
            throw std::logic_error(std::string("multiclass_evaluator::") + what + ": no images added yet");
    }
    int classes_;
    int ignore_;
    std::vector<multiclass_confusion> images_;
};

}  // namespace unetpp::metrics
