#pragma once
/// \file ConvTranspose2d (the U-Net "up-convolution"): out = s(in - 1) + k - 2p.
/// Parameters `weight` [in, out, k, k] and `bias` [out], as torch.nn.ConvTranspose2d.

#include <cstddef>
#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

struct conv_transpose2d_cfg {
    int in = 1;
    int out = 1;
    int kernel = 2;
    int stride = 2;
    int padding = 0;
    bool bias = true;
};

/// Output size of a transposed convolution along one axis: s(in - 1) + k - 2p.
constexpr int conv_transpose2d_output_size(const conv_transpose2d_cfg& c, int in) noexcept {
    return c.stride * (in - 1) + c.kernel - 2 * c.padding;
}

/// Output shape of a transposed convolution for input `in`, or nullopt when impossible.
constexpr std::optional<shape4> conv_transpose2d_output_shape(const conv_transpose2d_cfg& c, shape4 in) noexcept {
    if (in.c != c.in || in.n < 1 || in.h < 1 || in.w < 1) return std::nullopt;
    const int oh = conv_transpose2d_output_size(c, in.h), ow = conv_transpose2d_output_size(c, in.w);
    if (oh < 1 || ow < 1) return std::nullopt;
    return shape4{in.n, c.out, oh, ow};
}

/// "conv_transpose2d<in=.., out=.., k=.., stride=.., padding=..>", the layer's name in messages.
inline std::string describe_conv_transpose2d(const conv_transpose2d_cfg& c) {
    return "conv_transpose2d<in=" + std::to_string(c.in) + ", out=" + std::to_string(c.out) +
           ", k=" + std::to_string(c.kernel) + ", stride=" + std::to_string(c.stride) +
           ", padding=" + std::to_string(c.padding) + ">";
}

namespace detail {

/// Everything a ConvTranspose2d does at run time, shared by every conv_transpose2d<C> of a
/// network (see conv2d_core).
template <class B, class T>
class conv_transpose2d_core : public layer_base<B, T> {
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;

    shape4 output_shape(shape4 in) const {
        if (auto s = conv_transpose2d_output_shape(cfg_, in)) return *s;
        throw_shape_error(describe_conv_transpose2d(cfg_), "[N, " + std::to_string(cfg_.in) + ", H, W]", in);
    }

    void init(rng& r) {
        // fan_in of a transposed convolution as PyTorch computes it: weight.size(1) * k * k.
        const auto fan_in = static_cast<std::size_t>(cfg_.out) * cfg_.kernel * cfg_.kernel;
        init_he(weight_, cfg_.bias ? &bias_ : nullptr, r, fan_in);
    }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::conv_transpose2d_forward(geometry(x.shape()), x.data(), weight_.data(), cfg_.bias ? bias_.data() : typename tensor_type::const_pointer{},
                                    this->y_.data());
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe_conv_transpose2d(cfg_), x, dy);
        const auto g = geometry(x.shape());
        B::conv_transpose2d_backward_weights(g, x.data(), dy.data(), dweight_.data(),
                                             cfg_.bias ? dbias_.data() : typename tensor_type::pointer{});
        this->gradients_final(dweight_, dbias_);  // before backward-data, which the exchange can overlap
        this->dx_.resize(x.shape());
        B::conv_transpose2d_backward_data(g, dy.data(), weight_.data(), this->dx_.data());
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

protected:
    explicit conv_transpose2d_core(const conv_transpose2d_cfg& c)
        : cfg_(c), weight_(shape4{c.in, c.out, c.kernel, c.kernel}), dweight_(weight_.shape()) {
        if (c.bias) {
            bias_ = tensor_type(shape4{1, 1, 1, c.out});
            dbias_ = tensor_type(bias_.shape());
        }
        rng r(0x5eed);
        init(r);
    }

private:
    backend::conv_transpose_geometry geometry(const shape4& in) const noexcept {
        return {in.n, cfg_.in, in.h, in.w, cfg_.out, cfg_.kernel, cfg_.kernel, cfg_.stride, cfg_.padding};
    }
    conv_transpose2d_cfg cfg_;
    tensor_type weight_, dweight_, bias_, dbias_;
};

}  // namespace detail

