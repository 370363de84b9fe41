// Unit tests for the region (ignore) masks of unetpp/metrics: confusion counts, per-image counts
// and the Hausdorff distance count only pixels inside the region, on hand-computed cases, and
// equal the metrics of the pixels inside the region taken on their own.

#include <doctest/doctest.h>

#include <unetpp/metrics.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

using namespace unetpp;
using namespace unetpp::metrics;

namespace {
tensor<float> image(int h, int w, const std::vector<float>& v) {
    tensor<float> t(shape4{1, 1, h, w});
    REQUIRE(v.size() == t.size());
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = v[i];
    return t;
}
}  // namespace

TEST_CASE("confusion counts inside a region mask, by hand") {
    // pixel:      0    1    2    3    4    5
    // prediction  1    1    0    0    1    0
    // target      1    0    1    0    0    0
    // region      1    0    1    1    1    0   -> counted: 0 (TP), 2 (FN), 3 (TN), 4 (FP)
    const std::vector<float> p = {0.9f, 0.8f, 0.1f, 0.2f, 0.7f, 0.3f}, t = {1, 0, 1, 0, 0, 0}, roi = {1, 0, 1, 1, 1, 0};
    const auto c = count_pixels(p.data(), t.data(), p.size(), prediction_kind::probabilities, 0.5, roi.data());
    CHECK(c == binary_confusion{1, 1, 1, 1});
    const auto all = count_pixels(p.data(), t.data(), p.size());
    CHECK(all == binary_confusion{1, 2, 1, 2});
    // a region with no pixel counts nothing
    const std::vector<float> none(6, 0.0f);
    CHECK(count_pixels(p.data(), t.data(), p.size(), prediction_kind::probabilities, 0.5, none.data()).total() == 0);
}

TEST_CASE("per-image counts with a region equal the counts of the pixels inside it") {
    std::mt19937 rng(4);
    tensor<float> p(shape4{3, 1, 8, 6}), t(p.shape()), roi(p.shape());
    for (std::size_t i = 0; i < p.size(); ++i) {
        p[i] = static_cast<float>(rng() % 100) / 100.0f;
        t[i] = static_cast<float>(rng() % 2);
        roi[i] = static_cast<float>(rng() % 3 != 0);
    }
    const auto per = count_per_image(p, t, roi, prediction_kind::probabilities, 0.5);
    REQUIRE(per.size() == 3);
    const std::size_t n = p.shape().sample_size();
    for (int k = 0; k < 3; ++k) {
        std::vector<float> pi, ti;  // the pixels inside the region, on their own
        for (std::size_t i = 0; i < n; ++i)
            if (roi[k * n + i] > 0.5f) pi.push_back(p[k * n + i]), ti.push_back(t[k * n + i]);
        CHECK(per[static_cast<std::size_t>(k)] == count_pixels(pi.data(), ti.data(), pi.size()));
    }
    tensor<float> wrong(shape4{3, 1, 6, 8});
    CHECK_THROWS_AS((void)count_per_image(p, t, wrong, prediction_kind::probabilities), std::invalid_argument);
}

TEST_CASE("HD95 inside a region ignores a false positive outside it") {
    // truth: a 2x2 square at rows 1-2, cols 1-2 of a 6x8 image; prediction: the same square and
    // a stray pixel at (5, 7), 5 rows and 5 columns from the square.
    std::vector<float> truth(48, 0.0f), pred(48, 0.0f), roi(48, 1.0f);
    for (int y : {1, 2})
        for (int x : {1, 2}) truth[y * 8 + x] = pred[y * 8 + x] = 1.0f;
    pred[5 * 8 + 7] = 1.0f;
    const auto a = image(6, 8, pred), b = image(6, 8, truth);
    // whole image: boundary distances {0 x 8 (square to square), sqrt(3^2 + 5^2) (stray to (2, 2))};
    // percentile 95 of 9 values sits at position 7.6: 0.6 of the way from 0 to sqrt(34)
    CHECK(hausdorff95(a, b) == doctest::Approx(0.6 * std::sqrt(34.0)));
    // the region leaves out the last column: the stray pixel is ignored
    for (int y = 0; y < 6; ++y) roi[y * 8 + 7] = 0.0f;
    hausdorff_options o;
    CHECK(hausdorff_distance_in(a, b, image(6, 8, roi), o) == 0.0);
    // a region without the truth's square: the prediction's stray pixel is left, the truth empty
    std::vector<float> right(48, 0.0f);
    for (int y = 0; y < 6; ++y)
        for (int x = 4; x < 8; ++x) right[y * 8 + x] = 1.0f;
    CHECK(std::isinf(hausdorff_distance_in(a, b, image(6, 8, right), o)));
    CHECK_THROWS_AS((void)hausdorff_distance_in(a, b, image(8, 6, roi), o), std::invalid_argument);
}
