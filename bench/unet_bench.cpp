// End-to-end timing of whole U-Nets (no framework): presets::unet_bn<32, 4> and <64, 4>, and
// the unpadded presets::ronneberger2015 (base 64, the paper's network) with its base-32 variant.
//
// Two modes:
//   infer  eval-mode forward pass under unetpp::inference_mode (fused Conv-BN-ReLU)
//   train  one training step: train-mode forward, BCE-with-logits against a fixed random 0/1 mask,
//          backward, Adam step, zero_grad
// Every case runs `warmup` untimed iterations first (the first call sizes all buffers), then
// `iters` timed ones (std::chrono::steady_clock); it reports the median and minimum time, images/s
// from the median, GFLOP/s from the median, the process's peak RSS (getrusage ru_maxrss) and its
// increase over the idle process (VmHWM after the run minus VmHWM once the model and inputs are
// built, the same two readings the PyTorch driver takes).
//
// FLOP count (multiply-add = 2 flops), for a batch of N:
//   forward = N * ( sum over conv2d layers   2 * cin * k * k * cout * oh * ow
//                 + sum over conv_transpose  2 * cin * cout * k * k * h * w   (h, w = input size) )
//   train   = 3 * forward   (forward, backward-data and backward-weights of every convolution)
// Batch norm, ReLU, pooling, concatenation, the loss and Adam are not counted.
//
// --tile S (inference only) runs unetpp::infer::predict_tiled with S x S input tiles instead of one
// forward pass over the whole image: memory then stays bounded by the tile, whatever the image
// size. Its FLOP count is the tile count times one tile's forward FLOPs.
//
// --profile runs `iters` more iterations after the timed ones with unetpp's profiler on
// (backend/profiler.hpp) and adds a per-operation breakdown to the JSON: milliseconds per
// iteration and, for the convolutions, GFLOP/s of each pass (3x3 and other kernels apart).
//
// Output: one JSON object per case on one line, to stdout or appended to --json FILE.
//
// --serve (used by bench/anchors/anchors.py, which alternates rounds between runtimes): builds the
// model, runs `warmup` iterations, prints {"ready":...} on stdout, then reads commands from stdin,
// one per line: "run K" times K iterations and prints {"times_ms":[...]}; "end" (or end of input)
// prints the memory readings {"rss_before_model_mib", "hwm_mib", ...} and exits. Each reply is one
// JSON line.
//
// Build (one line): g++ -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -I include
//            -I /usr/include/eigen3 bench/unet_bench.cpp -o unet_bench
// Usage: OMP_NUM_THREADS=2 ./unet_bench [--model unet_bn|ronneberger2015] [--base 32|64]
//            [--mode infer|train] [--batch N] [--size S] [--iters K] [--warmup W] [--json FILE]
//            [--tile S] [--profile] [--info] [--serve]
#include <unetpp/infer.hpp>
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
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

struct options {
    std::string model = "unet_bn";
    int base = 32;
    std::string mode = "infer";
    int batch = 1;
    int size = 256;
    int iters = 10;
    int warmup = 2;
    std::string json;  // empty: stdout
    bool info = false;
    bool profile = false;
    int tile = 0;  // > 0: overlap-tile inference with this input tile side
    bool serve = false;
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "unet_bench: %s\n"
                 "usage: unet_bench [--model unet_bn|ronneberger2015] [--base 32|64] [--mode infer|train]\n"
                 "                  [--batch N] [--size S] [--iters K] [--warmup W] [--json FILE]\n"
                 "                  [--tile S] [--profile] [--info] [--serve]\n",
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
        if (a == "--model") o.model = value();
        else if (a == "--base") o.base = to_int(value(), "--base");
        else if (a == "--mode") o.mode = value();
        else if (a == "--batch") o.batch = to_int(value(), "--batch");
        else if (a == "--size") o.size = to_int(value(), "--size");
        else if (a == "--iters") o.iters = to_int(value(), "--iters");
        else if (a == "--warmup") o.warmup = to_int(value(), "--warmup");
        else if (a == "--json") o.json = value();
        else if (a == "--info") o.info = true;
        else if (a == "--profile") o.profile = true;
        else if (a == "--serve") o.serve = true;
        else if (a == "--tile") o.tile = to_int(value(), "--tile");
        else if (a == "-h" || a == "--help") usage("help");
        else usage(("unknown argument " + a).c_str());
    }
    if (o.model != "unet_bn" && o.model != "ronneberger2015") usage("--model must be unet_bn or ronneberger2015");
    if (o.base != 32 && o.base != 64) usage("--base must be 32 or 64");
    if (o.mode != "infer" && o.mode != "train") usage("--mode must be infer or train");
    if (o.batch < 1) usage("--batch must be at least 1");
    if (o.tile > 0 && o.mode != "infer") usage("--tile needs --mode infer");
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

