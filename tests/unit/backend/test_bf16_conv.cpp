// backend::cpu_bf16's convolutions (kernels/bf16_conv2d.hpp) against a double-precision reference
// (backend::cpu_reference in double) and against backend::cpu in fp32: kernel sizes 1, 2, 3, 5,
// strides 1 to 3, zero and reflect padding, odd channel counts (a half-empty last channel pair),
// output channels that do not fill the 6-channel blocks, widths below, at and above the 16-lane
// vectors and 64-position tiles, batch 1 and 3, with and without the fused scale, shift and ReLU.
//
// The bound. Each product x * w is computed from bf16(x) * bf16(s * w), each operand rounded to
// nearest with unit roundoff u = 2^-8 (8 significand bits), so a product is off by at most
// (2u + u^2) |x s w| (plus one fp32 rounding of s * w before it is rounded to bf16); the fp32
// sums of K products add at most K * 2^-24 of the sum of |products| (first-order bound, K = cin *
// kh * kw), and the fp32 bias s * b + shift and its addition two more roundings. So |y - y_exact|
// <= ((2u + u^2) + (K + 3) 2^-24) * S, S = the sum of |products| of the output plus |s b| +
// |shift|; ReLU does not increase it. The test allows 1.01x that bound
// and also reports the largest measured share of it. A kernel that drops a tap, a channel or a
// tile is off by a whole product, far outside.
#include <doctest/doctest.h>

#include <unetpp/backend/cpu_bf16.hpp>

#include "../../support/skip.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using unetpp::backend::conv_geometry;
using unetpp::backend::cpu;
using unetpp::backend::cpu_bf16;
using unetpp::backend::cpu_reference;
using unetpp::backend::pad_kind;
namespace bf = unetpp::backend::cpu_kernels::bf16;

constexpr double u_bf16 = 1.0 / 256;          // 2^-8: 8 significand bits, 7 stored
constexpr double u_fp32 = 1.0 / 16777216.0;   // 2^-24
// backend::cpu's error bound when it runs Winograd F(4x4, 3x3) (test_winograd.cpp): 1e-4 S.
constexpr double winograd_fp32 = 1e-4;

std::vector<float> uniform(std::size_t n, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& e : v) e = d(rng);
    return v;
}

std::string describe(const conv_geometry& g, bool fused) {
    std::ostringstream s;
    s << "n" << g.n << " " << g.cin << "->" << g.cout << " " << g.h << "x" << g.w << " k" << g.kh << "x" << g.kw
      << " s" << g.stride << " p" << g.pad << (g.padding == pad_kind::reflect ? " reflect" : " zero")
      << (fused ? " fused" : "");
    return s.str();
}

// Runs one geometry through cpu_bf16 and returns the largest error as a share of the bound.
double check(const conv_geometry& g, bool fused, std::mt19937& rng) {
    const std::size_t nx = std::size_t(g.n) * g.cin * g.h * g.w, nw = std::size_t(g.cout) * g.cin * g.kh * g.kw;
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    const auto x = uniform(nx, rng, -1, 1), w = uniform(nw, rng, -1, 1), b = uniform(g.cout, rng, -1, 1);
    const auto scale = uniform(g.cout, rng, 0.25f, 2.0f), shift = uniform(g.cout, rng, -1, 1);
    const float* sc = fused ? scale.data() : nullptr;
    const float* sh = fused ? shift.data() : nullptr;

    std::vector<float> y(ny, 12345.0f), y32(ny);
    if (fused) {
        cpu_bf16::conv2d_forward_fused(g, x.data(), w.data(), b.data(), sc, sh, true, y.data());
        cpu::conv2d_forward_fused(g, x.data(), w.data(), b.data(), sc, sh, true, y32.data());
    } else {
        cpu_bf16::conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
        cpu::conv2d_forward(g, x.data(), w.data(), b.data(), y32.data());
    }

    // Exact result and sum of |products| in double, with the scale folded into the weights.
    std::vector<double> xd(x.begin(), x.end()), xa(nx), wd(nw), wa(nw), bd(g.cout);
    const std::size_t per_co = nw / g.cout;
    for (std::size_t i = 0; i < nx; ++i) xa[i] = std::abs(xd[i]);
    for (std::size_t i = 0; i < nw; ++i) {
        const double s = fused ? double(scale[i / per_co]) : 1.0;
        wd[i] = double(w[i]) * s;
        wa[i] = std::abs(wd[i]);
    }
    for (int c = 0; c < g.cout; ++c) bd[c] = double(b[c]) * (fused ? scale[c] : 1.0f) + (fused ? shift[c] : 0.0f);
    std::vector<double> exact(ny), mag(ny), bias_mag(g.cout);
    for (int c = 0; c < g.cout; ++c)
        bias_mag[c] = std::abs(double(b[c]) * (fused ? scale[c] : 1.0f)) + (fused ? std::abs(shift[c]) : 0.0);
    cpu_reference::conv2d_forward(g, xd.data(), wd.data(), bd.data(), exact.data());
    cpu_reference::conv2d_forward(g, xa.data(), wa.data(), bias_mag.data(), mag.data());

    const int K = g.cin * g.kh * g.kw;
    double worst = 0, worst32 = 0;
    for (std::size_t i = 0; i < ny; ++i) {
        const double e = fused ? std::max(exact[i], 0.0) : exact[i];
        const double bound = (2 * u_bf16 + u_bf16 * u_bf16 + (K + 3) * u_fp32) * mag[i] + 1e-30;
        worst = std::max(worst, std::abs(double(y[i]) - e) / bound);
        const double bound32 = std::max((K + 3) * u_fp32, winograd_fp32) * mag[i];
        worst32 = std::max(worst32, std::abs(double(y[i]) - double(y32[i])) / (bound + bound32));
    }
    INFO(describe(g, fused), ": error / bound = ", worst, ", against fp32: ", worst32);
    CHECK(worst <= 1.01);
    CHECK(worst32 <= 1.01);  // the fp32 result is itself within its own bound of exact
    return worst;
}

}  // namespace

