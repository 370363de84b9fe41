#pragma once
/// \file Thread-count control for the CPU backend.
///
/// The kernels run many short OpenMP parallel regions. On a machine shared with other busy
/// processes, a region waits at its barrier for a thread that the OS has descheduled, and a
/// two-thread run can become ten times slower than a one-thread run. OpenMP's dynamic mode
/// (libgomp sizes each team from the load average) avoids that; `adapt_threads_to_load()`
/// switches it on unless the user already chose with OMP_DYNAMIC.

#include <cstdlib>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define UNETPP_HAS_MXCSR 1
#endif

namespace unetpp {

/// Lets OpenMP use fewer threads while other processes load the cores. Returns true when dynamic
/// mode is on afterwards. An explicit OMP_DYNAMIC in the environment is respected.
inline bool adapt_threads_to_load() {
#ifdef _OPENMP
    if (std::getenv("OMP_DYNAMIC") == nullptr) omp_set_dynamic(1);
    return omp_get_dynamic() != 0;
#else
    return false;
#endif
}

/// Sets the number of threads the CPU kernels use (no effect without OpenMP).
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
inline bool flush_denormals(bool on = true) {
#if defined(UNETPP_HAS_MXCSR)
    const auto apply = [on] {
        constexpr unsigned bits = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)
        _mm_setcsr(on ? (_mm_getcsr() | bits) : (_mm_getcsr() & ~bits));
    };
    apply();
#ifdef _OPENMP
#pragma omp parallel
    apply();
#endif
    return true;
#else
    (void)on;
    return false;
#endif
}

}  // namespace unetpp
