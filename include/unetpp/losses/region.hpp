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

namespace unetpp::inline UNETPP_ABI::losses {

namespace detail {

/// Value and partial derivatives of a region loss at (TP, SP, ST).
struct region_value {
    double loss, d_tp, d_sp;
};

// TP, SP and ST of one group, summed together by ordered_sum.
struct region_sums {
    double tp = 0, sp = 0, st = 0;
    region_sums& operator+=(const region_sums& o) {
        tp += o.tp;
        sp += o.sp;
        st += o.st;
        return *this;
    }
};

/// Shared driver: pools TP/SP/ST per group, evaluates `score`, writes the gradient.
template <class T, class Score>
T region_loss(const char* name, const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad,
              region_reduction reduction, Score score, const tensor<T>* weight = nullptr) {
    check_binary_inputs(name, logits, target);
    pixel_weights<T> pw;
    if (weight) pw = check_weights(name, logits, *weight);
    // weight 1 when none is given: multiplying by 1.0 is exact, so the unweighted bits are unchanged
    const auto wt = [&](std::ptrdiff_t i) { return weight ? pw(static_cast<std::size_t>(i)) : 1.0; };
    const shape4 s = logits.shape();
    const std::size_t groups = reduction == region_reduction::per_image ? static_cast<std::size_t>(s.n) : 1;
    const std::size_t per = s.size() / groups;
    const T* x = logits.data();
    const T* t = target.data();
    if (grad) grad->resize(s);
    double total = 0;
    for (std::size_t gi = 0; gi < groups; ++gi) {
        const std::ptrdiff_t lo = static_cast<std::ptrdiff_t>(gi * per), hi = lo + static_cast<std::ptrdiff_t>(per);
        // Chunks and combining order fixed by the group's size: the same bits for any thread count
        // (backend/cpu/kernels/parallel.hpp).
        const region_sums r = backend::cpu_kernels::ordered_sum(hi - lo, region_sums{}, [&](std::ptrdiff_t k) {
            const double p = stable_sigmoid(static_cast<double>(x[lo + k])), ti = t[lo + k], wi = wt(lo + k);
            return region_sums{wi * (p * ti), wi * p, wi * ti};
        });
        const region_value v = score(r.tp, r.sp, r.st);
        if (!std::isfinite(v.loss))
            throw std::domain_error(std::string(name) +
                                    ": 0/0 (empty prediction and empty target with smooth = 0); use smooth > 0");
        total += v.loss;
        if (grad) {
            T* g = grad->data();
            const double scale = 1.0 / static_cast<double>(groups);
#pragma omp parallel for schedule(static) if (per > (1u << 15))
            for (std::ptrdiff_t i = lo; i < hi; ++i) {
                const double xi = x[i];
                const double dp = v.d_tp * static_cast<double>(t[i]) + v.d_sp;
                g[i] = static_cast<T>(dp * stable_sigmoid(xi) * stable_sigmoid(-xi) * scale * wt(i));
            }
        }
    }
    return static_cast<T>(total / static_cast<double>(groups));
}

inline void check_smooth(const char* name, double smooth) {
    if (!(smooth >= 0.0) || !std::isfinite(smooth))
        throw std::invalid_argument(std::string(name) + ": smooth " + number(smooth) + " must be finite and >= 0");
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

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_smooth(name, smooth);
        const double s = smooth;
        return detail::region_loss(name, logits, target, grad, reduction, [s](double tp, double sp, double st) {
            const double d = sp + st + s, num = 2 * tp + s;
            return detail::region_value{1.0 - num / d, -2.0 / d, num / (d * d)};
        });
    }

    /// Weighted sums TP = sum w p t, SP = sum w p, ST = sum w t (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        detail::check_smooth(name, smooth);
        const double s = smooth;
        return detail::region_loss(name, logits, target, grad, reduction, [s](double tp, double sp, double st) {
            const double d = sp + st + s, num = 2 * tp + s;
            return detail::region_value{1.0 - num / d, -2.0 / d, num / (d * d)};
        }, &weight);
    }
};

