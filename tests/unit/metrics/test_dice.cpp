// Tests for unetpp/metrics/dice.hpp on hand-computed cases.

#include <doctest/doctest.h>

#include <unetpp/metrics/dice.hpp>

#include <stdexcept>
#include <vector>

namespace m = unetpp::metrics;

TEST_CASE("dice and IoU of small hand-computed masks") {
    // Prediction (probabilities) binarised at 0.5: P = {0, 1, 2}; target T = {1, 2, 3, 4}.
    const std::vector<float> p = {0.9f, 0.6f, 0.51f, 0.5f, 0.1f, 0.0f};
    const std::vector<float> t = {0, 1, 1, 1, 1, 0};
    // |P n T| = 2, |P| = 3, |T| = 4: Dice = 4 / 7, IoU = 2 / 5.
    CHECK(m::dice(p.data(), t.data(), p.size()) == doctest::Approx(4.0 / 7.0));
    CHECK(m::iou(p.data(), t.data(), p.size()) == doctest::Approx(2.0 / 5.0));
    // Threshold 0.05 adds pixels 3 and 4: P = {0..4}, |P n T| = 4: Dice = 8 / 9, IoU = 4 / 5.
    CHECK(m::dice(p.data(), t.data(), p.size(), 0.05f) == doctest::Approx(8.0 / 9.0));
    CHECK(m::iou(p.data(), t.data(), p.size(), 0.05f) == doctest::Approx(4.0 / 5.0));
    // Identical masks score 1.
    CHECK(m::dice(t.data(), t.data(), t.size()) == 1.0);
    CHECK(m::iou(t.data(), t.data(), t.size()) == 1.0);
}

TEST_CASE("empty masks: both empty = 1, one empty = 0") {
    const std::vector<float> zero(5, 0.0f), one = {0, 0, 1, 0, 0};
    CHECK(m::dice(zero.data(), zero.data(), 5) == 1.0);
    CHECK(m::iou(zero.data(), zero.data(), 5) == 1.0);
    CHECK(m::dice(zero.data(), one.data(), 5) == 0.0);
    CHECK(m::dice(one.data(), zero.data(), 5) == 0.0);
    CHECK(m::iou(one.data(), zero.data(), 5) == 0.0);
    CHECK(m::dice(nullptr, nullptr, 0) == 1.0);
}

TEST_CASE("batch versions average per-image scores") {
    // Image 0: Dice 4/7, IoU 2/5 (as above, 6 pixels); image 1: both empty, 1 and 1.
    unetpp::tensor<float> p(unetpp::shape4{2, 1, 2, 3}, {0.9f, 0.6f, 0.51f, 0.5f, 0.1f, 0.0f, 0, 0, 0, 0, 0, 0});
    unetpp::tensor<float> t(unetpp::shape4{2, 1, 2, 3}, {0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0});
    CHECK(m::mean_dice(p, t) == doctest::Approx((4.0 / 7.0 + 1.0) / 2));
    CHECK(m::mean_iou(p, t) == doctest::Approx((2.0 / 5.0 + 1.0) / 2));
    unetpp::tensor<float> other(unetpp::shape4{1, 1, 2, 3});
    CHECK_THROWS_AS((void)m::mean_dice(p, other), std::invalid_argument);
}
