#pragma once
/// \file U-Net as a compile-time type: `unet<unet_cfg{...}, Backend, T, Policies>`.
///
/// Level L (0-based) runs an encoder block at base * 2^L channels, a down policy, the level
/// below, an up policy back to base * 2^L channels, a skip policy merging the encoder output with
/// the upsampled map, and a decoder block. The bottom level is the bottleneck. Channels, kernel
/// sizes and depth are template arguments; batch and spatial size are run-time and validated
/// with errors that list the nearest sizes the network can take.
///
/// Parameter names (PyTorch state_dict keys of the reference module in tests/parity/):
///   enc{1..depth}.*, bottleneck.*, up{1..depth}.*, dec{1..depth}.*, head.*

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "../blocks/double_conv.hpp"
#include "../blocks/skip.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/upsample.hpp"
#include "../exec/workspace.hpp"
#include "../layers/sequential.hpp"
#include "layer_tree.hpp"
#include "unet_cfg.hpp"

namespace unetpp::inline UNETPP_ABI {


template <unet_cfg Asked, backend::backend_type B = backend::cpu, class T = float, class P = default_policies>
class unet : public layer_tree<unet<Asked, B, T, P>>, public size_rules<unet<Asked, B, T, P>> {
    friend class layer_tree<unet>;
    /// Every member below is built from C (see detail::usable_unet_cfg); the checks read Asked.
    static constexpr unet_cfg C = detail::usable_unet_cfg(Asked);
    static_assert(B::available, "unet: this backend is not available in this build (for backend::cuda: configure "
                                "with -DUNETPP_WITH_CUDA=ON, which needs the CUDA Toolkit and cuDNN, and link "
                                "unetpp::cuda)");
    static_assert(Asked.depth >= 1, "unet_cfg.depth must be at least 1 (a U-Net needs one down-sampling level)");
    static_assert(Asked.depth <= 10, "unet_cfg.depth above 10 is not supported (feature maps would need > 2^10 pixels)");
    static_assert(Asked.in_channels >= 1 || Asked.in_channels == runtime_channels,
                  "unet_cfg.in_channels must be at least 1, or runtime_channels");
    static_assert(Asked.classes >= 1 || Asked.classes == runtime_channels,
                  "unet_cfg.classes must be at least 1, or runtime_channels");
    static_assert(Asked.base >= 1, "unet_cfg.base (channels of the first level) must be at least 1");
    static_assert(Asked.base <= (1 << 20) >> Asked.depth, "unet_cfg.base * 2^depth channels is too large");
    static_assert(Asked.kernel >= 1, "unet_cfg.kernel must be at least 1");
    static_assert(Asked.pad == padding::valid || Asked.kernel % 2 == 1,
                  "unet_cfg.kernel must be odd with padding::same or padding::reflect");
    static_assert(Asked.dropout >= 0.0 && Asked.dropout < 1.0, "unet_cfg.dropout must be in [0, 1)");

public:
    static constexpr unet_cfg cfg = Asked;
    static constexpr int depth = C.depth;
    /// Channels at level L (L = depth is the bottleneck).
    static constexpr int channels(int level) noexcept { return C.base << level; }
    static constexpr int input_channels(int level) noexcept { return level == 0 ? C.in_channels : channels(level - 1); }

    template <std::size_t L>
    using encoder_t = typename P::template block<C, input_channels(L), channels(L), B, T>;
    template <std::size_t L>
    using down_t = typename P::template down<C, channels(L), B, T>;
    using bottleneck_t = typename detail::bottleneck_policy<P, C, channels(C.depth - 1), channels(C.depth), B, T>::type;
    template <std::size_t L>
    using up_t = typename P::template up<C, channels(L + 1), channels(L), B, T>;
    template <std::size_t L>
    using skip_t = typename P::template skip<C, channels(L), channels(L), B, T>;
    template <std::size_t L>
    using decoder_t = typename P::template block<C, skip_t<L>::out_channels, channels(L), B, T>;
    using head_t = typename P::template head<C, channels(0), B, T>;

