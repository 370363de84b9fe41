// Test-time augmentation: the eight dihedral transforms, their exact inverses, and averaging
// predictions through them (fake predictors whose result is known, and a real network).

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <unetpp/infer.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;
using infer::dihedral;

namespace {
tensor<float> ramp(int n, int c, int h, int w) {
    tensor<float> x(shape4{n, c, h, w});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    return x;
}
}  // namespace

TEST_CASE("dihedral transforms: shapes, explicit pixels, exact inverses") {
    const tensor<float> x = ramp(2, 3, 4, 7);
    for (dihedral d : infer::all_dihedral()) {
        const tensor<float> t = infer::apply(d, x);
        CHECK(t.shape() == (infer::transposes(d) ? shape4{2, 3, 7, 4} : shape4{2, 3, 4, 7}));
        CHECK(max_abs_diff(infer::invert(d, t), x) == 0.0);
    }
    const int H = 4, W = 7;
    const tensor<float> r90 = infer::apply(dihedral::rot90, x);  // counter-clockwise
    const tensor<float> r270 = infer::apply(dihedral::rot270, x);
    const tensor<float> fh = infer::apply(dihedral::flip_h, x);
    const tensor<float> fv = infer::apply(dihedral::flip_v, x);
    const tensor<float> tr = infer::apply(dihedral::transpose, x);
    const tensor<float> at = infer::apply(dihedral::anti_transpose, x);
    const tensor<float> r180 = infer::apply(dihedral::rot180, x);
    for (int y = 0; y < H; ++y)
        for (int c = 0; c < W; ++c) {
            const float v = x(1, 2, y, c);
            CHECK(r90(1, 2, W - 1 - c, y) == v);
            CHECK(r270(1, 2, c, H - 1 - y) == v);
            CHECK(fh(1, 2, y, W - 1 - c) == v);
            CHECK(fv(1, 2, H - 1 - y, c) == v);
            CHECK(tr(1, 2, c, y) == v);
            CHECK(at(1, 2, W - 1 - c, H - 1 - y) == v);
            CHECK(r180(1, 2, H - 1 - y, W - 1 - c) == v);
        }
    // Group structure: four quarter turns are the identity, rot90 undoes rot270.
    tensor<float> z = x;
    for (int i = 0; i < 4; ++i) z = infer::apply(dihedral::rot90, z);
    CHECK(max_abs_diff(z, x) == 0.0);
    CHECK(max_abs_diff(infer::apply(dihedral::rot90, r270), x) == 0.0);
}

TEST_CASE("TTA maps every prediction back with the right inverse") {
    const int H = 5, W = 8;
    const tensor<float> x = ramp(1, 1, H, W);
    // A position-dependent fake predictor: adds the row index of the grid it is given.
    const auto add_row = [](const tensor<float>& z) {
        tensor<float> out = z;
        for (int y = 0; y < z.shape().h; ++y)
            for (int c = 0; c < z.shape().w; ++c) out(0, 0, y, c) += static_cast<float>(y);
        return out;
    };
    // rot90 shows the predictor the image turned counter-clockwise: original column c becomes
    // row W - 1 - c, so after the inverse every pixel got W - 1 - c added.
    const std::vector<dihedral> only_rot90{dihedral::rot90};
    const auto p = infer::predict_tta(add_row, x, std::span<const dihedral>(only_rot90));
    for (int y = 0; y < H; ++y)
        for (int c = 0; c < W; ++c) CHECK(p(0, 0, y, c) == doctest::Approx(x(0, 0, y, c) + (W - 1 - c)));
    // Identity and vertical flip: rows get y and H - 1 - y, on average (H - 1) / 2.
    const auto q = infer::predict_tta(add_row, x, {dihedral::identity, dihedral::flip_v});
    for (int y = 0; y < H; ++y)
        for (int c = 0; c < W; ++c) CHECK(q(0, 0, y, c) == doctest::Approx(x(0, 0, y, c) + (H - 1) / 2.0));
    // All eight: each pixel gets the mean of its row, column and their mirrors.
    const auto a = infer::predict_tta(add_row, x, infer::all_dihedral());
    for (int y = 0; y < H; ++y)
        for (int c = 0; c < W; ++c)
            CHECK(a(0, 0, y, c) == doctest::Approx(x(0, 0, y, c) + ((H - 1) / 2.0 + (W - 1) / 2.0) / 2.0));
    // An equivariant predictor (pixel-wise) is unchanged by TTA.
    const auto twice = [](const tensor<float>& z) {
        tensor<float> o = z;
        for (float& v : o) v *= 2.0f;
        return o;
    };
    const auto e = infer::predict_tta(twice, x, infer::all_dihedral());
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(e[i] == doctest::Approx(2.0 * x[i]));
}

TEST_CASE("TTA with the identity alone equals plain prediction; full TTA on a real net") {
    using net_t = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
    net_t net(4);
    tensor<float> x(shape4{1, 1, 21, 34});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f + 0.5f * std::sin(0.3f * static_cast<float>(i));
    const infer::tile_options opt{.tile = 32, .overlap = 8};
    const auto plain = infer::predict_tiled(net, x, opt);
    const auto id = infer::predict_tta(net, x, std::vector<dihedral>{dihedral::identity}, opt);
    CHECK(max_abs_diff(plain.prob, id.prob) == 0.0);
    const auto all = infer::predict_tta(net, x, infer::all_dihedral(), opt);
    CHECK(all.prob.shape() == shape4{1, 1, 21, 34});
    for (float v : all.prob) CHECK((v > 0.0f && v < 1.0f));
    CHECK_THROWS_AS(infer::predict_tta(net, x, std::vector<dihedral>{}, opt), std::invalid_argument);
}
