// Unit tests for unetpp/losses: hand-computed values, finite-difference gradient checks in
// double for every loss, numerical stability at extreme logits, and input errors.

#include <doctest/doctest.h>

#include <unetpp/losses.hpp>
#include <unetpp/tensor/rng.hpp>

#include "../../support/gradcheck.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace unetpp;
using namespace unetpp::losses;

namespace {

const double ln2 = std::log(2.0);

tensor<double> random_normal(shape4 s, std::uint64_t seed, double scale = 1.5) {
    rng r(seed);
    tensor<double> t(s);
    for (auto& v : t) v = r.normal() * scale;
    return t;
}
/// Binary (0/1) or soft (uniform in [0, 1]) targets.
tensor<double> random_target(shape4 s, std::uint64_t seed, bool soft) {
    rng r(seed);
    tensor<double> t(s);
    for (auto& v : t) v = soft ? r.uniform() : (r.uniform() < 0.35 ? 1.0 : 0.0);
    return t;
}

/// The loss's gradient with respect to x against central differences (tests/support/gradcheck.hpp).
template <class L>
void check_gradient(const L& loss, const tensor<double>& x, const tensor<double>& t, const std::string& what) {
    unetpp::test::check_loss_gradient([&](const tensor<double>& xx, tensor<double>* g) { return loss(xx, t, g); }, x,
                                      what);
}

template <class L>
void check_gradient_binary(const L& loss, const std::string& what, shape4 s = {2, 1, 3, 4}) {
    for (bool soft : {false, true})
        check_gradient(loss, random_normal(s, 11), random_target(s, 12, soft), what + (soft ? " (soft)" : " (0/1)"));
}

}  // namespace

TEST_CASE("every loss satisfies the Loss concept") {
    static_assert(Loss<bce> && Loss<bce_with_logits> && Loss<weighted_bce> && Loss<balanced_bce>);
    static_assert(Loss<cross_entropy, double> && Loss<mae, double> && Loss<dice_loss, double>);
    static_assert(Loss<iou_loss> && Loss<tversky_loss> && Loss<dice_bce> && Loss<focal_loss>);
    static_assert(Loss<weighted_sum<dice_loss, bce_with_logits>, double>);
    static_assert(!Loss<int>);
}

TEST_CASE("hand-computed values at logits 0 (p = 0.5)") {
    const shape4 s{1, 1, 2, 2};
    const tensor<double> x(s, 0.0);
    const tensor<double> t(s, {1, 0, 1, 0});
    // BCE: every pixel costs -log 0.5 = log 2.
    CHECK(bce_with_logits{}(x, t) == doctest::Approx(ln2));
    // pos_weight 3: positives cost 3 log 2, negatives log 2; mean = (3 + 1 + 3 + 1) log 2 / 4 = 2 log 2.
    CHECK(weighted_bce{3.0}(x, t) == doctest::Approx(2 * ln2));
    // MAE: |0.5 - t| = 0.5 everywhere.
    CHECK(mae{}(x, t) == doctest::Approx(0.5));
    // Dice: TP = 0.5 + 0.5 = 1, SP = 2, ST = 2: 1 - (2 + 1) / (2 + 2 + 1) = 0.4.
    CHECK(dice_loss{}(x, t) == doctest::Approx(0.4));
    // IoU: U = 2 + 2 - 1 = 3: 1 - (1 + 1) / (3 + 1) = 0.5.
    CHECK(iou_loss{}(x, t) == doctest::Approx(0.5));
    // Dice + BCE = log 2 + 0.4; weighted sum 0.5 / 0.5 = (0.4 + log 2) / 2.
    CHECK(dice_bce{}(x, t) == doctest::Approx(ln2 + 0.4));
    weighted_sum ws{term{0.5, dice_loss{}}, term{0.5, bce_with_logits{}}};
    const auto parts = ws.parts(x, t);
    CHECK(parts.total == doctest::Approx((0.4 + ln2) / 2));
    CHECK(parts.values[0] == doctest::Approx(0.4));
    CHECK(parts.values[1] == doctest::Approx(ln2));
    // Focal (alpha 0.8, gamma 2): p_t = 0.5 everywhere; positives 0.8 * 0.25 * log 2,
    // negatives 0.2 * 0.25 * log 2; mean = (0.2 + 0.05) log 2 / 2 = 0.125 log 2.
    CHECK(focal_loss{}(x, t) == doctest::Approx(0.125 * ln2));
    // Focal without class weight (alpha < 0): 0.25 log 2.
    CHECK(focal_loss{.alpha = -1}(x, t) == doctest::Approx(0.25 * ln2));
    // Focal on the mean BCE: B = log 2, 0.8 (1 - e^-B)^2 B = 0.8 * 0.25 * log 2 = 0.2 log 2.
    CHECK(focal_loss{.form = focal_form::on_mean_bce}(x, t) == doctest::Approx(0.2 * ln2));
    // gamma 0 and alpha -1: plain BCE.
    CHECK(focal_loss{.alpha = -1, .gamma = 0}(x, t) == doctest::Approx(ln2));
}

