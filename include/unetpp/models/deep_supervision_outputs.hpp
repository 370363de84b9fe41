#pragma once
/// \file Outputs of a deeply supervised network and the matching gradients (shared by
/// models/deep_supervision.hpp and losses/deep_supervision.hpp).

#include <vector>

#include "../tensor/tensor.hpp"
#include "heads.hpp"

namespace unetpp {

/// The main logits and one auxiliary logit map per supervised level, all views of tensors owned
/// by the network (valid until its next forward). Every map has the main logits' shape.
template <class T>
struct deep_supervision_outputs {
    heads::logits<T> main;
    std::vector<heads::logits<T>> aux;
};

/// d loss / d logits for every output of a deep_supervision_outputs, in the same order
/// (filled by losses::deep_supervision, consumed by deeply_supervised::backward).
template <class T>
struct deep_supervision_gradients {
    tensor<T> main;
    std::vector<tensor<T>> aux;
};

}  // namespace unetpp
