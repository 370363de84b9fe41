// Inference in fp32 (backend::cpu) against bf16 compute (backend::cpu_bf16) on the same network,
// in one process, alternating: each round times `iters` forward passes of one backend and then
// of the other (the order flips every round, so neither always runs second), and the report is
// the median over rounds of each round's median time, with the minimum beside it. Both networks
// hold the same weights (the fp32 network's, saved and loaded through a safetensors file) and
// run eval-mode forwards under unetpp::inference_mode (fused Conv-BN-ReLU), like unet_bench's
// `infer` mode.
//
// Beside the wall times it reports the median process CPU time per forward (both threads, user +
// system) and its ratio: run with OMP_WAIT_POLICY=passive, so that threads waiting at a barrier
// sleep instead of spinning, it counts the work done and not the time the cores spent on other
// jobs, which on a shared machine is the steadier of the two numbers.
//
// It also reports how far the bf16 output is from the fp32 one on the timed input: the largest
// absolute difference over the largest |fp32 output|, and the relative L2 error.
//
// --train times training steps instead (forward in training mode, BCE-with-logits on a fixed
// random mask, backward, Adam, zero_grad), both networks starting from the same weights: the
// mixed precision of `--precision bf16` in unetpp-train (bf16 forward convolutions; backward
// passes, optimiser and master weights in fp32) against fp32. The error columns then compare the
// two networks' logits of the first step, and each side's loss after its last step is printed.
//
// --layers instead times the distinct 3x3 convolutions of the network (fused, as at inference)
// one by one, alternating backend::cpu with its automatic choice (Winograd from 16 channels),
// backend::cpu with the direct kernel forced (the same loop structure as the bf16 kernel, in
// fp32) and backend::cpu_bf16, and prints one JSON line per layer with GFLOP/s from the median.
//
// --peak measures what one core sustains of vdpbf16ps (32 multiply-adds each) and of
// vfmadd231ps (16) on 512-bit registers, 12 independent chains each, timed by the thread's CPU
// time so that time the core spent on other jobs does not count. Their ratio bounds what bf16
// can gain over fp32 on any kernel that is limited by its multiply-adds.
//
// --convert-cost times, on one thread (thread CPU time, best of 7), converting the weights of a
// C -> C 3x3 convolution to bf16 (what every call does) against comparing them bit for bit with a
// copy (what a cache of converted weights would have to do on every call to stay correct, as
// winograd_cache.hpp does), for C = 256, 512, 1024.
//
// Build (one line): g++ -std=c++20 -O3 -DNDEBUG -march=native -fopenmp -I include
//            -I /usr/include/eigen3 bench/bf16_bench.cpp -o bf16_bench
// Usage: OMP_NUM_THREADS=2 ./bf16_bench [--model unet_bn|ronneberger2015] [--base 32|64]
//            [--batch N] [--size S] [--rounds R] [--iters K] [--warmup W] [--profile] [--train] [--layers] [--peak]
//            [--convert-cost]
// Output: one JSON line on stdout.
#include <unetpp/backend/cpu_bf16.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <type_traits>
#include <vector>

#include <immintrin.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

struct options {
    std::string model = "unet_bn";
    int base = 32, batch = 1, size = 256, rounds = 7, iters = 3, warmup = 2;
    bool profile = false, layers = false, peak = false, convert_cost = false, train = false;
};

int to_int(const char* s, const char* what) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (!*s || *end || v <= 0 || v > 1 << 20) {
        std::fprintf(stderr, "bf16_bench: %s expects a positive whole number, got '%s'\n", what, s);
        std::exit(2);
    }
    return int(v);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&] {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bf16_bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--model") o.model = next();
        else if (a == "--base") o.base = to_int(next(), "--base");
        else if (a == "--batch") o.batch = to_int(next(), "--batch");
        else if (a == "--size") o.size = to_int(next(), "--size");
        else if (a == "--rounds") o.rounds = to_int(next(), "--rounds");
        else if (a == "--iters") o.iters = to_int(next(), "--iters");
        else if (a == "--warmup") o.warmup = to_int(next(), "--warmup");
        else if (a == "--profile") o.profile = true;
        else if (a == "--train") o.train = true;
        else if (a == "--layers") o.layers = true;
        else if (a == "--peak") o.peak = true;
        else if (a == "--convert-cost") o.convert_cost = true;
        else {
            std::fprintf(stderr, "bf16_bench: unknown option %s\n", a.c_str());
            std::exit(2);
        }
    }
    if ((o.model != "unet_bn" && o.model != "ronneberger2015") || (o.base != 32 && o.base != 64)) {
        std::fprintf(stderr, "bf16_bench: --model unet_bn|ronneberger2015, --base 32|64\n");
        std::exit(2);
    }
    return o;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Process CPU time (all threads, user + system) in milliseconds.
