// Builds a small U-Net from the packaged headers and runs one forward pass, and decodes a
// broken JPEG (with libjpeg-turbo when the package has it), which links the image decoders.
#include <unetpp/io/image.hpp>
#include <unetpp/unet.hpp>

#include <cstdio>
#include <stdexcept>
#include <vector>

int main() {
    using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
    static_assert(net_t::parameter_count > 0);
    net_t net(/*seed=*/1);
    unetpp::tensor<float> x(unetpp::shape4{1, 1, 16, 16}, 0.5f);
    const auto& y = net.forward(x);
    std::printf("unetpp test_package: output %s, parameters %zu\n", y.shape().str().c_str(),
                static_cast<std::size_t>(net_t::parameter_count));
    bool refused = false;
    try {
        (void)unetpp::io::decode_image(std::vector<unsigned char>{0xFF, 0xD8, 0xFF, 0xD9}, 0);
    } catch (const std::runtime_error& e) {
        std::printf("unetpp test_package: broken JPEG refused: %s\n", e.what());
        refused = true;
    }
    return y.shape() == unetpp::shape4{1, 1, 16, 16} && refused ? 0 : 1;
}
