#pragma once
/// \file The outputs of networks with more than one head, and the matching gradients: shared by
/// the models that produce them (models/deep_supervision.hpp, models/multitask_unet.hpp) and
/// the losses that read them (losses/deep_supervision.hpp, losses/multitask.hpp), which is why
/// they live on this floor, below both.

#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "heads.hpp"

namespace unetpp::inline UNETPP_ABI {

/// The main logits and one auxiliary logit map per supervised level, all views of tensors owned
/// by the network (valid until its next forward). Every map has the main logits' shape.
template <class T, class Memory = memory::host>
struct deep_supervision_outputs {
    heads::logits<T, Memory> main;
    std::vector<heads::logits<T, Memory>> aux;
};

/// d loss / d logits for every output of a deep_supervision_outputs, in the same order
/// (filled by losses::deep_supervision, consumed by deeply_supervised::backward).
template <class T, class Memory = memory::host>
struct deep_supervision_gradients {
    tensor<T, Memory> main;
    std::vector<tensor<T, Memory>> aux;
};

/// The two outputs of a multitask model, as logits views (valid until the next forward).
template <class T, class Memory = memory::host>
struct multitask_outputs {
    heads::logits<T, Memory> segmentation;
    heads::logits<T, Memory> classification;
};

}  // namespace unetpp
