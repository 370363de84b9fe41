// Winograd F(4x4, 3x3) (kernels/winograd.hpp, winograd_avx2.hpp) against the direct kernels of
// the same build, the oracle: forward, fused forward (scale, shift, ReLU) and backward-data over
// padded and valid 3x3 stride-1 convolutions at batch 1 to 4, odd image sizes and channel counts
// that are not multiples of 8 or 16 (partial vectors of tiles, partial micro-kernel blocks of
// output channels, partial tiles at the right and bottom edges, windows crossing the border).
//
// This file is compiled twice: natively (AVX-512 on the project's machines) and as
// unit_backend_winograd_vs_direct_avx2 with -march=x86-64-v3 (AVX2 + FMA, no AVX-512; see
// tests/CMakeLists.txt), so the AVX2 body is tested on any AVX2 or AVX-512 machine. The error is
// measured relative to the sum of |products| of each output, with the bound of test_winograd.cpp.
#include <doctest/doctest.h>

#include <unetpp/backend/cpu/kernels/conv2d.hpp>

#include "../../support/kernel_buffers.hpp"
#include "../../support/conv_algo.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ck = unetpp::backend::cpu_kernels;

namespace {

using unetpp::test::random_floats;
using unetpp::test::workspace;

// The bound of test_winograd.cpp (its measured worst: 4.2e-5), for sums over 3 channels or more.
// A sum over a single channel can have outputs with a single product (the corners of a valid
// convolution's backward-data, padded by 2) while the tile's rounding scales with its whole 6 x 6
// window: 1->1 66x35 valid measured 2.0e-4 there, the same on AVX-512 and AVX2. Such geometries
// run Winograd only when it is forced (the automatic choice needs 16 channels), so they get a
// looser bound instead of leaving the test.
constexpr double winograd_tolerance = 1e-4;
double tolerance(int summed_channels) { return summed_channels >= 3 ? winograd_tolerance : 1e-3; }

std::string describe(const ck::conv_geometry& g) {
    std::ostringstream s;
    s << "n" << g.n << " " << g.cin << "->" << g.cout << " " << g.h << "x" << g.w << " pad " << g.pad;
    return s.str();
}

// |a - b| / (sum over the output's products of |w| |x|, plus |bias|), worst over every output.
// `mag` holds that sum per output (computed once from |w| and |x| with the reference kernel).
double worst_relative(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& mag) {
    double worst = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / std::max(double(mag[i]), 1e-30));
    return worst;
}

std::vector<float> absolute(std::vector<float> v) {
    for (auto& e : v) e = std::fabs(e);
    return v;
}

struct errors {
    double forward = 0, fused = 0, backward = 0;
};

// Runs g's forward, fused forward and backward-data on Winograd and on the direct kernels.
errors compare(const ck::conv_geometry& g, unsigned seed, bool relu) {
    std::mt19937 rng(seed);
    const auto x = random_floats(std::size_t(g.n) * g.cin * g.h * g.w, rng);
    const auto w = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
    const auto b = random_floats(std::size_t(g.cout), rng), shift = random_floats(std::size_t(g.cout), rng);
    auto scale = random_floats(std::size_t(g.cout), rng);
    for (auto& s : scale) s = 0.5f + std::fabs(s);
    const auto dy = random_floats(std::size_t(g.n) * g.cout * g.oh() * g.ow(), rng);
    const std::size_t ny = dy.size(), nx = x.size();

    // Magnitudes: the same convolutions of |x|, |w|, |dy| (and |bias|) by the reference loops.
    std::vector<float> mag_y(ny), mag_fused(ny), mag_dx(nx);
    const auto ax = absolute(x), aw = absolute(w), ab = absolute(b), ady = absolute(dy), ash = absolute(shift);
    ck::conv2d_forward_ref(g, ax.data(), aw.data(), ab.data(), mag_y.data());
    ck::conv2d_forward_fused_ref(g, ax.data(), aw.data(), ab.data(), scale.data(), ash.data(), false,
                                 mag_fused.data());
    ck::conv2d_backward_data_ref(g, ady.data(), aw.data(), mag_dx.data());

    std::vector<float> y[2], yf[2], dx[2];
    for (int k = 0; k < 2; ++k) {
        const auto algo = k == 0 ? ck::conv_algo::direct : ck::conv_algo::winograd;
        unetpp::test::conv_algo_scope force(algo);
        const bool want = k == 1;
        REQUIRE((std::string(ck::conv2d_forward_algorithm(g)).find("winograd") != std::string::npos) == want);
        REQUIRE((std::string(ck::conv2d_backward_data_algorithm(g)).find("winograd") != std::string::npos) == want);
        REQUIRE(std::string(ck::conv2d_forward_algorithm({1, 8, 8, 8, 8, 1, 1, 1, 0})).find("direct") == 0);
        workspace ws(std::max({ck::conv2d_forward_workspace_floats(g), ck::conv2d_forward_fused_workspace_floats(g),
                               ck::conv2d_backward_data_workspace_floats(g)}));
        y[k].assign(ny, 7.0f);
        yf[k].assign(ny, 7.0f);
        dx[k].assign(nx, 7.0f);
        ck::conv2d_forward(g, x.data(), w.data(), b.data(), y[k].data(), ws.p);
        ck::conv2d_forward_fused(g, x.data(), w.data(), b.data(), scale.data(), shift.data(), relu, yf[k].data(), ws.p);
        ck::conv2d_backward_data(g, dy.data(), w.data(), dx[k].data(), ws.p);
    }
    if (relu) CHECK(*std::min_element(yf[1].begin(), yf[1].end()) >= 0.0f);
    return {worst_relative(y[1], y[0], mag_y), worst_relative(yf[1], yf[0], mag_fused),
            worst_relative(dx[1], dx[0], mag_dx)};
}

