#pragma once
/// \file Mean absolute error (L1) between sigmoid probabilities and the target, seed 001 eq. 9:
///   MAE = sum_i |y_i - x_i| / n,  here with y = sigmoid(logits):
///   loss = mean_i |sigmoid(x_i) - t_i|,
///   dl/dx_i = sign(sigmoid(x_i) - t_i) sigmoid(x_i) (1 - sigmoid(x_i)) / count,
/// with sign(0) = 0 (torch's l1_loss gradient at a tie).

#include <cmath>
#include <cstddef>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

struct mae {
    static constexpr const char* name = "mae";

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Weighted mean over pixels (see common.hpp).
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// The loss on backend B's memory (on_backend.hpp: the pointwise_loss operation); `weight`
    /// (may be null) and `target` on the host.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        const backend::pointwise_loss_params p{backend::pointwise_kind::mae, 0.0, 0.0};
        return detail::pointwise_on<B>(name, p, logits, target, weight, grad, buf);
    }
};

}  // namespace unetpp::losses
