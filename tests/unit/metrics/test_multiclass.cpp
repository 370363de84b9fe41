// Multi-class metrics (metrics/multiclass.hpp): argmax label maps, per-class confusion counts
// against index targets with ignore_index and region masks, the conventions for absent classes,
// agreement with the binary counts for two classes, and the evaluator's aggregation.

#include <doctest/doctest.h>

#include <unetpp/metrics.hpp>
#include <unetpp/tensor/rng.hpp>

#include "../../support/error_of.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace unetpp;
using namespace unetpp::metrics;
using unetpp::test::contains;
using unetpp::test::error_of;

namespace {

/// Logits [N, C, H, W] whose argmax is `labels` ([N, 1, H, W]): 2 on the label's channel, random
/// values in [-1, 1] elsewhere.
tensor<float> logits_for(const tensor<float>& labels, int classes, std::uint64_t seed) {
    const shape4 s = labels.shape();
    rng r(seed);
    tensor<float> x(shape4{s.n, classes, s.h, s.w});
    for (int n = 0; n < s.n; ++n)
        for (int h = 0; h < s.h; ++h)
            for (int w = 0; w < s.w; ++w)
                for (int k = 0; k < classes; ++k)
                    x(n, k, h, w) =
                        k == static_cast<int>(labels(n, 0, h, w)) ? 2.0f : static_cast<float>(2 * r.uniform() - 1);
    return x;
}

tensor<float> random_labels(shape4 s, int classes, std::uint64_t seed) {
    rng r(seed);
    tensor<float> t(s);
    for (auto& v : t) v = static_cast<float>(r.below(static_cast<std::uint64_t>(classes)));
    return t;
}

}  // namespace

TEST_CASE("argmax_labels: the first of equal maxima, shape [N, 1, H, W]") {
    const tensor<float> x(shape4{2, 3, 1, 2}, {1, 5, 2, 5, 3, 0,  // image 0: pixel 0 -> 2, pixel 1 -> 0 (tie 5, 5)
                                               0, 0, 0, 0, 0, -1});  // image 1: pixel 0 -> 0 (all equal), 1 -> 0
    const tensor<float> l = argmax_labels(x);
    REQUIRE(l.shape() == shape4{2, 1, 1, 2});
    CHECK(l[0] == 2.0f);
    CHECK(l[1] == 0.0f);
    CHECK(l[2] == 0.0f);
    CHECK(l[3] == 0.0f);
    const tensor<float> y = random_labels(shape4{3, 1, 4, 5}, 4, 1);
    const tensor<float> ly = argmax_labels(logits_for(y, 4, 2));
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(ly[i] == y[i]);
    CHECK(contains(error_of<std::invalid_argument>([] { (void)argmax_labels(tensor<float>(shape4{1, 1, 2, 2})); }),
                   "argmax_labels: logits [1, 1, 2, 2] have one channel; multi-class scores need C >= 2"));
    tensor<float> bad = x;
    bad[4] = std::numeric_limits<float>::quiet_NaN();
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)argmax_labels(bad); }),
                   "argmax_labels: logits hold NaN at [0, 2, 0, 0]"));
}

TEST_CASE("per-class counts and scores, computed by hand") {
    // predicted labels  0 1 2     target  0 1 1
    //                   1 1 0             2 1 0
    const tensor<float> pred(shape4{1, 1, 2, 3}, {0, 1, 2, 1, 1, 0});
    const tensor<float> target(shape4{1, 1, 2, 3}, {0, 1, 1, 2, 1, 0});
    const auto counts = count_per_image_multiclass(logits_for(pred, 3, 3), target);
    REQUIRE(counts.size() == 1);
    const multiclass_confusion& m = counts[0];
    CHECK(m.counted == 6);
    CHECK(m.correct == 4);
    CHECK(m.accuracy() == doctest::Approx(4.0 / 6));
    CHECK(m.classes[0] == binary_confusion{2, 0, 0, 4});
    CHECK(m.classes[1] == binary_confusion{2, 1, 1, 2});
    CHECK(m.classes[2] == binary_confusion{0, 1, 1, 4});
    CHECK(m.scores(1).dice == doctest::Approx(2.0 / 3));
    CHECK(m.scores(1).iou == doctest::Approx(0.5));
    CHECK(m.scores(1).precision == doctest::Approx(2.0 / 3));
    CHECK(m.scores(1).recall == doctest::Approx(2.0 / 3));
    CHECK(m.scores(2).dice == 0.0);
    multiclass_evaluator ev(3);
    ev.add(logits_for(pred, 3, 3), target);
    const class_scores fg = ev.foreground();  // classes 1 and 2 only (class 0 scores 1 and is left out)
    CHECK(fg.dice == doctest::Approx(1.0 / 3));
    CHECK(fg.iou == doctest::Approx(0.25));
    CHECK(ev.per_class()[0].dice == 1.0);
    CHECK(ev.pixel_accuracy() == doctest::Approx(4.0 / 6));
}

