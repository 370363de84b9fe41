// Peak memory of one inference pass (eval mode under unetpp::inference_mode) for the networks
// besides the plain U-Net: UNet++ with and without deep supervision, a U-Net with deep
// supervision, the encoder classifier of the hierarchical BUSI classifier, and unet_bn as the
// control. One network per process, so each reading is that network's alone:
//
//   OMP_NUM_THREADS=2 ./bench_inference_memory --model unet_plusplus [--base 32] [--batch 1] [--size 256]
//
// --model: unet_bn | unet_plusplus | unet_plusplus_ds | unet_bn_ds | classifier (depth 4 each;
// the classifier is busi_stage_classifier's architecture with `--base` first-level channels).
// Prints one JSON line: the peak RSS increase of the passes (VmHWM after them minus VmHWM once
// the network and the input are built, so weights do not count), the median seconds per pass
// and the build's revision when given (-DBENCH_LABEL=...). It uses only the public API, so
// bench/inference_memory_ab.sh compiles it against an older revision's headers too.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <unetpp/unet.hpp>

#ifndef BENCH_LABEL
#define BENCH_LABEL "tree"
#endif

namespace {

double proc_status_mib(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0) return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
    return 0;
}

struct options {
    std::string model = "unet_plusplus";
    int base = 32, batch = 1, size = 256, iters = 3;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "inference_memory: %s\nusage: inference_memory --model unet_bn|unet_plusplus|unet_plusplus_ds|"
                 "unet_bn_ds|classifier [--base 16|32|64] [--batch N] [--size S] [--iters K]\n",
                 why);
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) usage(("missing value after " + a).c_str());
        const std::string v = argv[++i];
        const auto number = [&] {
            const int n = std::atoi(v.c_str());
            if (n < 1 || n > 8192) usage((a + " takes a whole number from 1 to 8192").c_str());
            return n;
        };
        if (a == "--model") o.model = v;
        else if (a == "--base") o.base = number();
        else if (a == "--batch") o.batch = number();
        else if (a == "--size") o.size = number();
        else if (a == "--iters") o.iters = number();
        else usage(("unknown option " + a).c_str());
    }
    return o;
}

template <class Net>
int measure(const options& o, const char* name) {
    Net net(1);
    net.eval();
    unetpp::tensor<float> x(unetpp::shape4{o.batch, 1, o.size, o.size});
    unetpp::rng r(2);
    for (auto& v : x) v = static_cast<float>(r.uniform(0.0, 1.0));
    const double idle = proc_status_mib("VmHWM");
    std::vector<double> seconds;
    for (int i = 0; i < o.iters; ++i) {
        unetpp::inference_mode guard;
        const auto t0 = std::chrono::steady_clock::now();
        net.forward(x);
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(seconds.begin(), seconds.end());
    const double hwm = proc_status_mib("VmHWM");
    std::printf("{\"label\":\"%s\",\"model\":\"%s\",\"base\":%d,\"batch\":%d,\"size\":%d,\"idle_hwm_mib\":%.1f,"
                "\"rss_increase_mib\":%.1f,\"median_s\":%.4f}\n",
                BENCH_LABEL, name, o.base, o.batch, o.size, idle, hwm - idle, seconds[seconds.size() / 2]);
    return 0;
}

template <int Base>
int run(const options& o) {
    using namespace unetpp;
    static constexpr classifier_cfg cls{.in_channels = 1, .base = Base, .depth = 4, .hidden = 64};
    if (o.model == "unet_bn") return measure<presets::unet_bn<Base, 4>>(o, "unet_bn");
    if (o.model == "unet_plusplus") return measure<presets::unet_plusplus<Base, 4>>(o, "unet_plusplus");
    if (o.model == "unet_plusplus_ds") return measure<presets::unet_plusplus_ds<Base, 4>>(o, "unet_plusplus_ds");
    if (o.model == "unet_bn_ds") return measure<deeply_supervised<presets::unet_bn<Base, 4>>>(o, "unet_bn_ds");
    if (o.model == "classifier") return measure<encoder_classifier<cls>>(o, "classifier");
    usage(("unknown model " + o.model).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    if (o.size % 16 != 0) usage("--size must be a multiple of 16 (depth 4)");
    switch (o.base) {
        case 16: return run<16>(o);
        case 32: return run<32>(o);
        case 64: return run<64>(o);
        default: usage("--base must be 16, 32 or 64");
    }
}
