// Unit tests for unetpp/metrics/ranking.hpp: exact ROC-AUC and average precision on hand-computed
// cases (ties, one class only, a region mask), against a brute-force oracle (every pair for the
// AUC; every threshold scanned over all pixels for AP, as scikit-learn defines it), and the
// pooled histogram: its values stay within the error bounds it reports.

#include <doctest/doctest.h>

#include <unetpp/metrics/classification.hpp>
#include <unetpp/metrics/ranking.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

using namespace unetpp;
using namespace unetpp::metrics;

namespace {

/// Pairs of (foreground, background): 1 when the foreground pixel scores higher, 1/2 when tied.
double brute_auc(const std::vector<float>& s, const std::vector<float>& t) {
    double num = 0, pairs = 0;
    for (std::size_t i = 0; i < s.size(); ++i)
        for (std::size_t j = 0; j < s.size(); ++j)
            if (t[i] > 0.5f && !(t[j] > 0.5f)) {
                pairs += 1;
                num += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
            }
    return num / pairs;
}

/// scikit-learn's AP by its definition: every distinct score a threshold (score >= t positive),
/// sum of (recall step) x precision, each threshold counted by a scan over all pixels.
double brute_ap(const std::vector<float>& s, const std::vector<float>& t) {
    const std::set<float, std::greater<>> thresholds(s.begin(), s.end());
    double positives = 0;
    for (float v : t) positives += v > 0.5f;
    double ap = 0, last_recall = 0;
    for (const float th : thresholds) {
        double tp = 0, fp = 0;
        for (std::size_t i = 0; i < s.size(); ++i)
            if (s[i] >= th) (t[i] > 0.5f ? tp : fp) += 1;
        const double recall = tp / positives;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
    }
    return ap;
}

}  // namespace

TEST_CASE("ROC-AUC and AP of a small case, computed by hand") {
    // foreground 0.9, 0.7, 0.6; background 0.8, 0.55, 0.4.
    // AUC: 0.9 beats 3, 0.7 beats 2, 0.6 beats 2 -> 7 / 9.
    // AP: thresholds 0.9 (P 1, R 1/3), 0.7 (P 2/3, R 2/3), 0.6 (P 3/4, R 1) -> (1 + 2/3 + 3/4) / 3 = 29/36.
    const std::vector<float> s = {0.9f, 0.8f, 0.7f, 0.6f, 0.55f, 0.4f};
    const std::vector<float> t = {1, 0, 1, 1, 0, 0};
    const auto r = rank_scores(s.data(), t.data(), s.size());
    CHECK(r.positives == 3);
    CHECK(r.negatives == 3);
    CHECK(r.roc_auc == doctest::Approx(7.0 / 9.0).epsilon(1e-12));
    CHECK(r.average_precision == doctest::Approx(29.0 / 36.0).epsilon(1e-12));
}

TEST_CASE("tied scores count 1/2 in the AUC and form one threshold in AP") {
    {
        const std::vector<float> s = {0.5f, 0.5f, 0.5f, 0.5f}, t = {1, 0, 1, 0};
        const auto r = rank_scores(s.data(), t.data(), s.size());
        CHECK(r.roc_auc == doctest::Approx(0.5));
        CHECK(r.average_precision == doctest::Approx(0.5));  // one threshold: precision 1/2, recall 1
    }
    {
        // 0.8 (fg) ties 0.8 (bg): 1/2; 0.3 (fg) below 0.8 (bg): 0 -> AUC 1/4.
        // AP: threshold 0.8: P 1/2, R 1/2; threshold 0.3: P 2/3, R 1 -> 1/4 + 1/3 = 7/12.
        const std::vector<float> s = {0.8f, 0.8f, 0.3f}, t = {1, 0, 1};
        const auto r = rank_scores(s.data(), t.data(), s.size());
        CHECK(r.roc_auc == doctest::Approx(0.25));
        CHECK(r.average_precision == doctest::Approx(7.0 / 12.0));
    }
    {
        // perfect and inverted rankings
        const std::vector<float> s = {0.1f, 0.2f, 0.3f, 0.4f}, up = {0, 0, 1, 1}, down = {1, 1, 0, 0};
        CHECK(rank_scores(s.data(), up.data(), 4).roc_auc == 1.0);
        CHECK(rank_scores(s.data(), up.data(), 4).average_precision == 1.0);
        CHECK(rank_scores(s.data(), down.data(), 4).roc_auc == 0.0);
        // inverted: thresholds 0.4 (P 0), 0.3 (P 0), 0.2 (P 1/3, R 1/2), 0.1 (P 1/2, R 1) -> 1/6 + 1/4
        CHECK(rank_scores(s.data(), down.data(), 4).average_precision == doctest::Approx(5.0 / 12.0));
    }
}

