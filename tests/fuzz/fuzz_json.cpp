// libFuzzer target for the library's JSON reader (include/unetpp/io/json.hpp), which reads the
// safetensors header, the unetpp.config metadata and the programs' run files. Each input is
// parsed with io::json_parse; bad input must end in a std::runtime_error. A document that parses
// is written with io::json_write, parsed back and written again: the two texts must be equal.
// A crash, a sanitizer report, a hang, running out of memory or a failed round trip is a finding.
//
//   build-fuzz/tests/fuzz/fuzz_json -dict=tests/fuzz/fuzz_json.dict corpus/
#include <unetpp/io/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using unetpp::io::json_value;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz_json: %s\n", what.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    json_value doc;
    try {
        doc = unetpp::io::json_parse(text, "fuzz", {.max_depth = 64, .max_values = 100000});
    } catch (const std::runtime_error&) {
        return 0;
    }
    const std::string again = unetpp::io::json_write(doc);
    json_value back;
    try {
        back = unetpp::io::json_parse(again, "round trip", {.max_depth = 64, .max_values = 100000});
    } catch (const std::runtime_error& e) {
        finding(std::string("the written document does not parse: ") + e.what());
    }
    // json_write is injective on trees (numbers keep their text, strings are quoted), so equal
    // texts mean equal trees
    if (unetpp::io::json_write(back) != again) finding("the round trip changed the document: " + again);
    return 0;
}
