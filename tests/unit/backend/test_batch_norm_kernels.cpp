// Training-mode batch norm kernels against double-precision formulas: the statistics (mean,
// inverse standard deviation, running averages), the output, and the backward pass's dx, dgamma
// and dbeta, with and without the fused ReLU. Plane sizes around the reductions' 16 lanes (1, 15,
// 16, 17, 1000, 4099) so that both their vector body and their tail run, and a mean far from zero
// (the two-pass variance must not cancel).
#include <doctest/doctest.h>

#include <unetpp/backend/cpu/kernels/batch_norm.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace ck = unetpp::backend::cpu_kernels;

namespace {

struct case_data {
    int n, c;
    std::ptrdiff_t plane;
};

double rel(double got, double want, double scale) { return std::abs(got - want) / std::max(scale, 1e-30); }

}  // namespace

TEST_CASE("batch_norm_forward_train and batch_norm_backward_train match double-precision formulas") {
    std::mt19937 rng(5);
    std::normal_distribution<double> normal(0.0, 1.0);
    int cases = 0;
    for (const case_data cd : {case_data{1, 2, 1}, case_data{3, 2, 15}, case_data{2, 3, 16}, case_data{3, 2, 17},
                               case_data{2, 4, 1000}, case_data{3, 2, 4099}})
        for (const bool relu : {false, true}) {
            const int n = cd.n, c = cd.c;
            const std::ptrdiff_t plane = cd.plane, total = std::ptrdiff_t(n) * c * plane;
            if (n * plane < 2) continue;
            CAPTURE(n);
            CAPTURE(c);
            CAPTURE(plane);
            CAPTURE(relu);
            ++cases;
            std::vector<float> x(total), y(total), dy(total), dx(total);
            std::vector<float> gamma(c), beta(c), rm(c, 0.5f), rv(c, 2.0f), mean(c), invstd(c), dg(c, 0.25f),
                db(c, -0.5f);
            for (int ch = 0; ch < c; ++ch) {
                gamma[ch] = float(1.0 + 0.3 * normal(rng));
                beta[ch] = float(0.2 * normal(rng));
            }
            for (std::ptrdiff_t i = 0; i < total; ++i) {
                x[i] = float(40.0 + 3.0 * normal(rng));  // far from zero
                dy[i] = float(normal(rng));
            }
            ck::batch_norm_forward_train(x.data(), y.data(), n, c, plane, gamma.data(), beta.data(), 1e-5f, 0.1f,
                                         rm.data(), rv.data(), mean.data(), invstd.data(), relu);
            ck::batch_norm_backward_train(x.data(), dy.data(), dx.data(), n, c, plane, gamma.data(), mean.data(),
                                          invstd.data(), dg.data(), db.data(), relu ? y.data() : nullptr);
            const double count = double(n) * double(plane);
            for (int ch = 0; ch < c; ++ch) {
                const auto at = [&](int s, std::ptrdiff_t i) { return (std::ptrdiff_t(s) * c + ch) * plane + i; };
                double m = 0, v = 0;
                for (int s = 0; s < n; ++s)
                    for (std::ptrdiff_t i = 0; i < plane; ++i) m += x[at(s, i)];
                m /= count;
                for (int s = 0; s < n; ++s)
                    for (std::ptrdiff_t i = 0; i < plane; ++i) v += (x[at(s, i)] - m) * (x[at(s, i)] - m);
                const double var = v / count, is = 1.0 / std::sqrt(var + 1e-5);
                CHECK(rel(mean[ch], m, std::abs(m)) < 1e-6);
                CHECK(rel(invstd[ch], is, is) < 1e-5);
                CHECK(rel(rm[ch], 0.9 * 0.5 + 0.1 * m, std::abs(m)) < 1e-6);
                CHECK(rel(rv[ch], 0.9 * 2.0 + 0.1 * v / (count - 1), 1.0) < 1e-5);
                double sg = 0, sgx = 0, worst_y = 0;
                std::vector<double> g(std::size_t(n * plane));
                for (int s = 0; s < n; ++s)
                    for (std::ptrdiff_t i = 0; i < plane; ++i) {
                        const double xhat = (x[at(s, i)] - m) * is;
                        double want = gamma[ch] * xhat + beta[ch];
                        if (relu) want = std::max(want, 0.0);
                        worst_y = std::max(worst_y, std::abs(y[at(s, i)] - want));
                        const double gi = relu && !(y[at(s, i)] > 0.0f) ? 0.0 : double(dy[at(s, i)]);
                        g[std::size_t(s * plane + i)] = gi;
                        sg += gi;
                        sgx += gi * xhat;
                    }
                CHECK(worst_y < 1e-4);
                CHECK(rel(db[ch], -0.5 + sg, std::max(1.0, std::abs(sg))) < 1e-5);
                CHECK(rel(dg[ch], 0.25 + sgx, std::max(1.0, std::abs(sgx))) < 1e-4);
                double worst_dx = 0, scale_dx = 0;
                for (int s = 0; s < n; ++s)
                    for (std::ptrdiff_t i = 0; i < plane; ++i) {
                        const double xhat = (x[at(s, i)] - m) * is;
                        const double want =
                            gamma[ch] * is / count * (count * g[std::size_t(s * plane + i)] - sg - xhat * sgx);
                        worst_dx = std::max(worst_dx, std::abs(dx[at(s, i)] - want));
                        scale_dx = std::max(scale_dx, std::abs(gamma[ch] * is) * (1.0 + std::abs(xhat)));
                    }
                CHECK(worst_dx / scale_dx < 1e-4);
            }
        }
    CHECK(cases == 10);
}
