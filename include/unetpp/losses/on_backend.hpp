#pragma once
/// \file Losses on a backend's memory: a device network's logits stay where they are, and the
/// loss value (one double) is all that comes back.
///
///   losses::backend_buffers<float, B::memory> buf;   // kept between steps: no allocation after the first
///   tensor<float, B::memory> grad;
///   float l = losses::evaluate_on<B>(losses::dice_bce{}, logits, host_target, host_weight_or_null, &grad, buf);
///
/// `logits` and `grad` live in backend B's memory; the target and the optional per-pixel weights
/// are host tensors (what the loaders deliver): they are checked on the host exactly as the host
/// loss checks them, then copied into `buf`. The loss runs as backend operations
/// (backend.hpp: bce_with_logits_loss, region_loss, cross_entropy_loss, softmax_dice_loss), so the
/// value and the gradient are the host loss's up to the order of the sums (bit for bit on
/// backend::cpu and on any backend that forwards to it). On a device the logits are not checked
/// element by element: NaN or infinite logits give a NaN or infinite value instead of the host
/// loss's std::runtime_error (the trainer checks the outputs with all_finite first).
///
/// Losses that run on a backend (`BackendLoss`): bce_with_logits, dice_loss, iou_loss,
/// tversky_loss, dice_bce, cross_entropy, softmax_dice, dice_ce, weighted_bce, balanced_bce,
/// focal_loss and mae (the last four as the pointwise_loss operation; focal_loss's on_mean_bce
/// form as bce_with_logits_loss and a scale). bce on probabilities runs on host tensors only;
/// evaluate_on refuses it for a device backend at compile time. The losses of several outputs
/// have on_backend members of their own (deep_supervision<L> where L runs on a backend, and
/// multitask), called on the network's device outputs.

#include <concepts>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "../backend/cpu/kernels/eltwise.hpp"
#include "../backend/cpu/kernels/loss.hpp"
#include "../tensor/tensor.hpp"
#include "common.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// Backend copies of a loss's host inputs (on the host the inputs are read in place) and the
/// second term's gradient of the combined losses (dice_bce, dice_ce).
template <class T, class M>
struct backend_buffers {
    tensor<T, M> target, weight, class_weights, grad2;
    /// Set while a combined loss's second term runs: `target` and `weight` hold the copies its
    /// first term made of the same inputs in the same call, so they are not copied again.
    bool inputs_copied = false;
};

/// A loss with an `on_backend<B>` member: it computes on backend B's memory.
template <class L, class B, class T = float>
concept BackendLoss = requires(const L& l, const tensor<T, typename B::memory>& x, const tensor<T>& t,
                               const tensor<T>* w, tensor<T, typename B::memory>* g,
                               backend_buffers<T, typename B::memory>& buf) {
    { l.template on_backend<B>(x, t, w, g, buf) } -> std::convertible_to<T>;
};

/// The loss of `logits` (in B's memory) against the host `target`, with per-pixel host weights
/// when `weight` is not null; writes d loss / d logits into *grad (resized) when grad is not null.
/// A loss without a backend version runs only where B's memory is the host's.
template <class B, class L, class T>
T evaluate_on(const L& loss, const tensor<T, typename B::memory>& logits, const tensor<T>& target,
              std::type_identity_t<const tensor<T>*> weight, std::type_identity_t<tensor<T, typename B::memory>*> grad,
              backend_buffers<T, typename B::memory>& buf) {
    if constexpr (BackendLoss<L, B, T>) {
        return loss.template on_backend<B>(logits, target, weight, grad, buf);
    } else if constexpr (backend::host_backend<B>) {
        (void)buf;
        if (!weight) return loss(logits, target, grad);
        if constexpr (requires { loss(logits, target, *weight, grad); })
            return loss(logits, target, *weight, grad);
        else
            throw std::invalid_argument(std::string(loss.name) +
                                        ": takes no per-pixel weights (losses::WeightedLoss); call it without them");
    } else {
        static_assert(backend::host_backend<B>,
                      "losses::evaluate_on: this loss runs on host tensors only (bce on probabilities does); copy "
                      "the logits with to_host, or use a loss that runs on a device backend: bce_with_logits, "
                      "dice_loss, iou_loss, tversky_loss, dice_bce, cross_entropy, softmax_dice, dice_ce, "
                      "weighted_bce, balanced_bce, focal_loss or mae");
        return T(0);
    }
}

