// Tests of the dense and transposed convolution kernels.
//
//  * reference forward against hand-computed numbers and a brute-force formula,
//  * reference backward passes as adjoints of the forward pass (double precision) and against
//    finite differences,
//  * fast float kernels against the reference over many random geometries,
//  * accumulation semantics of the backward-weights kernels.
#include <doctest/doctest.h>

#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/backend/cpu/kernels/conv_transpose2d.hpp>

#include "../../support/kernel_buffers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ck = unetpp::backend::cpu_kernels;

namespace {

using unetpp::test::workspace;

template <class T>
std::vector<T> random_vector(std::size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<T> v(n);
    for (auto& e : v) e = static_cast<T>(u(rng));
    return v;
}

// max |a - b| / max(max |b|, 1e-6): relative to the largest reference value.
double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0.0, scale = 1e-6;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return diff / scale;
}

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
    return s;
}

std::string describe(const ck::conv_geometry& g) {
    std::ostringstream os;
    os << "n=" << g.n << " cin=" << g.cin << " h=" << g.h << " w=" << g.w << " cout=" << g.cout << " k=" << g.kh
       << "x" << g.kw << " stride=" << g.stride << " pad=" << g.pad;
    return os.str();
}

std::string describe(const ck::conv_transpose_geometry& g) {
    std::ostringstream os;
    os << "n=" << g.n << " cin=" << g.cin << " h=" << g.h << " w=" << g.w << " cout=" << g.cout << " k=" << g.kh
       << "x" << g.kw << " stride=" << g.stride << " pad=" << g.pad;
    return os.str();
}

std::size_t x_size(const ck::conv_geometry& g) { return std::size_t(g.n) * g.cin * g.h * g.w; }
std::size_t w_size(const ck::conv_geometry& g) { return std::size_t(g.cout) * g.cin * g.kh * g.kw; }
std::size_t y_size(const ck::conv_geometry& g) { return std::size_t(g.n) * g.cout * g.oh() * g.ow(); }
std::size_t x_size(const ck::conv_transpose_geometry& g) { return std::size_t(g.n) * g.cin * g.h * g.w; }
std::size_t w_size(const ck::conv_transpose_geometry& g) { return std::size_t(g.cout) * g.cin * g.kh * g.kw; }
std::size_t y_size(const ck::conv_transpose_geometry& g) { return std::size_t(g.n) * g.cout * g.oh() * g.ow(); }

}  // namespace

TEST_CASE("conv2d reference forward: hand-computed 1x1x3x3 input, 2x2 kernel") {
    // x = [1 2 3; 4 5 6; 7 8 9], w = [1 0; 0 -1], b = 0.5
    // y[0,0] = 1*1 + 0*2 + 0*4 - 1*5 + 0.5 = -3.5, and likewise every output is x[i,j] - x[i+1,j+1]
    // + 0.5 = -4 + 0.5 = -3.5, so y = [-3.5 -3.5; -3.5 -3.5].
    const ck::conv_geometry g{1, 1, 3, 3, 1, 2, 2, 1};
    const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
    const std::vector<double> w{1, 0, 0, -1};
    const double b = 0.5;
    std::vector<double> y(4, 99.0);
    ck::conv2d_forward_ref(g, x.data(), w.data(), &b, y.data());
    for (double v : y) CHECK(v == doctest::Approx(-3.5));

    // Second hand case: 2 input channels, 2 output channels, 1x1 kernel, stride 2 on a 3x3 input.
    // Output is 2x2 and samples x at (0,0), (0,2), (2,0), (2,2).
    // Channel 0 of x is 1..9, channel 1 is 10..90. w[0] = (1, 0.1), w[1] = (-1, 0), no bias.
    // y0 = x0 + 0.1*x1 = 2*x0 -> (2, 6, 14, 18); y1 = -x0 -> (-1, -3, -7, -9).
    const ck::conv_geometry g2{1, 2, 3, 3, 2, 1, 1, 2};
    std::vector<double> x2(18);
    for (int i = 0; i < 9; ++i) {
        x2[std::size_t(i)] = i + 1;
        x2[std::size_t(9 + i)] = 10.0 * (i + 1);
    }
    const std::vector<double> w2{1, 0.1, -1, 0};
    std::vector<double> y2(8);
    ck::conv2d_forward_ref<double>(g2, x2.data(), w2.data(), nullptr, y2.data());
    const double expect[8] = {2, 6, 14, 18, -1, -3, -7, -9};
    for (int i = 0; i < 8; ++i) CHECK(y2[std::size_t(i)] == doctest::Approx(expect[i]));
}

