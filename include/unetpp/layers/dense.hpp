#pragma once
/// \file Dense (fully connected) layer, as torch.nn.Linear: `weight` [out, in], `bias` [out].
/// Input [N, in, 1, 1] (see flatten); output [N, out, 1, 1].

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

struct dense_cfg {
    int in = 1;
    int out = 1;
    bool bias = true;
};

template <dense_cfg C, backend::backend_type B = backend::cpu, class T = float>
class dense : public layer_base<B, T> {
    static_assert(C.in > 0 && C.out > 0, "dense: cfg.in and cfg.out must be positive");
    using base = layer_base<B, T>;

public:
    using typename base::tensor_type;
    static constexpr int out_channels = C.out;
    static constexpr std::size_t parameter_count = static_cast<std::size_t>(C.in) * C.out + (C.bias ? C.out : 0);
    static constexpr std::size_t buffer_count = 0;

    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (in.n < 1 || in.sample_size() != static_cast<std::size_t>(C.in)) return std::nullopt;
        return shape4{in.n, C.out, 1, 1};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<dense>(describe(), std::to_string(C.in) + " features per sample", in);
    }

    dense() : weight_(shape4{1, 1, C.out, C.in}), dweight_(weight_.shape()) {
        if constexpr (C.bias) {
            bias_ = tensor_type(shape4{1, 1, 1, C.out});
            dbias_ = tensor_type(bias_.shape());
        }
        rng r(0x5eed);
        init(r);
    }
    void init(rng& r) { init_he(weight_, C.bias ? &bias_ : nullptr, r, static_cast<std::size_t>(C.in)); }

    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::dense_forward(x.data(), weight_.data(), C.bias ? bias_.data() : typename tensor_type::const_pointer{}, this->y_.data(), out.n, C.in, C.out);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        this->dx_.resize(x.shape());
        B::dense_backward(x.data(), weight_.data(), dy.data(), this->dx_.data(), dweight_.data(),
                          C.bias ? dbias_.data() : typename tensor_type::pointer{}, x.shape().n, C.in, C.out);
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
    tensor_type& bias() noexcept { return bias_; }
    static std::string describe() {
        return "dense<in=" + std::to_string(C.in) + ", out=" + std::to_string(C.out) + ">";
    }

private:
    tensor_type weight_, dweight_, bias_, dbias_;
};

}  // namespace unetpp
