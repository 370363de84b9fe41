// The CUDA kernels' batch-norm and per-channel bodies (bodies/batch_norm.hpp, bodies/eltwise.hpp,
// bodies/pool.hpp) run on the host in the device's launch shape (bodies/emulate.hpp: one block
// per channel, the threads' double sums added with the tree of block_threads) against
// backend::cpu, on odd shapes: planes smaller and larger than a block, a batch of one, a
// channel of one element.
//
// Tolerances: the element-wise maps (eval forward, apply_saved, fold, the epilogue, bias, the eval
// backward's dx, average pooling's backward) are bit-exact; floating-point contraction is off in
// this file so the comparison is of arithmetic, not of fused multiply-adds (see
// test_cuda_bodies.cpp). Statistics and gradients that go through a sum differ from the CPU's
// only by the order of that sum (the CPU adds in float along each plane, the device in double in
// a tree): within 1e-6 relative to the size of the quantity (stats_tolerance, the bound issue 17
// sets for reductions; the worst seen is 6e-7), far below the 1e-3 that a wrong formula, a
// dropped element or a biased/unbiased mix-up gives (both were tried and fail these checks).

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/backend/cuda/bodies/batch_norm.hpp>
#include <unetpp/backend/cuda/bodies/eltwise.hpp>
#include <unetpp/backend/cuda/bodies/emulate.hpp>
#include <unetpp/backend/cuda/bodies/pool.hpp>
#include <unetpp/tensor/rng.hpp>

namespace {

using cpu = unetpp::backend::cpu;
namespace bodies = unetpp::cuda_kernels::bodies;
namespace emulate = unetpp::cuda_kernels::emulate;
using vec = std::vector<float>;

vec random_values(std::size_t n, std::uint64_t seed, double mean = 0.0, double scale = 1.0) {
    vec v(n);
    unetpp::rng r(seed);
    for (auto& x : v) x = static_cast<float>(mean + r.normal() * scale);
    return v;
}
bool identical(const vec& a, const vec& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
/// Largest |a - b| over the size of the quantity: the largest |a|, or of the values it was made
/// from (`parts`) where those are larger. A running mean 0.9 * old + 0.1 * mean, or a gradient
/// added to an existing one, can land near 0 by cancellation while its error stays that of its
/// parts; measured against its own size it would look large for no fault of the sum.
double relative_error(const vec& a, const vec& b, std::initializer_list<const vec*> parts = {}) {
    double diff = 0, size = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
        size = std::max(size, std::abs(static_cast<double>(a[i])));
    }
    for (const vec* p : parts)
        for (const float v : *p) size = std::max(size, std::abs(static_cast<double>(v)));
    return diff / (size > 0 ? size : 1.0);
}

struct shape {
    int n, c;
    std::ptrdiff_t plane;
    std::size_t total() const { return static_cast<std::size_t>(n) * c * plane; }
};
// Planes below, at and above block_threads (256); a batch of one; a channel of one element
// (the unbiased variance's count - 1 = 0 case) and of two.
constexpr shape shapes[] = {{3, 4, 37}, {1, 2, 300}, {2, 3, 256}, {2, 3, 1}, {1, 2, 1}, {4, 1, 513}};

constexpr double stats_tolerance = 1e-6;

/// Per channel, the sum of |term(ch, i)| over the channel's elements (i the flat index): the size
/// a sum's rounding is measured against, since a sum that cancels keeps its terms' rounding.
template <class F>
vec channel_abs_sums(const shape& s, F term) {
    vec out(static_cast<std::size_t>(s.c));
    for (int ch = 0; ch < s.c; ++ch) {
        double acc = 0;
        for (int smp = 0; smp < s.n; ++smp)
            for (std::ptrdiff_t i = 0; i < s.plane; ++i)
                acc += std::abs(static_cast<double>(term(ch, (static_cast<std::ptrdiff_t>(smp) * s.c + ch) * s.plane + i)));
        out[static_cast<std::size_t>(ch)] = static_cast<float>(acc);
    }
    return out;
}

}  // namespace