template <conv_transpose2d_cfg C, backend::backend_type B = backend::cpu, class T = float>
class conv_transpose2d : public detail::conv_transpose2d_core<B, T> {
    static_assert(C.in > 0 && C.out > 0, "conv_transpose2d: cfg.in and cfg.out must be positive");
    static_assert(C.kernel > 0 && C.stride > 0, "conv_transpose2d: cfg.kernel and cfg.stride must be positive");
    static_assert(C.padding >= 0 && 2 * C.padding < C.kernel + C.stride,
                  "conv_transpose2d: cfg.padding too large for the kernel and stride");

public:
    static constexpr conv_transpose2d_cfg cfg = C;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr std::size_t parameter_count =
        static_cast<std::size_t>(C.in) * C.out * C.kernel * C.kernel + (C.bias ? C.out : 0);
    static constexpr std::size_t buffer_count = 0;

    static constexpr int output_size(int in) noexcept { return conv_transpose2d_output_size(C, in); }
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        return conv_transpose2d_output_shape(C, in);
    }
    static std::string describe() { return describe_conv_transpose2d(C); }

    conv_transpose2d() : detail::conv_transpose2d_core<B, T>(C) {}
};

/// Transposed convolution with Keras/TensorFlow padding="same": the output is exactly
/// stride * input. The full result (stride * (in - 1) + kernel) is cut to that size keeping
/// rows from (kernel - stride) / 2 on, as TensorFlow does (for k = 3, s = 2 the last row and
/// column are dropped; PyTorch's padding=1, output_padding=1 would drop the first instead).
/// Parameters `weight` [in, out, k, k] and `bias` [out], as conv_transpose2d.
template <conv_transpose2d_cfg C, backend::backend_type B = backend::cpu, class T = float>
class conv_transpose2d_same : public layer_base<B, T> {
    static_assert(C.padding == 0, "conv_transpose2d_same: cfg.padding must be 0 (the layer computes the crop)");
    static_assert(C.kernel >= C.stride, "conv_transpose2d_same: cfg.kernel must be at least cfg.stride");
    using base = layer_base<B, T>;
    using full_t = conv_transpose2d<C, B, T>;

public:
    using typename base::tensor_type;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr int offset = (C.kernel - C.stride) / 2;
    static constexpr std::size_t parameter_count = full_t::parameter_count;
    static constexpr std::size_t buffer_count = 0;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!full_t::try_output_shape(in)) return std::nullopt;
        return shape4{in.n, C.out, C.stride * in.h, C.stride * in.w};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<conv_transpose2d_same>(describe(), "[N, " + std::to_string(C.in) + ", H, W]", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        const tensor_type& f = full_.forward(x);
        const shape4 fs = f.shape();
        this->y_.resize(out);
        B::copy_window_to_channels(f.data(), fs.n, fs.c, fs.h, fs.w, offset, offset, out.h, out.w, this->y_.data(),
                                   out.c, 0);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        const shape4 fs = full_.output().shape();
        dfull_.resize(fs);
        B::copy_channels_to_window(dy.data(), fs.c, 0, fs.n, fs.c, fs.h, fs.w, offset, offset, dy.shape().h,
                                   dy.shape().w, dfull_.data());
        return full_.backward(x, dfull_);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        full_.visit_parameters(prefix, f);
    }
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
    void init(rng& r) { full_.init(r); }
    tensor_type& weight() noexcept { return full_.weight(); }
    tensor_type& bias() noexcept { return full_.bias(); }
    static std::string describe() {
        return "conv_transpose2d_same<in=" + std::to_string(C.in) + ", out=" + std::to_string(C.out) +
               ", k=" + std::to_string(C.kernel) + ", stride=" + std::to_string(C.stride) + ">";
    }

private:
    full_t full_;
    tensor_type dfull_;
};

}  // namespace unetpp
