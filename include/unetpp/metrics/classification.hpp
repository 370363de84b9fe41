#pragma once
/// \file Classification metrics: a K-class confusion matrix with per-class (one-vs-rest)
/// precision, recall, F1 and specificity (seed 002, Table IV and eq. 2-4), accuracy, and the
/// rank-based ROC-AUC of binary scores.
///
/// Confusion matrix layout: rows are the true class, columns the predicted class (as
/// scikit-learn): m(t, p) counts samples of class t predicted as p. For class k,
///   TP = m(k, k),  FP = sum_t m(t, k) - TP,  FN = sum_p m(k, p) - TP,  TN = the rest,
/// and the per-class ratios use binary_confusion's zero-denominator conventions
/// (metrics/confusion.hpp).
///
/// ROC-AUC (Mann-Whitney U): with the scores ranked 1..n in increasing order and tied scores
/// given the mean of their ranks, R+ the sum of the positives' ranks, n+ positives, n- negatives,
///   AUC = (R+ - n+ (n+ + 1) / 2) / (n+ n-),
/// i.e. the probability that a random positive scores above a random negative, ties counting
/// 1/2. Undefined (std::invalid_argument) without at least one positive and one negative.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "confusion.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

class confusion_matrix {
public:
    explicit confusion_matrix(int classes) : k_(classes) {
        if (classes < 2)
            throw std::invalid_argument("confusion_matrix: " + std::to_string(classes) + " classes (need at least 2)");
        m_.assign(static_cast<std::size_t>(classes) * classes, 0);
    }

    [[nodiscard]] int classes() const noexcept { return k_; }

    /// Records `count` samples of true class `truth` predicted as `predicted`.
    void add(int truth, int predicted, std::uint64_t count = 1) {
        check(truth, "true");
        check(predicted, "predicted");
        m_[static_cast<std::size_t>(truth) * k_ + predicted] += count;
    }
    /// Records pairs truth[i], predicted[i].
    template <class A, class B>
    void add_all(const A& truth, const B& predicted) {
        if (std::size(truth) != std::size(predicted))
            throw std::invalid_argument("confusion_matrix::add_all: " + std::to_string(std::size(truth)) +
                                        " labels and " + std::to_string(std::size(predicted)) + " predictions");
        for (std::size_t i = 0; i < std::size(truth); ++i)
            add(static_cast<int>(truth[i]), static_cast<int>(predicted[i]));
    }

    [[nodiscard]] std::uint64_t operator()(int truth, int predicted) const {
        check(truth, "true");
        check(predicted, "predicted");
        return m_[static_cast<std::size_t>(truth) * k_ + predicted];
    }
    [[nodiscard]] std::uint64_t total() const noexcept { return std::accumulate(m_.begin(), m_.end(), std::uint64_t{0}); }

    /// One-vs-rest counts of class k.
    [[nodiscard]] binary_confusion one_vs_rest(int k) const {
        check(k, "");
        binary_confusion c;
        c.tp = (*this)(k, k);
        for (int j = 0; j < k_; ++j) {
            if (j == k) continue;
            c.fp += (*this)(j, k);
            c.fn += (*this)(k, j);
        }
        c.tn = total() - c.tp - c.fp - c.fn;
        return c;
    }
    [[nodiscard]] double precision(int k) const { return one_vs_rest(k).precision(); }
    [[nodiscard]] double recall(int k) const { return one_vs_rest(k).recall(); }
    [[nodiscard]] double f1(int k) const { return one_vs_rest(k).f1(); }
    [[nodiscard]] double specificity(int k) const { return one_vs_rest(k).specificity(); }

    /// Fraction of samples on the diagonal (1 when empty).
    [[nodiscard]] double accuracy() const noexcept {
        std::uint64_t d = 0;
        for (int k = 0; k < k_; ++k) d += m_[static_cast<std::size_t>(k) * k_ + k];
        const std::uint64_t t = total();
        return t == 0 ? 1.0 : static_cast<double>(d) / static_cast<double>(t);
    }
    /// Unweighted mean over classes of the per-class F1.
    [[nodiscard]] double macro_f1() const {
        double s = 0;
        for (int k = 0; k < k_; ++k) s += f1(k);
        return s / k_;
    }

    /// Text table: rows true class, columns predicted class.
    [[nodiscard]] std::string str() const {
        std::ostringstream o;
        o << "true \\ predicted";
        for (int p = 0; p < k_; ++p) o << std::setw(8) << p;
        o << '\n';
        for (int t = 0; t < k_; ++t) {
            o << std::setw(16) << t;
            for (int p = 0; p < k_; ++p) o << std::setw(8) << m_[static_cast<std::size_t>(t) * k_ + p];
            o << '\n';
        }
        return o.str();
    }

private:
    void check(int k, const char* what) const {
        if (k < 0 || k >= k_)
            throw std::out_of_range("confusion_matrix: " + std::string(what) + (what[0] ? " " : "") + "class " +
                                    std::to_string(k) + " outside 0.." + std::to_string(k_ - 1));
    }
    int k_;
    std::vector<std::uint64_t> m_;
};

/// Binary confusion matrix of scores against 0/1 labels: predicted positive when score > threshold.
template <class S, class L>
[[nodiscard]] confusion_matrix binary_confusion_matrix(const S& scores, const L& labels, double threshold = 0.5) {
    if (std::size(scores) != std::size(labels))
        throw std::invalid_argument("binary_confusion_matrix: " + std::to_string(std::size(scores)) + " scores and " +
                                    std::to_string(std::size(labels)) + " labels");
    confusion_matrix m(2);
    for (std::size_t i = 0; i < std::size(scores); ++i)
        m.add(static_cast<double>(labels[i]) > 0.5 ? 1 : 0, static_cast<double>(scores[i]) > threshold ? 1 : 0);
    return m;
}

/// Area under the ROC curve of `scores` for binary `labels` (positive: label > 0.5), by ranks with
/// ties averaged (see the file comment). Any container with size() and operator[].
template <class S, class L>
[[nodiscard]] double roc_auc(const S& scores, const L& labels) {
    const std::size_t n = std::size(scores);
    if (n != std::size(labels))
        throw std::invalid_argument("roc_auc: " + std::to_string(n) + " scores and " + std::to_string(std::size(labels)) +
                                    " labels");
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = 0; i < n; ++i)
        if (std::isnan(static_cast<double>(scores[i])))
            throw std::invalid_argument("roc_auc: score " + std::to_string(i) + " is NaN");
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return static_cast<double>(scores[a]) < static_cast<double>(scores[b]);
    });
    double rank_sum_pos = 0;
    std::uint64_t pos = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j < n && static_cast<double>(scores[order[j]]) == static_cast<double>(scores[order[i]])) ++j;
        const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // ranks i+1..j
        for (std::size_t q = i; q < j; ++q)
            if (static_cast<double>(labels[order[q]]) > 0.5) {
                rank_sum_pos += mean_rank;
                ++pos;
            }
        i = j;
    }
    const std::uint64_t neg = n - pos;
    if (pos == 0 || neg == 0)
        throw std::invalid_argument("roc_auc: needs at least one positive and one negative label (got " +
                                    std::to_string(pos) + " positive, " + std::to_string(neg) + " negative)");
    const double np = static_cast<double>(pos), nn = static_cast<double>(neg);
    return (rank_sum_pos - np * (np + 1.0) / 2.0) / (np * nn);
}

}  // namespace unetpp::metrics
