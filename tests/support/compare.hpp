#pragma once
// Helpers for tests that compare two networks of the same type on different backends (the fast
// kernels against the reference loops): relative errors of outputs and of every parameter
// gradient, and a check for ReLU kinks that rounding put on different sides.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <unetpp/tensor/tensor.hpp>

namespace unetpp::test {

/// max |a - b| / max |b|.
inline double max_rel_error(const tensor<float>& a, const tensor<float>& b) {
    double m = 0;
    for (float v : b) m = std::max(m, std::abs(static_cast<double>(v)));
    return max_abs_diff(a, b) / (m + 1e-30);
}

/// Copies of every parameter gradient of `net`, in visiting order.
template <class Net>
std::vector<tensor<float>> parameter_gradients(Net& net) {
    std::vector<tensor<float>> g;
    net.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& d) { g.push_back(d); });
    return g;
}

/// Worst relative error between the parameter gradients of two networks of the same structure.
/// Some gradients are zero analytically (a bias before batch norm under reflect padding shifts
/// every pixel of a channel equally, which the norm removes), so each tensor's error is scaled
/// by the larger of its own magnitude and 1e-3 of the largest gradient in the network.
template <class A, class B>
double worst_gradient_error(A& a, B& reference) {
    const auto ga = parameter_gradients(a), gr = parameter_gradients(reference);
    if (ga.size() != gr.size()) return INFINITY;
    double global = 0;
    for (const auto& g : gr)
        for (float v : g) global = std::max(global, std::abs(static_cast<double>(v)));
    double worst = 0;
    for (std::size_t i = 0; i < ga.size(); ++i) {
        double m = 0;
        for (float v : gr[i]) m = std::max(m, std::abs(static_cast<double>(v)));
        worst = std::max(worst, max_abs_diff(ga[i], gr[i]) / std::max(m, 1e-3 * global));
    }
    return worst;
}

/// Outputs of every layer inside the network's blocks, in a fixed order.
template <class Net>
std::vector<const tensor<float>*> block_outputs(Net& net) {
    std::vector<const tensor<float>*> out;
    net.for_each_layer([&](auto& block, std::string_view) {
        if constexpr (requires { block.template get<0>(); }) {
            using block_t = std::remove_cvref_t<decltype(block)>;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                (out.push_back(&block.template get<I>().output()), ...);
            }(std::make_index_sequence<block_t::layer_count>{});
        }
    });
    return out;
}

/// Pixels where one network's ReLU output is exactly 0 and the other's is positive: a ReLU kink
/// that float rounding put on different sides. The gradient there differs by a whole dy value,
/// which no tolerance on rounding error covers, so a test draws such an input again.
template <class A, class B>
std::size_t relu_kink_flips(A& a, B& b) {
    const auto oa = block_outputs(a), ob = block_outputs(b);
    std::size_t flips = 0;
    for (std::size_t k = 0; k < oa.size() && k < ob.size(); ++k)
        for (std::size_t i = 0; i < oa[k]->size() && i < ob[k]->size(); ++i) {
            const float u = oa[k]->data()[i], v = ob[k]->data()[i];
            flips += (u == 0.0f && v > 0.0f) || (v == 0.0f && u > 0.0f);
        }
    return flips;
}

/// Outputs of max-pool layers (direct components of the networks with winners()) whose winning
/// pixel differs between the two networks: a near tie that float rounding decided differently.
/// The gradient then goes to another pixel, which no tolerance on rounding error covers either.
template <class A, class B>
std::size_t pool_winner_flips(A& a, B& b) {
    std::vector<const tensor<std::int32_t>*> wa, wb;
    const auto collect = [](auto& net, auto& out) {
        net.for_each_layer([&](auto& l, std::string_view) {
            if constexpr (requires { l.winners(); }) out.push_back(&l.winners());
        });
    };
    collect(a, wa);
    collect(b, wb);
    std::size_t flips = 0;
    for (std::size_t k = 0; k < wa.size() && k < wb.size(); ++k)
        for (std::size_t i = 0; i < wa[k]->size() && i < wb[k]->size(); ++i) flips += (*wa[k])[i] != (*wb[k])[i];
    return flips;
}

/// Fills `x` with draws of `draw(x)` until the forward passes of `a` and `b` on it put no ReLU
/// kink on different sides (relu_kink_flips), and returns their outputs. The fast kernels sum in
/// another order than the reference loops (and the order depends on the thread count), so a
/// pre-activation within rounding of 0 can land on either side. Gives up after `tries` draws
/// and returns an empty pair, which the caller turns into a failure.
template <class A, class B, class Draw>
std::pair<tensor<float>, tensor<float>> forward_without_kink_flips(A& a, B& b, tensor<float>& x, Draw&& draw,
                                                                   int tries = 12) {
    for (int k = 0; k < tries; ++k) {
        draw(x);
        tensor<float> ya = a.forward(x);
        tensor<float> yb = b.forward(x);
        if (relu_kink_flips(a, b) == 0) return {std::move(ya), std::move(yb)};
    }
    return {};
}

}  // namespace unetpp::test
