// Unit tests for unetpp/metrics/hausdorff.hpp: the exact Euclidean distance transform against
// brute force, and Hausdorff / HD95 on shapes with known distances.

#include <doctest/doctest.h>

#include <unetpp/metrics/hausdorff.hpp>
#include <unetpp/tensor/rng.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using namespace unetpp;
using namespace unetpp::metrics;

namespace {

std::vector<char> square(int h, int w, int y0, int x0, int size) {
    std::vector<char> m(static_cast<std::size_t>(h) * w, 0);
    for (int y = y0; y < y0 + size; ++y)
        for (int x = x0; x < x0 + size; ++x) m[static_cast<std::size_t>(y) * w + x] = 1;
    return m;
}

/// Brute-force reference: pooled boundary-to-boundary distances, percentile as numpy.
double brute_hausdorff(const std::vector<char>& a, const std::vector<char>& b, int h, int w, double q) {
    const auto ba = mask_boundary(a, h, w), bb = mask_boundary(b, h, w);
    std::vector<double> d;
    auto nearest = [&](int y, int x, const std::vector<char>& to) {
        double m = std::numeric_limits<double>::infinity();
        for (int yy = 0; yy < h; ++yy)
            for (int xx = 0; xx < w; ++xx)
                if (to[static_cast<std::size_t>(yy) * w + xx]) m = std::min(m, std::hypot(yy - y, xx - x));
        return m;
    };
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            if (ba[static_cast<std::size_t>(y) * w + x]) d.push_back(nearest(y, x, bb));
            if (bb[static_cast<std::size_t>(y) * w + x]) d.push_back(nearest(y, x, ba));
        }
    std::sort(d.begin(), d.end());
    const double pos = q / 100 * static_cast<double>(d.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const auto hi = std::min(lo + 1, d.size() - 1);
    return d[lo] + (pos - static_cast<double>(lo)) * (d[hi] - d[lo]);
}

}  // namespace

TEST_CASE("distance transform is exact (brute force on random masks)") {
    rng r(3);
    const int h = 13, w = 17;
    for (int trial = 0; trial < 5; ++trial) {
        std::vector<char> f(static_cast<std::size_t>(h) * w);
        for (auto& v : f) v = r.uniform() < 0.05;
        f[static_cast<std::size_t>(trial)] = 1;
        const double sy = trial == 4 ? 2.0 : 1.0, sx = trial == 4 ? 0.5 : 1.0;
        const auto d = squared_distance_transform(f, h, w, sy, sx);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                double best = std::numeric_limits<double>::infinity();
                for (int yy = 0; yy < h; ++yy)
                    for (int xx = 0; xx < w; ++xx)
                        if (f[static_cast<std::size_t>(yy) * w + xx])
                            best = std::min(best, (sy * (yy - y)) * (sy * (yy - y)) + (sx * (xx - x)) * (sx * (xx - x)));
                CHECK(d[static_cast<std::size_t>(y) * w + x] == doctest::Approx(best));
            }
    }
    // No feature: infinite everywhere.
    const auto none = squared_distance_transform(std::vector<char>(6, 0), 2, 3);
    for (double v : none) CHECK(std::isinf(v));
}

