// The second translation unit of unit_core_abi_mixed_isa, compiled for x86-64-v2 (SSE4.2, no
// AVX) while the rest of the program is compiled for the machine (tests/CMakeLists.txt).
#define ABI_ISA_REPORT_BODY 1
#include "abi_isa_report.hpp"

abi_isa_report abi_report_baseline() { return make_report(); }
