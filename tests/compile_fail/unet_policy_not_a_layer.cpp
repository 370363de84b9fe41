// expect: unet: the down policy \(P::down\) must give a type that models unetpp::Layer
// errors: 1
#include <unetpp/unet.hpp>
using namespace unetpp;
// A custom down policy whose type has a forward pass but none of the rest of the layer contract
// (no backward, no shapes, no parameters): the policy slot's concept names the slot.
template <class B, class T>
struct halve_only {
    using value_type = T;
    using backend_type = B;
    using tensor_type = tensor<T, typename B::memory>;
    const tensor_type& forward(const tensor_type& x) { return x; }
};
struct wrong_policies : default_policies {
    template <unet_cfg C, int Ch, class B, class T>
    using down = halve_only<B, T>;
};
unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}, backend::cpu, float, wrong_policies> net;
