// expect: this loss runs on host tensors only
// A loss without a backend version (here bce, on probabilities) given a device backend's logits does not
// compile, and the message lists the losses that run on a device (losses/on_backend.hpp).
#include <unetpp/losses.hpp>

#include "device_space.hpp"

struct device_backend {
    using memory = device_space;
};

int main() {
    unetpp::tensor<float, device_space> logits;
    unetpp::tensor<float> target;
    unetpp::losses::backend_buffers<float, device_space> buf;
    return static_cast<int>(
        unetpp::losses::evaluate_on<device_backend>(unetpp::losses::bce{}, logits, target, nullptr, nullptr, buf));
}
