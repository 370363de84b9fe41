// Tests for unetpp/data/synthetic.hpp: determinism, value ranges, lesion contrast and the share
// of images without a lesion; the shapes scene for several classes, in gray and RGB.

#include <doctest/doctest.h>

#include <unetpp/data/synthetic.hpp>
#include <unetpp/data/synthetic_dataset.hpp>

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

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
    const data::synthetic_ultrasound_options cfg{.empty_fraction = 0.0, .speckle = 0.0};
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

TEST_CASE("the default is the ultrasound generator as it was; classes 2 is the same data") {
    // classes 1 and 2 draw the same frames (mask 0/1 holds classes 0..1 either way).
    unetpp::rng a(21), b(21);
    const auto [x1, y1] = data::make_batch(a, 3, 32);
    const auto [x2, y2] = data::make_batch(b, 3, 32, {.classes = 2});
    CHECK(unetpp::max_abs_diff(x1, x2) == 0.0);
    CHECK(unetpp::max_abs_diff(y1, y2) == 0.0);
    // RGB ultrasound: the gray frame in three equal channels, the same mask.
    unetpp::rng c(21);
    const auto [x3, y3] = data::make_batch(c, 3, 32, {.channels = 3});
    REQUIRE(x3.shape() == unetpp::shape4{3, 3, 32, 32});
    CHECK(unetpp::max_abs_diff(y1, y3) == 0.0);
    for (int n = 0; n < 3; ++n)
        for (int ch = 0; ch < 3; ++ch)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x) REQUIRE(x3(n, ch, y, x) == x1(n, 0, y, x));
}

namespace {

// Mean image value (channel ch) over the pixels of each class, and the pixel count per class.
struct class_stats {
    std::vector<double> sum, count;
};
class_stats stats_by_class(const unetpp::tensor<float>& x, const unetpp::tensor<float>& y, int classes, int ch) {
    class_stats s{std::vector<double>(classes, 0.0), std::vector<double>(classes, 0.0)};
    const auto sh = x.shape();
    for (int n = 0; n < sh.n; ++n)
        for (int r = 0; r < sh.h; ++r)
            for (int c = 0; c < sh.w; ++c) {
                const int k = static_cast<int>(y(n, 0, r, c));
                s.sum[k] += x(n, ch, r, c), s.count[k] += 1;
            }
    return s;
}

}  // namespace

TEST_CASE("shapes scene: masks hold classes 0..classes-1, each image every class, classes told apart by shade") {
    for (int classes : {3, 4, 5}) {
        CAPTURE(classes);
        unetpp::rng r(8);
        const int n = 24, S = 64;
        const auto [x, y] = data::make_batch(r, n, S, {.empty_fraction = 0.0, .classes = classes});
        REQUIRE(x.shape() == unetpp::shape4{n, 1, S, S});
        std::size_t out_of_range = 0, not_class = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            out_of_range += !(x[i] >= 0.0f && x[i] <= 1.0f);
            not_class += !(y[i] >= 0.0f && y[i] < static_cast<float>(classes) && y[i] == std::floor(y[i]));
        }
        CHECK(out_of_range == 0);
        CHECK(not_class == 0);
        const std::size_t plane = static_cast<std::size_t>(S) * S;
        for (int k = 0; k < n; ++k) {
            std::vector<int> seen(classes, 0);
            for (std::size_t i = k * plane; i < (k + 1) * plane; ++i) seen[static_cast<int>(y[i])] = 1;
            for (int c = 0; c < classes; ++c) CHECK(seen[c] == 1);
        }
        // A pixel's class is the class whose mean shade is nearest, for nearly every pixel: the
        // shades alone nearly separate the classes (the shapes' forms separate them further).
        const class_stats st = stats_by_class(x, y, classes, 0);
        std::vector<double> mean(classes);
        for (int c = 0; c < classes; ++c) mean[c] = st.sum[c] / st.count[c];
        std::size_t right = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            int best = 0;
            for (int c = 1; c < classes; ++c)
                if (std::abs(x[i] - mean[c]) < std::abs(x[i] - mean[best])) best = c;
            right += best == static_cast<int>(y[i]);
        }
        CHECK(static_cast<double>(right) / static_cast<double>(x.size()) > 0.97);
        CHECK(mean[1] < mean[0] - 0.25);  // dark discs
        CHECK(mean[2] > mean[0] + 0.3);   // bright squares
    }
    // empty_fraction: images without any shape.
    unetpp::rng r(4);
    const auto [x, y] = data::make_batch(r, 10, 32, {.empty_fraction = 1.0, .classes = 3});
    for (float v : y) REQUIRE(v == 0.0f);
}

