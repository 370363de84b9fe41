#pragma once
/// \file `backend::cpu_bf16`: the CPU backend with its forward convolutions computed in bf16.
///
/// Opt-in by type: `unet<cfg, backend::cpu_bf16>` (or `presets::unet_bn<32, 4, 1, 1,
/// backend::cpu_bf16>`) is the same network as with backend::cpu, loads the same weight files and
/// keeps every tensor in fp32. Only conv2d_forward and conv2d_forward_fused differ: their
/// products are rounded to bf16 (8-bit significand, round to nearest even) and summed in fp32
/// with AVX512-BF16's vdpbf16ps (kernels/bf16_conv2d.hpp). Every other operation (transposed
/// convolution, pooling, BatchNorm, the activations) is backend::cpu's, inherited unchanged, and
/// so are the training operations (backward passes, optimiser steps): training on this backend is
/// mixed precision with a bf16 forward and fp32 backward passes and master weights (bf16 keeps
/// fp32's exponent range, so no loss scaling is needed). On ISBI 2012 a 5-fold training this way
/// lands within 0.001 of fp32's mean Dice (docs/PERFORMANCE.md, "bf16 compute").
///
/// Where AVX512-BF16 is missing (not compiled in, or not on the processor running the program)
/// every bf16 convolution throws cpu_kernels::bf16::bf16_unavailable naming the instruction set;
/// `cpu_bf16::supported()` tells beforehand. There is no silent fp32 fallback. The type itself is
/// usable in every build (`available` is true), so code that selects it at run time compiles
/// everywhere; a program that must not build without the instruction set defines
/// UNETPP_REQUIRE_AVX512_BF16, which turns its absence into a compile-time #error.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../config/abi.hpp"
#include "cpu.hpp"
#include "cpu/kernels/bf16_conv2d.hpp"

#if defined(UNETPP_REQUIRE_AVX512_BF16) && !(defined(__AVX512BF16__) && defined(__AVX512BW__))
#error "backend::cpu_bf16: UNETPP_REQUIRE_AVX512_BF16 is set but this build lacks AVX512-BF16 (vdpbf16ps): compile with -march=native on a processor that has it, or -mavx512f -mavx512bw -mavx512bf16"
#endif

namespace unetpp::inline UNETPP_ABI::backend {

struct cpu_bf16 : basic_cpu<true> {
    using memory = unetpp::memory::host;
    /// Usable in every build (a network of this backend compiles anywhere); whether its bf16
    /// convolutions can run is compiled_with_avx512_bf16 and, at run time, supported().
    static constexpr bool available = true;
    static constexpr bool compiled_with_avx512_bf16 = cpu_kernels::bf16::compiled;
    static constexpr bool is_reference = false;
    static constexpr std::string_view name = "cpu_bf16";

    /// Whether bf16 convolutions run here (compiled in and present on this processor).
    static bool supported() noexcept { return cpu_kernels::bf16::available(); }

    template <class T>
    static void conv2d_forward(const conv_geometry& g, const T* x, const T* w, const T* b, T* y) {
        if constexpr (std::is_same_v<T, float>) {
            profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other",
                                  conv_flops(g));
            cpu_kernels::bf16::forward(g, x, w, b, nullptr, nullptr, false, y, workspace(g));
        } else {
            basic_cpu<true>::conv2d_forward(g, x, w, b, y);
        }
    }
    template <class T>
    static void conv2d_forward_fused(const conv_geometry& g, const T* x, const T* w, const T* b, const T* scale,
                                     const T* shift, bool relu, T* y) {
        if constexpr (std::is_same_v<T, float>) {
            profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other",
                                  conv_flops(g));
            cpu_kernels::bf16::forward(g, x, w, b, scale, shift, relu, y, workspace(g));
        } else {
            basic_cpu<true>::conv2d_forward_fused(g, x, w, b, scale, shift, relu, y);
        }
    }
    /// The bf16 convolutions read one input tensor: a network concatenates a decoder's inputs
    /// (these hide basic_cpu's fp32 two-input passes).
    template <class T>
    static bool conv2d_forward_fused_two_supported(const conv_geometry&, int, int, int) {
        return false;
    }
    template <class T>
    static bool conv2d_two_inputs_supported(const conv_geometry&, int) {
        return false;
    }
    static std::string_view conv2d_algorithm(const conv_geometry& g) {
        return g.stride == 1 ? "bf16 direct-avx512 6x64 (vdpbf16ps)" : "bf16 direct-avx512 6x64 gather (vdpbf16ps)";
    }

private:
    // A grow-only buffer per thread, 64-byte aligned (a tensor of floats used as raw words).
    static std::uint32_t* workspace(const conv_geometry& g) {
        const std::size_t words = cpu_kernels::bf16::workspace_words(g);
        thread_local tensor<float> buf;
        if (buf.size() < words) buf.resize(shape4{1, 1, 1, static_cast<int>(words)});
        return reinterpret_cast<std::uint32_t*>(buf.data());
    }
};

static_assert(Backend<cpu_bf16>, "backend::cpu_bf16 must provide every operation of the contract");

}  // namespace unetpp::backend
