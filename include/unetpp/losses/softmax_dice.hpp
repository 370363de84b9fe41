#pragma once
/// \file Multi-class soft Dice over a softmax across channels, and Dice + cross-entropy, for
/// logits [N, C, H, W] with C >= 2 classes. The formulas are MONAI's DiceLoss(softmax=True,
/// to_onehot_y=True) and DiceCELoss with their defaults (batch=False, reduction "mean").
///
/// With p = softmax(logits) over the C channels, t the one-hot target and w_i the pixel weights
/// (1 without weights), for each group g and each included class k:
///   I_gk = sum_i w_i p_ik t_ik,   P_gk = sum_i w_i p_ik,   G_gk = sum_i w_i t_ik,
///   D_gk = (2 I_gk + s) / (P_gk + G_gk + s),         loss = 1 - mean_{g, k} D_gk,
/// s = smooth (default 1e-5, MONAI's smooth_nr = smooth_dr). The groups are the images
/// (region_reduction::per_image, the default: MONAI's batch=False, one score per image and class,
/// then the mean) or the whole batch (per_batch: MONAI's batch=True, one score per class).
/// include_background = false leaves class 0 out of the mean; its probability still takes part
/// in the softmax (MONAI drops the channel after the softmax).
///
/// A class absent from an image's target is scored like any other: D = s / (P + s), close to 0
/// unless the network predicts it nowhere, as in MONAI. A group in which no pixel counts (every
/// pixel ignored or of weight 0) scores D = 1 and adds nothing to the gradient; so when no pixel
/// of the batch counts, the loss and the gradient are 0 (the contract in common.hpp). With
/// smooth = 0, a term whose denominator is 0 (the class absent from the target and its
/// probabilities rounded to 0 everywhere) is 0/0 and also scores 1, with no gradient.
///
/// Gradient (exact, through the softmax Jacobian): with M the number of (group, class) terms,
///   a_ik = dL/dp_ik = -w_i (2 t_ik / den_gk - num_gk / den_gk^2) / M   (0 for an excluded class),
///   dL/dx_ij = sum_k a_ik p_ik ([k = j] - p_ij) = p_ij (a_ij - sum_k a_ik p_ik).
///
/// Targets, told apart by the channel count as in cross_entropy.hpp:
///   class indices  [N, 1, H, W] holding integers 0..C-1 (stored as T), or ignore_index: those
///                  pixels are skipped entirely (no term, no gradient);
///   one-hot / soft [N, C, H, W] with values in [0, 1]; ignore_index does not apply.
/// Pixel weights (the WeightedLoss overload, regions of interest) are [N, 1, H, W], one per pixel
/// shared by the channels, >= 0; a pixel of weight 0 contributes nothing.
/// Sums are accumulated in double for both element types, in a fixed order (no threads).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"
#include "cross_entropy.hpp"

namespace unetpp::inline UNETPP_ABI::losses {


/// Soft Dice over softmax probabilities (see the file comment).
struct softmax_dice {
    static constexpr const char* name = "softmax_dice";
    bool include_background = true;  ///< class 0 in the mean (MONAI's default)
    double smooth = 1e-5;            ///< s, added to numerator and denominator (MONAI's default)
    int ignore_index = -100;         ///< index targets with this value are skipped (as cross_entropy)
    region_reduction reduction = region_reduction::per_image;  ///< per image (MONAI batch=False) or per batch

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        return impl(logits, target, static_cast<const tensor<T>*>(nullptr), grad);
    }

    /// Pixel weights w_i ([N, 1, H, W]) weigh every sum: I = sum w p t, P = sum w p, G = sum w t.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        const shape4 s = logits.shape();
        if (weight.shape() != shape4{s.n, 1, s.h, s.w})
            throw std::invalid_argument(std::string(name) + ": weights " + weight.shape().str() +
                                        " do not fit logits " + s.str() +
                                        "; give one weight per pixel as [N, 1, H, W]");
        return impl(logits, target, &weight, grad);
    }

