// Multi-class outputs of unetpp-predict and unetpp-evaluate: mask files in the run's encoding and
// class colours (tools/class_masks.hpp), and the per-image and summary scores
// (tools/multiclass_scores.hpp), on hand-made label maps whose counts are known.

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "../../../tools/multiclass_scores.hpp"
#include "../../support/error_of.hpp"

namespace {
using unetpp::shape4;
using unetpp::tensor;
using unetpp::data::mask_encoding;

tensor<float> labels(int h, int w, std::vector<float> v) {
    tensor<float> t(shape4{1, 1, h, w});
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = v[i];
    return t;
}

/// Probabilities [1, K, H, W] that put p on each pixel's class of `l` and the rest evenly on the others.
tensor<float> probs_for(const tensor<float>& l, int K, float p) {
    const shape4 s = l.shape();
    tensor<float> t(shape4{1, K, s.h, s.w});
    for (std::size_t i = 0; i < l.size(); ++i)
        for (int k = 0; k < K; ++k)
            t[static_cast<std::size_t>(k) * s.plane() + i] = k == static_cast<int>(l[i]) ? p : (1 - p) / (K - 1);
    return t;
}
}  // namespace

TEST_CASE("class_mask_image: labels as class indices, palette as its colours, two binary classes as 0/255") {
    const tensor<float> l = labels(1, 3, {0, 1, 2});
    cli::class_layout lab{.channels = 1, .classes = 3, .encoding = mask_encoding::labels, .palette = {}};
    const auto a = cli::class_mask_image(l, lab, 3);
    CHECK(a.channels == 1);
    CHECK(a.pixels == std::vector<std::uint8_t>{0, 1, 2});
    cli::class_layout pal = lab;
    pal.encoding = mask_encoding::palette;
    pal.palette = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}};
    const auto b = cli::class_mask_image(l, pal, 3);
    CHECK(b.channels == 3);
    CHECK(b.pixels == std::vector<std::uint8_t>{0, 0, 0, 255, 0, 0, 0, 255, 0});
    cli::class_layout bin{.channels = 1, .classes = 2, .encoding = mask_encoding::binary, .palette = {}};
    CHECK(cli::class_mask_image(labels(1, 2, {1, 0}), bin, 2).pixels == std::vector<std::uint8_t>{255, 0});
    // a value that is no class index is a bug upstream: refused, not written
    CHECK(unetpp::test::error_of<std::invalid_argument>([&] { (void)cli::class_mask_image(labels(1, 1, {3}), lab, 3); })
              .find("not a class index 0..2") != std::string::npos);
}

TEST_CASE("class colours: the palette when there is one, else black and distinct colours for up to 256 classes") {
    const auto table = cli::class_colour_table(256);
    REQUIRE(table.size() == 256);
    CHECK(table[0] == unetpp::data::rgb8{0, 0, 0});
    std::set<std::uint32_t> keys;
    for (const auto& c : table) keys.insert(c.key());
    CHECK(keys.size() == 256);
    cli::class_layout pal{.channels = 3, .classes = 2, .encoding = mask_encoding::palette,
                          .palette = {{10, 20, 30}, {40, 50, 60}}};
    CHECK(cli::class_colours(pal, 2) == pal.palette);
    CHECK(cli::coloured_classes(pal, 2));
    CHECK_FALSE(cli::coloured_classes({}, 1));
    CHECK(cli::class_name(0) == "class 0 (background)");
    CHECK(cli::class_name(2) == "class 2");
}

TEST_CASE("score_class_image: per-class counts, foreground means, HD95 and ROC-AUC rules, the CSV row") {
    // 2 x 4 image, 3 classes. truth: 0 0 1 1 / 0 0 1 1; prediction: 0 1 1 1 / 0 0 1 1
    const tensor<float> truth = labels(2, 4, {0, 0, 1, 1, 0, 0, 1, 1});
    const tensor<float> pred = labels(2, 4, {0, 1, 1, 1, 0, 0, 1, 1});
    const tensor<float> prob = probs_for(pred, 3, 0.8f);
    std::vector<unetpp::metrics::ranking_histogram> pooled;
    const cli::class_image_score s = cli::score_class_image(prob, pred, truth, nullptr, &pooled);
    CHECK(s.counts.counted == 8);
    CHECK(s.counts.correct == 7);
    // class 1: tp 4, fp 1, fn 0 -> Dice 8/9; class 2 absent from both -> 1 (the metrics' convention)
    CHECK(s.counts.scores(1).dice == doctest::Approx(8.0 / 9.0));
    CHECK(s.counts.scores(2).dice == 1.0);
    CHECK(s.dice() == doctest::Approx((8.0 / 9.0 + 1.0) / 2));
    // HD95: class 2 is in neither, so only class 1 counts
    CHECK(s.mean_hd95() == doctest::Approx(s.hd95[1]));
    // ROC-AUC: class 2 has no true pixel, so it is undefined there and class 1 alone counts
    CHECK(std::isnan(s.ranking[2].roc_auc));
    CHECK(s.mean_ranking(&unetpp::metrics::ranking_scores::roc_auc) == doctest::Approx(s.ranking[1].roc_auc));
    CHECK(pooled.size() == 3);
    const std::string header = cli::class_csv_header(3);
    CHECK(header.rfind("image,dice,iou,", 0) == 0);
    CHECK(header.find(",pixel_accuracy,width,height,pixels,dice_c1,dice_c2\n") != std::string::npos);
    const std::string row = cli::class_csv_row("a,b", s);
    CHECK(row.rfind("\"a,b\",0.944444,", 0) == 0);  // RFC 4180 quoting keeps the name
    CHECK(row.find(",0.875,4,2,8,0.888889,1\n") != std::string::npos);

    // a class in the truth only: no finite distance, the image's HD95 is inf
    const tensor<float> truth2 = labels(2, 4, {0, 0, 1, 1, 0, 0, 2, 2});
    const cli::class_image_score s2 = cli::score_class_image(prob, pred, truth2, nullptr, nullptr);
    CHECK(std::isinf(s2.mean_hd95()));
}

TEST_CASE("class_score_table: the headline, the per-class table and the pooled scores") {
    const tensor<float> truth = labels(2, 4, {0, 0, 1, 1, 0, 2, 2, 1});
    std::vector<unetpp::metrics::ranking_histogram> pooled;
    cli::class_score_table table(3);
    table.add(cli::score_class_image(probs_for(truth, 3, 0.9f), truth, truth, nullptr, &pooled));
    const std::string t = table.str(pooled);
    CHECK(t.find("mean foreground Dice 1.0000, IoU 1.0000 (classes 1 to 2") != std::string::npos);
    CHECK(t.find("pixel accuracy 1.0000") != std::string::npos);
    CHECK(t.find("class 0 (background)") != std::string::npos);
    CHECK(t.find("\nclass 2 ") != std::string::npos);
    CHECK(t.find("\nmean foreground ") != std::string::npos);
    CHECK(t.find("pooled over all 8 pixels of 1 images") != std::string::npos);
    // without pooled histograms (more foreground classes than max_pooled_classes) it says so
    CHECK(table.str({}).find("not computed for more than 8 foreground classes") != std::string::npos);
}
