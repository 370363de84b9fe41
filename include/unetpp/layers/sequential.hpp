#pragma once
/// \file A chain of named layers. Names become parameter-name segments (`conv1.weight`), so a
/// block's parameters map one-to-one onto a PyTorch module with the same attribute names.
///
/// Memory: the chain applies the fusion rule of exec/fusion.hpp with the buffers of the running
/// network's workspace (exec/workspace.hpp). Under inference_mode, Conv -> BatchNorm (-> ReLU) and
/// Conv -> ReLU pairs run fused, and a pair whose output only feeds the next pair writes it into a
/// fused slot. Otherwise a batch norm or ReLU between two convolutions (conv1 -> bn1 -> conv2)
/// keeps no output: it writes into the recompute slot, which the next convolution reads, and
/// backward writes it again from conv1's output. In backward, layers after the first write their
/// input gradients into two buffers the workspace lends per nesting depth.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../config/abi.hpp"
#include "../exec/fusion.hpp"
#include "../exec/workspace.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

/// A layer type with its name inside a sequential block.
template <fixed_string Name, class L>
struct named {
    static constexpr auto name = Name;
    using layer = L;
};

/// Placeholder for an optional layer that a configuration leaves out (see sequential_of).
struct no_layer {};

template <class... N>
class sequential;

namespace detail {
template <class N>
using keep_layer = std::conditional_t<std::is_same_v<N, no_layer>, std::tuple<>, std::tuple<N>>;
template <class Tuple>
struct tuple_to_sequential;
template <class... N>
struct tuple_to_sequential<std::tuple<N...>> {
    using type = sequential<N...>;
};
}  // namespace detail

/// sequential<...> of the entries that are not `no_layer`.
template <class... N>
using sequential_of =
    typename detail::tuple_to_sequential<decltype(std::tuple_cat(std::declval<detail::keep_layer<N>>()...))>::type;

/// `named<Name, L>` when `On`, otherwise `no_layer`.
template <bool On, fixed_string Name, class L>
using optional_layer = std::conditional_t<On, named<Name, L>, no_layer>;

namespace detail {
/// The parts of sequential's channel-mismatch diagnostic. The compiler prints the failing
/// specialisation, e.g. `channel_check<layer_named<fixed_string<6>{"conv2"}>, takes_channels<16>,
/// receives_channels<8>, false>`, which names the layer and both channel counts.
template <fixed_string Name>
struct layer_named {};
template <int Channels>
struct takes_channels {};
template <int Channels>
struct receives_channels {};
template <class Layer, class Takes, class Receives, bool Fits>
struct channel_check {
    static constexpr bool ok = true;
};
template <fixed_string Name, int Takes, int Receives>
struct channel_check<layer_named<Name>, takes_channels<Takes>, receives_channels<Receives>, false> {
    static_assert(Takes == Receives,
                  "sequential: channel mismatch - the layer named in `layer_named<...>` above takes "
                  "`takes_channels<...>` input channels, but the layers before it produce `receives_channels<...>`");
    static constexpr bool ok = true;
};
}  // namespace detail

