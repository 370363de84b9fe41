#pragma once
/// \file Gradient clipping over every parameter a model visits, as PyTorch's
/// torch.nn.utils.clip_grad_norm_ and clip_grad_value_:
///
///   total = (sum over all gradient elements of g^2)^(1/2)        (the global L2 norm)
///   clip_grad_norm:  coef = max_norm / (total + 1e-6); if coef < 1, every g *= coef
///   clip_grad_value: every g = clamp(g, -clip, +clip)
///
/// Both return the global L2 norm of the gradients *before* clipping (NaN or Inf when a
/// gradient is not finite; the gradients are then left unchanged, so the caller can stop).

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../tensor/tensor.hpp"

namespace unetpp::optim {

/// Global L2 norm of all gradients of `model` (accumulated in double).
template <class Model>
[[nodiscard]] double grad_norm(Model& model) {
    double ss = 0;
    model.visit_parameters([&](std::string_view, auto&, auto& g) {
        const auto* p = g.data();
        const std::size_t n = g.size();
        double s = 0;
        for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(p[i]) * static_cast<double>(p[i]);
        ss += s;
    });
    return std::sqrt(ss);
}

/// Scales the gradients so their global L2 norm is at most max_norm; returns the norm before.
template <class Model>
double clip_grad_norm(Model& model, double max_norm) {
    if (!(max_norm > 0)) throw std::invalid_argument("clip_grad_norm: max_norm must be > 0");
    const double total = grad_norm(model);
    if (!std::isfinite(total)) return total;
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0)
        model.visit_parameters([&](std::string_view, auto&, auto& g) {
            using T = std::remove_cvref_t<decltype(g[0])>;
            const T c = static_cast<T>(coef);
            auto* p = g.data();
            for (std::size_t i = 0; i < g.size(); ++i) p[i] *= c;
        });
    return total;
}

/// Clamps every gradient element to [-clip, clip]; returns the global L2 norm before clipping.
template <class Model>
double clip_grad_value(Model& model, double clip) {
    if (!(clip > 0)) throw std::invalid_argument("clip_grad_value: clip must be > 0");
    const double total = grad_norm(model);
    if (!std::isfinite(total)) return total;
    model.visit_parameters([&](std::string_view, auto&, auto& g) {
        using T = std::remove_cvref_t<decltype(g[0])>;
        const T c = static_cast<T>(clip);
        auto* p = g.data();
        for (std::size_t i = 0; i < g.size(); ++i) p[i] = std::clamp(p[i], -c, c);
    });
    return total;
}

}  // namespace unetpp::optim