TEST_CASE("shapes scene in RGB: discs red, squares green, rings blue; the data set gives [1, 3, S, S]") {
    unetpp::rng r(13);
    const data::synthetic_ultrasound_options rgb_cfg{.empty_fraction = 0.0, .speckle = 0.5, .classes = 4, .channels = 3};
    const auto [x, y] = data::make_batch(r, 12, 48, rgb_cfg);
    REQUIRE(x.shape() == unetpp::shape4{12, 3, 48, 48});
    REQUIRE(y.shape() == unetpp::shape4{12, 1, 48, 48});
    class_stats rgb[3] = {stats_by_class(x, y, 4, 0), stats_by_class(x, y, 4, 1), stats_by_class(x, y, 4, 2)};
    const auto mean = [&](int ch, int k) { return rgb[ch].sum[k] / rgb[ch].count[k]; };
    CHECK(mean(0, 1) > mean(1, 1) + 0.5);  // class 1: red
    CHECK(mean(0, 1) > mean(2, 1) + 0.5);
    CHECK(mean(1, 2) > mean(0, 2) + 0.5);  // class 2: green
    CHECK(mean(1, 2) > mean(2, 2) + 0.4);
    CHECK(mean(2, 3) > mean(0, 3) + 0.5);  // class 3: blue
    CHECK(mean(2, 3) > mean(1, 3) + 0.4);
    for (int ch = 0; ch < 3; ++ch) CHECK(std::abs(mean(ch, 0) - 0.47) < 0.1);  // background: a dull gray-brown

    // The data set draws sample i as make_sample does with rng(derive_seed(seed, 0, i)).
    const data::synthetic_ultrasound_options cfg{.size = 40, .seed = 9, .classes = 3, .channels = 3};
    data::synthetic_dataset ds(5, cfg);
    const data::sample s = ds.get(3);
    REQUIRE(s.image.shape() == unetpp::shape4{1, 3, 40, 40});
    REQUIRE(s.mask.shape() == unetpp::shape4{1, 1, 40, 40});
    unetpp::tensor<float> img(unetpp::shape4{1, 3, 40, 40}), msk(unetpp::shape4{1, 1, 40, 40});
    unetpp::rng r3(data::derive_seed(9, 0, 3));
    data::make_sample(r3, 40, img.data(), msk.data(), cfg);
    CHECK(unetpp::max_abs_diff(s.image, img) == 0.0);
    CHECK(unetpp::max_abs_diff(s.mask, msk) == 0.0);
    CHECK(s.label == 1);
}

TEST_CASE("the shapes differ in form: disc, square, ring, triangle") {
    using data::detail::inside_shape;
    const double r = 10.0;
    // The centre: inside all but the ring, whose hole is background.
    CHECK(inside_shape(1, 0, 0, r, 0.3));
    CHECK(inside_shape(2, 0, 0, r, 0.3));
    CHECK_FALSE(inside_shape(3, 0, 0, r, 0.3));
    CHECK(inside_shape(4, 0, 0, r, 0.3));
    // A square's corner lies outside the disc; the disc's rim outside the unturned square.
    CHECK(inside_shape(2, 7.5, 7.5, r, 0.0));
    CHECK_FALSE(inside_shape(1, 7.5, 7.5, r, 0.0));
    CHECK(inside_shape(1, 9.5, 0, r, 0.0));
    CHECK_FALSE(inside_shape(2, 9.5, 0, r, 0.0));
    CHECK(inside_shape(3, 8.0, 0, r, 0.0));
    // The triangle (vertex away from angle 0's edge normal): its edges are at half the radius.
    CHECK_FALSE(inside_shape(4, 6.0, 0, r, 0.0));
    CHECK(inside_shape(4, -9.0, 0, r, 0.0));  // towards a vertex
}

TEST_CASE("classes and channels outside their ranges are refused with the ranges") {
    unetpp::rng r(1);
    const auto err = [&](data::synthetic_ultrasound_options cfg) {
        try {
            (void)data::make_batch(r, 1, 16, cfg);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("<no error>");
    };
    CHECK(err({.classes = 0}).find("classes must be 1 to 5") != std::string::npos);
    CHECK(err({.classes = 6}).find("got 6") != std::string::npos);
    CHECK(err({.channels = 2}).find("channels must be 1 (gray) or 3 (RGB), got 2") != std::string::npos);
    CHECK_THROWS_AS(data::synthetic_dataset(3, {.channels = 4}), std::invalid_argument);
}
