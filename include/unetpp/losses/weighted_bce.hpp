#pragma once
/// \file Class-weighted binary cross-entropy on logits: weighted BCE with torch's `pos_weight`,
/// and balanced BCE whose weight comes from the batch's class frequencies. Seed 004 (section
/// 4.1): "Weighted cross entropy (WCE) ... assign different weight to each class. Skewed dataset
/// matches this method. Balanced Cross-Entropy resembles WCE".

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"
#include "on_backend.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// torch.nn.functional.binary_cross_entropy_with_logits(x, t, pos_weight = w), mean reduction:
///   l = -[ w t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)) ]
///     = (1 - t) x + (1 + (w - 1) t) softplus(-x)                  (stable form, as torch computes it)
///   dl/dx = ((1 + (w - 1) t) sigmoid(x) - w t) / count.
/// w > 1 raises recall on the positive (foreground) class; w = (#negatives / #positives) of the
/// training set is the usual choice. A scalar weight (one foreground class). Runs on a backend's
/// memory too (on_backend.hpp): the operation pointwise_loss, as balanced_bce below.
struct weighted_bce {
    static constexpr const char* name = "weighted_bce";
    double pos_weight = 1.0;

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Weighted mean over pixels (see common.hpp); pos_weight applies on top.
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
        if (!(pos_weight >= 0.0) || !std::isfinite(pos_weight))
            throw std::invalid_argument(std::string(name) + ": pos_weight " + detail::number(pos_weight) +
                                        " must be finite and >= 0");
        const backend::pointwise_loss_params p{backend::pointwise_kind::weighted_bce, pos_weight, 0.0};
        return detail::pointwise_on<B>(name, p, logits, target, weight, grad, buf);
    }
};

/// Balanced (class-balanced) BCE on logits, weight from the batch (Xie and Tu's HED form, the
/// "balanced cross-entropy" of the loss survey that seed 004 section 4 follows):
///   beta = 1 - mean(t)                 fraction of negative pixels in the whole batch (soft
///                                      targets count by their value); a constant (it depends
///                                      on the target only)
///   l_i  = -[ beta t log sigmoid(x) + (1 - beta) (1 - t) log(1 - sigmoid(x)) ]
///   loss = mean_i l_i,    dl/dx_i = ((beta t + (1 - beta)(1 - t)) sigmoid(x) - beta t) / count.
/// The rare class gets the large weight: with 5 % foreground, positives weigh 0.95 and
/// negatives 0.05. A batch with no positives has beta = 1, so only the (absent) positives would
/// count and the loss is 0; use it with batches that contain foreground, or weighted_bce.
struct balanced_bce {
    static constexpr const char* name = "balanced_bce";

    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, nullptr, grad, buf);
    }

    /// Weighted (see common.hpp): beta = 1 - sum w t / sum w, then the weighted mean.
    template <class T>
    T operator()(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight,
                 tensor<T>* grad = nullptr) const {
        backend_buffers<T, memory::host> buf;
        return on_backend<backend::cpu, T, memory::host>(logits, target, &weight, grad, buf);
    }

    /// The loss on backend B's memory (on_backend.hpp: the pointwise_loss operation, with beta
    /// computed from the host target and weights); `weight` (may be null) and `target` on the host.
    template <class B, class T, class M = typename B::memory>
    T on_backend(const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight, tensor<T, M>* grad,
                 backend_buffers<T, M>& buf) const {
        // beta from the checked target and weights
        const auto params = [&](const detail::pixel_weights<T>* w) {
            const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(target.size());
            double beta = 1.0;
            if (w) {
                const double pos = backend::cpu_kernels::ordered_sum(n, [&](std::ptrdiff_t k) {
                    return (*w)(static_cast<std::size_t>(k)) * static_cast<double>(target[static_cast<std::size_t>(k)]);
                });
                beta = w->total > 0 ? 1.0 - pos / w->total : 1.0;
            } else {
                double pos = 0;
                for (std::ptrdiff_t i = 0; i < n; ++i) pos += target[static_cast<std::size_t>(i)];
                beta = 1.0 - pos * (1.0 / static_cast<double>(n));
            }
            return backend::pointwise_loss_params{backend::pointwise_kind::balanced_bce, beta, 0.0};
        };
        return detail::pointwise_on<B>(name, params, logits, target, weight, grad, buf);
    }
};

}  // namespace unetpp::losses
