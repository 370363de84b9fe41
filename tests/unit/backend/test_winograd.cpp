// Tests of the Winograd F(4x4, 3x3) convolution (kernels/winograd.hpp):
//
//  * the transform matrices: AT derived from the interpolation points, and the 1-D identity
//    y = AT ((G g) .* (BT d)) checked exactly on every basis pair;
//  * forward (plain and fused) and backward-data against the reference convolution over every
//    stride-1 3x3 geometry of the presets (unet_bn<16..64, 3..4> at 64, 128, 256 and the valid
//    convolutions of ronneberger2015) and odd sizes, with the error bounded relative to the sum of
//    |products| of each output (see winograd_tolerance);
//  * backward-weights on Winograd F(3x3, 4x4) (winograd_wgrad.hpp) against the exact sums over the
//    same geometries, accumulating into a non-zero gradient, including wide layers cut into
//    chunks of output channels;
//  * bit-identical results for 1 and 3 threads;
//  * a whole unet_bn forward and backward with Winograd against the same network on the direct
//    kernels (on Winograd its decoders read their skip and up-sampled map as two inputs, on the
//    direct kernels they concatenate them: the two paths of models/unet.hpp against each other);
//  * the two-input training passes against the one-input passes on the concatenation.
#include <doctest/doctest.h>

#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/unet.hpp>

#include "../../support/kernel_buffers.hpp"
#include "../../support/compare.hpp"
#include "../../support/conv_algo.hpp"
#include "../../support/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ck = unetpp::backend::cpu_kernels;