TEST_CASE("batch norm training forward: statistics, running averages and the output") {
    for (const shape s : shapes) {
        for (const bool relu : {false, true}) {
            CAPTURE(s.n);
            CAPTURE(s.c);
            CAPTURE(s.plane);
            CAPTURE(relu);
            const std::size_t c = static_cast<std::size_t>(s.c);
            const vec x = random_values(s.total(), 7, 3.0, 2.0);  // an offset mean: the two-pass variance matters
            const vec gamma = random_values(c, 11, 1.0, 0.3), beta = random_values(c, 13);
            vec ya(s.total()), yb(s.total());
            const vec rm0 = random_values(c, 17), rv0 = random_values(c, 19, 2.0, 0.1);
            vec rma = rm0, rva = rv0, rmb = rm0, rvb = rv0;
            vec sma(c), sia(c), smb(c), sib(c);
            cpu::batch_norm_forward_train(x.data(), ya.data(), s.n, s.c, s.plane, gamma.data(), beta.data(), 1e-5f,
                                          0.1f, rma.data(), rva.data(), sma.data(), sia.data(), relu);
            emulate::batch_norm_forward_train(bodies::batch_norm_forward_train{
                x.data(), yb.data(), s.n, s.c, s.plane, gamma.data(), beta.data(), 1e-5f, 0.1f, rmb.data(), rvb.data(),
                smb.data(), sib.data(), relu});
            CHECK(relative_error(sma, smb) <= stats_tolerance);
            CHECK(relative_error(sia, sib) <= stats_tolerance);
            CHECK(relative_error(rma, rmb, {&rm0, &sma}) <= stats_tolerance);
            CHECK(relative_error(rva, rvb, {&rv0}) <= stats_tolerance);
            CHECK(relative_error(ya, yb) <= stats_tolerance);

            // apply_saved from the same saved statistics is the training forward's map, exactly.
            vec yc(s.total()), yd(s.total());
            cpu::batch_norm_apply_saved(x.data(), yc.data(), s.n, s.c, s.plane, gamma.data(), beta.data(), sma.data(),
                                        sia.data(), relu);
            emulate::for_each_index(static_cast<std::ptrdiff_t>(s.total()),
                                    bodies::batch_norm_apply_saved{x.data(), yd.data(), s.c, s.plane, gamma.data(),
                                                                   beta.data(), sma.data(), sia.data(), relu});
            CHECK(identical(yc, yd));
            CHECK(identical(yc, ya));
        }
    }
}

TEST_CASE("batch norm eval forward and fold are the CPU's map, bit for bit") {
    for (const shape s : shapes) {
        for (const bool relu : {false, true}) {
            CAPTURE(s.plane);
            CAPTURE(relu);
            const std::size_t c = static_cast<std::size_t>(s.c);
            const vec x = random_values(s.total(), 23), gamma = random_values(c, 29), beta = random_values(c, 31);
            const vec mean = random_values(c, 37);
            vec var = random_values(c, 41, 1.0, 0.5);
            for (auto& v : var) v = std::abs(v);
            vec ya(s.total()), yb(s.total());
            cpu::batch_norm_forward_eval(x.data(), ya.data(), s.n, s.c, s.plane, gamma.data(), beta.data(), 1e-3f,
                                         mean.data(), var.data(), relu);
            emulate::for_each_index(static_cast<std::ptrdiff_t>(s.total()),
                                    bodies::batch_norm_forward_eval{x.data(), yb.data(), s.c, s.plane, gamma.data(),
                                                                    beta.data(), 1e-3f, mean.data(), var.data(), relu});
            CHECK(identical(ya, yb));
            vec sca(c), sha(c), scb(c), shb(c);
            cpu::batch_norm_fold(gamma.data(), beta.data(), 1e-3f, mean.data(), var.data(), s.c, sca.data(), sha.data());
            emulate::for_each_index(s.c, bodies::batch_norm_fold{gamma.data(), beta.data(), 1e-3f, mean.data(),
                                                                 var.data(), scb.data(), shb.data()});
            CHECK(identical(sca, scb));
            CHECK(identical(sha, shb));
        }
    }
}