    using value_type = T;
    using backend_type = B;
    using tensor_type = typename head_t::tensor_type;

private:
    template <class X>
    static constexpr bool takes(int c) noexcept {
        return detail::in_channels_of<X>() == any_channels || detail::in_channels_of<X>() == c;
    }
    template <class X>
    static constexpr bool gives(int c) noexcept {
        return detail::out_channels_of<X>() == any_channels || detail::out_channels_of<X>() == c;
    }
    /// Channel bookkeeping of level L (0-based); a failing assertion's context names the level.
    template <std::size_t L>
    struct level_check {
        static_assert(takes<encoder_t<L>>(input_channels(L)),
                      "unet: the block policy's encoder at this level does not take the level's input channels "
                      "(in_channels(level) = base * 2^(level-1), or in_channels at level 0)");
        static_assert(gives<encoder_t<L>>(channels(L)),
                      "unet: the block policy's encoder at this level does not produce base * 2^level channels");
        static_assert(takes<up_t<L>>(channels(L + 1)) && gives<up_t<L>>(channels(L)),
                      "unet: the up policy must map base * 2^(level+1) channels to base * 2^level");
        static_assert(takes<decoder_t<L>>(skip_t<L>::out_channels),
                      "unet: the decoder block does not take the channels the skip policy produces");
        static_assert(gives<decoder_t<L>>(channels(L)),
                      "unet: the block policy's decoder at this level does not produce base * 2^level channels");
        static constexpr bool ok = true;
    };
    /// Whether level L's channels all agree (level_check's conditions, without asserting).
    template <std::size_t L>
    static constexpr bool level_fits() noexcept {
        return takes<encoder_t<L>>(input_channels(L)) && gives<encoder_t<L>>(channels(L)) &&
               takes<up_t<L>>(channels(L + 1)) && gives<up_t<L>>(channels(L)) &&
               takes<decoder_t<L>>(skip_t<L>::out_channels) && gives<decoder_t<L>>(channels(L));
    }
    /// The first level whose channels disagree, or depth. Only that level's level_check is
    /// instantiated, so a policy that is wrong at every level reports it once.
    static constexpr std::size_t first_bad_level = []<std::size_t... L>(std::index_sequence<L...>) {
        std::size_t bad = C.depth;
        ((bad == std::size_t(C.depth) && !level_fits<L>() ? (bad = L, 0) : 0), ...);
        return bad;
    }(std::make_index_sequence<C.depth>{});
    struct levels_fit {
        static constexpr bool ok = true;
    };
    static_assert(std::conditional_t<first_bad_level == std::size_t(C.depth), levels_fit,
                                     level_check<first_bad_level>>::ok);
    static_assert(takes<bottleneck_t>(channels(C.depth - 1)) && gives<bottleneck_t>(channels(C.depth)),
                  "unet: the bottleneck block must map base * 2^(depth-1) channels to base * 2^depth");
    static_assert(takes<head_t>(channels(0)) && gives<head_t>(C.classes),
                  "unet: the head policy must map base channels to cfg.classes");
    static_assert(C.in_channels != runtime_channels || detail::in_channels_of<encoder_t<0>>() == any_channels,
                  "unet: in_channels = runtime_channels needs a level-0 encoder whose input channels are chosen at "
                  "run time (the default block policy's convolution); this block policy fixes them");
    static_assert(C.classes != runtime_channels || detail::out_channels_of<head_t>() == any_channels,
                  "unet: classes = runtime_channels needs a head whose output channels are chosen at run time (the "
                  "default head policy's 1x1 convolution); this head policy fixes them");
    // The policy slots: what each template of P gives must model the concept of its slot. (The
    // block policy is checked on the decoder and the bottleneck, whose channels are fixed even
    // when the network's input channels are chosen at run time.)
    static_assert(Layer<decoder_t<0>> && Layer<bottleneck_t>,
                  "unet: the block policy (P::block, or P::bottleneck) must give a type that models unetpp::Layer "
                  "(layers/layer.hpp lists what a layer provides)");
    static_assert(Layer<down_t<0>>, "unet: the down policy (P::down) must give a type that models unetpp::Layer");
    static_assert(Layer<up_t<0>>, "unet: the up policy (P::up) must give a type that models unetpp::Layer");
    static constexpr bool head_models_layer() noexcept {
        if constexpr (C.classes == runtime_channels)
            return true;  // its parameter count is a run-time quantity, which Layer asks at compile time
        else
            return Layer<head_t>;
    }
    static_assert(head_models_layer(), "unet: the head policy (P::head) must give a type that models unetpp::Layer");
    static_assert(SkipPolicy<skip_t<0>>, "unet: the skip policy (P::skip) must give a type that models "
                                         "unetpp::SkipPolicy (blocks/skip.hpp)");

