#pragma once
/// \file Conv2d: k x k cross-correlation with stride, zero / reflect / no padding, optional bias.
/// Parameters `weight` [out, in, k, k] and `bias` [out], as torch.nn.Conv2d.

#include <cstddef>
#include <optional>
#include <string>

#include "../backend/cpu.hpp"
#include "layer.hpp"

namespace unetpp {

/// How a convolution treats the border.
enum class padding {
    valid,    ///< no padding: output shrinks by k - 1 (the original U-Net)
    same,     ///< zero padding of k/2 on every side: output keeps its size at stride 1
    reflect,  ///< mirror padding of k/2 without repeating the edge (PyTorch padding_mode="reflect")
};

/// Compile-time configuration of a Conv2d.
struct conv2d_cfg {
    int in = 1;          ///< input channels
    int out = 1;         ///< output channels
    int kernel = 3;      ///< square kernel size
    int stride = 1;
    padding pad = padding::same;
    bool bias = true;
};

template <conv2d_cfg C>
constexpr int conv_pad_amount() noexcept {
    return C.pad == padding::valid ? 0 : C.kernel / 2;
}

/// Conv2d layer; see conv2d_cfg.
template <conv2d_cfg C, class T = float, class B = backend::cpu>
class conv2d : public layer_base<T, B> {
    static_assert(C.in > 0, "conv2d: cfg.in (input channels) must be positive");
    static_assert(C.out > 0, "conv2d: cfg.out (output channels) must be positive");
    static_assert(C.kernel > 0, "conv2d: cfg.kernel must be positive");
    static_assert(C.stride > 0, "conv2d: cfg.stride must be positive");
    static_assert(C.pad == padding::valid || C.kernel % 2 == 1,
                  "conv2d: 'same' and 'reflect' padding need an odd kernel size (cfg.kernel is even); "
                  "use padding::valid or an odd kernel");
    using base = layer_base<T, B>;

public:
    using typename base::tensor_type;
    static constexpr conv2d_cfg cfg = C;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr int pad = conv_pad_amount<C>();
    static constexpr std::size_t weight_count = static_cast<std::size_t>(C.out) * C.in * C.kernel * C.kernel;
    static constexpr std::size_t parameter_count = weight_count + (C.bias ? C.out : 0);
    static constexpr std::size_t buffer_count = 0;
    /// Multiply-adds per output pixel (for FLOP counts: 2 flops per multiply-add).
    static constexpr std::size_t macs_per_pixel = static_cast<std::size_t>(C.in) * C.kernel * C.kernel * C.out;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.c != C.in || in.n < 1) return std::nullopt;
        const int h = in.h + 2 * pad, w = in.w + 2 * pad;
        if (h < C.kernel || w < C.kernel) return std::nullopt;
        // Reflect padding cannot mirror more pixels than the image has.
        if (C.pad == padding::reflect && (pad >= in.h || pad >= in.w)) return std::nullopt;
        return shape4{in.n, C.out, (h - C.kernel) / C.stride + 1, (w - C.kernel) / C.stride + 1};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<conv2d>(describe(), "[N, " + std::to_string(C.in) + ", H, W] with H, W >= " +
                                                            std::to_string(C.pad == padding::valid ? C.kernel : 1 + (C.pad == padding::reflect ? pad : 0)),
                                            in);
    }

    conv2d() : weight_(shape4{C.out, C.in, C.kernel, C.kernel}), dweight_(weight_.shape()) {
        if constexpr (C.bias) {
            bias_ = tensor_type(shape4{1, 1, 1, C.out});
            dbias_ = tensor_type(bias_.shape());
        }
        rng r(0x5eed);
        init(r);
    }

    void init(rng& r) {
        init_he(weight_, C.bias ? &bias_ : nullptr, r, static_cast<std::size_t>(C.in) * C.kernel * C.kernel);
    }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        const T* src = padded_input(x);
        B::conv2d_forward(geometry(x.shape()), src, weight_.data(), C.bias ? bias_.data() : nullptr, this->y_.data());
        return this->y_;
    }

    /// Fused forward for inference: writes act(scale * conv(x) + shift) into `y`, which the caller
    /// has sized to the output shape (another layer's buffer, see layer_base::fused_output); scale
    /// and shift are per output channel and may be null, act is ReLU when `relu` is set. This
    /// layer's own output is not written, and its backward throws until the next forward.
    void forward_fused(const tensor_type& x, const T* scale, const T* shift, bool relu, tensor_type& y) {
        const shape4 out = output_shape(x.shape());
        if (y.shape() != out)
            throw shape_error(describe() + ": fused output buffer has shape " + y.shape().str() + ", expected " +
                              out.str());
        this->remember_inference_input(x.shape());
        const T* src = padded_input(x);
        B::conv2d_forward_fused(geometry(x.shape()), src, weight_.data(), C.bias ? bias_.data() : nullptr, scale,
                                shift, relu, y.data());
    }

    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        const auto g = geometry(x.shape());
        const T* src = padded_input(x);
        B::conv2d_backward_weights(g, src, dy.data(), dweight_.data(), C.bias ? dbias_.data() : nullptr);
        if (!this->need_input_grad_) {
            // First layer of a network: the image needs no gradient, so skip backward-data.
            this->dx_.resize(shape4{0, 0, 0, 0});
            return this->dx_;
        }
        this->dx_.resize(x.shape());
        if constexpr (!copies_padding) {
            B::conv2d_backward_data(g, dy.data(), weight_.data(), this->dx_.data());
        } else {
            T* dpad = B::template scratch<T>(backend::detail::scratch_pool<T>::padded_grad,
                                             static_cast<std::size_t>(g.n) * g.cin * g.h * g.w);
            B::conv2d_backward_data(g, dy.data(), weight_.data(), dpad);
            B::pad_backward(dpad, this->dx_.data(), x.shape().n * C.in, x.shape().h, x.shape().w, pad, border());
        }
        return this->dx_;
    }

    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        f(join_name(prefix, "weight"), weight_, dweight_);
        if constexpr (C.bias) f(join_name(prefix, "bias"), bias_, dbias_);
    }
    template <class F>
    void visit_buffers(std::string_view, F&&) {}

    tensor_type& weight() noexcept { return weight_; }
    tensor_type& bias() noexcept { return bias_; }
    tensor_type& weight_grad() noexcept { return dweight_; }
    tensor_type& bias_grad() noexcept { return dbias_; }

    static std::string describe() {
        return "conv2d<in=" + std::to_string(C.in) + ", out=" + std::to_string(C.out) + ", k=" +
               std::to_string(C.kernel) + ", stride=" + std::to_string(C.stride) + ", " +
               (C.pad == padding::valid ? "valid" : C.pad == padding::same ? "same" : "reflect") + ">";
    }

