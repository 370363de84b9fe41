#pragma once
/// \file Conv2d: k x k cross-correlation with stride, zero / reflect / no padding, optional bias.
/// Parameters `weight` [out, in, k, k] and `bias` [out], as torch.nn.Conv2d.

#include <concepts>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

/// How a convolution treats the border.
enum class padding {
    valid,    ///< no padding: output shrinks by k - 1 (the original U-Net)
    same,     ///< zero padding of k/2 on every side: output keeps its size at stride 1
    reflect,  ///< mirror padding of k/2 without repeating the edge (PyTorch padding_mode="reflect")
};

/// Compile-time configuration of a Conv2d. `in` or `out` may be `runtime_channels`: that side's
/// count is then chosen when the layer is set up (set_input_channels / set_output_channels,
/// called by a network built with run-time boundary channels, see models/unet.hpp).
struct conv2d_cfg {
    int in = 1;          ///< input channels (or runtime_channels)
    int out = 1;         ///< output channels (or runtime_channels)
    int kernel = 3;      ///< square kernel size
    int stride = 1;
    padding pad = padding::same;
    bool bias = true;
};

/// Padding on each side for a convolution configuration.
constexpr int conv_pad_amount(const conv2d_cfg& c) noexcept { return c.pad == padding::valid ? 0 : c.kernel / 2; }
template <conv2d_cfg C>
constexpr int conv_pad_amount() noexcept {
    return conv_pad_amount(C);
}

/// Output shape of a convolution for input `in`, or nullopt when the input is impossible.
/// A side given as runtime_channels accepts any input channel count and gives an output shape
/// whose channel count is runtime_channels (the layer object knows the real one).
constexpr std::optional<shape4> conv2d_output_shape(const conv2d_cfg& c, shape4 in) noexcept {
    const int pad = conv_pad_amount(c);
    if ((c.in != runtime_channels && in.c != c.in) || in.n < 1) return std::nullopt;
    const int h = in.h + 2 * pad, w = in.w + 2 * pad;
    if (h < c.kernel || w < c.kernel) return std::nullopt;
    // Reflect padding cannot mirror more pixels than the image has.
    if (c.pad == padding::reflect && (pad >= in.h || pad >= in.w)) return std::nullopt;
    return shape4{in.n, c.out, (h - c.kernel) / c.stride + 1, (w - c.kernel) / c.stride + 1};
}

/// "conv2d<in=.., out=.., k=.., stride=.., same>", the layer's name in messages.
inline std::string describe_conv2d(const conv2d_cfg& c) {
    return "conv2d<in=" + channels_text(c.in) + ", out=" + channels_text(c.out) + ", k=" +
           std::to_string(c.kernel) + ", stride=" + std::to_string(c.stride) + ", " +
           (c.pad == padding::valid ? "valid" : c.pad == padding::same ? "same" : "reflect") + ">";
}

namespace detail {

/// Everything a Conv2d does at run time, written once per value type and backend. Every
/// conv2d<C> of a network shares this code, with the configuration as a run-time value; the
/// typed shell conv2d<C> adds the compile-time facts (shapes, counts, static checks). This keeps
/// the code the compiler generates per network small (see docs/ARCHITECTURES.md, compile time).
template <class B, class T>
class conv2d_core : public layer_base<B, T> {
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;
    using pointer = typename tensor_type::pointer;
    using const_pointer = typename tensor_type::const_pointer;

    shape4 output_shape(shape4 in) const {
        if (auto s = conv2d_output_shape(cfg_, in)) return *s;
        if (cfg_.in == 0 || cfg_.out == 0)
            throw shape_error(describe_conv2d(cfg_) + ": its run-time channel count was never set; build the network "
                                                      "with its channels (e.g. unet(seed, {.in_channels = 3, .classes = 4}))");
        const int min_side = cfg_.pad == padding::valid ? cfg_.kernel : 1 + (cfg_.pad == padding::reflect ? pad_ : 0);
        throw_shape_error(describe_conv2d(cfg_),
                          "[N, " + std::to_string(cfg_.in) + ", H, W] with H, W >= " + std::to_string(min_side), in);
    }

    void init(rng& r) {
        const auto fan_in = static_cast<std::size_t>(cfg_.in) * cfg_.kernel * cfg_.kernel;
        init_he(weight_, cfg_.bias ? &bias_ : nullptr, r, fan_in);
    }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::conv2d_forward(geometry(x.shape()), x.data(), weight_.data(), bias_ptr(), this->y_.data());
        return this->y_;
    }