    // The per-level layer types as tuples, through a partially specialised struct (nvcc 13 cannot
    // read the same pack expansion in a function's trailing return type).
    template <class Seq>
    struct level_types;
    template <std::size_t... L>
    struct level_types<std::index_sequence<L...>> {
        using type = std::tuple<std::tuple<encoder_t<L>...>, std::tuple<down_t<L>...>, std::tuple<up_t<L>...>,
                                std::tuple<skip_t<L>...>, std::tuple<decoder_t<L>...>>;
    };
    using levels = typename level_types<std::make_index_sequence<C.depth>>::type;
    using encoders = std::tuple_element_t<0, levels>;
    using downs = std::tuple_element_t<1, levels>;
    using ups = std::tuple_element_t<2, levels>;
    using skips = std::tuple_element_t<3, levels>;
    using decoders = std::tuple_element_t<4, levels>;

    template <class Tuple>
    static constexpr std::size_t sum_parameters() {
        return []<class... X>(std::type_identity<std::tuple<X...>>) {
            return (std::size_t{0} + ... + X::parameter_count);
        }(std::type_identity<Tuple>{});
    }
    template <class Tuple>
    static constexpr std::size_t sum_buffers() {
        return []<class... X>(std::type_identity<std::tuple<X...>>) {
            return (std::size_t{0} + ... + X::buffer_count);
        }(std::type_identity<Tuple>{});
    }

public:
    /// Whether the input channels or the classes are chosen at run time (runtime_channels).
    static constexpr bool runtime_sized = C.in_channels == runtime_channels || C.classes == runtime_channels;

    /// Trainable parameters (PyTorch's sum(p.numel() for p in model.parameters())). With
    /// runtime_channels the count depends on the object: use count_parameters().
    static constexpr std::size_t parameter_count = sum_parameters<encoders>() + sum_parameters<downs>() +
                                                   bottleneck_t::parameter_count + sum_parameters<ups>() +
                                                   sum_parameters<skips>() + sum_parameters<decoders>() +
                                                   head_t::parameter_count;
    /// Non-trainable state (batch-norm running mean and variance), as Keras counts it.
    static constexpr std::size_t buffer_count = sum_buffers<encoders>() + sum_buffers<downs>() +
                                                bottleneck_t::buffer_count + sum_buffers<ups>() +
                                                sum_buffers<skips>() + sum_buffers<decoders>() + head_t::buffer_count;

    /// Output shape for an input shape, or nullopt when the network cannot take it.
    /// With runtime_channels the input's channels are not checked here (the object checks them)
    /// and the output's channel count is runtime_channels (output_shape on the object gives it).
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if ((C.in_channels != runtime_channels && in.c != C.in_channels) || in.n < 1) return std::nullopt;
        const auto body = level_shape<0>(in);
        return body ? head_t::try_output_shape(*body) : std::nullopt;
    }
    /// Output side length for a square input of side `in` (or a single dimension: the axes are
    /// independent), nullopt when invalid. E.g. ronneberger2015: output_size(572) == 388.
    static constexpr std::optional<int> output_size(int in) noexcept {
        if (in < 1) return std::nullopt;
        const auto s = try_output_shape(shape4{1, C.in_channels == runtime_channels ? 1 : C.in_channels, in, in});
        return s ? std::optional<int>(s->h) : std::nullopt;
    }
    using size_rules<unet>::is_valid_size;        // output_size(in) has a value
    using size_rules<unet>::next_valid_size;      // smallest valid side >= n (0: none up to 2^16)
    using size_rules<unet>::previous_valid_size;  // largest valid side <= n (0: none)
    /// Smallest input side the network accepts.
    static constexpr int min_input_size = next_valid_size(1);

    /// Builds the network with parameters initialised from `seed` (He-uniform weights, zero BN
    /// shifts); the same seed gives the same network everywhere.
    explicit unet(std::uint64_t seed = 0) {
        static_assert(!runtime_sized, "unet: this network's channels are chosen at run time (runtime_channels); build "
                                      "it with unet(seed, {.in_channels = ..., .classes = ...})");
        init(seed);
        need_input_grad(false);
    }

