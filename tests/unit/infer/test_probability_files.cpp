// Unit tests for unetpp/infer/probability_files.hpp: the .npy bytes follow the NumPy format
// (magic, version 1.0, little-endian header length, a header dict padded to 64 bytes, float32
// little-endian data in C order), and the 16-bit PNG decodes (stb's 16-bit decoder) to
// round(p * 65535) exactly, across several stored deflate blocks. numpy.load reading the files
// is checked by tests/tools/eval_options.cmake.

#include <doctest/doctest.h>

#include <unetpp/infer/probability_files.hpp>
#include <unetpp/io/image.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace unetpp;

TEST_CASE("npy: header, alignment and little-endian float32 data in C order") {
    tensor<float> t(shape4{1, 1, 3, 5});
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i) / 16.0f - 0.25f;
    const auto b = infer::encode_npy(t);
    REQUIRE(b.size() > 10);
    CHECK(b[0] == 0x93);
    CHECK(std::string(b.begin() + 1, b.begin() + 6) == "NUMPY");
    CHECK(b[6] == 1);
    CHECK(b[7] == 0);
    const std::size_t hlen = b[8] | (std::size_t{b[9]} << 8);
    CHECK((10 + hlen) % 64 == 0);
    const std::string header(b.begin() + 10, b.begin() + 10 + static_cast<std::ptrdiff_t>(hlen));
    CHECK(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }", 0) == 0);
    CHECK(header.back() == '\n');
    CHECK(header.find_first_not_of(' ', 60) == header.size() - 1);  // spaces, then the newline
    REQUIRE(b.size() == 10 + hlen + 4 * t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
        std::uint32_t u = 0;
        for (int k = 0; k < 4; ++k) u |= std::uint32_t{b[10 + hlen + 4 * i + static_cast<std::size_t>(k)]} << (8 * k);
        CHECK(std::bit_cast<float>(u) == t[i]);
    }
    // K channels: shape (K, H, W)
    const auto m = infer::encode_npy(tensor<float>(shape4{1, 3, 2, 4}));
    const std::size_t mlen = m[8] | (std::size_t{m[9]} << 8);
    CHECK(std::string(m.begin() + 10, m.begin() + 10 + static_cast<std::ptrdiff_t>(mlen)).find("'shape': (3, 2, 4), }") !=
          std::string::npos);
    CHECK_THROWS_AS((void)infer::encode_npy(tensor<float>(shape4{2, 1, 2, 2})), std::invalid_argument);
}

TEST_CASE("16-bit PNG decodes to round(p * 65535), also across stored deflate blocks") {
    for (const auto& [h, w] : {std::pair{3, 7}, std::pair{200, 190}}) {  // 200 x 381 bytes > one 65535-byte block
        tensor<float> t(shape4{1, 2, h, w});
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>((i * 7919) % 100003) / 100003.0f;
        t[0] = 0.0f, t[1] = 1.0f;
        const auto png = infer::encode_png16(t, 1);
        int dw = 0, dh = 0, dc = 0;
        REQUIRE(detail::stb_api::is_16_bit(png.data(), static_cast<int>(png.size())) == 1);
        const std::unique_ptr<unsigned short, void (*)(void*)> px(
            detail::stb_api::load_16(png.data(), static_cast<int>(png.size()), &dw, &dh, &dc), detail::stb_api::image_free);
        REQUIRE(px != nullptr);
        CHECK(dw == w);
        CHECK(dh == h);
        CHECK(dc == 1);
        const float* plane = t.data() + t.shape().plane();
        bool all_equal = true;
        for (std::size_t i = 0; i < t.shape().plane(); ++i)
            all_equal &= px.get()[i] == static_cast<unsigned short>(std::lround(plane[i] * 65535.0));
        CHECK(all_equal);
        // the library's own reader sees a 16-bit file
        CHECK(io::decode_image(png, 1).source_bits == 16);
    }
    tensor<float> bad(shape4{1, 1, 1, 2});
    bad[1] = 1.5f;
    CHECK_THROWS_AS((void)infer::encode_png16(bad), std::invalid_argument);
    bad[1] = std::nanf("");
    CHECK_THROWS_AS((void)infer::encode_png16(bad), std::invalid_argument);
    CHECK_THROWS_AS((void)infer::encode_png16(bad, 1), std::invalid_argument);
}
