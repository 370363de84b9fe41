// Tests for unetpp/data/transforms.hpp on hand-computed tiny images.

#include <doctest/doctest.h>

#include <unetpp/data/transforms.hpp>

#include <cmath>
#include <utility>
#include <vector>

namespace data = unetpp::data;
using unetpp::shape4;
using unetpp::tensor;

namespace {
tensor<float> row(std::vector<float> v) {
    tensor<float> t(shape4{1, 1, 1, static_cast<int>(v.size())});
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = v[i];
    return t;
}
double mean_of(const tensor<float>& t) {
    double s = 0;
    for (float v : t) s += v;
    return s / t.size();
}
double std_of(const tensor<float>& t) {
    const double m = mean_of(t);
    double s = 0;
    for (float v : t) s += (v - m) * (v - m);
    return std::sqrt(s / t.size());
}
}  // namespace

TEST_CASE("bilinear resize uses half-pixel centres and repeats the edge") {
    const auto up = data::resize_bilinear(row({0, 1}), 1, 4);
    CHECK(up[0] == doctest::Approx(0.0));
    CHECK(up[1] == doctest::Approx(0.25));
    CHECK(up[2] == doctest::Approx(0.75));
    CHECK(up[3] == doctest::Approx(1.0));
    const auto down = data::resize_bilinear(row({0, 1, 2, 3}), 1, 2);
    CHECK(down[0] == doctest::Approx(0.5));
    CHECK(down[1] == doctest::Approx(2.5));
    // 2-D: a 2 x 2 image to 4 x 4 keeps the corners and its mean.
    tensor<float> sq(shape4{1, 1, 2, 2}, {0, 1, 2, 3});
    const auto big = data::resize_bilinear(sq, 4, 4);
    CHECK(big(0, 0, 0, 0) == doctest::Approx(0.0));
    CHECK(big(0, 0, 3, 3) == doctest::Approx(3.0));
    CHECK(big(0, 0, 1, 1) == doctest::Approx(0.75));  // (0.25, 0.25) in source pixels: 0.25 + 2 * 0.25
    CHECK(mean_of(big) == doctest::Approx(1.5));
}

TEST_CASE("nearest resize keeps masks binary and picks the covering pixel") {
    const auto up = data::resize_nearest(row({0, 1}), 1, 4);
    CHECK(std::vector<float>(up.begin(), up.end()) == std::vector<float>{0, 0, 1, 1});
    const auto down = data::resize_nearest(row({10, 11, 12, 13}), 1, 2);
    CHECK(std::vector<float>(down.begin(), down.end()) == std::vector<float>{11, 13});
    data::sample s;
    s.image = tensor<float>(shape4{1, 3, 7, 5}, 0.5f);
    s.mask = tensor<float>(shape4{1, 1, 7, 5});
    for (int x = 0; x < 5; ++x) s.mask(0, 0, 3, x) = 1;
    data::resize(s, 16, 16);
    CHECK(s.image.shape() == shape4{1, 3, 16, 16});
    CHECK(s.mask.shape() == shape4{1, 1, 16, 16});
    for (float v : s.mask) CHECK((v == 0.0f || v == 1.0f));
    CHECK_THROWS_AS(data::resize(s, 0, 3), std::invalid_argument);
}

TEST_CASE("histogram equalisation: hand-computed levels; a constant image is unchanged") {
    tensor<float> t(shape4{1, 1, 2, 2}, {0.0f, 64 / 255.0f, 64 / 255.0f, 128 / 255.0f});
    data::equalize_histogram(t);
    // hist: 0 -> 1, 64 -> 2, 128 -> 1; cdf 1, 3, 4; cdf_min 1: (cdf - 1) * 255 / 3.
    CHECK(t[0] == doctest::Approx(0.0));
    CHECK(t[1] == doctest::Approx(170 / 255.0));
    CHECK(t[2] == doctest::Approx(170 / 255.0));
    CHECK(t[3] == doctest::Approx(1.0));
    tensor<float> c(shape4{1, 1, 3, 3}, 0.3f);
    data::equalize_histogram(c);
    for (float v : c) CHECK(v == doctest::Approx(0.3));
}

