// The CUDA kernels' bodies (include/unetpp/backend/cuda/bodies/) run on the host, over every index
// in the launch shape the device uses (bodies/emulate.hpp), against backend::cpu: activations,
// arithmetic, dropout, pooling, padding, window copies, upsampling, optimiser steps and the two
// whole-tensor reductions. Compiled by g++ in every build; no CUDA needed. Batch norm and the
// per-channel helpers are in test_cuda_bodies_norm.cpp. backend::cpu and backend::cpu_reference
// run the same cpu_kernels functions for every operation tested here (they differ only in the
// convolutions), so this is the comparison with either.
//
// Tolerances: bit-exact wherever the body does the CPU's arithmetic in the CPU's order (every
// case here but two); sigmoid within 3e-7 absolute (the CPU's float path uses xsimd's exp on full
// SIMD batches); sum_squares within 1e-12 relative (both sum in double, in different orders).
// Bit-exact means with floating-point contraction off in this file (the pragma below), so that
// the test compares arithmetic, not where a compiler fuses a * b + c into one rounding: the
// project's builds may fuse on the CPU (-march=native with GCC's default -ffp-contract=fast) and
// nvcc fuses on the device (--fmad=true), each moving a result by one rounding of a multiply-add.

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
#include <limits>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/backend/cuda/bodies/emulate.hpp>
#include <unetpp/backend/cuda/bodies/eltwise.hpp>
#include <unetpp/backend/cuda/bodies/pool.hpp>
#include <unetpp/backend/cuda/bodies/resample.hpp>
#include <unetpp/backend/cuda/bodies/update.hpp>
#include <unetpp/tensor/rng.hpp>