TEST_CASE("conv2d reference forward matches a brute-force formula") {
    std::mt19937 rng(7);
    const ck::conv_geometry cases[] = {{2, 3, 7, 6, 4, 3, 3, 1},    {1, 2, 8, 9, 3, 2, 3, 2},
                                       {1, 1, 5, 5, 2, 5, 5, 1},    {2, 3, 7, 6, 4, 3, 3, 1, 1},
                                       {1, 2, 8, 9, 3, 2, 3, 2, 1}, {1, 2, 4, 5, 3, 5, 5, 1, 2},
                                       {1, 1, 3, 3, 2, 3, 3, 2, 4}};
    for (const auto& g : cases) {
        auto x = random_vector<double>(x_size(g), rng);
        auto w = random_vector<double>(w_size(g), rng);
        auto b = random_vector<double>(std::size_t(g.cout), rng);
        std::vector<double> y(y_size(g));
        ck::conv2d_forward_ref(g, x.data(), w.data(), b.data(), y.data());
        // The formula with a single flat loop over all index tuples.
        const int OH = g.oh(), OW = g.ow();
        double worst = 0.0;
        for (int n = 0; n < g.n; ++n)
            for (int co = 0; co < g.cout; ++co)
                for (int oy = 0; oy < OH; ++oy)
                    for (int ox = 0; ox < OW; ++ox) {
                        double s = b[std::size_t(co)];
                        for (int t = 0; t < g.cin * g.kh * g.kw; ++t) {
                            const int ci = t / (g.kh * g.kw), ky = (t / g.kw) % g.kh, kx = t % g.kw;
                            // Zero padding: taps outside the stored input contribute nothing.
                            const int iy = oy * g.stride + ky - g.pad, ix = ox * g.stride + kx - g.pad;
                            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                            s += w[std::size_t(((co * g.cin + ci) * g.kh + ky) * g.kw + kx)] *
                                 x[std::size_t(((n * g.cin + ci) * g.h + iy) * g.w + ix)];
                        }
                        worst = std::max(worst, std::fabs(s - y[std::size_t(((n * g.cout + co) * OH + oy) * OW + ox)]));
                    }
        INFO(describe(g));
        CHECK(worst < 1e-12);
    }
}

TEST_CASE("conv2d reference backward passes are the adjoint of forward (double)") {
    std::mt19937 rng(11);
    const ck::conv_geometry cases[] = {{2, 3, 9, 8, 4, 3, 3, 1},    {1, 4, 10, 11, 2, 3, 3, 2},
                                       {3, 2, 6, 7, 5, 1, 1, 1},    {1, 2, 9, 9, 3, 2, 2, 2},
                                       {1, 1, 7, 12, 2, 5, 3, 1},   {2, 3, 9, 8, 4, 3, 3, 1, 1},
                                       {1, 4, 10, 11, 2, 3, 3, 2, 1}, {1, 1, 7, 12, 2, 5, 3, 1, 2}};
    for (const auto& g : cases) {
        INFO(describe(g));
        auto x = random_vector<double>(x_size(g), rng);
        auto w = random_vector<double>(w_size(g), rng);
        auto yp = random_vector<double>(y_size(g), rng);  // y' (cotangent)
        std::vector<double> y(y_size(g)), dx(x_size(g)), dw(w_size(g), 0.0);
        ck::conv2d_forward_ref<double>(g, x.data(), w.data(), nullptr, y.data());
        // <y', conv_w(x)> = <conv_w^T(y'), x>
        ck::conv2d_backward_data_ref(g, yp.data(), w.data(), dx.data());
        const double lhs = dot(yp, y), rhs = dot(dx, x);
        CHECK(std::fabs(lhs - rhs) <= 1e-12 * std::max(1.0, std::fabs(lhs)));
        // The map w -> conv_w(x) is linear as well: <y', conv_w(x)> = <dW(x, y'), w>
        ck::conv2d_backward_weights_ref<double>(g, x.data(), yp.data(), dw.data(), nullptr);
        const double rhs_w = dot(dw, w);
        CHECK(std::fabs(lhs - rhs_w) <= 1e-12 * std::max(1.0, std::fabs(lhs)));
    }
}

