#pragma once
/// \file MaxPool2d (window k, stride s, floor mode, no padding; overlapping windows allowed).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../backend/cpu.hpp"
#include "layer.hpp"

namespace unetpp {

struct max_pool2d_cfg {
    int window = 2;
    int stride = 2;
};

template <max_pool2d_cfg C = max_pool2d_cfg{}, class T = float, class B = backend::cpu>
class max_pool2d : public layer_base<T, B> {
    static_assert(C.window > 0 && C.stride > 0, "max_pool2d: cfg.window and cfg.stride must be positive");
    using base = layer_base<T, B>;

public:
    using typename base::tensor_type;
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
        std::int32_t* winners = nullptr;
        if (inference_only) {
            this->remember_inference_input(x.shape());
        } else {
            this->remember_input(x.shape());
            if (argmax_.size() < out.size()) argmax_.resize(out.size());
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

private:
    std::vector<std::int32_t> argmax_;
};

}  // namespace unetpp