namespace {

using cpu = unetpp::backend::cpu;
namespace bodies = unetpp::cuda_kernels::bodies;
namespace emulate = unetpp::cuda_kernels::emulate;
using unetpp::backend::pad_kind;
using vec = std::vector<float>;

vec random_values(std::ptrdiff_t n, std::uint64_t seed, double scale = 1.0) {
    vec v(static_cast<std::size_t>(n));
    unetpp::rng r(seed);
    for (auto& x : v) x = static_cast<float>(r.normal() * scale);
    return v;
}
/// Small integers 0..levels-1: many exact ties for max pooling.
vec quantised_values(std::ptrdiff_t n, std::uint64_t seed, int levels) {
    vec v(static_cast<std::size_t>(n));
    unetpp::rng r(seed);
    for (auto& x : v) x = static_cast<float>(r.below(static_cast<std::uint64_t>(levels)));
    return v;
}
/// Same bits, element for element (so NaN equals NaN and -0 differs from +0).
template <class T>
bool identical(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Sizes around the block size (256) and the warp size (32), odd ones included.
constexpr std::ptrdiff_t sizes[] = {1, 7, 31, 33, 255, 256, 257, 1000, 4099};

}  // namespace

TEST_CASE("element-wise bodies are backend::cpu's arithmetic") {
    for (const std::ptrdiff_t n : sizes) {
        CAPTURE(n);
        const std::size_t sz = static_cast<std::size_t>(n);
        vec x = random_values(n, 1 + static_cast<std::uint64_t>(n), 3.0), dy = random_values(n, 99, 1.0);
        x[0] = 0.0f;  // ReLU's gradient at exactly 0 is 0
        vec a(sz), b(sz);

        cpu::relu_forward(x.data(), a.data(), n);
        emulate::for_each_index(n, bodies::relu_forward{x.data(), b.data()});
        CHECK(identical(a, b));
        cpu::relu_backward(x.data(), dy.data(), a.data(), n);
        emulate::for_each_index(n, bodies::relu_backward{x.data(), dy.data(), b.data()});
        CHECK(identical(a, b));
        cpu::leaky_relu_forward(x.data(), a.data(), n, 0.07f);
        emulate::for_each_index(n, bodies::leaky_relu_forward{x.data(), b.data(), 0.07f});
        CHECK(identical(a, b));
        cpu::leaky_relu_backward(x.data(), dy.data(), a.data(), n, 0.07f);
        emulate::for_each_index(n, bodies::leaky_relu_backward{x.data(), dy.data(), b.data(), 0.07f});
        CHECK(identical(a, b));

        vec xs = random_values(n, 5, 30.0);  // deep into both tails
        cpu::sigmoid_forward(xs.data(), a.data(), n);
        emulate::for_each_index(n, bodies::sigmoid_forward{xs.data(), b.data()});
        double worst = 0;
        for (std::size_t i = 0; i < sz; ++i) worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
        CHECK(worst <= 3e-7);
        cpu::sigmoid_backward(a.data(), dy.data(), b.data(), n);
        vec c(sz);
        emulate::for_each_index(n, bodies::sigmoid_backward{a.data(), dy.data(), c.data()});
        CHECK(identical(b, c));

        cpu::multiply(x.data(), dy.data(), a.data(), n);
        emulate::for_each_index(n, bodies::multiply{x.data(), dy.data(), b.data()});
        CHECK(identical(a, b));
        cpu::add(x.data(), dy.data(), a.data(), n);
        emulate::for_each_index(n, bodies::add{x.data(), dy.data(), b.data()});
        CHECK(identical(a, b));
        a = dy;
        b = dy;
        cpu::accumulate(x.data(), a.data(), n);
        emulate::for_each_index(n, bodies::accumulate{x.data(), b.data()});
        CHECK(identical(a, b));
        cpu::scale(a.data(), n, -0.37f);
        emulate::for_each_index(n, bodies::scale{b.data(), -0.37f});
        CHECK(identical(a, b));
        a = x;
        a[sz / 2] = std::numeric_limits<float>::quiet_NaN();  // clamp keeps NaN
        b = a;
        cpu::clamp(a.data(), n, -1.5f, 2.0f);
        emulate::for_each_index(n, bodies::clamp{b.data(), -1.5f, 2.0f});
        CHECK(identical(a, b));

        std::vector<std::int32_t> ia(sz, 3), ib(sz, 3);
        emulate::for_each_index(n, bodies::fill<std::int32_t>{ib.data(), -4});
        for (auto& v : ia) v = -4;
        CHECK(ia == ib);
    }
}

TEST_CASE("softmax over channels and plane gating match backend::cpu exactly") {
    struct shape {
        int n, c;
        std::ptrdiff_t plane;
    };
    for (const shape s : {shape{1, 1, 1}, shape{2, 5, 13}, shape{3, 2, 257}, shape{1, 7, 31}}) {
        CAPTURE(s.n);
        CAPTURE(s.c);
        CAPTURE(s.plane);
        const std::ptrdiff_t total = s.n * s.c * s.plane, gates = s.n * s.plane;
        const vec x = random_values(total, 3, 4.0), dy = random_values(total, 4);
        vec a(static_cast<std::size_t>(total)), b(a.size());
        cpu::softmax_channels_forward(x.data(), a.data(), s.n, s.c, s.plane);
        emulate::for_each_index(gates, bodies::softmax_channels_forward{x.data(), b.data(), s.c, s.plane});
        CHECK(identical(a, b));
        vec da(a.size()), db(a.size());
        cpu::softmax_channels_backward(a.data(), dy.data(), da.data(), s.n, s.c, s.plane);
        emulate::for_each_index(gates, bodies::softmax_channels_backward{a.data(), dy.data(), db.data(), s.c, s.plane});
        CHECK(identical(da, db));

        const vec g = random_values(gates, 8);
        cpu::multiply_planes(x.data(), g.data(), a.data(), s.n, s.c, s.plane);
        emulate::for_each_index(total, bodies::multiply_planes{x.data(), g.data(), b.data(), s.c, s.plane});
        CHECK(identical(a, b));
        vec dga = random_values(gates, 9), dgb = dga;  // dg is added to
        cpu::multiply_planes_backward(x.data(), g.data(), dy.data(), da.data(), dga.data(), s.n, s.c, s.plane);
        emulate::for_each_index(gates, bodies::multiply_planes_backward{x.data(), g.data(), dy.data(), db.data(),
                                                                        dgb.data(), s.c, s.plane});
        CHECK(identical(da, db));
        CHECK(identical(dga, dgb));
    }
}

TEST_CASE("dropout masks are the CPU's hash, element for element") {
    for (const double p : {0.0, 0.3, 0.5, 0.9}) {
        for (const std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{12345}, ~std::uint64_t{0}}) {
            const std::ptrdiff_t n = 1001;
            vec a(static_cast<std::size_t>(n)), b(a.size());
            cpu::dropout_mask(a.data(), n, p, seed);
            emulate::for_each_index(n, bodies::dropout_mask{b.data(), p, static_cast<float>(1.0 / (1.0 - p)), seed});
            CHECK(identical(a, b));
        }
    }
}