double process_cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return 1e3 * double(t.tv_sec) + 1e-6 * double(t.tv_nsec);
}

// Median wall time of `iters` calls; the median process CPU time of the calls is appended to
// *cpu when it is set.
template <class F>
double round_median_ms(F&& step, int iters, std::vector<double>* cpu = nullptr) {
    std::vector<double> t, c;
    for (int i = 0; i < iters; ++i) {
        const double c0 = process_cpu_ms();
        const auto t0 = std::chrono::steady_clock::now();
        step();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        c.push_back(process_cpu_ms() - c0);
    }
    if (cpu) cpu->push_back(median(c));
    return median(t);
}

// Milliseconds per iteration of the profiler's convolution entries and of everything else.
void print_profile(const char* label, int iters) {
    double conv = 0, other = 0;
    for (const auto& e : unetpp::profiler::entries()) {
        const double ms = e.seconds * 1e3 / iters;
        std::fprintf(stderr, "  %s %-36s %8.2f ms/iter%s", label, e.name, ms, e.flops > 0 ? "" : "\n");
        if (e.flops > 0) std::fprintf(stderr, " %7.1f GFLOP/s\n", e.flops / e.seconds * 1e-9);
        (std::string(e.name).find("conv2d_forward") == 0 ? conv : other) += ms;
    }
    std::fprintf(stderr, "  %s conv2d_forward total %.2f ms, the rest %.2f ms\n", label, conv, other);
}

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
double thread_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// 12 independent accumulators of `Op`, n iterations; the sum keeps the loop alive.
template <class Op>
__attribute__((noinline)) float chains(long n, Op op) {
    __m512 a[12];
    for (auto& v : a) v = _mm512_setzero_ps();
    for (long k = 0; k < n; ++k) {
#pragma GCC unroll 12
        for (auto& v : a) v = op(v);
    }
    alignas(64) float lanes[16];
    float sum = 0;
    for (auto& v : a) {
        _mm512_store_ps(lanes, v);
        for (float e : lanes) sum += e;
    }
    return sum;
}

int run_peak() {
    const long n = 20'000'000;
    const __m512bh xb = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3F803F80));  // (1, 1) in bf16
    const __m512 x = _mm512_set1_ps(0.5f), y = _mm512_set1_ps(0.25f);
    std::vector<double> bf, fma;
    float sink = 0;
    for (int r = 0; r < 5; ++r) {
        double t0 = thread_seconds();
        sink += chains(n, [&](__m512 v) { return _mm512_dpbf16_ps(v, xb, xb); });
        double t1 = thread_seconds();
        sink += chains(n, [&](__m512 v) { return _mm512_fmadd_ps(v, x, y); });
        double t2 = thread_seconds();
        bf.push_back(12.0 * n * 64 / (t1 - t0) * 1e-9);
        fma.push_back(12.0 * n * 32 / (t2 - t1) * 1e-9);
    }
    const double b = median(bf), f = median(fma);
    std::printf("{\"peak\":\"one core, thread CPU time\",\"vdpbf16ps_gflops\":%.1f,\"vfmadd231ps_gflops\":%.1f,"
                "\"ratio\":%.3f,\"sink\":%g}\n", b, f, b / f, double(sink) * 0);
    return 0;
}