TEST_CASE("conv2d reference gradients match finite differences") {
    std::mt19937 rng(13);
    const ck::conv_geometry g{1, 2, 6, 5, 3, 3, 2, 1, 1};
    auto x = random_vector<double>(x_size(g), rng);
    auto w = random_vector<double>(w_size(g), rng);
    auto b = random_vector<double>(std::size_t(g.cout), rng);
    auto yp = random_vector<double>(y_size(g), rng);
    // Loss L = <y', conv(x, w) + b>.
    auto loss = [&](const std::vector<double>& xx, const std::vector<double>& ww, const std::vector<double>& bb) {
        std::vector<double> y(y_size(g));
        ck::conv2d_forward_ref(g, xx.data(), ww.data(), bb.data(), y.data());
        return dot(yp, y);
    };
    std::vector<double> dx(x_size(g)), dw(w_size(g), 0.0), db(std::size_t(g.cout), 0.0);
    ck::conv2d_backward_data_ref(g, yp.data(), w.data(), dx.data());
    ck::conv2d_backward_weights_ref(g, x.data(), yp.data(), dw.data(), db.data());
    const double eps = 1e-6;
    for (std::size_t i = 0; i < x.size(); i += 3) {
        auto xp = x, xm = x;
        xp[i] += eps;
        xm[i] -= eps;
        CHECK((loss(xp, w, b) - loss(xm, w, b)) / (2 * eps) == doctest::Approx(dx[i]).epsilon(1e-6));
    }
    for (std::size_t i = 0; i < w.size(); ++i) {
        auto wp = w, wm = w;
        wp[i] += eps;
        wm[i] -= eps;
        CHECK((loss(x, wp, b) - loss(x, wm, b)) / (2 * eps) == doctest::Approx(dw[i]).epsilon(1e-6));
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
        auto bp = b, bm = b;
        bp[i] += eps;
        bm[i] -= eps;
        CHECK((loss(x, w, bp) - loss(x, w, bm)) / (2 * eps) == doctest::Approx(db[i]).epsilon(1e-6));
    }
}

namespace {

// Runs the three fast kernels and the three reference kernels on g; returns the worst relative
// error over the outputs.
double fast_vs_ref_error(const ck::conv_geometry& g, std::mt19937& rng, bool with_bias) {
    auto x = random_vector<float>(x_size(g), rng);
    auto w = random_vector<float>(w_size(g), rng);
    auto b = random_vector<float>(std::size_t(g.cout), rng);
    auto dy = random_vector<float>(y_size(g), rng);
    const std::size_t wsn = std::max({ck::conv2d_forward_workspace_floats(g), ck::conv2d_backward_data_workspace_floats(g),
                                      ck::conv2d_backward_weights_workspace_floats(g)});
    workspace ws(wsn);
    const float* bp = with_bias ? b.data() : nullptr;
    std::vector<float> y_ref(y_size(g)), y_fast(y_size(g), 123.0f);
    ck::conv2d_forward_ref(g, x.data(), w.data(), bp, y_ref.data());
    ck::conv2d_forward(g, x.data(), w.data(), bp, y_fast.data(), ws.p);
    std::vector<float> dx_ref(x_size(g)), dx_fast(x_size(g), 123.0f);
    ck::conv2d_backward_data_ref(g, dy.data(), w.data(), dx_ref.data());
    ck::conv2d_backward_data(g, dy.data(), w.data(), dx_fast.data(), ws.p);
    // Accumulating outputs start from the same non-zero values.
    auto dw_ref = random_vector<float>(w_size(g), rng);
    auto dw_fast = dw_ref;
    auto db_ref = random_vector<float>(std::size_t(g.cout), rng);
    auto db_fast = db_ref;
    ck::conv2d_backward_weights_ref(g, x.data(), dy.data(), dw_ref.data(), with_bias ? db_ref.data() : nullptr);
    ck::conv2d_backward_weights(g, x.data(), dy.data(), dw_fast.data(), with_bias ? db_fast.data() : nullptr, ws.p);
    return std::max({max_rel_error(y_fast, y_ref), max_rel_error(dx_fast, dx_ref), max_rel_error(dw_fast, dw_ref),
                     max_rel_error(db_fast, db_ref)});
}

}  // namespace

