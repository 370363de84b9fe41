#pragma once
// Finite-difference gradient checking for unetpp layers (test support, not installed).
//
// The scalar loss is L = sum(r * y) for a fixed random r, so dL/dy = r. Central differences
// with step h on every (or a sampled subset of) input element and parameter are compared with
// the analytic gradients from backward(). Run in double precision, where the comparison is
// tight: |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <unetpp/tensor/rng.hpp>
#include <unetpp/tensor/tensor.hpp>

namespace unetpp::test {

struct gradcheck_opts {
    double step = 1e-6;
    double rtol = 1e-5;
    double atol = 1e-8;
    std::size_t max_checks_per_tensor = 60;  // sampled indices per tensor (all when smaller)
    std::uint64_t seed = 7;
};

template <class T>
void fill_normal(tensor<T>& t, rng& r, double scale = 1.0) {
    for (auto& v : t) v = static_cast<T>(r.normal() * scale);
}

template <class T>
double dot(const tensor<T>& a, const tensor<T>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return s;
}

/// Indices to probe in a tensor of n elements.
inline std::vector<std::size_t> probe_indices(std::size_t n, std::size_t max_checks, rng& r) {
    std::vector<std::size_t> idx;
    if (n <= max_checks) {
        for (std::size_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
        for (std::size_t i = 0; i < max_checks; ++i) idx.push_back(static_cast<std::size_t>(r.below(n)));
    }
    return idx;
}

/// Compares analytic and numeric derivatives; reports the worst case with its name.
struct grad_report {
    double worst = 0;  // worst (|a-n| - atol) / max(|a|,|n|)
    std::string where;
    std::size_t checked = 0;
    bool ok = true;
    void add(const std::string& name, std::size_t i, double analytic, double numeric, const gradcheck_opts& o) {
        ++checked;
        const double err = std::abs(analytic - numeric);
        const double scale = std::max(std::abs(analytic), std::abs(numeric));
        if (err > o.atol + o.rtol * scale) {
            if (ok || err / (scale + 1e-300) > worst) {
                worst = err / (scale + 1e-300);
                where = name + "[" + std::to_string(i) + "]: analytic " + std::to_string(analytic) + " numeric " +
                        std::to_string(numeric);
            }
            ok = false;
        }
    }
};

/// Checks d(sum(r*f(x)))/dx and /dparams of a single-input layer (or model) against central
/// differences. `forward` must recompute from scratch (layers in train mode with batch norm
/// recompute batch statistics each call, which is what the derivative needs).
template <class L>
void check_layer_gradients(L& layer, shape4 in_shape, const gradcheck_opts& o = {}) {
    using T = typename L::value_type;
    if constexpr (requires { layer.need_input_grad(true); }) layer.need_input_grad(true);
    rng r(o.seed);
    tensor<T> x(in_shape);
    fill_normal(x, r);
    const tensor<T> y0 = layer.forward(x);
    tensor<T> weights(y0.shape());
    fill_normal(weights, r);
    layer.visit_parameters(std::string_view{}, [](std::string_view, tensor<T>&, tensor<T>& g) { g.zero(); });
    const tensor<T> dx = layer.backward(x, weights);

    auto loss = [&]() { return dot(layer.forward(x), weights); };
    grad_report rep;
    for (std::size_t i : probe_indices(x.size(), o.max_checks_per_tensor, r)) {
        const T keep = x[i];
        x[i] = keep + static_cast<T>(o.step);
        const double lp = loss();
        x[i] = keep - static_cast<T>(o.step);
        const double lm = loss();
        x[i] = keep;
        rep.add("input", i, static_cast<double>(dx[i]), (lp - lm) / (2 * o.step), o);
    }
    layer.visit_parameters(std::string_view{}, [&](std::string_view name, tensor<T>& p, tensor<T>& g) {
        for (std::size_t i : probe_indices(p.size(), o.max_checks_per_tensor, r)) {
            const T keep = p[i];
            p[i] = keep + static_cast<T>(o.step);
            const double lp = loss();
            p[i] = keep - static_cast<T>(o.step);
            const double lm = loss();
            p[i] = keep;
            rep.add(std::string(name), i, static_cast<double>(g[i]), (lp - lm) / (2 * o.step), o);
        }
    });
    INFO("checked " << rep.checked << " derivatives; worst: " << rep.where);
    CHECK(rep.checked > 0);
    CHECK(rep.ok);
}

}  // namespace unetpp::test