    /// Builds a network whose input channels and/or classes are chosen at run time
    /// (unet_cfg::in_channels / classes = runtime_channels). A count fixed at compile time must be
    /// given as 0 or as its value. Throws std::invalid_argument for a count out of range.
    unet(std::uint64_t seed, io_channels io) {
        io_ = {detail::boundary_count(C.in_channels, io.in_channels, describe() + " in_channels"),
               detail::boundary_count(C.classes, io.classes, describe() + " classes")};
        if constexpr (C.in_channels == runtime_channels) std::get<0>(enc_).set_input_channels(io_.in_channels);
        if constexpr (C.classes == runtime_channels) head_.set_output_channels(io_.classes);
        init(seed);
        need_input_grad(false);
    }

    /// The input channels and classes of this object (the configuration's, or the run-time ones).
    [[nodiscard]] io_channels channels() const noexcept { return io_; }
    [[nodiscard]] int in_channels() const noexcept { return io_.in_channels; }
    [[nodiscard]] int classes() const noexcept { return io_.classes; }

    /// Output shape of this object for an input shape (with the run-time classes); throws
    /// shape_error like forward when the input does not fit.
    [[nodiscard]] shape4 output_shape(shape4 in) const {
        check_input(in);
        shape4 out = *try_output_shape(in);
        out.c = io_.classes;
        return out;
    }

    void init(std::uint64_t seed) {
        rng r(seed);
        for_each_layer([&](auto& l, std::string_view) { l.init(r); });
    }

    /// Forward pass; returns the logits [N, classes, H', W'] owned by the network.
    const tensor_type& forward(const tensor_type& x) {
        return forward_tapped(x, [](auto, const tensor_type&) {});
    }

    /// Forward that also calls `tap(level, output)` with each decoder's output as soon as it is
    /// computed (level an std::integral_constant, deepest first), while it is still valid: under
    /// inference_mode the decoders' outputs share one workspace slot and are overwritten later in
    /// the pass (level 0's, the head's input, is the last written). Auxiliary heads (deeply_supervised) read the decoders this way.
    template <class Tap>
    const tensor_type& forward_tapped(const tensor_type& x, Tap&& tap) {
        check_input(x.shape());
        in_shape_ = x.shape();
        has_forward_ = true;
        // Under inference_mode (and in eval mode, so that no backward can follow) the short-lived
        // level results go to workspace slots.
        lend_outputs_ = inference_mode::enabled() && !head_.training();
        const exec::bind_workspace<tensor_type> bind(ws_.get());
        return head_.forward(forward_level<0>(x, tap));
    }

    /// The workspace whose slots the levels and blocks borrow for short-lived results
    /// (exec/workspace.hpp); bytes() says how much it holds, release() frees it.
    exec::workspace<tensor_type>& workspace() noexcept { return ws_.get(); }
    /// Use `ws` instead of this network's own workspace (null: its own again), e.g. for the
    /// members of an ensemble that run one after another. `ws` must outlive the passes.
    void share_workspace(exec::workspace<tensor_type>* ws) noexcept { ws_.share(ws); }

    /// Backward pass for the input `x` of the last forward and the gradient of the loss with
    /// respect to the logits. Adds parameter gradients (call zero_grad() between steps) and
    /// returns the gradient with respect to x when need_input_grad(true) was set (otherwise an
    /// empty tensor).
    const tensor_type& backward(const tensor_type& x, const tensor_type& dlogits) {
        static constexpr std::array<const tensor_type*, C.depth> none{};
        return backward(x, dlogits, none);
    }

    /// Backward for a model that also reads decoder features besides the head (the hook that
    /// deeply_supervised uses): decoder_grads[L], when not null, is the gradient of the loss with
    /// respect to the output of dec{L+1} from those other readers; it is added to the gradient
    /// that reaches dec{L+1} from above. With every entry null this is backward(x, dlogits).
    const tensor_type& backward(const tensor_type& x, const tensor_type& dlogits,
                                const std::array<const tensor_type*, C.depth>& decoder_grads) {
        if (!has_forward_)
            throw std::logic_error("unet: backward called before forward; run forward on the batch first");
        if (lend_outputs_)
            throw std::logic_error("unet: backward after a forward run under unetpp::inference_mode, which keeps no "
                                   "intermediate results; run the forward pass again outside the inference_mode scope");
        if (x.shape() != in_shape_)
            throw shape_error("unet: backward received input " + x.shape().str() + " but the last forward saw " +
                              in_shape_.str());
        if (dlogits.shape() != head_.output().shape())
            throw shape_error("unet: logit gradient has shape " + dlogits.shape().str() + ", expected " +
                              head_.output().shape().str());
        [&]<std::size_t... L>(std::index_sequence<L...>) {
            (check_decoder_grad(decoder_grads[L], std::get<L>(dec_).output(), L), ...);
        }(std::make_index_sequence<C.depth>{});
        decoder_grads_ = &decoder_grads;
        struct reset {
            const std::array<const tensor_type*, C.depth>*& p;
            ~reset() { p = nullptr; }
        } reset_after{decoder_grads_};
        const exec::bind_workspace<tensor_type> bind(ws_.get());
        const tensor_type& g = head_.backward(std::get<0>(dec_).output(), dlogits);
        return backward_level<0>(x, g);
    }

