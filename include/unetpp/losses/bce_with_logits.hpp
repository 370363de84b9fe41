#pragma once
/// \file Binary cross-entropy on logits, the numerically stable form of torch's
/// binary_cross_entropy_with_logits (mean reduction):
///   l(x, t) = max(x, 0) - x t + log(1 + exp(-|x|)),   dl/dx = (sigmoid(x) - t) / count.

#include <cmath>
#include <cstddef>
#include <stdexcept>

#include "../config/abi.hpp"
#include "../backend/cpu/kernels/parallel.hpp"
#include "../tensor/numeric.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// Mean binary cross-entropy of `logits` against `target` (values in [0, 1]), computed from the
/// logits so that large magnitudes neither overflow nor lose precision. Runs on a backend's
/// memory too (on_backend.hpp): the operation bce_with_logits_loss.
struct bce_with_logits {
    static constexpr const char* name = "bce_with_logits";

    /// Returns the loss and, when `grad` is given, writes dloss/dlogits into it (resized).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Weighted mean over pixels: sum w_i l_i / sum w_i (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// The loss on backend B's memory (on_backend.hpp); `weight` (may be null) and `target` on the host.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        return static_cast<T>(on_backend_named<B>(name, logits, target, weight, grad, buf));
    }

    /// The same, with `loss_name` in the input checks' messages (focal_loss's on_mean_bce form).
    template <class B, class T, class M = typename B::memory>
    static double on_backend_named(const char* loss_name, const tensor<T, M>& logits, const tensor<T>& target,
                                   const tensor<T>* weight, tensor<T, M>* grad, backend_buffers<T, M>& buf) {
        return detail::binary_on(loss_name, logits, target, weight, grad, buf,
                                 [](const detail::pixel_weights<T>*, const auto&... a) {
                                     return detail::loss_ops<B, M>::bce_with_logits(a...);
                                 });
    }
};

}  // namespace unetpp::losses