namespace {

using unetpp::test::random_floats;
using unetpp::test::workspace;

// Error bound relative to the sum of |products| of an output. Measured worst cases: 1.7e-5
// forward and 4.2e-5 backward-data, both on 1- to 3-channel inputs and odd images forced onto
// Winograd (few products, so the transforms' intermediate values, scaled by up to 8 * 8 and
// 1/6^2 and summed over the whole 6x6 window, dominate); up to 4e-6 with 16 channels and more,
// where the automatic choice uses it. The direct kernel stays below 1e-6. The bound leaves a
// factor of about 2.4 over the worst measured case.
constexpr double winograd_tolerance = 1e-4;

// Restores the automatic algorithm choice at the end of a scope.
using algo_guard = unetpp::test::conv_algo_scope;

std::string describe(const ck::conv_geometry& g) {
    std::ostringstream s;
    s << "n" << g.n << " " << g.cin << "->" << g.cout << " " << g.h << "x" << g.w << " pad " << g.pad;
    return s.str();
}

// Output elements checked for a geometry: all of them for small tensors, otherwise the corners of
// every plane's first and last output channel (partial tiles, padding) plus random ones, so the
// reference's cost stays bounded.
std::vector<std::size_t> sample(std::size_t count, int c, int oh, int ow, int n, std::mt19937& rng) {
    std::vector<std::size_t> idx;
    if (count <= 6000) {
        for (std::size_t i = 0; i < count; ++i) idx.push_back(i);
        return idx;
    }
    const std::size_t plane = std::size_t(oh) * ow;
    for (int s : {0, n - 1})
        for (int ch : {0, c - 1})
            for (int y : {0, 1, 2, 3, 4, oh - 5, oh - 4, oh - 3, oh - 2, oh - 1})
                for (int x : {0, 1, 2, 3, 4, ow - 5, ow - 4, ow - 3, ow - 2, ow - 1})
                    if (y >= 0 && y < oh && x >= 0 && x < ow) idx.push_back((std::size_t(s) * c + ch) * plane + std::size_t(y) * ow + x);
    std::uniform_int_distribution<std::size_t> u(0, count - 1);
    for (int k = 0; k < 3000; ++k) idx.push_back(u(rng));
    return idx;
}

// Worst |fast - exact| / (sum of |products| + |bias|) over the sampled outputs of the forward pass.
double forward_error(const ck::conv_geometry& g, const std::vector<float>& x, const std::vector<float>& w,
                     const std::vector<float>& b, const std::vector<float>& y, std::mt19937& rng) {
    const int OH = g.oh(), OW = g.ow();
    double worst = 0.0;
    for (std::size_t i : sample(y.size(), g.cout, OH, OW, g.n, rng)) {
        const int ox = int(i % OW), oy = int(i / OW % OH), co = int(i / (std::size_t(OW) * OH) % g.cout);
        const int n = int(i / (std::size_t(OW) * OH * g.cout));
        double s = b[co], mag = std::fabs(b[co]);
        for (int ci = 0; ci < g.cin; ++ci)
            for (int ky = 0; ky < 3; ++ky)
                for (int kx = 0; kx < 3; ++kx) {
                    const int iy = oy + ky - g.pad, ix = ox + kx - g.pad;
                    if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                    const double p = double(w[((std::size_t(co) * g.cin + ci) * 3 + ky) * 3 + kx]) *
                                     x[((std::size_t(n) * g.cin + ci) * g.h + iy) * g.w + ix];
                    s += p;
                    mag += std::fabs(p);
                }
        worst = std::max(worst, std::fabs(y[i] - s) / std::max(mag, 1e-30));
    }
    return worst;
}

// The same for backward-data: dx[n,ci,iy,ix] = sum w[co,ci,ky,kx] dy[n,co,iy+pad-ky,ix+pad-kx].
double backward_data_error(const ck::conv_geometry& g, const std::vector<float>& dy, const std::vector<float>& w,
                           const std::vector<float>& dx, std::mt19937& rng) {
    const int OH = g.oh(), OW = g.ow();
    double worst = 0.0;
    for (std::size_t i : sample(dx.size(), g.cin, g.h, g.w, g.n, rng)) {
        const int ix = int(i % g.w), iy = int(i / g.w % g.h), ci = int(i / (std::size_t(g.w) * g.h) % g.cin);
        const int n = int(i / (std::size_t(g.w) * g.h * g.cin));
        double s = 0.0, mag = 0.0;
        for (int co = 0; co < g.cout; ++co)
            for (int ky = 0; ky < 3; ++ky)
                for (int kx = 0; kx < 3; ++kx) {
                    const int oy = iy + g.pad - ky, ox = ix + g.pad - kx;
                    if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                    const double p = double(w[((std::size_t(co) * g.cin + ci) * 3 + ky) * 3 + kx]) *
                                     dy[((std::size_t(n) * g.cout + co) * OH + oy) * OW + ox];
                    s += p;
                    mag += std::fabs(p);
                }
        worst = std::max(worst, std::fabs(dx[i] - s) / std::max(mag, 1e-30));
    }
    return worst;
}

// The same for backward-weights, which adds into dw (dw0: what dw held before):
// dw[co,ci,ky,kx] = dw0 + sum over n, oy, ox of dy[n,co,oy,ox] x[n,ci,oy+ky-pad,ox+kx-pad]; the
// error relative to the sum of |products| + |dw0|, over the first and last channel pairs and
// random ones.
double backward_weights_error(const ck::conv_geometry& g, const std::vector<float>& x, const std::vector<float>& dy,
                              const std::vector<float>& dw0, const std::vector<float>& dw, std::mt19937& rng) {
    const int OH = g.oh(), OW = g.ow();
    std::vector<std::size_t> idx;
    for (int co : {0, g.cout - 1})
        for (int ci : {0, g.cin - 1})
            for (int k = 0; k < 9; ++k) idx.push_back((std::size_t(co) * g.cin + ci) * 9 + k);
    std::uniform_int_distribution<std::size_t> u(0, dw.size() - 1);
    for (int k = 0; k < 64; ++k) idx.push_back(u(rng));
    double worst = 0.0;
    for (std::size_t i : idx) {
        const int k = int(i % 9), ci = int(i / 9 % g.cin), co = int(i / 9 / g.cin), ky = k / 3, kx = k % 3;
        double s = dw0[i], mag = std::fabs(dw0[i]);
        for (int n = 0; n < g.n; ++n)
            for (int oy = 0; oy < OH; ++oy) {
                const int iy = oy + ky - g.pad;
                if (iy < 0 || iy >= g.h) continue;
                const float* xr = x.data() + ((std::size_t(n) * g.cin + ci) * g.h + iy) * g.w;
                const float* dr = dy.data() + ((std::size_t(n) * g.cout + co) * OH + oy) * OW;
                for (int ox = 0; ox < OW; ++ox) {
                    const int ix = ox + kx - g.pad;
                    if (ix < 0 || ix >= g.w) continue;
                    const double p = double(dr[ox]) * xr[ix];
                    s += p;
                    mag += std::fabs(p);
                }
            }
        worst = std::max(worst, std::fabs(dw[i] - s) / std::max(mag, 1e-30));
    }
    return worst;
}

// Whether g's backward-weights pass runs on Winograd under the current algorithm setting.
bool wgrad_on_winograd(const ck::conv_geometry& g) {
    return std::string(ck::conv2d_backward_weights_algorithm(g)).find("winograd") != std::string::npos;
}

// Runs backward-weights of g with Winograd forced (g must be one it runs); returns the worst error.
double winograd_wgrad_error(const ck::conv_geometry& g, unsigned seed) {
    std::mt19937 rng(seed);
    const auto x = random_floats(std::size_t(g.n) * g.cin * g.h * g.w, rng);
    const auto dy = random_floats(std::size_t(g.n) * g.cout * g.oh() * g.ow(), rng);
    const auto dw0 = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
    auto dw = dw0;
    std::vector<float> db(std::size_t(g.cout), 0.0f);
    algo_guard force(ck::conv_algo::winograd);
    REQUIRE(wgrad_on_winograd(g));
    workspace ws(ck::conv2d_backward_weights_workspace_floats(g));
    ck::conv2d_backward_weights(g, x.data(), dy.data(), dw.data(), db.data(), ws.p);
    // The bias gradient: the plain sum of dy per output channel.
    const std::size_t ohw = std::size_t(g.oh()) * g.ow();
    for (int co : {0, g.cout - 1}) {
        double s = 0.0;
        for (int n = 0; n < g.n; ++n)
            for (std::size_t p = 0; p < ohw; ++p) s += dy[(std::size_t(n) * g.cout + co) * ohw + p];
        CHECK(std::fabs(db[std::size_t(co)] - s) <= 1e-5 * std::max(1.0, double(ohw) * g.n));
    }
    return backward_weights_error(g, x, dy, dw0, dw, rng);
}

// Runs forward and backward-data of g with Winograd forced; returns the two worst errors.
std::pair<double, double> winograd_errors(const ck::conv_geometry& g, unsigned seed) {
    std::mt19937 rng(seed);
    const auto x = random_floats(std::size_t(g.n) * g.cin * g.h * g.w, rng);
    const auto w = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
    const auto b = random_floats(std::size_t(g.cout), rng);
    const auto dy = random_floats(std::size_t(g.n) * g.cout * g.oh() * g.ow(), rng);
    std::vector<float> y(dy.size(), 7.0f), dx(x.size(), 7.0f);
    algo_guard force(ck::conv_algo::winograd);
    REQUIRE(std::string(ck::conv2d_forward_algorithm(g)).find("winograd") != std::string::npos);
    REQUIRE(std::string(ck::conv2d_backward_data_algorithm(g)).find("winograd") != std::string::npos);
    workspace ws(std::max(ck::conv2d_forward_workspace_floats(g), ck::conv2d_backward_data_workspace_floats(g)));
    ck::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), ws.p);
    ck::conv2d_backward_data(g, dy.data(), w.data(), dx.data(), ws.p);
    return {forward_error(g, x, w, b, y, rng), backward_data_error(g, dy, w, dx, rng)};
}

