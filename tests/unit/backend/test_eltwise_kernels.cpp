// The xsimd float paths of the element-wise kernels against double-precision formulas, on sizes
// that exercise the SIMD body, the scalar tail and the parallel split.

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/tensor/rng.hpp>

namespace k = unetpp::backend::cpu_kernels;

TEST_CASE("float relu and sigmoid match their definitions") {
    for (std::ptrdiff_t n : {1, 15, 16, 17, 4099, 100003}) {
        CAPTURE(n);
        std::vector<float> x(static_cast<std::size_t>(n)), y(x.size());
        unetpp::rng r(static_cast<std::uint64_t>(n));
        for (auto& v : x) v = static_cast<float>(r.normal() * 40.0);  // far into both tails
        x[0] = 0.0f;
        k::relu_forward(x.data(), y.data(), n);
        for (std::ptrdiff_t i = 0; i < n; ++i) REQUIRE(y[i] == (x[i] > 0 ? x[i] : 0.0f));
        k::sigmoid_forward(x.data(), y.data(), n);
        double worst = 0;
        for (std::ptrdiff_t i = 0; i < n; ++i) {
            const double ref = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
            REQUIRE(std::isfinite(y[i]));
            worst = std::max(worst, std::abs(y[i] - ref));
        }
        CHECK(worst < 2e-7);
    }
}
