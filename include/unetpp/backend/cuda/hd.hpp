#pragma once
/// \file What the CUDA kernel bodies share: the UNETPP_HD marker, the launch shape every kernel
/// uses, and the few math functions whose spelling differs between host and device.
///
/// A kernel body is a `UNETPP_HD` function holding one kernel's per-element (or per-thread) work.
/// nvcc compiles it for the device, where src/cuda/kernels_*.cu call it from grid-stride
/// kernels; g++ reads the same header with UNETPP_HD empty, so tests/unit/backend/
/// test_cuda_bodies*.cpp run every body on the host over every index (reductions in the tree
/// order the device uses) and compare with backend::cpu. This header and bodies/*.hpp need no
/// CUDA header.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../config/abi.hpp"
#include "../../tensor/numeric.hpp"  // UNETPP_HD, and numeric functions the bodies share with the CPU

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

/// Threads per block of every kernel. The reductions' trees are built on it, so their results
/// (and the host emulation of them) depend on this constant and on the sizes, never on the device.
inline constexpr int block_threads = 256;
/// Threads per block of the one-block-per-channel (per-plane) reductions: batch-norm statistics,
/// bias gradients, average pooling. The most a block may have, so that one channel's sum keeps as
/// much of a multiprocessor busy as one block can; their trees are built on it.
inline constexpr int channel_threads = 1024;
/// Most blocks of a grid-stride element-wise kernel (more elements loop inside the kernel).
inline constexpr int max_grid_blocks = 4096;
/// Most blocks of the first stage of sum_squares / all_finite (one partial per block).
inline constexpr int max_reduction_blocks = 1024;
/// Threads of a warp: max_pool2d_backward gives each plane one warp.
inline constexpr int warp_threads = 32;

/// Blocks of an element-wise launch over n items: ceil(n / block_threads), at least 1, at most
/// max_grid_blocks.
UNETPP_HD inline int grid_blocks(std::ptrdiff_t n) {
    const std::ptrdiff_t b = (n + block_threads - 1) / block_threads;
    return b < 1 ? 1 : (b > max_grid_blocks ? max_grid_blocks : static_cast<int>(b));
}
/// Blocks of the first reduction stage over n items (the number of partials): a function of n only.
UNETPP_HD inline int reduction_blocks(std::ptrdiff_t n) {
    const std::ptrdiff_t b = (n + block_threads - 1) / block_threads;
    return b < 1 ? 1 : (b > max_reduction_blocks ? max_reduction_blocks : static_cast<int>(b));
}

/// One level of the shared-memory tree every block reduction uses: a[t] += a[t + stride] for
/// t < stride, with stride = width / 2, width / 4, ..., 1 for a block of `width` threads (a
/// barrier between levels on the device). The host emulation runs the same levels in the same order.
template <class T>
UNETPP_HD inline void tree_level(T* a, int t, int stride) {
    if (t < stride) a[t] += a[t + stride];
}

// Math with one spelling on both sides (tensor/numeric.hpp).
using numeric::hd_exp;
using numeric::hd_sqrt;
/// Whether v is neither NaN nor an infinity (an exponent field not all ones), independent of any
/// fast-math setting.
UNETPP_HD inline bool hd_isfinite(float v) {
#if defined(__CUDA_ARCH__)
    const unsigned bits = __float_as_uint(v);
#else
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
#endif
    return (bits & 0x7f800000u) != 0x7f800000u;
}

}  // namespace unetpp::cuda_kernels
