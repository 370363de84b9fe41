// Ensembles: weighted means of probabilities, networks of different types, shape checks.

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include <unetpp/infer.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;

namespace {
auto constant(float v, int classes = 1) {
    return [v, classes](const tensor<float>& x) {
        return tensor<float>(shape4{x.shape().n, classes, x.shape().h, x.shape().w}, v);
    };
}
}  // namespace

TEST_CASE("ensemble averages probabilities, with weights") {
    const tensor<float> x(shape4{1, 1, 3, 4}, 0.5f);
    infer::ensemble e;
    e.add(constant(0.2f)).add(constant(0.6f));
    const auto p = e.predict_proba(x);
    CHECK(p.shape() == shape4{1, 1, 3, 4});
    for (float v : p) CHECK(v == doctest::Approx(0.4));
    infer::ensemble w;
    w.add(constant(0.2f), 1.0).add(constant(0.6f), 3.0);
    for (float v : w(x)) CHECK(v == doctest::Approx(0.5));
    const auto m = w.predict(x, 0.45f);
    for (float v : m.mask) CHECK(v == 1.0f);
    // The variadic form needs no type erasure.
    for (float v : infer::average_proba(x, constant(0.2f), constant(0.6f), constant(1.0f)))
        CHECK(v == doctest::Approx(0.6));
}

TEST_CASE("ensemble of networks of different types") {
    using padded = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
    using unpadded = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2, .pad = padding::valid,
                                   .norm = norm_kind::none}>;
    using deeper = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 3}>;
    padded a(1);
    unpadded b(2);
    deeper c(3);
    tensor<float> x(shape4{1, 1, 29, 41});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f + 0.4f * std::cos(0.17f * static_cast<float>(i));
    infer::ensemble e;
    e.add_net(a).add_net(b, {.tile = unpadded::next_valid_size(unpadded::min_input_size + 4)}).add_net(c, {}, 2.0);
    CHECK(e.size() == 3);
    const auto p = e.predict_proba(x);
    const auto pa = infer::predict_proba_tiled(a, x);
    const auto pb = infer::predict_proba_tiled(b, x);
    const auto pc = infer::predict_proba_tiled(c, x);
    double d = 0;
    for (std::size_t i = 0; i < p.size(); ++i) d = std::max(d, std::abs(p[i] - (pa[i] + pb[i] + 2.0 * pc[i]) / 4.0));
    CHECK(d < 1e-6);
    // With TTA around one member.
    infer::ensemble t;
    t.add(infer::tta_predictor(infer::tiled_predictor(a), infer::flip_set()));
    CHECK(t.predict_proba(x).shape() == shape4{1, 1, 29, 41});
}

TEST_CASE("ensemble errors") {
    const tensor<float> x(shape4{1, 1, 3, 4}, 0.5f);
    infer::ensemble e;
    CHECK_THROWS_AS((void)e.predict_proba(x), std::invalid_argument);
    CHECK_THROWS_AS(e.add(constant(0.1f), 0.0), std::invalid_argument);
    e.add(constant(0.1f, 1)).add(constant(0.1f, 2));
    try {
        (void)e.predict_proba(x);
        FAIL("expected an exception");
    } catch (const std::invalid_argument& err) {
        CHECK(std::string(err.what()).find("member 1") != std::string::npos);
    }
}
