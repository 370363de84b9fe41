#pragma once
/// \file The per-pixel arithmetic of the loss operations (backend.hpp: bce_with_logits_loss,
/// region_loss, cross_entropy_loss, softmax_dice_loss, pointwise_loss), written once as `UNETPP_HD` functions:
/// backend::cpu's loops (cpu/kernels/loss.hpp) and the CUDA kernels' bodies
/// (cuda/bodies/loss.hpp) both call them, so the two differ only in the order their sums are
/// added. include/unetpp/losses/ documents the formulas. Needs only <cmath>, so g++ and nvcc read
/// it alike.

#include <cmath>
#include <cstddef>

#include "../config/abi.hpp"
#include "../tensor/numeric.hpp"  // UNETPP_HD
#include "backend.hpp"

namespace unetpp::inline UNETPP_ABI::backend::loss_math {

// exp, log and log1p spelled for the side that compiles them (tensor/numeric.hpp).
using numeric::hd_exp;
using numeric::hd_log;
using numeric::hd_log1p;
using numeric::hd_pow;

/// 1 / (1 + e^-v) without overflow (numeric::stable_sigmoid's formula).
template <class T>
UNETPP_HD inline T sigmoid(T v) {
    if (v >= T(0)) return T(1) / (T(1) + hd_exp(-v));
    const T e = hd_exp(v);
    return e / (T(1) + e);
}

/// max(x, 0) - x t + log(1 + e^-|x|): binary cross-entropy of a logit against t in [0, 1].
template <class T>
UNETPP_HD inline T bce_term(T x, T t) {
    return (x > T(0) ? x : T(0)) - x * t + hd_log1p(hd_exp(-(x < T(0) ? -x : x)));
}

/// log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).
UNETPP_HD inline double softplus(double x) {
    return (x > 0.0 ? x : 0.0) + hd_log1p(hd_exp(-(x < 0.0 ? -x : x)));
}

/// The term l(x, t) of a pointwise loss at logit x and target t, and d = dl/dx (the formulas are
/// documented in losses/weighted_bce.hpp, losses/focal.hpp and losses/mae.hpp).
UNETPP_HD inline double pointwise_term(const pointwise_loss_params& p, double x, double t, double& d) {
    switch (p.kind) {
        case pointwise_kind::weighted_bce: {  // pos_weight w = p.a
            const double w = p.a, lw = 1.0 + (w - 1.0) * t;
            d = lw * sigmoid(x) - w * t;
            return (1.0 - t) * x + lw * softplus(-x);
        }
        case pointwise_kind::balanced_bce: {  // beta = p.a
            const double beta = p.a;
            // -log sigmoid(x) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)
            d = (beta * t + (1.0 - beta) * (1.0 - t)) * sigmoid(x) - beta * t;
            return beta * t * softplus(-x) + (1.0 - beta) * (1.0 - t) * softplus(x);
        }
        case pointwise_kind::focal: {  // alpha = p.a (< 0: no class weight), gamma = p.b
            const double al = p.a, ga = p.b;
            const double pr = sigmoid(x), q = sigmoid(-x);
            const double m = pr * (1.0 - t) + q * t;  // 1 - p_t
            const double at = al >= 0.0 ? al * t + (1.0 - al) * (1.0 - t) : 1.0;
            const double c = bce_term(x, t), mg = hd_pow(m, ga);
            const double dmod = (ga == 0.0 || m == 0.0) ? 0.0 : ga * hd_pow(m, ga - 1.0) * (1.0 - 2.0 * t) * pr * q * c;
            d = at * (dmod + mg * (pr - t));
            return at * mg * c;
        }
        case pointwise_kind::mae: {
            const double pr = sigmoid(x), e = pr - t;
            // p (1 - p) = sigmoid(x) sigmoid(-x), exact for large |x|
            d = (e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : 0.0)) * pr * sigmoid(-x);
            return e < 0.0 ? -e : e;
        }
    }
    d = 0.0;
    return 0.0;
}

/// Pixel weight of flat logit index i as a double (1 without weights).
template <class T>
UNETPP_HD inline double weight_at(const loss_geometry& g, const T* w, std::ptrdiff_t i) {
    if (!w) return 1.0;
    if (!g.shared_weights) return static_cast<double>(w[i]);
    const std::ptrdiff_t sample = static_cast<std::ptrdiff_t>(g.c) * g.plane;
    return static_cast<double>(w[(i / sample) * g.plane + i % g.plane]);
}

