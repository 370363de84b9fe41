// Max pooling: the 2x2 stride-2 path of max_pool2d_forward against max_pool2d_forward_generic,
// the scalar loop it replaces (the oracle), bit for bit in outputs and argmax.
//
//  * ties everywhere (values from a set of 5), so the first-maximum rule decides most windows;
//  * NaN (the first NaN of a window wins and stops the scan) and -inf (a window of -inf picks its
//    first input) at random places;
//  * odd heights and widths (floor mode drops the last row and column), 1 to 3 planes of widths
//    2 to 67, so the vectorised loop's remainder columns run;
//  * with and without argmax, 1 thread and the default team;
//  * other windows and strides go to the generic loop (checked against hand-computed values).
#include <doctest/doctest.h>

#include <unetpp/backend/cpu/kernels/pool.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ck = unetpp::backend::cpu_kernels;

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_against_generic(int planes, int h, int w, std::mt19937& rng, double nan_share, double inf_share) {
    std::vector<float> x(std::size_t(planes) * h * w);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (float& v : x) {
        const double r = u(rng);
        v = r < nan_share ? std::numeric_limits<float>::quiet_NaN()
            : r < nan_share + inf_share ? -std::numeric_limits<float>::infinity()
                                        : float(int(rng() % 5)) - 2.0f;
    }
    const int oh = h / 2, ow = w / 2;
    const std::size_t n = std::size_t(planes) * oh * ow;
    std::vector<float> y_ref(n), y(n, 7.0f), y_plain(n, 7.0f);
    std::vector<std::int32_t> a_ref(n), a(n, -1);
    ck::max_pool2d_forward_generic(x.data(), y_ref.data(), a_ref.data(), planes, h, w, 2, 2);
    ck::max_pool2d_forward(x.data(), y.data(), a.data(), planes, h, w, 2, 2);
    ck::max_pool2d_forward(x.data(), y_plain.data(), nullptr, planes, h, w, 2, 2);
    INFO("planes " << planes << ", " << h << " x " << w << ", NaN share " << nan_share);
    CHECK(same_bits(y, y_ref));
    CHECK(same_bits(y_plain, y_ref));
    CHECK(a == a_ref);
}

}  // namespace

TEST_CASE("max_pool2d_forward 2x2 stride 2 equals the generic loop bit for bit") {
    std::mt19937 rng(11);
    int cases = 0;
    for (int planes : {1, 3})
        for (int h : {2, 3, 5, 8, 17})
            for (int w : {2, 3, 16, 31, 33, 64, 67}) {
                check_against_generic(planes, h, w, rng, 0.0, 0.0);
                check_against_generic(planes, h, w, rng, 0.05, 0.1);
                ++cases;
            }
    CHECK(cases == 70);
    SUBCASE("a large input, parallel, and the same on one thread") {
        check_against_generic(64, 64, 96, rng, 0.01, 0.01);
#ifdef _OPENMP
        const int before = omp_get_max_threads();
        omp_set_num_threads(1);
        check_against_generic(16, 34, 46, rng, 0.01, 0.01);
        omp_set_num_threads(before);
#endif
    }
}

TEST_CASE("max_pool2d_forward picks the first maximum, the first NaN and the first of -infs") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    // one plane 2 x 8: four windows, columns (0,1), (2,3), (4,5), (6,7)
    const std::vector<float> x = {1, 3, nan, 5, -inf, -inf, 2, 2,   //
                                  3, 0, 9, nan, -inf, -inf, 2, 4};
    std::vector<float> y(4);
    std::vector<std::int32_t> a(4);
    ck::max_pool2d_forward(x.data(), y.data(), a.data(), 1, 2, 8, 2, 2);
    CHECK(y[0] == 3.0f);
    CHECK(a[0] == 1);  // 3 at (0, 1) comes before the tie at (1, 0)
    CHECK(std::isnan(y[1]));
    CHECK(a[1] == 2);  // the first NaN wins; the later 9 and NaN do not replace it
    CHECK(y[2] == -inf);
    CHECK(a[2] == 4);  // all -inf: the window's first input
    CHECK(y[3] == 4.0f);
    CHECK(a[3] == 15);
}

TEST_CASE("other windows and strides run the generic loop") {
    // 1 plane 3 x 3, window 3, stride 1: one output, the maximum 8 at index 7
    const std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 8, 7};
    std::vector<float> y(1);
    std::vector<std::int32_t> a(1);
    ck::max_pool2d_forward(x.data(), y.data(), a.data(), 1, 3, 3, 3, 1);
    CHECK(y[0] == 8.0f);
    CHECK(a[0] == 7);
    // window 2, stride 1 on 2 x 3: outputs max(0,1,3,4) = 4 at 4 and max(1,2,4,5) = 5 at 5
    std::vector<float> y2(2);
    std::vector<std::int32_t> a2(2);
    ck::max_pool2d_forward(x.data(), y2.data(), a2.data(), 1, 2, 3, 2, 1);
    CHECK(y2 == std::vector<float>{4.0f, 5.0f});
    CHECK(a2 == std::vector<std::int32_t>{4, 5});
}
