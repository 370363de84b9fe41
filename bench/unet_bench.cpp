// End-to-end timing of whole U-Nets (no framework): presets::unet_bn<32, 4> and <64, 4>.
//
// Two modes:
//   infer  eval-mode forward pass
//   train  one training step: train-mode forward, BCE-with-logits against a fixed random 0/1 mask,
//          backward, Adam step, zero_grad
// Every case runs `warmup` untimed iterations first (the first call sizes all buffers), then
// `iters` timed ones (std::chrono::steady_clock); it reports the median and minimum time, images/s
// from the median, GFLOP/s from the median, and the process's peak RSS (getrusage ru_maxrss).
//
// FLOP count (multiply-add = 2 flops), for a batch of N:
//   forward = N * ( sum over conv2d layers   2 * cin * k * k * cout * oh * ow
//                 + sum over conv_transpose  2 * cin * cout * k * k * h * w   (h, w = input size) )
//   train   = 3 * forward   (forward, backward-data and backward-weights of every convolution)
// Batch norm, ReLU, pooling, concatenation, the loss and Adam are not counted.
//
// Output: one JSON object per case on one line, to stdout or appended to --json FILE.
//
// Build: g++ -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -I include -I /usr/include/eigen3 \
//            bench/unet_bench.cpp -o unet_bench
// Usage: OMP_NUM_THREADS=2 ./unet_bench [--base 32|64] [--mode infer|train] [--batch N]
//            [--size S] [--iters K] [--warmup W] [--json FILE] [--info]
#include <unetpp/unet.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

struct options {
    int base = 32;
    std::string mode = "infer";
    int batch = 1;
    int size = 256;
    int iters = 10;
    int warmup = 2;
    std::string json;  // empty: stdout
    bool info = false;
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "unet_bench: %s\n"
                 "usage: unet_bench [--base 32|64] [--mode infer|train] [--batch N] [--size S]\n"
                 "                  [--iters K] [--warmup W] [--json FILE] [--info]\n",
                 msg);
    std::exit(2);
}

int to_int(const char* s, const char* flag) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (!end || *end != '\0' || v < 0 || v > (1 << 24)) usage((std::string("bad value for ") + flag).c_str());
    return static_cast<int>(v);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage((a + " needs a value").c_str());
            return argv[++i];
        };
        if (a == "--base") o.base = to_int(value(), "--base");
        else if (a == "--mode") o.mode = value();
        else if (a == "--batch") o.batch = to_int(value(), "--batch");
        else if (a == "--size") o.size = to_int(value(), "--size");
        else if (a == "--iters") o.iters = to_int(value(), "--iters");
        else if (a == "--warmup") o.warmup = to_int(value(), "--warmup");
        else if (a == "--json") o.json = value();
        else if (a == "--info") o.info = true;
        else if (a == "-h" || a == "--help") usage("help");
        else usage(("unknown argument " + a).c_str());
    }
    if (o.base != 32 && o.base != 64) usage("--base must be 32 or 64");
    if (o.mode != "infer" && o.mode != "train") usage("--mode must be infer or train");
    if (o.batch < 1) usage("--batch must be at least 1");
    if (o.iters < 1) usage("--iters must be at least 1");
    return o;
}

int threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Forward FLOPs of one sample of unet_bn<Base, Depth> (1 input channel, 1 class, 3x3 same-padded
// convolutions, 2x2 stride-2 transposed convolutions, 1x1 head) at input side `s`.
double forward_flops_per_sample(int base, int depth, int in_channels, int classes, int s) {
    auto conv = [](double cin, double cout, double k, double oh, double ow) { return 2.0 * cin * k * k * cout * oh * ow; };
    auto convt = [](double cin, double cout, double k, double h, double w) { return 2.0 * cin * cout * k * k * h * w; };
    double f = 0;
    for (int l = 0; l < depth; ++l) {
        const double side = s >> l;
        const double ch = base << l;
        const double cin = l == 0 ? in_channels : (base << (l - 1));
        f += conv(cin, ch, 3, side, side) + conv(ch, ch, 3, side, side);      // encoder block
        f += conv(2 * ch, ch, 3, side, side) + conv(ch, ch, 3, side, side);  // decoder block
        const double below = s >> (l + 1);
        f += convt(base << (l + 1), ch, 2, below, below);  // up from level l + 1 to level l
    }
    const double bside = s >> depth;
    f += conv(base << (depth - 1), base << depth, 3, bside, bside) + conv(base << depth, base << depth, 3, bside, bside);
    f += conv(base, classes, 1, s, s);  // head
    return f;
}

struct timing {
    double median_ms = 0, min_ms = 0, mean_ms = 0;
    std::vector<double> all_ms;
};

template <class F>
timing time_it(F&& step, int warmup, int iters) {
    for (int i = 0; i < warmup; ++i) step();
    timing t;
    for (int i = 0; i < iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        step();
        const auto t1 = std::chrono::steady_clock::now();
        t.all_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::vector<double> s = t.all_ms;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    t.median_ms = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    t.min_ms = s.front();
    double sum = 0;
    for (double v : s) sum += v;
    t.mean_ms = sum / static_cast<double>(n);
    return t;
}

template <int Base>
int run(const options& o) {
    using net_t = unetpp::presets::unet_bn<Base, 4>;
    using tensor_t = typename net_t::tensor_type;
    constexpr int depth = 4;

    if (!net_t::is_valid_size(o.size)) {
        std::fprintf(stderr, "unet_bench: size %d is not valid for this network (nearest: %d or %d)\n", o.size,
                     net_t::previous_valid_size(o.size), net_t::next_valid_size(o.size));
        return 2;
    }

    net_t net(/*seed=*/42);
    const unetpp::shape4 in_shape{o.batch, 1, o.size, o.size};
    tensor_t x(in_shape);
    unetpp::rng r(7);
    for (auto& v : x) v = static_cast<float>(r.normal());

    const auto out_shape = *net_t::try_output_shape(in_shape);
    tensor_t mask(out_shape);
    for (auto& v : mask) v = r.uniform() < 0.5 ? 1.0f : 0.0f;
    tensor_t dlogits;

    unetpp::optim::adam<float> opt(net, unetpp::optim::adam_cfg{.lr = 1e-3});
    unetpp::losses::bce_with_logits loss;
    double last_loss = 0;
    double checksum = 0;

    timing t;
    if (o.mode == "infer") {
        net.eval();
        t = time_it([&] { net.forward(x); }, o.warmup, o.iters);
        for (float v : net.output()) checksum += v;
    } else {
        net.train();
        t = time_it(
            [&] {
                const tensor_t& logits = net.forward(x);
                last_loss = loss(logits, mask, &dlogits);
                net.backward(x, dlogits);
                opt.step();
                net.zero_grad();
            },
            o.warmup, o.iters);
    }

    const double fwd = forward_flops_per_sample(Base, depth, 1, 1, o.size) * o.batch;
    const double flops = o.mode == "train" ? 3.0 * fwd : fwd;
    const double gflops = flops / (t.median_ms * 1e-3) / 1e9;
    const double imgs = o.batch / (t.median_ms * 1e-3);

    std::ostringstream js;
    js.setf(std::ios::fixed);
    js.precision(3);
    js << "{\"impl\":\"unetpp\",\"model\":\"unet_bn\",\"base\":" << Base << ",\"depth\":" << depth
       << ",\"mode\":\"" << o.mode << "\",\"batch\":" << o.batch << ",\"size\":" << o.size
       << ",\"threads\":" << threads() << ",\"warmup\":" << o.warmup << ",\"iters\":" << o.iters
       << ",\"median_ms\":" << t.median_ms << ",\"min_ms\":" << t.min_ms << ",\"mean_ms\":" << t.mean_ms
       << ",\"images_per_s\":" << imgs << ",\"gflop\":" << flops / 1e9 << ",\"gflops_per_s\":" << gflops
       << ",\"peak_rss_mib\":" << peak_rss_mib() << ",\"parameters\":" << net_t::parameter_count;
    if (o.mode == "train") js << ",\"last_loss\":" << last_loss;
    else js << ",\"output_sum\":" << checksum;
    js << ",\"times_ms\":[";
    for (std::size_t i = 0; i < t.all_ms.size(); ++i) js << (i ? "," : "") << t.all_ms[i];
    js << "],\"flop_formula\":\"conv: 2*cin*k*k*cout*oh*ow; conv_transpose: 2*cin*cout*k*k*h*w (input h,w); "
          "summed over layers, times batch; train step = 3x forward\"}";

    if (o.json.empty()) {
        std::cout << js.str() << std::endl;
    } else {
        std::ofstream f(o.json, std::ios::app);
        if (!f) {
            std::fprintf(stderr, "unet_bench: cannot open %s for writing\n", o.json.c_str());
            return 1;
        }
        f << js.str() << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Denormals are flushed on both sides of the comparison (torch.set_flush_denormal in the
    // PyTorch script), so neither pays for subnormal arithmetic.
    unetpp::flush_denormals();
    const options o = parse(argc, argv);
    if (o.info) std::cerr << unetpp::build_info() << std::flush;
    std::fprintf(stderr, "unet_bench: unet_bn<%d, 4> %s batch %d size %d, omp_get_max_threads() = %d\n", o.base,
                 o.mode.c_str(), o.batch, o.size, threads());
    try {
        return o.base == 32 ? run<32>(o) : run<64>(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unet_bench: error: %s\n", e.what());
        return 1;
    }
}