/// TP, SP and ST of a region loss (or any three sums), added in place. Trivially constructible
/// (value-initialise for zeros), so that CUDA kernels can keep it in shared memory.
struct sums3 {
    double a, b, c;
    UNETPP_HD sums3& operator+=(const sums3& o) {
        a += o.a;
        b += o.b;
        c += o.c;
        return *this;
    }
};
/// Four sums (softmax Dice: intersection, probabilities, targets, counted weight).
struct sums4 {
    double a, b, c, d;
    UNETPP_HD sums4& operator+=(const sums4& o) {
        a += o.a;
        b += o.b;
        c += o.c;
        d += o.d;
        return *this;
    }
};

/// Value and partial derivatives of a region loss at (TP, SP, ST).
struct region_value {
    double loss, d_tp, d_sp;
};
/// The scores of losses/region.hpp: Dice 1 - (2 TP + s) / (SP + ST + s); IoU
/// 1 - (TP + s) / (SP + ST - TP + s); Tversky 1 - (TP + s) / (TP + a FP + b FN + s).
UNETPP_HD inline region_value region_score(const region_loss_params& r, double tp, double sp, double st) {
    const double s = r.smooth;
    if (r.kind == region_kind::dice) {
        const double d = sp + st + s, num = 2 * tp + s;
        return {1.0 - num / d, -2.0 / d, num / (d * d)};
    }
    if (r.kind == region_kind::iou) {
        const double u = sp + st - tp + s, num = tp + s;
        return {1.0 - num / u, -(1.0 / u + num / (u * u)), num / (u * u)};
    }
    const double a = r.alpha, b = r.beta;
    const double d = tp + a * (sp - tp) + b * (st - tp) + s, num = tp + s;
    return {1.0 - num / d, -(1.0 / d - num * (1.0 - a - b) / (d * d)), num * a / (d * d)};
}
/// A region term of logit x, target t, weight w: (w p t, w p, w t), p = sigmoid(x).
template <class T>
UNETPP_HD inline sums3 region_terms(T x, T t, double w) {
    const double p = sigmoid(static_cast<double>(x)), ti = t;
    return {w * (p * ti), w * p, w * ti};
}
/// d loss / d x of a region loss for one logit; `scale` is 1 / the number of groups.
template <class T>
UNETPP_HD inline T region_grad(const region_value& v, T x, T t, double w, double scale) {
    const double xi = x;
    const double dp = v.d_tp * static_cast<double>(t) + v.d_sp;
    return static_cast<T>(dp * sigmoid(xi) * sigmoid(-xi) * scale * w);
}

/// The softmax of one pixel over c channels (stride `plane`): its largest logit m and
/// z = sum_k e^(x_k - m); probability k is e^(x_k - m) / z.
struct softmax_pixel {
    double m, z;
};
template <class T>
UNETPP_HD inline softmax_pixel softmax_at(const T* x, int c, std::ptrdiff_t plane) {
    double m = x[0];
    for (int k = 1; k < c; ++k) {
        const double v = x[k * plane];
        m = m < v ? v : m;
    }
    double z = 0;
    for (int k = 0; k < c; ++k) z += hd_exp(static_cast<double>(x[k * plane]) - m);
    return {m, z};
}

/// Class weight k (1 without class weights).
template <class T>
UNETPP_HD inline double class_weight(const T* cw, int k) {
    return cw ? static_cast<double>(cw[k]) : 1.0;
}