// A field of /proc/self/status in MiB (VmHWM: peak resident set; VmRSS: current), 0 if absent.
double proc_status_mib(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0) return std::strtod(line.c_str() + key.size(), nullptr) / 1024.0;
    return 0;
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Forward FLOPs of one sample of a depth-`depth` U-Net with Conv x2 blocks (3x3, padded when
// `valid` is false, unpadded when true: every convolution then loses 2 rows and columns),
// 2x2 stride-2 transposed convolutions, skips concatenated (cropped when unpadded) and a 1x1
// head, for an input of side `s`.
double forward_flops_per_sample(int base, int depth, int in_channels, int classes, int s, bool valid) {
    auto conv = [](double cin, double cout, double k, double oh, double ow) { return 2.0 * cin * k * k * cout * oh * ow; };
    auto convt = [](double cin, double cout, double k, double h, double w) { return 2.0 * cin * cout * k * k * h * w; };
    const int shrink = valid ? 2 : 0;
    double f = 0;
    int side = s;
    auto block = [&](double cin, double cout) {  // Conv -> Conv, each 3x3
        side -= shrink;
        f += conv(cin, cout, 3, side, side);
        side -= shrink;
        f += conv(cout, cout, 3, side, side);
    };
    for (int l = 0; l < depth; ++l) {
        block(l == 0 ? in_channels : (base << (l - 1)), base << l);
        side /= 2;  // 2x2 max pooling
    }
    block(base << (depth - 1), base << depth);  // bottleneck
    for (int l = depth - 1; l >= 0; --l) {
        f += convt(base << (l + 1), base << l, 2, side, side);  // up from level l + 1 to level l
        side *= 2;
        block(2 * (base << l), base << l);  // on [skip, up]
    }
    f += conv(base, classes, 1, side, side);  // head
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

// The unpadded network of Ronneberger et al. 2015 at another base width (Base 64 is the preset).
constexpr unetpp::unet_cfg ronneberger_cfg(int base) {
    unetpp::unet_cfg c = unetpp::presets::ronneberger2015_cfg;
    c.base = base;
    return c;
}
template <int Base>
using ronneberger_t = unetpp::unet<ronneberger_cfg(Base)>;
static_assert(std::is_same_v<ronneberger_t<64>, unetpp::presets::ronneberger2015>);

// Per-operation breakdown from the profiler, per iteration, as a JSON array.
std::string profile_json(int iters) {
    std::ostringstream js;
    js.setf(std::ios::fixed);
    js.precision(3);
    js << "[";
    bool first = true;
    for (const auto& e : unetpp::profiler::entries()) {
        js << (first ? "" : ",") << "{\"op\":\"" << e.name << "\",\"calls_per_iter\":" << double(e.calls) / iters
           << ",\"ms_per_iter\":" << e.seconds * 1e3 / iters;
        if (e.flops > 0 && e.seconds > 0) js << ",\"gflops_per_s\":" << e.flops / e.seconds * 1e-9;
        js << "}";
        first = false;
    }
    js << "]";
    return js.str();
}

// The --serve loop (see the header comment): warm-up, then "run K" / "end" commands on stdin.
template <class F>
int serve(const options& o, F&& step, double rss_before_model) {
    for (int i = 0; i < o.warmup; ++i) step();
    std::printf("{\"ready\":true,\"threads\":%d}\n", threads());
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line == "end") break;
        if (line.rfind("run ", 0) != 0) {
            std::fprintf(stderr, "unet_bench --serve: unknown command '%s' (expected 'run K' or 'end')\n", line.c_str());
            return 2;
        }
        const int k = to_int(line.c_str() + 4, "run");
        const timing t = time_it(step, 0, std::max(k, 1));
        std::printf("{\"times_ms\":[");
        for (std::size_t i = 0; i < t.all_ms.size(); ++i) std::printf("%s%.3f", i ? "," : "", t.all_ms[i]);
        std::printf("]}\n");
        std::fflush(stdout);
    }
    std::printf("{\"rss_before_model_mib\":%.3f,\"hwm_mib\":%.3f,\"rss_increase_mib\":%.3f}\n", rss_before_model,
                proc_status_mib("VmHWM"), proc_status_mib("VmHWM") - rss_before_model);
    std::fflush(stdout);
    return 0;
}

