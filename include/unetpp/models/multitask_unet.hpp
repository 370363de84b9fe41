#pragma once
/// \file Multi-task U-Net (seed 002, residual U-Net for breast ultrasound): one U-Net body, two
/// heads. `forward` returns `{.segmentation, .classification}`, both `heads::logits<T>`:
///
///   body            a U-Net with the identity head (the policies P): seed 002's residual body
///                   (residual_multitask_policies) or unet_bn's (plain_multitask_policies)
///   segmentation    1x1 conv on the last decoder block -> [N, classes, H, W] logits
///   classification  one of (the Head template argument, cls_head_kind):
///     flatten   flatten(last decoder block) -> dense Hidden -> ReLU -> dense 1 -> [N, 1, 1, 1]
///               (seed 002; at base 16 and 64 x 64 the first dense alone holds 4.2 M weights)
///     gap       global average pool(last decoder block: base channels) -> dense Hidden -> ReLU -> dense 1
///     gap_deep  global average pool(deepest decoder block: base * 2^(depth-1) channels) -> dense Hidden
///               -> ReLU -> dense 1; its gradient enters the body at that decoder
///
/// The flatten size follows from the configured image size (a template argument), so the dense
/// layer's shape is fixed at compile time; a run-time image of another size is a shape_error
/// (the pooled heads keep that rule so that all heads take the same inputs).
/// The joint loss is `losses::multitask` (losses/multitask.hpp): w_seg * BCE(seg) + w_cls * BCE(cls), from logits (or
/// Dice + BCE for the segmentation term).
///
/// Parameter names: the body's (enc1.*, bottleneck.*, up1.*, dec1.*, as in a unet with the
/// same policies), seg_head.*,
/// cls_head.fc1.*, cls_head.fc2.*.

#include <array>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "../config/abi.hpp"
#include "../blocks/residual_block.hpp"
#include "../layers/activations.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/dense.hpp"
#include "../layers/reshape.hpp"
#include "../heads/outputs.hpp"
#include "unet.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Head policy for a U-Net body used inside a larger model: passes the last decoder block's
/// features through unchanged (no copy; the features stay owned by the decoder).
template <backend::backend_type B = backend::cpu, class T = float>
class identity_head : public layer_base<B, T> {
public:
    using tensor_type = typename layer_base<B, T>::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return in;
    }
    shape4 output_shape(shape4 in) const { return checked_output_shape<identity_head>(describe(), "a tensor", in); }
    const tensor_type& forward(const tensor_type& x) {
        this->remember_input(output_shape(x.shape()));
        last_ = &x;
        return x;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        if (x.shape() != dy.shape()) throw shape_error(describe() + ": gradient shape differs from the input's");
        return dy;
    }
    const tensor_type& output() const noexcept { return last_ ? *last_ : this->y_; }
    static std::string describe() { return "identity_head"; }

private:
    const tensor_type* last_ = nullptr;
};

/// Policies of seed 002's residual U-Net body: levels of three conv blocks (conv 3x3, BN,
/// ReLU, dropout), a residual bottleneck, transposed-conv up followed by dropout, concatenation
/// skips, and an identity head (the multitask model adds the real heads).
struct residual_multitask_policies : default_policies {
    static constexpr conv_block_cfg blocks(unet_cfg c, int in, int out) noexcept {
        return conv_block_cfg{.in = in, .out = out, .kernel = c.kernel, .pad = c.pad,
                              .batch_norm = c.norm == norm_kind::batch, .bias = true, .dropout = c.dropout};
    }
    template <unet_cfg C, int In, int Out, class B, class T>
    using block = triple_conv<blocks(C, In, Out), B, T>;
    template <unet_cfg C, int In, int Out, class B, class T>
    using bottleneck = residual_block<blocks(C, In, Out), B, T>;
    template <unet_cfg C, int In, int Out, class B, class T>
    using up = sequential_of<named<"conv", conv_transpose2d<conv_transpose2d_cfg{.in = In, .out = Out, .kernel = 2, .stride = 2, .padding = 0}, B, T>>,
                             optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, B, T>>>;
    template <unet_cfg C, int In, class B, class T>
    using head = identity_head<B, T>;
};

/// Policies of a plain U-Net body (unet_bn's levels: two conv 3x3 -> BN -> ReLU per level, 2x2
/// max pooling, transposed-conv up, concatenation skips) with the identity head, so that
/// multitask_unet puts its own two heads on it. With a pooled classification head this is
/// presets::unet_bn_multitask_gap: the segmentation path is exactly unet_bn's.
struct plain_multitask_policies : default_policies {
    template <unet_cfg C, int In, class B, class T>
    using head = identity_head<B, T>;
};

