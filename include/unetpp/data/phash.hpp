#pragma once
/// \file Perceptual hash (DCT pHash) and near-duplicate grouping.
///
///   auto hashes = data::phashes(ds);                        // one 64-bit hash per image
///   auto groups = data::near_duplicate_groups(hashes, 8);   // group id per image
///   ds.set_groups(groups);                                  // grouped splits keep duplicates together
///
/// pHash as computed here: the image is converted to gray (BT.601), shrunk to 32 x 32 by area
/// averaging, transformed with a 2-D DCT-II, and the 8 x 8 lowest-frequency coefficients (DC
/// included) are compared with the median of the 63 non-DC ones: bit 8u + v is 1 when
/// coefficient (u, v) is above it. Identical images hash identically; small noise, recompression
/// and mild contrast changes flip few bits; unrelated images differ in about 32.
///
/// Grouping: images whose hashes differ in at most `max_distance` bits (default 8 of 64) are
/// joined (union-find, all pairs, so the relation is transitive: chains join too). With 8 the
/// grouping catches re-saved, re-scaled or re-annotated copies of one scan while unrelated
/// ultrasound images, which all share a dark-fan layout, stay apart in practice; check the
/// groups it finds on a new data set (near_duplicate_stats).

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "../config/abi.hpp"
#include "../io/image.hpp"
#include "dataset.hpp"
#include "transforms.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// 64-bit DCT perceptual hash of sample 0 of `image` ([N, C, H, W], C = 1, 3 or 4).
[[nodiscard]] inline std::uint64_t phash(const tensor<float>& image) {
    const shape4 s = image.shape();
    if (s.n < 1 || s.h < 1 || s.w < 1) throw std::invalid_argument("phash: empty image " + s.str());
    tensor<float> first(shape4{1, s.c, s.h, s.w});
    std::copy_n(image.data(), first.size(), first.data());
    const tensor<float> gray = s.c == 1 ? std::move(first) : to_gray(first);
    const tensor<float> small = resize_area(gray, 32, 32);
    constexpr int N = 32, K = 8;
    double basis[K][N];
    for (int u = 0; u < K; ++u)
        for (int x = 0; x < N; ++x) basis[u][x] = std::cos((2 * x + 1) * u * std::numbers::pi / (2 * N));
    double rows[N][K];  // DCT along x of every row
    for (int y = 0; y < N; ++y)
        for (int v = 0; v < K; ++v) {
            double acc = 0;
            for (int x = 0; x < N; ++x) acc += small[static_cast<std::size_t>(y) * N + x] * basis[v][x];
            rows[y][v] = acc;
        }
    double coef[K * K];
    for (int u = 0; u < K; ++u)
        for (int v = 0; v < K; ++v) {
            double acc = 0;
            for (int y = 0; y < N; ++y) acc += rows[y][v] * basis[u][y];
            coef[u * K + v] = acc;
        }
    double ac[K * K - 1];
    std::copy(coef + 1, coef + K * K, ac);
    std::nth_element(ac, ac + 31, ac + 63);
    const double median = ac[31];
    std::uint64_t h = 0;
    for (int i = 0; i < K * K; ++i)
        if (coef[i] > median) h |= std::uint64_t{1} << i;
    return h;
}

/// Number of differing bits.
[[nodiscard]] inline int hamming(std::uint64_t a, std::uint64_t b) noexcept { return std::popcount(a ^ b); }

/// pHash of every image of a data set (decodes only the image file when the set has image_path(i)).
/// `progress` (optional) is called after each image with (images done, images in all), so that a
/// program can show progress during this step (several seconds for BUSI's 780 images).
template <Dataset D>
[[nodiscard]] std::vector<std::uint64_t> phashes(const D& ds,
                                                 const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    std::vector<std::uint64_t> out(ds.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (progress && i > 0) progress(i, out.size());
        if constexpr (requires { ds.image_path(i); })
            out[i] = phash(io::to_tensor(io::read_image(ds.image_path(i), 1)));
        else
            out[i] = phash(ds.get(i).image);
    }
    if (progress) progress(out.size(), out.size());
    return out;
}

/// Group ids (0, 1, ... in order of each group's first member) joining images whose hashes are
/// within `max_distance` bits, transitively.
[[nodiscard]] inline std::vector<int> near_duplicate_groups(const std::vector<std::uint64_t>& hashes, int max_distance = 8) {
    const std::size_t n = hashes.size();
    std::vector<std::size_t> parent(n);
    std::iota(parent.begin(), parent.end(), std::size_t{0});
    auto find = [&](std::size_t x) {
        while (parent[x] != x) x = parent[x] = parent[parent[x]];
        return x;
    };
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j)
            if (hamming(hashes[i], hashes[j]) <= max_distance) {
                const std::size_t a = find(i), b = find(j);
                if (a != b) parent[std::max(a, b)] = std::min(a, b);
            }
    std::vector<int> id(n, -1), out(n);
    int next = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t r = find(i);
        if (id[r] < 0) id[r] = next++;
        out[i] = id[r];
    }
    return out;
}

/// Summary of a grouping.
struct group_stats {
    std::size_t groups = 0;            ///< distinct group ids
    std::size_t duplicate_groups = 0;  ///< groups with two or more members
    std::size_t in_duplicates = 0;     ///< samples in those groups
    std::size_t largest = 0;           ///< members of the largest group
};

[[nodiscard]] inline group_stats near_duplicate_stats(const std::vector<int>& groups) {
    std::vector<std::size_t> count;
    for (int g : groups) {
        if (g < 0) throw std::invalid_argument("near_duplicate_stats: negative group id");
        if (static_cast<std::size_t>(g) >= count.size()) count.resize(g + 1, 0);
        ++count[g];
    }
    group_stats st;
    for (std::size_t c : count) {
        if (!c) continue;
        ++st.groups;
        if (c > 1) ++st.duplicate_groups, st.in_duplicates += c;
        st.largest = std::max(st.largest, c);
    }
    return st;
}

}  // namespace unetpp::data
