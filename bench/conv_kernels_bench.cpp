// Timing driver for the CPU convolution kernels (no framework).
//
// For every hot U-Net case it prints the median time per call and GFLOP/s of the fast forward,
// backward-data and backward-weights kernels, and their share of the machine's measured FMA peak.
// FLOPs are counted as 2 * N * Cout * Cin * kh * kw * OH * OW (for transposed convolutions the same
// formula with the input spatial size, i.e. 2 * N * Cin * Cout * kh * kw * H * W).
//
// Build: g++ -std=c++20 -O3 -march=native -fopenmp -I include -I /usr/include/eigen3 \
//            bench/conv_kernels_bench.cpp -o conv_kernels_bench
// Run with OMP_NUM_THREADS=2 (or whatever thread count is to be measured). Optional argument:
// a substring; only cases whose name contains it are run.
#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/backend/cpu/kernels/conv_transpose2d.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace k = unetpp::backend::cpu_kernels;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// 64-byte aligned float buffer filled with uniform noise.
struct buffer {
    float* p = nullptr;
    std::size_t n = 0;
    explicit buffer(std::size_t count, unsigned seed = 0) : n(count) {
        const std::size_t bytes = std::max<std::size_t>(64, (count * sizeof(float) + 63) / 64 * 64);
        p = static_cast<float*>(std::aligned_alloc(64, bytes));
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (std::size_t i = 0; i < count; ++i) p[i] = u(rng);
    }
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;
    ~buffer() { std::free(p); }
};