void check_geometries(const std::vector<ck::conv_geometry>& gs) {
    double worst_f = 0.0, worst_b = 0.0, worst_w = 0.0;
    unsigned seed = 1;
    int wgrad = 0;
    for (const auto& g : gs) {
        CAPTURE(describe(g));
        const auto [ef, eb] = winograd_errors(g, seed++);
        CHECK(ef < winograd_tolerance);
        CHECK(eb < winograd_tolerance);
        worst_f = std::max(worst_f, ef);
        worst_b = std::max(worst_b, eb);
        algo_guard force(ck::conv_algo::winograd);
        if (!wgrad_on_winograd(g)) continue;  // channel counts the micro-kernel's blocks do not divide
        ++wgrad;
        const double ew = winograd_wgrad_error(g, seed++);
        CHECK(ew < winograd_tolerance);
        worst_w = std::max(worst_w, ew);
    }
    MESSAGE(gs.size() << " geometries: worst error / sum |products|: forward " << worst_f << ", backward-data "
                      << worst_b << "; backward-weights (" << wgrad << " of them) " << worst_w);
}

}  // namespace

TEST_CASE("transform matrices: AT from the interpolation points, exact 1-D identity on every basis pair") {
    // Rows of AT are the powers 0..3 of the points 0, 1, -1, 2, -2; the point at infinity
    // contributes only the highest power.
    const double pts[5] = {0, 1, -1, 2, -2};
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 5; ++j) CHECK(ck::winograd_AT[i][j] == std::pow(pts[j], i));
        CHECK(ck::winograd_AT[i][5] == (i == 3 ? 1.0 : 0.0));
    }
    // y[i] = sum_j AT[i][j] (G g)[j] (BT d)[j] must equal sum_k g[k] d[i+k] for every d, g: the
    // map is bilinear, so checking d = e_p, g = e_k for all p, k proves it.
    for (int p = 0; p < 6; ++p)
        for (int k = 0; k < 3; ++k)
            for (int i = 0; i < 4; ++i) {
                double y = 0.0;
                for (int j = 0; j < 6; ++j) y += ck::winograd_AT[i][j] * ck::winograd_G[j][k] * ck::winograd_BT[j][p];
                CAPTURE(p);
                CAPTURE(k);
                CAPTURE(i);
                CHECK(std::fabs(y - (p == i + k ? 1.0 : 0.0)) < 1e-14);
            }
}

