// A downstream-style program: define your own U-Net variant as a type alias, check its size at
// compile time, and train it for a few steps. It includes only the umbrella header, as a user
// of the installed package would.
//
// Exits 0 when the loss on a fixed synthetic batch drops during training, 1 otherwise.

#include <unetpp/unet.hpp>

#include <cmath>
#include <cstdio>
#include <exception>

// Depth 3, 16 channels at the first level, reflection padding (no zero border artefacts).
using my_unet = unetpp::unet<unetpp::unet_cfg{
    .in_channels = 1, .classes = 1, .base = 16, .depth = 3, .pad = unetpp::padding::reflect}>;

// The parameter count is a compile-time constant of the type.
constexpr std::size_t my_parameters = my_unet::parameter_count;
static_assert(my_parameters > 0);

int main() {
    try {
        std::printf("my_unet: depth %d, base %d, reflect padding, %zu parameters (%zu non-trainable)\n",
                    my_unet::depth, my_unet::cfg.base, my_parameters, my_unet::buffer_count);

        // A fixed batch of 4 images 32 x 32: a dark disc on a noisy bright background; the mask
        // is the disc. Built here so the program needs nothing beyond the umbrella header.
        constexpr int n = 4, s = 32;
        unetpp::tensor<float> x(unetpp::shape4{n, 1, s, s}), y(unetpp::shape4{n, 1, s, s});
        unetpp::rng r(7);
        for (int i = 0; i < n; ++i) {
            const double cx = r.uniform(10, 22), cy = r.uniform(10, 22), rad = r.uniform(4, 8);
            for (int h = 0; h < s; ++h)
                for (int w = 0; w < s; ++w) {
                    const bool inside = (w - cx) * (w - cx) + (h - cy) * (h - cy) < rad * rad;
                    x(i, 0, h, w) = static_cast<float>((inside ? 0.2 : 0.7) + r.normal(0.0, 0.1));
                    y(i, 0, h, w) = inside ? 1.0f : 0.0f;
                }
        }

        my_unet net(42);
        net.train();
        unetpp::optim::adam opt(net, {.lr = 2e-3});
        unetpp::losses::bce_with_logits bce;
        unetpp::tensor<float> grad;
        float first = 0, last = 0;
        constexpr int steps = 30;
        for (int step = 0; step < steps; ++step) {
            opt.zero_grad();
            const float loss = bce(net.forward(x), y, &grad);
            if (!std::isfinite(loss)) {
                std::printf("loss is not finite at step %d\n", step);
                return 1;
            }
            net.backward(x, grad);
            opt.step();
            if (step == 0) first = loss;
            last = loss;
        }
        std::printf("loss: first %.4f, last %.4f after %d steps\n", first, last, steps);
        if (!(last < first)) {
            std::printf("FAILED: the loss did not drop\n");
            return 1;
        }
        std::printf("ok: the loss dropped by %.1f%%\n", 100.0 * (first - last) / first);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "custom_variant: error: %s\n", e.what());
        return 1;
    }
}