    [[nodiscard]] const tensor_type& output() const noexcept { return head_.output(); }

    /// Whether backward computes the gradient with respect to the input image (off by default,
    /// as in PyTorch where images do not require grad: the first convolution then skips its
    /// backward-data pass and backward returns an empty tensor).
    void need_input_grad(bool on) {
        input_grad_ = on;
        if constexpr (requires { std::get<0>(enc_).need_input_grad(on); }) std::get<0>(enc_).need_input_grad(on);
    }
    [[nodiscard]] bool needs_input_grad() const noexcept { return input_grad_; }

    // train / eval / training, visit_parameters, visit_buffers and zero_grad: layer_tree, from
    // for_each_layer below.

    /// Throws shape_error unless the network can take `in`, listing the nearest valid sizes
    /// (with runtime_channels in_channels, any channel count passes here; forward checks it).
    static void validate(const shape4& in) {
        detail::validate_input<unet>(in, C.in_channels == runtime_channels ? in.c : C.in_channels, size_rule());
    }
    /// validate, with this object's input channels.
    void check_input(const shape4& in) const { detail::validate_input<unet>(in, io_.in_channels, size_rule()); }

    /// The network's name in messages; "in=run-time" / "classes=run-time" for runtime_channels.
    static std::string describe() { return describe(io_channels{C.in_channels, C.classes}); }
    /// The name with the given (run-time) channel counts, e.g. describe(net.channels()).
    static std::string describe(io_channels io) {
        return "unet<in=" + channels_text(io.in_channels) + ", classes=" + channels_text(io.classes) +
               ", base=" + std::to_string(C.base) + ", depth=" + std::to_string(C.depth) +
               ", kernel=" + std::to_string(C.kernel) + ", " +
               (C.pad == padding::valid ? "unpadded" : C.pad == padding::same ? "zero-padded" : "reflect-padded") + ">";
    }

    template <std::size_t L>
    auto& encoder() noexcept { return std::get<L>(enc_); }
    template <std::size_t L>
    auto& decoder() noexcept { return std::get<L>(dec_); }
    auto& bottleneck() noexcept { return bottleneck_; }
    auto& head() noexcept { return head_; }

    /// Calls f(layer, name) for every level component in a fixed order (enc, bottleneck, up,
    /// skip, dec, head).
    template <class F>
    void for_each_layer(F&& f) {
        [&]<std::size_t... L>(std::index_sequence<L...>) {
            (f(std::get<L>(enc_), level_name("enc", L)), ...);
            (f(std::get<L>(down_), level_name("down", L)), ...);
            f(bottleneck_, "bottleneck");
            (f(std::get<L>(up_), level_name("up", L)), ...);
            (f(std::get<L>(skip_), level_name("skip", L)), ...);
            (f(std::get<L>(dec_), level_name("dec", L)), ...);
        }(std::make_index_sequence<C.depth>{});
        f(head_, "head");
    }

private:
    static std::string level_name(const char* kind, std::size_t level) { return kind + std::to_string(level + 1); }


    static std::string size_rule() {
        if (C.pad != padding::valid)
            return "padded U-Net of depth " + std::to_string(C.depth) + ": multiples of " +
                   std::to_string(1 << C.depth);
        return "unpadded U-Net: every feature map before a pooling must have an even size; smallest valid size " +
               std::to_string(min_input_size);
    }