TEST_CASE("backward-weights transforms: exact 1-D identity F(3, 4) on every basis pair") {
    // dw[k] = sum_a G[a][k] (AT^T e)[a] (BT d)[a] must equal sum_i e[i] d[i+k] (winograd_transforms.hpp,
    // "The backward-weights pass"); bilinear in e and d, so the basis pairs prove it.
    for (int p = 0; p < 6; ++p)
        for (int i = 0; i < 4; ++i)
            for (int k = 0; k < 3; ++k) {
                double w = 0.0;
                for (int a = 0; a < 6; ++a) w += ck::winograd_G[a][k] * ck::winograd_AT[i][a] * ck::winograd_BT[a][p];
                CAPTURE(p);
                CAPTURE(i);
                CAPTURE(k);
                CHECK(std::fabs(w - (p == i + k ? 1.0 : 0.0)) < 1e-14);
            }
}

TEST_CASE("forward and backward-data match the reference on every preset geometry") {
    if (!ck::detail::have_winograd) {
        MESSAGE("Winograd is compiled only with AVX-512 or AVX2 + FMA; this build routes every convolution elsewhere");
        CHECK(std::string(ck::conv2d_forward_algorithm({1, 64, 64, 64, 64, 3, 3, 1, 1})).find("winograd") ==
              std::string::npos);
        return;
    }
    std::set<std::tuple<int, int, int, int>> seen;  // cin, cout, size, pad
    std::vector<ck::conv_geometry> gs;
    const auto add = [&](int cin, int cout, int size, int pad) {
        if (seen.insert({cin, cout, size, pad}).second) gs.push_back({1, cin, size, size, cout, 3, 3, 1, pad});
    };
    SUBCASE("unet_bn<16..64, 3..4, in 1 or 3> at 64, 128, 256") {
        for (int base : {16, 32, 64})
            for (int depth : {3, 4})
                for (int size : {64, 128, 256})
                    for (int in : {1, 3})
                        for (int l = 0; l <= depth; ++l) {
                            const int c = base << l, s = size >> l;
                            add(l == 0 ? in : c / 2, c, s, 1);  // first convolution of the level
                            add(c, c, s, 1);                    // second
                            if (l < depth) add(2 * c, c, s, 1);  // decoder, after the concatenation
                        }
        check_geometries(gs);
    }
    SUBCASE("ronneberger2015 at 572 (valid convolutions)") {
        int s = 572;
        for (int l = 0; l <= 4; ++l) {  // encoder
            const int c = 64 << l;
            add(l == 0 ? 1 : c / 2, c, s, 0);
            add(c, c, s - 2, 0);
            s = l < 4 ? (s - 4) / 2 : s - 4;
        }
        for (int l = 3; l >= 0; --l) {  // decoder
            const int c = 64 << l;
            s *= 2;
            add(2 * c, c, s, 0);
            add(c, c, s - 2, 0);
            s -= 4;
        }
        check_geometries(gs);
    }
}

TEST_CASE("odd sizes, channel counts and batches") {
    if (!ck::detail::have_winograd) return;
    std::vector<ck::conv_geometry> gs;
    for (int pad : {0, 1, 2})
        for (auto [h, w] : {std::pair{1, 1}, {2, 3}, {3, 3}, {5, 7}, {6, 6}, {7, 5}, {9, 13}, {17, 30}, {31, 70},
                            {66, 67}, {4, 130}})
            for (auto [cin, cout] : {std::pair{1, 1}, {3, 5}, {17, 19}, {16, 70}})
                if (h + 2 * pad >= 3 && w + 2 * pad >= 3) gs.push_back({3, cin, h, w, cout, 3, 3, 1, pad});
    check_geometries(gs);
}