TEST_CASE("batch norm training backward, plain and through a fused ReLU") {
    for (const shape s : shapes) {
        for (const bool relu : {false, true}) {
            CAPTURE(s.n);
            CAPTURE(s.c);
            CAPTURE(s.plane);
            CAPTURE(relu);
            const std::size_t c = static_cast<std::size_t>(s.c);
            const vec x = random_values(s.total(), 43, -1.0, 1.5), dy = random_values(s.total(), 47);
            const vec gamma = random_values(c, 53, 1.0, 0.3), beta = random_values(c, 59);
            vec y(s.total()), rm(c, 0.0f), rv(c, 1.0f), mean(c), invstd(c);
            cpu::batch_norm_forward_train(x.data(), y.data(), s.n, s.c, s.plane, gamma.data(), beta.data(), 1e-5f,
                                          0.1f, rm.data(), rv.data(), mean.data(), invstd.data(), relu);
            const float* relu_out = relu ? y.data() : nullptr;
            vec dxa(s.total()), dxb(s.total());
            const vec dg0 = random_values(c, 61), db0 = random_values(c, 67);
            vec dga = dg0, dba = db0, dgb = dg0, dbb = db0;  // added to
            cpu::batch_norm_backward_train(x.data(), dy.data(), dxa.data(), s.n, s.c, s.plane, gamma.data(),
                                           mean.data(), invstd.data(), dga.data(), dba.data(), relu_out);
            emulate::channel_reduce(s.c, bodies::batch_norm_backward_train{x.data(), dy.data(), dxb.data(), s.n, s.c,
                                                                           s.plane, gamma.data(), mean.data(),
                                                                           invstd.data(), dgb.data(), dbb.data(),
                                                                           relu_out});
            const auto g = [&](std::ptrdiff_t i) { return relu_out && !(relu_out[i] > 0) ? 0.0f : dy[static_cast<std::size_t>(i)]; };
            const vec dg_terms = channel_abs_sums(s, [&](int ch, std::ptrdiff_t i) {
                return g(i) * (x[static_cast<std::size_t>(i)] - mean[static_cast<std::size_t>(ch)]) *
                       invstd[static_cast<std::size_t>(ch)];
            });
            const vec db_terms = channel_abs_sums(s, [&](int, std::ptrdiff_t i) { return g(i); });
            CHECK(relative_error(dga, dgb, {&dg0, &dg_terms}) <= stats_tolerance);
            CHECK(relative_error(dba, dbb, {&db0, &db_terms}) <= stats_tolerance);
            // dx = k * (M g - dbeta - xhat dgamma) cancels by design (it sums to zero over a
            // channel); measured against the size of its terms, M |g| k, not of its result.
            double worst = 0, size = 0;
            for (std::size_t i = 0; i < s.total(); ++i) {
                worst = std::max(worst, std::abs(static_cast<double>(dxa[i]) - dxb[i]));
                size = std::max(size, std::abs(static_cast<double>(dy[i])) * std::abs(gamma[i / s.plane % c]) *
                                          invstd[i / static_cast<std::size_t>(s.plane) % c]);
            }
            CHECK(worst <= stats_tolerance * size);
        }
    }
}

TEST_CASE("batch norm eval backward: dx exact, the parameter gradients to the order of a sum") {
    for (const shape s : shapes) {
        for (const bool relu : {false, true}) {
            CAPTURE(s.plane);
            CAPTURE(relu);
            const std::size_t c = static_cast<std::size_t>(s.c);
            const vec x = random_values(s.total(), 71), dy = random_values(s.total(), 73);
            const vec gamma = random_values(c, 79), beta = random_values(c, 83), mean = random_values(c, 89);
            vec var = random_values(c, 97, 1.0, 0.5);
            for (auto& v : var) v = std::abs(v);
            vec y(s.total());
            cpu::batch_norm_forward_eval(x.data(), y.data(), s.n, s.c, s.plane, gamma.data(), beta.data(), 1e-5f,
                                         mean.data(), var.data(), true);
            const float* relu_out = relu ? y.data() : nullptr;
            vec dxa(s.total()), dxb(s.total());
            const vec dg0 = random_values(c, 101), db0 = random_values(c, 103);
            vec dga = dg0, dba = db0, dgb = dg0, dbb = db0;
            cpu::batch_norm_backward_eval(x.data(), dy.data(), dxa.data(), s.n, s.c, s.plane, gamma.data(), 1e-5f,
                                          mean.data(), var.data(), dga.data(), dba.data(), relu_out);
            emulate::channel_reduce(s.c, bodies::batch_norm_backward_eval{x.data(), dy.data(), dxb.data(), s.n, s.c,
                                                                          s.plane, gamma.data(), 1e-5f, mean.data(),
                                                                          var.data(), dgb.data(), dbb.data(), relu_out});
            CHECK(identical(dxa, dxb));
            const auto g = [&](std::ptrdiff_t i) { return relu_out && !(relu_out[i] > 0) ? 0.0f : dy[static_cast<std::size_t>(i)]; };
            const vec dg_terms = channel_abs_sums(s, [&](int ch, std::ptrdiff_t i) {
                const std::size_t k = static_cast<std::size_t>(ch);
                return g(i) * (x[static_cast<std::size_t>(i)] - mean[k]) / std::sqrt(var[k] + 1e-5f);
            });
            const vec db_terms = channel_abs_sums(s, [&](int, std::ptrdiff_t i) { return g(i); });
            CHECK(relative_error(dga, dgb, {&dg0, &dg_terms}) <= stats_tolerance);
            CHECK(relative_error(dba, dbb, {&db0, &db_terms}) <= stats_tolerance);
        }
    }
}