TEST_CASE("conv2d fast kernels match the reference over random geometries") {
    std::mt19937 rng(2024);
    const int ks[4] = {1, 2, 3, 5};
    const double tol = 1e-4;
    double worst = 0.0;
    std::string worst_geometry;
    auto run = [&](const ck::conv_geometry& g, bool bias) {
        const double e = fast_vs_ref_error(g, rng, bias);
        if (e > worst) {
            worst = e;
            worst_geometry = describe(g) + " (" + ck::conv2d_forward_algorithm(g) + ")";
        }
    };
    for (int t = 0; t < 220; ++t) {
        ck::conv_geometry g{};
        g.n = 1 + int(rng() % 3);
        g.cin = 1 + int(rng() % 70);
        g.cout = 1 + int(rng() % 70);
        g.kh = ks[rng() % 4];
        g.kw = (rng() % 4 == 0) ? ks[rng() % 4] : g.kh;
        g.stride = 1 + int(rng() % 2);
        // Implicit zero padding: mostly 0 or k/2 ("same"), sometimes up to k-1 (largest padding
        // the direct kernels take), rarely more (GEMM path).
        const int kmin = std::min(g.kh, g.kw);
        switch (rng() % 5) {
            case 0: case 1: g.pad = 0; break;
            case 2: case 3: g.pad = kmin / 2; break;
            default: g.pad = int(rng() % (kmin + 1)); break;
        }
        // Output sizes 1..40 (so widths are mostly not multiples of 16).
        g.h = std::max(1, g.kh - 2 * g.pad + int(rng() % 40) * g.stride);
        g.w = std::max(1, g.kw - 2 * g.pad + int(rng() % 40) * g.stride);
        if (rng() % 5 == 0) g.h += g.stride - 1;  // inputs the stride does not divide evenly
        if (g.oh() < 1 || g.ow() < 1) continue;
        if (g.cin * g.cout * g.h * g.w > 1'500'000) g.cin = std::max(1, g.cin / 4);
        run(g, rng() % 4 != 0);
    }
    // Fixed shapes that exercise specific paths: 1x1 images, single rows/columns, widths around
    // the 16-lane vectors, enough pixels to select the direct backward-weights kernels.
    const ck::conv_geometry fixed[] = {
        {1, 3, 1, 1, 5, 1, 1, 1},   {2, 4, 3, 3, 7, 3, 3, 1},    {1, 5, 3, 40, 6, 3, 3, 1},
        {1, 5, 40, 3, 6, 3, 3, 1},  {1, 8, 18, 18, 13, 3, 3, 1}, {1, 6, 20, 34, 12, 3, 3, 1},
        {2, 9, 50, 66, 14, 3, 3, 1}, {1, 1, 60, 61, 64, 3, 3, 1}, {1, 64, 50, 47, 2, 1, 1, 1},
        {2, 13, 49, 53, 11, 2, 2, 1}, {1, 70, 48, 50, 70, 3, 3, 1}, {3, 7, 33, 17, 9, 1, 1, 1},
        // Implicit padding ("same" 3x3): tiny images (every tap near a border), odd widths, widths
        // around multiples of 16, batches, several pixel tiles of the backward-weights kernel.
        {1, 3, 1, 1, 5, 3, 3, 1, 1},  {2, 4, 2, 3, 7, 3, 3, 1, 1},  {1, 5, 3, 40, 6, 3, 3, 1, 1},
        {3, 6, 17, 15, 13, 3, 3, 1, 1}, {2, 9, 16, 16, 14, 3, 3, 1, 1}, {1, 8, 33, 31, 7, 3, 3, 1, 1},
        {4, 7, 20, 48, 12, 3, 3, 1, 1}, {1, 1, 60, 61, 64, 3, 3, 1, 1}, {2, 19, 70, 70, 17, 3, 3, 1, 1},
        {1, 5, 9, 9, 4, 3, 3, 1, 2},  {1, 4, 11, 13, 5, 5, 5, 1, 2}, {2, 3, 12, 10, 4, 3, 3, 2, 1},
        {1, 6, 10, 20, 5, 5, 3, 1, 1},
    };
    for (const auto& g : fixed) run(g, true);
    INFO("worst geometry: " << worst_geometry << ", max relative error " << worst << ", tolerance " << tol);
    CHECK(worst <= tol);
}