TEST_CASE("Tversky: alpha weighs false positives, beta false negatives") {
    const shape4 s{1, 1, 1, 4};
    const tensor<double> x(s, 0.0);
    const tensor<double> t(s, {1, 0, 0, 0});
    // p = 0.5: TP = 0.5, FP = 1.5, FN = 0.5.
    // alpha 0.3, beta 0.7: D = 0.5 + 0.45 + 0.35 + 1 = 2.3, loss = 1 - 1.5 / 2.3 = 0.8 / 2.3.
    CHECK(tversky_loss{}(x, t) == doctest::Approx(0.8 / 2.3));
    // Swapped: D = 0.5 + 1.05 + 0.15 + 1 = 2.7, loss = 1.2 / 2.7.
    CHECK(tversky_loss{.alpha = 0.7, .beta = 0.3}(x, t) == doctest::Approx(1.2 / 2.7));
    // alpha = beta = 0.5 is the Dice loss, the smoothing halved:
    // (TP + s/2) / (TP + (FP + FN)/2 + s/2) = (2 TP + s) / (SP + ST + s).
    // Dice: 1 - (2 * 0.5 + 1) / (2 + 1 + 1) = 0.5; Tversky with s = 0.5: 1 - 1 / 2 = 0.5.
    CHECK(tversky_loss{.alpha = 0.5, .beta = 0.5, .smooth = 0.5}(x, t) == doctest::Approx(dice_loss{}(x, t)));
    CHECK(dice_loss{}(x, t) == doctest::Approx(0.5));
    // With the same s = 1 they differ: Tversky 1 - 1.5 / 2.5 = 0.4.
    CHECK(tversky_loss{.alpha = 0.5, .beta = 0.5}(x, t) == doctest::Approx(0.4));
}

TEST_CASE("balanced BCE weighs classes by the batch's frequencies") {
    const shape4 s{1, 1, 1, 4};
    const tensor<double> x(s, 0.0);
    const tensor<double> t(s, {1, 0, 0, 0});
    // beta = 1 - 1/4 = 0.75: (0.75 log 2 + 3 * 0.25 log 2) / 4 = 0.375 log 2.
    CHECK(balanced_bce{}(x, t) == doctest::Approx(0.375 * ln2));
}

TEST_CASE("BCE on probabilities: value, clamping at log = -100, finite gradient") {
    const shape4 s{1, 1, 1, 3};
    const tensor<double> p(s, {0.7, 0.1, 0.2});
    const tensor<double> t(s, {1, 0, 0});
    tensor<double> g;
    // -(log 0.7 + log 0.9 + log 0.8) / 3.
    CHECK(bce{}(p, t, &g) == doctest::Approx(-(std::log(0.7) + std::log(0.9) + std::log(0.8)) / 3));
    // dl/dp = (p - t) / (p (1 - p)) / 3: (-0.3 / 0.21) / 3.
    CHECK(g[0] == doctest::Approx(-0.3 / 0.21 / 3));
    // p = 0 with t = 1 costs 100 (log clamped at -100); gradient -1 / 1e-12 (epsilon), finite.
    const tensor<double> p0(shape4{1, 1, 1, 1}, 0.0), t1(shape4{1, 1, 1, 1}, 1.0);
    CHECK(bce{}(p0, t1, &g) == doctest::Approx(100.0));
    CHECK(g[0] == doctest::Approx(-1e12));
    CHECK_THROWS_AS((void)bce{}(tensor<double>(s, {0.5, 1.5, 0.2}), t), std::invalid_argument);
}

