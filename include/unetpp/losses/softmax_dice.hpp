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
/// Sums are accumulated in double for both element types, in a fixed order (no threads); the
/// arithmetic is the softmax_dice_loss operation's (backend/loss_formulas.hpp).

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
#include "on_backend.hpp"

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
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Pixel weights w_i ([N, 1, H, W]) weigh every sum: I = sum w p t, P = sum w p, G = sum w t.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// On backend B's memory (on_backend.hpp); target and weight (may be null) on the host.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        const shape4 s = logits.shape();
        if (weight && weight->shape() != shape4{s.n, 1, s.h, s.w})
            throw std::invalid_argument(std::string(name) + ": weights " + weight->shape().str() +
                                        " do not fit logits " + s.str() +
                                        "; give one weight per pixel as [N, 1, H, W]");
        if (!(smooth >= 0.0) || !std::isfinite(smooth))
            throw std::invalid_argument(std::string(name) + ": smooth " + detail::number(smooth) +
                                        " must be finite and >= 0");
        const bool indices = detail::check_multiclass_inputs(
            name, logits, target, ignore_index,
            "a softmax over classes needs C >= 2 (use dice_loss or dice_bce for a single foreground class)");
        if (weight) (void)detail::check_weights(name, logits, *weight);  // values finite and >= 0
        const auto [t, w] = detail::stage_inputs(target, weight, buf);
        if (grad) grad->resize(s);
        const backend::multiclass_loss_params mp{.index_target = indices,
                                                 .ignore_index = ignore_index,
                                                 .include_background = include_background,
                                                 .smooth = smooth,
                                                 .per_image = reduction == region_reduction::per_image};
        return static_cast<T>(detail::loss_ops<B, M>::softmax_dice(detail::geometry(s), logits.data(), t.data(),
                                                                   detail::data_or_null(w),
                                                                   detail::data_or_null(grad), mp));
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

    /// On backend B's memory (on_backend.hpp); the two terms' gradients combined as
    /// dice_weight g_dice + ce_weight g_ce by the backend's scale and accumulate.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        if (!std::isfinite(dice_weight) || !std::isfinite(ce_weight))
            throw std::invalid_argument(std::string(name) + ": dice_weight " + detail::number(dice_weight) +
                                        " and ce_weight " + detail::number(ce_weight) + " must be finite");
        const T ld = dice_term().on_backend<B>(logits, target, weight, grad, buf);
        const detail::second_term_scope copied(buf);  // the inputs are on the backend now
        const T lc = ce_term().on_backend<B>(logits, target, weight, grad ? &buf.grad2 : nullptr, buf);
        if (grad) detail::combine_grads<B>(*grad, static_cast<T>(dice_weight), buf.grad2, static_cast<T>(ce_weight));
        return static_cast<T>(dice_weight * static_cast<double>(ld) + ce_weight * static_cast<double>(lc));
    }

private:
    template <class T>
    T impl(const tensor<T>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T>* grad) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, weight, grad, buf);
    }
};

}  // namespace unetpp::losses
