#pragma once
/// \file Pixel-level ranking metrics of foreground probabilities: ROC-AUC and average precision
/// (AP), per image (exact, by sorting) and pooled over a data set (a fine histogram whose error
/// is bounded and reported).
///
/// Definitions (those of scikit-learn's roc_auc_score and average_precision_score):
///   ROC-AUC  the probability that a random foreground pixel scores above a random background
///            pixel, tied scores counting 1/2 (the area under the ROC curve with ties drawn as
///            straight segments; Mann-Whitney U / (P N)).
///   AP       with the distinct scores as thresholds in decreasing order, R_k and P_k the recall
///            and precision at the k-th threshold (pixels with score >= it predicted positive),
///            AP = sum_k (R_k - R_{k-1}) P_k. Tied scores form one threshold.
/// A pixel is foreground when its target value is > 0.5. With a region mask (`roi`, same size),
/// only pixels whose roi value is > 0.5 are counted; the others are ignored entirely.
///
/// Images with one class only (defined here, reported as NaN, not an error):
///   no foreground pixel          ROC-AUC NaN, AP NaN   (nothing to find: recall is undefined)
///   no background pixel          ROC-AUC NaN, AP 1     (every threshold has precision 1)
/// Callers averaging over images skip the NaN values and say how many they skipped.
///
/// Pooled over a data set (ranking_histogram): the scores, which must lie in [0, 1], are counted
/// in 2,064,385 bins keyed by the float's bit pattern: min(p, 1 - p) with its 10 lowest
/// mantissa bits dropped (1 - p is exact in float for p in [0.5, 1]), so a bin spans a relative
/// width of 2^-13 (about 1.2e-4) of min(p, 1 - p), finer near 0 and 1 where network outputs
/// crowd. Every bin is treated as one tied score. The error is bounded exactly from the counts:
///   ROC-AUC  |exact - histogram| <= sum_b pos_b neg_b / (2 P N)      (roc_auc_error_bound)
///   AP       the exact value lies in [ap_low, ap_high] (average_precision_range): within a
///            bin, the lowest AP puts its background pixels first and its foreground pixels at
///            distinct scores, the highest ties its foreground pixels above its background.
/// The AUC bound is 0 when no bin holds both foreground and background pixels; the AP interval
/// is a single point when every bin that holds a foreground pixel holds no other pixel.
/// Memory: two 64-bit counters per bin (33 MB), allocated on the first add().

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

/// ROC-AUC and AP of one image or a data set, with the pixel counts they come from.
struct ranking_scores {
    double roc_auc = std::numeric_limits<double>::quiet_NaN();
    double average_precision = std::numeric_limits<double>::quiet_NaN();
    std::uint64_t positives = 0;  ///< foreground pixels counted
    std::uint64_t negatives = 0;  ///< background pixels counted
};

namespace detail {

/// One group of tied scores, from the highest score down: its foreground / background counts.
struct score_group {
    std::uint64_t pos = 0, neg = 0;
};

/// AUC and AP from groups in decreasing score order (each group one tied score).
inline ranking_scores ranking_from_groups(const std::vector<score_group>& groups) {
    ranking_scores r;
    for (const auto& g : groups) r.positives += g.pos, r.negatives += g.neg;
    const double np = static_cast<double>(r.positives), nn = static_cast<double>(r.negatives);
    double pairs = 0, ap = 0;  // pairs: 2 x (positive-above-negative pairs) + tied pairs
    std::uint64_t tp = 0, fp = 0;
    for (const auto& g : groups) {
        pairs += static_cast<double>(g.neg) * (2.0 * static_cast<double>(tp) + static_cast<double>(g.pos));
        tp += g.pos, fp += g.neg;
        if (g.pos) ap += static_cast<double>(g.pos) * static_cast<double>(tp) / static_cast<double>(tp + fp);
    }
    if (r.positives && r.negatives) r.roc_auc = pairs / (2.0 * np * nn);
    if (r.positives) r.average_precision = ap / np;
    return r;
}

template <class T>
void check_score(T s, std::size_t i, const char* who) {
    if (std::isnan(static_cast<double>(s)))
        throw std::invalid_argument(std::string(who) + ": score " + std::to_string(i) + " is NaN");
}

}  // namespace detail

/// Exact ROC-AUC and AP of n scores against n targets (foreground: target > 0.5), counting only
/// pixels with roi > 0.5 when roi is given. O(n log n) (one sort).
template <class T>
[[nodiscard]] ranking_scores rank_scores(const T* score, const T* target, std::size_t n, const T* roi = nullptr) {
    if (n && (!score || !target)) throw std::invalid_argument("rank_scores: null pointer with a non-zero size");
    std::vector<std::pair<T, bool>> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (roi && !(static_cast<double>(roi[i]) > 0.5)) continue;
        detail::check_score(score[i], i, "rank_scores");
        v.emplace_back(score[i], static_cast<double>(target[i]) > 0.5);
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<detail::score_group> groups;
    for (std::size_t i = 0; i < v.size();) {
        detail::score_group g;
        std::size_t j = i;
        for (; j < v.size() && v[j].first == v[i].first; ++j) (v[j].second ? g.pos : g.neg) += 1;
        groups.push_back(g);
        i = j;
    }
    return detail::ranking_from_groups(groups);
}

/// rank_scores over whole tensors of one shape (roi: nullptr, or the same shape).
template <class T>
[[nodiscard]] ranking_scores rank_scores(const tensor<T>& score, const tensor<T>& target, const tensor<T>* roi = nullptr) {
    if (score.shape() != target.shape() || (roi && roi->shape() != score.shape()))
        throw std::invalid_argument("rank_scores: scores " + score.shape().str() + ", target " + target.shape().str() +
                                    (roi ? ", region mask " + roi->shape().str() : std::string()) +
                                    " must have one shape");
    return rank_scores(score.data(), target.data(), score.size(), roi ? roi->data() : nullptr);
}