TEST_CASE("categorical cross-entropy: index and one-hot targets, weights, ignore_index") {
    // Two pixels, three classes; logits log 1, log 2, log 3 give softmax 1/6, 2/6, 3/6.
    const shape4 s{1, 3, 1, 2};
    const tensor<double> x(s, {0, 0, std::log(2.0), std::log(2.0), std::log(3.0), std::log(3.0)});
    const tensor<double> idx(shape4{1, 1, 1, 2}, {0, 2});
    // -log(1/6) = log 6 and -log(1/2) = log 2: mean (log 6 + log 2) / 2.
    CHECK(cross_entropy{}(x, idx) == doctest::Approx((std::log(6.0) + ln2) / 2));
    // Weights 1, 2, 3: (1 log 6 + 3 log 2) / (1 + 3).
    CHECK(cross_entropy{{1, 2, 3}}(x, idx) == doctest::Approx((std::log(6.0) + 3 * ln2) / 4));
    // Ignoring class-2 pixels leaves log 6.
    CHECK(cross_entropy{.ignore_index = 2}(x, idx) == doctest::Approx(std::log(6.0)));
    // All ignored: 0 and zero gradient.
    tensor<double> g;
    CHECK(cross_entropy{.ignore_index = 0}(x, tensor<double>(shape4{1, 1, 1, 2}, 0.0), &g) == 0.0);
    for (double v : g) CHECK(v == 0.0);
    // The same targets one-hot: identical loss without weights; with weights torch divides by
    // the pixel count: (1 log 6 + 3 log 2) / 2.
    const tensor<double> onehot(s, {1, 0, 0, 0, 0, 1});
    CHECK(cross_entropy{}(x, onehot) == doctest::Approx((std::log(6.0) + ln2) / 2));
    CHECK(cross_entropy{{1, 2, 3}}(x, onehot) == doctest::Approx((std::log(6.0) + 3 * ln2) / 2));
}

TEST_CASE("finite-difference gradients of every binary loss (double)") {
    check_gradient_binary(bce_with_logits{}, "bce_with_logits");
    check_gradient_binary(weighted_bce{2.5}, "weighted_bce");
    check_gradient_binary(balanced_bce{}, "balanced_bce");
    check_gradient_binary(mae{}, "mae");
    check_gradient_binary(dice_loss{}, "dice");
    check_gradient_binary(dice_loss{.smooth = 0.1, .reduction = region_reduction::per_image}, "dice per image");
    check_gradient_binary(iou_loss{}, "iou");
    check_gradient_binary(iou_loss{.reduction = region_reduction::per_image}, "iou per image");
    check_gradient_binary(tversky_loss{}, "tversky");
    check_gradient_binary(tversky_loss{.alpha = 0.7, .beta = 0.2, .reduction = region_reduction::per_image},
                          "tversky per image");
    check_gradient_binary(dice_bce{}, "dice_bce");
    check_gradient_binary(focal_loss{}, "focal");
    check_gradient_binary(focal_loss{.alpha = -1, .gamma = 1.5}, "focal gamma 1.5 no alpha");
    check_gradient_binary(focal_loss{.alpha = 0.25, .gamma = 0}, "focal gamma 0");
    check_gradient_binary(focal_loss{.form = focal_form::on_mean_bce}, "focal on mean bce");
    check_gradient_binary(weighted_sum{term{0.3, dice_loss{}}, term{0.7, focal_loss{}}, term{2.0, mae{}}},
                          "weighted_sum");
    // BCE on probabilities: inputs inside (0, 1), away from the clamps.
    const shape4 s{2, 1, 3, 4};
    tensor<double> p = random_normal(s, 5);
    for (auto& v : p) v = 0.05 + 0.9 * numeric::stable_sigmoid(v);
    check_gradient(bce{}, p, random_target(s, 6, true), "bce on probabilities");
}

TEST_CASE("finite-difference gradients of categorical cross-entropy (double)") {
    const shape4 s{2, 4, 3, 3};
    const tensor<double> x = random_normal(s, 21, 2.0);
    tensor<double> idx(shape4{2, 1, 3, 3});
    rng r(22);
    for (auto& v : idx) v = static_cast<double>(r.below(4));
    idx[3] = -100;  // ignored
    check_gradient(cross_entropy{}, x, idx, "ce indices");
    check_gradient(cross_entropy{{0.5, 1, 2, 4}}, x, idx, "ce indices weighted");
    tensor<double> soft(s);
    for (int n = 0; n < 2; ++n)
        for (int h = 0; h < 3; ++h)
            for (int w = 0; w < 3; ++w) {
                double z = 0;
                for (int c = 0; c < 4; ++c) z += (soft(n, c, h, w) = r.uniform());
                for (int c = 0; c < 4; ++c) soft(n, c, h, w) /= z;
            }
    check_gradient(cross_entropy{}, x, soft, "ce probabilities");
    check_gradient(cross_entropy{{0.5, 1, 2, 4}}, x, soft, "ce probabilities weighted");
}

