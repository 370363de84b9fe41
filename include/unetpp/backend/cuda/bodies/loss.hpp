#pragma once
/// \file Kernel bodies of the loss operations (backend.hpp: bce_with_logits_loss, region_loss,
/// cross_entropy_loss, softmax_dice_loss, pointwise_loss) and the order in which the CUDA backend runs them.
///
/// Every loss is three launches and one read-back:
///   1. a reduction, one block of channel_threads per group (a sample, an image's pixels, or a
///      (group, class) pair): thread t sums, in double, the elements (pixels) t, t +
///      channel_threads, ... of its group; the block adds the threads' sums with hd.hpp's tree;
///      thread 0 stores the group's sums (finish) and, for the region losses, which need nothing
///      else, every thread writes its share of the gradient (apply);
///   2. one thread adds the groups' sums in group order and stores the value and the gradient's
///      factors (finish bodies);
///   3. the gradient, one thread per element or pixel (grad bodies), reading those factors;
/// then the value (one double) comes back. The order depends on the sizes only, so results repeat
/// bit for bit; they agree with backend::cpu (which sums in chunks, or pixel by pixel) to the
/// rounding of the sums. The per-element arithmetic is backend/loss_formulas.hpp's, the CPU's own.
/// run_* below are that sequence, written once over an executor: src/cuda/kernels_loss.cu runs it
/// on a stream, bodies/emulate_loss.hpp on the host for the tests.

#include <cstddef>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "../../loss_formulas.hpp"
#include "../hd.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::bodies {

namespace lm = backend::loss_math;

/// Doubles of device scratch a loss operation needs for g (result, factors and per-group sums).
inline std::ptrdiff_t loss_scratch_doubles(const backend::loss_geometry& g) {
    return 2 + 3 * static_cast<std::ptrdiff_t>(g.n) + 6 * static_cast<std::ptrdiff_t>(g.n) * g.c;
}

// --- binary cross-entropy: groups are the samples ---------------------------------------------
struct bce_reduce {
    backend::loss_geometry g;
    const float *x, *t, *w;
    lm::sums3* sums;  // per sample: (sum w l, sum w, 0)
    UNETPP_HD lm::sums3 partial(int s, int th) const {
        const std::ptrdiff_t sample = static_cast<std::ptrdiff_t>(g.c) * g.plane, lo = s * sample;
        lm::sums3 acc{};
        for (std::ptrdiff_t i = lo + th; i < lo + sample; i += channel_threads) {
            if (!w) {
                acc.a += static_cast<double>(lm::bce_term(x[i], t[i]));
                continue;
            }
            const double wi = lm::weight_at(g, w, i);
            acc.a += wi == 0.0 ? 0.0 : wi * lm::bce_term(static_cast<double>(x[i]), static_cast<double>(t[i]));
            acc.b += wi;
        }
        return acc;
    }
    UNETPP_HD void finish(int s, const lm::sums3& total) const { sums[s] = total; }
    UNETPP_HD void apply(int, int, const lm::sums3&) const {}
};
/// The binary and pointwise losses' totals (per-sample sums (sum w l, sum w)): result[0] = the
/// mean (weighted: sum w l / sum w, 0 for no weight), result[1] = 1 / sum w (1 / count without
/// weights).
struct mean_finish {
    const lm::sums3* sums;
    int n;
    std::ptrdiff_t count;
    bool weighted;
    double* result;
    UNETPP_HD void operator()() const {
        lm::sums3 total{};
        for (int s = 0; s < n; ++s) total += sums[s];
        if (!weighted) {
            result[0] = total.a / static_cast<double>(count);
            result[1] = 1.0 / static_cast<double>(count);
            return;
        }
        const double inv = total.b > 0 ? 1.0 / total.b : 0.0;
        result[0] = inv * total.a;
        result[1] = inv;
    }
};
struct bce_grad {
    backend::loss_geometry g;
    const float *x, *t, *w;
    float* grad;
    float inv_n;           // unweighted: 1 / count, in float as on the CPU
    const double* result;  // weighted: result[1] = 1 / sum w
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        if (!w) {
            grad[i] = (lm::sigmoid(x[i]) - t[i]) * inv_n;
            return;
        }
        const double wi = lm::weight_at(g, w, i), v = x[i], ti = t[i];
        grad[i] = static_cast<float>(wi * (lm::sigmoid(v) - ti) * result[1]);
    }
};