int run_convert_cost() {
    namespace bf = unetpp::backend::cpu_kernels::bf16;
    for (const int c : {256, 512, 1024}) {
        const unetpp::backend::conv_geometry g{1, c, 16, 16, c, 3, 3, 1, 1};
        const bf::conv_plan p = bf::make_plan(g);
        std::vector<float> w(std::size_t(c) * c * 9), copy;
        unetpp::rng r(3);
        for (auto& v : w) v = float(r.normal());
        copy = w;
        std::vector<std::uint32_t> wb(p.w_words);
        double pack = 1e9, compare = 1e9;
        for (int k = 0; k < 7; ++k) {
            const double t0 = thread_seconds();
            bf::pack_weights(g, p, w.data(), nullptr, wb.data());
            const double t1 = thread_seconds();
            const bool same = unetpp::backend::cpu_kernels::detail::wino::same_bits(w.data(), copy.data(), w.size());
            const double t2 = thread_seconds();
            if (!same) return 1;
            pack = std::min(pack, t1 - t0);
            compare = std::min(compare, t2 - t1);
        }
        std::printf("{\"weights\":\"%d->%d 3x3\",\"convert_ms\":%.3f,\"compare_with_copy_ms\":%.3f}\n", c, c,
                    pack * 1e3, compare * 1e3);
    }
    return 0;
}
#endif

// The distinct 3x3 convolutions of a depth-4 U-Net of this base at this size (padded when `same`),
// each timed fused (bias, scale, shift, ReLU) in the three ways, alternating by round.
int run_layers(const options& o, bool same) {
    namespace be = unetpp::backend;
    namespace ck = unetpp::backend::cpu_kernels;
    std::vector<be::conv_geometry> layers;
    const int pad = same ? 1 : 0;
    int s = o.size, c_in = 1;
    for (int level = 0; level <= 4; ++level) {  // encoder convolutions; the decoder's have the same shapes
        const int c = o.base << level;
        layers.push_back({o.batch, c_in, s, s, c, 3, 3, 1, pad});
        s = layers.back().oh();
        layers.push_back({o.batch, c, s, s, c, 3, 3, 1, pad});
        s = layers.back().oh() / 2;
        c_in = c;
    }
    for (const auto& g : layers) {
        const std::size_t nx = std::size_t(g.n) * g.cin * g.h * g.w, nw = std::size_t(g.cout) * g.cin * 9;
        std::vector<float> x(nx), w(nw), b(g.cout), sc(g.cout), sh(g.cout);
        std::vector<float> y(std::size_t(g.n) * g.cout * g.oh() * g.ow());
        unetpp::rng r(1);
        for (auto& v : x) v = float(r.normal());
        for (auto& v : w) v = float(r.normal() / std::sqrt(9.0 * g.cin));
        for (int i = 0; i < g.cout; ++i) b[i] = 0.1f, sc[i] = 1.1f, sh[i] = -0.05f;
        const auto fused = [&](auto backend_tag) {
            using B = decltype(backend_tag);
            B::conv2d_forward_fused(g, x.data(), w.data(), b.data(), sc.data(), sh.data(), true, y.data());
        };
        const auto wino = [&] {
            ck::set_conv2d_algorithm(ck::conv_algo::automatic);
            fused(be::cpu{});
        };
        const auto direct = [&] {
            ck::set_conv2d_algorithm(ck::conv_algo::direct);
            fused(be::cpu{});
        };
        const auto bf16 = [&] { fused(be::cpu_bf16{}); };
        for (int i = 0; i < o.warmup; ++i) wino(), direct(), bf16();
        std::vector<double> ta, td, tb;
        for (int k = 0; k < o.rounds; ++k) {
            const int first = k % 3;
            for (int j = 0; j < 3; ++j) {
                const int which = (first + j) % 3;
                if (which == 0) ta.push_back(round_median_ms(wino, o.iters));
                if (which == 1) td.push_back(round_median_ms(direct, o.iters));
                if (which == 2) tb.push_back(round_median_ms(bf16, o.iters));
            }
        }
        ck::set_conv2d_algorithm(ck::conv_algo::automatic);
        const double flops = 2.0 * g.n * g.cout * g.cin * 9 * g.oh() * g.ow();
        const double ma = median(ta), md = median(td), mb = median(tb);
        std::printf("{\"layer\":\"%d->%d %dx%d n%d\",\"fp32_auto\":\"%s\",\"fp32_auto_ms\":%.3f,"
                    "\"fp32_direct_ms\":%.3f,\"bf16_ms\":%.3f,\"fp32_auto_gflops\":%.1f,\"fp32_direct_gflops\":%.1f,"
                    "\"bf16_gflops\":%.1f,\"bf16_vs_direct\":%.2f,\"bf16_vs_auto\":%.2f}\n",
                    g.cin, g.cout, g.h, g.w, g.n, std::string(be::cpu::conv2d_algorithm(g)).c_str(), ma, md, mb,
                    flops / ma * 1e-6, flops / md * 1e-6, flops / mb * 1e-6, md / mb, ma / mb);
        std::fflush(stdout);
    }
    return 0;
}

