#pragma once
/// \file OpenMP helpers shared by the CPU kernels (compile to serial loops without OpenMP).

#include <cstddef>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace unetpp::backend::cpu_kernels {

/// Threads an OpenMP parallel region would use here (1 without OpenMP).
inline int max_threads() noexcept {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/// Below this many elements an element-wise kernel runs serially: forking threads costs more.
inline constexpr std::ptrdiff_t parallel_grain = 1 << 15;

}  // namespace unetpp::backend::cpu_kernels