TEST_CASE("one class only: AUC NaN; AP NaN without foreground, 1 without background") {
    const std::vector<float> s = {0.2f, 0.9f, 0.4f};
    const std::vector<float> none = {0, 0, 0}, all = {1, 1, 1};
    const auto a = rank_scores(s.data(), none.data(), 3);
    CHECK(std::isnan(a.roc_auc));
    CHECK(std::isnan(a.average_precision));
    CHECK(a.negatives == 3);
    const auto b = rank_scores(s.data(), all.data(), 3);
    CHECK(std::isnan(b.roc_auc));
    CHECK(b.average_precision == 1.0);
    const auto e = rank_scores<float>(nullptr, nullptr, 0);  // no pixels at all
    CHECK(std::isnan(e.roc_auc));
    CHECK(std::isnan(e.average_precision));
}

TEST_CASE("a region mask: pixels outside it are ignored entirely") {
    // Outside the region: a background pixel scoring 0.95 that would spoil the ranking.
    const std::vector<float> s = {0.9f, 0.95f, 0.7f, 0.2f}, t = {1, 0, 1, 0}, roi = {1, 0, 1, 1};
    const auto r = rank_scores(s.data(), t.data(), s.size(), roi.data());
    CHECK(r.positives == 2);
    CHECK(r.negatives == 1);
    CHECK(r.roc_auc == 1.0);
    CHECK(r.average_precision == 1.0);
    const auto all = rank_scores(s.data(), t.data(), s.size());
    CHECK(all.roc_auc == doctest::Approx(0.5));  // 0.9 and 0.7 beat 0.2, lose to 0.95
    // tensors: the same through the tensor overload; shapes must agree
    tensor<float> ts(shape4{1, 1, 2, 2}), tt(shape4{1, 1, 2, 2}), tr(shape4{1, 1, 2, 2});
    std::copy(s.begin(), s.end(), ts.data()), std::copy(t.begin(), t.end(), tt.data());
    std::copy(roi.begin(), roi.end(), tr.data());
    CHECK(rank_scores(ts, tt, &tr).roc_auc == 1.0);
    tensor<float> wrong(shape4{1, 1, 1, 4});
    CHECK_THROWS_AS((void)rank_scores(ts, tt, &wrong), std::invalid_argument);
    // a NaN score inside the region is refused; outside it is never read
    std::vector<float> bad = s;
    bad[1] = std::nanf("");
    CHECK_NOTHROW((void)rank_scores(bad.data(), t.data(), s.size(), roi.data()));
    CHECK_THROWS_AS((void)rank_scores(bad.data(), t.data(), s.size()), std::invalid_argument);
}

TEST_CASE("exact ROC-AUC and AP equal the brute-force oracle on random data with ties") {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 30; ++trial) {
        const std::size_t n = 20 + static_cast<std::size_t>(trial) * 7;
        std::vector<float> s(n), t(n);
        const int levels = trial % 3 == 0 ? 5 : 1000;  // coarse levels give many ties
        for (std::size_t i = 0; i < n; ++i) {
            t[i] = static_cast<float>(rng() % 3 == 0);
            s[i] = static_cast<float>(rng() % levels) / static_cast<float>(levels) + 0.1f * t[i];
        }
        t[0] = 1, t[1] = 0;  // both classes present
        const auto r = rank_scores(s.data(), t.data(), n);
        CHECK(r.roc_auc == doctest::Approx(brute_auc(s, t)).epsilon(1e-12));
        CHECK(r.average_precision == doctest::Approx(brute_ap(s, t)).epsilon(1e-12));
        CHECK(r.roc_auc == doctest::Approx(roc_auc(s, t)).epsilon(1e-12));  // classification.hpp's rank formula
    }
}