TEST_CASE("convolution helpers: bias, the fused epilogue and the bias gradient") {
    for (const shape s : shapes) {
        CAPTURE(s.n);
        CAPTURE(s.c);
        CAPTURE(s.plane);
        const std::size_t c = static_cast<std::size_t>(s.c);
        const std::ptrdiff_t total = static_cast<std::ptrdiff_t>(s.total());
        const vec y0 = random_values(s.total(), 107), bias = random_values(c, 109), scale = random_values(c, 113),
                  shift = random_values(c, 127);
        // add_channel_bias against a plain loop.
        vec ya = y0, yb = y0;
        for (std::size_t i = 0; i < s.total(); ++i) ya[i] += bias[i / static_cast<std::size_t>(s.plane) % c];
        emulate::for_each_index(total, bodies::add_channel_bias{yb.data(), bias.data(), s.c, s.plane});
        CHECK(identical(ya, yb));
        // channel_affine against the CPU's fused-convolution epilogue, every null combination.
        for (int mask = 0; mask < 16; ++mask) {
            CAPTURE(mask);
            const float* b = mask & 1 ? bias.data() : nullptr;
            const float* sc = mask & 2 ? scale.data() : nullptr;
            const float* sh = mask & 4 ? shift.data() : nullptr;
            const bool relu = (mask & 8) != 0;
            vec ea = y0, eb = y0;
            if (b)
                for (std::size_t i = 0; i < s.total(); ++i) ea[i] += b[i / static_cast<std::size_t>(s.plane) % c];
            unetpp::backend::cpu_kernels::conv_epilogue(ea.data(), s.n, s.c, s.plane, sc, sh, relu);
            emulate::for_each_index(total, bodies::channel_affine{eb.data(), s.c, s.plane, b, sc, sh, relu});
            CHECK(identical(ea, eb));
        }
        // channel_sum_accumulate against a sum in long double, added to existing values.
        vec db = random_values(c, 131), ref = db;
        for (std::size_t ch = 0; ch < c; ++ch) {
            long double sum = 0;
            for (int smp = 0; smp < s.n; ++smp)
                for (std::ptrdiff_t i = 0; i < s.plane; ++i)
                    sum += y0[(static_cast<std::size_t>(smp) * c + ch) * static_cast<std::size_t>(s.plane) +
                              static_cast<std::size_t>(i)];
            ref[ch] = static_cast<float>(ref[ch] + static_cast<float>(sum));
        }
        emulate::channel_reduce(s.c, bodies::channel_sum_accumulate{y0.data(), db.data(), s.n, s.c, s.plane});
        CHECK(relative_error(ref, db) <= 1e-6);
    }
}

TEST_CASE("global average pooling: forward per plane through the tree, backward exact") {
    for (const shape s : shapes) {
        CAPTURE(s.plane);
        const int planes = s.n * s.c;
        const vec x = random_values(s.total(), 137, 0.5);
        vec ya(static_cast<std::size_t>(planes)), yb(ya.size());
        cpu::global_avg_pool_forward(x.data(), ya.data(), planes, s.plane);
        emulate::channel_reduce(planes, bodies::global_avg_pool_forward{x.data(), yb.data(), s.plane});
        CHECK(relative_error(ya, yb) <= stats_tolerance);
        vec da(s.total()), dbv(s.total());
        cpu::global_avg_pool_backward(ya.data(), da.data(), planes, s.plane);
        emulate::for_each_index(static_cast<std::ptrdiff_t>(s.total()),
                                bodies::global_avg_pool_backward{ya.data(), dbv.data(), s.plane});
        CHECK(identical(da, dbv));
    }
}
