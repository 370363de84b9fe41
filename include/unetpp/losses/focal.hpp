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
/// individually); it is offered to reproduce that code.
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
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

enum class focal_form { per_pixel, on_mean_bce };

struct focal_loss {
    static constexpr const char* name = "focal_loss";
    double alpha = 0.8;  ///< weight of the positive class (negatives get 1 - alpha); < 0: no weight
    double gamma = 2.0;  ///< focusing exponent, >= 0 (0 gives alpha-weighted BCE)
    focal_form form = focal_form::per_pixel;

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        if (!(gamma >= 0.0) || !std::isfinite(gamma) || !std::isfinite(alpha) || alpha > 1.0)
            throw std::invalid_argument(std::string(name) + ": gamma " + detail::number(gamma) + " must be >= 0 and alpha " +
                                        detail::number(alpha) + " at most 1 (negative alpha: no class weight)");
        detail::check_binary_inputs(name, logits, target);
        if (grad) grad->resize(logits.shape());
        const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(logits.size());
        const T* x = logits.data();
        const T* t = target.data();
        T* g = grad ? grad->data() : nullptr;
        const double inv_n = 1.0 / static_cast<double>(n), ga = gamma;

        if (form == focal_form::on_mean_bce) {
            // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
            const auto term = [&](std::ptrdiff_t i) { return detail::bce_logit<double>(x[i], t[i]); };
            const double b = backend::cpu_kernels::ordered_sum(n, term) * inv_n;
            const double a = alpha < 0 ? 1.0 : alpha;
            const double e = std::exp(-b), m = -std::expm1(-b);  // m = 1 - e^-B without cancellation
            const double loss = a * std::pow(m, ga) * b;
            if (g) {
                const double dm = ga == 0.0 ? 0.0 : ga * std::pow(m, ga - 1.0) * e * b;
                const double dldb = a * (dm + std::pow(m, ga));
                for (std::ptrdiff_t i = 0; i < n; ++i)
                    g[i] = static_cast<T>(dldb * (detail::stable_sigmoid<double>(x[i]) - t[i]) * inv_n);
            }
            return static_cast<T>(loss);
        }

        const bool weighted = alpha >= 0.0;
        const double al = alpha;
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t i) {
            const double xi = x[i], ti = t[i];
            const double p = detail::stable_sigmoid(xi), q = detail::stable_sigmoid(-xi);
            const double m = p * (1.0 - ti) + q * ti;
            const double at = weighted ? al * ti + (1.0 - al) * (1.0 - ti) : 1.0;
            const double c = detail::bce_logit(xi, ti);
            const double mg = std::pow(m, ga);
            if (g) {
                const double dmod = (ga == 0.0 || m == 0.0) ? 0.0 : ga * std::pow(m, ga - 1.0) * (1.0 - 2.0 * ti) * p * q * c;
                g[i] = static_cast<T>(at * (dmod + mg * (p - ti)) * inv_n);
            }
            return at * mg * c;
        });
        return static_cast<T>(sum * inv_n);
    }

    /// Weighted (see common.hpp): per_pixel is the weighted mean of the pixel terms; on_mean_bce
    /// modulates the weighted mean BCE B.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        (void)(*this)(logits, target);  // the checks, with their messages
        const auto w = detail::check_weights(name, logits, weight);
        const double ga = gamma, al = alpha;
        if (form == focal_form::on_mean_bce) {
            tensor<T> gb;
            const double b = detail::weighted_mean(logits, w, grad ? &gb : nullptr, [&](std::size_t i, double& d) {
                d = detail::stable_sigmoid<double>(logits[i]) - target[i];
                return detail::bce_logit<double>(logits[i], target[i]);
            });
            const double a = al < 0 ? 1.0 : al, e = std::exp(-b), m = -std::expm1(-b);
            if (grad) {
                const double dldb = a * ((ga == 0.0 ? 0.0 : ga * std::pow(m, ga - 1.0) * e * b) + std::pow(m, ga));
                *grad = std::move(gb);
                for (auto& v : *grad) v = static_cast<T>(dldb * static_cast<double>(v));
            }
            return static_cast<T>(a * std::pow(m, ga) * b);
        }
        const bool weighted = al >= 0.0;
        return detail::weighted_mean(logits, w, grad, [&](std::size_t i, double& d) {
            const double xi = logits[i], ti = target[i];
            const double p = detail::stable_sigmoid(xi), q = detail::stable_sigmoid(-xi);
            const double m = p * (1.0 - ti) + q * ti;
            const double at = weighted ? al * ti + (1.0 - al) * (1.0 - ti) : 1.0;
            const double c = detail::bce_logit(xi, ti), mg = std::pow(m, ga);
            const double dmod = (ga == 0.0 || m == 0.0) ? 0.0 : ga * std::pow(m, ga - 1.0) * (1.0 - 2.0 * ti) * p * q * c;
            d = at * (dmod + mg * (p - ti));
            return at * mg * c;
        });
    }
};

}  // namespace unetpp::losses
