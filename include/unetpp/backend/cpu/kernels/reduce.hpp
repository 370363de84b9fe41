#pragma once
/// \file Sums of float arrays in a fixed order that the compiler vectorises (batch norm's
/// statistics and gradients, the convolutions' bias gradients).
///
/// A single running sum makes every add wait for the one before (about a quarter of an element
/// per cycle), and the compiler may not reorder float additions to vectorise it. Here each of
/// reduce_lanes lanes sums every reduce_lanes-th element in order and a fixed tree adds the lanes
/// at the end: the order is fixed by the code, so the compiler vectorises the lanes without
/// reordering anything and the result is the same on every instruction set and thread count.

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

/// The sum of x[0 .. n).
template <class T>
inline T lane_sum(const T* x, std::ptrdiff_t n) noexcept {
    T acc[reduce_lanes] = {};
    std::ptrdiff_t i = 0;
    for (; i + reduce_lanes <= n; i += reduce_lanes)
        for (int j = 0; j < reduce_lanes; ++j) acc[j] += x[i + j];
    for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
    return tree_sum(acc);
}

}  // namespace unetpp::backend::cpu_kernels::detail