// Median wall time of fn over enough repetitions to fill about min_seconds (at least 3 runs).
double median_ms(const std::function<void()>& fn, double min_seconds = 0.6) {
    fn();  // warm-up (page faults, caches)
    std::vector<double> t;
    const double start = now_s();
    while (t.size() < 3 || (now_s() - start < min_seconds && t.size() < 200)) {
        const double t0 = now_s();
        fn();
        t.push_back((now_s() - t0) * 1e3);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// FMA throughput: every thread runs 16 independent accumulator chains of batch FMAs.
double measure_peak_gflops() {
    using batch = xsimd::batch<float>;
    constexpr int chains = 16;
    const long iters = 20'000'000;
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
        float sink = 0.0f;
        const double t0 = now_s();
#pragma omp parallel reduction(+ : sink)
        {
            batch acc[chains];
            for (int i = 0; i < chains; ++i) acc[i] = batch(0.001f * float(i));
            const batch a(0.99999f), c(1e-7f);
            for (long it = 0; it < iters; ++it)
                for (int i = 0; i < chains; ++i) acc[i] = xsimd::fma(acc[i], a, c);
            batch s(0.0f);
            for (int i = 0; i < chains; ++i) s += acc[i];
            sink += xsimd::hadd(s);
        }
        const double secs = now_s() - t0;
        if (sink == 12345.0f) std::printf(" ");
        best = std::max(best, 2.0 * batch::size * chains * double(iters) * threads() / secs / 1e9);
    }
    return best;
}

struct row {
    std::string name, pass, algo;
    double ms, gflops;
};

std::vector<row> results;

void report(const std::string& name, const std::string& pass, const std::string& algo, double flops, double ms,
            double peak) {
    const double gf = flops / (ms * 1e-3) / 1e9;
    std::printf("%-34s %-8s %10.3f ms %8.1f GFLOP/s %6.1f%% of peak   [%s]\n", name.c_str(), pass.c_str(), ms, gf,
                100.0 * gf / peak, algo.c_str());
    std::fflush(stdout);
    results.push_back({name, pass, algo, ms, gf});
}

void bench_conv(const std::string& name, k::conv_geometry g, double peak) {
    const std::size_t nx = std::size_t(g.n) * g.cin * g.h * g.w;
    const std::size_t nw = std::size_t(g.cout) * g.cin * g.kh * g.kw;
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    buffer x(nx, 1), w(nw, 2), b(g.cout, 3), y(ny, 4), dy(ny, 5), dx(nx, 6), dw(nw, 7), db(g.cout, 8);
    const std::size_t wsn = std::max({k::conv2d_forward_workspace_floats(g), k::conv2d_backward_data_workspace_floats(g),
                                      k::conv2d_backward_weights_workspace_floats(g)});
    buffer ws(wsn, 9);
    const double flops = 2.0 * g.n * g.cout * g.cin * g.kh * g.kw * double(g.oh()) * g.ow();
    const double budget = 0.6;
    report(name, "fwd", k::conv2d_forward_algorithm(g), flops,
           median_ms([&] { k::conv2d_forward(g, x.p, w.p, b.p, y.p, ws.p); }, budget), peak);
    report(name, "bwd-data", "", flops,
           median_ms([&] { k::conv2d_backward_data(g, dy.p, w.p, dx.p, ws.p); }, budget), peak);
    report(name, "bwd-wgt", "", flops,
           median_ms([&] { k::conv2d_backward_weights(g, x.p, dy.p, dw.p, db.p, ws.p); }, budget), peak);
}

void bench_convt(const std::string& name, k::conv_transpose_geometry g, double peak) {
    const std::size_t nx = std::size_t(g.n) * g.cin * g.h * g.w;
    const std::size_t nw = std::size_t(g.cout) * g.cin * g.kh * g.kw;
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    buffer x(nx, 1), w(nw, 2), b(g.cout, 3), y(ny, 4), dy(ny, 5), dx(nx, 6), dw(nw, 7), db(g.cout, 8);
    buffer ws(k::conv_transpose2d_workspace_floats(g), 9);
    const double flops = 2.0 * g.n * g.cout * g.cin * g.kh * g.kw * double(g.h) * g.w;
    report(name, "fwd", "gemm+scatter", flops,
           median_ms([&] { k::conv_transpose2d_forward(g, x.p, w.p, b.p, y.p, ws.p); }), peak);
    report(name, "bwd-data", "gather+gemm", flops,
           median_ms([&] { k::conv_transpose2d_backward_data(g, dy.p, w.p, dx.p, ws.p); }), peak);
    report(name, "bwd-wgt", "gather+gemm", flops,
           median_ms([&] { k::conv_transpose2d_backward_weights(g, x.p, dy.p, dw.p, db.p, ws.p); }), peak);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string filter = argc > 1 ? argv[1] : "";
    const double peak = measure_peak_gflops();
    std::printf("threads: %d   measured FMA peak: %.1f GFLOP/s (%d-lane xsimd batches)\n\n", threads(), peak,
                int(xsimd::batch<float>::size));

    struct conv_case {
        const char* name;
        k::conv_geometry g;
    };
    // Inputs are given already padded: "@HxW" is the output size.
    const conv_case convs[] = {
        {"3x3 64->64 @256x256 n1", {1, 64, 258, 258, 64, 3, 3, 1}},
        {"3x3 128->128 @128x128 n1", {1, 128, 130, 130, 128, 3, 3, 1}},
        {"3x3 256->256 @64x64 n1", {1, 256, 66, 66, 256, 3, 3, 1}},
        {"3x3 512->512 @32x32 n1", {1, 512, 34, 34, 512, 3, 3, 1}},
        {"3x3 1024->1024 @16x16 n1", {1, 1024, 18, 18, 1024, 3, 3, 1}},
        {"3x3 64->64 @128x128 n8", {8, 64, 130, 130, 64, 3, 3, 1}},
        {"3x3 64->64 572->570 valid n1", {1, 64, 572, 572, 64, 3, 3, 1}},
        {"3x3 128->128 284->282 valid n1", {1, 128, 284, 284, 128, 3, 3, 1}},
        {"3x3 1->64 @570x570 (first layer)", {1, 1, 572, 572, 64, 3, 3, 1}},
        {"1x1 64->2 @388x388 (head)", {1, 64, 388, 388, 2, 1, 1, 1}},
        {"3x3 s2 64->64 @64x64", {1, 64, 129, 129, 64, 3, 3, 2}},
    };
    for (const auto& c : convs)
        if (filter.empty() || std::string(c.name).find(filter) != std::string::npos) bench_conv(c.name, c.g, peak);

    struct convt_case {
        const char* name;
        k::conv_transpose_geometry g;
    };
    const convt_case convts[] = {
        {"convT k2s2 1024->512 28->56", {1, 1024, 28, 28, 512, 2, 2, 2, 0}},
        {"convT k2s2 256->128 64->128", {1, 256, 64, 64, 128, 2, 2, 2, 0}},
        {"convT k2s2 128->64 196->392", {1, 128, 196, 196, 64, 2, 2, 2, 0}},
        {"convT k4s2p1 64->64 64->128", {1, 64, 64, 64, 64, 4, 4, 2, 1}},
    };
    for (const auto& c : convts)
        if (filter.empty() || std::string(c.name).find(filter) != std::string::npos) bench_convt(c.name, c.g, peak);
    return 0;
}