// --- pointwise losses (weighted / balanced BCE, focal, MAE): groups are the samples ------------
struct pointwise_reduce {
    backend::loss_geometry g;
    const float *x, *t, *w;
    backend::pointwise_loss_params p;
    lm::sums3* sums;  // per sample: (sum w l, sum w, 0)
    UNETPP_HD lm::sums3 partial(int s, int th) const {
        const std::ptrdiff_t sample = static_cast<std::ptrdiff_t>(g.c) * g.plane, lo = s * sample;
        lm::sums3 acc{};
        for (std::ptrdiff_t i = lo + th; i < lo + sample; i += channel_threads) {
            const double wi = lm::weight_at(g, w, i);
            double d = 0;
            const double l = lm::pointwise_term(p, static_cast<double>(x[i]), static_cast<double>(t[i]), d);
            acc.a += wi == 0.0 ? 0.0 : wi * l;
            acc.b += wi;
        }
        return acc;
    }
    UNETPP_HD void finish(int s, const lm::sums3& total) const { sums[s] = total; }
    UNETPP_HD void apply(int, int, const lm::sums3&) const {}
};
struct pointwise_grad {
    backend::loss_geometry g;
    const float *x, *t, *w;
    backend::pointwise_loss_params p;
    float* grad;
    const double* result;  // result[1] = 1 / sum w
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        double d = 0;
        (void)lm::pointwise_term(p, static_cast<double>(x[i]), static_cast<double>(t[i]), d);
        grad[i] = static_cast<float>(lm::weight_at(g, w, i) * d * result[1]);
    }
};

// --- region losses: one group per image or one for the batch ----------------------------------
struct region_reduce {
    backend::loss_geometry g;
    const float *x, *t, *w;
    float* grad;  // may be null
    backend::region_loss_params r;
    int groups;
    std::ptrdiff_t per;  // elements per group
    double* values;      // per group: its loss
    UNETPP_HD lm::sums3 partial(int gi, int th) const {
        const std::ptrdiff_t lo = gi * per;
        lm::sums3 acc{};
        for (std::ptrdiff_t i = lo + th; i < lo + per; i += channel_threads)
            acc += lm::region_terms(x[i], t[i], lm::weight_at(g, w, i));
        return acc;
    }
    UNETPP_HD void finish(int gi, const lm::sums3& s) const { values[gi] = lm::region_score(r, s.a, s.b, s.c).loss; }
    UNETPP_HD void apply(int gi, int th, const lm::sums3& s) const {
        if (!grad) return;
        const lm::region_value v = lm::region_score(r, s.a, s.b, s.c);
        const double scale = 1.0 / static_cast<double>(groups);
        const std::ptrdiff_t lo = gi * per;
        for (std::ptrdiff_t i = lo + th; i < lo + per; i += channel_threads)
            grad[i] = lm::region_grad(v, x[i], t[i], lm::weight_at(g, w, i), scale);
    }
};
/// result[0] = the mean of the groups' losses (NaN when one is 0/0).
struct region_finish {
    const double* values;
    int groups;
    double* result;
    UNETPP_HD void operator()() const {
        double total = 0;
        for (int gi = 0; gi < groups; ++gi) total += values[gi];
        result[0] = total / static_cast<double>(groups);
    }
};