/// Pooled ROC-AUC and AP over any number of images, in bounded memory (see the file comment).
class ranking_histogram {
public:
    static constexpr int dropped_bits = 10;
    /// Bins of [0, 0.5]: keys 0..half_keys; (0.5, 1] (1 - p < 0.5, so its key is below
    /// half_keys) maps to half_keys + 1..2 half_keys.
    static constexpr std::uint32_t half_keys = std::bit_cast<std::uint32_t>(0.5f) >> dropped_bits;
    static constexpr std::size_t bins = 2 * static_cast<std::size_t>(half_keys) + 1;

    /// The bin of score p in [0, 1] (non-decreasing in p).
    [[nodiscard]] static std::size_t bin_of(float p) noexcept {
        if (p <= 0.5f) return std::bit_cast<std::uint32_t>(p == 0.0f ? 0.0f : p) >> dropped_bits;
        const float q = 1.0f - p;  // exact for p in [0.5, 1]
        return 2 * static_cast<std::size_t>(half_keys) - (std::bit_cast<std::uint32_t>(q) >> dropped_bits);
    }

    /// Adds n scores in [0, 1] against targets (foreground > 0.5), only where roi > 0.5 if given.
    template <class T>
    void add(const T* score, const T* target, std::size_t n, const T* roi = nullptr) {
        if (n && (!score || !target)) throw std::invalid_argument("ranking_histogram::add: null pointer");
        if (pos_.empty()) pos_.assign(bins, 0), neg_.assign(bins, 0);
        for (std::size_t i = 0; i < n; ++i) {
            if (roi && !(static_cast<double>(roi[i]) > 0.5)) continue;
            const float p = static_cast<float>(score[i]);
            if (!(p >= 0.0f && p <= 1.0f))
                throw std::invalid_argument("ranking_histogram::add: score " + std::to_string(i) + " is " +
                                            (std::isnan(p) ? std::string("NaN") : std::to_string(p)) +
                                            ", outside [0, 1] (give probabilities)");
            (static_cast<double>(target[i]) > 0.5 ? pos_ : neg_)[bin_of(p)] += 1;
        }
    }
    template <class T>
    void add(const tensor<T>& score, const tensor<T>& target, const tensor<T>* roi = nullptr) {
        if (score.shape() != target.shape() || (roi && roi->shape() != score.shape()))
            throw std::invalid_argument("ranking_histogram::add: scores " + score.shape().str() + " and target " +
                                        target.shape().str() + " (and region mask) must have one shape");
        add(score.data(), target.data(), score.size(), roi ? roi->data() : nullptr);
    }

    /// ROC-AUC and AP with every bin one tied score.
    [[nodiscard]] ranking_scores scores() const { return detail::ranking_from_groups(groups()); }

    /// |exact ROC-AUC - scores().roc_auc| <= this (NaN when the AUC is undefined).
    [[nodiscard]] double roc_auc_error_bound() const {
        double tied = 0, p = 0, n = 0;
        for (const auto& g : groups()) {
            tied += static_cast<double>(g.pos) * static_cast<double>(g.neg);
            p += static_cast<double>(g.pos), n += static_cast<double>(g.neg);
        }
        if (p == 0 || n == 0) return std::numeric_limits<double>::quiet_NaN();
        return tied / (2.0 * p * n);
    }

    /// The interval [low, high] that holds the exact AP whatever the scores inside each bin
    /// (NaN, NaN without foreground pixels).
    [[nodiscard]] std::pair<double, double> average_precision_range() const {
        const auto gs = groups();
        std::uint64_t total_pos = 0;
        for (const auto& g : gs) total_pos += g.pos;
        if (total_pos == 0)
            return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
        double low = 0, high = 0;
        std::uint64_t tp = 0, fp = 0;  // before the bin
        for (const auto& g : gs) {
            if (g.pos) {
                const double a = static_cast<double>(tp), b = static_cast<double>(tp + fp);
                // lowest: the bin's background first, then each foreground pixel its own threshold
                for (std::uint64_t j = 1; j <= g.pos; ++j)
                    low += (a + static_cast<double>(j)) / (b + static_cast<double>(g.neg) + static_cast<double>(j));
                // highest: the bin's foreground tied, above its background
                high += static_cast<double>(g.pos) * (a + static_cast<double>(g.pos)) / (b + static_cast<double>(g.pos));
            }
            tp += g.pos, fp += g.neg;
        }
        const double np = static_cast<double>(total_pos);
        return {low / np, high / np};
    }

    /// Adds another histogram's counts.
    ranking_histogram& operator+=(const ranking_histogram& o) {
        if (o.pos_.empty()) return *this;
        if (pos_.empty()) pos_.assign(bins, 0), neg_.assign(bins, 0);
        for (std::size_t i = 0; i < bins; ++i) pos_[i] += o.pos_[i], neg_[i] += o.neg_[i];
        return *this;
    }

private:
    /// Non-empty bins from the highest score down.
    [[nodiscard]] std::vector<detail::score_group> groups() const {
        std::vector<detail::score_group> out;
        for (std::size_t i = pos_.size(); i-- > 0;)
            if (pos_[i] || neg_[i]) out.push_back({pos_[i], neg_[i]});
        return out;
    }
    std::vector<std::uint64_t> pos_, neg_;
};

}  // namespace unetpp::metrics
