#pragma once
/// \file Flatten ([N, C, H, W] -> [N, C*H*W, 1, 1], PyTorch's C-major order) and global average
/// pooling ([N, C, H, W] -> [N, C, 1, 1]).

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

template <backend::backend_type B = backend::cpu, class T = float>
class flatten : public layer_base<B, T> {
public:
    using tensor_type = typename layer_base<B, T>::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return shape4{in.n, static_cast<int>(in.sample_size()), 1, 1};
    }
    shape4 output_shape(shape4 in) const { return checked_output_shape<flatten>(describe(), "a non-empty tensor", in); }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.assign(x);
        this->y_.reshape(out);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        this->dx_.assign(dy);
        this->dx_.reshape(x.shape());
        return this->dx_;
    }
    static std::string describe() { return "flatten"; }
};

template <backend::backend_type B = backend::cpu, class T = float>
class global_avg_pool : public layer_base<B, T> {
public:
    using tensor_type = typename layer_base<B, T>::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return shape4{in.n, in.c, 1, 1};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<global_avg_pool>(describe(), "a non-empty tensor", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::global_avg_pool_forward(x.data(), this->y_.data(), out.n * out.c, static_cast<std::ptrdiff_t>(x.shape().plane()));
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        this->dx_.resize(x.shape());
        B::global_avg_pool_backward(dy.data(), this->dx_.data(), x.shape().n * x.shape().c,
                                    static_cast<std::ptrdiff_t>(x.shape().plane()));
        return this->dx_;
    }
    static std::string describe() { return "global_avg_pool"; }
};

}  // namespace unetpp