/// Which features the classification head of multitask_unet reads and how it reduces them to a
/// vector (see the file comment).
enum class cls_head_kind { flatten, gap, gap_deep };

/// U-Net body + segmentation head + classification head (flatten or pooled, `Head`). `C.classes`
/// is the number of segmentation maps; the classification head gives one logit per image.
template <unet_cfg C, int ImageSize, int Hidden = 64, backend::backend_type B = backend::cpu, class T = float,
          class P = residual_multitask_policies, cls_head_kind Head = cls_head_kind::flatten>
class multitask_unet {
public:
    using body_t = unet<unet_cfg{.in_channels = C.in_channels, .classes = C.base, .base = C.base, .depth = C.depth,
                                 .kernel = C.kernel, .pad = C.pad, .norm = C.norm, .dropout = C.dropout, .up = C.up},
                        B, T, P>;
    using tensor_type = typename body_t::tensor_type;
    using value_type = T;
    using backend_type = B;
    /// The configuration the model was declared with (recorded in checkpoints by io::save_weights;
    /// the body itself has C.base output maps, the segmentation head C.classes).
    static constexpr unet_cfg cfg = C;
    static constexpr int image_size = ImageSize;
    static constexpr cls_head_kind head_kind = Head;

    static_assert(ImageSize >= 1 && body_t::is_valid_size(ImageSize),
                  "multitask_unet: ImageSize is not an input size the U-Net body can take (padded bodies: a "
                  "multiple of 2^depth); the classification head's flatten size is computed from ImageSize");
    static_assert(Hidden >= 1, "multitask_unet: Hidden (units of the classification head's first dense) must be >= 1");

    /// Side of the body's output for ImageSize inputs, and the classification head's input width.
    static constexpr int feature_size = body_t::output_size(ImageSize).value_or(0);
    static constexpr long long flatten_features_ll = static_cast<long long>(C.base) * feature_size * feature_size;
    static_assert(flatten_features_ll <= INT_MAX,
                  "multitask_unet: base * ImageSize^2 (the flattened features) exceeds the dense layer's limit");
    static constexpr int flatten_features = static_cast<int>(flatten_features_ll);

    /// Decoder level the classification head reads (0: the last decoder block, the body's output;
    /// depth - 1: the deepest one) and its channels.
    static constexpr int cls_level = Head == cls_head_kind::gap_deep ? C.depth - 1 : 0;
    static constexpr int cls_channels = body_t::channels(cls_level);
    /// Width of the vector the first dense of the classification head takes.
    static constexpr int cls_features = Head == cls_head_kind::flatten ? flatten_features : cls_channels;

    using seg_head_t = conv2d<conv2d_cfg{.in = C.base, .out = C.classes, .kernel = 1, .pad = padding::valid}, B, T>;
    using cls_reduce_t = std::conditional_t<Head == cls_head_kind::flatten, named<"flatten", flatten<B, T>>,
                                            named<"pool", global_avg_pool<B, T>>>;
    using cls_head_t = sequential<cls_reduce_t, named<"fc1", dense<dense_cfg{.in = cls_features, .out = Hidden}, B, T>>,
                                  named<"relu", relu<B, T>>, named<"fc2", dense<dense_cfg{.in = Hidden, .out = 1}, B, T>>>;

    static constexpr std::size_t parameter_count =
        body_t::parameter_count + seg_head_t::parameter_count + cls_head_t::parameter_count;
    static constexpr std::size_t buffer_count = body_t::buffer_count;

    /// One line naming the architecture (checkpoint metadata and error messages).
    static std::string describe() {
        // The flatten head and the residual body keep the name they had before the pooled heads
        // and the plain body existed (checkpoints).
        return "multitask_unet<" + body_t::describe() +
               (std::is_same_v<P, plain_multitask_policies> ? std::string(", body unet_bn") : std::string()) +
               ", image " + std::to_string(ImageSize) + ", hidden " + std::to_string(Hidden) +
               (Head == cls_head_kind::gap        ? std::string(", head gap")
                : Head == cls_head_kind::gap_deep ? std::string(", head gap_deep")
                                                  : std::string()) +
               ">";
    }

    explicit multitask_unet(std::uint64_t seed = 0) { init(seed); }
    void init(std::uint64_t seed) {
        body_.init(seed);
        rng r(seed ^ 0x4ead5u);
        seg_.init(r);
        cls_.init(r);
    }