namespace {

// Fast kernels on large channel counts, checked at random entries against the defining sums
// (the full reference would be slow). Returns the worst error relative to the largest |value|.
double spot_check_error(const ck::conv_geometry& g, std::mt19937& rng, int samples) {
    auto x = random_vector<float>(x_size(g), rng);
    auto w = random_vector<float>(w_size(g), rng);
    auto b = random_vector<float>(std::size_t(g.cout), rng);
    auto dy = random_vector<float>(y_size(g), rng);
    const std::size_t wsn = std::max({ck::conv2d_forward_workspace_floats(g), ck::conv2d_backward_data_workspace_floats(g),
                                      ck::conv2d_backward_weights_workspace_floats(g)});
    workspace ws(wsn);
    std::vector<float> y(y_size(g)), dx(x_size(g)), dw(w_size(g), 0.0f), db(std::size_t(g.cout), 0.0f);
    ck::conv2d_forward(g, x.data(), w.data(), b.data(), y.data(), ws.p);
    ck::conv2d_backward_data(g, dy.data(), w.data(), dx.data(), ws.p);
    ck::conv2d_backward_weights(g, x.data(), dy.data(), dw.data(), db.data(), ws.p);
    const int OH = g.oh(), OW = g.ow();
    auto X = [&](int n, int ci, int iy, int ix) -> double {
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return 0.0;
        return x[std::size_t(((std::ptrdiff_t(n) * g.cin + ci) * g.h + iy) * g.w + ix)];
    };
    auto Wt = [&](int co, int ci, int ky, int kx) -> double {
        return w[std::size_t(((std::ptrdiff_t(co) * g.cin + ci) * g.kh + ky) * g.kw + kx)];
    };
    auto DY = [&](int n, int co, int oy, int ox) -> double {
        return dy[std::size_t(((std::ptrdiff_t(n) * g.cout + co) * OH + oy) * OW + ox)];
    };
    double worst = 0.0;
    for (int t = 0; t < samples; ++t) {
        // y at a random output pixel
        {
            const int n = int(rng() % unsigned(g.n)), co = int(rng() % unsigned(g.cout));
            const int oy = int(rng() % unsigned(OH)), ox = int(rng() % unsigned(OW));
            double s = b[std::size_t(co)], scale = 1.0;
            for (int ci = 0; ci < g.cin; ++ci)
                for (int ky = 0; ky < g.kh; ++ky)
                    for (int kx = 0; kx < g.kw; ++kx) {
                        const double p = Wt(co, ci, ky, kx) * X(n, ci, oy * g.stride + ky - g.pad, ox * g.stride + kx - g.pad);
                        s += p;
                        scale += std::fabs(p);
                    }
            const double got = y[std::size_t(((std::ptrdiff_t(n) * g.cout + co) * OH + oy) * OW + ox)];
            worst = std::max(worst, std::fabs(got - s) / scale);
        }
        // dx at a random input pixel
        {
            const int n = int(rng() % unsigned(g.n)), ci = int(rng() % unsigned(g.cin));
            const int iy = int(rng() % unsigned(g.h)), ix = int(rng() % unsigned(g.w));
            double s = 0.0, scale = 1.0;
            for (int co = 0; co < g.cout; ++co)
                for (int ky = 0; ky < g.kh; ++ky)
                    for (int kx = 0; kx < g.kw; ++kx) {
                        const int ty = iy + g.pad - ky, tx = ix + g.pad - kx;
                        if (ty < 0 || tx < 0 || ty % g.stride || tx % g.stride) continue;
                        const int oy = ty / g.stride, ox = tx / g.stride;
                        if (oy >= OH || ox >= OW) continue;
                        const double p = Wt(co, ci, ky, kx) * DY(n, co, oy, ox);
                        s += p;
                        scale += std::fabs(p);
                    }
            const double got = dx[std::size_t(((std::ptrdiff_t(n) * g.cin + ci) * g.h + iy) * g.w + ix)];
            worst = std::max(worst, std::fabs(got - s) / scale);
        }
        // dw at a random tap
        {
            const int co = int(rng() % unsigned(g.cout)), ci = int(rng() % unsigned(g.cin));
            const int ky = int(rng() % unsigned(g.kh)), kx = int(rng() % unsigned(g.kw));
            double s = 0.0, scale = 1.0;
            for (int n = 0; n < g.n; ++n)
                for (int oy = 0; oy < OH; ++oy)
                    for (int ox = 0; ox < OW; ++ox) {
                        const double p = DY(n, co, oy, ox) * X(n, ci, oy * g.stride + ky - g.pad, ox * g.stride + kx - g.pad);
                        s += p;
                        scale += std::fabs(p);
                    }
            const double got = dw[std::size_t(((std::ptrdiff_t(co) * g.cin + ci) * g.kh + ky) * g.kw + kx)];
            worst = std::max(worst, std::fabs(got - s) / scale);
        }
    }
    return worst;
}

}  // namespace

TEST_CASE("conv2d fast kernels on large channel counts (random spot checks)") {
    std::mt19937 rng(77);
    const ck::conv_geometry cases[] = {
        {1, 512, 8, 8, 512, 3, 3, 1, 1},    {1, 1024, 4, 4, 1024, 3, 3, 1, 1}, {2, 256, 12, 10, 130, 3, 3, 1, 1},
        {1, 300, 6, 7, 200, 3, 3, 1, 0},    {2, 128, 20, 18, 96, 1, 1, 1, 0},  {1, 256, 9, 9, 64, 3, 3, 2, 1},
    };
    for (const auto& g : cases) {
        INFO(describe(g));
        CHECK(spot_check_error(g, rng, 40) <= 1e-5);
    }
}

