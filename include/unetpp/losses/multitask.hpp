#pragma once
/// \file The joint loss of a multitask model (models/multitask_unet.hpp): a weighted sum of a
/// segmentation term and a classification term, both computed from logits.
///
///   unetpp::losses::multitask loss{.segmentation_weight = 1, .classification_weight = 0.5};
///   const auto l = loss(net.forward(x), mask, label, &dseg, &dcls);   // l.total, l.segmentation, ...

#include "../config/abi.hpp"
#include "../heads/outputs.hpp"
#include "../tensor/tensor.hpp"
#include "bce_with_logits.hpp"
#include "region.hpp"
#include "weighted_bce.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// Joint loss of a multitask model: w_seg * BCE(segmentation) + w_cls * BCE(classification),
/// each a mean binary cross-entropy computed from logits (losses::bce_with_logits). With
/// classification_pos_weight p != 1 the classification term is torch's BCE with pos_weight p
/// (losses::weighted_bce): each positive image's term counts p times, so p = #negatives /
/// #positives of the training images balances the classes (BUSI: 437 benign / 210 malignant).
struct multitask {
    /// The segmentation term: seed 002's plain BCE, or Dice + BCE (losses::dice_bce), which
    /// does not let a small lesion's few pixels drown in the background.
    enum class segmentation_term { bce, dice_bce };
    double segmentation_weight = 1.0;
    double classification_weight = 1.0;
    segmentation_term segmentation = segmentation_term::bce;
    double classification_pos_weight = 1.0;  ///< weight of the positive class in the classification BCE

    template <class T>
    struct result {
        T total, segmentation, classification;
    };

    /// `mask` has the segmentation logits' shape; `label` is [N, 1, 1, 1] (0 benign, 1
    /// malignant). When dseg / dcls are given they receive dloss/dlogits (weights included).
    template <class T>
    result<T> operator()(const multitask_outputs<T>& out, const tensor<T>& mask, const tensor<T>& label,
                         tensor<T>* dseg = nullptr, tensor<T>* dcls = nullptr) const {
        const bce_with_logits bce;
        const T ls = segmentation == segmentation_term::dice_bce
                         ? dice_bce{}(out.segmentation.values(), mask, dseg)
                         : bce(out.segmentation.values(), mask, dseg);
        const T lc = classification_pos_weight == 1.0
                         ? bce(out.classification.values(), label, dcls)
                         : weighted_bce{.pos_weight = classification_pos_weight}(out.classification.values(), label, dcls);
        const T ws = static_cast<T>(segmentation_weight), wc = static_cast<T>(classification_weight);
        if (dseg)
            for (auto& g : *dseg) g *= ws;
        if (dcls)
            for (auto& g : *dcls) g *= wc;
        return {ws * ls + wc * lc, ls, lc};
    }
};

}  // namespace unetpp::losses
