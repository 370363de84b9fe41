#pragma once
/// \file MaxPool2d (window k, stride s, floor mode, no padding; overlapping windows allowed).

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

struct max_pool2d_cfg {
    int window = 2;
    int stride = 2;
};

template <max_pool2d_cfg C = max_pool2d_cfg{}, backend::backend_type B = backend::cpu, class T = float>
class max_pool2d : public layer_base<B, T> {
    static_assert(C.window > 0 && C.stride > 0, "max_pool2d: cfg.window and cfg.stride must be positive");
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;
    /// One int32 per output: the winning input's index in its plane.
    using index_tensor = tensor<std::int32_t, typename B::memory>;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.n < 1 || in.c < 1 || in.h < C.window || in.w < C.window) return std::nullopt;
        return shape4{in.n, in.c, (in.h - C.window) / C.stride + 1, (in.w - C.window) / C.stride + 1};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<max_pool2d>(describe(), "H, W >= " + std::to_string(C.window), in);
    }

    /// Under unetpp::inference_mode in eval mode no backward can follow, so the winners' indices
    /// (one int32 per output) are not recorded; backward then throws until the next forward.
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        const bool inference_only = inference_mode::enabled() && !this->training();
        typename index_tensor::pointer winners{};
        if (inference_only) {
            this->remember_inference_input(x.shape());
        } else {
            this->remember_input(x.shape());
            argmax_.resize(out);
            winners = argmax_.data();
        }
        this->y_.resize(out);
        B::max_pool2d_forward(x.data(), this->y_.data(), winners, x.shape().n * x.shape().c, x.shape().h,
                              x.shape().w, C.window, C.stride);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        this->dx_.resize(x.shape());
        B::max_pool2d_backward(dy.data(), argmax_.data(), this->dx_.data(), x.shape().n * x.shape().c, x.shape().h,
                               x.shape().w, dy.shape().h, dy.shape().w);
        return this->dx_;
    }
    static std::string describe() {
        return "max_pool2d<window=" + std::to_string(C.window) + ", stride=" + std::to_string(C.stride) + ">";
    }
    /// The winner of each output of the last training-mode forward: the index of the input pixel
    /// inside its window's plane (what backward routes the gradient to), one per output.
    [[nodiscard]] const index_tensor& winners() const noexcept { return argmax_; }

private:
    index_tensor argmax_;
};

/// Max pooling with stride 1 that keeps the size, as Keras MaxPooling2D(Window, strides=1,
/// padding="same"): the window at (i, j) covers rows i - (Window-1)/2 ... and is clipped at the
/// border (padding never wins the max). For Window = 2 it covers rows i, i+1 and columns j, j+1.
template <int Window = 2, backend::backend_type B = backend::cpu, class T = float>
class max_pool2d_same : public layer_base<B, T> {
    static_assert(Window >= 1, "max_pool2d_same: Window must be at least 1");
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr int before = (Window - 1) / 2;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return in;
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<max_pool2d_same>(describe(), "a non-empty tensor", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 s = output_shape(x.shape());
        this->remember_input(s);
        this->y_.resize(s);
        argmax_.resize(s);
        B::max_pool2d_same_forward(x.data(), this->y_.data(), argmax_.data(), s.n * s.c, s.h, s.w, Window);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        const shape4 s = x.shape();
        this->dx_.resize(s);
        B::max_pool2d_backward(dy.data(), argmax_.data(), this->dx_.data(), s.n * s.c, s.h, s.w, s.h, s.w);
        return this->dx_;
    }
    static std::string describe() { return "max_pool2d_same<window=" + std::to_string(Window) + ", stride=1>"; }

private:
    tensor<std::int32_t, typename B::memory> argmax_;
};

}  // namespace unetpp
