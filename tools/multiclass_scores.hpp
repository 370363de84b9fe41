// The scores unetpp-evaluate reports for a network of K >= 2 classes (softmax; each pixel takes
// its most probable class, or for K = 2 class 1 where its probability reaches the threshold):
// per image and over the data set, at each image's own resolution and, with a region mask, only
// inside it. The counts come from metrics::count_per_image_labels (of the written mask) and the aggregates from
// metrics::multiclass_evaluator (include/unetpp/metrics/multiclass.hpp).
//
//   dice, iou, precision, recall   of an image: the mean over the foreground classes 1..K-1 of the
//                                  class's score against all other classes (a class absent from
//                                  both prediction and truth scores 1); over the data set, the
//                                  mean over images (= the evaluator's foreground() headline)
//   pixel_accuracy                 pixels whose class is right / pixels counted
//   hd95                           one class against the rest, HD95 in pixels; an image's value is
//                                  the mean over the foreground classes present in its prediction
//                                  or truth (inf when one of them is in only one of the two; 0
//                                  when none is present)
//   roc_auc, average_precision     one class's probability against the rest, exact per image; an
//                                  image's value is the mean over the foreground classes whose
//                                  score is defined (nan when none is); pooled over the data set
//                                  per class (metrics::ranking_histogram), then their mean
//   dice_c<k>                      the Dice of class k (k = 1..K-1) in the CSV
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <unetpp/metrics.hpp>

#include "class_masks.hpp"
#include "image_scores.hpp"

namespace cli {

/// The scores of one image of a K-class network.
struct class_image_score {
    metrics::multiclass_confusion counts;
    std::vector<double> hd95;                      ///< per class; [0] unused (NaN)
    std::vector<metrics::ranking_scores> ranking;  ///< per class; [0] unused
    int width = 0, height = 0;