TEST_CASE("backward-weights: odd sizes, batches, padding, wide layers in chunks") {
    if (!ck::detail::have_winograd) return;
    std::vector<ck::conv_geometry> gs;
    for (int pad : {0, 1, 2})
        for (auto [h, w] : {std::pair{1, 1}, {2, 3}, {5, 7}, {6, 6}, {9, 13}, {17, 30}, {31, 70}, {66, 67}, {4, 130}})
            for (auto [cin, cout] : {std::pair{4, 4}, {16, 8}, {20, 36}})
                if (h + 2 * pad >= 3 && w + 2 * pad >= 3) gs.push_back({3, cin, h, w, cout, 3, 3, 1, pad});
    // Wide layers: their 36 x cout x cin sums exceed the budget, so the output channels run in
    // chunks (two and three of them here, the last one shorter where cout does not divide).
    gs.push_back({2, 512, 10, 9, 512, 3, 3, 1, 1});
    gs.push_back({1, 1024, 7, 7, 1028, 3, 3, 1, 1});
    double worst = 0.0;
    unsigned seed = 100;
    for (const auto& g : gs) {
        CAPTURE(describe(g));
        const double e = winograd_wgrad_error(g, seed++);
        CHECK(e < winograd_tolerance);
        worst = std::max(worst, e);
    }
    {
        const ck::detail::wino::wgrad_plan p =
            ck::detail::wino::make_wgrad_plan(ck::detail::winograd_plan_of(gs.back()), ck::detail::wgrad_rows);
        CHECK(p.chunks >= 2);
        CHECK(p.m_floats <= ck::detail::wino::wgrad_sums_budget);
    }
    MESSAGE(gs.size() << " geometries: worst backward-weights error / sum |products| " << worst);
}

TEST_CASE("backward-weights: the automatic choice and where Winograd cannot run it") {
    if (!ck::detail::have_winograd) return;
    // Chosen from 64 tiles on, where it beat the GEMM kernel; not on 16 tiles.
    CHECK(wgrad_on_winograd({4, 32, 256, 256, 32, 3, 3, 1, 1}));
    CHECK(wgrad_on_winograd({4, 1024, 16, 16, 1024, 3, 3, 1, 1}));
    CHECK_FALSE(wgrad_on_winograd({1, 512, 16, 16, 512, 3, 3, 1, 1}));
    algo_guard force(ck::conv_algo::winograd);
    CHECK_FALSE(wgrad_on_winograd({1, 3, 64, 64, 32, 3, 3, 1, 1}));    // 3 input channels: no block of them
    CHECK_FALSE(wgrad_on_winograd({1, 32, 64, 64, 30, 3, 3, 1, 1}));   // 30 output channels: no block of 4
    CHECK_FALSE(wgrad_on_winograd({1, 32, 64, 64, 32, 5, 5, 1, 2}));   // 5x5
    CHECK_FALSE(wgrad_on_winograd({1, 32, 64, 64, 32, 3, 3, 2, 1}));   // strided
    algo_guard direct(ck::conv_algo::direct);
    CHECK_FALSE(wgrad_on_winograd({4, 32, 256, 256, 32, 3, 3, 1, 1}));
}

TEST_CASE("fused forward: scale, shift and ReLU folded like the reference epilogue") {
    if (!ck::detail::have_winograd) return;
    const ck::conv_geometry g{2, 24, 19, 21, 40, 3, 3, 1, 1};
    std::mt19937 rng(3);
    const auto x = random_floats(std::size_t(g.n) * g.cin * g.h * g.w, rng);
    const auto w = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
    const auto b = random_floats(std::size_t(g.cout), rng), sh = random_floats(std::size_t(g.cout), rng);
    auto sc = random_floats(std::size_t(g.cout), rng);
    for (auto& v : sc) v = 0.5f + std::fabs(v);
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    std::vector<float> y(ny), yr(ny);
    algo_guard force(ck::conv_algo::winograd);
    for (bool relu : {false, true}) {
        workspace ws(ck::conv2d_forward_fused_workspace_floats(g));
        ck::conv2d_forward_fused(g, x.data(), w.data(), b.data(), sc.data(), sh.data(), relu, y.data(), ws.p);
        ck::conv2d_forward_fused_ref(g, x.data(), w.data(), b.data(), sc.data(), sh.data(), relu, yr.data());
        double worst = 0.0;
        for (std::size_t i = 0; i < ny; ++i) worst = std::max(worst, double(std::fabs(y[i] - yr[i])));
        CAPTURE(relu);
        CHECK(worst < 1e-4);  // outputs of magnitude ~10: about 1e-5 relative
        if (relu) CHECK(*std::min_element(y.begin(), y.end()) == 0.0f);
    }
}

