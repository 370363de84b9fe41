// libFuzzer target for io::decode_image: every byte string must either decode or throw a
// std::exception; a crash, a sanitizer report, a leak or an allocation above the fuzzer's
// -malloc_limit_mb is a bug. The first byte picks the requested channels (0, 1 or 3), the rest
// is the file. Built by tests/fuzz/CMakeLists.txt; by hand:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I include -I /usr/include/stb \
//       -I /usr/include/eigen3 -DUNETPP_HAS_LIBJPEG=1 tests/fuzz/fuzz_image.cpp -ljpeg -o fuzz_image
//   ./fuzz_image -dict=tests/fuzz/fuzz_image.dict -rss_limit_mb=2048 -timeout=10 corpus/
//
// The limits are smaller than the defaults so that the fuzzer spends its time on parsing, not
// on decoding huge images; the decoded-memory cap is what keeps every input inside them.

#include <unetpp/io/image.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static constexpr int channels[3] = {0, 1, 3};
    const int want = channels[data[0] % 3];
    const std::vector<unsigned char> bytes(data + 1, data + size);
    unetpp::io::image_limits limits;
    limits.max_side = 4096;
    limits.max_pixels = std::uint64_t{1} << 22;
    limits.max_decoded_bytes = std::uint64_t{64} << 20;
    limits.max_jpeg_scans = 100;
    try {
        const unetpp::io::image img = unetpp::io::decode_image(bytes, want, "fuzz", limits);
        // The result must be consistent with what it claims.
        if (img.pixels.size() != static_cast<std::size_t>(img.width) * img.height * img.channels) __builtin_trap();
        if (want != 0 && img.channels != want) __builtin_trap();
    } catch (const std::exception&) {
    }
    return 0;
}