TEST_CASE("CLAHE: one unclipped tile is cdf * 255 / N; tiles raise local contrast; clipping limits it") {
    tensor<float> t(shape4{1, 1, 2, 2}, {0.0f, 64 / 255.0f, 64 / 255.0f, 128 / 255.0f});
    data::clahe(t, {.tiles_x = 1, .tiles_y = 1, .clip_limit = 0});
    CHECK(t[0] == doctest::Approx(64 / 255.0));   // round(1 * 255 / 4) = 64
    CHECK(t[1] == doctest::Approx(191 / 255.0));  // round(3 * 255 / 4) = 191
    CHECK(t[3] == doctest::Approx(1.0));

    // A low-contrast image whose left half is darker than its right.
    tensor<float> img(shape4{1, 1, 64, 64});
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x)
            img(0, 0, y, x) = 0.4f + 0.1f * (x >= 32) + 0.02f * static_cast<float>((x * 7 + y * 13) % 5) / 4.0f;
    tensor<float> strong = img, weak = img;
    data::clahe(strong, {.tiles_x = 4, .tiles_y = 4, .clip_limit = 40.0});
    data::clahe(weak, {.tiles_x = 4, .tiles_y = 4, .clip_limit = 1.0});
    for (float v : strong) CHECK((v >= 0.0f && v <= 1.0f));
    CHECK(std_of(strong) > 2 * std_of(img));
    CHECK(std_of(weak) < std_of(strong));
    // Order is kept inside one tile (the mapping is monotonic).
    CHECK(strong(0, 0, 0, 0) <= strong(0, 0, 0, 1) + 1e-6f);
    CHECK_THROWS_AS(data::clahe(img, {.tiles_x = 100, .tiles_y = 1}), std::invalid_argument);
}

TEST_CASE("z-score per image and with given statistics") {
    tensor<float> t(shape4{2, 1, 1, 4}, {1, 2, 3, 4, 5, 5, 5, 5});
    data::zscore(t);
    const double sd = std::sqrt(1.25);
    CHECK(t[0] == doctest::Approx(-1.5 / sd));
    CHECK(t[3] == doctest::Approx(1.5 / sd));
    for (int i = 4; i < 8; ++i) CHECK(t[i] == doctest::Approx(0.0));  // constant sample -> 0
    tensor<float> u(shape4{1, 1, 1, 2}, {0.5f, 1.0f});
    data::zscore(u, 0.5, 0.25);
    CHECK(u[0] == doctest::Approx(0.0));
    CHECK(u[1] == doctest::Approx(2.0));
    CHECK_THROWS_AS(data::zscore(u, 0.0, 0.0), std::invalid_argument);
}

TEST_CASE("ROI isolation multiplies every channel by the mask; channel conversion") {
    data::sample s;
    s.image = tensor<float>(shape4{1, 3, 1, 2}, {0.2f, 0.4f, 0.6f, 0.8f, 1.0f, 0.1f});
    s.mask = tensor<float>(shape4{1, 1, 1, 2}, {0.0f, 1.0f});
    data::isolate_roi(s);
    CHECK(s.image[0] == 0.0f);
    CHECK(s.image[1] == doctest::Approx(0.4f));
    CHECK(s.image[2] == 0.0f);
    CHECK(s.image[5] == doctest::Approx(0.1f));

    tensor<float> rgb(shape4{1, 3, 1, 1}, {1.0f, 0.0f, 0.0f});
    CHECK(data::to_gray(rgb)[0] == doctest::Approx(0.299));
    const auto g3 = data::to_rgb(tensor<float>(shape4{1, 1, 1, 1}, {0.7f}));
    CHECK(g3.shape() == shape4{1, 3, 1, 1});
    CHECK(g3[2] == doctest::Approx(0.7));

    data::sample p;
    p.image = tensor<float>(shape4{1, 1, 8, 8}, 0.5f);
    p.mask = tensor<float>(shape4{1, 1, 8, 8});
    data::tf::compose({data::tf::resize(4, 4), data::tf::channels(3), data::tf::zscore()})(p);
    CHECK(p.image.shape() == shape4{1, 3, 4, 4});
    CHECK(p.image[0] == doctest::Approx(0.0));
}

TEST_CASE("label masks: nearest resize keeps exactly the class indices; ROI isolation keeps every class") {
    // Classes 0..3 in a 5 x 6 pattern, resized up, down and to an odd size.
    data::sample s;
    s.image = tensor<float>(shape4{1, 1, 5, 6}, 0.5f);
    s.mask = tensor<float>(shape4{1, 1, 5, 6});
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 6; ++x) s.mask(0, 0, y, x) = static_cast<float>((x + 2 * y) % 4);
    for (auto [h, w] : {std::pair{13, 17}, std::pair{3, 2}, std::pair{5, 6}}) {
        data::sample r = s;
        data::resize(r, h, w);
        for (float v : r.mask) CHECK((v == 0.0f || v == 1.0f || v == 2.0f || v == 3.0f));
        // Every output pixel holds the class of the input pixel that covers it.
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const int sy = static_cast<int>((y + 0.5) * 5 / h), sx = static_cast<int>((x + 0.5) * 6 / w);
                CHECK(r.mask(0, 0, y, x) == s.mask(0, 0, sy, sx));
            }
    }
    data::sample k;
    k.image = tensor<float>(shape4{1, 1, 1, 4}, {0.2f, 0.4f, 0.6f, 0.8f});
    k.mask = tensor<float>(shape4{1, 1, 1, 4}, {0.0f, 1.0f, 2.0f, 3.0f});
    data::isolate_roi(k);
    CHECK(std::vector<float>(k.image.begin(), k.image.end()) == std::vector<float>{0.0f, 0.4f, 0.6f, 0.8f});
}