/// IoU (Jaccard) loss, seed 004 eq. 8 with seed 002's smoothing (eq. 9-10):
///   U = SP + ST - TP,   L = 1 - (TP + s) / (U + s),  s = smooth = 1.
///   dL/dTP = -[1 / (U + s) + (TP + s) / (U + s)^2],  dL/dSP = (TP + s) / (U + s)^2.
struct iou_loss {
    static constexpr const char* name = "iou_loss";
    double smooth = 1.0;
    region_reduction reduction = region_reduction::per_batch;

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_smooth(name, smooth);
        const double s = smooth;
        return detail::region_loss(name, logits, target, grad, reduction, [s](double tp, double sp, double st) {
            const double u = sp + st - tp + s, num = tp + s;
            return detail::region_value{1.0 - num / u, -(1.0 / u + num / (u * u)), num / (u * u)};
        });
    }

    /// Weighted sums TP = sum w p t, SP = sum w p, ST = sum w t (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        detail::check_smooth(name, smooth);
        const double s = smooth;
        return detail::region_loss(name, logits, target, grad, reduction, [s](double tp, double sp, double st) {
            const double u = sp + st - tp + s, num = tp + s;
            return detail::region_value{1.0 - num / u, -(1.0 / u + num / (u * u)), num / (u * u)};
        }, &weight);
    }
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

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        detail::check_smooth(name, smooth);
        if (!(alpha >= 0.0 && beta >= 0.0) || !std::isfinite(alpha) || !std::isfinite(beta))
            throw std::invalid_argument(std::string(name) + ": alpha " + detail::number(alpha) + " and beta " +
                                        detail::number(beta) + " must be finite and >= 0");
        const double s = smooth, a = alpha, b = beta;
        return detail::region_loss(name, logits, target, grad, reduction, [s, a, b](double tp, double sp, double st) {
            const double d = tp + a * (sp - tp) + b * (st - tp) + s, num = tp + s;
            return detail::region_value{1.0 - num / d, -(1.0 / d - num * (1.0 - a - b) / (d * d)), num * a / (d * d)};
        });
    }

    /// Weighted sums TP = sum w p t, SP = sum w p, ST = sum w t (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        detail::check_smooth(name, smooth);
        if (!(alpha >= 0.0 && beta >= 0.0) || !std::isfinite(alpha) || !std::isfinite(beta))
            throw std::invalid_argument(std::string(name) + ": alpha " + detail::number(alpha) + " and beta " +
                                        detail::number(beta) + " must be finite and >= 0");
        const double s = smooth, a = alpha, b = beta;
        return detail::region_loss(name, logits, target, grad, reduction, [s, a, b](double tp, double sp, double st) {
            const double d = tp + a * (sp - tp) + b * (st - tp) + s, num = tp + s;
            return detail::region_value{1.0 - num / d, -(1.0 / d - num * (1.0 - a - b) / (d * d)), num * a / (d * d)};
        }, &weight);
    }
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
        tensor<T> g2;
        const T lb = bce_with_logits{}(logits, target, grad);
        const T ld = dice(logits, target, grad ? &g2 : nullptr);
        if (grad) {
            T* g = grad->data();
            const T wb = static_cast<T>(bce_weight), wd = static_cast<T>(dice_weight);
            for (std::size_t i = 0; i < g2.size(); ++i) g[i] = wb * g[i] + wd * g2[i];
        }
        return static_cast<T>(bce_weight * lb + dice_weight * ld);
    }

    /// Both terms weighted (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        tensor<T> g2;
        const T lb = bce_with_logits{}(logits, target, weight, grad);
        const T ld = dice(logits, target, weight, grad ? &g2 : nullptr);
        if (grad) {
            T* g = grad->data();
            const T wb = static_cast<T>(bce_weight), wd = static_cast<T>(dice_weight);
            for (std::size_t i = 0; i < g2.size(); ++i) g[i] = wb * g[i] + wd * g2[i];
        }
        return static_cast<T>(bce_weight * lb + dice_weight * ld);
    }
};

}  // namespace unetpp::losses