TEST_CASE("per-image region losses are the mean of the single-image losses") {
    const shape4 s{3, 1, 4, 4};
    const auto x = random_normal(s, 31);
    const auto t = random_target(s, 32, false);
    for (int k = 0; k < 3; ++k) {
        double sum = 0;
        for (int n = 0; n < 3; ++n) {
            tensor<double> xi(shape4{1, 1, 4, 4}), ti(shape4{1, 1, 4, 4});
            for (std::size_t i = 0; i < 16; ++i) xi[i] = x[n * 16 + i], ti[i] = t[n * 16 + i];
            sum += k == 0 ? dice_loss{}(xi, ti) : k == 1 ? iou_loss{}(xi, ti) : tversky_loss{}(xi, ti);
        }
        const auto per = region_reduction::per_image;
        const double got = k == 0 ? dice_loss{.reduction = per}(x, t)
                           : k == 1 ? iou_loss{.reduction = per}(x, t)
                                    : tversky_loss{.reduction = per}(x, t);
        CHECK(got == doctest::Approx(sum / 3));
    }
}

TEST_CASE("empty target and confident empty prediction: region losses near 0") {
    const shape4 s{1, 1, 4, 4};
    const tensor<double> x(s, -40.0), t(s, 0.0);
    CHECK(dice_loss{}(x, t) == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(iou_loss{}(x, t) == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(tversky_loss{}(x, t) == doctest::Approx(0.0).epsilon(1e-12));
    // smooth = 0 would be 0/0 when the target is empty and p underflows to exactly 0.
    const tensor<double> xx(s, -800.0);
    CHECK_THROWS_AS((void)dice_loss{.smooth = 0}(xx, t), std::domain_error);
}

TEST_CASE("losses stay finite at extreme logits (float)") {
    const shape4 s{1, 1, 1, 4};
    const tensor<float> x(s, {-1000.f, -80.f, 80.f, 1000.f});
    const tensor<float> t(s, {1.f, 0.f, 1.f, 0.f});
    tensor<float> g;
    auto finite = [&](float v) {
        bool ok = std::isfinite(v);
        for (float e : g) ok = ok && std::isfinite(e);
        return ok;
    };
    CHECK(finite(bce_with_logits{}(x, t, &g)));
    // Pixels 0 and 3 are wrong by 1000: BCE = (1000 + 0 + 0 + 1000) / 4 (up to e^-80 terms).
    CHECK(bce_with_logits{}(x, t) == doctest::Approx(500.0f));
    CHECK(finite(weighted_bce{2}(x, t, &g)));
    CHECK(finite(balanced_bce{}(x, t, &g)));
    CHECK(finite(mae{}(x, t, &g)));
    CHECK(finite(dice_loss{}(x, t, &g)));
    CHECK(finite(iou_loss{}(x, t, &g)));
    CHECK(finite(tversky_loss{}(x, t, &g)));
    CHECK(finite(dice_bce{}(x, t, &g)));
    CHECK(finite(focal_loss{}(x, t, &g)));
    CHECK(finite(focal_loss{.form = focal_form::on_mean_bce}(x, t, &g)));
    const tensor<float> xc(shape4{1, 2, 1, 2}, {1000.f, -1000.f, -1000.f, 1000.f});
    CHECK(finite(cross_entropy{}(xc, tensor<float>(shape4{1, 1, 1, 2}, {1.f, 1.f}), &g)));
    CHECK(cross_entropy{}(xc, tensor<float>(shape4{1, 1, 1, 2}, {1.f, 1.f})) == doctest::Approx(1000.0f));
}

TEST_CASE("joint loss over a segmentation head and a classification head") {
    const auto seg_x = random_normal({2, 1, 4, 4}, 41);
    const auto seg_t = random_target({2, 1, 4, 4}, 42, false);
    const tensor<double> cls_x(shape4{2, 1, 1, 1}, {0.3, -1.2});
    const tensor<double> cls_t(shape4{2, 1, 1, 1}, {1, 0});
    joint_loss joint{head{"segmentation", 1.0, dice_bce{}}, head{"classification", 0.5, bce_with_logits{}}};
    tensor<double> g_seg, g_cls;
    const auto r = joint(std::array<const tensor<double>*, 2>{&seg_x, &cls_x},
                         std::array<const tensor<double>*, 2>{&seg_t, &cls_t},
                         std::array<tensor<double>*, 2>{&g_seg, &g_cls});
    const double seg = dice_bce{}(seg_x, seg_t), cls = bce_with_logits{}(cls_x, cls_t);
    CHECK(r.values[0] == doctest::Approx(seg));
    CHECK(r.values[1] == doctest::Approx(cls));
    CHECK(r.total == doctest::Approx(seg + 0.5 * cls));
    CHECK(r.names[1] == "classification");
    tensor<double> g;
    (void)bce_with_logits{}(cls_x, cls_t, &g);
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g_cls[i] == doctest::Approx(0.5 * g[i]));
    (void)dice_bce{}(seg_x, seg_t, &g);
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g_seg[i] == doctest::Approx(g[i]));
    // A failing head names itself.
    const tensor<double> bad(shape4{2, 1, 1, 1}, {1, 7});
    try {
        (void)joint(std::array<const tensor<double>*, 2>{&seg_x, &cls_x},
                    std::array<const tensor<double>*, 2>{&seg_t, &bad});
        FAIL("expected an exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("classification") != std::string::npos);
    }
    // Braced lists work for float.
    const tensor<float> fx(shape4{1, 1, 2, 2}, 0.f), ft(shape4{1, 1, 2, 2}, {1.f, 0.f, 1.f, 0.f});
    joint_loss one{head{"seg", 2.0, dice_loss{}}};
    CHECK(one({&fx}, {&ft}).total == doctest::Approx(0.8f));
}

TEST_CASE("bad input gives clear errors") {
    const tensor<float> x(shape4{1, 1, 2, 2}, 0.f), t(shape4{1, 1, 2, 2}, {0.f, 1.f, 255.f, 0.f});
    const tensor<float> other(shape4{1, 1, 2, 3}, 0.f);
    CHECK_THROWS_WITH_AS((void)dice_loss{}(x, other), doctest::Contains("differ in shape"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)bce_with_logits{}(x, t), doctest::Contains("255"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)focal_loss{}(x, t), doctest::Contains("divide 8-bit masks by 255"),
                         std::invalid_argument);
    tensor<float> nan_x = x;
    nan_x[2] = std::numeric_limits<float>::quiet_NaN();
    const tensor<float> ok_t(shape4{1, 1, 2, 2}, 0.f);
    CHECK_THROWS_WITH_AS((void)bce_with_logits{}(nan_x, ok_t), doctest::Contains("[0, 0, 1, 0]"), std::runtime_error);
    CHECK_THROWS_AS((void)tversky_loss{}(nan_x, ok_t), std::runtime_error);
    nan_x[2] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS((void)mae{}(nan_x, ok_t), doctest::Contains("inf"), std::runtime_error);
    CHECK_THROWS_AS((void)bce_with_logits{}(tensor<float>{}, tensor<float>{}), std::invalid_argument);
    CHECK_THROWS_AS((void)weighted_bce{-1}(x, ok_t), std::invalid_argument);
    CHECK_THROWS_AS((void)focal_loss{.gamma = -1}(x, ok_t), std::invalid_argument);
    CHECK_THROWS_AS((void)dice_loss{.smooth = -1}(x, ok_t), std::invalid_argument);
    // Cross-entropy: wrong class index, wrong target shape, one-channel logits, weight count.
    const tensor<float> xc(shape4{1, 3, 1, 2}, 0.f);
    CHECK_THROWS_WITH_AS((void)cross_entropy{}(xc, tensor<float>(shape4{1, 1, 1, 2}, {0.f, 3.f})),
                         doctest::Contains("target value 3"), std::invalid_argument);
    CHECK_THROWS_AS((void)cross_entropy{}(xc, tensor<float>(shape4{1, 1, 1, 2}, {0.f, 1.5f})), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)cross_entropy{}(xc, tensor<float>(shape4{1, 2, 1, 2}, 0.f)),
                         doctest::Contains("[N, 1, H, W]"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)cross_entropy{}(x, ok_t),
                         doctest::Contains("categorical cross-entropy needs C >= 2 classes (use bce_with_logits"),
                         std::invalid_argument);
    const cross_entropy two_weights{{1, 2}};
    CHECK_THROWS_AS((void)two_weights(xc, tensor<float>(shape4{1, 1, 1, 2}, 0.f)), std::invalid_argument);
}
