#pragma once
/// \file Sums of float arrays in a fixed order that the compiler vectorises (batch norm's
/// statistics and gradients, the convolutions' bias gradients).
///
/// A single running sum makes every add wait for the one before (about a quarter of an element
/// per cycle), and the compiler may not reorder float additions to vectorise it. Here each of
/// reduce_lanes lanes sums every reduce_lanes-th element in order and a fixed tree adds the lanes
/// at the end: the order is fixed by the code, so the compiler vectorises the lanes without
/// reordering anything and the result is the same on every instruction set and thread count.

#include <array>
#include <cstddef>

#include "../../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

inline constexpr int reduce_lanes = 16;

/// acc[0] + ... + acc[reduce_lanes - 1] by halves (acc is used as scratch).
template <class T>
inline T tree_sum(T (&acc)[reduce_lanes]) noexcept {
    for (int width = reduce_lanes / 2; width > 0; width /= 2)
        for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
    return acc[0];
}

/// The K sums over i in [0, n) of the terms term(i) returns (a std::array<T, K>), each in fixed
/// lanes, in one pass.
template <class T, std::size_t K, class F>
inline std::array<T, K> lane_sums_of(std::ptrdiff_t n, F term) noexcept {
    T acc[K][reduce_lanes] = {};
    const auto add = [&](std::ptrdiff_t i, int j) {
        const std::array<T, K> t = term(i);
        for (std::size_t k = 0; k < K; ++k) acc[k][j] += t[k];
    };
    std::ptrdiff_t i = 0;
    for (; i + reduce_lanes <= n; i += reduce_lanes)
        for (int j = 0; j < reduce_lanes; ++j) add(i + j, j);
    for (int j = 0; i < n; ++i, ++j) add(i, j);
    std::array<T, K> out;
    for (std::size_t k = 0; k < K; ++k) out[k] = tree_sum(acc[k]);
    return out;
}

/// The sum of x[0 .. n).
template <class T>
inline T lane_sum(const T* x, std::ptrdiff_t n) noexcept {
    return lane_sums_of<T, 1>(n, [x](std::ptrdiff_t i) { return std::array<T, 1>{x[i]}; })[0];
}

}  // namespace unetpp::backend::cpu_kernels::detail