TEST_CASE("the result does not depend on the thread count") {
#ifdef _OPENMP
    if (!ck::detail::have_winograd) return;
    const ck::conv_geometry g{1, 32, 45, 37, 130, 3, 3, 1, 1};
    std::mt19937 rng(4);
    const auto x = random_floats(std::size_t(g.n) * g.cin * g.h * g.w, rng);
    const auto w = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
    const auto b = random_floats(std::size_t(g.cout), rng);
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    std::vector<float> y1(ny), y3(ny);
    algo_guard force(ck::conv_algo::winograd);
    const int before = omp_get_max_threads();
    for (auto [threads, out] : {std::pair{1, &y1}, {3, &y3}}) {
        omp_set_num_threads(threads);
        workspace ws(ck::conv2d_forward_workspace_floats(g));
        ck::conv2d_forward(g, x.data(), w.data(), b.data(), out->data(), ws.p);
    }
    omp_set_num_threads(before);
    CHECK(y1 == y3);
    // Backward-weights too, including a wide layer cut into chunks.
    for (const ck::conv_geometry gw : {ck::conv_geometry{3, 32, 45, 37, 132, 3, 3, 1, 1},
                                       ck::conv_geometry{2, 512, 10, 9, 512, 3, 3, 1, 1}}) {
        const auto xw = random_floats(std::size_t(gw.n) * gw.cin * gw.h * gw.w, rng);
        const auto dy = random_floats(std::size_t(gw.n) * gw.cout * gw.oh() * gw.ow(), rng);
        std::vector<float> dw1(std::size_t(gw.cout) * gw.cin * 9, 0.0f), dw3(dw1);
        for (auto [threads, out] : {std::pair{1, &dw1}, {3, &dw3}}) {
            omp_set_num_threads(threads);
            workspace ws(ck::conv2d_backward_weights_workspace_floats(gw));
            ck::conv2d_backward_weights(gw, xw.data(), dy.data(), out->data(), nullptr, ws.p);
        }
        omp_set_num_threads(before);
        CAPTURE(describe(gw));
        CHECK(wgrad_on_winograd(gw));
        CHECK(dw1 == dw3);
    }
#endif
}

TEST_CASE("UNETPP_CONV_ALGO: values and a clear error for a wrong one") {
    ::setenv("UNETPP_CONV_ALGO", "winograd", 1);
    CHECK(ck::detail::conv_algo_from_env() == ck::conv_algo::winograd);
    ::setenv("UNETPP_CONV_ALGO", "direct", 1);
    CHECK(ck::detail::conv_algo_from_env() == ck::conv_algo::direct);
    ::setenv("UNETPP_CONV_ALGO", "wingorad", 1);
    CHECK_THROWS_WITH_AS(ck::detail::conv_algo_from_env(), doctest::Contains("direct, gemm, winograd or auto"),
                         std::invalid_argument);
    ::unsetenv("UNETPP_CONV_ALGO");
    CHECK(ck::detail::conv_algo_from_env() == ck::conv_algo::automatic);
    {
        algo_guard force(ck::conv_algo::gemm);
        CHECK(std::string(ck::conv2d_forward_algorithm({1, 64, 64, 64, 64, 3, 3, 1, 1})) == "im2col+eigen-gemm");
    }
    {
        algo_guard force(ck::conv_algo::winograd);  // only stride-1 3x3 convolutions can run it
        const ck::conv_geometry s2{1, 64, 64, 64, 64, 3, 3, 2, 1}, k5{1, 64, 64, 64, 64, 5, 5, 1, 2};
        for (const auto& g : {s2, k5}) {
            CHECK(std::string(ck::conv2d_forward_algorithm(g)).find("winograd") == std::string::npos);
            CHECK(std::string(ck::conv2d_backward_data_algorithm(g)).find("winograd") == std::string::npos);
        }
    }
    // The automatic choice: Winograd from 16 channels and 16 tiles on, the direct kernel below.
    CHECK(std::string(ck::conv2d_forward_algorithm({1, 64, 16, 16, 64, 3, 3, 1, 1})).find("winograd") !=
          std::string::npos);
    CHECK(std::string(ck::conv2d_forward_algorithm({1, 64, 8, 8, 64, 3, 3, 1, 1})).find("winograd") ==
          std::string::npos);
    CHECK(std::string(ck::conv2d_forward_algorithm({1, 3, 64, 64, 64, 3, 3, 1, 1})).find("winograd") ==
          std::string::npos);
    algo_guard force(ck::conv_algo::direct);
    CHECK(std::string(ck::conv2d_forward_algorithm({1, 64, 64, 64, 64, 3, 3, 1, 1})).find("winograd") ==
          std::string::npos);
}

