#pragma once
/// \file Region (overlap) losses on sigmoid probabilities: Dice, IoU (Jaccard), Tversky, and
/// Dice + BCE. Seed 004, section 4.2 and its experiment on ISBI 2012 (section 5.4.3).
///
/// With p = sigmoid(logits) and t the target, pooled over a group of pixels (the whole batch or
/// one image, see region_reduction in common.hpp):
///   TP = sum p t,   SP = sum p,   ST = sum t,   FP = SP - TP = sum p (1 - t),
///   FN = ST - TP = sum (1 - p) t.
/// Every loss here is a function L(TP, SP, ST), so
///   dL/dp_i = dL/dTP t_i + dL/dSP,    dL/dx_i = dL/dp_i p_i (1 - p_i).
/// Sums are accumulated in double for both element types.
///
/// Smoothing s (default 1 everywhere):
///   Dice     seed 004 eq. 5: DL = 1 - (2 y p + 1) / (y + p + 1) - "1 is added in numerator and
///            denominator" so that y = p = 0 is defined (eq. 6).
///   IoU      seed 004 eq. 8 has no smoothing term; seed 002 eq. 6/10 adds 1 to intersection and
///            union ("a smoothing factor to handle cases where both masks are empty"). We use
///            s = 1 as in seed 002; s = 0 gives seed 004 eq. 8 exactly.
///   Tversky  seed 004 eq. 7 has no smoothing term; we add s = 1 to numerator and denominator as
///            in its Dice loss (s = 0 gives eq. 7 exactly).
/// With s > 0 an empty target and an empty prediction give loss 0; with s = 0 that case is 0/0 and
/// throws std::domain_error.

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "bce_with_logits.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

namespace detail {

/// Shared driver of the region losses on backend B's memory (host memory: backend::cpu's
/// kernels): checks the inputs, pools TP/SP/ST per group and writes the gradient through the
/// region_loss operation (the formulas are backend/loss_formulas.hpp's region_score).
template <class B, class T, class M>
T region_loss(const char* name, const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight,
              tensor<T, M>* grad, const backend::region_loss_params& params, backend_buffers<T, M>& buf) {
    check_binary_inputs(name, logits, target);
    if (weight) (void)check_weights(name, logits, *weight);
    const auto [t, w] = stage_inputs(target, weight, buf);
    if (grad) grad->resize(logits.shape());
    const shape4 ws = weight ? weight->shape() : logits.shape();
    const double v = loss_ops<B, M>::region(geometry(logits.shape(), &ws), logits.data(), t.data(), data_or_null(w),
                                            data_or_null(grad), params);
    if (!std::isfinite(v))
        throw std::domain_error(std::string(name) +
                                ": 0/0 (empty prediction and empty target with smooth = 0); use smooth > 0");
    return static_cast<T>(v);
}

inline void check_smooth(const char* name, double smooth) {
    if (!(smooth >= 0.0) || !std::isfinite(smooth))
        throw std::invalid_argument(std::string(name) + ": smooth " + number(smooth) + " must be finite and >= 0");
}

/// The host calls of a region loss L (its params() and name): unweighted and weighted.
#define UNETPP_REGION_LOSS_CALLS                                                                              \
    template <class T>                                                                                        \
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {         \
        backend_buffers<T, memory::host> buf;                                                                 \
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);                 \
    }                                                                                                         \
    /** Weighted sums TP = sum w p t, SP = sum w p, ST = sum w t (see common.hpp). */                        \
    template <class T>                                                                                        \
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,                   \
                 tensor<T>* grad = nullptr) const {                                                           \
        backend_buffers<T, memory::host> buf;                                                                 \
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);                 \
    }                                                                                                         \
    /** On backend B's memory (on_backend.hpp); target and weight (may be null) on the host. */              \
    template <class B, class T, class M = typename B::memory>                                                 \
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad, \
                 backend_buffers<T, M>& buf) const {                                                          \
        return detail::region_loss<B>(name, logits, target, weight, grad, params(), buf);                     \
    }

}  // namespace detail

/// Soft Dice loss, seed 004 eq. 5 with sums:
///   L = 1 - (2 TP + s) / (SP + ST + s),  s = smooth = 1.
///   dL/dTP = -2 / D,  dL/dSP = (2 TP + s) / D^2,  D = SP + ST + s.
/// Default per_batch (the seed's sums run over all images and channels).
struct dice_loss {
    static constexpr const char* name = "dice_loss";
    double smooth = 1.0;
    region_reduction reduction = region_reduction::per_batch;

