// Unit tests for unetpp/metrics: binary confusion counts and ratios, per-image / micro / macro
// aggregation, the K-class confusion matrix, ROC-AUC and mean +- std, on hand-computed cases.

#include <doctest/doctest.h>

#include <unetpp/metrics.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

using namespace unetpp;
using namespace unetpp::metrics;

TEST_CASE("binary confusion counts and ratios of a small case") {
    // Probabilities binarised at 0.5 (p > 0.5): P = {0, 1, 2}; targets T = {1, 2, 3, 4}.
    const std::vector<float> p = {0.9f, 0.6f, 0.51f, 0.5f, 0.1f, 0.0f, 0.2f, 0.3f};
    const std::vector<float> t = {0, 1, 1, 1, 1, 0, 0, 0};
    const auto c = count_pixels(p.data(), t.data(), p.size());
    // TP = {1, 2} = 2, FP = {0} = 1, FN = {3, 4} = 2, TN = {5, 6, 7} = 3.
    CHECK(c == binary_confusion{2, 1, 2, 3});
    CHECK(c.iou() == doctest::Approx(2.0 / 5.0));           // 2 / (2 + 1 + 2)
    CHECK(c.dice() == doctest::Approx(4.0 / 7.0));          // 4 / (4 + 1 + 2)
    CHECK(c.f1() == doctest::Approx(4.0 / 7.0));            // = Dice
    CHECK(c.accuracy() == doctest::Approx(5.0 / 8.0));      // (2 + 3) / 8
    CHECK(c.precision() == doctest::Approx(2.0 / 3.0));     // 2 / (2 + 1)
    CHECK(c.recall() == doctest::Approx(0.5));              // 2 / (2 + 2)
    CHECK(c.sensitivity() == c.recall());
    CHECK(c.specificity() == doctest::Approx(3.0 / 4.0));   // 3 / (3 + 1)
    // F1 = 2 P R / (P + R) = 2 (2/3)(1/2) / (7/6) = 4/7.
    CHECK(2 * c.precision() * c.recall() / (c.precision() + c.recall()) == doctest::Approx(c.f1()));
    // The same from logits: logit(p) > 0 iff p > 0.5; and the old dice.hpp agrees.
    std::vector<float> x(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) x[i] = std::log(p[i] / (1 - p[i]));
    CHECK(count_pixels(x.data(), t.data(), x.size(), prediction_kind::logits) == c);
    CHECK(dice(p.data(), t.data(), p.size()) == doctest::Approx(c.dice()));
    // Threshold 0.05 adds pixels 3, 4, 6, 7: TP 4, FP 3, FN 0, TN 1.
    CHECK(count_pixels(p.data(), t.data(), p.size(), prediction_kind::probabilities, 0.05) ==
          binary_confusion{4, 3, 0, 1});
    // A mask is binarised at 0.5 whatever the threshold.
    CHECK(count_pixels(t.data(), t.data(), t.size(), prediction_kind::mask, 0.99) == binary_confusion{4, 0, 0, 4});
}

TEST_CASE("edge cases: empty masks, all correct, all wrong") {
    // Both empty: nothing to find, nothing found: every ratio 1.
    const binary_confusion empty{0, 0, 0, 10};
    CHECK(empty.iou() == 1.0);
    CHECK(empty.dice() == 1.0);
    CHECK(empty.precision() == 1.0);
    CHECK(empty.recall() == 1.0);
    CHECK(empty.specificity() == 1.0);
    CHECK(empty.accuracy() == 1.0);
    // Empty target, 2 false positives: Dice / IoU / F1 0, precision 0 / 2 = 0, recall 0 (FP > 0),
    // specificity 8 / 10, accuracy 8 / 10.
    const binary_confusion fp_only{0, 2, 0, 8};
    CHECK(fp_only.dice() == 0.0);
    CHECK(fp_only.iou() == 0.0);
    CHECK(fp_only.precision() == 0.0);
    CHECK(fp_only.recall() == 0.0);
    CHECK(fp_only.specificity() == doctest::Approx(0.8));
    CHECK(fp_only.accuracy() == doctest::Approx(0.8));
    // Empty prediction, 3 missed: precision 0 (nothing predicted, FN > 0), recall 0.
    const binary_confusion fn_only{0, 0, 3, 7};
    CHECK(fn_only.precision() == 0.0);
    CHECK(fn_only.recall() == 0.0);
    CHECK(fn_only.dice() == 0.0);
    CHECK(fn_only.specificity() == 1.0);  // 7 / 7
    // All correct with a lesion: every ratio 1.
    const binary_confusion perfect{4, 0, 0, 6};
    for (double v : {perfect.iou(), perfect.dice(), perfect.precision(), perfect.recall(), perfect.specificity(),
                     perfect.accuracy()})
        CHECK(v == 1.0);
    // All wrong (prediction = not target): everything 0.
    const binary_confusion wrong{0, 6, 4, 0};
    for (double v : {wrong.iou(), wrong.dice(), wrong.precision(), wrong.recall(), wrong.specificity(),
                     wrong.accuracy()})
        CHECK(v == 0.0);
    // Target all foreground, predicted all: specificity has no negatives: 1 (FN = 0).
    CHECK(binary_confusion{5, 0, 0, 0}.specificity() == 1.0);
    CHECK(binary_confusion{3, 0, 2, 0}.specificity() == 0.0);
    // No pixels at all.
    CHECK(binary_confusion{}.accuracy() == 1.0);
}

