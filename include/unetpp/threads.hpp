#pragma once
/// \file Thread-count control for the CPU backend.
///
/// The kernels run many short OpenMP parallel regions. On a machine shared with other busy
/// processes, a region waits at its barrier for a thread that the OS has descheduled, and a
/// two-thread run can become ten times slower than a one-thread run. OpenMP's dynamic mode
/// (libgomp sizes each team from the load average) avoids that; `adapt_threads_to_load()`
/// switches it on unless the user already chose with OMP_DYNAMIC.
///
/// Reproducibility. Results depend on the *requested* thread count (set_num_threads,
/// OMP_NUM_THREADS: OpenMP's nthreads-var) and never on how many threads a region actually gets:
/// with the same seed, data, build and requested count, training gives bit-identical weights
/// quiet, under load with dynamic teams, and with OMP_DYNAMIC=false. The kernels cut their work
/// into as many fixed parts as threads were requested and let whatever team runs take the parts
/// in turn (backend/cpu/kernels/parallel.hpp); Eigen runs single-threaded inside those parts.
/// tests/unit/backend/test_determinism.cpp and the `determinism` ctest check it.
///
/// What may differ between two *requested* counts (e.g. 1 vs 2 threads), in the last bits of a
/// float, growing over training steps as any rounding difference does:
///   - every product computed by Eigen GEMM, which is split into one block per requested thread
///     and whose blocking follows the block's shape: the im2col + GEMM convolution (forward,
///     backward-data and backward-weights where neither Winograd nor the direct kernels apply,
///     e.g. strides other than 1, many-tap kernels, and the backward-weights of 3x3 layers with
///     fewer than 16 channels or 64 output tiles but cin * kh * kw >= 64 on AVX-512, and of
///     every non-Winograd layer on AVX2), all three passes of the transposed convolution, and the
///     dense layer.
///
/// Independent of any thread count (the same bits for 1, 2 or more threads): the Winograd
/// convolutions (forward, backward-data and backward-weights of 3x3 stride-1 layers), the direct
/// convolutions (forward, backward-data, AVX-512 backward-weights with few input channels and
/// 1x1 / small 2x2 kernels), batch norm (each channel's statistics and gradients are summed by one
/// thread in a fixed order, in double), bias gradients, pooling, up-sampling, activations and
/// other element-wise kernels, and the optimisers' updates.
///
/// The losses' sums (BCE, focal, MAE, weighted BCE, and the region losses' TP / prediction /
/// target sums behind Dice, IoU, Tversky and Dice + BCE) use cpu_kernels::ordered_sum: chunks of
/// fixed length added in a fixed order, so their values and gradients are the same bits for
/// every thread count.

#include <cstdlib>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define UNETPP_HAS_MXCSR 1
#endif

#include "config/abi.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Lets OpenMP use fewer threads while other processes load the cores. Returns true when dynamic
/// mode is on afterwards. An explicit OMP_DYNAMIC in the environment is respected. The results do
/// not change (see Reproducibility above), only the speed under load.
inline bool adapt_threads_to_load() {
#ifdef _OPENMP
    if (std::getenv("OMP_DYNAMIC") == nullptr) omp_set_dynamic(1);
    return omp_get_dynamic() != 0;
#else
    return false;
#endif
}

/// Sets the number of threads the CPU kernels use (no effect without OpenMP). This requested
/// count, not the team sizes dynamic mode picks, decides how the kernels split their work.
inline void set_num_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/// Treats denormal (subnormal) floats as zero on this thread and on OpenMP's worker threads
/// (x86 FTZ and DAZ). Activations of deep networks drift into the denormal range, where x86
/// arithmetic is many times slower; a U-Net forward pass on random input runs about 20 % faster
/// with flushing, and the outputs change by less than float rounding of normal numbers. This is
/// what TensorFlow does by default and torch.set_flush_denormal(True) enables in PyTorch; the
/// benchmarks set it on both sides. Returns false where the CPU has no such mode.
///
/// The mode is a per-thread register, so it reaches every worker thread by running on a full team
/// of the requested size: dynamic mode is suspended for that one region, because a team shrunk by
/// the load would leave a worker that later regions use with the old mode, and its results would
/// then depend on the load. Call it again after raising the thread count.
inline bool flush_denormals(bool on = true) {
#if defined(UNETPP_HAS_MXCSR)
    const auto apply = [on] {
        constexpr unsigned bits = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)
        _mm_setcsr(on ? (_mm_getcsr() | bits) : (_mm_getcsr() & ~bits));
    };
    apply();
#ifdef _OPENMP
    const int dynamic = omp_get_dynamic();
    omp_set_dynamic(0);
#pragma omp parallel
    apply();
    omp_set_dynamic(dynamic);
#endif
    return true;
#else
    (void)on;
    return false;
#endif
}

}  // namespace unetpp
