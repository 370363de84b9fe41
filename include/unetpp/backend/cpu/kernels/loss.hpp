#pragma once
/// \file backend::cpu's loss operations (backend.hpp: bce_with_logits_loss, region_loss,
/// cross_entropy_loss, softmax_dice_loss, pointwise_loss) on host pointers, for float and double. The per-pixel
/// arithmetic is backend/loss_formulas.hpp's; the sums run in the order the host losses always
/// used: ordered_sum's fixed chunks (parallel.hpp) for the binary losses, one sequential pass for
/// the softmax losses, so the bits do not depend on the thread count. The losses
/// (include/unetpp/losses/) check their inputs and call these through the backend.

#include <cmath>
#include <cstddef>
#include <vector>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "../../loss_formulas.hpp"
#include "parallel.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

/// Mean binary cross-entropy on logits; weighted: sum w_i l_i / sum w_i (0 when the weights sum
/// to 0). grad (may be null) is overwritten.
template <class T>
double bce_with_logits_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad) {
    const std::ptrdiff_t n = g.size();
    if (!w) {
        const T inv_n = T(1) / static_cast<T>(n);
        // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
        const double sum = ordered_sum(n, [&](std::ptrdiff_t i) {
            if (grad) grad[i] = (loss_math::sigmoid(x[i]) - t[i]) * inv_n;
            return static_cast<double>(loss_math::bce_term(x[i], t[i]));
        });
        return sum / static_cast<double>(n);
    }
    const double total = ordered_sum(n, [&](std::ptrdiff_t i) { return loss_math::weight_at(g, w, i); });
    const double inv = total > 0 ? 1.0 / total : 0.0;
    return inv * ordered_sum(n, [&](std::ptrdiff_t i) {
               const double wi = loss_math::weight_at(g, w, i), v = x[i], ti = t[i];
               if (grad) grad[i] = static_cast<T>(wi * (loss_math::sigmoid(v) - ti) * inv);
               return wi == 0.0 ? 0.0 : wi * loss_math::bce_term(v, ti);
           });
}

/// The mean of a pointwise loss's terms (loss_math::pointwise_term); weighted: sum w_i l_i / sum
/// w_i (0 when the weights sum to 0). grad (may be null) is overwritten.
template <class T>
double pointwise_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad,
                      const pointwise_loss_params& p) {
    const std::ptrdiff_t n = g.size();
    const double total = w ? ordered_sum(n, [&](std::ptrdiff_t i) { return loss_math::weight_at(g, w, i); })
                           : static_cast<double>(n);
    const double inv = total > 0 ? 1.0 / total : 0.0;
    // Chunks and combining order fixed by n: the same bits for any thread count (parallel.hpp).
    const double sum = ordered_sum(n, [&](std::ptrdiff_t i) {
        const double wi = loss_math::weight_at(g, w, i);
        double d = 0;
        const double l = loss_math::pointwise_term(p, static_cast<double>(x[i]), static_cast<double>(t[i]), d);
        if (grad) grad[i] = static_cast<T>(wi * d * inv);
        return wi == 0.0 ? 0.0 : wi * l;
    });
    return sum * inv;
}

/// Dice, IoU or Tversky on sigmoid probabilities, per batch or per image (the mean of the
/// images' losses); NaN when a group's score is 0/0 (smooth 0). grad (may be null) is overwritten.
template <class T>
double region_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad, const region_loss_params& r) {
    const std::ptrdiff_t groups = r.per_image ? g.n : 1, per = g.size() / groups;
    double total = 0;
    for (std::ptrdiff_t gi = 0; gi < groups; ++gi) {
        const std::ptrdiff_t lo = gi * per, hi = lo + per;
        const loss_math::sums3 s = ordered_sum(per, loss_math::sums3{}, [&](std::ptrdiff_t k) {
            return loss_math::region_terms(x[lo + k], t[lo + k], loss_math::weight_at(g, w, lo + k));
        });
        const loss_math::region_value v = loss_math::region_score(r, s.a, s.b, s.c);
        if (!std::isfinite(v.loss)) return v.loss;
        total += v.loss;
        if (grad) {
            const double scale = 1.0 / static_cast<double>(groups);
#pragma omp parallel for schedule(static) if (per > (1 << 15))
            for (std::ptrdiff_t i = lo; i < hi; ++i)
                grad[i] = loss_math::region_grad(v, x[i], t[i], loss_math::weight_at(g, w, i), scale);
        }
    }
    return total / static_cast<double>(groups);
}

