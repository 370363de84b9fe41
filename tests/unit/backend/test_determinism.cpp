// Training is bit-identical for a requested thread count whatever team sizes OpenMP actually
// gives (dynamic mode shrinks teams while the machine is loaded): the kernels split their work
// by the requested count and combine partial results in a fixed order.
//
// The team size is made to differ deterministically by nesting: the training runs on thread 0
// of an outer two-thread region with one active level allowed, so every parallel region of the
// kernels gets a team of one thread while omp_get_max_threads() still reports the requested two.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <unetpp/backend/cpu/kernels/batch_norm.hpp>
#include <unetpp/backend/cpu/kernels/conv2d.hpp>
#include <unetpp/backend/cpu/kernels/eltwise.hpp>
#include <unetpp/threads.hpp>

#include "../../determinism/train_steps.hpp"
#include "../../support/skip.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

constexpr int steps = 4;
constexpr std::uint64_t seed = 11;

#ifdef _OPENMP
// Restores the OpenMP settings a test case changes.
struct omp_settings_guard {
    int threads = omp_get_max_threads();
    int dynamic = omp_get_dynamic();
    int levels = omp_get_max_active_levels();
    ~omp_settings_guard() {
        omp_set_num_threads(threads);
        omp_set_dynamic(dynamic);
        omp_set_max_active_levels(levels);
    }
};

// Team size of a parallel region opened here.
int team_size_here() {
    int n = 0;
#pragma omp parallel
    {
#pragma omp single
        n = omp_get_num_threads();
    }
    return n;
}
#endif

// Number of values that differ in their bits, the largest difference and the relative L2
// distance ||a - b|| / ||a||.
struct diff_report {
    std::size_t differing = 0;
    double max_abs = 0;
    double rel_l2 = 0;
};
diff_report compare(const std::vector<float>& a, const std::vector<float>& b) {
    diff_report r;
    double d2 = 0, a2 = 0;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
        const double d = double(a[i]) - double(b[i]);
        d2 += d * d;
        a2 += double(a[i]) * double(a[i]);
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            ++r.differing;
            r.max_abs = std::max(r.max_abs, std::abs(d));
        }
    }
    r.rel_l2 = a2 > 0 ? std::sqrt(d2 / a2) : std::sqrt(d2);
    return r;
}

}  // namespace

TEST_CASE("training with 2 requested threads is bit-identical with teams of 2, of 1 and of dynamic size") {
#ifndef _OPENMP
    unetpp::test::skip_not_available("built without OpenMP: every region runs on one thread, no team size to vary");
#else
    omp_settings_guard restore;
    unetpp::set_num_threads(2);

    // Full teams: dynamic mode off, every region gets the two requested threads.
    omp_set_dynamic(0);
    REQUIRE(team_size_here() == 2);
    const std::vector<float> full = unetpp::test::train_unet_bn_steps(steps, seed);
    REQUIRE(!full.empty());
    CHECK(omp_get_max_threads() == 2);  // the kernels keep Eigen serial without changing the request

    // Teams of one thread while two are requested: train on thread 0 of an outer active region.
    omp_set_max_active_levels(1);
    std::vector<float> single;
    int outer = 0, inner = 0, requested_inside = 0;
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) {
            outer = omp_get_num_threads();
            omp_set_dynamic(1);  // as adapt_threads_to_load() sets it
            inner = team_size_here();
            requested_inside = omp_get_max_threads();
            try {
                single = unetpp::test::train_unet_bn_steps(steps, seed);
            } catch (...) {
                single.clear();
            }
        }
    }
    omp_set_max_active_levels(restore.levels);
    REQUIRE(outer == 2);
    REQUIRE(inner == 1);  // the kernels really ran on one-thread teams...
    REQUIRE(requested_inside == 2);  // ...while two threads were requested
    REQUIRE(single.size() == full.size());
    const diff_report d1 = compare(full, single);
    INFO("teams of 1 vs 2: " << d1.differing << " of " << full.size() << " values differ, max |diff| " << d1.max_abs);
    CHECK(d1.differing == 0);

    // Dynamic mode, as the command-line programs run: teams sized by the machine's load.
    omp_set_dynamic(1);
    const std::vector<float> dynamic = unetpp::test::train_unet_bn_steps(steps, seed);
    const diff_report d2 = compare(full, dynamic);
    INFO("dynamic teams vs 2: " << d2.differing << " values differ, max |diff| " << d2.max_abs);
    CHECK(d2.differing == 0);
    CHECK(unetpp::test::fnv1a(dynamic) == unetpp::test::fnv1a(full));
#endif
}