private:
    template <class T>
    T impl(const tensor<T>& logits, const tensor<T>& target, const tensor<T>* pixel_weight, tensor<T>* grad) const {
        if (!(smooth >= 0.0) || !std::isfinite(smooth))
            throw std::invalid_argument(std::string(name) + ": smooth " + detail::number(smooth) +
                                        " must be finite and >= 0");
        const bool indices = detail::check_multiclass_inputs(
            name, logits, target, ignore_index,
            "a softmax over classes needs C >= 2 (use dice_loss or dice_bce for a single foreground class)");
        if (pixel_weight) (void)detail::check_weights(name, logits, *pixel_weight);  // values finite and >= 0
        const shape4 s = logits.shape();
        const int c = s.c, k0 = include_background ? 0 : 1;
        const std::size_t plane = s.plane(), cs = static_cast<std::size_t>(c);
        const std::size_t groups = reduction == region_reduction::per_image ? static_cast<std::size_t>(s.n) : 1;
        const T* x = logits.data();
        const T* tv = target.data();
        const T* pw = pixel_weight ? pixel_weight->data() : nullptr;

        // Pass 1: I, P, G per (group, class) and each group's counted weight. The probabilities are
        // computed again in pass 2 rather than stored (a batch's worth of doubles).
        std::vector<double> prob(cs);
        const auto softmax_at = [&](std::size_t base) {  // prob[k] = softmax of the pixel at `base`
            double m = x[base];
            for (int k = 1; k < c; ++k) m = std::max(m, static_cast<double>(x[base + k * plane]));
            double z = 0;
            for (int k = 0; k < c; ++k) z += (prob[k] = std::exp(static_cast<double>(x[base + k * plane]) - m));
            for (int k = 0; k < c; ++k) prob[k] /= z;
        };
        std::vector<double> inter(groups * cs), psum(groups * cs), tsum(groups * cs), counted(groups);
        const auto weight_of = [&](int n, std::size_t p) -> double {
            const std::size_t pi = static_cast<std::size_t>(n) * plane + p;
            if (indices && static_cast<double>(tv[pi]) == static_cast<double>(ignore_index)) return 0.0;
            // weight 1 without pixel weights: multiplying by 1.0 is exact
            return pw ? static_cast<double>(pw[pi]) : 1.0;
        };
        const auto target_of = [&](int n, std::size_t p, int k) -> double {
            if (indices) return static_cast<int>(tv[static_cast<std::size_t>(n) * plane + p]) == k ? 1.0 : 0.0;
            return static_cast<double>(tv[(static_cast<std::size_t>(n) * cs + static_cast<std::size_t>(k)) * plane +
                                          p]);
        };
        for (int n = 0; n < s.n; ++n) {
            const std::size_t g = groups == 1 ? 0 : static_cast<std::size_t>(n);
            for (std::size_t p = 0; p < plane; ++p) {
                const std::size_t base = static_cast<std::size_t>(n) * cs * plane + p;
                const double w = weight_of(n, p);
                if (w == 0.0) continue;
                softmax_at(base);
                counted[g] += w;
                for (int k = k0; k < c; ++k) {
                    const double pk = prob[k], tk = target_of(n, p, k);
                    inter[g * cs + k] += w * pk * tk;
                    psum[g * cs + k] += w * pk;
                    tsum[g * cs + k] += w * tk;
                }
            }
        }

        // The scores, and the factors of the gradient: dL/dp_ik = w_i (ct_gk t_ik + cp_gk).
        const double terms = static_cast<double>(groups) * static_cast<double>(c - k0);
        std::vector<double> ct(groups * cs, 0.0), cp(groups * cs, 0.0);
        double dice_sum = 0;
        for (std::size_t g = 0; g < groups; ++g)
            for (int k = k0; k < c; ++k) {
                const std::size_t gk = g * cs + static_cast<std::size_t>(k);
                const double num = 2 * inter[gk] + smooth, den = psum[gk] + tsum[gk] + smooth;
                if (counted[g] == 0.0 || den == 0.0) {  // nothing counts here (or 0/0 with smooth 0): D = 1
                    dice_sum += 1.0;
                    continue;
                }
                dice_sum += num / den;
                ct[gk] = -2.0 / den / terms;
                cp[gk] = num / (den * den) / terms;
            }
        if (grad) {
            grad->resize(s);
            T* gv = grad->data();
            std::vector<double> a(cs);
            for (int n = 0; n < s.n; ++n) {
                const std::size_t g = groups == 1 ? 0 : static_cast<std::size_t>(n);
                for (std::size_t p = 0; p < plane; ++p) {
                    const std::size_t base = static_cast<std::size_t>(n) * cs * plane + p;
                    const double w = weight_of(n, p);
                    if (w == 0.0) {
                        for (int k = 0; k < c; ++k) gv[base + k * plane] = T(0);
                        continue;
                    }
                    softmax_at(base);
                    double dot = 0;
                    for (int k = 0; k < c; ++k) {
                        const std::size_t gk = g * cs + static_cast<std::size_t>(k);
                        a[k] = k < k0 ? 0.0 : w * (ct[gk] * target_of(n, p, k) + cp[gk]);
                        dot += a[k] * prob[k];
                    }
                    for (int k = 0; k < c; ++k)
                        gv[base + k * plane] = static_cast<T>(prob[k] * (a[k] - dot));
                }
            }
        }
        return static_cast<T>(1.0 - dice_sum / terms);
    }
};

