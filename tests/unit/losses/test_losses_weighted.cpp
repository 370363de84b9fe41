// Unit tests for the per-pixel weights (regions of interest) of every loss in unetpp/losses:
// the weighted loss equals the unweighted loss of the pixels inside the region (the slow
// reference: those pixels gathered into a tensor of their own), pixels of weight 0 neither change
// the value nor get a gradient, all-ones weights give the unweighted loss, and the gradient passes
// a finite-difference check in double with arbitrary non-negative weights.

#include <doctest/doctest.h>

#include <unetpp/losses.hpp>
#include <unetpp/tensor/rng.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "../../support/error_of.hpp"

using namespace unetpp;
using namespace unetpp::losses;

namespace {

tensor<double> random_logits(shape4 s, std::uint64_t seed, bool probabilities) {
    rng r(seed);
    tensor<double> t(s);
    for (auto& v : t) v = probabilities ? 0.05 + 0.9 * r.uniform() : r.normal() * 1.5;
    return t;
}

tensor<double> random_target(shape4 s, std::uint64_t seed) {
    rng r(seed);
    tensor<double> t(s);
    for (auto& v : t) v = r.uniform() < 0.35 ? 1.0 : 0.0;
    return t;
}

// A region of interest [N, 1, H, W]: about two thirds of the pixels inside.
tensor<double> random_roi(shape4 s, std::uint64_t seed) {
    rng r(seed);
    tensor<double> t(shape4{s.n, 1, s.h, s.w});
    for (auto& v : t) v = r.uniform() < 0.66 ? 1.0 : 0.0;
    return t;
}

// The pixels of x inside the ROI, as [1, C, 1, K] (pixel order kept; channels stay channels).
tensor<double> gather(const tensor<double>& x, const tensor<double>& roi) {
    const shape4 s = x.shape();
    int k = 0;
    for (double v : roi) k += v > 0 ? 1 : 0;
    tensor<double> out(shape4{1, s.c, 1, k});
    int j = 0;
    for (int n = 0; n < s.n; ++n)
        for (int p = 0; p < s.h * s.w; ++p) {
            if (!(roi[static_cast<std::size_t>(n * s.h * s.w + p)] > 0)) continue;
            for (int c = 0; c < s.c; ++c)
                out[static_cast<std::size_t>(c * k + j)] = x[static_cast<std::size_t>((n * s.c + c) * s.h * s.w + p)];
            ++j;
        }
    return out;
}

struct any_case {
    std::string name;
    std::function<double(const tensor<double>&, const tensor<double>&, tensor<double>*)> plain;
    std::function<double(const tensor<double>&, const tensor<double>&, const tensor<double>&, tensor<double>*)> weighted;
    bool probabilities = false;
    bool per_image = false;  // region losses per image: the gathered reference pools differently
    int channels = 1;
    bool index_target = false;
};

template <class L>
any_case make_case(std::string n, L l, bool probabilities = false, int channels = 1, bool index_target = false) {
    return {std::move(n),
            [l](const tensor<double>& x, const tensor<double>& t, tensor<double>* g) { return l(x, t, g); },
            [l](const tensor<double>& x, const tensor<double>& t, const tensor<double>& w, tensor<double>* g) {
                return l(x, t, w, g);
            },
            probabilities, false, channels, index_target};
}

std::vector<any_case> cases() {
    return {make_case("bce_with_logits", bce_with_logits{}),
            make_case("bce", bce{}, true),
            make_case("weighted_bce", weighted_bce{.pos_weight = 2.5}),
            make_case("balanced_bce", balanced_bce{}),
            make_case("mae", mae{}),
            make_case("dice", dice_loss{}),
            make_case("iou", iou_loss{}),
            make_case("tversky", tversky_loss{}),
            make_case("dice_bce", dice_bce{}),
            make_case("focal", focal_loss{}),
            make_case("focal_on_mean_bce", focal_loss{.form = focal_form::on_mean_bce}),
            make_case("weighted_sum", weighted_sum{term{0.3, dice_loss{}}, term{0.7, bce_with_logits{}}}),
            make_case("cross_entropy_index", cross_entropy{.class_weights = {1.0, 2.0, 0.5}}, false, 3, true),
            make_case("cross_entropy_dense", cross_entropy{}, false, 3, false)};
}

tensor<double> target_for(const any_case& c, shape4 s, std::uint64_t seed) {
    if (!c.index_target && c.channels == 1) return random_target(s, seed);
    rng r(seed);
    tensor<double> idx(shape4{s.n, 1, s.h, s.w});
    for (auto& v : idx) v = static_cast<double>(r.below(static_cast<std::uint64_t>(c.channels)));
    if (c.index_target) return idx;
    tensor<double> onehot(s);
    for (int n = 0; n < s.n; ++n)
        for (int p = 0; p < s.h * s.w; ++p)
            onehot[static_cast<std::size_t>((n * s.c + static_cast<int>(idx[static_cast<std::size_t>(n * s.h * s.w + p)])) *
                                            s.h * s.w + p)] = 1.0;
    return onehot;
}

}  // namespace