template <unetpp::unet_cfg Cfg>
int run(const options& o) {
    using net32_t = unetpp::unet<Cfg, unetpp::backend::cpu>;
    using net16_t = unetpp::unet<Cfg, unetpp::backend::cpu_bf16>;
    if (!unetpp::backend::cpu_bf16::supported()) {
        std::fprintf(stderr, "bf16_bench: this build or processor has no AVX512-BF16 (vdpbf16ps)\n");
        return 3;
    }
    if (!net32_t::is_valid_size(o.size)) {
        std::fprintf(stderr, "bf16_bench: size %d is not valid for this network (nearest: %d or %d)\n", o.size,
                     net32_t::previous_valid_size(o.size), net32_t::next_valid_size(o.size));
        return 2;
    }
    net32_t net32(/*seed=*/42);
    net16_t net16(/*seed=*/1);
    const auto file = std::filesystem::temp_directory_path() /
                      ("unetpp_bf16_bench_" + std::to_string(::getpid()) + ".safetensors");
    unetpp::io::save_weights(net32, file);
    unetpp::io::load_weights(net16, file);
    std::filesystem::remove(file);
    if (o.train) {
        net32.train();
        net16.train();
    } else {
        net32.eval();
        net16.eval();
    }

    const unetpp::shape4 in_shape{o.batch, 1, o.size, o.size};
    typename net32_t::tensor_type x(in_shape);
    unetpp::rng r(7);
    for (auto& v : x) v = static_cast<float>(r.normal());
    typename net32_t::tensor_type mask(*net32_t::try_output_shape(in_shape)), dlogits;
    for (auto& v : mask) v = r.uniform() < 0.5 ? 1.0f : 0.0f;
    unetpp::losses::bce_with_logits loss;
    unetpp::optim::adam<unetpp::backend::cpu> opt32(net32, unetpp::optim::adam_options{.lr = 1e-3});
    unetpp::optim::adam<unetpp::backend::cpu_bf16> opt16(net16, unetpp::optim::adam_options{.lr = 1e-3});
    double loss32 = 0, loss16 = 0;

    std::vector<float> y32, y16;
    // One forward pass (inference), or one training step, of either network; the first call's
    // output is kept for the error columns.
    const auto step = [&](auto& net, auto& opt, std::vector<float>& first, double& last_loss) {
        if (!o.train) {
            unetpp::inference_mode fused;
            const auto& y = net.forward(x);
            if (first.empty()) first.assign(y.begin(), y.end());
            return;
        }
        const auto& y = net.forward(x);
        if (first.empty()) first.assign(y.begin(), y.end());
        last_loss = loss(y, mask, &dlogits);
        net.backward(x, dlogits);
        opt.step();
        net.zero_grad();
    };
    const auto step32 = [&] { step(net32, opt32, y32, loss32); };
    const auto step16 = [&] { step(net16, opt16, y16, loss16); };
    for (int i = 0; i < o.warmup; ++i) {
        step32();
        step16();
    }
    std::vector<double> t32, t16, c32, c16;
    for (int k = 0; k < o.rounds; ++k) {
        if (k % 2 == 0) {
            t32.push_back(round_median_ms(step32, o.iters, &c32));
            t16.push_back(round_median_ms(step16, o.iters, &c16));
        } else {
            t16.push_back(round_median_ms(step16, o.iters, &c16));
            t32.push_back(round_median_ms(step32, o.iters, &c32));
        }
    }
    if (o.profile) {
        for (const bool bf : {false, true}) {
            unetpp::profiler::reset();
            unetpp::profiler::enable(true);
            for (int i = 0; i < o.iters; ++i) bf ? step16() : step32();
            unetpp::profiler::enable(false);
            print_profile(bf ? "bf16" : "fp32", o.iters);
        }
    }

    double max_abs = 0, max_ref = 0, se = 0, sr = 0;
    for (std::size_t i = 0; i < y32.size(); ++i) {
        const double d = double(y16[i]) - double(y32[i]);
        max_abs = std::max(max_abs, std::abs(d));
        max_ref = std::max(max_ref, std::abs(double(y32[i])));
        se += d * d;
        sr += double(y32[i]) * double(y32[i]);
    }
    const double m32 = median(t32), m16 = median(t16);
    const double min32 = *std::min_element(t32.begin(), t32.end()), min16 = *std::min_element(t16.begin(), t16.end());
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    std::printf("{\"mode\":\"%s\",\"model\":\"%s\",\"base\":%d,\"batch\":%d,\"size\":%d,\"threads\":%d,\"rounds\":%d,\"iters\":%d,"
                "\"fp32_ms\":%.2f,\"fp32_min_ms\":%.2f,\"bf16_ms\":%.2f,\"bf16_min_ms\":%.2f,"
                "\"fp32_img_s\":%.3f,\"bf16_img_s\":%.3f,\"speedup\":%.3f,"
                "\"fp32_cpu_ms\":%.2f,\"bf16_cpu_ms\":%.2f,\"cpu_time_ratio\":%.3f,"
                "\"max_abs_diff_over_max_abs\":%.3e,\"rel_l2\":%.3e,\"fp32_last_loss\":%.6f,"
                "\"bf16_last_loss\":%.6f}\n",
                o.train ? "train" : "infer", o.model.c_str(), o.base, o.batch, o.size, threads, o.rounds, o.iters, m32, min32, m16, min16,
                1e3 * o.batch / m32, 1e3 * o.batch / m16, m32 / m16, median(c32), median(c16),
                median(c32) / median(c16), max_abs / std::max(max_ref, 1e-30),
                std::sqrt(se / std::max(sr, 1e-300)), loss32, loss16);
    return 0;
}