/// Dice + cross-entropy on a softmax, as MONAI's DiceCELoss:
///   L = dice_weight softmax_dice + ce_weight cross_entropy   (both weights 1 by default).
/// The Dice options (include_background, smooth, reduction) and the cross-entropy class weights
/// are the fields below; ignore_index applies to both terms.
struct dice_ce {
    static constexpr const char* name = "dice_ce";
    double dice_weight = 1.0;                  ///< MONAI's lambda_dice
    double ce_weight = 1.0;                    ///< MONAI's lambda_ce
    bool include_background = true;            ///< see softmax_dice
    double smooth = 1e-5;                      ///< see softmax_dice
    int ignore_index = -100;                   ///< index targets with this value are skipped by both terms
    region_reduction reduction = region_reduction::per_image;  ///< the Dice term's pooling
    std::vector<double> class_weights{};       ///< the cross-entropy term's class weights (empty: all 1)

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        return impl(logits, target, static_cast<const tensor<T>*>(nullptr), grad);
    }

    /// Both terms weighted per pixel ([N, 1, H, W], see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        return impl(logits, target, &weight, grad);
    }

    [[nodiscard]] softmax_dice dice_term() const {
        return softmax_dice{.include_background = include_background, .smooth = smooth, .ignore_index = ignore_index,
                            .reduction = reduction};
    }
    [[nodiscard]] cross_entropy ce_term() const {
        return cross_entropy{.class_weights = class_weights, .ignore_index = ignore_index};
    }

private:
    template <class T>
    T impl(const tensor<T>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T>* grad) const {
        if (!std::isfinite(dice_weight) || !std::isfinite(ce_weight))
            throw std::invalid_argument(std::string(name) + ": dice_weight " + detail::number(dice_weight) +
                                        " and ce_weight " + detail::number(ce_weight) + " must be finite");
        tensor<T> g2;
        const softmax_dice dl = dice_term();
        const cross_entropy ce = ce_term();
        const T ld = weight ? dl(logits, target, *weight, grad) : dl(logits, target, grad);
        tensor<T>* g2p = grad ? &g2 : nullptr;
        const T lc = weight ? ce(logits, target, *weight, g2p) : ce(logits, target, g2p);
        if (grad) {
            T* g = grad->data();
            const T wd = static_cast<T>(dice_weight), wc = static_cast<T>(ce_weight);
            for (std::size_t i = 0; i < g2.size(); ++i) g[i] = wd * g[i] + wc * g2[i];
        }
        return static_cast<T>(dice_weight * static_cast<double>(ld) + ce_weight * static_cast<double>(lc));
    }
};

}  // namespace unetpp::losses