    /// Fused forward for inference: writes act(scale * conv(x) + shift) into `y`, which the caller
    /// has sized to the output shape (another layer's buffer, see layer_base::fused_output); scale
    /// and shift are per output channel and may be null, act is ReLU when `relu` is set. This
    /// layer's own output is not written, and its backward throws until the next forward.
    void forward_fused(const tensor_type& x, const_pointer scale, const_pointer shift, bool relu, tensor_type& y) {
        const shape4 out = output_shape(x.shape());
        if (y.shape() != out)
            throw shape_error(describe_conv2d(cfg_) + ": fused output buffer has shape " + y.shape().str() +
                              ", expected " + out.str());
        this->remember_inference_input(x.shape());
        B::conv2d_forward_fused(geometry(x.shape()), x.data(), weight_.data(), bias_ptr(), scale, shift, relu, y.data());
    }

    /// Whether forward_fused_two can run on inputs of shapes `a` and `b` on this backend and
    /// geometry: the input channels are a's, centre-cropped to b's size, then b's.
    bool can_forward_fused_two(const shape4& a, const shape4& b) const {
        if constexpr (requires(const backend::conv_geometry& g) {
                          { B::template conv2d_forward_fused_two_supported<T>(g, 0, 0, 0) } -> std::same_as<bool>;
                      }) {
            if (a.n != b.n || a.h < b.h || a.w < b.w || a.c < 1 || b.c < 1) return false;
            const shape4 cat{a.n, a.c + b.c, b.h, b.w};
            return conv2d_output_shape(cfg_, cat).has_value() &&
                   B::template conv2d_forward_fused_two_supported<T>(geometry(cat), a.c, a.h, a.w);
        } else {
            (void)a, (void)b;
            return false;
        }
    }

    /// forward_fused on the channel concatenation [a centre-cropped to b's size, b], read where a
    /// and b lie (a decoder's skip and up-sampled map under inference_mode): the same output, bit
    /// for bit, without the concatenated map. Only where can_forward_fused_two(a.shape(), b.shape()).
    void forward_fused_two(const tensor_type& a, const tensor_type& b, const_pointer scale, const_pointer shift,
                           bool relu, tensor_type& y) {
        if constexpr (requires(const backend::conv_geometry& g) {
                          B::template conv2d_forward_fused_two_supported<T>(g, 0, 0, 0);
                      }) {
            if (!can_forward_fused_two(a.shape(), b.shape()))
                throw shape_error(describe_conv2d(cfg_) + ": cannot read inputs " + a.shape().str() + " and " +
                                  b.shape().str() + " as one; concatenate them (can_forward_fused_two said no)");
            const shape4 sa = a.shape(), sb = b.shape();
            const shape4 cat{sb.n, sa.c + sb.c, sb.h, sb.w};
            const shape4 out = output_shape(cat);
            if (y.shape() != out)
                throw shape_error(describe_conv2d(cfg_) + ": fused output buffer has shape " + y.shape().str() +
                                  ", expected " + out.str());
            this->remember_inference_input(cat);
            B::conv2d_forward_fused_two(geometry(cat), a.data(), sa.h, sa.w, b.data(), sa.c, weight_.data(),
                                        bias_ptr(), scale, shift, relu, y.data());
        } else {
            (void)a, (void)b, (void)scale, (void)shift, (void)relu, (void)y;
            throw std::logic_error(describe_conv2d(cfg_) + ": this backend reads one input tensor per convolution");
        }
    }

    /// Whether forward_two and backward_two can run on inputs of shapes `a` and `b` (of one size;
    /// the input channels are a's, then b's) on this backend and geometry.
    bool can_run_two(const shape4& a, const shape4& b) const {
        if constexpr (requires(const backend::conv_geometry& g) {
                          { B::template conv2d_two_inputs_supported<T>(g, 0) } -> std::same_as<bool>;
                      }) {
            if (a.n != b.n || a.h != b.h || a.w != b.w || a.c < 1 || b.c < 1) return false;
            const shape4 cat{a.n, a.c + b.c, a.h, a.w};
            return conv2d_output_shape(cfg_, cat).has_value() &&
                   B::template conv2d_two_inputs_supported<T>(geometry(cat), a.c);
        } else {
            (void)a, (void)b;
            return false;
        }
    }