TEST_CASE("training with 1 requested thread differs from 2 requested threads only by rounding") {
#ifndef _OPENMP
    unetpp::test::skip_not_available("built without OpenMP: there is only one thread count");
#else
    omp_settings_guard restore;
    omp_set_dynamic(0);
    unetpp::set_num_threads(2);
    const std::vector<float> two = unetpp::test::train_unet_bn_steps(steps, seed);
    unetpp::set_num_threads(1);
    const std::vector<float> one = unetpp::test::train_unet_bn_steps(steps, seed);
    REQUIRE(one.size() == two.size());
    // Documented in threads.hpp: a different requested count splits the GEMMs differently, so
    // sums are rounded in a different order, and training amplifies that (Adam turns a tiny
    // gradient into a step of about lr whatever its size, so single values can move by ~lr).
    // The weights as a whole stay close (measured: relative L2 distance 1.5e-3 after 4 steps).
    const diff_report d = compare(two, one);
    MESSAGE("1 vs 2 requested threads: " << d.differing << " of " << two.size() << " values differ, max |diff| "
                                         << d.max_abs << ", relative L2 distance " << d.rel_l2);
    CHECK(d.rel_l2 < 1e-2);
#endif
}

namespace {

namespace ck = unetpp::backend::cpu_kernels;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
    unetpp::rng r(seed);
    std::vector<float> v(n);
    for (auto& e : v) e = static_cast<float>(r.normal());
    return v;
}

// 64-byte aligned workspace, as the fast kernels require.
struct aligned_floats {
    std::vector<float> storage;
    float* p;
    explicit aligned_floats(std::size_t n) : storage(n + 16) {
        auto addr = reinterpret_cast<std::uintptr_t>(storage.data());
        p = storage.data() + ((64 - addr % 64) % 64) / sizeof(float);
    }
};

// Runs f() with `threads` requested (dynamic mode off) and returns what it produced.
template <class F>
std::vector<float> with_threads(int threads, F f) {
#ifdef _OPENMP
    const int old = omp_get_max_threads(), dyn = omp_get_dynamic();
    omp_set_dynamic(0);
#endif
    unetpp::set_num_threads(threads);
    std::vector<float> out = f();
#ifdef _OPENMP
    omp_set_num_threads(old);
    omp_set_dynamic(dyn);
#endif
    return out;
}

}  // namespace

TEST_CASE("the kernels documented as independent of the thread count give the same bits for 1 and 2 threads") {
    // Sizes above the element-wise kernels' serial grain, so two threads really split the work.
    const int n = 2, c = 16, h = 64, w = 64;
    const std::ptrdiff_t plane = std::ptrdiff_t(h) * w, size = n * c * plane;
    const std::vector<float> x = random_floats(std::size_t(size), 1), dy = random_floats(std::size_t(size), 2);

    SUBCASE("direct convolution: forward, backward-data and backward-weights") {
        // 3x3 "same" 16 -> 16 (direct forward / backward-data), 1 -> 16 (direct backward-weights
        // with few input channels) and 1x1 16 -> 16 (small-tile backward-weights).
        const ck::conv_geometry geoms[] = {{n, c, h, w, c, 3, 3, 1, 1}, {n, 1, h, w, c, 3, 3, 1, 1},
                                           {n, c, h, w, c, 1, 1, 1, 0}};
        for (const ck::conv_geometry& g : geoms) {
            CAPTURE(g.cin);
            CAPTURE(g.kh);
            const std::vector<float> wt = random_floats(std::size_t(g.cout) * g.cin * g.kh * g.kw, 3);
            const std::vector<float> b = random_floats(std::size_t(g.cout), 4);
            const std::size_t in_size = std::size_t(g.n) * g.cin * g.h * g.w;
            const std::size_t out_size = std::size_t(g.n) * g.cout * g.oh() * g.ow();
            const bool direct_fwd = std::string(ck::conv2d_forward_algorithm(g)).find("direct") != std::string::npos;
            const bool direct_bwdw =
                std::string(ck::conv2d_backward_weights_algorithm(g)).find("direct") != std::string::npos;
            const auto run = [&] {
                aligned_floats ws(std::max({ck::conv2d_forward_workspace_floats(g),
                                            ck::conv2d_backward_data_workspace_floats(g),
                                            ck::conv2d_backward_weights_workspace_floats(g)}));
                std::vector<float> y(out_size), dx(in_size), dw(wt.size(), 0.0f), db(b.size(), 0.0f);
                std::vector<float> out;
                if (direct_fwd) {
                    ck::conv2d_forward(g, x.data(), wt.data(), b.data(), y.data(), ws.p);
                    ck::conv2d_backward_data(g, dy.data(), wt.data(), dx.data(), ws.p);
                    out.insert(out.end(), y.begin(), y.end());
                    out.insert(out.end(), dx.begin(), dx.end());
                }
                if (direct_bwdw) {
                    ck::conv2d_backward_weights(g, x.data(), dy.data(), dw.data(), db.data(), ws.p);
                    out.insert(out.end(), dw.begin(), dw.end());
                    out.insert(out.end(), db.begin(), db.end());
                }
                return out;
            };
            if (!direct_fwd && !direct_bwdw) {
                MESSAGE("no direct convolution kernel on this instruction set for this geometry");
                continue;
            }
            const std::vector<float> one = with_threads(1, run), two = with_threads(2, run);
            REQUIRE(!one.empty());
            CHECK(compare(one, two).differing == 0);
        }
    }

    SUBCASE("batch norm (training forward and backward) and element-wise kernels") {
        const std::vector<float> gamma = random_floats(std::size_t(c), 5), beta = random_floats(std::size_t(c), 6);
        const auto run = [&] {
            const std::size_t us = static_cast<std::size_t>(size), uc = static_cast<std::size_t>(c);
            std::vector<float> y(us), dx(us), s(us);
            std::vector<float> rm(uc, 0.0f), rv(uc, 1.0f), mean(uc), invstd(uc), dg(uc, 0.0f), dbeta(uc, 0.0f);
            ck::batch_norm_forward_train(x.data(), y.data(), n, c, plane, gamma.data(), beta.data(), 1e-5f, 0.1f,
                                         rm.data(), rv.data(), mean.data(), invstd.data(), true);
            ck::batch_norm_backward_train(x.data(), dy.data(), dx.data(), n, c, plane, gamma.data(), mean.data(),
                                          invstd.data(), dg.data(), dbeta.data(), y.data());
            ck::sigmoid_forward(x.data(), s.data(), size);
            std::vector<float> out;
            for (const auto* v : {&y, &dx, &s, &rm, &rv, &dg, &dbeta}) out.insert(out.end(), v->begin(), v->end());
            return out;
        };
        const std::vector<float> one = with_threads(1, run), two = with_threads(2, run);
        CHECK(compare(one, two).differing == 0);
    }
}

