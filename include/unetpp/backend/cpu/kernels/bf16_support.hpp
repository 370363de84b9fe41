// bf16 compute on the CPU: whether this build and this processor have AVX512-BF16 (vdpbf16ps),
// the error raised where they do not, and round-to-nearest-even conversion of single values.
//
// Two checks, both needed: the build must be compiled with the instruction set (__AVX512BF16__,
// e.g. -march=native on a processor that has it, or -mavx512bf16), and the processor running it
// must have it (cpuid leaf 7 sub-leaf 1, EAX bit 5, with the operating system saving the AVX-512
// registers). Where either is missing a bf16 convolution throws bf16_unavailable naming the
// instruction set; it never falls back silently to fp32 and never executes an instruction the
// processor lacks.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "../../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::bf16 {

/// Thrown by the bf16 convolutions where AVX512-BF16 is missing from the build or the processor.
struct bf16_unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Whether this translation unit was compiled with AVX512-BF16.
inline constexpr bool compiled =
#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512F__)
    true;
#else
    false;
#endif

/// Whether the processor running this program executes AVX512-BF16 (and the AVX-512 state is
/// enabled by the operating system). Read once.
inline bool cpu_has_avx512_bf16() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    static const bool has = [] {
        unsigned a = 0, b = 0, c = 0, d = 0;
        if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
        unsigned xlo = 0, xhi = 0;
        __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
        if ((xlo & 0xE6u) != 0xE6u) return false;  // XMM, YMM, opmask, ZMM state saved by the OS
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 16)) || !(b & (1u << 30)))
            return false;  // AVX512F, AVX512BW
        if (a < 1 || !__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
        return (a & (1u << 5)) != 0;  // AVX512_BF16
    }();
    return has;
#else
    return false;
#endif
}

/// Whether bf16 convolutions can run here: compiled with the instruction set and executed on a
/// processor that has it.
inline bool available() noexcept { return compiled && cpu_has_avx512_bf16(); }

/// Throws bf16_unavailable with the reason unless available().
inline void require() {
    if constexpr (!compiled)
        throw bf16_unavailable(
            "backend::cpu_bf16 needs AVX512-BF16 (vdpbf16ps), and this program was compiled without it: build with "
            "-march=native on a processor that has AVX512-BF16 (or -mavx512f -mavx512bw -mavx512bf16), or use "
            "backend::cpu (fp32)");
    if (!cpu_has_avx512_bf16())
        throw bf16_unavailable(
            "backend::cpu_bf16 needs AVX512-BF16 (vdpbf16ps), and this processor does not have it (cpuid leaf 7.1 "
            "EAX bit 5): use backend::cpu (fp32)");
}

/// v rounded to bf16, to nearest with ties to even (what vcvtneps2bf16 does for normal values);
/// NaN stays a quiet NaN.
inline std::uint16_t to_bf16(float v) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>(u >> 16);
}

/// The float a bf16 value stands for.
inline float from_bf16(std::uint16_t h) noexcept {
    const std::uint32_t u = std::uint32_t(h) << 16;
    float v;
    std::memcpy(&v, &u, sizeof v);
    return v;
}

}  // namespace unetpp::backend::cpu_kernels::bf16
