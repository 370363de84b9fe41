#pragma once
/// \file Categorical cross-entropy over a softmax across channels, for multi-class masks
/// (torch.nn.functional.cross_entropy on [N, C, H, W] logits, mean reduction). Seed 001 eq. 10:
///   E = -(sum_i y_i log(x_i)) / N,  with x = softmax(logits) over the C channels.
///
/// Two target encodings, told apart by the target's channel count (logits [N, C, H, W], C >= 2):
///   class indices  target [N, 1, H, W] holding integers 0..C-1 (stored as T), or ignore_index
///                  (pixels with that value contribute nothing):
///                    l_i = -w_{y_i} log softmax(x_i)_{y_i},
///                    loss = sum_i l_i / sum_i w_{y_i}      (over non-ignored pixels; torch's rule)
///                    dl/dx_ik = w_{y_i} (softmax_k - [k = y_i]) / sum_i w_{y_i}.
///                  If every pixel is ignored, the loss and gradient are 0 (torch returns NaN).
///   one-hot / soft target [N, C, H, W] with values in [0, 1] (each pixel's values usually sum to
///                  1; one-hot masks are the common case):
///                    l_i = -sum_k w_k t_ik log softmax(x_i)_k,   loss = sum_i l_i / (N H W)
///                    dl/dx_ik = (softmax_k sum_j w_j t_ij - w_k t_ik) / (N H W).
///                  As in torch, class weights do not enter the denominator here, and
///                  ignore_index does not apply.
/// class_weights: empty (all 1) or C non-negative values. log-softmax is computed as
/// x_k - max - log sum exp(x - max), stable for any finite logits.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

namespace detail {

/// Checks multi-class logits (finite, C >= 2) and their target: class indices [N, 1, H, W] (whole
/// numbers 0..C-1, or ignore_index) or one-hot / probabilities [N, C, H, W] (values in [0, 1]);
/// returns true for index targets. `one_channel` ends the message for one-channel logits (what
/// to use instead). Shared by cross_entropy and softmax_dice (softmax_dice.hpp).
template <class T, class M>
bool check_multiclass_inputs(const char* name, const tensor<T, M>& logits, const tensor<T>& target, int ignore_index,
                             const char* one_channel) {
    const shape4 s = logits.shape();
    if (logits.empty()) throw std::invalid_argument(std::string(name) + ": empty batch");
    if (s.c < 2)
        throw std::invalid_argument(std::string(name) + ": logits " + s.str() + " have one channel; " + one_channel);
    const shape4 ts = target.shape();
    const bool indices = ts == shape4{s.n, 1, s.h, s.w};
    if (!indices && ts != s)
        throw std::invalid_argument(std::string(name) + ": target " + ts.str() + " does not fit logits " + s.str() +
                                    "; give class indices as [N, 1, H, W] or one-hot / probabilities as [N, C, H, W]");
    if constexpr (M::host_accessible) check_finite(name, logits);  // a device's logits: on_backend.hpp
    if (!indices) {
        check_binary_target(name, target);
        return false;
    }
    const T* tv = target.data();
    for (std::size_t i = 0; i < target.size(); ++i) {
        const double v = tv[i];
        if (v == static_cast<double>(ignore_index)) continue;
        if (!(v >= 0.0 && v < s.c) || v != std::floor(v))
            throw std::invalid_argument(std::string(name) + ": target value " + number(v) + " at " + position(ts, i) +
                                        " is not a class index 0.." + std::to_string(s.c - 1) + " (nor ignore_index " +
                                        std::to_string(ignore_index) + "); index targets are [N, 1, H, W]");
    }
    return true;
}

}  // namespace detail

struct cross_entropy {
    static constexpr const char* name = "cross_entropy";
    std::vector<double> class_weights{};  ///< per-class weights w_k (empty: all 1)
    int ignore_index = -100;              ///< index targets with this value are skipped (torch's default)

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Pixel weights w_i ([N, 1, H, W], see common.hpp) multiply each pixel's term and its share of
    /// the denominator: index targets sum_i w_i w_{y_i} l_i / sum_i w_i w_{y_i}; dense targets
    /// sum_i w_i l_i / sum_i w_i.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// On backend B's memory (on_backend.hpp); target and weight (may be null) on the host. The
    /// class weights are used at T's precision.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        const shape4 s = logits.shape();
        if (weight && weight->shape() != shape4{s.n, 1, s.h, s.w})
            throw std::invalid_argument(std::string(name) + ": weights " + weight->shape().str() + " do not fit logits " +
                                        s.str() + "; give one weight per pixel as [N, 1, H, W]");
        const bool indices = detail::check_multiclass_inputs(
            name, logits, target, ignore_index,
            "categorical cross-entropy needs C >= 2 classes (use bce_with_logits for a single foreground class)");
        if (!class_weights.empty() && class_weights.size() != static_cast<std::size_t>(s.c))
            throw std::invalid_argument(std::string(name) + ": " + std::to_string(class_weights.size()) +
                                        " class weights for " + std::to_string(s.c) + " classes");
        for (double w : class_weights)
            if (!(w >= 0.0) || !std::isfinite(w))
                throw std::invalid_argument(std::string(name) + ": class weight " + detail::number(w) +
                                            " must be finite and >= 0");
        if (weight) (void)detail::check_weights(name, logits, *weight);  // values finite and >= 0
        tensor<T> cw_host;
        if (!class_weights.empty()) {
            cw_host.resize(shape4{1, 1, 1, s.c});
            for (int k = 0; k < s.c; ++k) cw_host[static_cast<std::size_t>(k)] = static_cast<T>(class_weights[static_cast<std::size_t>(k)]);
        }
        const auto [t, w] = detail::stage_inputs(target, weight, buf);
        const tensor<T, M>* cw = class_weights.empty() ? nullptr : &in_space(cw_host, buf.class_weights);
        if (grad) grad->resize(s);
        const backend::multiclass_loss_params mp{.index_target = indices, .ignore_index = ignore_index};
        return static_cast<T>(detail::loss_ops<B, M>::cross_entropy(detail::geometry(s), logits.data(), t.data(),
                                                                    detail::data_or_null(w), detail::data_or_null(cw),
                                                                    detail::data_or_null(grad), mp));
    }
};

}  // namespace unetpp::losses