    /// forward on the channel concatenation [a, b], read where a and b lie (a decoder's skip and
    /// up-sampled map in training): the same output without the concatenated map. backward_two
    /// takes the same a and b. Only where can_run_two(a.shape(), b.shape()).
    const tensor_type& forward_two(const tensor_type& a, const tensor_type& b) {
        if constexpr (requires(const backend::conv_geometry& g) { B::template conv2d_two_inputs_supported<T>(g, 0); }) {
            const shape4 cat = checked_two(a, b);
            this->remember_input(cat);
            this->y_.resize(output_shape(cat));
            B::conv2d_forward_two(geometry(cat), a.data(), b.data(), a.shape().c, weight_.data(), bias_ptr(),
                                  this->y_.data());
            return this->y_;
        } else {
            (void)a, (void)b;
            throw std::logic_error(describe_conv2d(cfg_) + ": this backend reads one input tensor per convolution");
        }
    }

    /// The backward of forward_two: the weight gradients, and the gradients of a (this layer's
    /// input gradient) and of b (its second input gradient, see swap_second_input_grad).
    std::pair<const tensor_type&, const tensor_type&> backward_two(const tensor_type& a, const tensor_type& b,
                                                                   const tensor_type& dy) {
        if constexpr (requires(const backend::conv_geometry& g) { B::template conv2d_two_inputs_supported<T>(g, 0); }) {
            const shape4 cat = checked_two(a, b);
            this->check_backward(describe_conv2d(cfg_), cat, dy);
            const auto g = geometry(cat);
            B::conv2d_backward_weights_two(g, a.data(), b.data(), a.shape().c, dy.data(), dweight_.data(),
                                           cfg_.bias ? dbias_.data() : pointer{});
            this->gradients_final(dweight_, dbias_);
            this->dx_.resize(a.shape());
            dx_second_.resize(b.shape());
            B::conv2d_backward_data_two(g, dy.data(), weight_.data(), this->dx_.data(), dx_second_.data(), a.shape().c);
            return {this->dx_, dx_second_};
        } else {
            (void)a, (void)b, (void)dy;
            throw std::logic_error(describe_conv2d(cfg_) + ": this backend reads one input tensor per convolution");
        }
    }
    /// Exchanges the buffer of backward_two's second input gradient with `other` (a network lends
    /// it a short-lived buffer, as swap_input_grad does for the first).
    void swap_second_input_grad(tensor_type& other) noexcept { std::swap(dx_second_, other); }

    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe_conv2d(cfg_), x, dy);
        const auto g = geometry(x.shape());
        B::conv2d_backward_weights(g, x.data(), dy.data(), dweight_.data(), cfg_.bias ? dbias_.data() : pointer{});
        this->gradients_final(dweight_, dbias_);  // before backward-data, which the exchange can overlap
        if (!this->need_input_grad_) {
            // First layer of a network: the image needs no gradient, so skip backward-data.
            this->dx_.resize(shape4{0, 0, 0, 0});
            return this->dx_;
        }
        this->dx_.resize(x.shape());
        B::conv2d_backward_data(g, dy.data(), weight_.data(), this->dx_.data());
        return this->dx_;
    }

    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        f(join_name(prefix, "weight"), weight_, dweight_);
        if (cfg_.bias) f(join_name(prefix, "bias"), bias_, dbias_);
    }
    template <class F>
    void visit_buffers(std::string_view, F&&) {}

    tensor_type& weight() noexcept { return weight_; }
    tensor_type& bias() noexcept { return bias_; }
    /// The configuration with the run-time channel counts filled in.
    [[nodiscard]] const conv2d_cfg& run_cfg() const noexcept { return cfg_; }
    tensor_type& weight_grad() noexcept { return dweight_; }
    tensor_type& bias_grad() noexcept { return dbias_; }

protected:
    /// A side given as runtime_channels starts with 0 channels (no weights) until
    /// set_channels gives it its count.
    explicit conv2d_core(const conv2d_cfg& c) : pad_(conv_pad_amount(c)) {
        conv2d_cfg fixed = c;
        if (fixed.in == runtime_channels) fixed.in = 0;
        if (fixed.out == runtime_channels) fixed.out = 0;
        set_channels(fixed.in, fixed.out, c);
    }

    /// Re-sizes the weights for `in` x `out` channels and initialises them as a new layer would
    /// (the network's init(seed) then draws them from its seed).
    void set_channels(int in, int out, conv2d_cfg c) {
        c.in = in;
        c.out = out;
        cfg_ = c;
        weight_ = tensor_type(shape4{c.out, c.in, c.kernel, c.kernel});
        dweight_ = tensor_type(weight_.shape());
        if (c.bias) {
            bias_ = tensor_type(shape4{1, 1, 1, c.out});
            dbias_ = tensor_type(bias_.shape());
        }
        if (in > 0 && out > 0) {
            rng r(0x5eed);
            init(r);
        }
    }

