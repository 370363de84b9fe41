#pragma once
/// \file What every unetpp loss shares: the `Loss` concept (the calling contract), input checks
/// with clear messages, and numerically stable scalar helpers.
///
/// Contract. A loss is a copyable object `l` with a `name` (a string) and
///   T l(const tensor<T>& logits, const tensor<T>& target, tensor<T>* grad = nullptr) const
/// for T = float and T = double. It returns the reduced (scalar) loss and, when `grad` is not
/// null, resizes *grad to the logits' shape and writes d loss / d logits into it. The first
/// argument is the network's raw output (logits); the one exception is `losses::bce`, whose
/// first argument is a probability map (the output of a sigmoid layer) and whose gradient is
/// taken with respect to those probabilities. Losses hold only their hyper-parameters; a call
/// has no side effects besides *grad, so one object may be used from several threads.
///
/// Device tensors. bce_with_logits, dice_loss, iou_loss, tversky_loss, dice_bce, cross_entropy,
/// softmax_dice and dice_ce also run on a backend's memory (on_backend.hpp: losses::evaluate_on,
/// the backend's loss operations); the host calls above run the same operations' CPU kernels.
///
/// Weights (regions of interest). Every loss also has
///   T l(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight, tensor<T>* grad = nullptr) const
/// (the `WeightedLoss` concept): `weight` holds one value >= 0 per pixel, [N, 1, H, W] (shared by
/// the channels) or the logits' shape; a pixel of weight 0 contributes nothing to the value or the
/// gradient (e.g. outside a field-of-view mask). Means over pixels become weighted means
/// (sum w_i l_i / sum w_i) and the region losses weight their sums (TP = sum w p t, ...). When
/// every weight is 0 the loss and the gradient are 0. With all weights 1 the value equals the
/// unweighted loss up to rounding.
///
/// Errors (all losses):
///   std::invalid_argument  logits and target differ in shape; empty batch; a target value outside
///                          what the loss accepts (the message names the value, its position and
///                          what to do); a hyper-parameter out of range.
///   std::runtime_error     NaN or +-Inf in the logits (training diverged or the input is corrupt).

#include <cmath>
#include <concepts>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../config/abi.hpp"
#include "../backend/cpu/kernels/parallel.hpp"
#include "../tensor/numeric.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::losses {

/// The loss contract (see the file comment), checked for the element type T.
template <class L, class T = float>
concept Loss = std::copy_constructible<L> && requires(const L& l, const tensor<T>& x, const tensor<T>& t,
                                                      tensor<T>* g) {
    { std::string_view(l.name) };
    { l(x, t, g) } -> std::convertible_to<T>;
    { l(x, t) } -> std::convertible_to<T>;
};

/// A loss that also takes per-pixel weights (see the file comment).
template <class L, class T = float>
concept WeightedLoss = Loss<L, T> && requires(const L& l, const tensor<T>& x, const tensor<T>& t, const tensor<T>& w,
                                              tensor<T>* g) {
    { l(x, t, w, g) } -> std::convertible_to<T>;
};

/// How the region losses (Dice, IoU, Tversky) pool pixels.
///   per_batch  one score over every pixel of the batch (all images, all channels), as the seed
///              004 formulas are written (sums over i = 1..N and c = 1..C) and as the loss is
///              usually implemented; images with small objects weigh less.
///   per_image  one score per image (its C x H x W pixels), then the mean over the images.
enum class region_reduction { per_batch, per_image };

namespace detail {

/// "[n, c, h, w]" position of flat index i in shape s, and a number, as messages show them.
inline std::string position(const shape4& s, std::size_t i) { return s.position_str(i); }
inline std::string number(double v) { return unetpp::detail::message_number(v); }

template <class T, class M>
void check_same_shape(const char* name, const tensor<T, M>& logits, const tensor<T>& target) {
    if (logits.shape() != target.shape())
        throw std::invalid_argument(std::string(name) + ": logits " + logits.shape().str() + " and target " +
                                    target.shape().str() + " differ in shape");
    if (logits.empty()) throw std::invalid_argument(std::string(name) + ": empty batch");
}

/// Throws std::runtime_error at the first NaN or infinite value.
template <class T>
void check_finite(const char* name, const tensor<T>& x, const char* what = "logits") {
    const T* p = x.data();
    const std::size_t n = x.size();
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i]))
            throw std::runtime_error(std::string(name) + ": " + what + " hold " + number(static_cast<double>(p[i])) +
                                     " at " + position(x.shape(), i) +
                                     " (training diverged or the input is corrupt; lower the learning rate or "
                                     "check the data)");
}

