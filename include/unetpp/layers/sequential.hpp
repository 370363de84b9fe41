#pragma once
/// \file A chain of named layers. Names become parameter-name segments (`conv1.weight`), so a
/// block's parameters map one-to-one onto a PyTorch module with the same attribute names.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "layer.hpp"

namespace unetpp {

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

template <class... N>
class sequential {
    static_assert(sizeof...(N) > 0, "sequential: needs at least one layer");
    using first_t = typename std::tuple_element_t<0, std::tuple<N...>>::layer;
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
    static_assert(first_channel_mismatch < 0,
                  "sequential: channel mismatch - the layer at index first_channel_mismatch (0-based, value shown "
                  "in the note below) takes a different number of input channels than the layers before it produce");
    static constexpr int in_channels = [] {
        for (int c : layer_in)
            if (c != any_channels) return c;
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
        return forward_from<0>(x);
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        if (!has_forward_) throw std::logic_error("sequential: backward called before forward");
        return backward_from<count - 1>(x, dy);
    }
    [[nodiscard]] const tensor_type& output() const noexcept { return std::get<count - 1>(layers_).output(); }

    void train(bool on) {
        training_ = on;
        std::apply([&](auto&... l) { (l.train(on), ...); }, layers_);
    }
    [[nodiscard]] bool training() const noexcept { return training_; }
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
    const tensor_type& forward_from(const tensor_type& x) {
        const tensor_type& y = std::get<I>(layers_).forward(x);
        if constexpr (I + 1 < count)
            return forward_from<I + 1>(y);
        else
            return y;
    }
    template <std::size_t I>
    const tensor_type& backward_from(const tensor_type& x, const tensor_type& dy) {
        if constexpr (I == 0) {
            return std::get<0>(layers_).backward(x, dy);
        } else {
            const tensor_type& g = std::get<I>(layers_).backward(std::get<I - 1>(layers_).output(), dy);
            return backward_from<I - 1>(x, g);
        }
    }
    template <class F>
    void visit_each(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(std::get<I>(layers_), std::tuple_element_t<I, std::tuple<N...>>::name.view()), ...);
        }(std::make_index_sequence<count>{});
    }

    std::tuple<typename N::layer...> layers_;
    bool has_forward_ = false;
    bool training_ = true;
};

}  // namespace unetpp
