#pragma once
/// \file Small numeric helpers shared by kernels, losses, metrics, heads, data and inference:
/// standard library only, so every floor (and nvcc) can use them. reflect_index, mix64 and
/// same_window_max are also device functions under nvcc (UNETPP_HD), so the CUDA kernels call
/// these same ones.

#include <cmath>
#include <cstdint>

#include "../config/abi.hpp"

/// Marks a function that nvcc compiles for the host and the device; empty for other compilers.
#if !defined(UNETPP_HD)
#if defined(__CUDACC__)
#define UNETPP_HD __host__ __device__
#else
#define UNETPP_HD
#endif
#endif

namespace unetpp::inline UNETPP_ABI::numeric {

// Math with one spelling on both sides of a CUDA build (UNETPP_HD bodies run on the host in
// ordinary builds and in the CUDA kernels): CUDA's IEEE functions on the device (sqrt and
// division correctly rounded by default; exp, log and log1p may differ from the host's by an ulp
// or two), the standard library's on the host.
#if defined(__CUDA_ARCH__)
#define UNETPP_HD_MATH(name, dev_f, dev_d)                          \
    UNETPP_HD inline float hd_##name(float v) { return ::dev_f(v); } \
    UNETPP_HD inline double hd_##name(double v) { return ::dev_d(v); }
#else
#define UNETPP_HD_MATH(name, dev_f, dev_d)                                  \
    UNETPP_HD inline float hd_##name(float v) { return std::name(v); }     \
    UNETPP_HD inline double hd_##name(double v) { return std::name(v); }
#endif
UNETPP_HD_MATH(exp, expf, exp)
UNETPP_HD_MATH(log, logf, log)
UNETPP_HD_MATH(log1p, log1pf, log1p)
UNETPP_HD_MATH(sqrt, sqrtf, sqrt)
#undef UNETPP_HD_MATH
/// pow(v, e) in double (the focal loss's modulation), spelled for both sides as above.
UNETPP_HD inline double hd_pow(double v, double e) {
#if defined(__CUDA_ARCH__)
    return ::pow(v, e);
#else
    return std::pow(v, e);
#endif
}

/// Numerically stable logistic function: never evaluates exp of a large positive number.
template <class T>
[[nodiscard]] inline T stable_sigmoid(T v) noexcept {
    if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
    const T e = std::exp(v);
    return e / (T(1) + e);
}

/// Index i mirrored into [0, n) without repeating the edge (PyTorch padding_mode="reflect";
/// period 2n - 2), for any i.
[[nodiscard]] UNETPP_HD constexpr int reflect_index(int i, int n) noexcept {
    if (n == 1) return 0;
    const int period = 2 * n - 2;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/// The window scan of the size-keeping stride-1 max pooling (Keras padding="same"): the largest
/// value of the k x k window at (i, j) of an h x w plane, rows i - (k-1)/2 ... and columns
/// likewise, clipped at the border (padding never wins), and its index in the plane. The first
/// maximum in row-major order wins; a window of NaN gives -inf and index 0. The CPU kernel and the
/// CUDA body both call this one.
template <class T>
UNETPP_HD inline void same_window_max(const T* plane, int h, int w, int k, int i, int j, T& best,
                                      std::int32_t& at) noexcept {
    const int before = (k - 1) / 2;
    best = static_cast<T>(-__builtin_huge_val());
    at = 0;
    for (int di = 0; di < k; ++di) {
        const int r = i - before + di;
        if (r < 0 || r >= h) continue;
        for (int dj = 0; dj < k; ++dj) {
            const int c = j - before + dj;
            if (c < 0 || c >= w) continue;
            const T v = plane[r * w + c];
            if (v > best) best = v, at = r * w + c;
        }
    }
}

/// SplitMix64's output function (Steele, Lea and Flood 2014): a bijective 64-bit mix in which
/// every input bit changes about half of the output bits. The seeded generator, the augmentation
/// seeds and the dropout masks all hash through this one function; add the golden-ratio step
/// (0x9e3779b97f4a7c15) before it where SplitMix64's sequence is wanted.
[[nodiscard]] UNETPP_HD constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace unetpp::numeric
