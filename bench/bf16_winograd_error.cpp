// How accurate would bf16 Winograd be? A scalar emulation, no timing: for random 3x3
// convolutions (ReLU-like inputs in [0, 1), weights uniform with He scale) it computes one output
// tile by Winograd with the transformed operands U = G g G^T and V = BT d B rounded to bf16 (the
// element-wise products summed exactly, the transforms in double), and compares with the exact
// convolution. Printed per algorithm and channel count: the largest error over the sum of
// |products| of an output, and the mean error relative to |output|.
//
//   F(4x4, 3x3)  the transforms of winograd_transforms.hpp (points 0, +-1, +-2, infinity), what
//                backend::cpu runs in fp32;
//   F(2x2, 3x3)  points 0, +-1, infinity (entries 0, +-1, +-1/2);
//   direct       bf16(x) * bf16(w) summed exactly: what backend::cpu_bf16 computes.
//
// docs/PERFORMANCE.md ("bf16 compute") uses it to say which bf16 Winograd is worth building.
// Build: g++ -std=c++20 -O2 -I include bench/bf16_winograd_error.cpp -o bf16_winograd_error
#include <unetpp/backend/cpu/kernels/bf16_support.hpp>
#include <unetpp/backend/cpu/kernels/winograd_transforms.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

namespace bf = unetpp::backend::cpu_kernels::bf16;
namespace ck = unetpp::backend::cpu_kernels;

double round_bf16(double v) { return bf::from_bf16(bf::to_bf16(float(v))); }

constexpr double bt2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double at2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

struct algo {
    const char* name;
    int alpha, m;  // tile input side, outputs per side
    double (*bt)(int, int);
    double (*g)(int, int);
    double (*at)(int, int);
};

const algo algos[] = {
    {"F(4x4,3x3)", 6, 4, [](int i, int j) { return ck::winograd_BT[i][j]; },
     [](int i, int j) { return ck::winograd_G[i][j]; }, [](int i, int j) { return ck::winograd_AT[i][j]; }},
    {"F(2x2,3x3)", 4, 2, [](int i, int j) { return bt2[i][j]; }, [](int i, int j) { return g2[i][j]; },
     [](int i, int j) { return at2[i][j]; }},
};

// One tile of C channels: errors of the m x m outputs, appended to worst / sum.
void tile(const algo& a, int c_count, std::mt19937& rng, double& worst, double& rel_sum, long& count) {
    std::uniform_real_distribution<double> u(-1, 1), pos(0, 1);
    const int A = a.alpha, M = a.m;
    std::vector<double> d(std::size_t(c_count) * A * A), g(std::size_t(c_count) * 9), acc(std::size_t(A) * A, 0.0);
    for (auto& v : d) v = pos(rng);
    for (auto& v : g) v = u(rng) * std::sqrt(6.0 / (9.0 * c_count));
    for (int c = 0; c < c_count; ++c) {
        double t[6][6] = {}, U[6][6] = {}, V[6][6] = {};
        for (int i = 0; i < A; ++i)
            for (int j = 0; j < 3; ++j)
                for (int k = 0; k < 3; ++k) t[i][j] += a.g(i, k) * g[c * 9 + k * 3 + j];
        for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j)
                for (int k = 0; k < 3; ++k) U[i][j] += t[i][k] * a.g(j, k);
        double s[6][6] = {};
        for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j)
                for (int k = 0; k < A; ++k) s[i][j] += a.bt(i, k) * d[(std::size_t(c) * A + k) * A + j];
        for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j)
                for (int k = 0; k < A; ++k) V[i][j] += s[i][k] * a.bt(j, k);
        for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j) acc[i * A + j] += round_bf16(U[i][j]) * round_bf16(V[i][j]);
    }
    double t[4][6] = {};
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < A; ++j)
            for (int k = 0; k < A; ++k) t[i][j] += a.at(i, k) * acc[k * A + j];
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) {
            double y = 0, exact = 0, mag = 0;
            for (int k = 0; k < A; ++k) y += t[i][k] * a.at(j, k);
            for (int c = 0; c < c_count; ++c)
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        const double p = d[(std::size_t(c) * A + i + ky) * A + j + kx] * g[c * 9 + ky * 3 + kx];
                        exact += p;
                        mag += std::abs(p);
                    }
            worst = std::max(worst, std::abs(y - exact) / mag);
            rel_sum += std::abs(y - exact) / std::max(std::abs(exact), 1e-12);
            ++count;
        }
}

void direct(int c_count, std::mt19937& rng, double& worst, double& rel_sum, long& count) {
    std::uniform_real_distribution<double> u(-1, 1), pos(0, 1);
    double y = 0, exact = 0, mag = 0;
    for (int i = 0; i < c_count * 9; ++i) {
        const double x = pos(rng), w = u(rng) * std::sqrt(6.0 / (9.0 * c_count));
        y += round_bf16(x) * round_bf16(w);
        exact += x * w;
        mag += std::abs(x * w);
    }
    worst = std::max(worst, std::abs(y - exact) / mag);
    rel_sum += std::abs(y - exact) / std::max(std::abs(exact), 1e-12);
    ++count;
}

}  // namespace

int main() {
    std::mt19937 rng(2026);
    for (const int c : {16, 64, 256, 1024}) {
        for (int which = 0; which < 3; ++which) {
            double worst = 0, rel = 0;
            long count = 0;
            for (int trial = 0; trial < 200; ++trial) {
                if (which < 2)
                    tile(algos[which], c, rng, worst, rel, count);
                else
                    for (int k = 0; k < 16; ++k) direct(c, rng, worst, rel, count);
            }
            std::printf("{\"algorithm\":\"%s\",\"channels\":%d,\"max_err_over_sum_abs_products\":%.2e,"
                        "\"mean_err_over_abs_output\":%.2e}\n",
                        which < 2 ? algos[which].name : "direct", c, worst, rel / double(count));
        }
    }
}