TEST_CASE("max pooling: forward ties and NaN, backward in output order (one warp per plane)") {
    struct geometry {
        int planes, h, w, k, s;
    };
    // Non-overlapping (the U-Net's 2x2), odd sizes with a dropped edge, overlapping windows, a
    // plane with more outputs than a warp takes per round.
    for (const geometry g : {geometry{3, 8, 6, 2, 2}, geometry{2, 7, 9, 2, 2}, geometry{2, 9, 7, 3, 2},
                             geometry{2, 11, 10, 3, 1}, geometry{1, 5, 5, 5, 1}}) {
        CAPTURE(g.h);
        CAPTURE(g.w);
        CAPTURE(g.k);
        CAPTURE(g.s);
        const int oh = (g.h - g.k) / g.s + 1, ow = (g.w - g.k) / g.s + 1;
        const std::ptrdiff_t in = std::ptrdiff_t(g.planes) * g.h * g.w, out = std::ptrdiff_t(g.planes) * oh * ow;
        vec x = quantised_values(in, static_cast<std::uint64_t>(g.h * 31 + g.k), 3);
        x[static_cast<std::size_t>(g.w + 1)] = std::numeric_limits<float>::quiet_NaN();  // NaN wins its windows
        vec ya(static_cast<std::size_t>(out)), yb(ya.size());
        std::vector<std::int32_t> aa(ya.size()), ab(ya.size());
        cpu::max_pool2d_forward(x.data(), ya.data(), aa.data(), g.planes, g.h, g.w, g.k, g.s);
        emulate::for_each_index(out, bodies::max_pool2d_forward{x.data(), yb.data(), ab.data(), g.h, g.w, g.k, g.s, oh, ow});
        CHECK(identical(ya, yb));
        CHECK(aa == ab);
        vec yc(ya.size());  // without argmax (inference)
        emulate::for_each_index(out, bodies::max_pool2d_forward{x.data(), yc.data(), nullptr, g.h, g.w, g.k, g.s, oh, ow});
        CHECK(identical(ya, yc));

        const vec dy = random_values(out, 17);
        vec da(static_cast<std::size_t>(in), 5.0f), db(da.size(), -5.0f);  // overwritten, not added to
        cpu::max_pool2d_backward(dy.data(), aa.data(), da.data(), g.planes, g.h, g.w, oh, ow);
        emulate::max_pool2d_backward(dy.data(), ab.data(), db.data(), g.planes, g.h, g.w, oh, ow);
        CHECK(identical(da, db));
    }
}

TEST_CASE("size-keeping max pooling and its backward through the warp rounds") {
    for (const int k : {1, 2, 3, 5}) {
        for (const int levels : {2, 50}) {
            CAPTURE(k);
            CAPTURE(levels);
            const int planes = 3, h = 9, w = 13;  // 117 outputs a plane: 4 rounds, the last partial
            const std::ptrdiff_t total = std::ptrdiff_t(planes) * h * w;
            const vec x = quantised_values(total, static_cast<std::uint64_t>(k * 7 + levels), levels);
            vec ya(static_cast<std::size_t>(total)), yb(ya.size());
            std::vector<std::int32_t> aa(ya.size()), ab(ya.size());
            cpu::max_pool2d_same_forward(x.data(), ya.data(), aa.data(), planes, h, w, k);
            emulate::for_each_index(total, bodies::max_pool2d_same_forward{x.data(), yb.data(), ab.data(), h, w, k});
            CHECK(identical(ya, yb));
            CHECK(aa == ab);
            const vec dy = random_values(total, 23);
            vec da(ya.size()), db(ya.size());
            cpu::max_pool2d_backward(dy.data(), aa.data(), da.data(), planes, h, w, h, w);
            emulate::max_pool2d_backward(dy.data(), ab.data(), db.data(), planes, h, w, h, w);
            CHECK(identical(da, db));
        }
    }
}