TEST_CASE("histogram bins are ordered like the scores and cover [0, 1]") {
    CHECK(ranking_histogram::bin_of(0.0f) == 0);
    CHECK(ranking_histogram::bin_of(-0.0f) == 0);
    CHECK(ranking_histogram::bin_of(1.0f) == ranking_histogram::bins - 1);
    CHECK(ranking_histogram::bin_of(0.5f) == ranking_histogram::half_keys);
    CHECK(ranking_histogram::bin_of(std::nextafter(0.5f, 1.0f)) == ranking_histogram::half_keys + 1);
    std::mt19937 rng(5);
    std::vector<float> v;
    for (int i = 0; i < 20000; ++i) {
        const float u = std::ldexp(static_cast<float>(rng() % 1000000) / 1e6f, -static_cast<int>(rng() % 30));
        v.push_back(rng() % 2 ? u : 1.0f - u);
    }
    std::sort(v.begin(), v.end());
    for (std::size_t i = 1; i < v.size(); ++i) REQUIRE(ranking_histogram::bin_of(v[i - 1]) <= ranking_histogram::bin_of(v[i]));
}

TEST_CASE("pooled histogram: exact when every score has its own bin, within its bounds otherwise") {
    SUBCASE("well separated scores") {
        std::vector<float> s, t;
        std::mt19937 rng(3);
        for (int k = 1; k < 1000; ++k) {
            s.push_back(static_cast<float>(k) / 1000.0f);
            t.push_back(static_cast<float>(rng() % 2));
        }
        ranking_histogram h;
        h.add(s.data(), t.data(), s.size());
        const auto exact = rank_scores(s.data(), t.data(), s.size());
        const auto pooled = h.scores();
        CHECK(pooled.positives == exact.positives);
        CHECK(pooled.roc_auc == doctest::Approx(exact.roc_auc).epsilon(1e-12));
        CHECK(pooled.average_precision == doctest::Approx(exact.average_precision).epsilon(1e-12));
        CHECK(h.roc_auc_error_bound() == 0.0);
        const auto [lo, hi] = h.average_precision_range();
        CHECK(lo == doctest::Approx(exact.average_precision).epsilon(1e-12));
        CHECK(hi == doctest::Approx(exact.average_precision).epsilon(1e-12));
    }
    SUBCASE("crowded scores near 0 and 1, several images pooled, a region mask") {
        std::mt19937 rng(9);
        ranking_histogram h, part;
        std::vector<float> all_s, all_t;
        for (int img = 0; img < 4; ++img) {
            std::vector<float> s(5000), t(5000), roi(5000);
            for (std::size_t i = 0; i < s.size(); ++i) {
                t[i] = static_cast<float>(rng() % 4 == 0);
                const float u = static_cast<float>(rng() % 100000) * 1e-9f;  // within 1e-4 of 0 or 1
                s[i] = (rng() % 10 < (t[i] > 0 ? 8u : 2u)) ? 1.0f - u : u;
                roi[i] = static_cast<float>(rng() % 5 != 0);
                if (roi[i] > 0) all_s.push_back(s[i]), all_t.push_back(t[i]);
            }
            (img % 2 ? part : h).add(s.data(), t.data(), s.size(), roi.data());
        }
        h += part;
        const auto exact = rank_scores(all_s.data(), all_t.data(), all_s.size());
        const auto pooled = h.scores();
        CHECK(pooled.positives == exact.positives);
        CHECK(pooled.negatives == exact.negatives);
        const double bound = h.roc_auc_error_bound();
        CHECK(bound > 0.0);  // 1e-9 steps share bins: the bound is not vacuous here
        CHECK(std::abs(pooled.roc_auc - exact.roc_auc) <= bound + 1e-12);
        const auto [lo, hi] = h.average_precision_range();
        CHECK(lo <= exact.average_precision + 1e-12);
        CHECK(exact.average_precision <= hi + 1e-12);
        CHECK(lo <= pooled.average_precision + 1e-12);
        CHECK(pooled.average_precision <= hi + 1e-12);
    }
    SUBCASE("scores outside [0, 1] are refused") {
        ranking_histogram h;
        const std::vector<float> s = {0.2f, 1.5f}, t = {0, 1};
        CHECK_THROWS_AS(h.add(s.data(), t.data(), 2), std::invalid_argument);
        const std::vector<float> n = {std::nanf(""), 0.5f};
        CHECK_THROWS_AS(h.add(n.data(), t.data(), 2), std::invalid_argument);
    }
    SUBCASE("one class only, as for single images") {
        ranking_histogram h;
        const std::vector<float> s = {0.2f, 0.7f}, t = {1, 1};
        h.add(s.data(), t.data(), 2);
        CHECK(std::isnan(h.scores().roc_auc));
        CHECK(h.scores().average_precision == 1.0);
        CHECK(std::isnan(h.roc_auc_error_bound()));
        ranking_histogram empty;
        CHECK(std::isnan(empty.scores().average_precision));
        CHECK(std::isnan(empty.average_precision_range().first));
    }
}
