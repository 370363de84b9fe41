#pragma once
/// \file The inline ABI namespace. Every name of the library is declared in
/// `unetpp::inline UNETPP_ABI`, a namespace whose name encodes the version and the instruction
/// set the translation unit is compiled for, which changes the library's inline definitions (the
/// CPU kernels and xsimd pick their code paths from the compiler's macros): `avx512bf16`
/// (AVX-512 F, BW and BF16), `avx512` (AVX-512 F), `avx2` (AVX2 and FMA), `avx`, `sse2` or
/// `generic`. For example `unetpp::abi_v1_avx512bf16::tensor<float>`; users keep writing
/// `unetpp::tensor<float>`. Two translation units compiled for different instruction sets therefore
/// share no inline function: without the tag the linker would keep one copy of each, so a program
/// built from an AVX-512 object and an AVX2 object could run AVX-512 code on a processor without
/// it. With the tag each object keeps its own, and a declaration that must meet its definition
/// across settings (a program against a unetpp library compiled for another instruction set)
/// fails at link time with the tag in the symbol's name instead of misbehaving at run time.
///
/// How the fast CPU kernels are compiled is a second, inner inline namespace of
/// `backend::cpu_kernels` only, UNETPP_KERNELS_ABI: `kernels_hdr` (in every translation unit,
/// the default) or `kernels_lib` (declared here, defined once in unetpp::kernels:
/// UNETPP_SEPARATE_KERNELS). Only the kernels differ between the two modes (inline definitions
/// against out-of-line ones), so only they are kept apart, and a program may link unetpp::kernels
/// together with a library compiled header-only, such as unetpp::cuda.
///
/// UNETPP_WITH_CUDA is not part of the name, although it changes two definitions, so that
/// unetpp::kernels and unetpp::medical (compiled without it) link into CUDA programs: without it
/// backend::cuda names a stand-in class of another name (backend/cuda.hpp), and build_info()
/// takes the setting as a default template argument, so neither definition is shared.
///
/// The CUDA kernel bodies and launchers (`unetpp::cuda_kernels`) live in
/// `unetpp::inline UNETPP_ABI_DEVICE`, which carries no instruction set: nvcc's device pass does
/// not see the host compiler's -march macros, and a kernel's name must be the same in both
/// passes. The launchers' parameter types (backend::sgd_step, the geometries) are ordinary
/// library types, so the host code of unetpp::cuda's .cu files is compiled with the C++ files'
/// instruction-set flags (CMakeLists.txt passes them to nvcc's host compiler).
///
/// Changing the version below is how a release that changes layouts breaks old binaries loudly.

#define UNETPP_ABI_VERSION 1

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#define UNETPP_ABI_ISA avx512bf16
#elif defined(__AVX512F__)
#define UNETPP_ABI_ISA avx512
#elif defined(__AVX2__) && defined(__FMA__)
#define UNETPP_ABI_ISA avx2
#elif defined(__AVX__)
#define UNETPP_ABI_ISA avx
#elif defined(__SSE2__) || defined(__x86_64__)
#define UNETPP_ABI_ISA sse2
#else
#define UNETPP_ABI_ISA generic
#endif

#if defined(UNETPP_SEPARATE_KERNELS)
#define UNETPP_KERNELS_ABI kernels_lib
#else
#define UNETPP_KERNELS_ABI kernels_hdr
#endif

#define UNETPP_ABI_JOIN_(v, isa) abi_v##v##_##isa
#define UNETPP_ABI_JOIN(v, isa) UNETPP_ABI_JOIN_(v, isa)
#define UNETPP_ABI_DEVICE_JOIN_(v) abi_v##v##_device
#define UNETPP_ABI_DEVICE_JOIN(v) UNETPP_ABI_DEVICE_JOIN_(v)
#define UNETPP_ABI_STRING_(x) #x
#define UNETPP_ABI_STRING(x) UNETPP_ABI_STRING_(x)

/// The inline namespace of the library's names, e.g. abi_v1_avx512bf16.
#define UNETPP_ABI UNETPP_ABI_JOIN(UNETPP_ABI_VERSION, UNETPP_ABI_ISA)
/// The inline namespace of the CUDA kernel launchers and bodies, e.g. abi_v1_device.
#define UNETPP_ABI_DEVICE UNETPP_ABI_DEVICE_JOIN(UNETPP_ABI_VERSION)

namespace unetpp::inline UNETPP_ABI {
/// The name of this translation unit's ABI namespace, e.g. "abi_v1_avx512bf16", and of the
/// CPU kernels' inner one, "kernels_hdr" or "kernels_lib" (build_info() prints both).
inline constexpr const char* abi_tag = UNETPP_ABI_STRING(UNETPP_ABI);
inline constexpr const char* kernels_abi_tag = UNETPP_ABI_STRING(UNETPP_KERNELS_ABI);
}  // namespace unetpp::inline UNETPP_ABI
