// Multi-class soft Dice over a softmax (losses::softmax_dice) and Dice + cross-entropy
// (losses::dice_ce): hand-computed values on tiny inputs, the per-image / per-batch pooling,
// ignore_index, pixel weights, finite-difference gradients in double, and input errors.

#include <doctest/doctest.h>

#include <unetpp/losses.hpp>
#include <unetpp/tensor/rng.hpp>

#include "../../support/gradcheck.hpp"

#include "../../support/error_of.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace unetpp;
using namespace unetpp::losses;
using unetpp::test::contains;
using unetpp::test::error_of;

namespace {

tensor<double> random_logits(shape4 s, std::uint64_t seed, double scale = 2.0) {
    rng r(seed);
    tensor<double> t(s);
    for (auto& v : t) v = r.normal() * scale;
    return t;
}

tensor<double> random_indices(shape4 s, int classes, std::uint64_t seed) {
    rng r(seed);
    tensor<double> t(s);
    for (auto& v : t) v = static_cast<double>(r.below(static_cast<std::uint64_t>(classes)));
    return t;
}

/// One-hot [N, C, H, W] of index targets [N, 1, H, W].
tensor<double> one_hot(const tensor<double>& idx, int classes) {
    const shape4 s = idx.shape();
    tensor<double> out(shape4{s.n, classes, s.h, s.w}, 0.0);
    for (int n = 0; n < s.n; ++n)
        for (int h = 0; h < s.h; ++h)
            for (int w = 0; w < s.w; ++w) out(n, static_cast<int>(idx(n, 0, h, w)), h, w) = 1.0;
    return out;
}

template <class L>
void check_gradient(const L& loss, const tensor<double>& x, const tensor<double>& t, const std::string& what) {
    unetpp::test::check_loss_gradient([&](const tensor<double>& xx, tensor<double>* g) { return loss(xx, t, g); }, x,
                                      what);
}

template <class L>
void check_gradient(const L& loss, const tensor<double>& x, const tensor<double>& t, const tensor<double>& w,
                    const std::string& what) {
    unetpp::test::check_loss_gradient([&](const tensor<double>& xx, tensor<double>* g) { return loss(xx, t, w, g); },
                                      x, what);
}

/// Image n of a batch, as a batch of one.
tensor<double> image(const tensor<double>& t, int n) {
    const shape4 s = t.shape();
    tensor<double> out(shape4{1, s.c, s.h, s.w});
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = t[static_cast<std::size_t>(n) * s.sample_size() + i];
    return out;
}

/// The images of a batch side by side along the width, as one image.
tensor<double> side_by_side(const tensor<double>& t) {
    const shape4 s = t.shape();
    tensor<double> out(shape4{1, s.c, s.h, s.n * s.w});
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int h = 0; h < s.h; ++h)
                for (int w = 0; w < s.w; ++w) out(0, c, h, n * s.w + w) = t(n, c, h, w);
    return out;
}

}  // namespace

TEST_CASE("softmax_dice and dice_ce satisfy the loss contracts") {
    static_assert(WeightedLoss<softmax_dice> && WeightedLoss<softmax_dice, double>);
    static_assert(WeightedLoss<dice_ce> && WeightedLoss<dice_ce, double>);
    CHECK(std::string(softmax_dice::name) == "softmax_dice");
    CHECK(std::string(dice_ce::name) == "dice_ce");
}