TEST_CASE("bf16 rounding is round to nearest, ties to even") {
    CHECK(bf::to_bf16(1.0f) == 0x3F80);
    CHECK(bf::from_bf16(bf::to_bf16(1.0f + 1.0f / 256)) == 1.0f);                 // tie, even below
    CHECK(bf::from_bf16(bf::to_bf16(1.0f + 3.0f / 256)) == 1.0f + 4.0f / 256);    // tie, even above
    CHECK(bf::from_bf16(bf::to_bf16(1.0f + 1.5f / 256)) == 1.0f + 2.0f / 256);    // above the tie
    CHECK(bf::from_bf16(bf::to_bf16(-3.0f)) == -3.0f);
    CHECK(std::isnan(bf::from_bf16(bf::to_bf16(std::nanf("")))));
}

TEST_CASE("cpu_bf16 convolutions are within the bf16 bound of the exact result") {
    if (!cpu_bf16::supported()) {
        bool threw = false;
        try {
            const conv_geometry g{1, 1, 4, 4, 1, 3, 3, 1, 1};
            std::vector<float> x(16), w(9), y(16);
            cpu_bf16::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data());
        } catch (const bf::bf16_unavailable& e) {
            threw = std::string(e.what()).find("AVX512-BF16") != std::string::npos;
        }
        CHECK(threw);
        unetpp::test::skip_not_available("no AVX512-BF16 in this build or on this processor; checked the error instead");
        return;
    }
    std::mt19937 rng(2026);
    double worst = 0;
    struct shape { int n, cin, h, w, cout, k, stride, pad; pad_kind padding; };
    const shape shapes[] = {
        {1, 1, 9, 9, 1, 3, 1, 1, pad_kind::zero},      {1, 3, 17, 13, 5, 3, 1, 1, pad_kind::zero},
        {2, 17, 20, 70, 13, 3, 1, 1, pad_kind::zero},  {1, 16, 16, 16, 32, 3, 1, 1, pad_kind::zero},
        {3, 5, 11, 7, 7, 3, 1, 0, pad_kind::zero},     {1, 33, 30, 30, 6, 3, 1, 0, pad_kind::zero},
        {1, 7, 12, 19, 9, 1, 1, 0, pad_kind::zero},    {2, 64, 8, 8, 1, 1, 1, 0, pad_kind::zero},
        {1, 6, 14, 15, 4, 2, 1, 0, pad_kind::zero},    {1, 9, 13, 21, 11, 5, 1, 2, pad_kind::zero},
        {1, 4, 10, 9, 3, 3, 1, 1, pad_kind::reflect},  {2, 11, 18, 23, 8, 5, 1, 2, pad_kind::reflect},
        {1, 5, 17, 16, 7, 3, 2, 1, pad_kind::zero},    {2, 8, 20, 21, 13, 2, 2, 0, pad_kind::zero},
        {1, 3, 25, 19, 5, 5, 3, 2, pad_kind::zero},    {1, 6, 15, 15, 6, 3, 2, 1, pad_kind::reflect},
        {1, 128, 12, 12, 20, 3, 1, 1, pad_kind::zero}, {1, 2, 1, 40, 3, 1, 1, 0, pad_kind::zero},
        {2, 3, 6, 7, 4, 3, 1, 3, pad_kind::zero},      {1, 4, 5, 64, 6, 3, 1, 1, pad_kind::zero},
    };
    for (const shape& s : shapes) {
        conv_geometry g{s.n, s.cin, s.h, s.w, s.cout, s.k, s.k, s.stride, s.pad, s.padding};
        for (const bool fused : {false, true}) worst = std::max(worst, check(g, fused, rng));
    }
    MESSAGE("largest error / bound over all geometries: ", worst);
}
