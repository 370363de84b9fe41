#pragma once
/// \file Depthwise Conv2d (one k x k filter per channel; torch.nn.Conv2d with groups = channels,
/// `weight` [C, 1, k, k]) and depthwise-separable Conv2d (depthwise without bias, then a 1x1
/// pointwise conv with bias; parameter names `depthwise.weight`, `pointwise.weight`,
/// `pointwise.bias`, as Keras SeparableConv2D counts them).

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "conv2d.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

struct depthwise_conv2d_cfg {
    int channels = 1;
    int kernel = 3;
    int stride = 1;
    padding pad = padding::same;
    bool bias = false;
};

template <depthwise_conv2d_cfg C, backend::backend_type B = backend::cpu, class T = float>
class depthwise_conv2d : public layer_base<B, T> {
    static_assert(C.channels > 0 && C.kernel > 0 && C.stride > 0,
                  "depthwise_conv2d: cfg.channels, cfg.kernel and cfg.stride must be positive");
    static_assert(C.pad == padding::valid || C.kernel % 2 == 1,
                  "depthwise_conv2d: 'same' and 'reflect' padding need an odd kernel size");
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;
    static constexpr int pad = C.pad == padding::valid ? 0 : C.kernel / 2;
    static constexpr int in_channels = C.channels;
    static constexpr int out_channels = C.channels;
    static constexpr std::size_t parameter_count =
        static_cast<std::size_t>(C.channels) * C.kernel * C.kernel + (C.bias ? C.channels : 0);
    static constexpr std::size_t buffer_count = 0;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.c != C.channels || in.n < 1) return std::nullopt;
        const int h = in.h + 2 * pad, w = in.w + 2 * pad;
        if (h < C.kernel || w < C.kernel) return std::nullopt;
        if (C.pad == padding::reflect && (pad >= in.h || pad >= in.w)) return std::nullopt;
        return shape4{in.n, C.channels, (h - C.kernel) / C.stride + 1, (w - C.kernel) / C.stride + 1};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<depthwise_conv2d>(describe(), std::to_string(C.channels) + " channels", in);
    }

    depthwise_conv2d() : weight_(shape4{C.channels, 1, C.kernel, C.kernel}), dweight_(weight_.shape()) {
        if constexpr (C.bias) {
            bias_ = tensor_type(shape4{1, 1, 1, C.channels});
            dbias_ = tensor_type(bias_.shape());
        }
        rng r(0x5eed);
        init(r);
    }
    void init(rng& r) { init_he(weight_, C.bias ? &bias_ : nullptr, r, static_cast<std::size_t>(C.kernel) * C.kernel); }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::depthwise_conv2d_forward(geometry(x.shape()), x.data(), weight_.data(),
                                    C.bias ? bias_.data() : typename tensor_type::const_pointer{}, this->y_.data());
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        this->dx_.resize(x.shape());
        B::depthwise_conv2d_backward(geometry(x.shape()), x.data(), weight_.data(), dy.data(), this->dx_.data(),
                                     dweight_.data(), C.bias ? dbias_.data() : typename tensor_type::pointer{});
        this->gradients_final(dweight_, dbias_);
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
    static std::string describe() {
        return "depthwise_conv2d<channels=" + std::to_string(C.channels) + ", k=" + std::to_string(C.kernel) + ">";
    }

private:
    static backend::depthwise_geometry geometry(const shape4& s) noexcept {
        return {s.n,      C.channels, s.h, s.w, C.kernel, C.stride, pad,
                C.pad == padding::reflect ? backend::pad_kind::reflect : backend::pad_kind::zero};
    }
    tensor_type weight_, dweight_, bias_, dbias_;
};

struct separable_conv2d_cfg {
    int in = 1;
    int out = 1;
    int kernel = 3;
    padding pad = padding::same;
    bool bias = true;
};

/// Depthwise k x k (no bias) followed by pointwise 1x1 (with bias).
template <separable_conv2d_cfg C, backend::backend_type B = backend::cpu, class T = float>
class separable_conv2d : public layer_base<B, T> {
    using base = layer_base<B, T>;
    using depthwise_t = depthwise_conv2d<depthwise_conv2d_cfg{.channels = C.in, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = false}, B, T>;
    using pointwise_t = conv2d<conv2d_cfg{.in = C.in, .out = C.out, .kernel = 1, .stride = 1, .pad = padding::valid, .bias = C.bias}, B, T>;

public:
    using typename base::tensor_type;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr std::size_t parameter_count = depthwise_t::parameter_count + pointwise_t::parameter_count;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        auto d = depthwise_t::try_output_shape(in);
        return d ? pointwise_t::try_output_shape(*d) : std::nullopt;
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<separable_conv2d>(describe(), std::to_string(C.in) + " channels", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        output_shape(x.shape());
        this->remember_input(x.shape());
        return pointwise_.forward(depthwise_.forward(x));
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        if (!this->has_forward_) throw std::logic_error(describe() + ": backward called before forward");
        return depthwise_.backward(x, pointwise_.backward(depthwise_.output(), dy));
    }
    const tensor_type& output() const noexcept { return pointwise_.output(); }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        depthwise_.visit_parameters(join_name(prefix, "depthwise"), f);
        pointwise_.visit_parameters(join_name(prefix, "pointwise"), f);
    }
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
    void init(rng& r) {
        depthwise_.init(r);
        pointwise_.init(r);
    }
    static std::string describe() {
        return "separable_conv2d<in=" + std::to_string(C.in) + ", out=" + std::to_string(C.out) +
               ", k=" + std::to_string(C.kernel) + ">";
    }

private:
    depthwise_t depthwise_;
    pointwise_t pointwise_;
};

}  // namespace unetpp
