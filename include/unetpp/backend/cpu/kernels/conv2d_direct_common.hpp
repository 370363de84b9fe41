#pragma once
// What the direct convolution kernels of every instruction set share: the blocking constants,
// the weight packing, the work split and the column masks (conv2d_direct_avx512.hpp,
// conv2d_direct_avx2.hpp). Part of the fast float kernels (conv2d_fast.hpp).

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../../config/abi.hpp"
#include "conv2d.hpp"
#include "parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {

// ---- Direct AVX-512 path (stride 1) -----------------------------------------------------------

inline constexpr int co_block = 6;   // output channels per micro-kernel (broadcast operand)
inline constexpr int seg_count = 4;  // 16-pixel segments per micro-kernel (vector operand)
inline constexpr int direct_max_taps = 64;  // kernels with more taps use im2col + GEMM

inline std::size_t round_up(std::size_t v, std::size_t m) noexcept { return (v + m - 1) / m * m; }

// Packs weights for the direct kernel: dst[cb][ci][ky][kx][j] = get(cb*6+j, ci, ky, kx), zero for
// output channels >= nco. get(co, ci, ky, kx) is any accessor, so the same routine packs the
// forward weights and the flipped/transposed weights of the backward-data pass.
template <class Get>
inline void pack_direct_weights(int nco, int nci, int kh, int kw, Get get, float* dst) {
    const int nblocks = (nco + co_block - 1) / co_block;
    const std::ptrdiff_t per_block = std::ptrdiff_t(nci) * kh * kw * co_block;
#pragma omp parallel for schedule(static) if (per_block * nblocks > 32768)
    for (int cb = 0; cb < nblocks; ++cb) {
        // One output channel at a time: the source is read in order and the writes stay inside
        // this block, which is small enough to live in cache.
        float* d = dst + cb * per_block;
        for (int j = 0; j < co_block; ++j) {
            const int co = cb * co_block + j;
            std::ptrdiff_t k = j;
            for (int ci = 0; ci < nci; ++ci)
                for (int ky = 0; ky < kh; ++ky)
                    for (int kx = 0; kx < kw; ++kx, k += co_block) d[k] = co < nco ? get(co, ci, ky, kx) : 0.0f;
        }
    }
}

inline std::size_t direct_packed_floats(int nco, int nci, int kh, int kw) noexcept {
    return round_up(std::size_t(nco), co_block) * std::size_t(nci) * kh * kw;
}

// Input channels processed per pass over the output tile: the x slice of one tile
// (cic * kh rows * 4 segments) should stay in L1 while all output-channel blocks sweep over it.
inline int direct_ci_chunk(int kh, int kw) noexcept {
    const int taps = kh * kw;
    if (taps <= 1) return 128;
    if (taps <= 4) return 64;
    if (taps <= 9) return 32;
    return 16;
}

// Output-channel parts per pixel tile for the direct kernels' work items (tile x part): enough
// items for about 4 per thread, at most one part per block of 6 output channels.
inline int direct_parts(std::ptrdiff_t tiles, int nblocks) noexcept {
    int max_threads = 1;
#ifdef _OPENMP
    max_threads = omp_get_max_threads();
#endif
    return int(std::clamp<std::ptrdiff_t>((4 * max_threads + tiles - 1) / tiles, 1, nblocks));
}

// Lanes l of a 16-pixel vector starting at input column `base` that hold real pixels:
// l < len and 0 <= base + l < w.
inline std::uint32_t column_mask(std::ptrdiff_t base, int len, std::ptrdiff_t w) noexcept {
    const std::ptrdiff_t lo = std::max<std::ptrdiff_t>(0, -base);
    const std::ptrdiff_t hi = std::min<std::ptrdiff_t>(len, w - base);
    if (hi <= lo) return 0;
    return ((hi >= 32 ? 0xFFFFFFFFu : ((1u << hi) - 1u))) & ~((1u << lo) - 1u);
}

}  // namespace unetpp::backend::cpu_kernels::detail