    template <std::size_t L>
    static constexpr std::optional<shape4> level_shape(shape4 in) noexcept {
        const auto e = encoder_t<L>::try_output_shape(in);
        if (!e) return std::nullopt;
        // Pooling must not drop a row or column, or the skip and the upsampled map misalign.
        if (e->h % 2 != 0 || e->w % 2 != 0) return std::nullopt;
        const auto d = down_t<L>::try_output_shape(*e);
        if (!d) return std::nullopt;
        std::optional<shape4> below;
        if constexpr (L + 1 < static_cast<std::size_t>(C.depth))
            below = level_shape<L + 1>(*d);
        else
            below = bottleneck_t::try_output_shape(*d);
        if (!below) return std::nullopt;
        const auto u = up_t<L>::try_output_shape(*below);
        if (!u) return std::nullopt;
        const auto m = skip_t<L>::try_output_shape(*e, *u);
        if (!m) return std::nullopt;
        return decoder_t<L>::try_output_shape(*m);
    }

    /// exec's lending helpers with this pass's decision (lend_outputs_) and the bound workspace.
    template <class Layer, class F>
    const tensor_type& lent_forward(Layer& layer, exec::slot b, const shape4& in, F&& run) {
        return exec::lent_forward(lend_outputs_, ws_.get(), b, layer, in, std::forward<F>(run));
    }
    template <class F>
    const tensor_type& with_scratch(exec::slot b, const tensor_type& input, F&& run) {
        return exec::with_fused_slot(lend_outputs_, ws_.get(), b, input, std::forward<F>(run));
    }

    // Under inference_mode the blocks' intermediate results live in level buffers that are dead
    // while the block runs: an encoder's (and the bottleneck's) in `merged`, whose concatenation
    // is only written on the way up; a decoder's in `pool_up`, whose up-sampled map the
    // concatenation has already copied.
    template <std::size_t L, class Tap>
    const tensor_type& forward_level(const tensor_type& in, Tap& tap) {
        const tensor_type& e =
            with_scratch(exec::slot::merged, in, [&]() -> const tensor_type& { return std::get<L>(enc_).forward(in); });
        auto& down = std::get<L>(down_);
        const tensor_type& d = lent_forward(down, exec::slot::pool_up, e.shape(), [&]() -> const tensor_type& {
            return down.forward(e);
        });
        const tensor_type* below;
        if constexpr (L + 1 < static_cast<std::size_t>(C.depth))
            below = &forward_level<L + 1>(d, tap);
        else
            below = &with_scratch(exec::slot::merged, d,
                                  [&]() -> const tensor_type& { return lent_level_output(bottleneck_, d); });
        auto& up = std::get<L>(up_);
        const tensor_type& u = lent_forward(up, exec::slot::pool_up, below->shape(), [&]() -> const tensor_type& {
            return up.forward(*below);
        });
        auto& skip = std::get<L>(skip_);
        auto& dec = std::get<L>(dec_);
        two_input_[L] = false;
        if constexpr (reads_skip_in_place<L>) {
            if (lend_outputs_ && !dec.training() && dec.can_forward_two(e, u)) {
                // The decoder reads the skip and the up-sampled map where they lie: nothing is
                // concatenated, so `merged` is dead and takes the block's intermediate result
                // (pool_up still holds u). Level 0's result, which no level up-samples, goes to
                // pool_up once the first convolution has read u there: level_out then never grows
                // to level 0's size.
                const shape4 in = *skip_t<L>::try_output_shape(e.shape(), u.shape());
                const tensor_type& out = with_scratch(exec::slot::merged, e, [&]() -> const tensor_type& {
                    if constexpr (L == 0 && requires(tensor_type& t) { dec.forward_two_into(e, u, t); })
                        return dec.forward_two_into(e, u, ws_.get()[exec::slot::pool_up]);
                    else
                        return lent_forward(dec, exec::slot::level_out, in,
                                            [&]() -> const tensor_type& { return dec.forward_two(e, u); });
                });
                tap(std::integral_constant<std::size_t, L>{}, out);
                return out;
            }
            if constexpr (trains_skip_in_place<L>) {
                if (!lend_outputs_ && dec.can_forward_two(e, u)) {
                    // Outside inference_mode the decoder's first convolution reads e and u where
                    // they lie too, and its backward writes their gradients (backward_level): u
                    // stays the up-sampling's output, and neither the concatenation nor its
                    // gradient is written.
                    two_input_[L] = true;
                    const tensor_type& out = dec.forward_two(e, u);
                    tap(std::integral_constant<std::size_t, L>{}, out);
                    return out;
                }
            }
        }
        const tensor_type& m = lent_forward(skip, exec::slot::merged, e.shape(), [&]() -> const tensor_type& {
            return skip.forward(e, u);
        });
        const tensor_type& out = with_scratch(exec::slot::pool_up, m, [&]() -> const tensor_type& {
            return lent_level_output(dec, m);
        });
        tap(std::integral_constant<std::size_t, L>{}, out);
        return out;
    }

