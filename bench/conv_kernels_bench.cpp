// Timing driver for the CPU convolution kernels (no framework).
//
// For every hot U-Net case it prints the minimum time per call (the machine is shared: the
// minimum over many repetitions is the least noisy estimate) and GFLOP/s of the fast forward,
// backward-data and backward-weights kernels, and their share of the machine's measured FMA peak.
// A last section compares our NCHW direct kernel with an NHWC formulation (9 shifted GEMMs) to
// justify the layout.
// FLOPs are counted as 2 * N * Cout * Cin * kh * kw * OH * OW (for transposed convolutions the same
// formula with the input spatial size, i.e. 2 * N * Cin * Cout * kh * kw * H * W).
//
// Build (one line): g++ -std=c++20 -O3 -march=native -fopenmp -I include -I /usr/include/eigen3
//                     bench/conv_kernels_bench.cpp -o conv_kernels_bench
// Run with OMP_NUM_THREADS=2 (or whatever thread count is to be measured). Optional argument:
// a substring; only cases whose name contains it are run.
#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/backend/cpu/kernels/conv_transpose2d.hpp>

#include <Eigen/Core>
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

// Minimum wall time of fn over enough repetitions to fill about min_seconds (at least 3 runs).
double min_ms(const std::function<void()>& fn, double min_seconds = 0.6) {
    fn();  // warm-up (page faults, caches)
    std::vector<double> t;
    const double start = now_s();
    while (t.size() < 3 || (now_s() - start < min_seconds && t.size() < 200)) {
        const double t0 = now_s();
        fn();
        t.push_back((now_s() - t0) * 1e3);
    }
    return *std::min_element(t.begin(), t.end());
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
           min_ms([&] { k::conv2d_forward(g, x.p, w.p, b.p, y.p, ws.p); }, budget), peak);
    report(name, "bwd-data", k::conv2d_forward_algorithm(g), flops,
           min_ms([&] { k::conv2d_backward_data(g, dy.p, w.p, dx.p, ws.p); }, budget), peak);
    report(name, "bwd-wgt", k::conv2d_backward_weights_algorithm(g), flops,
           min_ms([&] { k::conv2d_backward_weights(g, x.p, dy.p, dw.p, db.p, ws.p); }, budget), peak);
}

void bench_convt(const std::string& name, k::conv_transpose_geometry g, double peak) {
    const std::size_t nx = std::size_t(g.n) * g.cin * g.h * g.w;
    const std::size_t nw = std::size_t(g.cout) * g.cin * g.kh * g.kw;
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    buffer x(nx, 1), w(nw, 2), b(g.cout, 3), y(ny, 4), dy(ny, 5), dx(nx, 6), dw(nw, 7), db(g.cout, 8);
    buffer ws(k::conv_transpose2d_workspace_floats(g), 9);
    const double flops = 2.0 * g.n * g.cout * g.cin * g.kh * g.kw * double(g.h) * g.w;
    report(name, "fwd", "gemm+scatter", flops,
           min_ms([&] { k::conv_transpose2d_forward(g, x.p, w.p, b.p, y.p, ws.p); }), peak);
    report(name, "bwd-data", "gather+gemm", flops,
           min_ms([&] { k::conv_transpose2d_backward_data(g, dy.p, w.p, dx.p, ws.p); }), peak);
    report(name, "bwd-wgt", "gather+gemm", flops,
           min_ms([&] { k::conv_transpose2d_backward_weights(g, x.p, dy.p, dw.p, db.p, ws.p); }), peak);
}