TEST_CASE("micro and macro aggregation over images") {
    // Image 0 (4 pixels): prediction {1, 1, 0, 0} vs target {1, 0, 0, 0}: TP 1, FP 1, FN 0, TN 2.
    // Image 1 (4 pixels): both empty: TP 0, FP 0, FN 0, TN 4.
    // Image 2 (4 pixels): prediction {0, 0, 0, 0} vs target {1, 1, 0, 0}: TP 0, FP 0, FN 2, TN 2.
    tensor<float> p(shape4{3, 1, 2, 2}, {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    tensor<float> t(shape4{3, 1, 2, 2}, {1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0});
    segmentation_evaluator ev(prediction_kind::mask);
    ev.add(p, t);
    REQUIRE(ev.images() == 3);
    CHECK(ev.per_image()[0] == binary_confusion{1, 1, 0, 2});
    CHECK(ev.per_image()[2] == binary_confusion{0, 0, 2, 2});
    // Micro: TP 1, FP 1, FN 2, TN 8. Dice 2 / (2 + 1 + 2) = 0.4, IoU 1 / 4, precision 1 / 2,
    // recall 1 / 3, specificity 8 / 9, accuracy 9 / 12.
    CHECK(ev.counts() == binary_confusion{1, 1, 2, 8});
    const auto mi = ev.micro();
    CHECK(mi.dice == doctest::Approx(0.4));
    CHECK(mi.iou == doctest::Approx(0.25));
    CHECK(mi.precision == doctest::Approx(0.5));
    CHECK(mi.recall == doctest::Approx(1.0 / 3.0));
    CHECK(mi.specificity == doctest::Approx(8.0 / 9.0));
    CHECK(mi.accuracy == doctest::Approx(0.75));
    // Macro: Dice per image 2/3, 1, 0 -> 5/9; IoU 1/2, 1, 0 -> 1/2; precision 1/2, 1, 0 -> 1/2;
    // recall 1, 1, 0 -> 2/3; specificity 2/3, 1, 1 -> 8/9; accuracy 3/4, 1, 1/2 -> 3/4.
    const auto ma = ev.macro();
    CHECK(ma.dice == doctest::Approx(5.0 / 9.0));
    CHECK(ma.f1 == doctest::Approx(5.0 / 9.0));
    CHECK(ma.iou == doctest::Approx(0.5));
    CHECK(ma.precision == doctest::Approx(0.5));
    CHECK(ma.recall == doctest::Approx(2.0 / 3.0));
    CHECK(ma.specificity == doctest::Approx(8.0 / 9.0));
    CHECK(ma.accuracy == doctest::Approx(0.75));
    // Macro Dice equals the old mean_dice of dice.hpp.
    CHECK(mean_dice(p, t) == doctest::Approx(ma.dice));
    CHECK(mean_iou(p, t) == doctest::Approx(ma.iou));
    // Errors.
    CHECK_THROWS_AS((void)segmentation_evaluator{}.micro(), std::logic_error);
    CHECK_THROWS_AS(ev.add(p, tensor<float>(shape4{1, 1, 2, 2})), std::invalid_argument);
    CHECK_THROWS_AS((void)count_pixels(p, t, prediction_kind::probabilities, 1.5), std::invalid_argument);
}

TEST_CASE("confusion matrix with per-class ratios") {
    // 3 classes; rows true, columns predicted:
    //        p0 p1 p2
    //   t0 [  5  1  0 ]
    //   t1 [  2  3  1 ]
    //   t2 [  0  0  4 ]          total 16, diagonal 12.
    confusion_matrix m(3);
    m.add(0, 0, 5), m.add(0, 1), m.add(1, 0, 2), m.add(1, 1, 3), m.add(1, 2), m.add(2, 2, 4);
    CHECK(m.total() == 16);
    CHECK(m.accuracy() == doctest::Approx(12.0 / 16.0));
    // Class 0: TP 5, FP 2 (column 0), FN 1 (row 0), TN 8.
    CHECK(m.one_vs_rest(0) == binary_confusion{5, 2, 1, 8});
    CHECK(m.precision(0) == doctest::Approx(5.0 / 7.0));
    CHECK(m.recall(0) == doctest::Approx(5.0 / 6.0));
    CHECK(m.f1(0) == doctest::Approx(10.0 / 13.0));        // 2 * 5 / (10 + 2 + 1)
    CHECK(m.specificity(0) == doctest::Approx(8.0 / 10.0));
    // Class 1: TP 3, FP 1, FN 3, TN 9: precision 3/4, recall 1/2, F1 6/10, specificity 9/10.
    CHECK(m.one_vs_rest(1) == binary_confusion{3, 1, 3, 9});
    CHECK(m.f1(1) == doctest::Approx(0.6));
    // Class 2: TP 4, FP 1, FN 0, TN 11: F1 8/9.
    CHECK(m.f1(2) == doctest::Approx(8.0 / 9.0));
    CHECK(m.macro_f1() == doctest::Approx((10.0 / 13.0 + 0.6 + 8.0 / 9.0) / 3));
    CHECK(m.str().find("true \\ predicted") == 0);
    CHECK_THROWS_AS(m.add(3, 0), std::out_of_range);
    CHECK_THROWS_AS(confusion_matrix(1), std::invalid_argument);
    // Binary from scores: labels {1, 1, 0, 0}, scores {0.9, 0.4, 0.6, 0.1} at 0.5:
    // TP 1 (0.9), FN 1 (0.4), FP 1 (0.6), TN 1 (0.1).
    const auto b = binary_confusion_matrix(std::vector<double>{0.9, 0.4, 0.6, 0.1}, std::vector<int>{1, 1, 0, 0});
    CHECK(b.one_vs_rest(1) == binary_confusion{1, 1, 1, 1});
    confusion_matrix from_lists(2);
    from_lists.add_all(std::vector<int>{0, 1, 1}, std::vector<int>{0, 1, 0});
    CHECK(from_lists(1, 0) == 1);
}

TEST_CASE("ROC-AUC by ranks, ties averaged") {
    // Perfect ranking: 1; reversed: 0.
    CHECK(roc_auc(std::vector<double>{0.1, 0.2, 0.8, 0.9}, std::vector<int>{0, 0, 1, 1}) == 1.0);
    CHECK(roc_auc(std::vector<double>{0.9, 0.8, 0.2, 0.1}, std::vector<int>{0, 0, 1, 1}) == 0.0);
    // Scores 0.1 (neg), 0.4 (pos), 0.35 (neg), 0.8 (pos): pairs (pos, neg) ordered correctly:
    // 0.4 > 0.1, 0.4 > 0.35, 0.8 > both: 4 of 4 -> 1. Swap to make one mistake:
    // scores neg 0.5, pos 0.4, neg 0.1, pos 0.8: 0.4 > 0.1 yes, 0.4 > 0.5 no, 0.8 > both: 3/4.
    CHECK(roc_auc(std::vector<double>{0.5, 0.4, 0.1, 0.8}, std::vector<int>{0, 1, 0, 1}) == doctest::Approx(0.75));
    // Ties: pos {0.5, 0.7}, neg {0.5, 0.2}. Pairs: (0.5, 0.5) tie = 1/2, (0.5, 0.2) 1, (0.7, *) 2:
    // (0.5 + 1 + 2) / 4 = 0.875. By ranks: 0.2 -> 1, 0.5, 0.5 -> 2.5, 0.7 -> 4; R+ = 6.5,
    // (6.5 - 3) / 4 = 0.875.
    CHECK(roc_auc(std::vector<double>{0.5, 0.7, 0.5, 0.2}, std::vector<int>{1, 1, 0, 0}) == doctest::Approx(0.875));
    // All scores tied: 0.5.
    CHECK(roc_auc(std::vector<float>{1, 1, 1, 1, 1}, std::vector<float>{1, 0, 1, 0, 0}) == doctest::Approx(0.5));
    CHECK_THROWS_AS((void)roc_auc(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1}), std::invalid_argument);
    CHECK_THROWS_AS((void)roc_auc(std::vector<double>{0.1}, std::vector<int>{1, 0}), std::invalid_argument);
}

TEST_CASE("mean and sample std over folds, formatted") {
    // Values 0.8, 0.85, 0.9: mean 0.85; deviations -0.05, 0, 0.05; sum of squares 0.005;
    // sample variance 0.005 / 2 = 0.0025; std 0.05.
    const auto s = summarize(std::vector<double>{0.8, 0.85, 0.9});
    CHECK(s.mean == doctest::Approx(0.85));
    CHECK(s.std == doctest::Approx(0.05));
    CHECK(s.n == 3);
    CHECK(s.str() == "0.850 \u00b1 0.050");
    CHECK(format_mean_std(std::vector<double>{0.812, 0.812}) == "0.812 \u00b1 0.000");
    CHECK(summarize({0.7}).str() == "0.700 \u00b1 n/a");
    CHECK(summarize({1.0, 2.0}).str(1) == "1.5 \u00b1 0.7");  // std = sqrt(0.5) = 0.707
    CHECK_THROWS_AS((void)summarize(std::vector<double>{}), std::invalid_argument);
}
