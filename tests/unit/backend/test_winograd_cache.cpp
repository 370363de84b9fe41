// The cache of transformed Winograd weights at inference (kernels/winograd_cache.hpp).
//
// Its invariant: a cached transform is used only while the weights and the folded BatchNorm scale
// are bit for bit those it was made from. Every check here compares a cached run with a run that
// transforms afresh (the cache switched off): the two must agree bit for bit, because both run the
// same packing and the same kernel. The weights are changed in place at the same address (as an
// optimiser step, load_weights or a BatchNorm's running statistics do), so a cache keyed on the
// pointers alone would serve the old transform and fail these checks.
#include <doctest/doctest.h>

#include <unistd.h>

#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/backend/cpu/kernels/winograd_cache.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/optim/sgd.hpp>
#include <unetpp/unet.hpp>

#include "../../support/kernel_buffers.hpp"
#include "../../support/conv_algo.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace ck = unetpp::backend::cpu_kernels;

namespace {

using unetpp::test::random_floats;
using unetpp::test::workspace;

// Restores the cache limit in force at the start of a scope (and empties the cache).
class cache_limit_scope {
public:
    explicit cache_limit_scope(std::size_t bytes) {
        ck::clear_winograd_cache();
        ck::set_winograd_cache_limit_bytes(bytes);
    }
    ~cache_limit_scope() {
        ck::clear_winograd_cache();
        ck::set_winograd_cache_limit_bytes(keep_);
    }
    cache_limit_scope(const cache_limit_scope&) = delete;
    cache_limit_scope& operator=(const cache_limit_scope&) = delete;

private:
    std::size_t keep_ = ck::winograd_cache_limit_bytes();
};

// One fused convolution with its inputs, run with the cache on or off.
struct fused_case {
    ck::conv_geometry g;
    std::vector<float> x, w, b, scale, shift;
    fused_case(ck::conv_geometry geo, unsigned seed) : g(geo) {
        std::mt19937 rng(seed);
        x = random_floats(std::size_t(g.n) * g.cin * g.h * g.w, rng);
        w = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
        b = random_floats(std::size_t(g.cout), rng);
        scale = random_floats(std::size_t(g.cout), rng);
        shift = random_floats(std::size_t(g.cout), rng);
    }
    std::vector<float> run(bool with_scale = true) const {
        std::vector<float> y(std::size_t(g.n) * g.cout * g.oh() * g.ow(), 7.0f);
        workspace ws(ck::conv2d_forward_fused_workspace_floats(g));
        ck::conv2d_forward_fused(g, x.data(), w.data(), b.data(), with_scale ? scale.data() : nullptr, shift.data(),
                                 true, y.data(), ws.p);
        return y;
    }
    // The same call transforming the weights afresh, past the cache (which it leaves as it is):
    // the oracle.
    std::vector<float> fresh(bool with_scale = true) const {
        std::vector<float> y(std::size_t(g.n) * g.cout * g.oh() * g.ow(), 7.0f);
        workspace ws(ck::conv2d_forward_fused_workspace_floats(g));
        REQUIRE(ck::detail::winograd_forward_if_chosen(g, x.data(), w.data(), b.data(),
                                                       with_scale ? scale.data() : nullptr, shift.data(), true,
                                                       y.data(), ws.p, /*cached=*/false));
        return y;
    }
};

}  // namespace

TEST_CASE("kernel: reused while the weights are unchanged, rebuilt when they change in place") {
    if (!ck::detail::have_winograd) return;
    unetpp::test::conv_algo_scope force(ck::conv_algo::winograd);
    cache_limit_scope limit(std::size_t(64) << 20);
    fused_case c({2, 24, 21, 19, 40, 3, 3, 1, 1}, 5);

    auto s0 = ck::winograd_cache_stats();
    const auto y1 = c.run();
    auto s1 = ck::winograd_cache_stats();
    CHECK(s1.misses == s0.misses + 1);
    CHECK(s1.entries == 1);
    const auto y2 = c.run();
    auto s2 = ck::winograd_cache_stats();
    CHECK(s2.hits == s1.hits + 1);
    CHECK(y2 == y1);
    CHECK(y1 == c.fresh());

    SUBCASE("one weight changed at the same address") {
        c.w[c.w.size() / 2] += 0.25f;
        const auto y3 = c.run();
        CHECK(ck::winograd_cache_stats().misses == s2.misses + 1);
        CHECK(y3 == c.fresh());
        CHECK(y3 != y1);
        CHECK(c.run() == y3);  // and the new transform is reused
        CHECK(ck::winograd_cache_stats().entries == 1);  // replaced, not added
    }
    SUBCASE("the folded BatchNorm scale changed in place") {
        c.scale[3] *= 1.5f;
        const auto y3 = c.run();
        CHECK(y3 == c.fresh());
        CHECK(y3 != y1);
    }
    SUBCASE("no scale at the same weight address") {
        const auto y3 = c.run(false);
        CHECK(y3 == c.fresh(false));
        CHECK(y3 != y1);
    }
    SUBCASE("a sign bit: -0 and +0 are different weights to the cache") {
        c.w[0] = 0.0f;
        const auto a = c.run();
        c.w[0] = -0.0f;
        c.run();
        CHECK(ck::winograd_cache_stats().misses == s2.misses + 2);
        CHECK(c.run() == a);  // the same result, computed from a fresh transform
    }
}