template <class... N>
class sequential {
    static_assert(sizeof...(N) > 0, "sequential: needs at least one layer");
    using first_t = typename std::tuple_element_t<0, std::tuple<N...>>::layer;
    using last_t = typename std::tuple_element_t<sizeof...(N) - 1, std::tuple<N...>>::layer;
    static constexpr std::size_t count = sizeof...(N);

public:
    /// Channels in and out, checked along the chain at compile time.
    static constexpr std::array<int, count> layer_in{detail::in_channels_of<typename N::layer>()...};
    static constexpr std::array<int, count> layer_out{detail::out_channels_of<typename N::layer>()...};
    /// Index of the first layer whose input channels differ from what the layers before it
    /// produce, or -1.
    static constexpr int first_channel_mismatch = [] {
        int carried = any_channels;
        for (std::size_t i = 0; i < count; ++i) {
            if (carried != any_channels && layer_in[i] != any_channels && layer_in[i] != carried)
                return static_cast<int>(i);
            if (layer_out[i] != any_channels)
                carried = layer_out[i];
            else if (layer_in[i] != any_channels)
                carried = layer_in[i];
        }
        return -1;
    }();
    /// The channels the layers before layer i produce (any_channels when nothing fixed them yet).
    static constexpr int carried_before(std::size_t i) noexcept {
        int carried = any_channels;
        for (std::size_t k = 0; k < i; ++k)
            carried = layer_out[k] != any_channels ? layer_out[k] : (layer_in[k] != any_channels ? layer_in[k] : carried);
        return carried;
    }
    static constexpr std::size_t mismatch_index = first_channel_mismatch < 0 ? 0 : std::size_t(first_channel_mismatch);
    static_assert(detail::channel_check<
                  detail::layer_named<std::tuple_element_t<mismatch_index, std::tuple<N...>>::name>,
                  detail::takes_channels<layer_in[mismatch_index]>,
                  detail::receives_channels<carried_before(mismatch_index)>, (first_channel_mismatch < 0)>::ok);
    /// What the first layer that fixes channels takes; any_channels when a layer before it
    /// fixes only its output (e.g. a runtime_channels convolution) or none does.
    static constexpr int in_channels = [] {
        for (std::size_t i = 0; i < count; ++i) {
            if (layer_in[i] != any_channels) return layer_in[i];
            if (layer_out[i] != any_channels) return any_channels;
        }
        return any_channels;
    }();
    static constexpr int out_channels = [] {
        int carried = any_channels;
        for (std::size_t i = 0; i < count; ++i)
            carried = layer_out[i] != any_channels ? layer_out[i] : (layer_in[i] != any_channels ? layer_in[i] : carried);
        return carried;
    }();

    using value_type = typename first_t::value_type;
    using backend_type = typename first_t::backend_type;
    using tensor_type = typename first_t::tensor_type;
    /// Number of layers in the chain (get<0> ... get<layer_count - 1>).
    static constexpr std::size_t layer_count = sizeof...(N);
    static constexpr std::size_t parameter_count = (std::size_t{0} + ... + N::layer::parameter_count);
    static constexpr std::size_t buffer_count = (std::size_t{0} + ... + N::layer::buffer_count);

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        std::optional<shape4> s = in;
        ((s = s ? N::layer::try_output_shape(*s) : std::nullopt), ...);
        return s;
    }
    /// Output shape; on failure the error names the first layer that cannot take its input.
    shape4 output_shape(shape4 in) const {
        shape4 s = in;
        std::apply([&](const auto&... l) { ((s = l.output_shape(s)), ...); }, layers_);
        return s;
    }

    const tensor_type& forward(const tensor_type& x) {
        has_forward_ = true;
        recompute_.fill(false);
        return forward_from<0>(x);
    }
    /// Whether forward_two can run now on `a` and `b` (and, outside the fused inference pass,
    /// backward_two after it): under inference_mode, with the first convolution fused with its
    /// norm or ReLU, where it can read two inputs; otherwise where the first layer can run both
    /// passes on two inputs (exec::two_input_layer), on this backend and geometry.
    bool can_forward_two(const tensor_type& a, const tensor_type& b) const {
        if (fused_two_now()) {
            if constexpr (fused_two) return std::get<0>(layers_).can_forward_fused_two(a.shape(), b.shape());
        }
        if constexpr (exec::two_input_layer<first_t>)
            return std::get<0>(layers_).can_run_two(a.shape(), b.shape());
        else
            return false;
    }
    /// forward on the channel concatenation [a (centre-cropped to b's size in the fused pass), b],
    /// read where a and b lie: the same result, without the concatenated map (a decoder reading its
    /// skip and up-sampled map); bit for bit in the fused pass. Only where can_forward_two(a, b).
    const tensor_type& forward_two(const tensor_type& a, const tensor_type& b) {
        if (!can_forward_two(a, b))
            throw std::logic_error("sequential: forward_two on inputs " + a.shape().str() + " and " + b.shape().str() +
                                   " that it cannot read as one (ask can_forward_two first)");
        has_forward_ = true;
        recompute_.fill(false);
        if (fused_two_now()) {
            if constexpr (fused_two) {
                const shape4 cat{b.shape().n, a.shape().c + b.shape().c, b.shape().h, b.shape().w};
                return forward_fused_pair<0>(cat, [&](auto& conv, auto& next, tensor_type& y) {
                    exec::run_fused_pair_two(conv, next, a, b, y);
                });
            }
        }
        if constexpr (exec::two_input_layer<first_t>) {
            const tensor_type& y = std::get<0>(layers_).forward_two(a, b);
            if constexpr (count > 1)
                return forward_from<1>(y);
            else
                return y;
        }
        throw std::logic_error("sequential: forward_two on a chain that reads one input");  // not reached
    }
    /// forward_two's fused pass with the chain's result written into `result` (resized to fit)
    /// instead of the last layer's output, which is marked so that its backward throws. `result`
    /// may be one of the inputs (a network's dead-after-use buffer): the chain ends with a second
    /// fused pair, which writes it after the first pair has read them.
    const tensor_type& forward_two_into(const tensor_type& a, const tensor_type& b, tensor_type& result)
        requires(count >= 4 && exec::chain_rule<typename N::layer...>::fuses_at(count - 2))
    {
        if (!fused_two_now() || std::get<count - 1>(layers_).training())
            throw std::logic_error("sequential: forward_two_into outside a fused inference pass (inference_mode, "
                                   "eval mode)");
        result_ = &result;
        struct reset_result {
            tensor_type*& p;
            ~reset_result() { p = nullptr; }
        } reset{result_};
        return forward_two(a, b);
    }
    /// The backward of forward_two (outside the fused pass): the gradients of a (the chain's input
    /// gradient) and of b (its second input gradient, see swap_second_input_grad).
    std::pair<const tensor_type&, const tensor_type&> backward_two(const tensor_type& a, const tensor_type& b,
                                                                   const tensor_type& dy)
        requires exec::two_input_layer<first_t>
    {
        const tensor_type* second = nullptr;
        const tensor_type& first = backward_with(dy, [&](auto& l, const tensor_type& g) -> const tensor_type& {
            auto [ga, gb] = l.backward_two(a, b, g);
            second = &gb;
            return ga;
        });
        return {first, *second};
    }
    /// Exchanges the first layer's buffer of backward_two's second input gradient with `other`.
    void swap_second_input_grad(tensor_type& other) noexcept
        requires exec::two_input_layer<first_t>
    {
        std::get<0>(layers_).swap_second_input_grad(other);
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        return backward_with(dy, [&](auto& l, const tensor_type& g) -> const tensor_type& { return l.backward(x, g); });
    }
