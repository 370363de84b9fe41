#pragma once
/// \file The inline ABI namespace. Every name of the library is declared in
/// `unetpp::inline UNETPP_ABI`, a namespace whose name encodes the build settings that change
/// the library's inline definitions:
///
///   - the instruction set the translation unit is compiled for (the CPU kernels and xsimd pick
///     their code paths from the compiler's macros): `avx512bf16` (AVX-512 F, BW and BF16),
///     `avx512` (AVX-512 F), `avx2` (AVX2 and FMA), `avx`, `sse2`, or `generic`;
///   - how the fast kernels are compiled: `hdr` (in every translation unit, the default) or `lib`
///     (once, in unetpp::kernels: UNETPP_SEPARATE_KERNELS);
///   - the device backend: `cuda` (UNETPP_WITH_CUDA) or `cpu`.
///
/// For example `unetpp::abi_v1_avx512bf16_hdr_cpu::tensor<float>`; users keep writing
/// `unetpp::tensor<float>`. Two translation units compiled with different settings therefore
/// share no inline function: without the tag the linker would keep one copy of each, so a program
/// built from an AVX-512 object and an AVX2 object could run AVX-512 code on a processor without
/// it, and a TU compiled against unetpp::kernels could call a header-only kernel by mistake. With
/// the tag each object keeps its own, and a declaration that must meet its definition across
/// settings (a TU of the program against unetpp::kernels compiled for another instruction set)
/// fails at link time with the tag in the symbol's name instead of misbehaving at run time.
///
/// The CUDA kernel launchers and bodies (`unetpp::cuda_kernels`) are the exception: they live in
/// `unetpp::inline UNETPP_ABI_DEVICE`, which carries no instruction set, because the .cu files
/// of unetpp::cuda are compiled by nvcc, whose host compiler does not get the C++ files'
/// -march flags, and they must still meet the C++ side's declarations.
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
#define UNETPP_ABI_KERNELS lib
#else
#define UNETPP_ABI_KERNELS hdr
#endif

#if defined(UNETPP_WITH_CUDA) && UNETPP_WITH_CUDA
#define UNETPP_ABI_DEVICE_KIND cuda
#else
#define UNETPP_ABI_DEVICE_KIND cpu
#endif

#define UNETPP_ABI_JOIN_(v, isa, kernels, device) abi_v##v##_##isa##_##kernels##_##device
#define UNETPP_ABI_JOIN(v, isa, kernels, device) UNETPP_ABI_JOIN_(v, isa, kernels, device)
#define UNETPP_ABI_DEVICE_JOIN_(v) abi_v##v##_device
#define UNETPP_ABI_DEVICE_JOIN(v) UNETPP_ABI_DEVICE_JOIN_(v)
#define UNETPP_ABI_STRING_(x) #x
#define UNETPP_ABI_STRING(x) UNETPP_ABI_STRING_(x)

/// The inline namespace of the library's names, e.g. abi_v1_avx512bf16_hdr_cpu.
#define UNETPP_ABI UNETPP_ABI_JOIN(UNETPP_ABI_VERSION, UNETPP_ABI_ISA, UNETPP_ABI_KERNELS, UNETPP_ABI_DEVICE_KIND)
/// The inline namespace of the CUDA kernel launchers and bodies, e.g. abi_v1_device.
#define UNETPP_ABI_DEVICE UNETPP_ABI_DEVICE_JOIN(UNETPP_ABI_VERSION)

namespace unetpp::inline UNETPP_ABI {
/// The name of this translation unit's ABI namespace, e.g. "abi_v1_avx512bf16_hdr_cpu"
/// (build_info() prints it).
inline constexpr const char* abi_tag = UNETPP_ABI_STRING(UNETPP_ABI);
}  // namespace unetpp::inline UNETPP_ABI