TEST_CASE("kernel: a wide layer's weights packed per chunk inside the work agree bit for bit with the whole layer's") {
    if (!ck::detail::have_winograd) return;
    unetpp::test::conv_algo_scope force(ck::conv_algo::winograd);
    // 1024 input and 130 output channels: wide (its packed weights exceed 16 MiB), three chunks of
    // 64 output channels, the last partial. Without the cache every thread packs the chunks it
    // computes; the cache packs all 130 at once. At 16 x 16 (one tile block) the inputs are
    // transformed once for all chunks; at 60 x 60 (five blocks) that buffer would exceed its
    // budget and each thread transforms its blocks itself.
    for (int size : {16, 60}) {
        CAPTURE(size);
        fused_case c({1, 1024, size, size, 130, 3, 3, 1, 1}, 9);
        const auto q = ck::detail::winograd_plan_of(c.g);
        REQUIRE(ck::detail::wino::wide_layer(q));
        CHECK(ck::detail::wino::share_inputs(q) == (size == 16));
        std::vector<float> whole;
        {
            cache_limit_scope limit(std::size_t(64) << 20);
            whole = c.run();
            REQUIRE(ck::winograd_cache_stats().entries == 1);
            CHECK(c.run() == whole);  // a cached wide layer reads its chunks in place in the cache
        }
        CHECK(c.fresh() == whole);
        CHECK(c.fresh(false) != whole);
    }
}

TEST_CASE("kernel: the limit: too large layers are not kept, older entries are evicted, 0 turns it off") {
    if (!ck::detail::have_winograd) return;
    unetpp::test::conv_algo_scope force(ck::conv_algo::winograd);
    fused_case a({1, 32, 16, 16, 32, 3, 3, 1, 1}, 6), b({1, 32, 16, 16, 32, 3, 3, 1, 1}, 7);
    // One entry: U (36 x 32 x 32 floats) and the copy of the weights (9 x 32 x 32) and scale.
    const std::size_t one = (36 + 9) * 32 * 32 * sizeof(float) + 32 * sizeof(float);
    {
        cache_limit_scope limit(one);  // room for one
        const auto ya = a.run(), yb = b.run();
        const auto s = ck::winograd_cache_stats();
        CHECK(s.entries == 1);
        CHECK(s.bytes == one);
        CHECK(a.run() == ya);  // evicts b
        CHECK(b.run() == yb);
        CHECK(ck::winograd_cache_stats().evictions >= s.evictions + 2);
        CHECK(ya == a.fresh());
        CHECK(yb == b.fresh());
    }
    {
        cache_limit_scope limit(one - 1);  // too small for either: computed per call, nothing kept
        const auto ya = a.run();
        CHECK(ck::winograd_cache_stats().entries == 0);
        CHECK(ya == a.fresh());
    }
    {
        cache_limit_scope limit(0);
        a.run();
        CHECK(ck::winograd_cache_stats().entries == 0);
    }
}

TEST_CASE("UNETPP_WINOGRAD_CACHE_MB: megabytes, 0 = off, a clear error for anything else") {
    ::setenv("UNETPP_WINOGRAD_CACHE_MB", "16", 1);
    CHECK(ck::detail::wino::cache_limit_from_env() == std::size_t(16) << 20);
    ::setenv("UNETPP_WINOGRAD_CACHE_MB", "0", 1);
    CHECK(ck::detail::wino::cache_limit_from_env() == 0);
    for (const char* bad : {"-1", "12MB", "lots", "1.5"}) {
        ::setenv("UNETPP_WINOGRAD_CACHE_MB", bad, 1);
        CAPTURE(bad);
        CHECK_THROWS_WITH_AS(ck::detail::wino::cache_limit_from_env(), doctest::Contains("whole number of megabytes"),
                             std::invalid_argument);
    }
    ::unsetenv("UNETPP_WINOGRAD_CACHE_MB");
    CHECK(ck::detail::wino::cache_limit_from_env() == 0);  // off unless asked for (its memory)
}