/// Categorical cross-entropy over the channels' softmax (losses/cross_entropy.hpp): index targets
/// sum w l / sum w over the pixels not ignored, dense targets sum w l / (pixels or the pixel
/// weights' sum); 0 and a zero gradient when the denominator is 0. Pixel weights are [n, 1, plane].
template <class T>
double cross_entropy_loss(const loss_geometry& g, const T* x, const T* t, const T* w, const T* cw, T* grad,
                          const multiclass_loss_params& mp) {
    const int c = g.c;
    const std::ptrdiff_t plane = g.plane;
    loss_math::sums3 acc{};  // the loss terms, the index targets' denominator, the pixel weights
    for (int ni = 0; ni < g.n; ++ni)
        for (std::ptrdiff_t p = 0; p < plane; ++p) {
            const std::ptrdiff_t base = static_cast<std::ptrdiff_t>(ni) * c * plane + p;
            const std::ptrdiff_t tbase = mp.index_target ? static_cast<std::ptrdiff_t>(ni) * plane + p : base;
            // weight 1 without pixel weights: multiplying by 1.0 is exact
            const double pw = w ? static_cast<double>(w[static_cast<std::ptrdiff_t>(ni) * plane + p]) : 1.0;
            loss_math::cross_entropy_pixel(x + base, t + tbase, cw, pw, c, plane, mp, acc, grad ? grad + base : nullptr);
        }
    const double sum = acc.a;
    const double denom =
        mp.index_target ? acc.b : w ? acc.c : static_cast<double>(g.n) * static_cast<double>(plane);
    const std::ptrdiff_t n = g.size();
    if (denom == 0) {  // every pixel ignored (or all weights zero)
        if (grad)
            for (std::ptrdiff_t i = 0; i < n; ++i) grad[i] = T(0);
        return 0.0;
    }
    if (grad) {
        const double inv = 1.0 / denom;
        for (std::ptrdiff_t i = 0; i < n; ++i) grad[i] = static_cast<T>(grad[i] * inv);
    }
    return sum / denom;
}

/// Soft Dice over the channels' softmax, one score per (group, class), 1 - their mean
/// (losses/softmax_dice.hpp). Pixel weights are [n, 1, plane].
template <class T>
double softmax_dice_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad,
                         const multiclass_loss_params& mp) {
    const int c = g.c, k0 = mp.include_background ? 0 : 1;
    const std::ptrdiff_t plane = g.plane;
    const std::size_t cs = static_cast<std::size_t>(c);
    const std::size_t groups = mp.per_image ? static_cast<std::size_t>(g.n) : 1;
    const auto pixel_weight = [&](int n, std::ptrdiff_t p, const T* tp) {
        // weight 1 without pixel weights: multiplying by 1.0 is exact
        return loss_math::dice_pixel_weight(tp, w ? static_cast<double>(w[static_cast<std::ptrdiff_t>(n) * plane + p]) : 1.0,
                                            mp);
    };
    const auto target_at = [&](int n, std::ptrdiff_t p) {
        return mp.index_target ? t + static_cast<std::ptrdiff_t>(n) * plane + p
                               : t + static_cast<std::ptrdiff_t>(n) * c * plane + p;
    };
    // Pass 1: I, P, G per (group, class) and each group's counted weight, in pixel order.
    std::vector<loss_math::sums4> sums(groups * cs);
    for (int n = 0; n < g.n; ++n) {
        const std::size_t gi = groups == 1 ? 0 : static_cast<std::size_t>(n);
        for (std::ptrdiff_t p = 0; p < plane; ++p) {
            const T* xp = x + static_cast<std::ptrdiff_t>(n) * c * plane + p;
            const T* tp = target_at(n, p);
            const double wi = pixel_weight(n, p, tp);
            if (wi == 0.0) continue;
            const loss_math::softmax_pixel sp = loss_math::softmax_at(xp, c, plane);
            for (int k = 0; k < c; ++k) {
                loss_math::sums4& s = sums[gi * cs + static_cast<std::size_t>(k)];
                s.d += wi;
                if (k < k0) continue;
                const double pk = loss_math::hd_exp(static_cast<double>(xp[k * plane]) - sp.m) / sp.z;
                const double tk = loss_math::dice_target(tp, k, plane, mp);
                s.a += wi * pk * tk;
                s.b += wi * pk;
                s.c += wi * tk;
            }
        }
    }
    // The scores and the gradient's factors.
    const double terms = static_cast<double>(groups) * static_cast<double>(c - k0);
    std::vector<double> ct(groups * cs, 0.0), cp(groups * cs, 0.0);
    double dice_sum = 0;
    for (std::size_t gi = 0; gi < groups; ++gi)
        for (int k = k0; k < c; ++k) {
            const std::size_t gk = gi * cs + static_cast<std::size_t>(k);
            dice_sum += loss_math::dice_class_score(sums[gk], mp.smooth, terms, ct[gk], cp[gk]);
        }
    if (grad)
        for (int n = 0; n < g.n; ++n) {
            const std::size_t gi = groups == 1 ? 0 : static_cast<std::size_t>(n);
            for (std::ptrdiff_t p = 0; p < plane; ++p) {
                const std::ptrdiff_t base = static_cast<std::ptrdiff_t>(n) * c * plane + p;
                const T* tp = target_at(n, p);
                loss_math::softmax_dice_pixel_grad(x + base, tp, pixel_weight(n, p, tp), ct.data() + gi * cs,
                                                   cp.data() + gi * cs, c, k0, plane, mp, grad + base);
            }
        }
    return 1.0 - dice_sum / terms;
}

}  // namespace unetpp::backend::cpu_kernels
