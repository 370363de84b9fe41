// Timing driver for the CPU convolution kernels (no framework).
//
// For every hot U-Net case it prints the minimum time per call (the machine is shared: the
// minimum over many repetitions is the least noisy estimate) and GFLOP/s of the fast forward,
// backward-data and backward-weights kernels, and their share of the machine's measured FMA peak.
// A last section compares our NCHW direct kernel with an NHWC formulation (9 shifted GEMMs) to
// justify the layout.
//
// Argument "wino" (or "wino:SUBSTRING") runs only the Winograd comparison instead: every
// stride-1 3x3 geometry of the presets (unet_bn<16..64, 3..4> at 64, 128, 256, batch 1 and 4,
// and ronneberger2015's valid convolutions at 572), forward and backward-data, with the
// algorithm forced to the direct kernel and to Winograd (set_conv2d_algorithm) in alternating
// rounds; then backward-weights, on the kernel the direct setting picks (direct or im2col + GEMM)
// against Winograd F(3x3, 4x4). It prints the median over the rounds (minimum beside it), the
// effective GFLOP/s of each (direct-convolution FLOPs over time, so the speed-up shows as GFLOP/s above the FMA
// peak's share the direct kernel reaches), their share of the measured FMA peak, and the
// speed-up; the last column is the algorithm the automatic choice picks.
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

// Median and minimum of v.
std::pair<double, double> median_min(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v.front()};
}

// Forward and backward-data of g, direct against Winograd, in `rounds` alternating rounds; each
// round's time of a variant is the minimum of `reps` calls.
void bench_winograd_case(const std::string& name, const k::conv_geometry& g, double peak, int rounds) {
    const std::size_t nx = std::size_t(g.n) * g.cin * g.h * g.w, nw = std::size_t(g.cout) * g.cin * 9;
    const std::size_t ny = std::size_t(g.n) * g.cout * g.oh() * g.ow();
    buffer x(nx, 1), w(nw, 2), b(g.cout, 3), y(ny, 4), dy(ny, 5), dx(nx, 6);
    const char* chosen = k::conv2d_forward_algorithm(g);
    const bool auto_wino = std::strstr(chosen, "winograd") != nullptr;
    std::size_t wsn = 0;
    for (k::conv_algo a : {k::conv_algo::direct, k::conv_algo::winograd}) {
        k::set_conv2d_algorithm(a);
        wsn = std::max({wsn, k::conv2d_forward_workspace_floats(g), k::conv2d_backward_data_workspace_floats(g),
                        k::conv2d_backward_weights_workspace_floats(g)});
    }
    buffer ws(wsn, 9), dw(nw, 7), db(std::size_t(g.cout), 8);
    k::set_conv2d_algorithm(k::conv_algo::automatic);
    const bool auto_wino_wgt = std::strstr(k::conv2d_backward_weights_algorithm(g), "winograd") != nullptr;
    const double flops = 2.0 * g.n * g.cout * g.cin * 9 * double(g.oh()) * g.ow();
    const int reps = flops > 4e9 ? 2 : flops > 4e8 ? 3 : 8;
    std::vector<double> t[3][2];  // [pass][algorithm]
    const auto once = [&](int pass) {
        if (pass == 0)
            k::conv2d_forward(g, x.p, w.p, b.p, y.p, ws.p);
        else if (pass == 1)
            k::conv2d_backward_data(g, dy.p, w.p, dx.p, ws.p);
        else
            k::conv2d_backward_weights(g, x.p, dy.p, dw.p, db.p, ws.p);
    };
    for (int r = 0; r < rounds; ++r)
        for (int pass = 0; pass < 3; ++pass)
            for (int a = 0; a < 2; ++a) {
                k::set_conv2d_algorithm(a == 0 ? k::conv_algo::direct : k::conv_algo::winograd);
                once(pass);  // warm-up: caches, page faults of the workspace
                double best = 1e30;
                for (int i = 0; i < reps; ++i) {
                    const double t0 = now_s();
                    once(pass);
                    best = std::min(best, (now_s() - t0) * 1e3);
                }
                t[pass][a].push_back(best);
            }
    k::set_conv2d_algorithm(k::conv_algo::automatic);
    for (int pass = 0; pass < 3; ++pass) {
        const auto [md, nd] = median_min(t[pass][0]);
        const auto [mw, nwm] = median_min(t[pass][1]);
        const double gd = flops / (md * 1e-3) / 1e9, gw = flops / (mw * 1e-3) / 1e9;
        std::printf("%-30s %-8s direct %9.3f ms (min %9.3f) %6.1f GF/s %5.1f%%  winograd %9.3f ms (min %9.3f) "
                    "%6.1f GF/s %5.1f%%  x%.2f  [auto: %s]\n",
                    name.c_str(), pass == 0 ? "fwd" : pass == 1 ? "bwd-data" : "bwd-wgt", md, nd, gd, 100 * gd / peak,
                    mw, nwm, gw, 100 * gw / peak, md / mw,
                    (pass == 2 ? auto_wino_wgt : auto_wino) ? "winograd" : "other");
        std::fflush(stdout);
    }
}

void bench_winograd(double peak, const std::string& sub) {
    std::vector<std::pair<std::string, k::conv_geometry>> cases;
    std::vector<std::string> seen;
    const auto add = [&](int n, int cin, int cout, int s, int pad, const char* tag) {
        char name[96];
        std::snprintf(name, sizeof name, "%s %d->%d @%d n%d", tag, cin, cout, s, n);
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) return;
        seen.emplace_back(name);
        if (sub.empty() || std::string(name).find(sub) != std::string::npos)
            cases.push_back({name, {n, cin, s, s, cout, 3, 3, 1, pad}});
    };
    for (int n : {1, 4})
        for (int size : {256, 128, 64})
            for (int base : {64, 32, 16})
                for (int l = 0; l <= 4; ++l) {
                    const int c = base << l, s = size >> l;
                    if (n == 4 && size != 256) continue;  // training batch: the 256 presets only
                    add(n, c, c, s, 1, "same");
                    if (l < 4) add(n, 2 * c, c, s, 1, "same");
                }
    int s = 572;
    for (int l = 0; l <= 4; ++l) {
        const int c = 64 << l;
        if (l > 0) add(1, c / 2, c, s, 0, "valid");
        add(1, c, c, s - 2, 0, "valid");
        s = l < 4 ? (s - 4) / 2 : s - 4;
    }
    for (int l = 3; l >= 0; --l) {
        const int c = 64 << l;
        s *= 2;
        add(1, 2 * c, c, s, 0, "valid");
        add(1, c, c, s - 2, 0, "valid");
        s -= 4;
    }
    for (const auto& [name, g] : cases) bench_winograd_case(name, g, peak, 5);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string filter = argc > 1 ? argv[1] : "";
    const double peak = measure_peak_gflops();
    std::printf("threads: %d   measured FMA peak: %.1f GFLOP/s (%d-lane xsimd batches)\n\n", threads(), peak,
                int(xsimd::batch<float>::size));
    if (filter.rfind("wino", 0) == 0) {
        bench_winograd(peak, filter.size() > 5 ? filter.substr(5) : "");
        return 0;
    }

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