TEST_CASE("network: a training step, switching modes and load_weights all invalidate the cached transforms") {
    using namespace unetpp;
    if (!ck::detail::have_winograd) return;
    test::conv_algo_scope force(ck::conv_algo::winograd);
    cache_limit_scope limit(std::size_t(256) << 20);
    using net_t = presets::unet_bn<16, 3>;
    net_t net(3);
    rng r(8);
    tensor<float> x(shape4{2, 1, 40, 48});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(r.normal());

    // Inference with the cache, and the oracle: the same call with the cache off.
    const auto infer = [&] {
        net.eval();
        inference_mode guard;
        const auto& y = net.forward(x);
        return std::vector<float>(y.data(), y.data() + y.size());
    };
    // The oracle: a copy of the network, whose weights live at new addresses, so its convolutions
    // transform them afresh (and leave the original's entries as they are).
    const auto infer_fresh = [&] {
        const auto misses = ck::winograd_cache_stats().misses;
        net_t twin(net);
        twin.eval();
        inference_mode guard;
        const auto& y = twin.forward(x);
        CHECK(ck::winograd_cache_stats().misses > misses);
        return std::vector<float>(y.data(), y.data() + y.size());
    };

    const auto y0 = infer();
    const auto hits0 = ck::winograd_cache_stats().hits;
    CHECK(ck::winograd_cache_stats().entries > 0);
    CHECK(infer() == y0);
    CHECK(ck::winograd_cache_stats().hits > hits0);  // the second call reused the transforms
    CHECK(y0 == infer_fresh());

    // Training mode: a forward moves the BatchNorm running statistics (the folded scale and
    // shift); backward and an SGD step move every weight in place.
    net.train(true);
    optim::sgd opt(net, {.lr = 0.05f});
    opt.zero_grad();
    const auto& yt = net.forward(x);
    tensor<float> dy(yt.shape());
    for (std::size_t i = 0; i < dy.size(); ++i) dy.data()[i] = float(r.normal());
    net.backward(x, dy);
    opt.step();
    const auto y1 = infer();
    CHECK(y1 != y0);
    CHECK(y1 == infer_fresh());

    // Only the running statistics: a training-mode forward, no step.
    net.train(true);
    net.forward(x);
    const auto y2 = infer();
    CHECK(y2 != y1);
    CHECK(y2 == infer_fresh());

    // Weights loaded from another network into the same tensors.
    net_t other(11);
    const auto path = std::filesystem::temp_directory_path() /
                      ("unetpp_test_winograd_cache_" + std::to_string(::getpid()) + ".safetensors");
    io::save_weights(other, path);
    io::load_weights(net, path);
    std::filesystem::remove(path);
    const auto y3 = infer();
    CHECK(y3 != y2);
    CHECK(y3 == infer_fresh());
    other.eval();
    {
        inference_mode guard;
        const auto& yo = other.forward(x);
        CHECK(y3 == std::vector<float>(yo.data(), yo.data() + yo.size()));
    }
}

