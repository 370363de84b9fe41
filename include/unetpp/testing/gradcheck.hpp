#pragma once
/// \file Finite-difference gradient checking for layers and whole networks, for users who write
/// their own layers (any type with the Layer interface: forward, backward, visit_parameters).
///
/// The scalar loss is L = sum(r * y) for a fixed random r, so dL/dy = r. Central differences with
/// step h on every input element and parameter (or a sampled subset of each) are compared with the
/// analytic gradients from backward(): |analytic - numeric| <= atol + rtol * max(|analytic|,
/// |numeric|). Run it in double precision (instantiate the layer with T = double), where the
/// comparison is tight; in float the differences drown in rounding.
///
///   using my_layer = my_conv<my_cfg{...}, double>;
///   my_layer l;
///   unetpp::rng r(1);
///   l.init(r);
///   const auto rep = unetpp::testing::check_gradients(l, unetpp::shape4{2, 3, 8, 8});
///   if (!rep.ok) std::cerr << "gradient mismatch at " << rep.where << "\n";
///
/// The layer must recompute everything in forward (a batch norm in training mode recomputes its
/// batch statistics each call, which is what the derivative needs) and, when it has
/// need_input_grad(bool), it is switched on. The layer's parameters are restored after each probe;
/// its gradients hold those of the checked loss afterwards.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/rng.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::testing {

struct gradcheck_options {
    double step = 1e-6;                      ///< central-difference step h
    double rtol = 1e-5;                      ///< relative tolerance
    double atol = 1e-8;                      ///< absolute tolerance
    std::size_t max_checks_per_tensor = 60;  ///< sampled indices per tensor (all when it has fewer)
    std::uint64_t seed = 7;                  ///< for the input, r and the sampled indices
};

/// The outcome of a check: ok, how many derivatives were compared, and the worst mismatch.
struct gradcheck_report {
    bool ok = true;
    std::size_t checked = 0;
    double worst = 0;   ///< largest |a - n| / max(|a|, |n|) among the failures
    std::string where;  ///< "<tensor>[<index>]: analytic A numeric N" of that failure

    /// Records one comparison under the options' tolerance.
    void add(const std::string& name, std::size_t i, double analytic, double numeric, const gradcheck_options& o) {
        ++checked;
        const double err = std::abs(analytic - numeric);
        const double scale = std::max(std::abs(analytic), std::abs(numeric));
        if (err > o.atol + o.rtol * scale) {
            const double rel = err / (scale + 1e-300);
            if (ok || rel > worst) {
                worst = rel;
                where = name + "[" + std::to_string(i) + "]: analytic " + std::to_string(analytic) + " numeric " +
                        std::to_string(numeric);
            }
            ok = false;
        }
    }
};

/// Fills `t` with normal values of standard deviation `scale`.
template <class T>
void fill_normal(tensor<T>& t, rng& r, double scale = 1.0) {
    for (auto& v : t) v = static_cast<T>(r.normal() * scale);
}

/// sum(a * b) in double.
template <class T>
double dot(const tensor<T>& a, const tensor<T>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
    return s;
}

/// Indices to probe in a tensor of n elements: all of them, or max_checks drawn at random.
inline std::vector<std::size_t> probe_indices(std::size_t n, std::size_t max_checks, rng& r) {
    std::vector<std::size_t> idx;
    if (n <= max_checks) {
        for (std::size_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
        for (std::size_t i = 0; i < max_checks; ++i) idx.push_back(static_cast<std::size_t>(r.below(n)));
    }
    return idx;
}

/// Checks d(sum(r * f(x)))/dx and d/dparams of a single-input layer or network against central
/// differences at a random input of shape `in_shape` (see the file comment).
template <class L>
gradcheck_report check_gradients(L& layer, shape4 in_shape, const gradcheck_options& o = {}) {
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

    const auto loss = [&]() { return dot(layer.forward(x), weights); };
    const auto probe = [&](T& v) {
        const T keep = v;
        v = keep + static_cast<T>(o.step);
        const double lp = loss();
        v = keep - static_cast<T>(o.step);
        const double lm = loss();
        v = keep;
        return (lp - lm) / (2 * o.step);
    };
    gradcheck_report rep;
    for (std::size_t i : probe_indices(x.size(), o.max_checks_per_tensor, r))
        rep.add("input", i, static_cast<double>(dx[i]), probe(x[i]), o);
    layer.visit_parameters(std::string_view{}, [&](std::string_view name, tensor<T>& p, tensor<T>& g) {
        for (std::size_t i : probe_indices(p.size(), o.max_checks_per_tensor, r))
            rep.add(std::string(name), i, static_cast<double>(g[i]), probe(p[i]), o);
    });
    return rep;
}

}  // namespace unetpp::testing