template <class Net>
int run(const options& o) {
    using net_t = Net;
    using tensor_t = typename net_t::tensor_type;
    constexpr int depth = 4;
    const bool valid = o.model == "ronneberger2015";
    const int classes = valid ? 2 : 1;
    const int Base = o.base;

    if (o.tile > 0 && !net_t::is_valid_size(o.tile)) {
        std::fprintf(stderr, "unet_bench: tile %d is not valid for this network (nearest: %d or %d)\n", o.tile,
                     net_t::previous_valid_size(o.tile), net_t::next_valid_size(o.tile));
        return 2;
    }
    if (o.tile == 0 && !net_t::is_valid_size(o.size)) {
        std::fprintf(stderr, "unet_bench: size %d is not valid for this network (nearest: %d or %d)\n", o.size,
                     net_t::previous_valid_size(o.size), net_t::next_valid_size(o.size));
        return 2;
    }

    const double rss_before_model = proc_status_mib("VmRSS");
    net_t net(/*seed=*/42);
    const unetpp::shape4 in_shape{o.batch, 1, o.size, o.size};
    tensor_t x(in_shape);
    unetpp::rng r(7);
    for (auto& v : x) v = static_cast<float>(r.normal());

    const auto out_shape = o.tile > 0 ? in_shape : *net_t::try_output_shape(in_shape);
    tensor_t mask(out_shape);
    for (auto& v : mask) v = r.uniform() < 0.5 ? 1.0f : 0.0f;
    tensor_t dlogits;

    // Idle baseline, taken at the point where the PyTorch driver takes its own: the model and the
    // input tensors exist, nothing has run. The optimiser is built after it, as torch.optim.Adam
    // allocates its moments only at the first step; inference builds none.
    const double idle_hwm = proc_status_mib("VmHWM");
    std::optional<unetpp::optim::adam<>> opt;
    if (o.mode == "train") opt.emplace(net, unetpp::optim::adam_options{.lr = 1e-3});
    unetpp::losses::bce_with_logits loss;
    double last_loss = 0;
    double checksum = 0;

    timing t;
    const auto infer_step = [&] {
        // Inference only, as PyTorch's side runs under torch.no_grad(): eval-mode Conv-BN-ReLU
        // chains run fused and keep no intermediate outputs.
        unetpp::inference_mode no_intermediates;
        if (o.tile > 0) {
            const auto p = unetpp::infer::predict_tiled(net, x, {.tile = o.tile});
            checksum = 0;
            for (float v : p.prob) checksum += v;
        } else {
            net.forward(x);
        }
    };
    const auto train_step = [&] {
        const tensor_t& logits = net.forward(x);
        last_loss = loss(logits, mask, &dlogits);
        net.backward(x, dlogits);
        opt->step();
        net.zero_grad();
    };
    if (o.serve) {
        if (o.mode == "infer") net.eval();
        else net.train();
        return serve(o, [&] { o.mode == "infer" ? infer_step() : train_step(); }, rss_before_model);
    }
    std::string profile;
    if (o.mode == "infer") {
        net.eval();
        t = time_it(infer_step, o.warmup, o.iters);
        if (o.tile == 0)
            for (float v : net.output()) checksum += v;
    } else {
        net.train();
        t = time_it(train_step, o.warmup, o.iters);
    }
    if (o.profile) {  // separate, untimed iterations: the timings above carry no profiler cost
        unetpp::profiler::reset();
        unetpp::profiler::enable(true);
        if (o.mode == "infer") time_it(infer_step, 0, o.iters);
        else time_it(train_step, 0, o.iters);
        unetpp::profiler::enable(false);
        profile = profile_json(o.iters);
        std::cerr << unetpp::profiler::report();
    }

    double fwd = forward_flops_per_sample(Base, depth, 1, classes, o.size, valid) * o.batch;
    std::size_t tiles = 0;
    if (o.tile > 0) {
        tiles = unetpp::infer::plan_tiles<net_t>(o.size, o.size, {.tile = o.tile}).count();
        fwd = forward_flops_per_sample(Base, depth, 1, classes, o.tile, valid) * o.batch * static_cast<double>(tiles);
    }
    const double flops = o.mode == "train" ? 3.0 * fwd : fwd;
    const double gflops = flops / (t.median_ms * 1e-3) / 1e9;
    const double imgs = o.batch / (t.median_ms * 1e-3);

    std::ostringstream js;
    js.setf(std::ios::fixed);
    js.precision(3);
    js << "{\"impl\":\"unetpp\",\"model\":\"" << o.model << "\",\"base\":" << Base << ",\"depth\":" << depth
       << ",\"mode\":\"" << o.mode << "\",\"batch\":" << o.batch << ",\"size\":" << o.size << ",\"tile\":" << o.tile
       << ",\"tiles\":" << tiles << ",\"threads\":" << threads() << ",\"warmup\":" << o.warmup << ",\"iters\":" << o.iters
       << ",\"median_ms\":" << t.median_ms << ",\"min_ms\":" << t.min_ms << ",\"mean_ms\":" << t.mean_ms
       << ",\"images_per_s\":" << imgs << ",\"gflop\":" << flops / 1e9 << ",\"gflops_per_s\":" << gflops
       << ",\"peak_rss_mib\":" << peak_rss_mib() << ",\"idle_hwm_mib\":" << idle_hwm
       << ",\"rss_increase_mib\":" << proc_status_mib("VmHWM") - idle_hwm << ",\"parameters\":" << net_t::parameter_count;
    if (o.mode == "train") js << ",\"last_loss\":" << last_loss;
    else js << ",\"output_sum\":" << checksum;
    js << ",\"times_ms\":[";
    for (std::size_t i = 0; i < t.all_ms.size(); ++i) js << (i ? "," : "") << t.all_ms[i];
    js << "]";
    if (!profile.empty()) js << ",\"profile\":" << profile;
    js << ",\"flop_formula\":\"conv: 2*cin*k*k*cout*oh*ow; conv_transpose: 2*cin*cout*k*k*h*w (input h,w); "
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
    std::fprintf(stderr, "unet_bench: %s<%d, 4> %s batch %d size %d, omp_get_max_threads() = %d\n", o.model.c_str(),
                 o.base, o.mode.c_str(), o.batch, o.size, threads());
    try {
        if (o.model == "ronneberger2015")
            return o.base == 32 ? run<ronneberger_t<32>>(o) : run<ronneberger_t<64>>(o);
        return o.base == 32 ? run<unetpp::presets::unet_bn<32, 4>>(o) : run<unetpp::presets::unet_bn<64, 4>>(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unet_bench: error: %s\n", e.what());
        return 1;
    }
}