// conv2d_forward_fused_two (a decoder reading its skip and up-sampled map where they lie): the
// output of conv2d_forward_fused on the concatenation, bit for bit, through the same cached
// transform; and a clear "no" where the gathers or the algorithm cannot read two tensors.
TEST_CASE("kernel: two input tensors give the fused output of their concatenation, bit for bit") {
    if (!ck::detail::have_winograd) return;
    cache_limit_scope limit(std::size_t(256) << 20);
    struct two_case {
        ck::conv_geometry g;
        int c0;
        int h0, w0;  // the first tensor's maps, centre-cropped to g.h x g.w
    };
    // {n, cin, h, w, cout, kh, kw, stride, pad}: groups in one tile row and groups spanning rows
    // and images (13 x 17 at batch 3), unequal halves at batch 1, valid padding, pad 2, the wide
    // layer of the test above at 8 x 8 (inputs transformed once, shared) and 60 x 60 (per part),
    // and cropped first tensors (an unpadded U-Net's skip; even and odd margins, batch 2, unequal
    // halves) whose lanes spanning rows are read one by one.
    const two_case cases[] = {
        {{1, 64, 32, 32, 32, 3, 3, 1, 1}, 32, 32, 32},     {{3, 32, 13, 17, 24, 3, 3, 1, 1}, 16, 13, 17},
        {{1, 56, 19, 23, 40, 3, 3, 1, 1}, 24, 19, 23},     {{2, 48, 22, 18, 32, 3, 3, 1, 0}, 24, 22, 18},
        {{1, 40, 15, 15, 20, 3, 3, 1, 2}, 20, 15, 15},     {{1, 1024, 8, 8, 130, 3, 3, 1, 1}, 512, 8, 8},
        {{1, 1024, 60, 60, 130, 3, 3, 1, 1}, 512, 60, 60}, {{1, 64, 30, 30, 32, 3, 3, 1, 0}, 32, 34, 34},
        {{2, 48, 26, 22, 24, 3, 3, 1, 0}, 16, 31, 29},     {{3, 32, 13, 17, 24, 3, 3, 1, 1}, 16, 21, 18},
    };
    for (const auto& tc : cases) {
        const ck::conv_geometry& g = tc.g;
        CAPTURE(g.n);
        CAPTURE(g.cin);
        CAPTURE(g.h);
        CAPTURE(tc.c0);
        CAPTURE(tc.h0);
        unetpp::test::conv_algo_scope force(ck::conv_algo::winograd);
        REQUIRE(ck::conv2d_forward_fused_two_supported(g, tc.c0, tc.h0, tc.w0));
        const fused_case c(g, 11);
        const int c1 = g.cin - tc.c0, oy = (tc.h0 - g.h) / 2, ox = (tc.w0 - g.w) / 2;
        const std::ptrdiff_t hw = std::ptrdiff_t(g.h) * g.w, hw0 = std::ptrdiff_t(tc.h0) * tc.w0;
        // The first tensor: the concatenation's first c0 channels inside a border of other values
        // (what the crop leaves out); the second: the other channels.
        std::mt19937 rng(12);
        std::vector<float> x0 = random_floats(std::size_t(g.n) * tc.c0 * hw0, rng);
        std::vector<float> x1(std::size_t(g.n) * c1 * hw);
        for (int n = 0; n < g.n; ++n) {
            const float* img = c.x.data() + std::ptrdiff_t(n) * g.cin * hw;
            for (int ci = 0; ci < tc.c0; ++ci)
                for (int yy = 0; yy < g.h; ++yy)
                    std::copy_n(img + ci * hw + std::ptrdiff_t(yy) * g.w, g.w,
                                x0.begin() + (std::ptrdiff_t(n) * tc.c0 + ci) * hw0 + std::ptrdiff_t(yy + oy) * tc.w0 + ox);
            std::copy(img + tc.c0 * hw, img + g.cin * hw, x1.begin() + std::ptrdiff_t(n) * c1 * hw);
        }
        std::vector<float> y(std::size_t(g.n) * g.cout * g.oh() * g.ow(), 7.0f);
        workspace ws(ck::conv2d_forward_fused_workspace_floats(g));
        ck::conv2d_forward_fused_two(g, x0.data(), tc.h0, tc.w0, x1.data(), tc.c0, c.w.data(), c.b.data(),
                                     c.scale.data(), c.shift.data(), true, y.data(), ws.p);
        CHECK(y == c.run());
        CHECK(y == c.fresh());
    }

    SUBCASE("where two tensors cannot be read") {
        unetpp::test::conv_algo_scope force(ck::conv_algo::winograd);
        const ck::conv_geometry batch2{2, 56, 16, 16, 32, 3, 3, 1, 1};
        CHECK(ck::conv2d_forward_fused_two_supported(batch2, 28, 16, 16));
        CHECK(ck::conv2d_forward_fused_two_supported(batch2, 24, 18, 16));  // cropped: read lane by lane
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported(batch2, 24, 16, 16));  // unequal halves, two images
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported(batch2, 28, 15, 16));  // smaller than the input
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported(batch2, 0, 16, 16));
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported(batch2, 56, 16, 16));
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported({1, 32, 16, 16, 32, 5, 5, 1, 2}, 16, 16, 16));  // 5 x 5
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported({1, 32, 16, 16, 32, 3, 3, 2, 1}, 16, 16, 16));  // strided
        std::vector<float> dummy(std::size_t(2) * 56 * 256);
        workspace ws(ck::conv2d_forward_fused_workspace_floats(batch2));
        CHECK_THROWS_AS(ck::conv2d_forward_fused_two(batch2, dummy.data(), 16, 16, dummy.data(), 24, dummy.data(),
                                                     nullptr, nullptr, nullptr, false, dummy.data(), ws.p),
                        std::invalid_argument);
    }
    SUBCASE("the direct kernel's choice is respected: no two-input forward where Winograd is not chosen") {
        unetpp::test::conv_algo_scope force(ck::conv_algo::direct);
        CHECK_FALSE(ck::conv2d_forward_fused_two_supported({1, 64, 32, 32, 32, 3, 3, 1, 1}, 32, 32, 32));
    }
}
