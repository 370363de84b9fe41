// Overlap-tile inference: geometry of unpadded nets, exactness of tiling against one pass over
// the whole mirrored image (unpadded and padded nets), odd and tiny image sizes, bounded tile
// shapes for large images, batching, and error messages.

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <unetpp/infer.hpp>
#include <unetpp/unet.hpp>

#include "../../support/conv_algo.hpp"

using namespace unetpp;

namespace {

using valid_net = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                                .norm = norm_kind::none}>;
using padded_net = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;

/// A smooth, non-symmetric test image.
tensor<float> make_image(int h, int w, int c = 1, int n = 1) {
    tensor<float> x(shape4{n, c, h, w});
    for (int b = 0; b < n; ++b)
        for (int k = 0; k < c; ++k)
            for (int y = 0; y < h; ++y)
                for (int xx = 0; xx < w; ++xx)
                    x(b, k, y, xx) = 0.5f + 0.3f * std::sin(0.37f * y + 0.11f * xx + k + b) +
                                     0.2f * std::cos(0.05f * y * xx + 0.7f * b);
    return x;
}

/// Records the input shapes a network saw; geometry of ronneberger2015, no computation.
struct recording_ronneberger {
    using geometry = presets::ronneberger2015;
    static constexpr unet_cfg cfg = geometry::cfg;
    static constexpr std::optional<int> output_size(int s) noexcept { return geometry::output_size(s); }
    static constexpr bool is_valid_size(int s) noexcept { return geometry::is_valid_size(s); }
    static constexpr int next_valid_size(int s) noexcept { return geometry::next_valid_size(s); }
    static constexpr int previous_valid_size(int s) noexcept { return geometry::previous_valid_size(s); }
    std::vector<shape4> seen;
    tensor<float> out;
    const tensor<float>& forward(const tensor<float>& x) {
        seen.push_back(x.shape());
        out.resize(shape4{x.shape().n, cfg.classes, *output_size(x.shape().h), *output_size(x.shape().w)});
        out.zero();
        return out;
    }
};

}  // namespace

TEST_CASE("unpadded net: constant shrink, centred output (margin m = (s - o) / 2)") {
    const int s0 = valid_net::min_input_size;
    const int k = s0 - *valid_net::output_size(s0);
    CHECK(k % 2 == 0);
    for (int s = s0; s < s0 + 64; ++s)
        if (valid_net::is_valid_size(s)) CHECK(s - *valid_net::output_size(s) == k);
    CHECK(presets::ronneberger2015::output_size(572) == 388);
    CHECK((572 - 388) / 2 == 92);

    // Perturb one input pixel p: the output pixels that change form a window centred on the
    // output pixel facing it (p - m), 2m + 1 wide up to the pooling grid (2^depth = 4). "Change"
    // is exact inequality, so this runs on the direct kernels: Winograd computes 4x4 output tiles
    // together, and the rounding of a tile that sees the perturbed pixel also moves outputs of
    // that tile the pixel cannot reach (by ~1e-7), which is not influence.
    const test::conv_algo_scope direct(backend::cpu_kernels::conv_algo::direct);
    valid_net net(3);
    net.eval();
    const int s = valid_net::next_valid_size(s0 + 64), m = k / 2;
    tensor<float> x = make_image(s, s);
    const tensor<float> y0 = net.forward(x);
    const int p = s / 2;
    x(0, 0, p, p) += 1.0f;
    const tensor<float>& y1 = net.forward(x);
    int lo = 1 << 20, hi = -1;
    bool centre_changed = false;
    for (int c = 0; c < 2; ++c)
        for (int i = 0; i < y0.shape().h; ++i)
            for (int j = 0; j < y0.shape().w; ++j)
                if (y0(0, c, i, j) != y1(0, c, i, j)) {
                    lo = std::min({lo, i, j});
                    hi = std::max({hi, i, j});
                    if (i == p - m && j == p - m) centre_changed = true;
                }
    CHECK(std::abs((lo + hi) / 2.0 - (p - m)) <= 2.0);
    CHECK(hi - lo <= 2 * m + 2 * 4);
    CHECK(lo <= p - 2 * m);
    CHECK(hi >= p);
    CHECK(centre_changed);
    MESSAGE("valid net: tile " << s << " -> " << y0.shape().h << ", margin " << m << ", influence of pixel " << p
                               << " on outputs [" << lo << ", " << hi << "]");
}