private:
    // A backward pass whose first layer's backward is first(layer, dy) (backward or backward_two).
    template <class First>
    const tensor_type& backward_with(const tensor_type& dy, First&& first) {
        if (!has_forward_) throw std::logic_error("sequential: backward called before forward");
        exec::workspace<tensor_type>& ws = exec::current<tensor_type>();
        struct depth_scope {
            exec::workspace<tensor_type>& ws;
            int depth;
            ~depth_scope() { ws.leave_backward(); }
        } scope{ws, ws.enter_backward()};
        lent_.fill(nullptr);
        try {
            return backward_from<count - 1>(dy, ws, scope.depth, first);
        } catch (...) {
            give_back_recompute(ws);
            throw;
        }
    }

public:
    [[nodiscard]] const tensor_type& output() const noexcept { return std::get<count - 1>(layers_).output(); }
    /// Exchanges the last layer's output buffer (the chain's output) with `other`, so that a
    /// network can lend the chain a shared output buffer under inference_mode like a single layer.
    void swap_output(tensor_type& other) noexcept
        requires exec::lends_output<last_t, tensor_type>
    {
        std::get<count - 1>(layers_).swap_output(other);
    }
    /// Marks the last layer as having run an inference-only forward whose result went to a lent
    /// buffer, so that a backward on this pass throws. `in` is the chain's input shape.
    void mark_fused_elsewhere(const shape4& in) noexcept
        requires exec::lends_output<last_t, tensor_type>
    {
        std::get<count - 1>(layers_).mark_fused_elsewhere(in);
    }
    /// Exchanges the first layer's input-gradient buffer (the one backward returns) with
    /// `other`, so that the chain can be lent a shared buffer like a single layer.
    void swap_input_grad(tensor_type& other) noexcept
        requires exec::lends_grad<first_t, tensor_type>
    {
        std::get<0>(layers_).swap_input_grad(other);
    }

    void train(bool on) {
        training_ = on;
        std::apply([&](auto&... l) { (l.train(on), ...); }, layers_);
    }
    [[nodiscard]] bool training() const noexcept { return training_; }
    /// Forwarded to the first layer (a runtime_channels convolution, see conv2d_cfg).
    void set_input_channels(int c)
        requires requires(first_t& l) { l.set_input_channels(c); }
    {
        std::get<0>(layers_).set_input_channels(c);
    }
    /// Forwarded to the last layer.
    void set_output_channels(int c)
        requires requires(last_t& l) { l.set_output_channels(c); }
    {
        std::get<count - 1>(layers_).set_output_channels(c);
    }
    /// Forwarded to the first layer: only it sees the block's input.
    void need_input_grad(bool on) {
        if constexpr (requires { std::get<0>(layers_).need_input_grad(on); }) std::get<0>(layers_).need_input_grad(on);
    }
    void init(rng& r) {
        std::apply([&](auto&... l) { (l.init(r), ...); }, layers_);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        visit_each([&](auto& l, std::string_view name) { l.visit_parameters(join_name(prefix, name), f); });
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        visit_each([&](auto& l, std::string_view name) { l.visit_buffers(join_name(prefix, name), f); });
    }

    template <std::size_t I>
    auto& get() noexcept {
        return std::get<I>(layers_);
    }