TEST_CASE("padding: zero and reflect, forward and the gathered adjoint, edges included") {
    struct geometry {
        int planes, h, w, p;
    };
    for (const pad_kind kind : {pad_kind::zero, pad_kind::reflect}) {
        for (const geometry g : {geometry{2, 4, 5, 1}, geometry{3, 5, 3, 2}, geometry{1, 4, 4, 3}, geometry{2, 2, 3, 1},
                                 geometry{1, 6, 7, 0}, geometry{1, 3, 9, 2}}) {
            CAPTURE(kind == pad_kind::reflect);
            CAPTURE(g.h);
            CAPTURE(g.w);
            CAPTURE(g.p);
            const int ph = g.h + 2 * g.p, pw = g.w + 2 * g.p;
            const std::ptrdiff_t in = std::ptrdiff_t(g.planes) * g.h * g.w, out = std::ptrdiff_t(g.planes) * ph * pw;
            const vec x = random_values(in, 31);
            vec ya(static_cast<std::size_t>(out)), yb(ya.size());
            cpu::pad_forward(x.data(), ya.data(), g.planes, g.h, g.w, g.p, kind);
            emulate::for_each_index(out, bodies::pad_forward{x.data(), yb.data(), g.h, g.w, g.p, kind});
            CHECK(identical(ya, yb));
            const vec dy = random_values(out, 37);
            vec da(static_cast<std::size_t>(in)), db(da.size());
            cpu::pad_backward(dy.data(), da.data(), g.planes, g.h, g.w, g.p, kind);
            emulate::for_each_index(in, bodies::pad_backward{dy.data(), db.data(), g.h, g.w, g.p, kind});
            CHECK(identical(da, db));
        }
    }
}

TEST_CASE("window copies: crops and concatenation slots, and their adjoints") {
    struct window {
        int n, c, h, w, oy, ox, th, tw, c_total, c_offset;
    };
    for (const window g : {window{2, 3, 6, 7, 1, 2, 3, 4, 5, 2}, window{1, 2, 5, 5, 0, 0, 5, 5, 2, 0},
                           window{3, 1, 4, 9, 2, 0, 2, 9, 4, 3}, window{1, 1, 1, 1, 0, 0, 1, 1, 1, 0}}) {
        CAPTURE(g.h);
        CAPTURE(g.w);
        CAPTURE(g.th);
        CAPTURE(g.tw);
        const std::ptrdiff_t src_n = std::ptrdiff_t(g.n) * g.c * g.h * g.w;
        const std::ptrdiff_t dst_n = std::ptrdiff_t(g.n) * g.c_total * g.th * g.tw;
        const vec src = random_values(src_n, 41);
        vec da = random_values(dst_n, 43), db = da;  // channels outside the slot are left alone
        cpu::copy_window_to_channels(src.data(), g.n, g.c, g.h, g.w, g.oy, g.ox, g.th, g.tw, da.data(), g.c_total,
                                     g.c_offset);
        emulate::for_each_index(std::ptrdiff_t(g.n) * g.c * g.th * g.tw,
                                bodies::copy_window_to_channels{src.data(), g.c, g.h, g.w, g.oy, g.ox, g.th, g.tw,
                                                                db.data(), g.c_total, g.c_offset});
        CHECK(identical(da, db));
        vec ga(static_cast<std::size_t>(src_n), 9.0f), gb(ga.size(), -9.0f);  // overwritten everywhere
        cpu::copy_channels_to_window(da.data(), g.c_total, g.c_offset, g.n, g.c, g.h, g.w, g.oy, g.ox, g.th, g.tw,
                                     ga.data());
        emulate::for_each_index(src_n, bodies::copy_channels_to_window{da.data(), g.c_total, g.c_offset, g.c, g.h, g.w,
                                                                       g.oy, g.ox, g.th, g.tw, gb.data()});
        CHECK(identical(ga, gb));
    }
}

TEST_CASE("bilinear x2 upsampling: forward, and the gathered backward in the CPU's order") {
    struct geometry {
        int planes, h, w;
    };
    for (const geometry g : {geometry{1, 1, 1}, geometry{2, 1, 4}, geometry{3, 3, 5}, geometry{1, 4, 4},
                             geometry{2, 7, 2}, geometry{1, 2, 1}}) {
        CAPTURE(g.h);
        CAPTURE(g.w);
        const std::ptrdiff_t in = std::ptrdiff_t(g.planes) * g.h * g.w, out = 4 * in;
        const vec x = random_values(in, 53);
        vec ya(static_cast<std::size_t>(out)), yb(ya.size());
        cpu::upsample_bilinear2x_forward(x.data(), ya.data(), g.planes, g.h, g.w);
        emulate::for_each_index(out, bodies::upsample_bilinear2x_forward{x.data(), yb.data(), g.h, g.w});
        CHECK(identical(ya, yb));
        const vec dy = random_values(out, 59);
        vec da(static_cast<std::size_t>(in)), db(da.size());
        cpu::upsample_bilinear2x_backward(dy.data(), da.data(), g.planes, g.h, g.w);
        emulate::for_each_index(in, bodies::upsample_bilinear2x_backward{dy.data(), db.data(), g.h, g.w});
        CHECK(identical(da, db));
    }
}

