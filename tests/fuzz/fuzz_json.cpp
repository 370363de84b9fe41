// libFuzzer target for the library's JSON reader (include/unetpp/io/json.hpp), which reads the
// safetensors header, the unetpp.config metadata and the programs' run files. Each input is
// parsed with io::json_parse; bad input must end in a std::runtime_error. A document that parses
// is written again with io::json_write and parsed back: the
// two trees must be equal. A crash, a sanitizer report, a hang, running out of memory or a failed
// round trip is a finding.
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

bool same(const json_value& a, const json_value& b) {
    if (a.v.index() != b.v.index()) return false;
    if (a.is_bool()) return std::get<bool>(a.v) == std::get<bool>(b.v);
    if (const auto* n = a.number_text_if()) return *n == *b.number_text_if();
    if (const auto* s = a.string_if()) return *s == *b.string_if();
    if (const auto* x = a.array_if()) {
        const auto& y = *b.array_if();
        if (x->size() != y.size()) return false;
        for (std::size_t i = 0; i < x->size(); ++i)
            if (!same((*x)[i], y[i])) return false;
        return true;
    }
    if (const auto* x = a.object_if()) {
        const auto& y = *b.object_if();
        if (x->size() != y.size()) return false;
        for (std::size_t i = 0; i < x->size(); ++i)
            if ((*x)[i].key != y[i].key || !same((*x)[i].value, y[i].value)) return false;
        return true;
    }
    return true;  // null
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
    if (!same(doc, back)) finding("the round trip changed the document: " + again);
    return 0;
}
