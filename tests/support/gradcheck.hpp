#pragma once
// The doctest face of the public gradient checker (include/unetpp/testing/gradcheck.hpp): the
// tests call check_layer_gradients, which CHECKs the report. Test support only; not installed.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include <unetpp/testing/gradcheck.hpp>

namespace unetpp::test {

using gradcheck_opts = testing::gradcheck_options;
using grad_report = testing::gradcheck_report;
using testing::dot;
using testing::fill_normal;
using testing::probe_indices;

/// testing::check_gradients, with the outcome CHECKed (the worst mismatch in the message).
template <class L>
void check_layer_gradients(L& layer, shape4 in_shape, const gradcheck_opts& o = {}) {
    const grad_report rep = testing::check_gradients(layer, in_shape, o);
    INFO("checked " << rep.checked << " derivatives; worst: " << rep.where);
    CHECK(rep.checked > 0);
    CHECK(rep.ok);
}

/// Central differences of f(x) (a loss value; f(x, &g) also writes its gradient g) with respect
/// to every element of x, against the analytic gradient: |a - n| <= 1e-9 + 1e-6 max(|a|, |n|)
/// for every element, in double. `what` names the case in the message.
template <class F>
void check_loss_gradient(F&& f, tensor<double> x, const std::string& what) {
    tensor<double> g;
    const double v = f(x, &g);
    CHECK(std::isfinite(v));
    REQUIRE(g.shape() == x.shape());
    const double h = 1e-6;
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double keep = x[i];
        x[i] = keep + h;
        const double up = f(x, nullptr);
        x[i] = keep - h;
        const double down = f(x, nullptr);
        x[i] = keep;
        const double num = (up - down) / (2 * h);
        worst = std::max(worst, std::abs(num - g[i]) / (1e-9 + 1e-6 * std::max(std::abs(num), std::abs(g[i]))));
    }
    INFO(what << ": worst error / tolerance = " << worst);
    CHECK(worst <= 1.0);
}

}  // namespace unetpp::test