TEST_CASE("unpadded net: tiled prediction equals one pass over the whole mirrored image") {
    valid_net net(7);
    const int m = (valid_net::min_input_size - *valid_net::output_size(valid_net::min_input_size)) / 2;
    // H + 2m and W + 2m valid: the whole mirrored image can be run at once.
    const int H = *valid_net::output_size(valid_net::next_valid_size(60));
    const int W = *valid_net::output_size(valid_net::next_valid_size(75));
    const tensor<float> img = make_image(H, W);
    const tensor<float> padded = infer::mirror_pad(img, m, m, m, m);
    net.eval();
    const tensor<float> whole = infer::activate(net.forward(padded));
    REQUIRE(whole.shape() == shape4{1, 2, H, W});
    net.train();  // predict_tiled switches to eval mode and back

    for (int tile : {valid_net::next_valid_size(valid_net::min_input_size + 4), valid_net::next_valid_size(50)}) {
        infer::tile_options opt{.tile = tile};
        const auto plan = infer::plan_tiles<valid_net>(H, W, opt);
        CHECK(plan.count() > 1);
        const auto p = infer::predict_tiled(net, img, opt);
        REQUIRE(p.prob.shape() == whole.shape());
        const double d = max_abs_diff(p.prob, whole);
        MESSAGE("image " << H << "x" << W << ", tile " << tile << " (" << plan.rows.origins.size() << "x"
                         << plan.cols.origins.size() << " tiles): max |tiled - whole| = " << d);
        CHECK(d < 1e-5);
        CHECK(p.mask.shape() == shape4{1, 1, H, W});
    }
    CHECK(net.training());  // the caller's mode is restored
}

TEST_CASE("odd sizes: 37x53 gives the same result for every tile size and batch") {
    valid_net net(11);
    const tensor<float> img = make_image(37, 53);
    const auto ref = infer::predict_proba_tiled(net, img);  // automatic: one tile per axis
    CHECK(ref.shape() == shape4{1, 2, 37, 53});
    for (int batch : {1, 3}) {
        const infer::tile_options opt{.tile = valid_net::next_valid_size(valid_net::min_input_size + 4), .batch = batch};
        const auto p = infer::predict_proba_tiled(net, img, opt);
        const double d = max_abs_diff(p, ref);
        MESSAGE("37x53, tile " << opt.tile << ", batch " << batch << ": max diff to one tile = " << d);
        CHECK(d < 1e-5);
    }
    // Probabilities sum to one over the classes.
    double worst = 0;
    for (int y = 0; y < 37; ++y)
        for (int x = 0; x < 53; ++x) worst = std::max(worst, std::abs(1.0 - ref(0, 0, y, x) - ref(0, 1, y, x)));
    CHECK(worst < 1e-5);
}

TEST_CASE("a 1x1 image works by mirroring: it acts as a constant image") {
    // A constant image gives an output that repeats with period 2^depth (the 2x2 up-convolutions
    // have four different weights), so the 1x1 result equals the pixels of the same phase.
    valid_net net(5);
    const tensor<float> one(shape4{1, 1, 1, 1}, 0.3f);
    const auto p1 = infer::predict_tiled(net, one);
    REQUIRE(p1.prob.shape() == shape4{1, 2, 1, 1});
    const auto p2 = infer::predict_proba_tiled(net, tensor<float>(shape4{1, 1, 7, 9}, 0.3f));
    for (int y = 0; y < 7; y += 4)
        for (int x = 0; x < 9; x += 4) CHECK(std::abs(p2(0, 1, y, x) - p1.prob(0, 1, 0, 0)) < 1e-5);
    // The padded net too.
    padded_net pn(5);
    const auto q = infer::predict_tiled(pn, one);
    CHECK(q.prob.shape() == shape4{1, 1, 1, 1});
    CHECK(std::isfinite(q.prob[0]));
}

TEST_CASE("padded net: with the default overlap tiling is exact; a small overlap is close") {
    padded_net net(9);
    const int H = 70, W = 93;
    const tensor<float> img = make_image(H, W);
    const int g = 24;  // receptive_radius, a multiple of 2^depth = 4
    CHECK(infer::receptive_radius<padded_net>() == 2 * (3 * 4 - 2) + 4);
    // Reference: one tile covering everything (image mirrored by g, then one forward).
    const auto whole = infer::predict_proba_tiled(net, img);
    const auto plan1 = infer::plan_tiles<padded_net>(H, W);
    CHECK(plan1.count() == 1);
    CHECK(plan1.rows.margin == g);

    const infer::tile_options tiled{.tile = 72};
    const auto plan = infer::plan_tiles<padded_net>(H, W, tiled);
    CHECK(plan.rows.out_tile == 72 - 2 * g);
    CHECK(plan.count() > 4);
    const double exact = max_abs_diff(infer::predict_proba_tiled(net, img, tiled), whole);
    CHECK(exact < 1e-5);

    // Smaller overlaps: not exact any more, but close; no overlap at all is worst (seams).
    const double small = max_abs_diff(infer::predict_proba_tiled(net, img, {.tile = 32, .overlap = 8}), whole);
    const double none = max_abs_diff(infer::predict_proba_tiled(net, img, {.tile = 16, .overlap = 0}), whole);
    MESSAGE("padded net " << H << "x" << W << ": max |tiled - one tile| = " << exact << " (tile 72, overlap " << g
                          << "), " << small << " (tile 32, overlap 8), " << none << " (tile 16, no overlap)");
    CHECK(small < none);
}