TEST_CASE("conv2d fused forward (folded scale, shift, ReLU) matches the reference") {
    // The fused kernel folds the scale into the packed weights and applies the ReLU before the
    // store (direct path) or runs an epilogue after the GEMM (other geometries). Its oracle is the
    // reference convolution followed by the epilogue, and that oracle is itself checked against
    // the formula act(scale * (conv + b) + shift) written out here.
    std::mt19937 rng(99);
    const ck::conv_geometry cases[] = {
        {1, 3, 17, 23, 5, 3, 3, 1, 1},    {2, 40, 20, 19, 13, 3, 3, 1, 1},  // one input-channel chunk
        {1, 70, 18, 33, 14, 3, 3, 1, 1},  {1, 100, 9, 40, 7, 3, 3, 1, 0},   // several chunks (ReLU on the last)
        {2, 9, 30, 31, 11, 1, 1, 1, 0},   {1, 16, 21, 20, 6, 2, 2, 1, 0},   // other kernel sizes
        {1, 12, 22, 21, 9, 3, 3, 2, 1},                                    // stride 2: GEMM + epilogue
    };
    int variant = 0;
    for (const auto& g : cases) {
        for (int v = 0; v < 4; ++v, ++variant) {
            const bool bias = v & 1, affine = v != 2, relu = v != 3;
            INFO(describe(g) << " bias=" << bias << " scale/shift=" << affine << " relu=" << relu);
            auto x = random_vector<float>(x_size(g), rng);
            auto w = random_vector<float>(w_size(g), rng);
            auto b = random_vector<float>(std::size_t(g.cout), rng);
            auto scale = random_vector<float>(std::size_t(g.cout), rng);
            auto shift = random_vector<float>(std::size_t(g.cout), rng);
            const float* bp = bias ? b.data() : nullptr;
            const float* sp = affine ? scale.data() : nullptr;
            const float* tp = affine ? shift.data() : nullptr;
            std::vector<float> ref(y_size(g)), fast(y_size(g), 123.0f), plain(y_size(g));
            ck::conv2d_forward_fused_ref(g, x.data(), w.data(), bp, sp, tp, relu, ref.data());
            workspace ws(ck::conv2d_forward_fused_workspace_floats(g));
            ck::conv2d_forward_fused(g, x.data(), w.data(), bp, sp, tp, relu, fast.data(), ws.p);
            CHECK(max_rel_error(fast, ref) <= 1e-5);
            // The oracle against the formula.
            ck::conv2d_forward_ref(g, x.data(), w.data(), bp, plain.data());
            const std::size_t plane = std::size_t(g.oh()) * g.ow();
            std::size_t negatives = 0;
            double worst = 0.0;
            for (std::size_t i = 0; i < plain.size(); ++i) {
                const std::size_t co = (i / plane) % std::size_t(g.cout);
                double e = affine ? double(scale[co]) * plain[i] + shift[co] : double(plain[i]);
                if (e < 0) ++negatives;
                if (relu) e = std::max(e, 0.0);
                worst = std::max(worst, std::fabs(e - ref[i]) / std::max(1.0, std::fabs(e)));
            }
            CHECK(worst <= 1e-5);
            CHECK(negatives > 0);  // the ReLU has something to clip
        }
    }
    CHECK(variant == 28);
}

TEST_CASE("conv2d backward_weights accumulates (calling twice doubles)") {
    std::mt19937 rng(5);
    const ck::conv_geometry cases[] = {{1, 3, 10, 12, 4, 3, 3, 1}, {1, 5, 60, 60, 6, 3, 3, 1}, {2, 3, 9, 9, 2, 3, 3, 2},
                                       {1, 7, 50, 50, 3, 1, 1, 1}, {2, 5, 40, 40, 7, 3, 3, 1, 1}};
    for (const auto& g : cases) {
        INFO(describe(g));
        auto x = random_vector<float>(x_size(g), rng);
        auto dy = random_vector<float>(y_size(g), rng);
        workspace ws(ck::conv2d_backward_weights_workspace_floats(g));
        std::vector<float> dw1(w_size(g), 0.0f), db1(std::size_t(g.cout), 0.0f);
        ck::conv2d_backward_weights(g, x.data(), dy.data(), dw1.data(), db1.data(), ws.p);
        auto dw2 = dw1;
        auto db2 = db1;
        ck::conv2d_backward_weights(g, x.data(), dy.data(), dw2.data(), db2.data(), ws.p);
        for (auto& v : dw1) v *= 2.0f;
        for (auto& v : db1) v *= 2.0f;
        CHECK(max_rel_error(dw2, dw1) <= 1e-6);
        CHECK(max_rel_error(db2, db1) <= 1e-6);
        // Reference accumulates too.
        std::vector<double> xd(x.begin(), x.end()), dyd(dy.begin(), dy.end());
        std::vector<double> rw(w_size(g), 1.0), rb(std::size_t(g.cout), 1.0);
        ck::conv2d_backward_weights_ref(g, xd.data(), dyd.data(), rw.data(), rb.data());
        std::vector<double> rw2 = rw, rb2 = rb;
        ck::conv2d_backward_weights_ref(g, xd.data(), dyd.data(), rw2.data(), rb2.data());
        for (std::size_t i = 0; i < rw.size(); ++i) CHECK(rw2[i] - 1.0 == doctest::Approx(2.0 * (rw[i] - 1.0)));
    }
}

