#pragma once
/// \file The joint loss of a multitask model (models/multitask_unet.hpp): a weighted sum of a
/// segmentation term and a classification term, both computed from logits.
///
///   unetpp::losses::multitask loss{.segmentation_weight = 1, .classification_weight = 0.5};
///   const auto l = loss(net.forward(x), mask, label, &dseg, &dcls);   // l.total, l.segmentation, ...
///
/// On a device backend B: loss.on_backend<B>(out, mask, label, &dseg, &dcls, buffers), with the
/// outputs and gradients in B's memory (on_backend.hpp).

#include <type_traits>

#include "../config/abi.hpp"
#include "../heads/outputs.hpp"
#include "../tensor/tensor.hpp"
#include "bce_with_logits.hpp"
#include "on_backend.hpp"
#include "region.hpp"
#include "weighted_bce.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// Backend copies of a multitask loss's host inputs (on_backend.hpp): the masks and the labels.
template <class T, class M>
struct multitask_buffers {
    backend_buffers<T, M> segmentation, classification;
};

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
        multitask_buffers<T, memory::host> buf;
        return on_backend<backend::cpu>(out, mask, label, dseg, dcls, buf);
    }

    /// The outputs of a network on backend B's memory (on_backend.hpp): both terms run as B's loss
    /// operations and the gradients stay in B's memory; `mask` and `label` are host tensors,
    /// copied into buf (one set of copies per output).
    template <class B, class T, class M = typename B::memory>
    result<T> on_backend(const multitask_outputs<T, M>& out, const tensor<T>& mask, const tensor<T>& label,
                         std::type_identity_t<tensor<T, M>*> dseg, std::type_identity_t<tensor<T, M>*> dcls,
                         multitask_buffers<T, M>& buf) const {
        const tensor<T>* none = nullptr;  // no pixel weights
        const T ls =
            segmentation == segmentation_term::dice_bce
                ? dice_bce{}.template on_backend<B>(out.segmentation.values(), mask, none, dseg, buf.segmentation)
                : bce_with_logits{}.template on_backend<B>(out.segmentation.values(), mask, none, dseg,
                                                           buf.segmentation);
        const T lc = classification_pos_weight == 1.0
                         ? bce_with_logits{}.template on_backend<B>(out.classification.values(), label, none, dcls,
                                                                    buf.classification)
                         : weighted_bce{.pos_weight = classification_pos_weight}.template on_backend<B>(
                               out.classification.values(), label, none, dcls, buf.classification);
        const T ws = static_cast<T>(segmentation_weight), wc = static_cast<T>(classification_weight);
        if (dseg) detail::scale_grad<B>(*dseg, ws);
        if (dcls) detail::scale_grad<B>(*dcls, wc);
        return {ws * ls + wc * lc, ls, lc};
    }
};

}  // namespace unetpp::losses