TEST_CASE("bounded memory: a 1024x1024 image through ronneberger2015 at tile 572 sees only 572x572 tiles") {
    recording_ronneberger net;
    const tensor<float> img(shape4{1, 1, 1024, 1024}, 0.5f);
    const auto p = infer::predict_tiled(net, img, {.tile = 572});
    CHECK(p.prob.shape() == shape4{1, 2, 1024, 1024});
    CHECK(net.seen.size() == 9);  // origins 0, 384, 640 per axis (388 kept, step 384)
    for (const auto& s : net.seen) CHECK(s == shape4{1, 1, 572, 572});
    const auto plan = infer::plan_tiles<recording_ronneberger>(1024, 1024, {.tile = 572});
    CHECK(plan.rows.margin == 92);
    CHECK(plan.rows.origins == std::vector<int>{0, 384, 640});

    // Automatic tile: bounded by the memory budget, whatever the image size.
    net.seen.clear();
    infer::tile_options small_budget{.batch = 2, .memory_budget = std::size_t{1} << 30};
    (void)infer::predict_proba_tiled(net, tensor<float>(shape4{1, 1, 3000, 1500}, 0.5f), small_budget);
    std::set<int> sides;
    for (const auto& s : net.seen) {
        CHECK(s.n <= 2);
        CHECK(s.sample_size() * infer::activation_bytes_per_pixel<recording_ronneberger>() * 2 <= small_budget.memory_budget);
        sides.insert(s.h);
    }
    MESSAGE("3000x1500 with a 1 GiB budget, batch 2: " << net.seen.size() << " forward calls, tile side "
                                                       << *sides.begin());
}

TEST_CASE("bounded memory: tensor allocations do not grow with the number of tiles") {
    padded_net net(2);
    const infer::tile_options opt{.tile = 48, .overlap = 8};
    (void)infer::predict_proba_tiled(net, make_image(40, 40), opt);  // warm up at the tile shape
    const auto before = memory::host::allocation_count();
    const auto p = infer::predict_proba_tiled(net, make_image(300, 260), opt);
    const auto allocs = memory::host::allocation_count() - before;
    MESSAGE("300x260 in " << infer::plan_tiles<padded_net>(300, 260, opt).count() << " tiles: " << allocs
                          << " tensor allocations");
    CHECK(allocs <= 3);
    CHECK(p.shape() == shape4{1, 1, 300, 260});
}

TEST_CASE("batches of several images and multi-channel input") {
    using rgb_net = unet<unet_cfg{.in_channels = 3, .classes = 3, .base = 4, .depth = 2, .pad = padding::valid,
                                  .norm = norm_kind::none}>;
    rgb_net net(1);
    const tensor<float> imgs = make_image(21, 30, 3, 2);
    const auto p = infer::predict_tiled(net, imgs, {.tile = rgb_net::next_valid_size(rgb_net::min_input_size + 4), .batch = 4});
    CHECK(p.prob.shape() == shape4{2, 3, 21, 30});
    CHECK(p.mask.shape() == shape4{2, 1, 21, 30});
    for (float v : p.mask) CHECK((v == 0.0f || v == 1.0f || v == 2.0f));
    // Each image alone gives the same result.
    tensor<float> second(shape4{1, 3, 21, 30});
    std::copy_n(imgs.data() + imgs.shape().sample_size(), second.size(), second.data());
    const auto q = infer::predict_proba_tiled(net, second);
    double d = 0;
    for (std::size_t i = 0; i < q.size(); ++i) d = std::max(d, double(std::abs(q[i] - p.prob[q.size() + i])));
    CHECK(d < 1e-5);
}

TEST_CASE("errors name the problem") {
    valid_net net;
    const tensor<float> img = make_image(20, 20);
    try {
        (void)infer::predict_tiled(net, img, {.tile = valid_net::min_input_size + 1});
        FAIL("expected an exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("nearest valid sizes") != std::string::npos);
    }
    CHECK_THROWS_AS((void)infer::predict_tiled(net, make_image(20, 20, 3)), std::invalid_argument);
    CHECK_THROWS_AS((void)infer::predict_tiled(net, tensor<float>(shape4{1, 1, 0, 5})), std::invalid_argument);
    CHECK_THROWS_AS((void)infer::predict_tiled(net, img, {.batch = 0}), std::invalid_argument);
    // Masks: threshold for one class, foreground channel for two, argmax for more.
    const tensor<float> p1(shape4{1, 1, 1, 2}, {0.2f, 0.7f});
    CHECK(infer::make_mask(p1, 0.5f)[1] == 1.0f);
    CHECK(infer::make_mask(p1, 0.8f)[1] == 0.0f);
    const tensor<float> p3(shape4{1, 3, 1, 1}, {0.2f, 0.3f, 0.5f});
    CHECK(infer::make_mask(p3)[0] == 2.0f);
}