// --- cross-entropy: groups are the samples; pixel weights [n, 1, plane] -----------------------
struct cross_entropy_at {
    backend::loss_geometry g;
    const float *x, *t, *w, *cw;
    backend::multiclass_loss_params mp;
    /// Pixel p of sample s into acc (the unscaled gradient into grad when not null).
    UNETPP_HD void pixel(int s, std::ptrdiff_t p, lm::sums3& acc, float* grad) const {
        const std::ptrdiff_t base = static_cast<std::ptrdiff_t>(s) * g.c * g.plane + p;
        const std::ptrdiff_t tbase = mp.index_target ? static_cast<std::ptrdiff_t>(s) * g.plane + p : base;
        const double pw = w ? static_cast<double>(w[static_cast<std::ptrdiff_t>(s) * g.plane + p]) : 1.0;
        lm::cross_entropy_pixel(x + base, t + tbase, cw, pw, g.c, g.plane, mp, acc, grad ? grad + base : nullptr);
    }
};
struct cross_entropy_reduce {
    cross_entropy_at at;
    lm::sums3* sums;  // per sample: (sum of the terms, the index targets' denominator, sum of pixel weights)
    UNETPP_HD lm::sums3 partial(int s, int th) const {
        lm::sums3 acc{};
        for (std::ptrdiff_t p = th; p < at.g.plane; p += channel_threads) at.pixel(s, p, acc, nullptr);
        return acc;
    }
    UNETPP_HD void finish(int s, const lm::sums3& total) const { sums[s] = total; }
    UNETPP_HD void apply(int, int, const lm::sums3&) const {}
};
/// result[0] = the loss, result[1] = 1 / the denominator (0 when it is 0: every pixel ignored).
struct cross_entropy_finish {
    const lm::sums3* sums;
    backend::loss_geometry g;
    bool index_target, weighted;
    double* result;
    UNETPP_HD void operator()() const {
        lm::sums3 acc{};
        for (int s = 0; s < g.n; ++s) acc += sums[s];
        const double denom = index_target ? acc.b : weighted ? acc.c : static_cast<double>(g.n) * static_cast<double>(g.plane);
        result[0] = denom == 0 ? 0.0 : acc.a / denom;
        result[1] = denom == 0 ? 0.0 : 1.0 / denom;
    }
};
struct cross_entropy_grad {  // one thread per pixel
    cross_entropy_at at;
    float* grad;
    const double* result;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const int s = static_cast<int>(i / at.g.plane);
        const std::ptrdiff_t p = i % at.g.plane, base = static_cast<std::ptrdiff_t>(s) * at.g.c * at.g.plane + p;
        lm::sums3 unused{};
        at.pixel(s, p, unused, grad);
        const double inv = result[1];
        for (int k = 0; k < at.g.c; ++k) {
            float& v = grad[base + k * at.g.plane];
            v = inv == 0.0 ? 0.0f : static_cast<float>(v * inv);
        }
    }
};

// --- softmax Dice: one block per (group, class) -----------------------------------------------
struct softmax_dice_at {
    backend::loss_geometry g;
    const float *x, *t, *w;
    backend::multiclass_loss_params mp;
    UNETPP_HD int groups() const { return mp.per_image ? g.n : 1; }
    UNETPP_HD const float* target(int s, std::ptrdiff_t p) const {
        return mp.index_target ? t + static_cast<std::ptrdiff_t>(s) * g.plane + p
                               : t + static_cast<std::ptrdiff_t>(s) * g.c * g.plane + p;
    }
    UNETPP_HD double weight(int s, std::ptrdiff_t p) const {
        return lm::dice_pixel_weight(target(s, p), w ? static_cast<double>(w[static_cast<std::ptrdiff_t>(s) * g.plane + p]) : 1.0,
                                     mp);
    }
};
struct softmax_dice_reduce {
    softmax_dice_at at;
    lm::sums4* sums;  // per (group, class): I, P, G, counted weight
    UNETPP_HD lm::sums4 partial(int b, int th) const {
        const int gi = b / at.g.c, k = b % at.g.c, k0 = at.mp.include_background ? 0 : 1;
        const std::ptrdiff_t first = at.mp.per_image ? gi : 0;
        const std::ptrdiff_t pixels = (at.mp.per_image ? 1 : at.g.n) * at.g.plane;
        lm::sums4 acc{};
        for (std::ptrdiff_t j = th; j < pixels; j += channel_threads) {
            const int s = static_cast<int>(first + j / at.g.plane);
            const std::ptrdiff_t p = j % at.g.plane;
            const double wi = at.weight(s, p);
            if (wi == 0.0) continue;
            acc.d += wi;
            if (k < k0) continue;
            const float* xp = at.x + static_cast<std::ptrdiff_t>(s) * at.g.c * at.g.plane + p;
            const lm::softmax_pixel sp = lm::softmax_at(xp, at.g.c, at.g.plane);
            const double pk = lm::hd_exp(static_cast<double>(xp[k * at.g.plane]) - sp.m) / sp.z;
            const double tk = lm::dice_target(at.target(s, p), k, at.g.plane, at.mp);
            acc.a += wi * pk * tk;
            acc.b += wi * pk;
            acc.c += wi * tk;
        }
        return acc;
    }
    UNETPP_HD void finish(int b, const lm::sums4& total) const { sums[b] = total; }
    UNETPP_HD void apply(int, int, const lm::sums4&) const {}
};
/// result[0] = 1 - the mean score; ct, cp (groups x c) the gradient's factors.
struct softmax_dice_finish {
    const lm::sums4* sums;
    int groups, c;
    backend::multiclass_loss_params mp;
    double *ct, *cp, *result;
    UNETPP_HD void operator()() const {
        const int k0 = mp.include_background ? 0 : 1;
        const double terms = static_cast<double>(groups) * static_cast<double>(c - k0);
        double dice_sum = 0;
        for (int gi = 0; gi < groups; ++gi)
            for (int k = 0; k < c; ++k) {
                const int gk = gi * c + k;
                ct[gk] = cp[gk] = 0.0;
                if (k >= k0) dice_sum += lm::dice_class_score(sums[gk], mp.smooth, terms, ct[gk], cp[gk]);
            }
        result[0] = 1.0 - dice_sum / terms;
    }
};
struct softmax_dice_grad {  // one thread per pixel
    softmax_dice_at at;
    const double *ct, *cp;
    float* grad;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const int s = static_cast<int>(i / at.g.plane);
        const std::ptrdiff_t p = i % at.g.plane, base = static_cast<std::ptrdiff_t>(s) * at.g.c * at.g.plane + p;
        const int gi = at.mp.per_image ? s : 0;
        lm::softmax_dice_pixel_grad(at.x + base, at.target(s, p), at.weight(s, p), ct + gi * at.g.c, cp + gi * at.g.c,
                                    at.g.c, at.mp.include_background ? 0 : 1, at.g.plane, at.mp, grad + base);
    }
};