/// One pixel of cross_entropy (losses/cross_entropy.hpp): x and dx point at its channel 0
/// (stride plane), t at its target (index: one value; dense: c values of stride plane), pw its
/// pixel weight. Adds to acc (the weighted loss terms, their share of the denominator, pw; in
/// the host loss's order) and writes the unscaled gradient (w (softmax - one-hot), or
/// softmax sum_j w_j t_j - w_k t_k) into dx when dx is not null; an ignored pixel adds only pw
/// and gets 0.
template <class T>
UNETPP_HD inline void cross_entropy_pixel(const T* x, const T* t, const T* cw, double pw, int c, std::ptrdiff_t plane,
                                          const multiclass_loss_params& mp, sums3& acc, T* dx) {
    acc.c += pw;
    if (mp.index_target && static_cast<double>(t[0]) == static_cast<double>(mp.ignore_index)) {
        if (dx)
            for (int k = 0; k < c; ++k) dx[k * plane] = T(0);
        return;
    }
    const softmax_pixel sp = softmax_at(x, c, plane);
    const double lse = sp.m + hd_log(sp.z);
    if (mp.index_target) {
        const int y = static_cast<int>(t[0]);
        const double w = class_weight(cw, y) * pw;
        acc.a += w * (lse - static_cast<double>(x[y * plane]));
        acc.b += w;
        if (dx)
            for (int k = 0; k < c; ++k)
                dx[k * plane] = static_cast<T>(w * (hd_exp(static_cast<double>(x[k * plane]) - lse) - (k == y ? 1.0 : 0.0)));
        return;
    }
    double wt = 0;
    for (int k = 0; k < c; ++k) {
        const double tk = t[k * plane], wk = class_weight(cw, k) * pw;
        acc.a += wk * tk * (lse - static_cast<double>(x[k * plane]));
        wt += wk * tk;
    }
    if (dx)
        for (int k = 0; k < c; ++k)
            dx[k * plane] = static_cast<T>(hd_exp(static_cast<double>(x[k * plane]) - lse) * wt -
                                           class_weight(cw, k) * pw * static_cast<double>(t[k * plane]));
}

/// Softmax Dice: the weight of a pixel (0 when its index target is ignore_index) and its target
/// for class k (t points at the pixel's target: one index, or c values of stride plane).
template <class T>
UNETPP_HD inline double dice_pixel_weight(const T* t, double pw, const multiclass_loss_params& mp) {
    if (mp.index_target && static_cast<double>(t[0]) == static_cast<double>(mp.ignore_index)) return 0.0;
    return pw;
}
template <class T>
UNETPP_HD inline double dice_target(const T* t, int k, std::ptrdiff_t plane, const multiclass_loss_params& mp) {
    if (mp.index_target) return static_cast<int>(t[0]) == k ? 1.0 : 0.0;
    return static_cast<double>(t[k * plane]);
}
/// One (group, class) score of softmax Dice from its sums (I, P, G, counted weight); ct and cp
/// get the gradient's factors (dL/dp = w (ct t + cp)), 0 where the term scores 1 without one.
UNETPP_HD inline double dice_class_score(const sums4& s, double smooth, double terms, double& ct, double& cp) {
    const double num = 2 * s.a + smooth, den = s.b + s.c + smooth;
    ct = cp = 0.0;
    if (s.d == 0.0 || den == 0.0) return 1.0;  // nothing counts here (or 0/0 with smooth 0)
    ct = -2.0 / den / terms;
    cp = num / (den * den) / terms;
    return num / den;
}
/// The gradient of one pixel of softmax Dice: dx_j = p_j (a_j - sum_k a_k p_k), a_k = w (ct t_k + cp)
/// (0 below class k0); ct and cp point at the pixel's group's c factors.
template <class T>
UNETPP_HD inline void softmax_dice_pixel_grad(const T* x, const T* t, double w, const double* ct, const double* cp, int c,
                                              int k0, std::ptrdiff_t plane, const multiclass_loss_params& mp, T* dx) {
    if (w == 0.0) {
        for (int k = 0; k < c; ++k) dx[k * plane] = T(0);
        return;
    }
    const softmax_pixel sp = softmax_at(x, c, plane);
    double dot = 0;
    for (int k = 0; k < c; ++k) {
        const double pk = hd_exp(static_cast<double>(x[k * plane]) - sp.m) / sp.z;
        const double a = k < k0 ? 0.0 : w * (ct[k] * dice_target(t, k, plane, mp) + cp[k]);
        dot += a * pk;
    }
    for (int k = 0; k < c; ++k) {
        const double pk = hd_exp(static_cast<double>(x[k * plane]) - sp.m) / sp.z;
        const double a = k < k0 ? 0.0 : w * (ct[k] * dice_target(t, k, plane, mp) + cp[k]);
        dx[k * plane] = static_cast<T>(pk * (a - dot));
    }
}

}  // namespace unetpp::backend::loss_math