TEST_CASE("conv_transpose2d reference matches the definition and is adjoint") {
    // Hand case: 1 channel 2x2 input, 2x2 kernel, stride 2: every input pixel stamps a scaled copy
    // of the kernel into its own 2x2 block. x = [1 2; 3 4], w = [1 2; 3 4], b = 1:
    // y row 0 = [1 2 2 4] + 1 = [2 3 3 5], row 1 = [3 4 6 8] + 1 = [4 5 7 9],
    // row 2 = [3 6 4 8] + 1 = [4 7 5 9], row 3 = [9 12 12 16] + 1 = [10 13 13 17].
    {
        const ck::conv_transpose_geometry g{1, 1, 2, 2, 1, 2, 2, 2, 0};
        const std::vector<double> x{1, 2, 3, 4}, w{1, 2, 3, 4};
        const double b = 1;
        std::vector<double> y(16);
        ck::conv_transpose2d_forward_ref(g, x.data(), w.data(), &b, y.data());
        const double expect[16] = {2, 3, 3, 5, 4, 5, 7, 9, 4, 7, 5, 9, 10, 13, 13, 17};
        for (int i = 0; i < 16; ++i) CHECK(y[std::size_t(i)] == doctest::Approx(expect[i]));
    }
    std::mt19937 rng(17);
    const ck::conv_transpose_geometry cases[] = {{2, 3, 4, 5, 2, 2, 2, 2, 0}, {1, 2, 5, 4, 3, 3, 3, 2, 1},
                                                 {1, 3, 4, 4, 2, 4, 4, 2, 1}, {2, 2, 3, 3, 2, 3, 3, 1, 0}};
    for (const auto& g : cases) {
        INFO(describe(g));
        auto x = random_vector<double>(x_size(g), rng);
        auto w = random_vector<double>(w_size(g), rng);
        auto b = random_vector<double>(std::size_t(g.cout), rng);
        std::vector<double> y(y_size(g));
        ck::conv_transpose2d_forward_ref(g, x.data(), w.data(), b.data(), y.data());
        // Definition, evaluated per output pixel by searching all (iy, ky) with oy = iy*s - p + ky.
        double worst = 0.0;
        for (int n = 0; n < g.n; ++n)
            for (int co = 0; co < g.cout; ++co)
                for (int oy = 0; oy < g.oh(); ++oy)
                    for (int ox = 0; ox < g.ow(); ++ox) {
                        double s = b[std::size_t(co)];
                        for (int ci = 0; ci < g.cin; ++ci)
                            for (int ky = 0; ky < g.kh; ++ky)
                                for (int kx = 0; kx < g.kw; ++kx) {
                                    const int ty = oy + g.pad - ky, tx = ox + g.pad - kx;
                                    if (ty < 0 || tx < 0 || ty % g.stride || tx % g.stride) continue;
                                    const int iy = ty / g.stride, ix = tx / g.stride;
                                    if (iy >= g.h || ix >= g.w) continue;
                                    s += w[std::size_t(((ci * g.cout + co) * g.kh + ky) * g.kw + kx)] *
                                         x[std::size_t(((n * g.cin + ci) * g.h + iy) * g.w + ix)];
                                }
                        worst = std::max(worst,
                                         std::fabs(s - y[std::size_t(((n * g.cout + co) * g.oh() + oy) * g.ow() + ox)]));
                    }
        CHECK(worst < 1e-12);
        // Adjoint identities, as for conv2d.
        auto yp = random_vector<double>(y_size(g), rng);
        std::vector<double> y0(y_size(g)), dx(x_size(g)), dw(w_size(g), 0.0);
        ck::conv_transpose2d_forward_ref<double>(g, x.data(), w.data(), nullptr, y0.data());
        ck::conv_transpose2d_backward_data_ref(g, yp.data(), w.data(), dx.data());
        ck::conv_transpose2d_backward_weights_ref<double>(g, x.data(), yp.data(), dw.data(), nullptr);
        const double lhs = dot(yp, y0);
        CHECK(std::fabs(lhs - dot(dx, x)) <= 1e-12 * std::max(1.0, std::fabs(lhs)));
        CHECK(std::fabs(lhs - dot(dw, w)) <= 1e-12 * std::max(1.0, std::fabs(lhs)));
    }
}