// --- the sequences (host code: the executor launches or emulates) -----------------------------
// An executor has reduce(blocks, body), single(body), each(n, body) and read(const double*) (which
// waits for what came before and returns the value). `scratch` holds loss_scratch_doubles(g).

template <class Exec>
double run_bce_with_logits(Exec& ex, const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                           float* grad, double* scratch) {
    double* result = scratch;
    lm::sums3* sums = reinterpret_cast<lm::sums3*>(scratch + 2);
    ex.reduce(g.n, bce_reduce{g, x, t, w, sums});
    ex.single(mean_finish{sums, g.n, g.size(), w != nullptr, result});
    if (grad) ex.each(g.size(), bce_grad{g, x, t, w, grad, 1.0f / static_cast<float>(g.size()), result});
    return ex.read(result);
}

template <class Exec>
double run_pointwise(Exec& ex, const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                     float* grad, const backend::pointwise_loss_params& p, double* scratch) {
    double* result = scratch;
    lm::sums3* sums = reinterpret_cast<lm::sums3*>(scratch + 2);
    ex.reduce(g.n, pointwise_reduce{g, x, t, w, p, sums});
    ex.single(mean_finish{sums, g.n, g.size(), w != nullptr, result});
    if (grad) ex.each(g.size(), pointwise_grad{g, x, t, w, p, grad, result});
    return ex.read(result);
}

template <class Exec>
double run_region(Exec& ex, const backend::loss_geometry& g, const float* x, const float* t, const float* w, float* grad,
                  const backend::region_loss_params& r, double* scratch) {
    const int groups = r.per_image ? g.n : 1;
    double* result = scratch;
    double* values = scratch + 2;
    ex.reduce(groups, region_reduce{g, x, t, w, grad, r, groups, g.size() / groups, values});
    ex.single(region_finish{values, groups, result});
    return ex.read(result);
}

template <class Exec>
double run_cross_entropy(Exec& ex, const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                         const float* cw, float* grad, const backend::multiclass_loss_params& mp, double* scratch) {
    double* result = scratch;
    lm::sums3* sums = reinterpret_cast<lm::sums3*>(scratch + 2);
    const cross_entropy_at at{g, x, t, w, cw, mp};
    ex.reduce(g.n, cross_entropy_reduce{at, sums});
    ex.single(cross_entropy_finish{sums, g, mp.index_target, w != nullptr, result});
    if (grad) ex.each(static_cast<std::ptrdiff_t>(g.n) * g.plane, cross_entropy_grad{at, grad, result});
    return ex.read(result);
}

template <class Exec>
double run_softmax_dice(Exec& ex, const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                        float* grad, const backend::multiclass_loss_params& mp, double* scratch) {
    const softmax_dice_at at{g, x, t, w, mp};
    const int groups = at.groups(), terms = groups * g.c;
    double* result = scratch;
    double* ct = scratch + 2;
    double* cp = ct + terms;
    lm::sums4* sums = reinterpret_cast<lm::sums4*>(cp + terms);
    ex.reduce(terms, softmax_dice_reduce{at, sums});
    ex.single(softmax_dice_finish{sums, groups, g.c, mp, ct, cp, result});
    if (grad) ex.each(static_cast<std::ptrdiff_t>(g.n) * g.plane, softmax_dice_grad{at, ct, cp, grad});
    return ex.read(result);
}

}  // namespace unetpp::cuda_kernels::bodies