TEST_CASE("Hausdorff of known shapes") {
    const int h = 32, w = 32;
    // Two single pixels offset by (3, 4): distance 5 in both directions, every percentile 5.
    std::vector<char> a(h * w, 0), b(h * w, 0);
    a[5 * w + 5] = 1;
    b[8 * w + 9] = 1;
    CHECK(hausdorff_distance(a, b, h, w) == doctest::Approx(5.0));
    CHECK(hausdorff_distance(a, b, h, w, {.percentile = 100}) == doctest::Approx(5.0));
    // Spacing: rows 2 mm, columns 1 mm: sqrt(6^2 + 4^2).
    CHECK(hausdorff_distance(a, b, h, w, {.percentile = 100, .spacing_y = 2.0}) == doctest::Approx(std::sqrt(52.0)));
    // Two 10 x 10 squares offset by k columns: the classical Hausdorff distance is k (A's left
    // edge is k from B's left edge, B's right edge k from A's right edge; nothing is farther).
    for (int k : {1, 3, 6}) {
        const auto sa = square(h, w, 8, 5, 10), sb = square(h, w, 8, 5 + k, 10);
        CAPTURE(k);
        CHECK(hausdorff_distance(sa, sb, h, w, {.percentile = 100}) == doctest::Approx(k));
        const double hd95 = hausdorff_distance(sa, sb, h, w);
        CHECK(hd95 == doctest::Approx(brute_hausdorff(sa, sb, h, w, 95)));
        CHECK(hd95 <= k + 1e-12);
        // Symmetric in its arguments.
        CHECK(hausdorff_distance(sb, sa, h, w) == doctest::Approx(hd95));
    }
    // Offset diagonally by (k, k): Hausdorff k sqrt 2 (corner to corner).
    const auto sa = square(h, w, 4, 4, 8), sb = square(h, w, 7, 7, 8);
    CHECK(hausdorff_distance(sa, sb, h, w, {.percentile = 100}) == doctest::Approx(3 * std::sqrt(2.0)));
    CHECK(hausdorff_distance(sa, sb, h, w, {.percentile = 50}) == doctest::Approx(brute_hausdorff(sa, sb, h, w, 50)));
    // Concentric squares 12 x 12 and 6 x 6: every boundary pixel of the inner one is 3 from the
    // outer boundary; the outer corners are 3 sqrt 2 from the inner corners.
    const auto outer = square(h, w, 10, 10, 12), inner = square(h, w, 13, 13, 6);
    CHECK(hausdorff_distance(outer, inner, h, w, {.percentile = 100}) == doctest::Approx(3 * std::sqrt(2.0)));
    // To the set instead of its boundary: inner boundary pixels lie inside outer (distance 0), so
    // the maximum comes from outer's corners to the inner square: 3 sqrt 2 still.
    CHECK(hausdorff_distance(outer, inner, h, w, {.percentile = 100, .to = surface_to::set}) ==
          doctest::Approx(3 * std::sqrt(2.0)));
    // Identical masks: 0.
    CHECK(hausdorff_distance(outer, outer, h, w) == 0.0);
}

TEST_CASE("Hausdorff empty-mask convention and tensor interface") {
    const int h = 8, w = 8;
    const std::vector<char> empty(h * w, 0), one = square(h, w, 2, 2, 3);
    CHECK(hausdorff_distance(empty, empty, h, w) == 0.0);
    CHECK(std::isinf(hausdorff_distance(empty, one, h, w)));
    CHECK(std::isinf(hausdorff_distance(one, empty, h, w)));
    // Tensors [1, 1, H, W] of probabilities, binarised at 0.5.
    tensor<float> ta(shape4{1, 1, 8, 8}, 0.f), tb(shape4{1, 1, 8, 8}, 0.f);
    ta(0, 0, 1, 1) = 0.9f;
    tb(0, 0, 4, 5) = 0.7f;
    tb(0, 0, 0, 0) = 0.4f;  // below the threshold
    CHECK(hausdorff95(ta, tb) == doctest::Approx(5.0));
    tensor<float> batch_a(shape4{2, 1, 8, 8}, 0.f), batch_b(shape4{2, 1, 8, 8}, 0.f);
    batch_a(0, 0, 1, 1) = 1, batch_b(0, 0, 1, 3) = 1;  // image 0: 2; image 1: both empty, 0
    const auto per = hausdorff_per_image(batch_a, batch_b);
    REQUIRE(per.size() == 2);
    CHECK(per[0] == doctest::Approx(2.0));
    CHECK(per[1] == 0.0);
    CHECK_THROWS_AS((void)hausdorff95(batch_a, batch_b), std::invalid_argument);
    CHECK_THROWS_AS((void)hausdorff_distance(empty, one, h, w + 1), std::invalid_argument);
}
