// Built only against a package installed with UNETPP_WITH_CUDA=ON: a program that links
// unetpp::cuda and nothing else of CUDA's. It prints the backend's summary and, where a device
// is usable, runs a small U-Net on it.
#include <unetpp/unet.hpp>
#include <cstdio>
int main() {
    static_assert(unetpp::backend::cuda::available, "unetpp::cuda must define UNETPP_WITH_CUDA=1");
    std::printf("%s\n", unetpp::cuda_runtime::summary().c_str());
    if (!unetpp::cuda_runtime::probe_device().usable) return 0;
    using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2},
                               unetpp::backend::cuda>;
    net_t net(/*seed=*/1);
    unetpp::tensor<float, unetpp::memory::cuda_device> x;
    x.assign(unetpp::tensor<float>(unetpp::shape4{1, 1, 16, 16}, 0.5f));
    const auto y = unetpp::to_host(net.forward(x));
    return y.shape() == unetpp::shape4{1, 1, 16, 16} ? 0 : 1;
}