TEST_CASE("softmax_dice: hand-computed values on two pixels and three classes") {
    // Logits log 1, log 2, log 3 give softmax 1/6, 2/6, 3/6 at both pixels; targets 0 and 2.
    const shape4 s{1, 3, 1, 2};
    const tensor<double> x(s, {0, 0, std::log(2.0), std::log(2.0), std::log(3.0), std::log(3.0)});
    const tensor<double> idx(shape4{1, 1, 1, 2}, {0, 2});
    // smooth 0: class 0: I = 1/6, P = 2/6, G = 1 -> D = (2/6) / (8/6) = 1/4; class 1: I = 0 -> D = 0;
    // class 2: I = 3/6, P = 1, G = 1 -> D = 1/2. Loss 1 - (1/4 + 0 + 1/2) / 3 = 3/4.
    CHECK(softmax_dice{.smooth = 0}(x, idx) == doctest::Approx(0.75).epsilon(1e-12));
    // smooth 1: D = (1/3 + 1) / (4/3 + 1) = 4/7, 1 / (2/3 + 1) = 3/5, (1 + 1) / (2 + 1) = 2/3.
    CHECK(softmax_dice{.smooth = 1}(x, idx) == doctest::Approx(1 - (4.0 / 7 + 3.0 / 5 + 2.0 / 3) / 3).epsilon(1e-12));
    // Without the background class: 1 - (3/5 + 2/3) / 2.
    CHECK(softmax_dice{.include_background = false, .smooth = 1}(x, idx) ==
          doctest::Approx(1 - (3.0 / 5 + 2.0 / 3) / 2).epsilon(1e-12));
    // The default smooth is MONAI's 1e-5.
    const double e = 1e-5;
    const double d0 = (1.0 / 3 + e) / (4.0 / 3 + e), d1 = e / (2.0 / 3 + e), d2 = (1 + e) / (2 + e);
    CHECK(softmax_dice{}(x, idx) == doctest::Approx(1 - (d0 + d1 + d2) / 3).epsilon(1e-12));
    // One-hot targets give the same value and gradient as index targets.
    tensor<double> gi, go;
    const double li = softmax_dice{}(x, idx, &gi), lo = softmax_dice{}(x, one_hot(idx, 3), &go);
    CHECK(lo == doctest::Approx(li).epsilon(1e-14));
    for (std::size_t i = 0; i < gi.size(); ++i) CHECK(go[i] == doctest::Approx(gi[i]).epsilon(1e-12));
    // A perfect, confident prediction has loss near 0, the opposite one near 1.
    const tensor<double> good(s, {40, 0, 0, 0, 0, 40}), bad(s, {0, 40, 40, 0, 0, 0});
    CHECK(softmax_dice{}(good, idx) == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(softmax_dice{.include_background = false}(bad, idx) > 0.99);
}

TEST_CASE("softmax_dice: per image is the mean of single images, per batch pools the pixels") {
    const shape4 s{3, 4, 3, 5};
    const tensor<double> x = random_logits(s, 1);
    const tensor<double> idx = random_indices(shape4{3, 1, 3, 5}, 4, 2);
    for (bool bg : {true, false}) {
        const softmax_dice per_image{.include_background = bg, .smooth = 0.5};
        double mean = 0;
        for (int n = 0; n < 3; ++n) mean += per_image(image(x, n), image(idx, n)) / 3;
        CHECK(per_image(x, idx) == doctest::Approx(mean).epsilon(1e-13));
        const softmax_dice per_batch{.include_background = bg, .smooth = 0.5, .reduction = region_reduction::per_batch};
        CHECK(per_batch(x, idx) == doctest::Approx(per_image(side_by_side(x), side_by_side(idx))).epsilon(1e-13));
        CHECK(per_batch(x, idx) != doctest::Approx(per_image(x, idx)));  // the two poolings differ here
    }
}

TEST_CASE("softmax_dice: ignore_index skips pixels entirely") {
    const shape4 s{1, 3, 1, 2};
    tensor<double> x(s, {0, 0, std::log(2.0), std::log(2.0), std::log(3.0), std::log(3.0)});
    const tensor<double> idx(shape4{1, 1, 1, 2}, {0, 255});
    // Only pixel 0 counts (smooth 0): class 0: I = 1/6, P = 1/6, G = 1 -> 2/7; classes 1 and 2: 0.
    const softmax_dice l{.smooth = 0, .ignore_index = 255};
    tensor<double> g;
    CHECK(l(x, idx, &g) == doctest::Approx(1 - 2.0 / 21).epsilon(1e-12));
    for (int k = 0; k < 3; ++k) CHECK(g(0, k, 0, 1) == 0.0);
    // The ignored pixel's logits change nothing.
    x(0, 0, 0, 1) = 7, x(0, 2, 0, 1) = -3;
    CHECK(l(x, idx) == doctest::Approx(1 - 2.0 / 21).epsilon(1e-12));
    // Every pixel ignored: loss 0 and zero gradient, for any smooth.
    const tensor<double> none(shape4{1, 1, 1, 2}, 255.0);
    for (double sm : {0.0, 1e-5, 1.0}) {
        const softmax_dice all{.smooth = sm, .ignore_index = 255};
        CHECK(all(x, none, &g) == 0.0);
        for (double v : g) CHECK(v == 0.0);
    }
    // Without ignore_index, 255 is an error that names the value and its position.
    const std::string m = error_of<std::invalid_argument>([&] { (void)softmax_dice{}(x, idx); });
    CHECK(contains(m, "softmax_dice: target value 255 at [0, 0, 0, 1] is not a class index 0..2"));
}

TEST_CASE("softmax_dice: pixel weights") {
    const shape4 s{2, 3, 2, 3};
    const tensor<double> x = random_logits(s, 5);
    const tensor<double> idx = random_indices(shape4{2, 1, 2, 3}, 3, 6);
    for (const softmax_dice l : {softmax_dice{}, softmax_dice{.include_background = false, .smooth = 0.3},
                                 softmax_dice{.reduction = region_reduction::per_batch}}) {
        // All weights 1 (or any one constant: Dice is a ratio of weighted sums) is the unweighted loss.
        CHECK(l(x, idx, tensor<double>(shape4{2, 1, 2, 3}, 1.0)) == doctest::Approx(l(x, idx)).epsilon(1e-14));
        // Weight 0 is ignore_index; weight 2 counts a pixel twice (the image with it duplicated).
        tensor<double> w(shape4{2, 1, 2, 3}, 1.0), ignored = idx;
        w(0, 0, 1, 2) = 0, ignored(0, 0, 1, 2) = -100;
        w(1, 0, 0, 0) = 2;
        tensor<double> gw, gi;
        const double lw = l(x, idx, w, &gw);
        // duplicate pixel (1, 0, 0) of image 1 into a fourth column of both images (weight 0 in image 0)
        const shape4 wide{2, 3, 2, 4};
        tensor<double> xd(wide), td(shape4{2, 1, 2, 4});
        for (int n = 0; n < 2; ++n)
            for (int h = 0; h < 2; ++h)
                for (int c = 0; c < 4; ++c) {
                    const int sc = c < 3 ? c : 0, sh = c < 3 ? h : 0;
                    for (int k = 0; k < 3; ++k) xd(n, k, h, c) = x(n, k, sh, sc);
                    td(n, 0, h, c) = c < 3 ? ignored(n, 0, h, c) : (n == 1 && h == 0 ? idx(1, 0, 0, 0) : -100);
                }
        CHECK(lw == doctest::Approx(l(xd, td)).epsilon(1e-13));
        (void)l(x, ignored, &gi);
        for (int k = 0; k < 3; ++k) CHECK(gw(0, k, 1, 2) == 0.0);
        // per image, image 0's gradient is that of the same pixel ignored (image 1 pools apart)
        if (l.reduction == region_reduction::per_image)
            for (std::size_t i = 0; i < s.sample_size(); ++i) CHECK(gw[i] == doctest::Approx(gi[i]).epsilon(1e-12));
        // All weights 0: loss 0 and zero gradient.
        CHECK(l(x, idx, tensor<double>(shape4{2, 1, 2, 3}, 0.0), &gw) == 0.0);
        for (double v : gw) CHECK(v == 0.0);
    }
}

TEST_CASE("finite-difference gradients of softmax_dice and dice_ce (double)") {
    const shape4 s{2, 4, 3, 3};
    const tensor<double> x = random_logits(s, 21);
    tensor<double> idx = random_indices(shape4{2, 1, 3, 3}, 4, 22);
    idx[3] = -100;  // ignored
    idx[12] = -100;
    check_gradient(softmax_dice{}, x, idx, "dice indices");
    check_gradient(softmax_dice{.include_background = false, .smooth = 0.1}, x, idx, "dice without background");
    check_gradient(softmax_dice{.smooth = 0, .reduction = region_reduction::per_batch}, x, idx, "dice per batch");
    // a class absent from an image's target
    tensor<double> few = idx;
    for (auto& v : few)
        if (v == 3) v = 1;
    check_gradient(softmax_dice{}, x, few, "dice with an absent class");
    // soft targets [N, C, H, W]
    rng r(23);
    tensor<double> soft(s);
    for (int n = 0; n < 2; ++n)
        for (int h = 0; h < 3; ++h)
            for (int w = 0; w < 3; ++w) {
                double z = 0;
                for (int c = 0; c < 4; ++c) z += (soft(n, c, h, w) = r.uniform());
                for (int c = 0; c < 4; ++c) soft(n, c, h, w) /= z;
            }
    check_gradient(softmax_dice{}, x, soft, "dice soft targets");
    check_gradient(softmax_dice{.include_background = false, .reduction = region_reduction::per_batch}, x, soft,
                   "dice soft targets per batch without background");
    tensor<double> w(shape4{2, 1, 3, 3});
    for (auto& v : w) v = r.uniform() < 0.2 ? 0.0 : 2 * r.uniform();
    check_gradient(softmax_dice{}, x, idx, w, "dice weighted");
    check_gradient(softmax_dice{.include_background = false, .reduction = region_reduction::per_batch}, x, soft, w,
                   "dice weighted soft per batch");
    check_gradient(dice_ce{}, x, idx, "dice_ce");
    check_gradient(dice_ce{.dice_weight = 0.3, .ce_weight = 2, .include_background = false,
                           .class_weights = {1, 2, 0.5, 3}},
                   x, idx, w, "dice_ce weighted");
}

TEST_CASE("dice_ce is the weighted sum of softmax_dice and cross_entropy") {
    const shape4 s{2, 3, 4, 4};
    const tensor<double> x = random_logits(s, 31);
    tensor<double> idx = random_indices(shape4{2, 1, 4, 4}, 3, 32);
    idx[5] = 255;
    tensor<double> w(shape4{2, 1, 4, 4}, 1.0);
    w[7] = 0, w[9] = 0.5;
    const dice_ce l{.dice_weight = 0.4, .ce_weight = 1.5, .include_background = false, .ignore_index = 255,
                    .class_weights = {1, 2, 3}};
    const softmax_dice d{.include_background = false, .ignore_index = 255};
    const cross_entropy ce{.class_weights = {1, 2, 3}, .ignore_index = 255};
    tensor<double> g, gd, gc;
    CHECK(l(x, idx, &g) == doctest::Approx(0.4 * d(x, idx, &gd) + 1.5 * ce(x, idx, &gc)).epsilon(1e-14));
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(0.4 * gd[i] + 1.5 * gc[i]).epsilon(1e-12));
    CHECK(l(x, idx, w, &g) == doctest::Approx(0.4 * d(x, idx, w, &gd) + 1.5 * ce(x, idx, w, &gc)).epsilon(1e-14));
    for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(0.4 * gd[i] + 1.5 * gc[i]).epsilon(1e-12));
    // Defaults: the plain sum.
    CHECK(dice_ce{}(x, one_hot(random_indices(shape4{2, 1, 4, 4}, 3, 33), 3)) ==
          doctest::Approx(softmax_dice{}(x, one_hot(random_indices(shape4{2, 1, 4, 4}, 3, 33), 3)) +
                          cross_entropy{}(x, one_hot(random_indices(shape4{2, 1, 4, 4}, 3, 33), 3)))
              .epsilon(1e-14));
}