TEST_CASE("a class absent from prediction and truth scores 1; absent from one side, 0") {
    // class 2 appears nowhere; class 1 only in the prediction
    const tensor<float> pred(shape4{1, 1, 1, 4}, {0, 0, 1, 0});
    const tensor<float> target(shape4{1, 1, 1, 4}, {0, 0, 0, 0});
    const multiclass_confusion m = count_per_image_multiclass(logits_for(pred, 3, 4), target)[0];
    const class_scores absent = m.scores(2);
    CHECK(absent.dice == 1.0);
    CHECK(absent.iou == 1.0);
    CHECK(absent.precision == 1.0);
    CHECK(absent.recall == 1.0);
    const class_scores false_alarm = m.scores(1);
    CHECK(false_alarm.dice == 0.0);
    CHECK(false_alarm.iou == 0.0);
    CHECK(false_alarm.precision == 0.0);
    CHECK(false_alarm.recall == 0.0);  // binary_confusion: empty truth with a false positive
    // the same conventions as binary_confusion on the class's own mask
    CHECK(absent.dice == binary_confusion{}.dice());
    CHECK(false_alarm.recall == binary_confusion{0, 1, 0, 3}.recall());
}

TEST_CASE("two classes: class 1's counts are the binary counts of sigmoid(x1 - x0) > 0.5") {
    const shape4 s{3, 2, 5, 6};
    rng r(7);
    tensor<float> x(s);
    for (auto& v : x) v = static_cast<float>(r.normal());
    x(0, 1, 0, 0) = x(0, 0, 0, 0);  // a tie: label 0, and sigmoid(0) = 0.5 is not > 0.5
    const tensor<float> target = random_labels(shape4{3, 1, 5, 6}, 2, 8);
    tensor<float> diff(shape4{3, 1, 5, 6}), roi(shape4{3, 1, 5, 6});
    for (int n = 0; n < 3; ++n)
        for (int h = 0; h < 5; ++h)
            for (int w = 0; w < 6; ++w) {
                diff(n, 0, h, w) = x(n, 1, h, w) - x(n, 0, h, w);
                roi(n, 0, h, w) = r.uniform() < 0.7 ? 1.0f : 0.0f;
            }
    const auto mc = count_per_image_multiclass(x, target);
    const auto bin = count_per_image(diff, target, prediction_kind::logits, 0.5);
    const auto mc_roi = count_per_image_multiclass(x, target, &roi);
    const auto bin_roi = count_per_image(diff, target, roi, prediction_kind::logits, 0.5);
    for (std::size_t n = 0; n < 3; ++n) {
        CHECK(mc[n].classes[1] == bin[n]);
        CHECK(mc_roi[n].classes[1] == bin_roi[n]);
        CHECK(mc_roi[n].counted == bin_roi[n].total());
    }
}