private:
    template <std::size_t I>
    using layer_at = typename std::tuple_element_t<I, std::tuple<N...>>::layer;
    // The chain's first two layers fuse and the convolution can read two inputs in that pass.
    static constexpr bool fused_two = [] {
        if constexpr (count >= 2)
            return exec::chain_rule<typename N::layer...>::fuses_at(0) && exec::two_input_conv<first_t>;
        else
            return false;
    }();
    // forward_two runs the fused pass now (inference_mode, the first pair in eval mode).
    bool fused_two_now() const {
        if constexpr (fused_two)
            return inference_mode::enabled() && !std::get<1>(layers_).training();
        else
            return false;
    }

    /// The fusion rule applied to this chain: rule::fuses_at(J) (layers J and J + 1 run as one
    /// pass under inference_mode), rule::recomputed_at(J) (layer J's output is not kept in training).
    using rule = exec::chain_rule<typename N::layer...>;

    // Under inference_mode, Conv -> eval-mode BatchNorm (-> ReLU) and Conv -> ReLU at positions I,
    // I + 1 run as one convolution, run(conv, next, y), on input shape `in`; it writes straight
    // into the second layer's output (or, when that output only feeds the next pair, into the
    // shared scratch). Then the rest of the chain.
    template <std::size_t I, class Run>
    const tensor_type& forward_fused_pair(const shape4& in, Run&& run) {
        auto& conv = std::get<I>(layers_);
        auto& next = std::get<I + 1>(layers_);
        const shape4 mid = conv.output_shape(in);
        const shape4 out = next.output_shape(mid);
        // A result that only feeds the next fused pair goes to the shared scratch.
        tensor_type* target;
        if constexpr (rule::fuses_at(I + 2)) {
            target = &exec::current<tensor_type>().fused(I / 2);
            target->resize(out);
            next.mark_fused_elsewhere(mid);
        } else if (I + 2 == count && result_) {  // forward_two_into: the chain's result goes there
            target = result_;
            target->resize(out);
            next.mark_fused_elsewhere(mid);
        } else {
            target = &next.fused_output(mid, out);
        }
        tensor_type& y = *target;
        run(conv, next, y);
        if constexpr (I + 2 < count)
            return forward_from<I + 2>(y);
        else
            return y;
    }

    template <std::size_t I>
    const tensor_type& forward_from(const tensor_type& x) {
        if constexpr (I + 1 < count) {
            if constexpr (rule::fuses_at(I)) {
                if (inference_mode::enabled() && !std::get<I + 1>(layers_).training())
                    return forward_fused_pair<I>(x.shape(), [&](auto& conv, auto& next, tensor_type& y) {
                        exec::run_fused_pair(conv, next, x, y);
                    });
            }
        }
        if constexpr (rule::recomputed_at(I)) {
            // A norm (or ReLU) between two convolutions writes into the shared recompute buffer,
            // the next convolution reads it, and the buffer goes back; backward writes it again.
            if (!inference_mode::enabled()) {
                auto& mid = std::get<I>(layers_);
                tensor_type& shared = exec::current<tensor_type>()[exec::slot::recompute];
                mid.swap_output(shared);
                const tensor_type* z = nullptr;
                try {
                    z = &std::get<I + 1>(layers_).forward(mid.forward(x));
                } catch (...) {
                    mid.swap_output(shared);
                    throw;
                }
                mid.swap_output(shared);
                recompute_[I] = true;
                if constexpr (I + 2 < count)
                    return forward_from<I + 2>(*z);
                else
                    return *z;
            }
            recompute_[I] = false;
        }
        const tensor_type& y = std::get<I>(layers_).forward(x);
        if constexpr (I + 1 < count)
            return forward_from<I + 1>(y);
        else
            return y;
    }
    // Layers I..0 backward; dy is the gradient of layer I's output. Layers after the first write
    // their input gradient into a buffer the workspace lends (exec::workspace::lent_grad), which
    // goes back as soon as the layer before has consumed it.
    template <std::size_t I, class First>
    const tensor_type& backward_from(const tensor_type& dy, exec::workspace<tensor_type>& ws, int depth,
                                     First& first) {
        auto& l = std::get<I>(layers_);
        if constexpr (I == 0) {
            const tensor_type& g = first(l, dy);
            give_back<1>();
            return g;
        } else {
            if constexpr (exec::lends_grad<layer_at<I>, tensor_type>) {
                if (tensor_type* slot = ws.lent_grad(depth, I)) {
                    l.swap_input_grad(*slot);
                    lent_[I] = slot;
                }
            }
            if constexpr (rule::recomputed_at(I - 1)) {
                // Layer I - 1's output was not kept: write it again into the recompute buffer,
                // which it holds until its own backward (the next step) has read it.
                if (recompute_[I - 1]) {
                    auto& mid = std::get<I - 1>(layers_);
                    mid.swap_output(ws[exec::slot::recompute]);
                    recompute_holder_ = static_cast<int>(I - 1);
                    mid.recompute_output(std::get<I - 2>(layers_).output());
                }
            }
            const tensor_type& g = l.backward(std::get<I - 1>(layers_).output(), dy);
            if constexpr (rule::recomputed_at(I)) {
                if (recompute_holder_ == static_cast<int>(I)) {
                    l.swap_output(ws[exec::slot::recompute]);
                    recompute_holder_ = -1;
                }
            }
            if (lent_[I] && g.size() && g.data() == dy.data())
                throw std::logic_error("sequential: layer " + std::to_string(I) +
                                       " returned its output gradient as its input gradient, which a lent gradient "
                                       "buffer cannot hold; this is a bug in that layer");
            give_back<I + 1>();
            return backward_from<I - 1>(g, ws, depth, first);
        }
    }
    // Returns layer J's lent gradient buffer to its slot (its gradient has been consumed).
    template <std::size_t J>
    void give_back() noexcept {
        if constexpr (J < count && J > 0) {
            if constexpr (exec::lends_grad<layer_at<J>, tensor_type>) {
                if (lent_[J]) {
                    std::get<J>(layers_).swap_input_grad(*lent_[J]);
                    lent_[J] = nullptr;
                }
            }
        }
    }
    // After a throw between the recompute and the layer's own backward: the buffer goes back.
    void give_back_recompute(exec::workspace<tensor_type>& ws) noexcept {
        if (recompute_holder_ < 0) return;
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            (([&] {
                 if constexpr (rule::recomputed_at(J))
                     if (recompute_holder_ == static_cast<int>(J))
                         std::get<J>(layers_).swap_output(ws[exec::slot::recompute]);
             }()),
             ...);
        }(std::make_index_sequence<count>{});
        recompute_holder_ = -1;
    }
    template <class F>
    void visit_each(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(std::get<I>(layers_), std::tuple_element_t<I, std::tuple<N...>>::name.view()), ...);
        }(std::make_index_sequence<count>{});
    }

    std::tuple<typename N::layer...> layers_;
    std::array<tensor_type*, count> lent_{};  // slot lent to layer I during the running backward
    std::array<bool, count> recompute_{};     // layer I's output was not kept by the last forward
    int recompute_holder_ = -1;               // the layer holding the recompute buffer in backward
    bool has_forward_ = false;
    tensor_type* result_ = nullptr;  // during forward_two_into only
    bool training_ = true;
};

}  // namespace unetpp