    [[nodiscard]] int classes() const noexcept { return static_cast<int>(counts.classes.size()); }
    /// The mean over the foreground classes of one class score.
    template <class F>
    [[nodiscard]] double foreground_mean(F score) const {
        double sum = 0;
        for (int k = 1; k < classes(); ++k) sum += score(counts.scores(k));
        return sum / static_cast<double>(classes() - 1);
    }
    [[nodiscard]] double dice() const { return foreground_mean([](const metrics::class_scores& s) { return s.dice; }); }
    [[nodiscard]] double iou() const { return foreground_mean([](const metrics::class_scores& s) { return s.iou; }); }
    [[nodiscard]] double precision() const {
        return foreground_mean([](const metrics::class_scores& s) { return s.precision; });
    }
    [[nodiscard]] double recall() const {
        return foreground_mean([](const metrics::class_scores& s) { return s.recall; });
    }
    /// The mean HD95 over the foreground classes present in prediction or truth (see the file comment).
    [[nodiscard]] double mean_hd95() const {
        double sum = 0;
        int n = 0;
        for (int k = 1; k < classes(); ++k) {
            const auto& c = counts.classes[static_cast<std::size_t>(k)];
            if (c.tp + c.fp + c.fn == 0) continue;  // absent from both
            sum += hd95[static_cast<std::size_t>(k)], ++n;
        }
        return n ? sum / n : 0.0;
    }
    /// The mean over the foreground classes of a ranking score where it is defined (NaN if nowhere).
    [[nodiscard]] double mean_ranking(double metrics::ranking_scores::*member) const {
        double sum = 0;
        int n = 0;
        for (int k = 1; k < classes(); ++k)
            if (const double v = ranking[static_cast<std::size_t>(k)].*member; std::isfinite(v)) sum += v, ++n;
        return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
    }
};

/// Foreground classes up to which the pooled per-class ROC-AUC and AP are computed: a
/// metrics::ranking_histogram holds about 33 MB once used.
inline constexpr int max_pooled_classes = 8;

/// Scores `pred` (class indices, [1, 1, H, W]) and `prob` ([1, K, H, W]) against `truth` (class
/// indices), inside `roi` when given; adds each foreground class's pixels to `(*pooled)[k]` unless
/// pooled is nullptr.
inline class_image_score score_class_image(const tensor<float>& prob, const tensor<float>& pred,
                                           const tensor<float>& truth, const tensor<float>* roi,
                                           std::vector<metrics::ranking_histogram>* pooled) {
    const int K = prob.shape().c;
    class_image_score s;
    s.width = truth.shape().w, s.height = truth.shape().h;
    s.counts = metrics::count_per_image_labels(pred, truth, K, roi)[0];  // the written mask's classes
    s.hd95.assign(static_cast<std::size_t>(K), std::numeric_limits<double>::quiet_NaN());
    s.ranking.resize(static_cast<std::size_t>(K));
    if (pooled) pooled->resize(static_cast<std::size_t>(K));
    for (int k = 1; k < K; ++k) {
        const tensor<float> p = class_indicator(pred, k), t = class_indicator(truth, k), score = class_plane(prob, k);
        s.hd95[static_cast<std::size_t>(k)] =
            roi ? metrics::hausdorff_distance_in(p, t, *roi) : metrics::hausdorff95(p, t);
        s.ranking[static_cast<std::size_t>(k)] = metrics::rank_scores(score, t, roi);
        if (pooled) (*pooled)[static_cast<std::size_t>(k)].add(score, t, roi);
    }
    return s;
}

/// The CSV header for K classes: the binary columns, pixel_accuracy, then dice_c1..dice_c<K-1>.
inline std::string class_csv_header(int classes) {
    std::string h = "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,pixel_accuracy,width,height,pixels";
    for (int k = 1; k < classes; ++k) h += ",dice_c" + std::to_string(k);
    return h + '\n';
}

inline std::string class_csv_row(const std::string& name, const class_image_score& s) {
    std::string r = csv_text(name) + ',' + csv_number(s.dice()) + ',' + csv_number(s.iou()) + ',' + csv_number(s.precision()) +
                    ',' + csv_number(s.recall()) + ',' + csv_number(s.mean_hd95()) + ',' +
                    csv_number(s.mean_ranking(&metrics::ranking_scores::roc_auc)) + ',' +
                    csv_number(s.mean_ranking(&metrics::ranking_scores::average_precision)) + ',' +
                    csv_number(s.counts.accuracy()) + ',' + std::to_string(s.width) + ',' + std::to_string(s.height) +
                    ',' + std::to_string(s.counts.counted);
    for (int k = 1; k < s.classes(); ++k) r += ',' + csv_number(s.counts.scores(k).dice);
    return r + '\n';
}

/// The summary of a K-class evaluation: the headline (mean foreground Dice and IoU), mean +- std
/// over images of every score, and the per-class table (see the file comment).
class class_score_table {
public:
    explicit class_score_table(int classes) : eval_(classes) {}

    void add(const class_image_score& s) {
        eval_.add(s.counts);
        dice_.push_back(s.dice()), iou_.push_back(s.iou());
        prec_.push_back(s.precision()), rec_.push_back(s.recall()), acc_.push_back(s.counts.accuracy());
        keep(hd_, s.mean_hd95(), hd_skipped_);
        keep(auc_, s.mean_ranking(&metrics::ranking_scores::roc_auc), auc_skipped_);
        keep(ap_, s.mean_ranking(&metrics::ranking_scores::average_precision), ap_skipped_);
        pixels_ += s.counts.counted;
    }