TEST_CASE("ignore_index and the region mask skip pixels; the counts stay consistent") {
    const shape4 ls{2, 1, 6, 7};
    const tensor<float> pred = random_labels(ls, 4, 11);
    tensor<float> target = random_labels(ls, 4, 12);
    const tensor<float> x = logits_for(pred, 4, 13);
    tensor<float> roi(ls, 1.0f);
    rng r(14);
    std::uint64_t kept[2] = {0, 0};
    for (int n = 0; n < 2; ++n)
        for (int h = 0; h < 6; ++h)
            for (int w = 0; w < 7; ++w) {
                const double u = r.uniform();
                if (u < 0.2) target(n, 0, h, w) = 255;
                else if (u < 0.4) roi(n, 0, h, w) = 0.5f;  // <= 0.5: outside
                else ++kept[n];
            }
    const auto c = count_per_image_multiclass(x, target, &roi, 255);
    for (int n = 0; n < 2; ++n) {
        const multiclass_confusion& m = c[static_cast<std::size_t>(n)];
        CHECK(m.counted == kept[n]);
        std::uint64_t tp = 0, fp = 0, fn = 0;
        for (const auto& k : m.classes) {
            CHECK(k.total() == m.counted);
            tp += k.tp, fp += k.fp, fn += k.fn;
        }
        CHECK(tp == m.correct);
        CHECK(fp == m.counted - m.correct);
        CHECK(fn == m.counted - m.correct);
    }
    // The skipped pixels' predictions change nothing: give them all class 3.
    tensor<float> pred2 = pred;
    for (std::size_t i = 0; i < pred2.size(); ++i)
        if (target[i] == 255 || roi[i] <= 0.5f) pred2[i] = 3;
    const auto c2 = count_per_image_multiclass(logits_for(pred2, 4, 15), target, &roi, 255);
    CHECK(c2 == c);
    // Without ignore_index 255, the value is an error naming it and its position.
    const std::string m = error_of<std::invalid_argument>([&] { (void)count_per_image_multiclass(x, target); });
    CHECK(contains(m, "count_per_image_multiclass: target value 255 at ["));
    CHECK(contains(m, "is not a class index 0..3 (nor ignore_index -100)"));
}

TEST_CASE("multiclass_evaluator: macro per class, micro, foreground mean, accuracy") {
    const shape4 ls{3, 1, 4, 4};
    const tensor<float> target = random_labels(ls, 3, 21);
    tensor<float> pred = target;
    rng r(22);
    for (auto& v : pred)
        if (r.uniform() < 0.3) v = static_cast<float>(r.below(3));
    const tensor<float> x = logits_for(pred, 3, 23);
    multiclass_evaluator ev(3);
    ev.add(x, target);
    REQUIRE(ev.images() == 3);
    const auto& imgs = ev.per_image();
    const auto pc = ev.per_class();
    const auto micro = ev.per_class_micro();
    const multiclass_confusion sum = ev.counts();
    double fg_dice = 0, fg_iou = 0, acc = 0;
    for (int k = 0; k < 3; ++k) {
        double d = 0, i = 0, p = 0, rc = 0;
        for (const auto& m : imgs) {
            const class_scores sk = m.scores(k);
            d += sk.dice, i += sk.iou, p += sk.precision, rc += sk.recall;
        }
        CHECK(pc[static_cast<std::size_t>(k)].dice == doctest::Approx(d / 3));
        CHECK(pc[static_cast<std::size_t>(k)].iou == doctest::Approx(i / 3));
        CHECK(pc[static_cast<std::size_t>(k)].precision == doctest::Approx(p / 3));
        CHECK(pc[static_cast<std::size_t>(k)].recall == doctest::Approx(rc / 3));
        CHECK(micro[static_cast<std::size_t>(k)].dice == doctest::Approx(sum.scores(k).dice));
        if (k > 0) fg_dice += d / 3 / 2, fg_iou += i / 3 / 2;
    }
    for (const auto& m : imgs) acc += m.accuracy() / 3;
    CHECK(ev.foreground().dice == doctest::Approx(fg_dice));
    CHECK(ev.foreground().iou == doctest::Approx(fg_iou));
    CHECK(ev.pixel_accuracy() == doctest::Approx(acc));
    CHECK(ev.foreground().dice < 1.0);  // the prediction has errors
    // Adding the batch image by image gives the same counts; a perfect prediction scores 1.
    multiclass_evaluator one_by_one(3);
    for (const auto& m : imgs) one_by_one.add(m);
    CHECK(one_by_one.counts() == sum);
    multiclass_evaluator perfect(3);
    perfect.add(logits_for(target, 3, 24), target);
    CHECK(perfect.foreground().dice == 1.0);
    CHECK(perfect.pixel_accuracy() == 1.0);
    // The region-mask overload counts only the pixels inside.
    tensor<float> roi(ls, 0.0f);
    roi[0] = 1;
    multiclass_evaluator inside(3);
    inside.add(x, target, roi);
    CHECK(inside.counts().counted == 1);
    ev.reset();
    CHECK(ev.images() == 0);
}

