#pragma once
/// \file Up-sampling layers: bilinear x2 (the up path of the bilinear U-Net variants and of deep
/// supervision's auxiliary heads).

#include <cstddef>
#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Bilinear x2 upsampling, as torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False).
template <backend::backend_type B = backend::cpu, class T = float>
class upsample_bilinear2x : public layer_base<B, T> {
public:
    using tensor_type = typename layer_base<B, T>::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return shape4{in.n, in.c, 2 * in.h, 2 * in.w};
    }
    shape4 output_shape(shape4 in) const {
        return checked_output_shape<upsample_bilinear2x>(describe(), "a non-empty tensor", in);
    }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        this->remember_input(x.shape());
        this->y_.resize(out);
        B::upsample_bilinear2x_forward(x.data(), this->y_.data(), x.shape().n * x.shape().c, x.shape().h, x.shape().w);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        this->dx_.resize(x.shape());
        B::upsample_bilinear2x_backward(dy.data(), this->dx_.data(), x.shape().n * x.shape().c, x.shape().h,
                                        x.shape().w);
        return this->dx_;
    }
    static std::string describe() { return "upsample_bilinear2x"; }
};

}  // namespace unetpp