    /// Throws shape_error unless `in` is [N, in_channels, ImageSize, ImageSize].
    static void validate(const shape4& in) {
        if (in.h != ImageSize || in.w != ImageSize)
            throw shape_error("multitask_unet: the classification head was built for " + std::to_string(ImageSize) +
                              " x " + std::to_string(ImageSize) + " images (flatten of " +
                              std::to_string(flatten_features) + " features), got " + std::to_string(in.h) + " x " +
                              std::to_string(in.w) + " (input " + in.str() +
                              "); resize the image or instantiate the model with ImageSize = " + std::to_string(in.h));
        body_t::validate(in);
    }

    multitask_outputs<T, typename B::memory> forward(const tensor_type& x) {
        validate(x.shape());
        const tensor_type& f = body_.forward_tapped(x, [&](auto level, const tensor_type& map) {
            // The deepest decoder's map is read while it is valid (under inference_mode the
            // decoders share one workspace slot); in training it stays the decoder's own output.
            if constexpr (cls_level != 0 && decltype(level)::value == static_cast<std::size_t>(cls_level)) {
                cls_.forward(map);
            }
        });
        seg_.forward(f);
        if constexpr (cls_level == 0) cls_.forward(f);
        return {heads::logits<T, typename B::memory>(seg_.output()), heads::logits<T, typename B::memory>(cls_.output())};
    }

    /// Backward from the gradients of the loss with respect to both logit tensors; adds the
    /// parameter gradients and returns dL/dx when need_input_grad(true) was set.
    const tensor_type& backward(const tensor_type& x, const tensor_type& dseg, const tensor_type& dcls) {
        const tensor_type& f = body_.output();
        const tensor_type& gs = seg_.backward(f, dseg);
        if (detach_cls_) {
            // The classification head learns from its features; the body gets the segmentation
            // gradient only (a stop-gradient between body and classification head).
            if constexpr (cls_level == 0) {
                (void)cls_.backward(f, dcls);
            } else {
                (void)cls_.backward(body_.template decoder<static_cast<std::size_t>(cls_level)>().output(), dcls);
            }
            return body_.backward(x, gs);
        }
        if constexpr (cls_level == 0) {
            const tensor_type& gc = cls_.backward(f, dcls);
            dfeat_.resize(f.shape());
            B::add(gs.data(), gc.data(), dfeat_.data(), static_cast<std::ptrdiff_t>(dfeat_.size()));
            return body_.backward(x, dfeat_);
        } else {
            const tensor_type& features = body_.template decoder<static_cast<std::size_t>(cls_level)>().output();
            const tensor_type& gc = cls_.backward(features, dcls);
            std::array<const tensor_type*, static_cast<std::size_t>(C.depth)> decoder_grads{};
            decoder_grads[static_cast<std::size_t>(cls_level)] = &gc;
            return body_.backward(x, gs, decoder_grads);
        }
    }

    void need_input_grad(bool on) { body_.need_input_grad(on); }
    /// With `on`, backward keeps the classification head's gradient out of the shared body: the
    /// head's own parameters still learn, the body learns from the segmentation term alone, so
    /// the segmentation path trains exactly as without the classification term. Default off.
    void detach_classification(bool on) noexcept { detach_cls_ = on; }
    bool classification_detached() const noexcept { return detach_cls_; }
    void train(bool on = true) {
        body_.train(on);
        seg_.train(on);
        cls_.train(on);
    }
    void eval() { train(false); }

    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        parameter_visitor_ref<tensor_type> ref(f);  // one walk per model, whatever f is (layer.hpp)
        body_.visit_parameters(prefix, ref);
        seg_.visit_parameters(join_name(prefix, "seg_head"), ref);
        cls_.visit_parameters(join_name(prefix, "cls_head"), ref);
    }
    template <class F>
    void visit_parameters(F&& f) {
        visit_parameters(std::string_view{}, std::forward<F>(f));
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        buffer_visitor_ref<tensor_type> ref(f);
        body_.visit_buffers(prefix, ref);
    }
    template <class F>
    void visit_buffers(F&& f) {
        visit_buffers(std::string_view{}, std::forward<F>(f));
    }
    void zero_grad() {
        visit_parameters([](std::string_view, tensor_type&, tensor_type& g) { g.zero(); });
    }
    body_t& body() noexcept { return body_; }

private:
    body_t body_;
    seg_head_t seg_;
    cls_head_t cls_;
    tensor_type dfeat_;
    bool detach_cls_ = false;
};

}  // namespace unetpp
