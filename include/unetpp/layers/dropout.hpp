#pragma once
/// \file Dropout: zeroes each element with probability p in training and scales the rest by
/// 1/(1-p) (inverted dropout, as torch.nn.Dropout); identity in eval mode. Masks come from the
/// layer's own seeded generator (one draw per pass seeds the backend's dropout_mask), so a run is
/// reproducible, and the same on every backend.

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "activations.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

template <double P, backend::backend_type B = backend::cpu, class T = float>
class dropout : public detail::shape_preserving<dropout<P, B, T>, B, T> {
    static_assert(P >= 0.0 && P < 1.0, "dropout: probability P must be in [0, 1)");
    friend class detail::shape_preserving<dropout, B, T>;

public:
    using tensor_type = typename layer_base<B, T>::tensor_type;

private:

    void apply(const tensor_type& x) {
        active_ = this->training_ && P > 0.0;
        if (!active_) {
            this->y_.assign(x);
            return;
        }
        mask_.resize(x.shape());
        // One draw of the layer's generator per pass seeds the mask, which the backend computes
        // where the tensors live (a hash of the seed and the element's index).
        B::dropout_mask(mask_.data(), static_cast<std::ptrdiff_t>(x.size()), P, gen_.next_u64());
        B::multiply(x.data(), mask_.data(), this->y_.data(), static_cast<std::ptrdiff_t>(x.size()));
    }
    void apply_backward(const tensor_type&, const tensor_type& dy) {
        if (!active_) {
            this->dx_.assign(dy);
            return;
        }
        B::multiply(dy.data(), mask_.data(), this->dx_.data(), static_cast<std::ptrdiff_t>(dy.size()));
    }

public:
    static std::string describe() { return "dropout<" + std::to_string(P) + ">"; }
    /// Seeds the mask generator (the model derives one seed per dropout layer).
    void init(rng& r) { gen_ = r.split(); }

private:
    tensor_type mask_;
    rng gen_{0xd40f};
    bool active_ = false;
};

}  // namespace unetpp
