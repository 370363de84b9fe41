#pragma once
/// \file ConvTranspose2d (the U-Net "up-convolution"): out = s(in - 1) + k - 2p.
/// Parameters `weight` [in, out, k, k] and `bias` [out], as torch.nn.ConvTranspose2d.

#include <cstddef>
#include <optional>
#include <string>

#include "../backend/cpu.hpp"
#include "layer.hpp"

namespace unetpp {

struct conv_transpose2d_cfg {
    int in = 1;
    int out = 1;
    int kernel = 2;
    int stride = 2;
    int padding = 0;
    bool bias = true;
};

template <conv_transpose2d_cfg C, class T = float, class B = backend::cpu>
class conv_transpose2d : public layer_base<T, B> {
    static_assert(C.in > 0 && C.out > 0, "conv_transpose2d: cfg.in and cfg.out must be positive");
    static_assert(C.kernel > 0 && C.stride > 0, "conv_transpose2d: cfg.kernel and cfg.stride must be positive");
    static_assert(C.padding >= 0 && 2 * C.padding < C.kernel + C.stride,
                  "conv_transpose2d: cfg.padding too large for the kernel and stride");
    using base = layer_base<T, B>;

public:
    using typename base::tensor_type;
    static constexpr conv_transpose2d_cfg cfg = C;
    static constexpr int in_channels = C.in;
    static constexpr int out_channels = C.out;
    static constexpr std::size_t parameter_count =
        static_cast<std::size_t>(C.in) * C.out * C.kernel * C.kernel + (C.bias ? C.out : 0);
    static constexpr std::size_t buffer_count = 0;

    static constexpr int output_size(int in) noexcept { return C.stride * (in - 1) + C.kernel - 2 * C.padding; }
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.c != C.in || in.n < 1 || in.h < 1 || in.w < 1) return std::nullopt;
        if (output_size(in.h) < 1 || output_size(in.w) < 1) return std::nullopt;
        return shape4{in.n, C.out, output_size(in.h), output_size(in.w)};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<conv_transpose2d>(describe(), "[N, " + std::to_string(C.in) + ", H, W]", in);
    }

    conv_transpose2d() : weight_(shape4{C.in, C.out, C.kernel, C.kernel}), dweight_(weight_.shape()) {
        if constexpr (C.bias) {
            bias_ = tensor_type(shape4{1, 1, 1, C.out});
            dbias_ = tensor_type(bias_.shape());
        }
        rng r(0x5eed);
        init(r);
    }
    void init(rng& r) {
        // fan_in of a transposed convolution as PyTorch computes it: weight.size(1) * k * k.
        init_he(weight_, C.bias ? &bias_ : nullptr, r, static_cast<std::size_t>(C.out) * C.kernel * C.kernel);
    }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::conv_transpose2d_forward(geometry(x.shape()), x.data(), weight_.data(), C.bias ? bias_.data() : nullptr,
                                    this->y_.data());
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        const auto g = geometry(x.shape());
        B::conv_transpose2d_backward_weights(g, x.data(), dy.data(), dweight_.data(), C.bias ? dbias_.data() : nullptr);
        this->dx_.resize(x.shape());
        B::conv_transpose2d_backward_data(g, dy.data(), weight_.data(), this->dx_.data());
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

    static std::string describe() {
        return "conv_transpose2d<in=" + std::to_string(C.in) + ", out=" + std::to_string(C.out) +
               ", k=" + std::to_string(C.kernel) + ", stride=" + std::to_string(C.stride) +
               ", padding=" + std::to_string(C.padding) + ">";
    }

private:
    static backend::cpu_kernels::conv_transpose_geometry geometry(const shape4& in) noexcept {
        return {in.n, C.in, in.h, in.w, C.out, C.kernel, C.kernel, C.stride, C.padding};
    }
    tensor_type weight_, dweight_, bias_, dbias_;
};

}  // namespace unetpp
