#pragma once
/// \file Skip-connection policies: how a decoder level merges the encoder feature map (skip) with
/// the upsampled one. Contract (checked by the SkipPolicy concept):
///   static constexpr int out_channels;
///   static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up);
///   const tensor_type& forward(const tensor_type& skip, const tensor_type& up);
///   std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& dy); // (dskip, dup)
///   const tensor_type& output() const; train(bool); init(rng&); visit_parameters; visit_buffers.

#include <concepts>
#include <optional>
#include <string_view>

#include "../layers/merge.hpp"

namespace unetpp {

/// What a U-Net's skip slot holds: it merges the encoder output (skip) with the up-sampled map
/// (up) into the decoder's input. Its backward takes the gradient of the merged map, either alone
/// (a concatenation, which needs nothing else) or with the two inputs of the last forward
/// (backward(skip, up, dy): a gated or convolved skip with parameters), and gives the gradients of
/// both inputs. unet checks its skip policy against this concept.
template <class S>
concept SkipPolicy = requires(S& s, const typename S::tensor_type& t, shape4 a, rng& r) {
    { S::out_channels } -> std::convertible_to<int>;
    { S::try_output_shape(a, a) } -> std::same_as<std::optional<shape4>>;
    { s.forward(t, t) } -> std::same_as<const typename S::tensor_type&>;
    s.train(true);
    s.init(r);
} && (requires(S& s, const typename S::tensor_type& t) { s.backward(t); } ||
      requires(S& s, const typename S::tensor_type& t) { s.backward(t, t, t); });

/// Concatenate [skip, up] along channels; `Crop` centre-crops the skip first (unpadded U-Nets).
template <int SkipChannels, int UpChannels, bool Crop, class T = float, class B = backend::cpu>
class concat_skip : public concat_channels<Crop, T, B> {
public:
    using tensor_type = typename concat_channels<Crop, T, B>::tensor_type;
    static constexpr int out_channels = SkipChannels + UpChannels;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up) noexcept {
        if (skip.c != SkipChannels || up.c != UpChannels) return std::nullopt;
        return concat_channels<Crop, T, B>::try_output_shape(skip, up);
    }
    void train(bool) noexcept {}
    void init(rng&) noexcept {}
    template <class F>
    void visit_parameters(std::string_view, F&&) {}
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
};

}  // namespace unetpp
