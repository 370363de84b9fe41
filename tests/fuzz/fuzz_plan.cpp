// libFuzzer target for plan.json, the automatic training plan's file (include/unetpp/train/
// plan_json.hpp), which unetpp-train --plan FILE and --auto --resume read as untrusted input.
// Each input is read with train::plan_from_json; bad input must end in a std::runtime_error. A plan
// that reads is written with train::plan_to_json, read back and written again: the two texts must
// be equal. A crash, a sanitizer report, a hang, running out of memory or a failed round trip is
// a finding.
//
//   build-fuzz/tests/fuzz/fuzz_plan -dict=tests/fuzz/fuzz_plan.dict corpus/
#include <unetpp/train/plan.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz_plan: %s\n", what.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    unetpp::train::training_plan plan;
    try {
        plan = unetpp::train::plan_from_json(text, "fuzz");
    } catch (const std::runtime_error&) {
        return 0;
    }
    const std::string once = unetpp::train::plan_to_json(plan);
    std::string twice;
    try {
        twice = unetpp::train::plan_to_json(unetpp::train::plan_from_json(once, "round trip"));
    } catch (const std::runtime_error& e) {
        finding(std::string("a plan that was read could not be read back after writing: ") + e.what());
    }
    if (once != twice) finding("writing, reading and writing a plan changed it");
    return 0;
}