constexpr unetpp::unet_cfg ronneberger_cfg(int base) {
    unetpp::unet_cfg c = unetpp::presets::ronneberger2015_cfg;
    c.base = base;
    return c;
}
constexpr unetpp::unet_cfg unet_bn_cfg(int base) {
    unetpp::unet_cfg c = unetpp::presets::unet_bn<32, 4>::cfg;
    c.base = base;
    return c;
}
static_assert(std::is_same_v<unetpp::unet<unet_bn_cfg(64)>, unetpp::presets::unet_bn<64, 4>>);

}  // namespace

int main(int argc, char** argv) {
    unetpp::flush_denormals();
    const options o = parse(argc, argv);
    try {
#if defined(__AVX512BF16__) && defined(__AVX512BW__)
        if (o.peak) return run_peak();
        if (o.convert_cost) return run_convert_cost();
#endif
        if (o.layers) {
            if (!unetpp::backend::cpu_bf16::supported()) {
                std::fprintf(stderr, "bf16_bench: this build or processor has no AVX512-BF16 (vdpbf16ps)\n");
                return 3;
            }
            return run_layers(o, o.model == "unet_bn");
        }
        if (o.model == "ronneberger2015")
            return o.base == 32 ? run<ronneberger_cfg(32)>(o) : run<ronneberger_cfg(64)>(o);
        return o.base == 32 ? run<unet_bn_cfg(32)>(o) : run<unet_bn_cfg(64)>(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bf16_bench: error: %s\n", e.what());
        return 1;
    }
}
