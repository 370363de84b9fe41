// Tests for unetpp/data/synthetic.hpp: determinism, value ranges, lesion contrast and the share
// of images without a lesion.

#include <doctest/doctest.h>

#include <unetpp/data/synthetic.hpp>

#include <cstddef>
#include <stdexcept>

namespace data = unetpp::data;

TEST_CASE("the same seed gives the same batch, another seed a different one") {
    unetpp::rng a(5), b(5), c(6);
    const auto [xa, ya] = data::make_batch(a, 4, 48);
    const auto [xb, yb] = data::make_batch(b, 4, 48);
    const auto [xc, yc] = data::make_batch(c, 4, 48);
    REQUIRE(xa.shape() == unetpp::shape4{4, 1, 48, 48});
    REQUIRE(ya.shape() == xa.shape());
    CHECK(unetpp::max_abs_diff(xa, xb) == 0.0);
    CHECK(unetpp::max_abs_diff(ya, yb) == 0.0);
    CHECK(unetpp::max_abs_diff(xa, xc) > 0.1);

    // The data-set class draws the same sequence as make_batch with rng(cfg.seed).
    data::synthetic_ultrasound ds({.size = 48, .seed = 5});
    const auto [xd, yd] = ds.next(4);
    CHECK(unetpp::max_abs_diff(xa, xd) == 0.0);
    CHECK(unetpp::max_abs_diff(ya, yd) == 0.0);
}

TEST_CASE("images lie in [0, 1], masks are binary, lesions are darker than the background") {
    unetpp::rng r(11);
    const int n = 200, s = 64;
    const auto [x, y] = data::make_batch(r, n, s);
    std::size_t out_of_range = 0, not_binary = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        out_of_range += !(x[i] >= 0.0f && x[i] <= 1.0f);
        not_binary += !(y[i] == 0.0f || y[i] == 1.0f);
    }
    CHECK(out_of_range == 0);
    CHECK(not_binary == 0);
    const std::size_t plane = static_cast<std::size_t>(s) * s;
    int empty = 0, darker = 0, with_lesion = 0;
    double in_sum = 0, out_sum = 0, in_n = 0, out_n = 0;
    for (int k = 0; k < n; ++k) {
        double in = 0, out = 0, ni = 0, no = 0;
        for (std::size_t i = k * plane; i < (k + 1) * plane; ++i) {
            if (y[i] > 0.5f) in += x[i], ++ni;
            else out += x[i], ++no;
        }
        if (ni == 0) {
            ++empty;
            continue;
        }
        ++with_lesion;
        darker += in / ni < out / no;
        in_sum += in, in_n += ni, out_sum += out, out_n += no;
    }
    CAPTURE(empty);
    // ~10% empty: with n = 200 the binomial standard deviation is about 2.1%.
    CHECK(empty >= 8);
    CHECK(empty <= 34);
    CHECK(darker == with_lesion);                       // every lesion is hypoechoic
    CHECK(in_sum / in_n < 0.5 * (out_sum / out_n));     // and clearly so on average
    // Lesions are neither specks nor the whole image.
    CHECK(in_n / with_lesion > 0.01 * plane);
    CHECK(in_n / with_lesion < 0.4 * plane);
}

TEST_CASE("configuration: no empty images, no speckle") {
    unetpp::rng r(3);
    const data::synthetic_ultrasound_cfg cfg{.empty_fraction = 0.0, .speckle = 0.0};
    const auto [x, y] = data::make_batch(r, 50, 32, cfg);
    const std::size_t plane = 32 * 32;
    for (int k = 0; k < 50; ++k) {
        double m = 0;
        for (std::size_t i = k * plane; i < (k + 1) * plane; ++i) m += y[i];
        CHECK(m > 0);
    }
    CHECK_THROWS_AS(data::make_batch(r, 0, 32), std::invalid_argument);
    CHECK_THROWS_AS(data::make_batch(r, 2, 4), std::invalid_argument);
}