TEST_CASE("SGD, Adam and AdamW steps are the CPU's, bit for bit") {
    const std::ptrdiff_t n = 257;
    const vec p0 = random_values(n, 61), g = random_values(n, 67), m0 = random_values(n, 71, 0.1);
    vec v0 = random_values(n, 73, 0.01);
    for (auto& v : v0) v = std::abs(v);
    unetpp::backend::sgd_step sgd;
    sgd.lr = 0.05;
    for (const double momentum : {0.0, 0.9}) {
        for (const bool nesterov : {false, true}) {
            for (const bool first : {true, false}) {
                for (const double wd : {0.0, 1e-3}) {
                    sgd.momentum = momentum;
                    sgd.nesterov = nesterov && momentum != 0;
                    sgd.first = first;
                    sgd.weight_decay = wd;
                    sgd.dampening = first ? 0.0 : 0.1;
                    vec pa = p0, pb = p0, ba = m0, bb = m0;
                    cpu::sgd_update(pa.data(), g.data(), ba.data(), n, sgd);
                    emulate::for_each_index(
                        n, bodies::sgd_update{pb.data(), g.data(), bb.data(), bodies::sgd_constants::from(sgd)});
                    CHECK(identical(pa, pb));
                    CHECK(identical(ba, bb));
                }
            }
        }
    }
    unetpp::backend::adam_step adam;
    adam.lr = 1e-3;
    adam.step_size = adam.lr / (1 - std::pow(adam.beta1, 3));
    adam.inv_sqrt_c2 = 1 / std::sqrt(1 - std::pow(adam.beta2, 3));
    for (const double wd : {0.0, 0.01}) {
        for (const bool decoupled : {false, true}) {
            adam.weight_decay = wd;
            adam.decoupled_weight_decay = decoupled;
            vec pa = p0, pb = p0, ma = m0, mb = m0, va = v0, vb = v0;
            cpu::adam_update(pa.data(), g.data(), ma.data(), va.data(), n, adam);
            emulate::for_each_index(n, bodies::adam_update{pb.data(), g.data(), mb.data(), vb.data(),
                                                           bodies::adam_constants::from(adam)});
            CHECK(identical(pa, pb));
            CHECK(identical(ma, mb));
            CHECK(identical(va, vb));
        }
    }
}

TEST_CASE("sum_squares and all_finite through the two-stage tree, NaN and infinities included") {
    // 300000 > max_reduction_blocks * block_threads: threads loop over several strides.
    for (const std::ptrdiff_t n : {std::ptrdiff_t{1}, std::ptrdiff_t{255}, std::ptrdiff_t{257}, std::ptrdiff_t{1000},
                                   std::ptrdiff_t{300000}}) {
        CAPTURE(n);
        vec x = random_values(n, static_cast<std::uint64_t>(n), 2.0);
        x[0] = 3.0e38f;  // finite, and its square still fits a double
        const double ref = cpu::sum_squares(x.data(), n);
        const double got = emulate::two_stage_sum(bodies::square_terms{x.data()}, n);
        CHECK(std::abs(got - ref) <= 1e-12 * ref);
        CHECK(cpu::all_finite(x.data(), n));
        CHECK(emulate::two_stage_sum(bodies::nonfinite_terms{x.data()}, n) == 0.0);
        for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity()}) {
            for (const std::ptrdiff_t at : {std::ptrdiff_t{0}, n / 2, n - 1}) {
                vec y = x;
                y[static_cast<std::size_t>(at)] = bad;
                CHECK_FALSE(cpu::all_finite(y.data(), n));
                CHECK(emulate::two_stage_sum(bodies::nonfinite_terms{y.data()}, n) != 0.0);
                const double sq = emulate::two_stage_sum(bodies::square_terms{y.data()}, n);
                const double sq_cpu = cpu::sum_squares(y.data(), n);
                CHECK(std::isnan(sq) == std::isnan(sq_cpu));
                CHECK(std::isinf(sq) == std::isinf(sq_cpu));
            }
        }
    }
    CHECK(emulate::two_stage_sum(bodies::square_terms{nullptr}, 0) == 0.0);
}