namespace detail {

/// The loss operations for memory space M: backend::cpu's kernels on host memory (the host losses
/// and every host backend), backend B's operations elsewhere.
template <class B, class M>
struct loss_ops {
    template <class... A>
    static double bce_with_logits(const A&... a) {
        if constexpr (M::host_accessible)
            return backend::cpu_kernels::bce_with_logits_loss(a...);
        else
            return B::bce_with_logits_loss(a...);
    }
    template <class... A>
    static double region(const A&... a) {
        if constexpr (M::host_accessible)
            return backend::cpu_kernels::region_loss(a...);
        else
            return B::region_loss(a...);
    }
    template <class... A>
    static double cross_entropy(const A&... a) {
        if constexpr (M::host_accessible)
            return backend::cpu_kernels::cross_entropy_loss(a...);
        else
            return B::cross_entropy_loss(a...);
    }
    template <class... A>
    static double softmax_dice(const A&... a) {
        if constexpr (M::host_accessible)
            return backend::cpu_kernels::softmax_dice_loss(a...);
        else
            return B::softmax_dice_loss(a...);
    }
    template <class... A>
    static double pointwise(const A&... a) {
        if constexpr (M::host_accessible)
            return backend::cpu_kernels::pointwise_loss(a...);
        else
            return B::pointwise_loss(a...);
    }
};

/// The host tensor `t` as memory M reads it (itself on the host, else a copy in `staging`).
template <class M, class T>
const tensor<T, M>* staged(const tensor<T>* t, tensor<T, M>& staging) {
    return t ? &in_space(*t, staging) : nullptr;
}

/// A loss's host target and per-pixel weights (may be null) as memory M reads them: themselves on
/// the host; elsewhere copies in buf, made once per loss call (a combined loss's second term reads
/// its first term's: buf.inputs_copied).
template <class T, class M>
struct staged_inputs {
    const tensor<T, M>& target;
    const tensor<T, M>* weight;
};
template <class T, class M>
staged_inputs<T, M> stage_inputs(const tensor<T>& target, const tensor<T>* weight, backend_buffers<T, M>& buf) {
    if constexpr (!std::is_same_v<M, memory::host>)
        if (buf.inputs_copied) return {buf.target, weight ? &buf.weight : nullptr};
    return {in_space(target, buf.target), staged(weight, buf.weight)};
}

/// Marks buf's target and weight copied for the rest of a combined loss's call (its second term,
/// or a multi-output loss's later outputs), and restores the mark it found when it ends (the
/// scopes nest: a combined loss inside a multi-output loss).
template <class T, class M>
class second_term_scope {
public:
    explicit second_term_scope(backend_buffers<T, M>& buf) noexcept : buf_(buf), was_(buf.inputs_copied) {
        buf_.inputs_copied = true;
    }
    ~second_term_scope() { buf_.inputs_copied = was_; }
    second_term_scope(const second_term_scope&) = delete;
    second_term_scope& operator=(const second_term_scope&) = delete;

private:
    backend_buffers<T, M>& buf_;
    bool was_;
};
/// A tensor's data, or the null pointer of its memory space.
template <class T, class M>
memory::pointer_t<M, const T> data_or_null(const tensor<T, M>* t) {
    return t ? t->data() : memory::pointer_t<M, const T>{};
}
template <class T, class M>
memory::pointer_t<M, T> data_or_null(tensor<T, M>* t) {
    return t ? t->data() : memory::pointer_t<M, T>{};
}

/// The loss geometry of logits of shape s, weights shared by the channels when their shape is not s.
inline backend::loss_geometry geometry(const shape4& s, const shape4* weight_shape = nullptr) {
    return backend::loss_geometry{s.n, s.c, static_cast<std::ptrdiff_t>(s.plane()),
                                  weight_shape != nullptr && *weight_shape != s};
}

/// g *= s, as the backend's scale (backend::cpu's kernel on the host).
template <class B, class T, class M>
void scale_grad(tensor<T, M>& g, T s) {
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(g.size());
    if constexpr (M::host_accessible)
        backend::cpu_kernels::scale(g.data(), n, s);
    else
        B::scale(g.data(), n, s);
}

/// g = a g + b h, as the backend's scale and accumulate (backend::cpu's kernels on the host).
template <class B, class T, class M>
void combine_grads(tensor<T, M>& g, T a, tensor<T, M>& h, T b) {
    scale_grad<B>(g, a);
    scale_grad<B>(h, b);
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(g.size());
    if constexpr (M::host_accessible)
        backend::cpu_kernels::accumulate(h.data(), g.data(), n);
    else
        B::accumulate(h.data(), g.data(), n);
}

/// What every binary loss on logits does before its operation: checks the target and the
/// weights once, as the host losses check them (with `name` in the messages), copies them into
/// memory M (buf), sizes grad, then returns op(checked weights or null, geometry, logits, target,
/// weights, grad) on the staged pointers.
template <class T, class M, class Op>
double binary_on(const char* name, const tensor<T, M>& logits, const tensor<T>& target, const tensor<T>* weight,
                 tensor<T, M>* grad, backend_buffers<T, M>& buf, Op&& op) {
    check_binary_inputs(name, logits, target);
    std::optional<pixel_weights<T>> checked;
    if (weight) checked.emplace(check_weights(name, logits, *weight));
    const auto [t, w] = stage_inputs(target, weight, buf);
    if (grad) grad->resize(logits.shape());
    const shape4 ws = weight ? weight->shape() : logits.shape();
    return op(checked ? &*checked : nullptr, geometry(logits.shape(), &ws), logits.data(), t.data(), data_or_null(w),
              data_or_null(grad));
}

/// A pointwise loss (backend.hpp: pointwise_loss) through binary_on. `params` is the operation's
/// constants, or a function of the checked weights (null without) that returns them
/// (balanced_bce's beta reads the target and the weights).
template <class B, class T, class M, class Params>
T pointwise_on(const char* name, const Params& params, const tensor<T, M>& logits, const tensor<T>& target,
               const tensor<T>* weight, tensor<T, M>* grad, backend_buffers<T, M>& buf) {
    const auto op = [&](const pixel_weights<T>* cw, const auto&... a) {
        if constexpr (std::is_same_v<Params, backend::pointwise_loss_params>)
            return loss_ops<B, M>::pointwise(a..., params);
        else
            return loss_ops<B, M>::pointwise(a..., params(cw));
    };
    return static_cast<T>(binary_on(name, logits, target, weight, grad, buf, op));
}

}  // namespace detail
}  // namespace unetpp::losses
