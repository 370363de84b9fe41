// One translation unit that instantiates what a training program needs from a preset: the
// network, its forward and backward passes, an Adam optimiser and the safetensors weight I/O.
// bench/compile_time/run.sh compiles it once per preset (-DUNETPP_PRESET=k) and once with every
// preset together (-DUNETPP_PRESET=0) and reports the compile times; nothing here is run.
#include <unetpp/io/weights.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/unet.hpp>

#include <vector>

#ifndef UNETPP_PRESET
#define UNETPP_PRESET 0
#endif

namespace {

template <class Net>
void exercise(const char* path) {
    using tensor_t = typename Net::tensor_type;
    Net net(1);
    tensor_t x, dy;
    const auto& out = net.forward(x);
    (void)out;
    if constexpr (requires { net.backward(x, dy, dy); }) {
        net.backward(x, dy, dy);  // two heads (segmentation, classification)
    } else if constexpr (requires { net.backward(x, dy, std::vector<tensor_t>{}); }) {
        net.backward(x, dy, std::vector<tensor_t>{});  // main + auxiliary heads
    } else {
        net.backward(x, dy);
    }
    unetpp::optim::adam opt(net, unetpp::optim::adam_options{});
    opt.step();
    net.zero_grad();
    unetpp::io::save_weights(net, path);
    unetpp::io::load_weights(net, path);
}

}  // namespace

namespace p = unetpp::presets;
#define UNETPP_USE(k, ...)                                            \
    void use_##k(const char* path) { exercise<__VA_ARGS__>(path); }

#if UNETPP_PRESET == 0 || UNETPP_PRESET == 1
UNETPP_USE(1, p::ronneberger2015)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 2
UNETPP_USE(2, p::unet_bn<64, 4>)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 3
UNETPP_USE(3, p::unet_cbr<64, 4>)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 4
UNETPP_USE(4, p::bcir_unet)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 5
UNETPP_USE(5, p::residual_multitask_unet<256>)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 6
UNETPP_USE(6, p::attention_unet)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 7
UNETPP_USE(7, p::unet_plusplus<32, 4>)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 8
UNETPP_USE(8, p::unet_plusplus_ds<32, 4>)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 9
UNETPP_USE(9, unetpp::deeply_supervised<p::unet_cbr<64, 4>>)
#endif
#if UNETPP_PRESET == 0 || UNETPP_PRESET == 10
UNETPP_USE(10, unetpp::presets::busi_stage_classifier<>)
#endif