private:
    static constexpr backend::pad_kind border() noexcept {
        return C.pad == padding::reflect ? backend::pad_kind::reflect : backend::pad_kind::zero;
    }
    /// Zero padding is implicit in the kernels (no copy); only reflect padding copies the input
    /// into a padded scratch buffer (and folds the gradient back with pad_backward).
    static constexpr bool copies_padding = C.pad == padding::reflect && pad > 0;
    static backend::cpu_kernels::conv_geometry geometry(const shape4& in) noexcept {
        if constexpr (copies_padding)
            return {in.n, C.in, in.h + 2 * pad, in.w + 2 * pad, C.out, C.kernel, C.kernel, C.stride, 0};
        else
            return {in.n, C.in, in.h, in.w, C.out, C.kernel, C.kernel, C.stride, pad};
    }
    /// The input, padded into scratch memory when the layer uses reflect padding.
    const T* padded_input(const tensor_type& x) const {
        if constexpr (!copies_padding) {
            return x.data();
        } else {
            const shape4 s = x.shape();
            T* p = B::template scratch<T>(backend::detail::scratch_pool<T>::padded_input,
                                          static_cast<std::size_t>(s.n) * C.in * (s.h + 2 * pad) * (s.w + 2 * pad));
            B::pad_forward(x.data(), p, s.n * C.in, s.h, s.w, pad, border());
            return p;
        }
    }

    tensor_type weight_, dweight_, bias_, dbias_;
};

}  // namespace unetpp
