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

}  // namespace unetpp
