#pragma once
/// \file Parameter-free activations: ReLU, LeakyReLU, Sigmoid, Softmax over channels.

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

namespace detail {
/// Shape-preserving layer with no parameters; Derived supplies apply() and apply_backward().
template <class Derived, class B, class T>
class shape_preserving : public layer_base<B, T> {
public:
    using tensor_type = typename layer_base<B, T>::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return in;
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<Derived>(Derived::describe(), "a non-empty tensor", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        this->remember_input(output_shape(x.shape()));
        this->y_.resize(x.shape());
        static_cast<Derived*>(this)->apply(x);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(Derived::describe(), x, dy);
        this->dx_.resize(x.shape());
        static_cast<Derived*>(this)->apply_backward(x, dy);
        return this->dx_;
    }
};
}  // namespace detail

template <backend::backend_type B = backend::cpu, class T = float>
class relu : public detail::shape_preserving<relu<B, T>, B, T> {
    friend class detail::shape_preserving<relu, B, T>;

public:
    using tensor_type = typename layer_base<B, T>::tensor_type;

private:
    void apply(const tensor_type& x) {
        B::relu_forward(x.data(), this->y_.data(), static_cast<std::ptrdiff_t>(x.size()));
    }
    void apply_backward(const tensor_type& x, const tensor_type& dy) {
        B::relu_backward(x.data(), dy.data(), this->dx_.data(), static_cast<std::ptrdiff_t>(x.size()));
    }

public:
    /// Writes the last forward's output again from its input (see batch_norm2d_core::recompute_output).
    void recompute_output(const tensor_type& x) {
        if (!this->has_forward_ || x.shape() != this->in_shape_)
            throw std::logic_error("relu: recompute_output needs the input of the last forward");
        this->y_.resize(x.shape());
        apply(x);
    }
    /// Marks the layer a Conv2d can absorb under inference_mode (see sequential).
    static constexpr bool is_relu = true;
    static std::string describe() { return "relu"; }
};

template <double Slope = 0.01, backend::backend_type B = backend::cpu, class T = float>
class leaky_relu : public detail::shape_preserving<leaky_relu<Slope, B, T>, B, T> {
    friend class detail::shape_preserving<leaky_relu, B, T>;

public:
    using tensor_type = typename layer_base<B, T>::tensor_type;

private:
    void apply(const tensor_type& x) {
        B::leaky_relu_forward(x.data(), this->y_.data(), static_cast<std::ptrdiff_t>(x.size()), static_cast<T>(Slope));
    }
    void apply_backward(const tensor_type& x, const tensor_type& dy) {
        B::leaky_relu_backward(x.data(), dy.data(), this->dx_.data(), static_cast<std::ptrdiff_t>(x.size()),
                               static_cast<T>(Slope));
    }

public:
    static std::string describe() { return "leaky_relu<" + std::to_string(Slope) + ">"; }
};

template <backend::backend_type B = backend::cpu, class T = float>
class sigmoid : public detail::shape_preserving<sigmoid<B, T>, B, T> {
    friend class detail::shape_preserving<sigmoid, B, T>;

public:
    using tensor_type = typename layer_base<B, T>::tensor_type;

private:
    void apply(const tensor_type& x) {
        B::sigmoid_forward(x.data(), this->y_.data(), static_cast<std::ptrdiff_t>(x.size()));
    }
    void apply_backward(const tensor_type& x, const tensor_type& dy) {
        B::sigmoid_backward(this->y_.data(), dy.data(), this->dx_.data(), static_cast<std::ptrdiff_t>(x.size()));
    }

public:
    static std::string describe() { return "sigmoid"; }
};

/// Softmax over the channel axis (per pixel), as torch.softmax(x, dim=1).
template <backend::backend_type B = backend::cpu, class T = float>
class softmax : public detail::shape_preserving<softmax<B, T>, B, T> {
    friend class detail::shape_preserving<softmax, B, T>;

public:
    using tensor_type = typename layer_base<B, T>::tensor_type;

private:
    void apply(const tensor_type& x) {
        const shape4 s = x.shape();
        B::softmax_channels_forward(x.data(), this->y_.data(), s.n, s.c, static_cast<std::ptrdiff_t>(s.plane()));
    }
    void apply_backward(const tensor_type& x, const tensor_type& dy) {
        const shape4 s = x.shape();
        B::softmax_channels_backward(this->y_.data(), dy.data(), this->dx_.data(), s.n, s.c,
                                     static_cast<std::ptrdiff_t>(s.plane()));
    }

public:
    static std::string describe() { return "softmax(channels)"; }
};

}  // namespace unetpp
