#include <unetpp/unet.hpp>
#include <cstdio>
int main() {
    using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
    static_assert(net_t::parameter_count > 0);
    net_t net(/*seed=*/1);
    unetpp::tensor<float> x(unetpp::shape4{1, 1, 16, 16}, 0.5f);
    const auto& y = net.forward(x);
    std::printf("output %s, parameters %zu\n", y.shape().str().c_str(), static_cast<std::size_t>(net_t::parameter_count));
    return y.shape() == unetpp::shape4{1, 1, 16, 16} ? 0 : 1;
}