    /// Level L's skip is a plain concatenation and its decoder can read the two maps instead
    /// (sequential::forward_two; whether it does is asked on each pass: backend, geometry, mode).
    template <std::size_t L>
    static constexpr bool reads_skip_in_place = [] {
        if constexpr (requires { skip_t<L>::plain_concat; })
            return skip_t<L>::plain_concat &&
                   requires(decoder_t<L>& d, const tensor_type& t) {
                       { std::as_const(d).can_forward_two(t, t) } -> std::same_as<bool>;
                       d.forward_two(t, t);
                   };
        else
            return false;
    }();
    /// ... and can also run its backward on the two maps (sequential::backward_two).
    template <std::size_t L>
    static constexpr bool trains_skip_in_place =
        reads_skip_in_place<L> && requires(decoder_t<L>& d, const tensor_type& t, tensor_type& g) {
            d.backward_two(t, t, t);
            d.swap_second_input_grad(g);
        };

    /// Forward of the bottleneck or of a decoder, into the shared level_out slot
    /// when this pass lends outputs (a reader of those maps takes them during the pass through
    /// forward_tapped). The previous user of that slot (the level below's output) has been
    /// up-sampled by then.
    template <class Layer>
    const tensor_type& lent_level_output(Layer& layer, const tensor_type& in) {
        return lent_forward(layer, exec::slot::level_out, in.shape(),
                            [&]() -> const tensor_type& { return layer.forward(in); });
    }

    template <class Layer, class F>
    const tensor_type& lent_backward(Layer& layer, exec::slot b, F&& run) {
        return exec::lent_backward(ws_.get(), b, layer, std::forward<F>(run));
    }

    static void check_decoder_grad(const tensor_type* g, const tensor_type& out, std::size_t level) {
        if (g && g->shape() != out.shape())
            throw shape_error("unet: the extra gradient for dec" + std::to_string(level + 1) + " has shape " +
                              g->shape().str() + ", expected that decoder's output shape " + out.shape().str());
    }

    /// g_out plus the extra gradient of dec{L+1}'s output when backward received one.
    template <std::size_t L>
    const tensor_type& with_decoder_grad(const tensor_type& g_out) {
        const tensor_type* extra = decoder_grads_ ? (*decoder_grads_)[L] : nullptr;
        if (!extra) return g_out;
        auto& sum = dec_grad_[L];
        sum.resize(g_out.shape());
        B::add(g_out.data(), extra->data(), sum.data(), static_cast<std::ptrdiff_t>(sum.size()));
        return sum;
    }