// Layout comparison (run once): 3x3 64->64 "same" forward at 256x256 in NHWC, computed as 9
// shifted GEMMs Y[p, co] += X[p + shift(ky, kx), ci] * W_tap[ci, co]. The NHWC input is stored
// padded to 258 x 258 and the output with the same row pitch (two junk columns per row), so every
// tap of a band of output rows is one contiguous [rows*258, Cin] matrix: the most favourable
// NHWC formulation (no im2col at all). Threads take static bands of rows and call Eigen
// single-threaded (inside the parallel region).
void bench_layout(double peak) {
    using mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    constexpr int C = 64, H = 256, Wd = 256, P = Wd + 2;
    buffer xin(std::size_t(P) * (P + 1) * C, 1), wt(std::size_t(9) * C * C, 2), yout(std::size_t(H) * P * C, 3);
    const double flops = 2.0 * C * C * 9 * double(H) * Wd;
    const int band = 8;  // output rows per GEMM: M = 8*258 pixels
    const double ms_nhwc = min_ms([&] {
#pragma omp parallel for schedule(static)
        for (int r0 = 0; r0 < H; r0 += band) {
            const int rows = std::min(band, H - r0);
            Eigen::Map<mat> y(yout.p + std::size_t(r0) * P * C, std::ptrdiff_t(rows) * P, C);
            y.setZero();
            for (int ky = 0; ky < 3; ++ky)
                for (int kx = 0; kx < 3; ++kx) {
                    const Eigen::Map<const mat> xs(xin.p + (std::size_t(r0 + ky) * P + kx) * C, std::ptrdiff_t(rows) * P, C);
                    const Eigen::Map<const mat> wk(wt.p + std::size_t(ky * 3 + kx) * C * C, C, C);
                    y.noalias() += xs * wk;
                }
        }
    });
    report("layout: NHWC 9 shifted GEMMs", "fwd", "eigen per row band", flops, ms_nhwc, peak);
    const k::conv_geometry g{1, C, H, Wd, C, 3, 3, 1, 1};
    buffer x(std::size_t(C) * H * Wd, 4), w(std::size_t(C) * C * 9, 5), b(C, 6), y(std::size_t(C) * H * Wd, 7);
    buffer ws(k::conv2d_forward_workspace_floats(g), 8);
    report("layout: NCHW direct (ours)", "fwd", k::conv2d_forward_algorithm(g), flops,
           min_ms([&] { k::conv2d_forward(g, x.p, w.p, b.p, y.p, ws.p); }), peak);
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
    // "@HxW" is the output size; "same" cases use the kernels' implicit zero padding (pad = 1),
    // "valid" cases an unpadded input.
    const conv_case convs[] = {
        {"3x3 64->64 @256x256 n1", {1, 64, 256, 256, 64, 3, 3, 1, 1}},
        {"3x3 128->128 @128x128 n1", {1, 128, 128, 128, 128, 3, 3, 1, 1}},
        {"3x3 256->256 @64x64 n1", {1, 256, 64, 64, 256, 3, 3, 1, 1}},
        {"3x3 512->512 @32x32 n1", {1, 512, 32, 32, 512, 3, 3, 1, 1}},
        {"3x3 1024->1024 @16x16 n1", {1, 1024, 16, 16, 1024, 3, 3, 1, 1}},
        {"3x3 64->64 @256x256 n4", {4, 64, 256, 256, 64, 3, 3, 1, 1}},
        {"3x3 128->128 @128x128 n4", {4, 128, 128, 128, 128, 3, 3, 1, 1}},
        {"3x3 256->256 @64x64 n4", {4, 256, 64, 64, 256, 3, 3, 1, 1}},
        {"3x3 512->512 @32x32 n4", {4, 512, 32, 32, 512, 3, 3, 1, 1}},
        {"3x3 1024->1024 @16x16 n4", {4, 1024, 16, 16, 1024, 3, 3, 1, 1}},
        {"3x3 64->64 572->570 valid n1", {1, 64, 572, 572, 64, 3, 3, 1, 0}},
        {"3x3 1->64 @256x256 (first layer)", {1, 1, 256, 256, 64, 3, 3, 1, 1}},
        {"1x1 64->2 @388x388 (head)", {1, 64, 388, 388, 2, 1, 1, 1, 0}},
        {"3x3 s2 64->64 @64x64", {1, 64, 128, 128, 64, 3, 3, 2, 1}},
    };
    for (const auto& c : convs)
        if (filter.empty() || std::string(c.name).find(filter) != std::string::npos) bench_conv(c.name, c.g, peak);

    struct convt_case {
        const char* name;
        k::conv_transpose_geometry g;
    };
    const convt_case convts[] = {
        {"convT k2s2 1024->512 28->56", {1, 1024, 28, 28, 512, 2, 2, 2, 0}},
        {"convT k2s2 1024->512 32->64", {1, 1024, 32, 32, 512, 2, 2, 2, 0}},
        {"convT k2s2 512->256 64->128", {1, 512, 64, 64, 256, 2, 2, 2, 0}},
        {"convT k2s2 256->128 128->256", {1, 256, 128, 128, 128, 2, 2, 2, 0}},
        {"convT k2s2 128->64 256->512", {1, 128, 256, 256, 64, 2, 2, 2, 0}},
        {"convT k4s2p1 64->64 64->128", {1, 64, 64, 64, 64, 4, 4, 2, 1}},
    };
    for (const auto& c : convts)
        if (filter.empty() || std::string(c.name).find(filter) != std::string::npos) bench_convt(c.name, c.g, peak);
    if (filter.empty() || filter == "layout") bench_layout(peak);
    return 0;
}
