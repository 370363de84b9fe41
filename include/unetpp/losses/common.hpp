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
/// Errors (all losses):
///   std::invalid_argument  logits and target differ in shape; empty batch; a target value outside
///                          what the loss accepts (the message names the value, its position and
///                          what to do); a hyper-parameter out of range.
///   std::runtime_error     NaN or +-Inf in the logits (training diverged or the input is corrupt).

#include <cmath>
#include <concepts>
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../backend/cpu/kernels/eltwise.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::losses {

/// The loss contract (see the file comment), checked for the element type T.
template <class L, class T = float>
concept Loss = std::copy_constructible<L> && requires(const L& l, const tensor<T>& x, const tensor<T>& t,
                                                      tensor<T>* g) {
    { std::string_view(l.name) };
    { l(x, t, g) } -> std::convertible_to<T>;
    { l(x, t) } -> std::convertible_to<T>;
};

/// How the region losses (Dice, IoU, Tversky) pool pixels.
///   per_batch  one score over every pixel of the batch (all images, all channels), as the seed
///              004 formulas are written (sums over i = 1..N and c = 1..C) and as the loss is
///              usually implemented; images with small objects weigh less.
///   per_image  one score per image (its C x H x W pixels), then the mean over the images.
enum class region_reduction { per_batch, per_image };

namespace detail {

/// "[n, c, h, w]" position of flat index i in shape s.
inline std::string position(const shape4& s, std::size_t i) {
    const std::size_t w = i % s.w, h = (i / s.w) % s.h, c = (i / s.plane()) % s.c, n = i / s.sample_size();
    return "[" + std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) +
           "]";
}

inline std::string number(double v) {
    std::ostringstream o;
    o.precision(9);
    o << v;
    return o.str();
}

template <class T>
void check_same_shape(const char* name, const tensor<T>& logits, const tensor<T>& target) {
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

/// The checks every binary loss on logits makes, in order.
template <class T>
void check_binary_inputs(const char* name, const tensor<T>& logits, const tensor<T>& target) {
    check_same_shape(name, logits, target);
    check_finite(name, logits);
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

using backend::cpu_kernels::stable_sigmoid;

}  // namespace detail
}  // namespace unetpp::losses
