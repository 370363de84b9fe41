#pragma once
/// \file OpenMP helpers shared by the CPU kernels (compile to serial loops without OpenMP).
///
/// Determinism: a kernel's arithmetic may depend on the number of threads *requested*
/// (max_threads(), read before its parallel region opens), never on the number OpenMP actually
/// gives the region. With dynamic mode on (adapt_threads_to_load()) a team shrinks while the
/// machine is loaded; work split by team size would then change which GEMM blocks Eigen sees and
/// so the rounding of every sum. Kernels that split arithmetic therefore cut their work into
/// max_threads() fixed parts and let whatever team runs take them in turn (for_each_part below);
/// each part is computed the same way whichever thread takes it.

#include <algorithm>
#include <cstddef>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

/// Threads requested for the kernels' parallel regions: OpenMP's nthreads-var (OMP_NUM_THREADS,
/// set_num_threads), 1 without OpenMP. Dynamic mode does not change it, only the team sizes.
inline int max_threads() noexcept {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/// Below this many elements an element-wise kernel runs serially: forking threads costs more.
inline constexpr std::ptrdiff_t parallel_grain = 1 << 15;

namespace detail {

/// This thread's index in the current team (0 outside a parallel region or without OpenMP).
inline int team_thread() noexcept {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/// Threads in the current team (1 outside a parallel region or without OpenMP).
inline int team_size() noexcept {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/// Call first inside a kernel's parallel region: parallel regions opened from this thread until
/// the region ends run on one thread. Eigen's GEMM opens its own region, split by the team it
/// gets, unless it finds itself in a team of more than one thread or omp_get_max_threads() is 1;
/// in a team that dynamic mode shrank to one thread it would otherwise split the product itself.
/// This sets nthreads-var of the calling implicit task only (OpenMP's data-environment ICV), so
/// the program's own setting is untouched once the region ends. (A program that calls
/// Eigen::setNbThreads(n > 1) overrides this for Eigen; the kernels then lose bit-reproducibility
/// under load, not correctness.)
inline void serial_nested_regions() noexcept {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
}

/// Runs f(part) for part = 0 .. parts-1 on the current team: thread t takes parts t, t + T,
/// t + 2T, ... of a team of T threads. Call from inside a parallel region (or serially). What
/// f computes for a part must depend on the part only, never on the thread.
template <class F>
inline void for_each_part(int parts, F&& f) {
    const int nt = team_size();
    for (int p = team_thread(); p < parts; p += nt) f(p);
}

/// Static share [lo, hi) of `total` items for part `part` of `parts`, in multiples of `align`.
inline void static_share(std::ptrdiff_t total, std::ptrdiff_t align, int part, int parts, std::ptrdiff_t& lo,
                         std::ptrdiff_t& hi) noexcept {
    const std::ptrdiff_t units = (total + align - 1) / align;
    lo = std::min(total, units * part / parts * align);
    hi = std::min(total, units * (part + 1) / parts * align);
}

/// Part `part` of `parts` of C[M, N] = A[M, K] * B[K, N] (or +=): a block of rows when M is the
/// larger dimension, else a block of columns. Each part is one single-threaded Eigen GEMM; the
/// blocks, and so Eigen's blocking and rounding, depend on (M, N, parts) only.
struct gemm_block {
    std::ptrdiff_t r0, r1, c0, c1;
    bool empty() const noexcept { return r1 <= r0 || c1 <= c0; }
};
inline gemm_block gemm_share(std::ptrdiff_t M, std::ptrdiff_t N, int part, int parts) noexcept {
    gemm_block b{0, M, 0, N};
    if (M >= N || M >= 96 * std::ptrdiff_t(parts))
        static_share(M, 16, part, parts, b.r0, b.r1);
    else
        static_share(N, 16, part, parts, b.c0, b.c1);
    return b;
}

}  // namespace detail

/// Elements per chunk of ordered_sum: a constant, so the chunks never depend on a thread count.
inline constexpr std::ptrdiff_t ordered_sum_chunk = 1 << 13;

/// Sum of term(i) over i in [0, n), bit-identical for every thread count and team size: the range
/// is cut into chunks of ordered_sum_chunk elements (a split that depends on n only), each chunk is
/// summed serially from `zero`, and the chunk sums are added in chunk order. `Acc` is double or any
/// value type with += (a struct of several sums); term(i) may also write per-element outputs, such
/// as a loss gradient. This is the replacement for `omp parallel for reduction(+ : ...)`, whose
/// partial sums follow the team OpenMP gives. Parallel above parallel_grain elements.
template <class Acc, class F>
Acc ordered_sum(std::ptrdiff_t n, Acc zero, F&& term) {
    const std::ptrdiff_t chunks = (n + ordered_sum_chunk - 1) / ordered_sum_chunk;
    const auto chunk_sum = [&](std::ptrdiff_t c) {
        Acc s = zero;
        const std::ptrdiff_t hi = std::min(n, (c + 1) * ordered_sum_chunk);
        for (std::ptrdiff_t i = c * ordered_sum_chunk; i < hi; ++i) s += term(i);
        return s;
    };
    Acc total = zero;
    if (chunks <= 1 || n <= parallel_grain) {
        for (std::ptrdiff_t c = 0; c < chunks; ++c) total += chunk_sum(c);
        return total;
    }
    std::vector<Acc> partial(static_cast<std::size_t>(chunks), zero);
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t c = 0; c < chunks; ++c) partial[static_cast<std::size_t>(c)] = chunk_sum(c);
    for (const Acc& p : partial) total += p;
    return total;
}

/// ordered_sum in double.
template <class F>
double ordered_sum(std::ptrdiff_t n, F&& term) {
    return ordered_sum(n, 0.0, static_cast<F&&>(term));
}

}  // namespace unetpp::backend::cpu_kernels
