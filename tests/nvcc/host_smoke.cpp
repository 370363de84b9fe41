// Two training steps and an inference pass of a small U-Net, printed as numbers. Built twice: by
// the project's C++ compiler (target nvcc_host_smoke_cxx) and by nvcc as CUDA source (the test
// nvcc_model_headers, tests/nvcc/nvcc_host.cmake), which compares the two outputs. It proves that
// the model headers compile under nvcc and that the host code nvcc builds computes what the C++
// build computes, a unet with runtime_channels too. `host_smoke --compare name=a,b ...` checks
// pairs of numbers instead (|a - b| <= 1e-4 * max(1, |a|, |b|)), since the CMake test script
// cannot compare floating-point values.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unetpp/optim.hpp>
#include <unetpp/unet.hpp>

namespace {

int compare(int argc, char** argv) {
    int bad = 0;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto eq = arg.find('='), comma = arg.find(',');
        if (eq == std::string::npos || comma == std::string::npos || comma < eq) {
            std::printf("bad pair '%s'\n", arg.c_str());
            return 2;
        }
        const double a = std::strtod(arg.substr(eq + 1, comma - eq - 1).c_str(), nullptr);
        const double b = std::strtod(arg.substr(comma + 1).c_str(), nullptr);
        const double tol = 1e-4 * std::max({1.0, std::fabs(a), std::fabs(b)});
        const bool ok = std::fabs(a - b) <= tol;
        std::printf("%s %s: %.9g vs %.9g\n", ok ? "same" : "DIFFERENT", arg.substr(0, eq).c_str(), a, b);
        bad += !ok;
    }
    return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--compare") == 0) return compare(argc, argv);
    using namespace unetpp;
    using net_t = presets::unet_bn<8, 2>;
    net_t net(7);
    tensor<float> x(shape4{2, 1, 16, 16}), mask(x.shape()), grad;
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = float((i * 37) % 101) / 100.0f;
        mask[i] = (i * 11) % 7 < 3 ? 1.0f : 0.0f;
    }
    // SGD: its update is linear in the gradient, so rounding differences stay rounding differences
    // (Adam divides by the root of tiny second moments and amplifies them).
    optim::sgd opt(net, {.lr = 0.05});
    losses::bce_with_logits bce;
    double loss = 0;
    for (int step = 0; step < 2; ++step) {
        opt.zero_grad();
        loss = bce(net.forward(x), mask, &grad);
        net.backward(x, grad);
        opt.step();
    }
    net.eval();
    inference_mode no_grad;
    const auto& y = net.forward(x);
    double sum = 0, abs_sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        sum += y[i];
        abs_sum += std::fabs(y[i]);
    }
    // The same network with its channels chosen at run time (runtime_channels), three classes.
    using runtime_t = unet<unet_cfg{.in_channels = runtime_channels, .classes = runtime_channels, .base = 8, .depth = 2}>;
    runtime_t rt(7, {.in_channels = 1, .classes = 3});
    rt.eval();
    const auto& z = rt.forward(x);
    double rt_sum = 0;
    for (std::size_t i = 0; i < z.size(); ++i) rt_sum += z[i];
    std::printf("loss %.9g\nsum %.9g\nabs_sum %.9g\nfirst %.9g\nlast %.9g\nruntime_sum %.9g\n", loss, sum, abs_sum,
                double(y[0]), double(y[y.size() - 1]), rt_sum);
    return std::isfinite(sum) && std::isfinite(rt_sum) && z.shape().c == 3 ? 0 : 1;
}