TEST_CASE("softmax_dice in float matches double, and stays finite at extreme logits") {
    const shape4 s{2, 3, 4, 4};
    tensor<double> x = random_logits(s, 41, 3.0);
    x[0] = 80, x[1] = -80, x[20] = 300;
    const tensor<double> idx = random_indices(shape4{2, 1, 4, 4}, 3, 42);
    tensor<float> xf(s), tf(idx.shape());
    for (std::size_t i = 0; i < x.size(); ++i) xf[i] = static_cast<float>(x[i]);
    for (std::size_t i = 0; i < idx.size(); ++i) tf[i] = static_cast<float>(idx[i]);
    for (const softmax_dice l : {softmax_dice{}, softmax_dice{.smooth = 0}}) {
        tensor<double> gd;
        tensor<float> gf;
        const double ld = l(x, idx, &gd);
        const float lf = l(xf, tf, &gf);
        CHECK(std::isfinite(lf));
        CHECK(lf == doctest::Approx(ld).epsilon(1e-6));
        for (std::size_t i = 0; i < gf.size(); ++i) {
            CHECK(std::isfinite(gf[i]));
            CHECK(gf[i] == doctest::Approx(gd[i]).epsilon(1e-5).scale(1e-3));
        }
    }
}

TEST_CASE("softmax_dice and dice_ce: bad input gives clear errors") {
    const tensor<double> x = random_logits(shape4{2, 3, 2, 2}, 51);
    const tensor<double> idx = random_indices(shape4{2, 1, 2, 2}, 3, 52);
    auto msg = [](auto&& f) { return error_of<std::invalid_argument>(f, "(no error)"); };
    CHECK(contains(msg([&] { (void)softmax_dice{}(random_logits(shape4{2, 1, 2, 2}, 1), idx); }),
                   "softmax_dice: logits [2, 1, 2, 2] have one channel; a softmax over classes needs C >= 2"));
    CHECK(contains(msg([&] { (void)softmax_dice{}(x, tensor<double>(shape4{2, 2, 2, 2}, 0.0)); }),
                   "softmax_dice: target [2, 2, 2, 2] does not fit logits [2, 3, 2, 2]; give class indices as "
                   "[N, 1, H, W] or one-hot / probabilities as [N, C, H, W]"));
    CHECK(contains(msg([&] { (void)softmax_dice{}(x, tensor<double>(shape4{2, 1, 2, 3}, 0.0)); }),
                   "does not fit logits"));
    CHECK(contains(msg([&] { (void)softmax_dice{}(tensor<double>{}, tensor<double>{}); }), "empty batch"));
    for (double bad : {3.0, -1.0, 1.5}) {
        tensor<double> t = idx;
        t[6] = bad;
        const std::string m = msg([&] { (void)softmax_dice{}(x, t); });
        INFO(m);
        CHECK(contains(m, "at [1, 0, 1, 0] is not a class index 0..2 (nor ignore_index -100)"));
    }
    tensor<double> t2 = one_hot(idx, 3);
    t2[4] = 1.5;
    CHECK(contains(msg([&] { (void)softmax_dice{}(x, t2); }), "target value 1.5 at [0, 1, 0, 0] is outside [0, 1]"));
    CHECK(contains(msg([&] { (void)softmax_dice{.smooth = -1}(x, idx); }), "smooth -1 must be finite and >= 0"));
    CHECK(contains(msg([&] { (void)softmax_dice{}(x, idx, tensor<double>(shape4{2, 3, 2, 2}, 1.0)); }),
                   "softmax_dice: weights [2, 3, 2, 2] do not fit logits [2, 3, 2, 2]; give one weight per pixel as "
                   "[N, 1, H, W]"));
    tensor<double> w(shape4{2, 1, 2, 2}, 1.0);
    w[2] = -0.5;
    CHECK(contains(msg([&] { (void)softmax_dice{}(x, idx, w); }),
                   "weight -0.5 at [0, 0, 1, 0] must be finite and >= 0"));
    tensor<double> nan_x = x;
    nan_x[5] = std::numeric_limits<double>::quiet_NaN();
    CHECK(contains(error_of<std::runtime_error>([&] { (void)softmax_dice{}(nan_x, idx); }),
                   "softmax_dice: logits hold nan"));
    CHECK(contains(msg([&] { (void)dice_ce{.ce_weight = std::numeric_limits<double>::infinity()}(x, idx); }),
                   "dice_ce: dice_weight 1 and ce_weight inf must be finite"));
    CHECK(contains(msg([&] { (void)dice_ce{.class_weights = {1, 2}}(x, idx); }), "2 class weights for 3 classes"));
    tensor<double> t3 = idx;
    t3[0] = 255;
    CHECK(contains(msg([&] { (void)dice_ce{}(x, t3); }), "softmax_dice: target value 255 at [0, 0, 0, 0]"));
    CHECK(msg([&] { (void)dice_ce{.ignore_index = 255}(x, t3); }) == "(no error)");
}