TEST_CASE("whole unet_bn: forward and backward with Winograd match the direct kernels") {
    using namespace unetpp;
    if (!ck::detail::have_winograd) return;
    using net_t = presets::unet_bn<16, 3>;
    net_t direct(9), wino(9);
    direct.need_input_grad(true);
    wino.need_input_grad(true);
    // Evaluation mode: batch norm is then a fixed affine map, and the differences track the
    // kernels' rounding. In training mode batch norm divides by each channel's batch standard
    // deviation, which on the small deep maps (6 x 5 here) can be tiny next to the activations'
    // size, and it couples every pixel of a channel: Winograd's 1e-5 rounding then moves the input
    // gradient by up to 2% of its largest value (measured on draws with no ReLU or pooling flip),
    // a property of the network's conditioning, not of the kernel.
    direct.eval();
    wino.eval();
    rng r(6);
    tensor<float> x(shape4{2, 1, 48, 40});
    tensor<float> yd, yw;
    bool clean = false;
    for (int k = 0; k < 12 && !clean; ++k) {  // redraw while float rounding flips a ReLU kink or a pool winner
        test::fill_normal(x, r);
        {
            algo_guard force(ck::conv_algo::direct);
            yd = direct.forward(x);
        }
        {
            algo_guard force(ck::conv_algo::winograd);
            yw = wino.forward(x);
        }
        clean = test::relu_kink_flips(direct, wino) == 0 && test::pool_winner_flips(direct, wino) == 0;
    }
    REQUIRE(clean);
    tensor<float> dy(yd.shape());
    test::fill_normal(dy, r);
    tensor<float> dxd, dxw;
    {
        algo_guard force(ck::conv_algo::direct);
        dxd = direct.backward(x, dy);
    }
    {
        algo_guard force(ck::conv_algo::winograd);
        dxw = wino.backward(x, dy);
    }
    const double ey = test::max_rel_error(yw, yd), ex = test::max_rel_error(dxw, dxd);
    const double eg = test::worst_gradient_error(wino, direct);
    MESSAGE("Winograd vs direct, unet_bn<16, 3>: output " << ey << ", input gradient " << ex
                                                          << ", worst parameter gradient " << eg);
    CHECK(ey < 1e-4);
    CHECK(ex < 1e-4);
    CHECK(eg < 1e-3);
}

