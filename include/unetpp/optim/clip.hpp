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
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::optim {

namespace detail {
/// The backend a model runs on: its backend_type, or backend::cpu for a model that names none (a
/// plain struct with visit_parameters over host tensors).
template <class Model>
struct backend_of {
    using type = backend::cpu;
};
template <class Model>
    requires requires { typename Model::backend_type; }
struct backend_of<Model> {
    using type = typename Model::backend_type;
};
}  // namespace detail

/// Global L2 norm of all gradients of `model`: each tensor's sum of squares in double (the
/// backend's sum_squares, on the tensors where they live), added in visiting order.
template <class Model>
[[nodiscard]] double grad_norm(Model& model) {
    using B = typename detail::backend_of<Model>::type;
    double ss = 0;
    model.visit_parameters([&](std::string_view, auto&, auto& g) {
        ss += B::sum_squares(std::as_const(g).data(), static_cast<std::ptrdiff_t>(g.size()));
    });
    return std::sqrt(ss);
}

/// Scales the gradients so their global L2 norm is at most max_norm; returns the norm before.
template <class Model>
double clip_grad_norm(Model& model, double max_norm) {
    using B = typename detail::backend_of<Model>::type;
    if (!(max_norm > 0)) throw std::invalid_argument("clip_grad_norm: max_norm must be > 0");
    const double total = grad_norm(model);
    if (!std::isfinite(total)) return total;
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0)
        model.visit_parameters([&](std::string_view, auto&, auto& g) {
            using T = typename std::remove_cvref_t<decltype(g)>::value_type;
            B::scale(g.data(), static_cast<std::ptrdiff_t>(g.size()), static_cast<T>(coef));
        });
    return total;
}

/// Clamps every gradient element to [-clip, clip]; returns the global L2 norm before clipping.
template <class Model>
double clip_grad_value(Model& model, double clip) {
    using B = typename detail::backend_of<Model>::type;
    if (!(clip > 0)) throw std::invalid_argument("clip_grad_value: clip must be > 0");
    const double total = grad_norm(model);
    if (!std::isfinite(total)) return total;
    model.visit_parameters([&](std::string_view, auto&, auto& g) {
        using T = typename std::remove_cvref_t<decltype(g)>::value_type;
        B::clamp(g.data(), static_cast<std::ptrdiff_t>(g.size()), static_cast<T>(-clip), static_cast<T>(clip));
    });
    return total;
}

}  // namespace unetpp::optim
