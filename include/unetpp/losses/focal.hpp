#pragma once
/// \file Focal loss on logits (Lin et al. 2017), seed 004 eq. 2-4:
///   p_t = p if y = 1 else 1 - p,   FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t),
/// with the seed's alpha = 0.8 and gamma = 2. The seed leaves alpha_t undefined; in Lin et al.
/// (the seed's reference 38) it is defined like p_t: alpha_t = alpha for y = 1, 1 - alpha
/// otherwise. For soft targets t in [0, 1] both are interpolated:
///   p_t = p t + (1 - p)(1 - t),   alpha_t = alpha t + (1 - alpha)(1 - t),
///   -log p_t is replaced by the binary cross-entropy bce(x, t) (equal for t in {0, 1}).
/// That is exactly torchvision.ops.sigmoid_focal_loss(x, t, alpha, gamma, reduction="mean"), so
/// the seed's equation and torchvision's form coincide: focal_form::per_pixel (the default).
/// A negative alpha disables the class weight (alpha_t = 1), as in torchvision.
///
/// focal_form::on_mean_bce is the other form in circulation (a widely copied PyTorch "loss
/// function library" whose defaults, ALPHA = 0.8 and GAMMA = 2, are the seed's values, so the
/// seed's experiment quite possibly used it): the focal modulation is applied once, to the
/// batch's mean BCE B, with a constant alpha:
///   L = alpha (1 - exp(-B))^gamma B,
///   dL/dx_i = alpha [gamma (1 - e^-B)^(gamma-1) e^-B B + (1 - e^-B)^gamma] (sigmoid(x_i) - t_i) / count.
/// It is not the per-pixel focal loss of eq. 4 (it does not down-weight easy pixels
/// individually); it is offered to reproduce that code. Both forms run on a backend's memory too
/// (on_backend.hpp).
///
/// Per-pixel gradient (stable: 1 - p_t = p (1 - t) + (1 - p) t, with 1 - p = sigmoid(-x)):
///   l = alpha_t m^gamma c,  m = 1 - p_t,  c = bce(x, t),
///   dm/dx = (1 - 2t) p (1 - p),   dc/dx = p - t,
///   dl/dx = alpha_t [gamma m^(gamma-1) (1 - 2t) p (1 - p) c + m^gamma (p - t)].

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "bce_with_logits.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

enum class focal_form { per_pixel, on_mean_bce };

struct focal_loss {
    static constexpr const char* name = "focal_loss";
    double alpha = 0.8;  ///< weight of the positive class (negatives get 1 - alpha); < 0: no weight
    double gamma = 2.0;  ///< focusing exponent, >= 0 (0 gives alpha-weighted BCE)
    focal_form form = focal_form::per_pixel;

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Weighted (see common.hpp): per_pixel is the weighted mean of the pixel terms; on_mean_bce
    /// modulates the weighted mean BCE B.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// The loss on backend B's memory (on_backend.hpp): per_pixel is the pointwise_loss operation;
    /// on_mean_bce is bce_with_logits_loss (B and its gradient (p - t) / count, or its weighted
    /// form) and the gradient scaled by dL/dB. `weight` (may be null) and `target` on the host.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        if (!(gamma >= 0.0) || !std::isfinite(gamma) || !std::isfinite(alpha) || alpha > 1.0)
            throw std::invalid_argument(std::string(name) + ": gamma " + detail::number(gamma) + " must be >= 0 and alpha " +
                                        detail::number(alpha) + " at most 1 (negative alpha: no class weight)");
        if (form == focal_form::per_pixel) {
            const backend::pointwise_loss_params p{backend::pointwise_kind::focal, alpha, gamma};
            return detail::pointwise_on<B>(name, p, logits, target, weight, grad, buf);
        }
        // B, the (weighted) mean BCE, and its gradient, which dL/dB then scales
        const double b = bce_with_logits::on_backend_named<B>(name, logits, target, weight, grad, buf);
        const double a = alpha < 0 ? 1.0 : alpha, ga = gamma;
        const double e = std::exp(-b), m = -std::expm1(-b);  // m = 1 - e^-B without cancellation
        if (grad) {
            const double dldb = a * ((ga == 0.0 ? 0.0 : ga * std::pow(m, ga - 1.0) * e * b) + std::pow(m, ga));
            detail::scale_grad<B>(*grad, static_cast<T>(dldb));
        }
        return static_cast<T>(a * std::pow(m, ga) * b);
    }
};

}  // namespace unetpp::losses
