#pragma once
// What one translation unit of unit_core_abi_mixed_isa reports about the unetpp code it runs
// (test_abi_mixed_isa.cpp, compiled for the machine, and abi_baseline_isa.cpp, compiled for
// x86-64-v2, linked into one program).
#include <string>
#include <vector>

struct abi_isa_report {
    std::string abi_tag;         // unetpp::abi_tag as this TU sees it
    std::string expected_simd;   // the start of simd_architecture() for this TU's compiler macros
    std::string simd;            // unetpp::simd_architecture(), called through its address
    std::vector<float> conv;     // a 3x3 convolution's output, through the CPU backend
};

abi_isa_report abi_report_native();
abi_isa_report abi_report_baseline();

// The body both TUs compile: the same source text, so that without the ABI namespace the
// linker would be free to keep one copy of each unetpp inline function for both.
#ifdef ABI_ISA_REPORT_BODY
#include <unetpp/build_info.hpp>
#include <unetpp/layers/conv2d.hpp>
#include <unetpp/tensor/tensor.hpp>

namespace {

std::string expected_simd_prefix() {
#if defined(__AVX512F__)
    return "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
    return "AVX2";
#elif defined(__AVX__)
    return "AVX (";
#elif defined(__SSE2__)
    return "SSE2";
#else
    return "";
#endif
}

abi_isa_report make_report() {
    abi_isa_report r;
    r.abi_tag = unetpp::abi_tag;
    r.expected_simd = expected_simd_prefix();
    // Through a volatile pointer: the call goes to the one out-of-line definition the linker
    // kept, as a non-inlined call from anywhere in the program would.
    std::string (*volatile simd)() = &unetpp::simd_architecture;
    r.simd = simd();
    unetpp::conv2d<unetpp::conv2d_cfg{.in = 3, .out = 8, .kernel = 3}> conv;
    for (std::size_t i = 0; i < conv.weight().size(); ++i) conv.weight()[i] = 0.01f * float(int(i % 17) - 8);
    unetpp::tensor<float> x(unetpp::shape4{2, 3, 19, 21});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.001f * float(int((i * 7919) % 1001) - 500);
    const auto& y = conv.forward(x);
    r.conv.assign(y.begin(), y.end());
    return r;
}

}  // namespace
#endif
