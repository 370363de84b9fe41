#pragma once
/// \file What this build of unetpp runs on: SIMD instruction set, threads, compiler, and the
/// kernel each operation uses. Print it at start-up so a slow run is never a mystery.

#include <sstream>
#include <string>

#include <xsimd/xsimd.hpp>

#include "config/abi.hpp"
#include "backend/cpu.hpp"
#include "backend/cpu/kernels/parallel.hpp"
#include "backend/cuda.hpp"

namespace unetpp::inline UNETPP_ABI {

/// The widest SIMD instruction set this translation unit was compiled for.
inline std::string simd_architecture() {
#if defined(__AVX512F__)
    return "AVX-512 (16 floats per vector)";
#elif defined(__AVX2__) && defined(__FMA__)
    return "AVX2 + FMA (8 floats per vector)";
#elif defined(__AVX__)
    return "AVX (8 floats per vector, no FMA)";
#elif defined(__SSE2__)
    return "SSE2 (4 floats per vector): compile with -march=native (or -mavx2 -mfma / -mavx512f) for speed";
#elif defined(__ARM_NEON)
    return "NEON (4 floats per vector)";
#else
    return "scalar (no SIMD)";
#endif
}

/// Whether the translation unit that includes this was compiled with optimisation (-O1 or
/// higher). Without it unetpp's header-only kernels run about 40 times slower.
#if defined(__OPTIMIZE__) || (defined(_MSC_VER) && !defined(_DEBUG))
inline constexpr bool optimized_build = true;
#else
inline constexpr bool optimized_build = false;
#endif

/// Human-readable report of the build: SIMD, xsimd's default architecture, OpenMP threads,
/// compiler, and the algorithm each CPU kernel uses for typical U-Net shapes.
namespace detail {
#if defined(UNETPP_WITH_CUDA) && UNETPP_WITH_CUDA
inline constexpr bool build_with_cuda = true;
#else
inline constexpr bool build_with_cuda = false;
#endif
}  // namespace detail

/// (The CUDA setting is a default template argument so that objects compiled with and without
/// UNETPP_WITH_CUDA, which share an ABI namespace, do not share one definition; config/abi.hpp.)
template <bool WithCuda = detail::build_with_cuda>
std::string build_info() {
    namespace k = backend::cpu_kernels;
    std::ostringstream s;
    s << "unetpp build\n";
    s << "  SIMD:          " << simd_architecture() << "\n";
    s << "  xsimd arch:    " << xsimd::default_arch::name() << "\n";
#ifdef _OPENMP
    s << "  OpenMP:        on, " << k::max_threads() << " threads (set OMP_NUM_THREADS to change)"
      << (omp_get_dynamic() ? ", dynamic: fewer while the machine is busy" : "") << "\n";
#else
    s << "  OpenMP:        off (single thread; build with UNETPP_WITH_OPENMP=ON)\n";
#endif
#if defined(__clang__)
    s << "  compiler:      clang " << __clang_major__ << "." << __clang_minor__ << "\n";
#elif defined(__GNUC__)
    s << "  compiler:      g++ " << __GNUC__ << "." << __GNUC_MINOR__ << "\n";
#endif
    s << "  optimisation:  "
      << (optimized_build ? "on"
                          : "OFF (compiled without -O): every kernel runs about 40x slower; rebuild with -O2 "
                            "(CMake: -DCMAKE_BUILD_TYPE=Release)")
      << "\n";
#if defined(NDEBUG)
    s << "  assertions:    off (release)\n";
#else
    s << "  assertions:    on (debug build: expect slow kernels)\n";
#endif
    if constexpr (WithCuda) {
#if defined(UNETPP_WITH_CUDA) && UNETPP_WITH_CUDA
        s << "  CUDA backend:  " << cuda_runtime::summary() << "\n";
#endif
    } else {
        s << "  CUDA backend:  not in this program (configure with -DUNETPP_WITH_CUDA=ON and link unetpp::cuda)\n";
    }
#if defined(UNETPP_SEPARATE_KERNELS)
    s << "  kernels built: once, in the unetpp::kernels library (its instruction set is the one below)\n";
#else
    s << "  kernels built: header-only, in this program\n";
#endif
    s << "  ABI namespace: unetpp::" << abi_tag << ", CPU kernels in backend::cpu_kernels::" << kernels_abi_tag
      << " (objects compiled for another instruction set do not link with these)\n";
    s << "  kernels (float, backend::cpu):\n";
    const k::conv_geometry conv3{1, 64, 258, 258, 64, 3, 3, 1};
    const k::conv_geometry conv1{1, 64, 256, 256, 1, 1, 1, 1};
    const k::conv_geometry conv3s2{1, 64, 257, 257, 64, 3, 3, 2};
    s << "    conv2d 3x3 stride 1: " << k::conv2d_forward_algorithm(conv3) << "\n";
    s << "    conv2d 1x1:          " << k::conv2d_forward_algorithm(conv1) << "\n";
    s << "    conv2d 3x3 stride 2: " << k::conv2d_forward_algorithm(conv3s2) << "\n";
    s << "    other layers:        OpenMP loops vectorised by the compiler (memory bound)\n";
    s << "  double precision and backend::cpu_reference use the reference loops (test oracle)\n";
    return s.str();
}

}  // namespace unetpp