TEST_CASE("multi-class metrics: bad input gives clear errors") {
    const tensor<float> x(shape4{2, 3, 2, 2}, 0.0f);
    const tensor<float> t(shape4{2, 1, 2, 2}, 0.0f);
    auto msg = [](auto&& f) { return error_of<std::invalid_argument>(f, "(no error)"); };
    CHECK(contains(msg([] { (void)multiclass_evaluator(1); }),
                   "multiclass_evaluator: 1 classes; multi-class scores need at least 2"));
    CHECK(contains(msg([&] { multiclass_evaluator e(4); e.add(x, t); }),
                   "multiclass_evaluator: logits [2, 3, 2, 2] have 3 channels, the evaluator counts 4 classes"));
    CHECK(contains(msg([&] { (void)count_per_image_multiclass(x, tensor<float>(shape4{2, 3, 2, 2})); }),
                   "count_per_image_multiclass: target [2, 3, 2, 2] does not fit logits [2, 3, 2, 2]; give class "
                   "indices as [2, 1, 2, 2]"));
    const tensor<float> bad_roi(shape4{2, 1, 2, 3});
    CHECK(contains(msg([&] { (void)count_per_image_multiclass(x, t, &bad_roi); }),
                   "region mask [2, 1, 2, 3] does not fit logits [2, 3, 2, 2]"));
    CHECK(contains(msg([&] { (void)count_per_image_multiclass(tensor<float>{}, tensor<float>{}); }), "empty batch"));
    for (float v : {3.0f, -1.0f, 0.5f}) {
        tensor<float> tb = t;
        tb[5] = v;
        const std::string m = msg([&] { (void)count_per_image_multiclass(x, tb); });
        INFO(m);
        CHECK(contains(m, "at [1, 0, 0, 1] is not a class index 0..2"));
    }
    CHECK(contains(error_of<std::logic_error>([] { (void)multiclass_evaluator(3).foreground(); }),
                   "multiclass_evaluator::per_class: no images added yet"));
    multiclass_evaluator e(3);
    CHECK(contains(msg([&] { e.add(multiclass_confusion(2)); }), "counts of 2 classes added to an evaluator of 3"));
}

TEST_CASE("count_per_image_labels: the counts of logits from their argmax labels, with the same rules") {
    rng r(21);
    tensor<float> logits(shape4{2, 4, 5, 6}), target(shape4{2, 1, 5, 6}), roi(shape4{2, 1, 5, 6});
    for (auto& v : logits) v = static_cast<float>(r.normal());
    for (auto& v : target) v = static_cast<float>(static_cast<int>(r.uniform() * 4));
    for (auto& v : roi) v = r.uniform() < 0.8 ? 1.0f : 0.0f;
    target[3] = -100.0f;  // ignored in both
    const tensor<float> pred = argmax_labels(logits);
    CHECK(count_per_image_labels(pred, target, 4) == count_per_image_multiclass(logits, target));
    CHECK(count_per_image_labels(pred, target, 4, &roi) == count_per_image_multiclass(logits, target, &roi));
    tensor<float> bad = pred;
    bad[7] = 4.0f;
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)count_per_image_labels(bad, target, 4); }),
                   "count_per_image_labels: predicted value 4 at [0, 0, 1, 1] is not a class index 0..3"));
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)count_per_image_labels(logits, target, 4); }),
                   "predicted labels [2, 4, 5, 6] are not class indices [N, 1, H, W]"));
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)count_per_image_labels(pred, target, 1); }), "at least 2"));
}
