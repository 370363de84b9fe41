// Training and inference speed of unet_bn<64,4> on the CUDA backend (issue 17's cases), one case
// per run, TF32 on or off:
//
//   build-cuda/bench/bench_unet_gpu --mode infer|train --batch 8 --size 256 [--tf32] [--iters 20]
//
// Each case runs `warmup` untimed iterations (they build the cuDNN plans and fill the allocator's
// cache), then times `iters` iterations, each ending with a wait for the stream, and prints one
// JSON line: images/s at the median iteration and at the fastest, the device allocations made
// during the timed iterations (0 expected) and the plans built. Inference runs under
// inference_mode in eval mode; training is forward, a gradient of 1/N on every logit, backward and
// an Adam step. Built with UNETPP_WITH_CUDA=ON and UNETPP_BUILD_BENCH=ON; needs a GPU (it says why
// not and exits 2 without one). scripts/gpu_check.sh runs the four cases twice, TF32 on and off.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <unetpp/backend/cuda.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;

namespace {

struct options {
    std::string mode = "infer";
    int batch = 8, size = 256, iters = 20, warmup = 3;
    bool tf32 = false;
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_unet_gpu: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--mode") o.mode = value();
        else if (a == "--batch") o.batch = std::atoi(value());
        else if (a == "--size") o.size = std::atoi(value());
        else if (a == "--iters") o.iters = std::atoi(value());
        else if (a == "--warmup") o.warmup = std::atoi(value());
        else if (a == "--tf32") o.tf32 = true;
        else {
            std::fprintf(stderr, "bench_unet_gpu: unknown option %s (see the file comment)\n", argv[i]);
            std::exit(2);
        }
    }
    if ((o.mode != "infer" && o.mode != "train") || o.batch < 1 || o.size < 16 || o.size % 16 || o.iters < 1 ||
        o.warmup < 0) {
        std::fprintf(stderr, "bench_unet_gpu: --mode infer|train, --batch >= 1, --size a multiple of 16, "
                             "--iters >= 1, --warmup >= 0\n");
        std::exit(2);
    }
    return o;
}

using net_t = presets::unet_bn<64, 4, 1, 1, backend::cuda>;
using device_tensor = tensor<float, memory::cuda_device>;

int run(const options& o) {
    auto& ctx = cuda_runtime::context::current();
    ctx.set_tf32(o.tf32);
    net_t net(42);
    tensor<float> host_x(shape4{o.batch, 1, o.size, o.size});
    rng r(7);
    for (auto& v : host_x) v = static_cast<float>(r.uniform(-1, 1));
    device_tensor x;
    x.assign(host_x);
    device_tensor dy;
    dy.assign(tensor<float>(net.output_shape(host_x.shape()), 1.0f / static_cast<float>(host_x.size())));
    optim::adam opt(net, {.lr = 1e-4});

    const auto step = [&] {
        if (o.mode == "infer") {
            net.eval();
            inference_mode guard;
            (void)net.forward(x);
        } else {
            net.train(true);
            net.zero_grad();
            (void)net.forward(x);
            net.backward(x, dy);
            opt.step();
        }
        ctx.synchronize();
    };
    for (int i = 0; i < o.warmup; ++i) step();
    const std::size_t allocations = memory::cuda_device::device_allocation_count();
    const std::size_t plans = ctx.plans_built();
    std::vector<double> seconds;
    for (int i = 0; i < o.iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        step();
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(seconds.begin(), seconds.end());
    const double median = seconds[seconds.size() / 2], best = seconds.front();
    std::printf("{\"case\":\"unet_bn<64,4> %s b%d %dx%d\",\"tf32\":%s,\"img_per_s_median\":%.2f,\"img_per_s_best\":%.2f,"
                "\"device_allocations_timed\":%zu,\"plans_built_timed\":%zu}\n",
                o.mode.c_str(), o.batch, o.size, o.size, o.tf32 ? "true" : "false", o.batch / median, o.batch / best,
                memory::cuda_device::device_allocation_count() - allocations, ctx.plans_built() - plans);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_unet_gpu: %s\n", e.what());
        return 2;
    }
}