    // Backward of level L and everything below it. The gradients that only pass from one call to
    // the next live in the workspace's level slots (exec::slot); the comments name when
    // each one is read for the last time, which is always before the next level writes it.
    template <std::size_t L>
    const tensor_type& backward_level(const tensor_type& in, const tensor_type& g_above) {
        auto& skip = std::get<L>(skip_);
        auto& dec = std::get<L>(dec_);
        auto& up = std::get<L>(up_);
        auto& down = std::get<L>(down_);
        auto& enc = std::get<L>(enc_);
        const tensor_type& g_out = with_decoder_grad<L>(g_above);
        // g_above (below_grad of the level above) is read for the last time in one of these.
        const tensor_type* gskip = nullptr;
        const tensor_type* gup = nullptr;
        if constexpr (trains_skip_in_place<L>) {
            if (two_input_[L]) {
                // The decoder read the skip and the up-sampled map where they lie (forward_level):
                // its first convolution writes their gradients, the up-sampled map's into a level
                // buffer.
                tensor_type& buffer = ws_.get()[exec::slot::up_grad];
                dec.swap_second_input_grad(buffer);
                try {
                    gskip = &dec.backward_two(enc.output(), up.output(), g_out).first;
                } catch (...) {
                    dec.swap_second_input_grad(buffer);
                    throw;
                }
                dec.swap_second_input_grad(buffer);
                gup = &buffer;
            }
        }
        if (!gskip) {
            const tensor_type& gm = lent_backward(dec, exec::slot::dec_grad, [&]() -> const tensor_type& {
                return dec.backward(skip.output(), g_out);
            });
            // A skip policy with parameters on its inputs (a gated or convolved skip) takes the two
            // inputs of its last forward, as layers do: backward(skip, up, dy). A plain
            // concatenation writes the up-sampled map's gradient into a level buffer.
            if constexpr (requires { skip.backward(enc.output(), up.output(), gm); }) {
                auto [a, b] = skip.backward(enc.output(), up.output(), gm);
                gskip = &a;
                gup = &b;
            } else if constexpr (requires(tensor_type& t) { skip.swap_second_input_grad(t); }) {
                tensor_type& buffer = ws_.get()[exec::slot::up_grad];
                skip.swap_second_input_grad(buffer);
                auto [a, b] = skip.backward(gm);
                skip.swap_second_input_grad(buffer);
                gskip = &a;
                gup = &buffer;
                (void)b;
            } else {
                auto [a, b] = skip.backward(gm);
                gskip = &a;
                gup = &b;
            }
            // gm (dec_grad) is dead from here.
        }
        const tensor_type* g_pooled;
        if constexpr (L + 1 < static_cast<std::size_t>(C.depth)) {
            const tensor_type& gb = lent_backward(up, exec::slot::below_grad, [&]() -> const tensor_type& {
                return up.backward(std::get<L + 1>(dec_).output(), *gup);
            });
            // gup (up_grad) is dead; gb is read by the level below's decoder, then dead.
            g_pooled = &backward_level<L + 1>(down.output(), gb);
        } else {
            const tensor_type& gb = lent_backward(up, exec::slot::below_grad, [&]() -> const tensor_type& {
                return up.backward(bottleneck_.output(), *gup);
            });
            g_pooled = &lent_backward(bottleneck_, exec::slot::enc_grad, [&]() -> const tensor_type& {
                return bottleneck_.backward(down.output(), gb);
            });
        }
        // g_pooled (enc_grad of the level below, or the bottleneck's) is read for the last time here.
        const tensor_type& e = enc.output();
        const tensor_type& g_enc = lent_backward(down, exec::slot::pool_grad, [&]() -> const tensor_type& {
            return down.backward(e, *g_pooled);
        });
        // The encoder output feeds both the pooling and the skip: their gradients add.
        const tensor_type* sum = &g_enc;
        if (auto& acc = ws_.get()[exec::slot::pool_grad]; &g_enc == &acc) {
            B::accumulate(gskip->data(), acc.data(), static_cast<std::ptrdiff_t>(acc.size()));
        } else {
            auto& own = enc_grad_[L];
            own.resize(e.shape());
            B::add(g_enc.data(), gskip->data(), own.data(), static_cast<std::ptrdiff_t>(own.size()));
            sum = &own;
        }
        // Level 0 returns the image gradient, which must outlive this call: not lent.
        if constexpr (L == 0)
            return enc.backward(in, *sum);
        else
            return lent_backward(enc, exec::slot::enc_grad, [&]() -> const tensor_type& {
                return enc.backward(in, *sum);
            });
    }

    encoders enc_;
    downs down_;
    bottleneck_t bottleneck_;
    ups up_;
    skips skip_;
    decoders dec_;
    head_t head_;
    std::array<tensor_type, C.depth> enc_grad_;
    std::array<tensor_type, C.depth> dec_grad_;                     // decoder gradient + extra
    const std::array<const tensor_type*, C.depth>* decoder_grads_ = nullptr;  // during backward only
    shape4 in_shape_{0, 0, 0, 0};
    bool has_forward_ = false;
    io_channels io_{C.in_channels, C.classes};  // the run-time counts (see unet(seed, io_channels))
    bool input_grad_ = false;
    exec::workspace_handle<tensor_type> ws_;  // the buffers lent to levels and blocks (exec/workspace.hpp)
    bool lend_outputs_ = false;  // the last forward wrote short-lived level results to workspace slots
    std::array<bool, C.depth> two_input_{};  // the last forward's decoders that read skip and up in place
};

}  // namespace unetpp