namespace {
// Three sums at once (as a region loss needs: true positives, prediction sum, target sum).
struct three_sums {
    double a = 0, b = 0, c = 0;
    three_sums& operator+=(const three_sums& o) {
        a += o.a;
        b += o.b;
        c += o.c;
        return *this;
    }
};
}  // namespace

TEST_CASE("ordered_sum gives the same bits for every thread count and team size") {
    // Values over many magnitudes, so that a different summation order changes the rounding.
    const std::ptrdiff_t n = 5 * ck::ordered_sum_chunk + 1234;
    unetpp::rng r(21);
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = static_cast<float>(r.normal() * std::exp(8.0 * r.normal()));

    // The definition: chunk sums in chunk order.
    double expected = 0;
    for (std::ptrdiff_t c0 = 0; c0 < n; c0 += ck::ordered_sum_chunk) {
        double s = 0;
        for (std::ptrdiff_t i = c0; i < std::min(n, c0 + ck::ordered_sum_chunk); ++i) s += x[std::size_t(i)];
        expected += s;
    }
    double naive = 0;
    for (const float v : x) naive += v;
    CHECK(std::abs(expected - naive) <= 1e-12 * std::abs(naive) + 1e-9);

    // Per-element outputs written by the term (as a loss writes its gradient) land everywhere.
    std::vector<float> doubled(x.size(), 0.0f);
    const auto sum_with = [&](int threads) {
        double got = 0;
        with_threads(threads, [&] {
            got = ck::ordered_sum(n, [&](std::ptrdiff_t i) {
                doubled[std::size_t(i)] = 2.0f * x[std::size_t(i)];
                return double(x[std::size_t(i)]);
            });
            return std::vector<float>{};
        });
        return got;
    };
    const double got1 = sum_with(1), got2 = sum_with(2);
    CHECK(std::memcmp(&got1, &expected, sizeof(double)) == 0);
    CHECK(std::memcmp(&got2, &expected, sizeof(double)) == 0);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < x.size(); ++i) wrong += doubled[i] != 2.0f * x[i];
    CHECK(wrong == 0);

    // Several sums at once, on a team of one thread while two are requested (nested region).
#ifdef _OPENMP
    const int levels = omp_get_max_active_levels(), threads = omp_get_max_threads();
    omp_set_max_active_levels(1);
    unetpp::set_num_threads(2);
    three_sums nested;
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0)
            nested = ck::ordered_sum(n, three_sums{}, [&](std::ptrdiff_t i) {
                const double v = x[std::size_t(i)];
                return three_sums{v, v * v, 1.0};
            });
    }
    omp_set_max_active_levels(levels);
    omp_set_num_threads(threads);
    CHECK(std::memcmp(&nested.a, &expected, sizeof(double)) == 0);
    CHECK(nested.c == double(n));
#endif
}
