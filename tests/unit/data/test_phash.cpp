// Tests for unetpp/data/phash.hpp: distances between identical, noised and different images,
// and union-find grouping.

#include <doctest/doctest.h>

#include <unetpp/data/phash.hpp>
#include <unetpp/data/synthetic.hpp>

#include <cstdint>
#include <vector>

namespace data = unetpp::data;
using unetpp::shape4;
using unetpp::tensor;

namespace {
tensor<float> synthetic_image(std::uint64_t seed, int size = 96) {
    unetpp::rng r(seed);
    return data::make_batch(r, 1, size).first;
}
}  // namespace

TEST_CASE("phash: identical -> 0, slightly noised or rescaled copy -> small, different images -> large") {
    const auto a = synthetic_image(1);
    CHECK(data::hamming(data::phash(a), data::phash(a)) == 0);

    auto noisy = a;
    unetpp::rng r(5);
    for (float& v : noisy) v = std::clamp(v + static_cast<float>(r.normal(0.0, 0.02)), 0.0f, 1.0f);
    const int d_noise = data::hamming(data::phash(a), data::phash(noisy));
    CAPTURE(d_noise);
    CHECK(d_noise <= 6);

    tensor<float> rgb(shape4{1, 3, 96, 96});
    for (int c = 0; c < 3; ++c) std::copy(a.begin(), a.end(), rgb.data() + c * 96 * 96);
    CHECK(data::hamming(data::phash(a), data::phash(rgb)) <= 2);  // gray vs RGB copy

    int far = 0, total = 0;
    double mean = 0;
    for (std::uint64_t s = 2; s < 22; ++s) {
        const int d = data::hamming(data::phash(a), data::phash(synthetic_image(s)));
        far += d > 8;
        mean += d;
        ++total;
    }
    mean /= total;
    CAPTURE(mean);
    CHECK(far >= total - 1);
    CHECK(mean > 16);
}

TEST_CASE("near-duplicate grouping is transitive and numbers groups by first member") {
    const std::vector<std::uint64_t> h = {0x0, 0xFFFF'FFFF'FFFF'FFFFULL, 0x7, 0x3F, 0xFFFF'FFFF'FFFF'FFF8ULL, 0x1234'5678'0000'0000ULL};
    // 0 ~ 0x7 (3 bits) ~ 0x3F (3 more): one chain; 0xFF..FF ~ 0xFF..F8 (3 bits).
    const auto g = data::near_duplicate_groups(h, 3);
    CHECK(g == std::vector<int>{0, 1, 0, 0, 1, 2});
    const auto st = data::near_duplicate_stats(g);
    CHECK(st.groups == 3);
    CHECK(st.duplicate_groups == 2);
    CHECK(st.in_duplicates == 5);
    CHECK(st.largest == 3);
    CHECK(data::near_duplicate_groups(h, 0) == std::vector<int>{0, 1, 2, 3, 4, 5});
}