/// Binary targets: every value in [0, 1] (soft labels allowed).
template <class T>
void check_binary_target(const char* name, const tensor<T>& target) {
    const T* p = target.data();
    const std::size_t n = target.size();
    for (std::size_t i = 0; i < n; ++i)
        if (!(p[i] >= T(0) && p[i] <= T(1)))
            throw std::invalid_argument(std::string(name) + ": target value " + number(static_cast<double>(p[i])) +
                                        " at " + position(target.shape(), i) +
                                        " is outside [0, 1]; binary losses need masks in [0, 1] (divide 8-bit "
                                        "masks by 255, or threshold them)");
}

/// The checks every binary loss on logits makes, in order (the logits' values only where the host
/// can read them: losses/on_backend.hpp).
template <class T, class M>
void check_binary_inputs(const char* name, const tensor<T, M>& logits, const tensor<T>& target) {
    check_same_shape(name, logits, target);
    if constexpr (M::host_accessible) check_finite(name, logits);
    check_binary_target(name, target);
}

/// log(1 + exp(x)) without overflow or loss of precision for large |x|.
template <class T>
inline T softplus(T x) noexcept {
    return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::abs(x)));
}

/// Binary cross-entropy of one logit against a target in [0, 1]:
///   max(x, 0) - x t + log(1 + exp(-|x|))  =  -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))].
template <class T>
inline T bce_logit(T x, T t) noexcept {
    return (x > T(0) ? x : T(0)) - x * t + std::log1p(std::exp(-std::abs(x)));
}

using numeric::stable_sigmoid;

/// Per-pixel weights seen through the logits' flat index (broadcast over channels for [N, 1, H, W]).
template <class T>
struct pixel_weights {
    const T* w = nullptr;
    std::size_t sample = 1, plane = 1;
    bool broadcast = false;
    double total = 0;  ///< sum of the weights over every logit
    [[nodiscard]] double operator()(std::size_t i) const noexcept {
        return static_cast<double>(broadcast ? w[(i / sample) * plane + i % plane] : w[i]);
    }
};

/// The weighted mean of per-pixel terms: `term(i, d)` returns pixel i's loss and sets d to its
/// derivative; the result is sum w_i l_i / W and grad_i = w_i d_i / W (W the sum of the weights;
/// 0 and a zero gradient when W is 0).
template <class T, class F>
T weighted_mean(const tensor<T>& logits, const pixel_weights<T>& w, tensor<T>* grad, F&& term) {
    if (grad) grad->resize(logits.shape());
    T* g = grad ? grad->data() : nullptr;
    const double inv = w.total > 0 ? 1.0 / w.total : 0.0;
    const double sum = backend::cpu_kernels::ordered_sum(static_cast<std::ptrdiff_t>(logits.size()), [&](std::ptrdiff_t k) {
        const std::size_t i = static_cast<std::size_t>(k);
        const double wi = w(i);
        double d = 0;
        const double l = term(i, d);
        if (g) g[i] = static_cast<T>(wi * d * inv);
        return wi == 0.0 ? 0.0 : wi * l;
    });
    return static_cast<T>(sum * inv);
}

/// Checks `weight` against the logits (shape [N, 1, H, W] or the logits' own; values finite and
/// >= 0, the message naming the first bad one) and sums it.
template <class T, class M>
pixel_weights<T> check_weights(const char* name, const tensor<T, M>& logits, const tensor<T>& weight) {
    const shape4 s = logits.shape(), ws = weight.shape();
    const bool broadcast = ws == shape4{s.n, 1, s.h, s.w} && s.c != 1;
    if (ws != s && !broadcast)
        throw std::invalid_argument(std::string(name) + ": weights " + ws.str() + " do not fit logits " + s.str() +
                                    "; give one weight per pixel as [N, 1, H, W] or the logits' shape");
    const T* w = weight.data();
    for (std::size_t i = 0; i < weight.size(); ++i)
        if (!(w[i] >= T(0)) || !std::isfinite(w[i]))
            throw std::invalid_argument(std::string(name) + ": weight " + number(static_cast<double>(w[i])) + " at " +
                                        position(ws, i) + " must be finite and >= 0");
    pixel_weights<T> pw{w, s.sample_size(), s.plane(), broadcast, 0.0};
    pw.total = backend::cpu_kernels::ordered_sum(static_cast<std::ptrdiff_t>(logits.size()),
                                                 [&](std::ptrdiff_t i) { return pw(static_cast<std::size_t>(i)); });
    return pw;
}

}  // namespace detail
}  // namespace unetpp::losses
