// The scores unetpp-evaluate reports for one image and over a data set: Dice, IoU, precision,
// recall, HD95, pixel ROC-AUC and average precision, each at the image's own resolution and, with
// a region-of-interest mask, counted only inside it (include/unetpp/metrics/); the CSV row and
// the summary table. ROC-AUC and AP per image are exact (sorting); pooled over the data set they
// come from metrics::ranking_histogram, with the bound on their error printed beside them.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unetpp/io/image.hpp>
#include <unetpp/metrics.hpp>

#include "cli_args.hpp"

namespace cli {

namespace fs = std::filesystem;
using namespace unetpp;

/// "inf", "nan" or %.6g.
inline std::string csv_number(double v) {
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (std::isnan(v)) return "nan";
    char b[40];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

/// Refuses a region mask with no pixel inside (nothing could be scored).
inline void require_inside(const tensor<float>& roi, const fs::path& file, const std::string& source) {
    for (const float v : roi)
        if (v > 0.5f) return;
    throw usage_error("--roi-masks: '" + file.string() + "' (the region mask of " + source +
                      ") has no pixel inside (none > 127), so nothing could be scored; check the file");
}

/// Reads a region-of-interest mask as 0/1 (pixel > 127 = inside) for an h x w image. Refused,
/// naming the files: the image itself or one of its ground-truth masks (a look-up that matched
/// the wrong file), another size, no pixel inside.
inline tensor<float> read_roi(const fs::path& file, int h, int w, const std::vector<fs::path>& sample_files,
                              const std::string& source) {
    for (std::size_t k = 0; k < sample_files.size(); ++k) {
        std::error_code ec;
        if (fs::equivalent(file, sample_files[k], ec) && !ec)
            throw usage_error("--roi-masks: the region mask found for " + source + " is '" + file.string() +
                              "', which is the " + (k == 0 ? "image itself" : "image's ground-truth mask") +
                              "; give the region masks their own folder or --roi-suffix");
    }
    const io::image img = io::read_image(file, 1);
    if (img.width != w || img.height != h)
        throw usage_error("--roi-masks: '" + file.string() + "' is " + std::to_string(img.width) + "x" +
                          std::to_string(img.height) + " but its image " + source + " is " + std::to_string(w) + "x" +
                          std::to_string(h) + "; give a region mask of the image's size");
    tensor<float> roi(shape4{1, 1, h, w});
    for (std::size_t i = 0; i < roi.size(); ++i) roi[i] = img.pixels[i] > 127 ? 1.0f : 0.0f;
    require_inside(roi, file, source);
    return roi;
}

/// The scores of one image.
struct image_score {
    metrics::binary_confusion counts;
    double hd95 = 0;
    metrics::ranking_scores ranking;
    int width = 0, height = 0;
};

/// Scores `pred` (0/1) and `prob` against `mask`, all [1, 1, H, W], inside `roi` when given, and
/// adds the pixels to the pooled histogram.
inline image_score score_image(const tensor<float>& prob, const tensor<float>& pred, const tensor<float>& mask,
                               const tensor<float>* roi, metrics::ranking_histogram& pooled) {
    image_score s;
    s.width = mask.shape().w, s.height = mask.shape().h;
    if (roi) {
        s.counts = metrics::count_per_image(pred, mask, *roi, metrics::prediction_kind::mask)[0];
        s.hd95 = metrics::hausdorff_distance_in(pred, mask, *roi);
    } else {
        s.counts = metrics::count_per_image(pred, mask, metrics::prediction_kind::mask)[0];
        s.hd95 = metrics::hausdorff95(pred, mask);
    }
    s.ranking = metrics::rank_scores(prob, mask, roi);
    pooled.add(prob, mask, roi);
    return s;
}

inline const char* score_csv_header = "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,width,height,pixels\n";

/// A CSV text cell as RFC 4180 writes it: as it is, or in double quotes with inner quotes doubled
/// when it holds a comma, a quote or a line break (so an image named "a,b" keeps its name;
/// report/run_files.hpp, Python's csv module and pandas read it back).
inline std::string csv_text(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string q = "\"";
    for (const char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + '"';
}

inline std::string score_csv_row(const std::string& name, const image_score& s) {
    const auto& c = s.counts;
    return csv_text(name) + ',' + csv_number(c.dice()) + ',' + csv_number(c.iou()) + ',' + csv_number(c.precision()) + ',' +
           csv_number(c.recall()) + ',' + csv_number(s.hd95) + ',' + csv_number(s.ranking.roc_auc) + ',' +
           csv_number(s.ranking.average_precision) + ',' + std::to_string(s.width) + ',' + std::to_string(s.height) +
           ',' + std::to_string(c.total()) + '\n';
}

/// The mean +- std over images of every score, and the pooled ROC-AUC and AP.
class score_table {
public:
    void add(const image_score& s) {
        dice_.push_back(s.counts.dice()), iou_.push_back(s.counts.iou());
        prec_.push_back(s.counts.precision()), rec_.push_back(s.counts.recall());
        keep(hd_, s.hd95, hd_skipped_);
        keep(auc_, s.ranking.roc_auc, auc_skipped_);
        keep(ap_, s.ranking.average_precision, ap_skipped_);
        pixels_ += s.counts.total();
    }

    /// The table's lines ("metric      mean ± std", one per score, the notes, the pooled scores).
    [[nodiscard]] std::string str(const metrics::ranking_histogram& pooled) const {
        std::string t = "metric      mean \u00b1 std\n";
        const auto line = [&](const char* n, const std::vector<double>& v) {
            char b[24];
            std::snprintf(b, sizeof b, "%-11s ", n);
            t += std::string(b) + (v.empty() ? std::string("n/a") : metrics::format_mean_std(v, 4)) + '\n';
        };
        line("dice", dice_), line("iou", iou_), line("precision", prec_), line("recall", rec_), line("hd95", hd_);
        line("roc_auc", auc_), line("avg_prec", ap_);
        if (hd_skipped_)
            t += "(hd95 over " + std::to_string(hd_.size()) + " images; " + std::to_string(hd_skipped_) +
                 " with exactly one empty mask have no finite distance)\n";
        if (auc_skipped_ || ap_skipped_)
            t += "(roc_auc over " + std::to_string(auc_.size()) + " images, avg_prec over " + std::to_string(ap_.size()) +
                 ": an image with one class only has no ROC-AUC, one without foreground no AP)\n";
        const auto p = pooled.scores();
        const auto [lo, hi] = pooled.average_precision_range();
        char b[200];
        std::snprintf(b, sizeof b, "pooled over %zu images (%llu pixels): roc_auc %s (within %s of the exact value), ",
                      dice_.size(), static_cast<unsigned long long>(pixels_), csv_number(p.roc_auc).c_str(),
                      csv_number(pooled.roc_auc_error_bound()).c_str());
        t += b;
        std::snprintf(b, sizeof b, "avg_prec %s (exact value in [%s, %s])\n", csv_number(p.average_precision).c_str(),
                      csv_number(lo).c_str(), csv_number(hi).c_str());
        t += b;
        return t;
    }

private:
    static void keep(std::vector<double>& v, double x, std::size_t& skipped) {
        if (std::isfinite(x)) v.push_back(x);
        else ++skipped;
    }
    std::vector<double> dice_, iou_, prec_, rec_, hd_, auc_, ap_;
    std::size_t hd_skipped_ = 0, auc_skipped_ = 0, ap_skipped_ = 0;
    std::uint64_t pixels_ = 0;
};

}  // namespace cli
