// libFuzzer target for the safetensors reader (include/unetpp/io/safetensors.hpp). Each input is
// parsed from memory as a whole file with io::safetensors_file::parse; bad input must end in a
// std::runtime_error. For a file that parses, every entry and metadata item is read, every
// tensor of rank <= 4 is converted to float and to double, and the file is written again with
// io::safetensors_writer and parsed back: the names, shapes, dtypes, metadata (minus the
// checksum keys, which the writer recomputes) and the bytes of every element must be the same.
// A crash, a sanitizer report, a hang, running out of memory or a failed round trip is a finding.
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DUNETPP_FUZZ=ON -DUNETPP_BUILD_TESTS=ON
//   cmake --build build-fuzz --target fuzz_safetensors fuzz_seeds
//   build-fuzz/tests/fuzz/fuzz_safetensors -dict=tests/fuzz/fuzz_safetensors.dict corpus/ build-fuzz/tests/fuzz/seeds/safetensors
#include <unetpp/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz_safetensors: %s\n", what.c_str());
    std::abort();
}

template <class T>
bool same_bits(const unetpp::tensor<T>& a, const unetpp::tensor<T>& b) {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace unetpp;
    std::optional<io::safetensors_file> parsed;
    try {
        parsed.emplace(io::safetensors_file::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz"));
    } catch (const std::runtime_error&) {
        return 0;  // rejected with a message: the expected outcome for most inputs
    }
    const io::safetensors_file& f = *parsed;

    io::safetensors_writer w;
    for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
    for (const auto& name : f.names()) {
        const auto& e = f.entry(name);
        if (e.name != name || f.shape(name) != e.shape || f.dtype(name) != e.dtype) finding("entry of \"" + name + "\" differs");
        if (e.end - e.begin != e.element_count() * (e.dtype == "F32" ? 4 : 8)) finding("offsets of \"" + name + "\"");
        const tensor<float> as_float = f.get<float>(name);
        const tensor<double> as_double = f.get<double>(name);
        if (as_float.size() != e.element_count() || as_double.size() != e.element_count())
            finding("element count of \"" + name + "\"");
        if (e.dtype == "F32")
            w.add(name, as_float, e.shape);
        else
            w.add(name, as_double, e.shape);
    }

    // Write it again and read it back: everything but the checksum keys must be equal, bit for bit.
    const std::string again = w.serialize();
    std::optional<io::safetensors_file> back;
    try {
        back.emplace(io::safetensors_file::parse(again, "fuzz-roundtrip"));
    } catch (const std::exception& e) {
        finding(std::string("the writer's output of a valid file does not parse: ") + e.what());
    }
    if (back->names() != f.names()) finding("round trip changed the tensor names");
    if (!back->has_checksums()) finding("round trip lost the checksums");
    std::size_t plain = 0;
    for (const auto& [k, v] : f.metadata()) {
        if (io::detail::is_crc_key(k)) continue;
        ++plain;
        const auto it = back->metadata().find(k);
        if (it == back->metadata().end() || it->second != v) finding("round trip changed metadata \"" + k + "\"");
    }
    std::size_t plain_back = 0;
    for (const auto& [k, v] : back->metadata()) plain_back += io::detail::is_crc_key(k) ? 0 : 1;
    if (plain != plain_back) finding("round trip added metadata");
    for (const auto& name : f.names()) {
        if (back->shape(name) != f.shape(name) || back->dtype(name) != f.dtype(name))
            finding("round trip changed the shape or dtype of \"" + name + "\"");
        const bool same = f.dtype(name) == "F32" ? same_bits(back->get<float>(name), f.get<float>(name))
                                                 : same_bits(back->get<double>(name), f.get<double>(name));
        if (!same) finding("round trip changed the values of \"" + name + "\"");
    }
    return 0;
}
