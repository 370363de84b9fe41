// The inline ABI namespace (unetpp/config/abi.hpp): one program links this TU, compiled for the
// machine (-march=native), and abi_baseline_isa.cpp, compiled for x86-64-v2. Each calls the
// same unetpp inline functions from the same source text. The ABI namespace gives each
// instruction set its own copy, so each TU runs the code it was compiled for; without it the
// linker keeps one copy of simd_architecture() (and of every kernel) for both, and one of the
// two reports below names the other TU's instruction set.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>

#define ABI_ISA_REPORT_BODY 1
#include "abi_isa_report.hpp"

abi_isa_report abi_report_native() { return make_report(); }

TEST_CASE("each translation unit runs the unetpp code of its own instruction set") {
    const abi_isa_report native = abi_report_native();
    const abi_isa_report baseline = abi_report_baseline();
    INFO("native TU: " << native.abi_tag << ", " << native.simd);
    INFO("baseline TU: " << baseline.abi_tag << ", " << baseline.simd);
    CHECK(native.abi_tag.rfind("abi_v1_", 0) == 0);
    CHECK(baseline.abi_tag.rfind("abi_v1_", 0) == 0);
#if defined(__x86_64__)
    CHECK(baseline.expected_simd == "SSE2");  // x86-64-v2 has no AVX
#endif
    CHECK(native.simd.rfind(native.expected_simd, 0) == 0);
    CHECK(baseline.simd.rfind(baseline.expected_simd, 0) == 0);
    if (native.expected_simd != baseline.expected_simd) {
        // The machine has AVX: the two TUs are compiled differently, so their names must differ.
        CHECK(native.abi_tag != baseline.abi_tag);
        CHECK(native.simd != baseline.simd);
    }
}

TEST_CASE("a convolution computed by both instruction sets' kernels in one program agrees") {
    const abi_isa_report native = abi_report_native();
    const abi_isa_report baseline = abi_report_baseline();
    REQUIRE(native.conv.size() == baseline.conv.size());
    REQUIRE(native.conv.size() == std::size_t(2 * 8 * 19 * 21));
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < native.conv.size(); ++i) {
        worst = std::fmax(worst, std::fabs(double(native.conv[i]) - double(baseline.conv[i])));
        scale = std::fmax(scale, std::fabs(double(native.conv[i])));
    }
    CHECK(scale > 0.01);                // not all zeros
    CHECK(worst <= 1e-5 * (1 + scale));  // float sums in another order: rounding only
}