TEST_CASE("conv_transpose2d fast kernels match the reference") {
    std::mt19937 rng(99);
    const double tol = 1e-4;
    std::vector<ck::conv_transpose_geometry> cases = {
        {1, 1, 1, 1, 1, 2, 2, 2, 0},   {2, 5, 7, 9, 3, 2, 2, 2, 0},  {1, 16, 12, 17, 8, 2, 2, 2, 0},
        {1, 3, 5, 6, 4, 3, 3, 2, 1},   {2, 6, 9, 7, 5, 3, 3, 2, 1},  {1, 4, 8, 8, 6, 4, 4, 2, 1},
        {3, 2, 5, 11, 3, 4, 4, 2, 1},  {1, 3, 6, 6, 2, 3, 3, 1, 1},  {1, 2, 4, 5, 3, 3, 3, 3, 0},
        {1, 40, 20, 24, 30, 2, 2, 2, 0},
    };
    for (int t = 0; t < 20; ++t) {
        const int k = 2 + int(rng() % 3);
        const int s = 1 + int(rng() % 3);
        const int p = int(rng() % k) / 2;
        ck::conv_transpose_geometry g{1 + int(rng() % 2), 1 + int(rng() % 20), 1 + int(rng() % 12), 1 + int(rng() % 12),
                                      1 + int(rng() % 20), k, k, s, p};
        if (g.oh() > 0 && g.ow() > 0) cases.push_back(g);
    }
    double worst = 0.0;
    std::string worst_geometry;
    for (const auto& g : cases) {
        auto x = random_vector<float>(x_size(g), rng);
        auto w = random_vector<float>(w_size(g), rng);
        auto b = random_vector<float>(std::size_t(g.cout), rng);
        auto dy = random_vector<float>(y_size(g), rng);
        workspace ws(ck::conv_transpose2d_workspace_floats(g));
        std::vector<float> y_ref(y_size(g)), y_fast(y_size(g), 7.0f);
        ck::conv_transpose2d_forward_ref(g, x.data(), w.data(), b.data(), y_ref.data());
        ck::conv_transpose2d_forward(g, x.data(), w.data(), b.data(), y_fast.data(), ws.p);
        std::vector<float> dx_ref(x_size(g)), dx_fast(x_size(g), 7.0f);
        ck::conv_transpose2d_backward_data_ref(g, dy.data(), w.data(), dx_ref.data());
        ck::conv_transpose2d_backward_data(g, dy.data(), w.data(), dx_fast.data(), ws.p);
        auto dw_ref = random_vector<float>(w_size(g), rng);
        auto dw_fast = dw_ref;
        auto db_ref = random_vector<float>(std::size_t(g.cout), rng);
        auto db_fast = db_ref;
        ck::conv_transpose2d_backward_weights_ref(g, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        ck::conv_transpose2d_backward_weights(g, x.data(), dy.data(), dw_fast.data(), db_fast.data(), ws.p);
        const double e = std::max({max_rel_error(y_fast, y_ref), max_rel_error(dx_fast, dx_ref),
                                   max_rel_error(dw_fast, dw_ref), max_rel_error(db_fast, db_ref)});
        if (e > worst) {
            worst = e;
            worst_geometry = describe(g);
        }
        // Accumulation: a second call adds the same gradient again.
        auto dw_twice = dw_fast;
        ck::conv_transpose2d_backward_weights(g, x.data(), dy.data(), dw_twice.data(), nullptr, ws.p);
        // dw_twice - dw_fast is the increment of the second call; it must equal the gradient.
        std::vector<float> inc1(dw_fast.size()), inc2(dw_fast.size());
        for (std::size_t i = 0; i < inc2.size(); ++i) inc2[i] = dw_twice[i] - dw_fast[i];
        std::vector<double> xd(x.begin(), x.end()), dyd(dy.begin(), dy.end());
        std::vector<double> grad(w_size(g), 0.0);
        ck::conv_transpose2d_backward_weights_ref<double>(g, xd.data(), dyd.data(), grad.data(), nullptr);
        for (std::size_t i = 0; i < inc1.size(); ++i) inc1[i] = float(grad[i]);
        INFO(describe(g));
        CHECK(max_rel_error(inc2, inc1) <= 1e-4);
    }
    INFO("worst geometry: " << worst_geometry << ", max relative error " << worst << ", tolerance " << tol);
    CHECK(worst <= tol);
}
