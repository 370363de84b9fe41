#pragma once
/// \file The fusion rule: which neighbouring layers of a chain run as one pass, and which results
/// a chain writes again instead of keeping. layers/sequential.hpp applies it; nothing else
/// decides it.
///
///   Conv2d -> BatchNorm2d (-> ReLU)   under inference_mode, with the norm in eval mode: one
///   Conv2d -> ReLU                    convolution with the norm folded into its epilogue
///                                     (scale, shift) and the ReLU applied before the store; the
///                                     convolution's own output is never written.
///   Conv2d -> BatchNorm2d/ReLU -> Conv2d   outside inference_mode: the middle layer's output is
///                                     not kept (it goes to the workspace's recompute slot);
///                                     backward writes it again from the first convolution's
///                                     output, which is kept anyway (bit-identical, one cheap
///                                     pass).
///
/// Layers take part by what they can do (the concepts below), not by their type, so a new
/// convolution or norm joins by providing the same members.

#include <array>
#include <concepts>
#include <cstddef>
#include <utility>

#include "../config/abi.hpp"
#include "../tensor/shape.hpp"


namespace unetpp::inline UNETPP_ABI::exec {

/// A convolution with a fused-epilogue forward (conv2d): forward_fused(x, scale, shift, relu, y).
template <class L>
concept epilogue_conv = requires(L& l, const typename L::tensor_type& x, typename L::tensor_type& y,
                                 typename L::tensor_type::const_pointer p) { l.forward_fused(x, p, p, true, y); };
/// A normalisation whose eval mode is a per-channel affine map (batch_norm2d).
template <class L>
concept foldable_norm = requires(L& l) {
    l.eval_affine();
    { L::applies_relu } -> std::convertible_to<bool>;
};
/// A plain ReLU.
template <class L>
concept relu_layer = requires { requires L::is_relu; };
/// Conv2d followed by BatchNorm2d or ReLU: a pair that runs as one pass under inference_mode.
template <class A, class B>
concept fusable_pair = epilogue_conv<A> && (foldable_norm<B> || relu_layer<B>);

/// A layer whose output is a cheap per-element function of its input that it can write again on
/// request (batch norm with saved statistics, ReLU).
template <class L>
concept recomputable = requires(L& l, const typename L::tensor_type& x) { l.recompute_output(x); } &&
                       (foldable_norm<L> || relu_layer<L>);

/// The rule applied to a chain of layer types L...: which positions fuse and which are recomputed.
template <class... L>
struct chain_rule {
    static constexpr std::size_t count = sizeof...(L);
    static constexpr std::array<bool, count> conv{epilogue_conv<L>...};
    static constexpr std::array<bool, count> norm_or_relu{(foldable_norm<L> || relu_layer<L>)...};
    static constexpr std::array<bool, count> rewritable{recomputable<L>...};

    /// Layers j and j + 1 run as one pass under inference_mode.
    static constexpr bool fuses_at(std::size_t j) noexcept { return j + 1 < count && conv[j] && norm_or_relu[j + 1]; }
    /// Layer j sits between two convolutions and its output is written again in backward.
    static constexpr bool recomputed_at(std::size_t j) noexcept {
        return j >= 1 && j + 1 < count && conv[j - 1] && rewritable[j] && conv[j + 1];
    }
};

/// Runs the pair `conv` -> `next` (fusable_pair) as one convolution on `x` into `y`: the norm's
/// eval-mode affine map and its ReLU (or the ReLU) in the convolution's epilogue.
template <class Conv, class Next, class Tensor>
    requires fusable_pair<Conv, Next>
void run_fused_pair(Conv& conv, Next& next, const Tensor& x, Tensor& y) {
    if constexpr (foldable_norm<Next>) {
        const auto [scale, shift] = next.eval_affine();
        conv.forward_fused(x, scale, shift, Next::applies_relu, y);
    } else {
        conv.forward_fused(x, nullptr, nullptr, true, y);
    }
}

/// A convolution that can also read its input channels from two tensors (conv2d):
/// can_forward_fused_two(a, b) and forward_fused_two(a, b, scale, shift, relu, y).
template <class L>
concept two_input_conv = epilogue_conv<L> && requires(L& l, const typename L::tensor_type& x,
                                                      typename L::tensor_type& y, const shape4& s,
                                                      typename L::tensor_type::const_pointer p) {
    { std::as_const(l).can_forward_fused_two(s, s) } -> std::same_as<bool>;
    l.forward_fused_two(x, x, p, p, true, y);
};

/// A layer that also runs its forward and backward passes on two inputs read where they lie, in
/// place of their channel concatenation (conv2d; a decoder's skip and up-sampled map):
/// can_run_two(a, b), forward_two(a, b), backward_two(a, b, dy) -> (da, db), and
/// swap_second_input_grad (db's buffer, lent by a network as swap_input_grad lends da's).
template <class L>
concept two_input_layer = requires(L& l, const typename L::tensor_type& x, typename L::tensor_type& t,
                                   const shape4& s) {
    { std::as_const(l).can_run_two(s, s) } -> std::same_as<bool>;
    l.forward_two(x, x);
    l.backward_two(x, x, x);
    l.swap_second_input_grad(t);
};

/// run_fused_pair on the channel concatenation [a, b], read where a and b lie.
template <class Conv, class Next, class Tensor>
    requires fusable_pair<Conv, Next> && two_input_conv<Conv>
void run_fused_pair_two(Conv& conv, Next& next, const Tensor& a, const Tensor& b, Tensor& y) {
    if constexpr (foldable_norm<Next>) {
        const auto [scale, shift] = next.eval_affine();
        conv.forward_fused_two(a, b, scale, shift, Next::applies_relu, y);
    } else {
        conv.forward_fused_two(a, b, nullptr, nullptr, true, y);
    }
}

}  // namespace unetpp::exec