TEST_CASE("random geometries: pooling, padding and upsampling stay the CPU's bits") {
    unetpp::rng r(2024);
    const auto pick = [&](int lo, int hi) { return lo + static_cast<int>(r.below(static_cast<std::uint64_t>(hi - lo + 1))); };
    for (int trial = 0; trial < 60; ++trial) {
        const int planes = pick(1, 3), h = pick(1, 12), w = pick(1, 12);
        CAPTURE(trial);
        CAPTURE(h);
        CAPTURE(w);
        const std::ptrdiff_t in = std::ptrdiff_t(planes) * h * w;
        const vec x = quantised_values(in, static_cast<std::uint64_t>(trial), pick(2, 6));
        // Max pooling with any window that fits and any stride; the same-size pooling.
        const int k = pick(1, std::min(h, w)), s = pick(1, 3);
        const int oh = (h - k) / s + 1, ow = (w - k) / s + 1;
        const std::ptrdiff_t out = std::ptrdiff_t(planes) * oh * ow;
        vec ya(static_cast<std::size_t>(out)), yb(ya.size());
        std::vector<std::int32_t> aa(ya.size()), ab(ya.size());
        cpu::max_pool2d_forward(x.data(), ya.data(), aa.data(), planes, h, w, k, s);
        emulate::for_each_index(out, bodies::max_pool2d_forward{x.data(), yb.data(), ab.data(), h, w, k, s, oh, ow});
        CHECK(identical(ya, yb));
        CHECK(aa == ab);
        const vec dy = random_values(out, static_cast<std::uint64_t>(trial) + 100);
        vec da(static_cast<std::size_t>(in)), db(da.size());
        cpu::max_pool2d_backward(dy.data(), aa.data(), da.data(), planes, h, w, oh, ow);
        emulate::max_pool2d_backward(dy.data(), ab.data(), db.data(), planes, h, w, oh, ow);
        CHECK(identical(da, db));
        const int ks = pick(1, 5);
        vec sa(static_cast<std::size_t>(in)), sb(sa.size());
        std::vector<std::int32_t> sia(sa.size()), sib(sa.size());
        cpu::max_pool2d_same_forward(x.data(), sa.data(), sia.data(), planes, h, w, ks);
        emulate::for_each_index(in, bodies::max_pool2d_same_forward{x.data(), sb.data(), sib.data(), h, w, ks});
        CHECK(identical(sa, sb));
        CHECK(sia == sib);
        // Reflect padding up to the largest PyTorch allows (p < h and p < w), zero padding up to 3.
        const vec xr = random_values(in, static_cast<std::uint64_t>(trial) + 200);
        for (const pad_kind kind : {pad_kind::zero, pad_kind::reflect}) {
            const int p = kind == pad_kind::zero ? pick(0, 3) : pick(0, std::min(h, w) - 1);
            const std::ptrdiff_t pn = std::ptrdiff_t(planes) * (h + 2 * p) * (w + 2 * p);
            vec pa(static_cast<std::size_t>(pn)), pb(pa.size());
            cpu::pad_forward(xr.data(), pa.data(), planes, h, w, p, kind);
            emulate::for_each_index(pn, bodies::pad_forward{xr.data(), pb.data(), h, w, p, kind});
            CHECK(identical(pa, pb));
            const vec dp = random_values(pn, static_cast<std::uint64_t>(trial) + 300);
            vec ga(static_cast<std::size_t>(in)), gb(ga.size());
            cpu::pad_backward(dp.data(), ga.data(), planes, h, w, p, kind);
            emulate::for_each_index(in, bodies::pad_backward{dp.data(), gb.data(), h, w, p, kind});
            CHECK(identical(ga, gb));
        }
        // Bilinear x2 upsampling both ways.
        vec ua(static_cast<std::size_t>(4 * in)), ub(ua.size());
        cpu::upsample_bilinear2x_forward(xr.data(), ua.data(), planes, h, w);
        emulate::for_each_index(4 * in, bodies::upsample_bilinear2x_forward{xr.data(), ub.data(), h, w});
        CHECK(identical(ua, ub));
        const vec du = random_values(4 * in, static_cast<std::uint64_t>(trial) + 400);
        vec ba(static_cast<std::size_t>(in)), bb(ba.size());
        cpu::upsample_bilinear2x_backward(du.data(), ba.data(), planes, h, w);
        emulate::for_each_index(in, bodies::upsample_bilinear2x_backward{du.data(), bb.data(), h, w});
        CHECK(identical(ba, bb));
    }
}