// The training passes of a convolution reading two inputs (a decoder's skip and up-sampled map,
// conv2d_forward_two / _backward_data_two / _backward_weights_two) against the one-input passes on
// their concatenation: the forward and the input gradients bit for bit (the same Winograd
// transforms and sums, read and written where the tensors lie); the weight gradients to rounding
// (each input's part runs as its own, narrower, backward-weights problem) and exactly the bias's.
TEST_CASE("two inputs in training: forward, backward-data and backward-weights against the concatenation") {
    if (!ck::detail::have_winograd) return;
    struct two_case {
        ck::conv_geometry g;
        int c0;
    };
    // Rows and row-spanning groups, batch 3 with equal halves, batch 1 with unequal ones, pad 0.
    const two_case cases[] = {{{1, 64, 32, 32, 32, 3, 3, 1, 1}, 32},
                              {{3, 32, 13, 17, 24, 3, 3, 1, 1}, 16},
                              {{1, 56, 19, 23, 40, 3, 3, 1, 1}, 24},
                              {{2, 48, 22, 18, 32, 3, 3, 1, 0}, 24}};
    for (const auto& tc : cases) {
        const ck::conv_geometry& g = tc.g;
        CAPTURE(describe(g));
        CAPTURE(tc.c0);
        algo_guard force(ck::conv_algo::winograd);
        REQUIRE(ck::conv2d_two_inputs_supported(g, tc.c0));
        std::mt19937 rng(21);
        const int c1 = g.cin - tc.c0;
        const std::ptrdiff_t hw = std::ptrdiff_t(g.h) * g.w, ohw = std::ptrdiff_t(g.oh()) * g.ow();
        const std::vector<float> x0 = random_floats(std::size_t(g.n) * tc.c0 * hw, rng);
        const std::vector<float> x1 = random_floats(std::size_t(g.n) * c1 * hw, rng);
        const std::vector<float> w = random_floats(std::size_t(g.cout) * g.cin * 9, rng);
        const std::vector<float> b = random_floats(std::size_t(g.cout), rng);
        const std::vector<float> dy = random_floats(std::size_t(g.n) * g.cout * ohw, rng);
        std::vector<float> cat(std::size_t(g.n) * g.cin * hw);
        for (int n = 0; n < g.n; ++n) {
            std::copy_n(x0.begin() + n * tc.c0 * hw, tc.c0 * hw, cat.begin() + n * g.cin * hw);
            std::copy_n(x1.begin() + n * c1 * hw, c1 * hw, cat.begin() + (n * g.cin + tc.c0) * hw);
        }
        workspace ws(std::max({ck::conv2d_forward_workspace_floats(g), ck::conv2d_backward_data_workspace_floats(g),
                               ck::conv2d_backward_weights_workspace_floats(g),
                               ck::conv2d_backward_weights_two_workspace_floats(g, tc.c0)}));

        std::vector<float> y_cat(std::size_t(g.n) * g.cout * ohw), y_two(y_cat.size(), 5.0f);
        ck::conv2d_forward(g, cat.data(), w.data(), b.data(), y_cat.data(), ws.p);
        ck::conv2d_forward_two(g, x0.data(), x1.data(), tc.c0, w.data(), b.data(), y_two.data(), ws.p);
        CHECK(y_two == y_cat);

        std::vector<float> dx_cat(cat.size()), dx0(x0.size(), 5.0f), dx1(x1.size(), 5.0f);
        ck::conv2d_backward_data(g, dy.data(), w.data(), dx_cat.data(), ws.p);
        ck::conv2d_backward_data_two(g, dy.data(), w.data(), dx0.data(), dx1.data(), tc.c0, ws.p);
        bool same = true;
        for (int n = 0; n < g.n; ++n) {
            same &= std::equal(dx0.begin() + n * tc.c0 * hw, dx0.begin() + (n + 1) * tc.c0 * hw,
                               dx_cat.begin() + n * g.cin * hw);
            same &= std::equal(dx1.begin() + n * c1 * hw, dx1.begin() + (n + 1) * c1 * hw,
                               dx_cat.begin() + (n * g.cin + tc.c0) * hw);
        }
        CHECK(same);

        // Both accumulate into what dw and db hold (here a non-zero start, as with gradient
        // accumulation over micro-batches).
        std::vector<float> dw_cat(w.size(), 0.5f), dw_two(w.size(), 0.5f), db_cat(b.size(), 0.25f),
            db_two(b.size(), 0.25f);
        ck::conv2d_backward_weights(g, cat.data(), dy.data(), dw_cat.data(), db_cat.data(), ws.p);
        ck::conv2d_backward_weights_two(g, x0.data(), x1.data(), tc.c0, dy.data(), dw_two.data(), db_two.data(),
                                        ws.p);
        if (wgrad_on_winograd(g)) {
            // Winograd reads both tensors where they lie: the same loads, so the same bits.
            CHECK(dw_two == dw_cat);
        } else {
            double worst = 0.0, scale = 0.0;
            for (std::size_t k = 0; k < dw_cat.size(); ++k) {
                worst = std::max(worst, std::abs(double(dw_two[k]) - dw_cat[k]));
                scale = std::max(scale, std::abs(double(dw_cat[k])));
            }
            CHECK(worst <= 1e-5 * scale);
        }
        CHECK(db_two == db_cat);
    }
    SUBCASE("not where Winograd's backward-data pass is not chosen, or the halves cannot be gathered") {
        algo_guard force(ck::conv_algo::winograd);
        CHECK_FALSE(ck::conv2d_two_inputs_supported({2, 56, 16, 16, 32, 3, 3, 1, 1}, 24));
        CHECK_FALSE(ck::conv2d_two_inputs_supported({1, 64, 16, 16, 32, 3, 3, 2, 1}, 32));
        algo_guard direct(ck::conv_algo::direct);
        CHECK_FALSE(ck::conv2d_two_inputs_supported({1, 64, 32, 32, 32, 3, 3, 1, 1}, 32));
    }
}