    [[nodiscard]] std::string str(const std::vector<metrics::ranking_histogram>& pooled) const {
        const int K = eval_.classes();
        const metrics::class_scores fg = eval_.foreground();
        std::string t = "mean foreground Dice " + fixed(fg.dice) + ", IoU " + fixed(fg.iou) +
                        (K == 2 ? std::string(" (class 1") : " (classes 1 to " + std::to_string(K - 1)) +
                        ", class 0 the background); pixel accuracy " +
                        fixed(eval_.pixel_accuracy()) + "\n";
        t += "metric      mean \u00b1 std (per image: the mean over the foreground classes)\n";
        const auto line = [&](const char* n, const std::vector<double>& v) {
            char b[24];
            std::snprintf(b, sizeof b, "%-11s ", n);
            t += std::string(b) + (v.empty() ? std::string("n/a") : metrics::format_mean_std(v, 4)) + '\n';
        };
        line("dice", dice_), line("iou", iou_), line("precision", prec_), line("recall", rec_);
        line("pixel_acc", acc_), line("hd95", hd_), line("roc_auc", auc_), line("avg_prec", ap_);
        if (hd_skipped_)
            t += "(hd95 over " + std::to_string(hd_.size()) + " images; in " + std::to_string(hd_skipped_) +
                 " a class is in only one of prediction and truth, so no finite distance exists)\n";
        if (auc_skipped_ || ap_skipped_)
            t += "(roc_auc over " + std::to_string(auc_.size()) + " images, avg_prec over " +
                 std::to_string(ap_.size()) +
                 ": an image in which no foreground class has both its pixels and others has neither)\n";
        t += per_class_table(pooled);
        return t;
    }

private:
    [[nodiscard]] std::string per_class_table(const std::vector<metrics::ranking_histogram>& pooled) const {
        const int K = eval_.classes();
        const std::vector<metrics::class_scores> pc = eval_.per_class();
        char b[200];
        std::snprintf(b, sizeof b, "%-28s %8s %8s %10s %8s %10s %10s\n", "per class (mean over images)", "dice", "iou",
                      "precision", "recall", "roc_auc*", "avg_prec*");
        std::string t = b;
        double auc_sum = 0, ap_sum = 0;
        int auc_n = 0, ap_n = 0;
        for (int k = 0; k < K; ++k) {
            const metrics::class_scores& s = pc[static_cast<std::size_t>(k)];
            std::string auc = "-", ap = "-";
            if (k > 0 && static_cast<std::size_t>(k) < pooled.size()) {
                const auto p = pooled[static_cast<std::size_t>(k)].scores();
                auc = csv_number(p.roc_auc), ap = csv_number(p.average_precision);
                if (std::isfinite(p.roc_auc)) auc_sum += p.roc_auc, ++auc_n;
                if (std::isfinite(p.average_precision)) ap_sum += p.average_precision, ++ap_n;
            }
            std::snprintf(b, sizeof b, "%-28s %8.4f %8.4f %10.4f %8.4f %10s %10s\n", class_name(k).c_str(), s.dice,
                          s.iou, s.precision, s.recall, auc.c_str(), ap.c_str());
            t += b;
        }
        const metrics::class_scores fg = eval_.foreground();
        std::snprintf(b, sizeof b, "%-28s %8.4f %8.4f %10.4f %8.4f %10s %10s\n", "mean foreground", fg.dice, fg.iou,
                      fg.precision, fg.recall, pooled_mean(pooled, auc_sum, auc_n).c_str(),
                      pooled_mean(pooled, ap_sum, ap_n).c_str());
        t += b;
        if (pooled.empty())
            t += "(* not computed for more than " + std::to_string(max_pooled_classes) +
                 " foreground classes: each pooled histogram holds about 33 MB; the per-image values above are)\n";
        else
            t += "(* one class against the rest, pooled over all " + std::to_string(pixels_) + " pixels of " +
                 std::to_string(eval_.images()) + " images, scores binned at a relative width of 2^-13)\n";
        t += "(hd95, roc_auc and avg_prec per image: one class against the rest, averaged over the foreground "
             "classes)\n";
        return t;
    }
    static std::string pooled_mean(const std::vector<metrics::ranking_histogram>& pooled, double sum, int n) {
        return pooled.empty() ? "-" : n ? csv_number(sum / n) : "nan";
    }
    static std::string fixed(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.4f", v);
        return b;
    }
    static void keep(std::vector<double>& v, double x, std::size_t& skipped) {
        if (std::isfinite(x)) v.push_back(x);
        else ++skipped;
    }
    metrics::multiclass_evaluator eval_;
    std::vector<double> dice_, iou_, prec_, rec_, acc_, hd_, auc_, ap_;
    std::size_t hd_skipped_ = 0, auc_skipped_ = 0, ap_skipped_ = 0;
    std::uint64_t pixels_ = 0;
};

}  // namespace cli