void check_all(const std::vector<ck::conv_geometry>& gs) {
    errors worst;
    unsigned seed = 11;
    for (const auto& g : gs) {
        CAPTURE(describe(g));
        const errors e = compare(g, seed, seed % 2 == 0);
        ++seed;
        CHECK(e.forward < tolerance(g.cin));
        CHECK(e.fused < tolerance(g.cin));
        CHECK(e.backward < tolerance(g.cout));  // backward-data sums over the output channels
        worst.forward = std::max(worst.forward, e.forward);
        worst.fused = std::max(worst.fused, e.fused);
        worst.backward = std::max(worst.backward, e.backward);
    }
    MESSAGE(std::string(ck::detail::winograd_name) << ", " << gs.size() << " geometries against the direct kernels: worst error / "
                                      << "sum |products|: forward " << worst.forward << ", fused " << worst.fused
                                      << ", backward-data " << worst.backward);
}

}  // namespace

TEST_CASE("the build runs the Winograd body it was compiled for") {
#if defined(UNETPP_TEST_EXPECT_AVX2)
#if defined(__AVX512F__)
#error "the AVX2 variant of this test must be compiled without AVX-512 (-march=x86-64-v3)"
#endif
    CHECK(std::string(ck::detail::winograd_name) == "winograd-avx2 F(4x4,3x3)");
    CHECK(std::string(ck::conv2d_forward_algorithm({1, 8, 8, 8, 8, 3, 3, 1, 1})).find("direct-avx2") == 0);
#elif defined(__AVX512F__)
    CHECK(std::string(ck::detail::winograd_name) == "winograd-avx512 F(4x4,3x3)");
#endif
    if (!ck::detail::have_winograd) MESSAGE("no Winograd in this build (needs AVX-512 or AVX2 + FMA)");
}

TEST_CASE("preset geometries, batch 1 to 4: Winograd matches the direct kernels") {
    if (!ck::detail::have_winograd || !ck::detail::have_direct) return;
    std::vector<ck::conv_geometry> gs;
    // unet_bn<16|32, 4> levels at 64 x 64 (first, second and decoder convolutions), one batch each.
    int n = 1;
    for (int base : {16, 32})
        for (int l = 0; l <= 4; ++l) {
            const int c = base << l, s = 64 >> l;
            gs.push_back({n, l == 0 ? 3 : c / 2, s, s, c, 3, 3, 1, 1});
            gs.push_back({n % 4 + 1, c, s, s, c, 3, 3, 1, 1});
            if (l < 4) gs.push_back({(n + 1) % 4 + 1, 2 * c, s, s, c, 3, 3, 1, 1});
            n = n % 4 + 1;
        }
    // ronneberger2015-like valid convolutions on odd sizes.
    gs.push_back({1, 1, 61, 61, 32, 3, 3, 1, 0});
    gs.push_back({2, 32, 59, 59, 32, 3, 3, 1, 0});
    gs.push_back({1, 64, 28, 28, 128, 3, 3, 1, 0});
    check_all(gs);
}

TEST_CASE("odd sizes and channel counts that are not multiples of 8") {
    if (!ck::detail::have_winograd || !ck::detail::have_direct) return;
    std::vector<ck::conv_geometry> gs;
    int n = 1;
    for (int pad : {0, 1, 2})
        for (auto [h, w] : {std::pair{3, 3}, {5, 7}, {9, 13}, {17, 30}, {23, 37}, {31, 70}, {4, 130}, {66, 35}})
            for (auto [cin, cout] : {std::pair{1, 1}, {3, 5}, {13, 19}, {17, 70}, {36, 9}}) {
                if (h + 2 * pad < 3 || w + 2 * pad < 3) continue;
                gs.push_back({n, cin, h, w, cout, 3, 3, 1, pad});
                n = n % 4 + 1;
            }
    check_all(gs);
}

TEST_CASE("wide layers, their weights packed per chunk inside the work: Winograd matches the direct kernels") {
    if (!ck::detail::have_winograd || !ck::detail::have_direct) return;
    // Forward: 130 output channels over 1024 inputs (the last chunk partial, not a multiple of 16);
    // backward-data: the same with the channels swapped; a batch of two tile blocks.
    const std::vector<ck::conv_geometry> gs = {
        {1, 1024, 8, 8, 130, 3, 3, 1, 1}, {1, 130, 8, 8, 1024, 3, 3, 1, 1}, {4, 912, 14, 14, 130, 3, 3, 1, 1}};
    CHECK(ck::detail::wino::wide_layer(ck::detail::winograd_plan_of(gs[0])));
    CHECK(ck::detail::wino::wide_layer(ck::detail::winograd_plan_of(ck::detail::winograd_backward_geometry(gs[1]))));
    CHECK(ck::detail::wino::wide_layer(ck::detail::winograd_plan_of(gs[2])));
    // The workspace holds a chunk of packed weights per thread, not the layer's: for the
    // bottleneck of unet_bn<64, 4> at 256 x 256, less than a quarter of the whole layer's (151 MB).
    const ck::conv_geometry bottleneck{1, 1024, 16, 16, 1024, 3, 3, 1, 1};
    CHECK(ck::detail::winograd_workspace_floats(bottleneck) <
          ck::detail::wino::packed_weight_floats(1024, 1024) / 4);
    check_all(gs);
}