private:
    const_pointer bias_ptr() const noexcept { return cfg_.bias ? bias_.data() : const_pointer{}; }
    /// The concatenation's shape for forward_two and backward_two, or a shape_error.
    shape4 checked_two(const tensor_type& a, const tensor_type& b) const {
        if (!can_run_two(a.shape(), b.shape()))
            throw shape_error(describe_conv2d(cfg_) + ": cannot read inputs " + a.shape().str() + " and " +
                              b.shape().str() + " as one; concatenate them (can_run_two said no)");
        return shape4{a.shape().n, a.shape().c + b.shape().c, a.shape().h, a.shape().w};
    }
    backend::conv_geometry geometry(const shape4& in) const noexcept {
        return {in.n,        cfg_.in, in.h, in.w, cfg_.out, cfg_.kernel, cfg_.kernel, cfg_.stride, pad_,
                cfg_.pad == padding::reflect ? backend::pad_kind::reflect : backend::pad_kind::zero};
    }

    conv2d_cfg cfg_;
    int pad_;
    tensor_type weight_, dweight_, bias_, dbias_;
    tensor_type dx_second_;  // backward_two's gradient of its second input
};

}  // namespace detail

/// Conv2d layer; see conv2d_cfg.
template <conv2d_cfg C, backend::backend_type B = backend::cpu, class T = float>
class conv2d : public detail::conv2d_core<B, T> {
    static_assert(C.in > 0 || C.in == runtime_channels,
                  "conv2d: cfg.in (input channels) must be positive, or runtime_channels");
    static_assert(C.out > 0 || C.out == runtime_channels,
                  "conv2d: cfg.out (output channels) must be positive, or runtime_channels");
    static_assert(C.kernel > 0, "conv2d: cfg.kernel must be positive");
    static_assert(C.stride > 0, "conv2d: cfg.stride must be positive");
    static_assert(C.pad == padding::valid || C.kernel % 2 == 1,
                  "conv2d: 'same' and 'reflect' padding need an odd kernel size (cfg.kernel is even); "
                  "use padding::valid or an odd kernel");

public:
    static constexpr conv2d_cfg cfg = C;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr int pad = conv_pad_amount(C);
    /// Whether a channel count is chosen at run time (the counts below then do not exist at
    /// compile time: count the object's parameters instead, e.g. layer_tree::count_parameters).
    static constexpr bool runtime_sized = C.in == runtime_channels || C.out == runtime_channels;
    static constexpr std::size_t weight_count =
        detail::compile_time_count<!runtime_sized>(static_cast<std::size_t>(C.out) * C.in * C.kernel * C.kernel);
    static constexpr std::size_t parameter_count = weight_count + (C.bias ? C.out : 0);
    static constexpr std::size_t buffer_count = 0;
    /// Multiply-adds per output pixel (for FLOP counts: 2 flops per multiply-add).
    static constexpr std::size_t macs_per_pixel =
        detail::compile_time_count<!runtime_sized>(static_cast<std::size_t>(C.in) * C.kernel * C.kernel * C.out);

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept { return conv2d_output_shape(C, in); }
    static std::string describe() { return describe_conv2d(C); }

    conv2d() : detail::conv2d_core<B, T>(C) {}

    /// Gives a runtime_channels input side its count (1 to max_runtime_channels); the weights
    /// are re-sized and re-initialised.
    void set_input_channels(int in)
        requires(C.in == runtime_channels)
    {
        check_runtime_channels(describe() + " input channels", in);
        this->set_channels(in, this->run_cfg().out, this->run_cfg());
    }
    /// Gives a runtime_channels output side its count (1 to max_runtime_channels).
    void set_output_channels(int out)
        requires(C.out == runtime_channels)
    {
        check_runtime_channels(describe() + " output channels", out);
        this->set_channels(this->run_cfg().in, out, this->run_cfg());
    }
};

}  // namespace unetpp