    /// The operation's constants (checks smooth).
    [[nodiscard]] backend::region_loss_params params() const {
        detail::check_smooth(name, smooth);
        return {backend::region_kind::dice, smooth, 0.0, 0.0, reduction == region_reduction::per_image};
    }
    UNETPP_REGION_LOSS_CALLS
};

/// IoU (Jaccard) loss, seed 004 eq. 8 with seed 002's smoothing (eq. 9-10):
///   U = SP + ST - TP,   L = 1 - (TP + s) / (U + s),  s = smooth = 1.
///   dL/dTP = -[1 / (U + s) + (TP + s) / (U + s)^2],  dL/dSP = (TP + s) / (U + s)^2.
struct iou_loss {
    static constexpr const char* name = "iou_loss";
    double smooth = 1.0;
    region_reduction reduction = region_reduction::per_batch;

    /// The operation's constants (checks smooth).
    [[nodiscard]] backend::region_loss_params params() const {
        detail::check_smooth(name, smooth);
        return {backend::region_kind::iou, smooth, 0.0, 0.0, reduction == region_reduction::per_image};
    }
    UNETPP_REGION_LOSS_CALLS
};

/// Tversky loss, seed 004 eq. 7 (Salehi et al. 2017), smoothed:
///   TI = (TP + s) / (TP + alpha FP + beta FN + s),   L = 1 - TI.
/// In eq. 7 alpha multiplies sum (1 - g) s = FP (g the ground truth, s the prediction) and beta
/// multiplies sum g (1 - s) = FN. The seed's alpha = 0.3, beta = 0.7 therefore penalise missed
/// foreground (FN) more than false alarms, favouring recall; alpha = beta = 0.5 is the Dice loss
/// (exactly so for smooth = 0; with smoothing, Tversky's s equals Dice's s / 2).
/// With FP = SP - TP, FN = ST - TP:  D = TP + alpha (SP - TP) + beta (ST - TP) + s,
///   dL/dTP = -[1 / D - (TP + s)(1 - alpha - beta) / D^2],  dL/dSP = (TP + s) alpha / D^2.
struct tversky_loss {
    static constexpr const char* name = "tversky_loss";
    double alpha = 0.3;  ///< weight of false positives
    double beta = 0.7;   ///< weight of false negatives
    double smooth = 1.0;
    region_reduction reduction = region_reduction::per_batch;

    /// The operation's constants (checks smooth, alpha and beta).
    [[nodiscard]] backend::region_loss_params params() const {
        detail::check_smooth(name, smooth);
        if (!(alpha >= 0.0 && beta >= 0.0) || !std::isfinite(alpha) || !std::isfinite(beta))
            throw std::invalid_argument(std::string(name) + ": alpha " + detail::number(alpha) + " and beta " +
                                        detail::number(beta) + " must be finite and >= 0");
        return {backend::region_kind::tversky, smooth, alpha, beta, reduction == region_reduction::per_image};
    }
    UNETPP_REGION_LOSS_CALLS
};

/// Dice + BCE, seed 004's "Dice BCE loss (combination of Dice loss and BCE)":
///   L = bce_weight BCE_with_logits + dice_weight DiceLoss,  both weights 1 by default (plain sum).
/// Note: seed 004 also labels it "Exponential logarithmic loss" (its eq. 9,
/// w_DL E[(-log Dice)^g] + w_CE E[w_c (-log p)^g]); that different loss is not what is
/// implemented here: this is the linear sum used in its experiment's description.
struct dice_bce {
    static constexpr const char* name = "dice_bce";
    double dice_weight = 1.0;
    double bce_weight = 1.0;
    dice_loss dice{};

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Both terms weighted (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// On backend B's memory (on_backend.hpp): the two terms' gradients combined as
    /// bce_weight g_bce + dice_weight g_dice by the backend's scale and accumulate.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        const T lb = bce_with_logits{}.on_backend<B>(logits, target, weight, grad, buf);
        const detail::second_term_scope copied(buf);  // the inputs are on the backend now
        const T ld = detail::region_loss<B>(dice.name, logits, target, weight, grad ? &buf.grad2 : nullptr,
                                            dice.params(), buf);
        if (grad) detail::combine_grads<B>(*grad, static_cast<T>(bce_weight), buf.grad2, static_cast<T>(dice_weight));
        return static_cast<T>(bce_weight * lb + dice_weight * ld);
    }
};

#undef UNETPP_REGION_LOSS_CALLS

}  // namespace unetpp::losses
