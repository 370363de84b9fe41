#pragma once
/// \file Skip-connection policies, all of them: how a decoder level merges the encoder feature map
/// (skip) with the upsampled one.
///   concat_skip     cat([skip, up]), the skip centre-cropped first in unpadded U-Nets
///   attention_skip  cat([attention_gate(skip, up), up])            (Attention U-Net)
///   bcir_skip       dropout(cat([up, separable_block(skip)]))      (B-Cir U-Net)
/// Contract (the SkipPolicy concept below; unet checks its skip slot against it):
///   static constexpr int out_channels;
///   static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up);
///   const tensor_type& forward(const tensor_type& skip, const tensor_type& up);
///   backward(dy) or backward(skip, up, dy) -> (dskip, dup);
///   const tensor_type& output() const; train(bool); init(rng&); visit_parameters; visit_buffers.

#include <concepts>
#include <optional>
#include <string_view>

#include "../config/abi.hpp"
#include "../layers/merge.hpp"
#include "attention_gate.hpp"
#include "separable_block.hpp"

namespace unetpp::inline UNETPP_ABI {

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
template <int SkipChannels, int UpChannels, bool Crop, backend::backend_type B = backend::cpu, class T = float>
class concat_skip : public concat_channels<Crop, B, T> {
public:
    using tensor_type = typename concat_channels<Crop, B, T>::tensor_type;
    static constexpr int out_channels = SkipChannels + UpChannels;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    /// The merged map is exactly cat([skip centre-cropped to up's size, up]), so the decoder may
    /// read the two where they lie instead (unet does under inference_mode, where the backend can).
    static constexpr bool plain_concat = true;
    static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up) noexcept {
        if (skip.c != SkipChannels || up.c != UpChannels) return std::nullopt;
        return concat_channels<Crop, B, T>::try_output_shape(skip, up);
    }
    void train(bool) noexcept {}
    void init(rng&) noexcept {}
    template <class F>
    void visit_parameters(std::string_view, F&&) {}
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
};

/// Skip policy: y = cat([attention_gate(x = skip, g = up), up]) (the skip first, as
/// concat_skip). `Inter` is F_int (Oktay et al.: half the skip's channels). Same-size inputs
/// only (padded U-Nets). Parameter names: gate.*.
template <int SkipChannels, int UpChannels, int Inter, bool BatchNorm, backend::backend_type B = backend::cpu, class T = float>
class attention_skip {
    using gate_t = attention_gate<attention_gate_cfg{.gate = UpChannels, .skip = SkipChannels, .inter = Inter, .batch_norm = BatchNorm}, B, T>;
    using concat_t = concat_channels<false, B, T>;

public:
    using tensor_type = tensor<T, typename B::memory>;
    static constexpr int out_channels = SkipChannels + UpChannels;
    static constexpr std::size_t parameter_count = gate_t::parameter_count;
    static constexpr std::size_t buffer_count = gate_t::buffer_count;

    static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up) noexcept {
        const auto g = gate_t::try_output_shape(skip, up);
        return g ? concat_t::try_output_shape(*g, up) : std::nullopt;
    }
    const tensor_type& forward(const tensor_type& skip, const tensor_type& up) {
        return concat_.forward(gate_.forward(skip, up), up);
    }
    std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& skip, const tensor_type& up,
                                                               const tensor_type& dy) {
        auto [dgated, dup_direct] = concat_.backward(dy);
        auto [dskip, dup_gate] = gate_.backward(skip, up, dgated);
        dup_.resize(up.shape());
        B::add(dup_direct.data(), dup_gate.data(), dup_.data(), static_cast<std::ptrdiff_t>(dup_.size()));
        return {dskip, dup_};
    }
    const tensor_type& output() const noexcept { return concat_.output(); }
    void train(bool on) { gate_.train(on); }
    void init(rng& r) { gate_.init(r); }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        gate_.visit_parameters(join_name(prefix, "gate"), f);
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        gate_.visit_buffers(join_name(prefix, "gate"), f);
    }
    auto& gate() noexcept { return gate_; }

private:
    gate_t gate_;
    concat_t concat_;
    tensor_type dup_;
};

/// Skip policy of the B-Cir U-Net: y = dropout(cat([up, separable_block(skip)])).
/// Implements the two-input backward `backward(skip, up, dy)` that unet calls for skip policies
/// with parameters on their inputs. Parameter names: path.*.
template <int SkipChannels, int UpChannels, separable_block_cfg Path, double Dropout,
          backend::backend_type B = backend::cpu, class T = float>
class bcir_skip {
    static_assert(Path.channels == SkipChannels, "bcir_skip: the separable block must keep the skip's channels");
    using path_t = separable_block<Path, B, T>;
    using concat_t = concat_channels<false, B, T>;
    using drop_t = dropout<Dropout, B, T>;

public:
    using tensor_type = tensor<T, typename B::memory>;
    static constexpr int out_channels = SkipChannels + UpChannels;
    static constexpr std::size_t parameter_count = path_t::parameter_count;
    static constexpr std::size_t buffer_count = path_t::buffer_count;

    static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up) noexcept {
        if (skip.c != SkipChannels || up.c != UpChannels) return std::nullopt;
        const auto p = path_t::try_output_shape(skip);
        return p ? concat_t::try_output_shape(up, *p) : std::nullopt;
    }
    const tensor_type& forward(const tensor_type& skip, const tensor_type& up) {
        if (!try_output_shape(skip.shape(), up.shape()))
            throw shape_error(describe() + ": cannot join skip " + skip.shape().str() + " with upsampled " +
                              up.shape().str() + "; expected " + std::to_string(SkipChannels) + " and " +
                              std::to_string(UpChannels) + " channels of one size");
        const tensor_type& m = concat_.forward(up, path_.forward(skip));
        return drop_.forward(m);
    }
    /// (dskip, dup) for the inputs of the last forward.
    std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& skip, const tensor_type& up,
                                                               const tensor_type& dy) {
        (void)up;
        const tensor_type& dm = drop_.backward(concat_.output(), dy);
        auto [dup, dpath] = concat_.backward(dm);
        const tensor_type& dskip = path_.backward(skip, dpath);
        return {dskip, dup};
    }
    const tensor_type& output() const noexcept { return drop_.output(); }
    void train(bool on) {
        path_.train(on);
        drop_.train(on);
    }
    void init(rng& r) {
        path_.init(r);
        drop_.init(r);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        path_.visit_parameters(join_name(prefix, "path"), f);
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        path_.visit_buffers(join_name(prefix, "path"), f);
    }
    auto& path() noexcept { return path_; }
    static std::string describe() {
        return "bcir_skip<skip=" + std::to_string(SkipChannels) + ", up=" + std::to_string(UpChannels) + ">";
    }

private:
    path_t path_;
    concat_t concat_;
    drop_t drop_;
};

}  // namespace unetpp
