#pragma once
/// \file Small numeric helpers shared by kernels, losses, metrics, heads, data and inference:
/// standard library only, so every floor (and nvcc) can use them.

#include <cmath>

namespace unetpp::numeric {

/// Numerically stable logistic function: never evaluates exp of a large positive number.
template <class T>
[[nodiscard]] inline T stable_sigmoid(T v) noexcept {
    if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
    const T e = std::exp(v);
    return e / (T(1) + e);
}

/// Index i mirrored into [0, n) without repeating the edge (PyTorch padding_mode="reflect";
/// period 2n - 2), for any i.
[[nodiscard]] constexpr int reflect_index(int i, int n) noexcept {
    if (n == 1) return 0;
    const int period = 2 * n - 2;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

}  // namespace unetpp::numeric