TEST_CASE("weighted losses equal the unweighted loss of the pixels inside the region") {
    for (const auto& c : cases()) {
        CAPTURE(c.name);
        const shape4 s{2, c.channels, 5, 6};
        const auto x = random_logits(s, 1, c.probabilities);
        const auto t = target_for(c, s, 2);
        const auto roi = random_roi(s, 3);
        tensor<double> g;
        const double w = c.weighted(x, t, roi, &g);
        const double ref = c.plain(gather(x, roi), gather(t, roi), nullptr);
        CHECK(w == doctest::Approx(ref).epsilon(1e-12));
        // outside the region: no gradient, and no effect on the value
        auto x2 = x;
        for (int n = 0; n < s.n; ++n)
            for (int ch = 0; ch < s.c; ++ch)
                for (int p = 0; p < s.h * s.w; ++p)
                    if (roi[static_cast<std::size_t>(n * s.h * s.w + p)] == 0) {
                        const auto i = static_cast<std::size_t>((n * s.c + ch) * s.h * s.w + p);
                        CHECK(g[i] == 0.0);
                        x2[i] = c.probabilities ? 0.5 : x2[i] + 3.0;
                    }
        CHECK(c.weighted(x2, t, roi, nullptr) == doctest::Approx(w).epsilon(1e-13));
        // weights of 1 everywhere: the unweighted loss and gradient
        tensor<double> ones(shape4{s.n, 1, s.h, s.w}, 1.0), g1, g0;
        CHECK(c.weighted(x, t, ones, &g1) == doctest::Approx(c.plain(x, t, &g0)).epsilon(1e-12));
        for (std::size_t i = 0; i < g0.size(); ++i) CHECK(g1[i] == doctest::Approx(g0[i]).epsilon(1e-10));
        // no pixel inside: loss 0 (or the loss of nothing), gradient 0
        tensor<double> none(shape4{s.n, 1, s.h, s.w}, 0.0), gz;
        (void)c.weighted(x, t, none, &gz);
        for (double v : gz) CHECK(v == 0.0);
    }
}

TEST_CASE("weighted losses pass a finite-difference gradient check with arbitrary weights") {
    for (const auto& c : cases()) {
        CAPTURE(c.name);
        const shape4 s{2, c.channels, 4, 5};
        auto x = random_logits(s, 4, c.probabilities);
        const auto t = target_for(c, s, 5);
        rng r(6);
        tensor<double> w(shape4{s.n, 1, s.h, s.w});
        for (auto& v : w) v = r.uniform() < 0.3 ? 0.0 : 2.0 * r.uniform();
        tensor<double> g;
        (void)c.weighted(x, t, w, &g);
        REQUIRE(g.shape() == s);
        const double h = 1e-6;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const double keep = x[i];
            x[i] = keep + h;
            const double up = c.weighted(x, t, w, nullptr);
            x[i] = keep - h;
            const double down = c.weighted(x, t, w, nullptr);
            x[i] = keep;
            const double numeric = (up - down) / (2 * h);
            CAPTURE(i);
            CHECK(std::abs(g[i] - numeric) <= 1e-8 + 1e-6 * std::max(std::abs(g[i]), std::abs(numeric)));
        }
    }
}

TEST_CASE("weights of the wrong shape or with negative or NaN values are refused, naming them") {
    const tensor<double> x(shape4{1, 1, 2, 2}), t(shape4{1, 1, 2, 2});
    using unetpp::test::contains;
    using unetpp::test::error_of;
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)dice_loss{}(x, t, tensor<double>(shape4{1, 1, 3, 2}, 1.0)); }),
                   "dice_loss: weights [1, 1, 3, 2] do not fit logits [1, 1, 2, 2]"));
    tensor<double> w(shape4{1, 1, 2, 2}, 1.0);
    w[3] = -1.0;
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)bce_with_logits{}(x, t, w); }),
                   "weight -1 at [0, 0, 1, 1] must be finite and >= 0"));
    w[3] = std::nan("");
    CHECK(contains(error_of<std::invalid_argument>([&] { (void)focal_loss{}(x, t, w); }), "must be finite and >= 0"));
}
