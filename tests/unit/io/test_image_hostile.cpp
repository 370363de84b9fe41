// Hostile inputs for unetpp/io/image.hpp (issue 14), PNG and BMP: every file that crashed a
// decoder or made it allocate without bound is generated here, in code, and must give a clean
// std::runtime_error: the PNG whose header makes stb allocate 1 GiB, a zlib stream that inflates
// without end, empty IDAT chunks, and corrupt or truncated PNG and BMP files; and the decoded-
// memory allocator itself.

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unetpp/io/image.hpp>

#include "image_test_files.hpp"

namespace fs = std::filesystem;
using namespace image_test;
using unetpp::io::image;

TEST_CASE("the decoded-memory allocator refuses what exceeds its budget and keeps count") {
    namespace da = unetpp::io::detail::decode_alloc;
    {
        da::budget_scope scope(1000);
        void* a = da::allocate(600);
        REQUIRE(a != nullptr);
        CHECK(scope.live() == 600);
        CHECK_FALSE(scope.refused());
        CHECK(da::allocate(500) == nullptr);  // 1100 > 1000
        CHECK(scope.refused());
        CHECK(scope.largest_refused() == 500);
        std::memset(a, 7, 600);
        CHECK(da::reallocate(a, 1200) == nullptr);  // growing above the budget fails...
        CHECK(static_cast<unsigned char*>(a)[599] == 7);  // ...and leaves the block as it was
        void* b = da::reallocate(a, 900);
        REQUIRE(b != nullptr);
        CHECK(static_cast<unsigned char*>(b)[599] == 7);
        CHECK(scope.live() == 900);
        void* c = da::reallocate(b, 100);
        REQUIRE(c != nullptr);
        CHECK(scope.live() == 100);
        CHECK(scope.peak() == 900);
        void* d = da::allocate(900);  // fits again once memory was given back
        CHECK(d != nullptr);
        da::release(c);
        da::release(d);
        CHECK(scope.live() == 0);
    }
    // Outside a scope there is no limit.
    void* big = da::allocate(std::size_t{1} << 20);
    CHECK(big != nullptr);
    da::release(big);
}

TEST_CASE("PNG allocation bomb: a tiny file whose header makes stb allocate 1 GiB is refused") {
    // 16384 x 8192 RGBA at 16 bits passes max_side and max_pixels, and is exactly 1 GiB decoded
    // (not above max_decoded_bytes). stb 2.27 then mallocs its guess of the inflated size,
    // 16384 * 8 * 8192 + 8192 bytes, before it inflates the (tiny) IDAT. The counting allocator
    // must refuse that allocation.
    std::vector<unsigned char> png = png_signature();
    add_chunk(png, "IHDR", ihdr(16384, 8192, 16, 6));
    add_chunk(png, "IDAT", zlib_zeros(300));
    add_chunk(png, "IEND", {});
    CHECK(png.size() < 400);
    const auto msg = decode_error(png);
    CHECK(contains(msg, "hostile"));
    CHECK(contains(msg, "max_decoded_bytes"));
    CHECK(contains(msg, "asked for 1073750016 bytes"));
    // A tighter limit refuses it from the header alone, naming the decoded size.
    image_limits tight;
    tight.max_decoded_bytes = std::uint64_t{256} << 20;
    const auto early = decode_error(png, 0, tight);
    CHECK(contains(early, "16384 x 8192 pixels of 8 bytes"));
    CHECK(contains(early, "1073741824 bytes decoded"));
}

TEST_CASE("zlib bomb: an IDAT that inflates far beyond the header's size is stopped by the budget") {
    // A 1 x 1 gray PNG whose IDAT inflates to 8 MiB of zeros. stb keeps doubling its output
    // buffer and, without a budget, decodes the image happily; with max_decoded_bytes = 2 MiB
    // the doubling is refused.
    std::vector<unsigned char> png = png_signature();
    add_chunk(png, "IHDR", ihdr(1, 1, 8, 0));
    add_chunk(png, "IDAT", zlib_zeros(std::size_t{8} << 20));
    add_chunk(png, "IEND", {});
    image_limits limits;
    limits.max_decoded_bytes = std::uint64_t{2} << 20;
    const auto msg = decode_error(png, 0, limits);
    CHECK(contains(msg, "needs more memory than image_limits::max_decoded_bytes = 2097152"));
    CHECK(contains(msg, "decompression bomb"));
    // The stream itself is valid: with the default budget (1 GiB) the same file decodes.
    const image img = decode_image(png, 0);
    CHECK(img.width == 1);
    CHECK(img.pixels == std::vector<std::uint8_t>{0});
}

TEST_CASE("the decoded size in the header is checked against max_decoded_bytes before decoding") {
    image_limits limits;
    limits.max_decoded_bytes = std::uint64_t{48} << 20;
    // 4096 x 4096 gray 8-bit: 16 MiB stored (stb holds 32 MiB while decoding it), fits...
    std::vector<unsigned char> png = png_signature();
    add_chunk(png, "IHDR", ihdr(4096, 4096, 8, 0));
    add_chunk(png, "IDAT", zlib_zeros(100));
    add_chunk(png, "IEND", {});
    CHECK(contains(decode_error(png, 1, limits), "corrupt or truncated"));  // the IDAT is too short
    // ...but asked for as RGBA the returned image would be 64 MiB.
    const auto rgba = decode_error(png, 4, limits);
    CHECK(contains(rgba, "4096 x 4096 pixels of 4 bytes, 67108864 bytes decoded"));
    CHECK(contains(rgba, "max_decoded_bytes = 50331648"));
    // 16-bit RGB: 6 bytes a pixel stored.
    std::vector<unsigned char> png16 = png_signature();
    add_chunk(png16, "IHDR", ihdr(2048, 2048, 16, 2));
    add_chunk(png16, "IDAT", zlib_zeros(100));
    add_chunk(png16, "IEND", {});
    CHECK_FALSE(contains(decode_error(png16, 0, limits), "2048 x 2048 pixels of 6 bytes, 25165824 bytes decoded"));
    limits.max_decoded_bytes = std::uint64_t{16} << 20;
    CHECK(contains(decode_error(png16, 0, limits), "2048 x 2048 pixels of 6 bytes, 25165824 bytes decoded"));
}

TEST_CASE("corrupt PNGs give clean errors") {
    const image src = noise_image(20, 10, 3, 4);
    const auto good = unetpp::io::encode_png(src);
    REQUIRE(decode_image(good, 0).pixels == src.pixels);
    SUBCASE("no IDAT") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(4, 4, 8, 0));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "corrupt or truncated"));
    }
    SUBCASE("invalid bit depth") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(4, 4, 7, 0));
        add_chunk(png, "IDAT", zlib_zeros(20));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "not a readable PNG, JPEG or BMP"));
    }
    SUBCASE("palette image without a palette") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(4, 4, 8, 3));
        add_chunk(png, "IDAT", zlib_zeros(20));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "hostile"));
    }
    SUBCASE("zero width") {
        std::vector<unsigned char> png = png_signature();
        add_chunk(png, "IHDR", ihdr(0, 4, 8, 0));
        add_chunk(png, "IDAT", zlib_zeros(20));
        add_chunk(png, "IEND", {});
        CHECK(contains(decode_error(png), "hostile"));
    }
    SUBCASE("damaged compressed data") {
        auto bad = good;
        for (std::size_t i = 45; i < bad.size() - 20; i += 3) bad[i] = static_cast<unsigned char>(bad[i] ^ 0xA5);
        CHECK(contains(decode_error(bad), "hostile"));
    }
    SUBCASE("every truncation of a valid PNG") {
        for (std::size_t n = 1; n < good.size() - 12; ++n) {  // the last 12 bytes are IEND
            CAPTURE(n);
            const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            CHECK(decode_error(cut) != "<no exception>");
        }
    }
}

TEST_CASE("empty IDAT chunks are dropped before stb sees them (fuzz finding: memcpy from null)") {
    // Found by tests/fuzz/fuzz_image.cpp under UBSan: when the first IDAT is empty, stb 2.27
    // calls memcpy(nullptr, ..., 0) (stb_image.h:1663, undefined behaviour).
    std::vector<unsigned char> bare = png_signature();
    add_chunk(bare, "IHDR", ihdr(3, 6, 8, 4));
    add_chunk(bare, "IDAT", {});
    const auto msg = decode_error(bare);  // the fuzzer's file: no pixel data at all
    CHECK(contains(msg, "corrupt or truncated"));
    CHECK(unetpp::io::detail::png_without_empty_idat(bare).size() == bare.size() - 12);
    // The second finding: the same with the file cut inside the empty IDAT's CRC.
    auto cut = bare;
    cut.resize(cut.size() - 2);
    CHECK(contains(decode_error(cut), "corrupt or truncated"));
    CHECK(unetpp::io::detail::png_without_empty_idat(cut).size() == cut.size() - 10);

    // An empty IDAT before and between real ones is legal: the image decodes as without them.
    const image src = noise_image(7, 5, 1, 21);
    const auto plain = unetpp::io::encode_png(src);
    std::vector<unsigned char> png(plain.begin(), plain.begin() + 33);  // signature + IHDR
    std::vector<unsigned char> empty_idat;
    add_chunk(empty_idat, "IDAT", {});
    png.insert(png.end(), empty_idat.begin(), empty_idat.end());
    png.insert(png.end(), plain.begin() + 33, plain.end() - 12);  // stb_image_write's IDAT
    png.insert(png.end(), empty_idat.begin(), empty_idat.end());
    png.insert(png.end(), plain.end() - 12, plain.end());  // IEND
    const auto stripped = unetpp::io::detail::png_without_empty_idat(png);
    CHECK(stripped == plain);
    CHECK(decode_image(png, 0).pixels == src.pixels);
    // Files without empty IDATs are not copied.
    CHECK(unetpp::io::detail::png_without_empty_idat(plain).empty());
    CHECK(unetpp::io::detail::png_without_empty_idat({0x42, 0x4d}).empty());
}

namespace {
// A BMP with a BITMAPINFOHEADER: `bpp` bits per pixel, `palette` entries, rows of `fill`.
std::vector<unsigned char> make_bmp(std::int32_t w, std::int32_t h, int bpp, std::uint32_t palette,
                                    std::uint32_t compression = 0) {
    const std::uint64_t rows = static_cast<std::uint64_t>(h < 0 ? -static_cast<std::int64_t>(h) : h);
    const std::uint64_t stride = (static_cast<std::uint64_t>(w < 0 ? 0 : w) * static_cast<std::uint64_t>(bpp) + 31) / 32 * 4;
    const std::uint64_t data = std::min<std::uint64_t>(stride * rows, 4096);
    const std::uint32_t offset = 54 + palette * 4;
    std::vector<unsigned char> v = {'B', 'M'};
    put_le(v, static_cast<std::uint32_t>(offset + data), 4);
    put_le(v, 0, 4);
    put_le(v, offset, 4);
    put_le(v, 40, 4);
    put_le(v, static_cast<std::uint32_t>(w), 4);
    put_le(v, static_cast<std::uint32_t>(h), 4);
    put_le(v, 1, 2);
    put_le(v, static_cast<std::uint32_t>(bpp), 2);
    put_le(v, compression, 4);
    put_le(v, static_cast<std::uint32_t>(data), 4);
    put_le(v, 2835, 4);
    put_le(v, 2835, 4);
    put_le(v, palette, 4);
    put_le(v, 0, 4);
    for (std::uint32_t i = 0; i < palette; ++i) put_le(v, (i & 0xff) * 0x010101u, 4);
    for (std::uint64_t i = 0; i < data; ++i) v.push_back(static_cast<unsigned char>(i * 29));
    return v;
}
}  // namespace

TEST_CASE("corrupt BMPs give clean errors") {
    const auto good = make_bmp(5, 3, 24, 0);
    const image img = decode_image(good, 0);
    CHECK(img.width == 5);
    CHECK(img.height == 3);
    CHECK(img.channels == 3);
    const auto pal = make_bmp(6, 2, 8, 256);
    CHECK(decode_image(pal, 1).width == 6);

    SUBCASE("height INT_MIN (negative means top-down; its absolute value overflows int)") {
        const auto msg = decode_error(make_bmp(4, INT32_MIN, 24, 0));
        CHECK(contains(msg, "2147483648"));
        CHECK(contains(msg, "above the limit"));
    }
    SUBCASE("huge width") {
        CHECK(contains(decode_error(make_bmp(0x7fffffff, 1, 24, 0)), "above the limit"));
    }
    SUBCASE("negative width") {
        CHECK(contains(decode_error(make_bmp(-5, 3, 24, 0)), "hostile"));
    }
    SUBCASE("a valid top-down BMP (negative height) decodes") {
        const auto down = make_bmp(5, -3, 24, 0);
        const image top = decode_image(down, 0);
        CHECK(top.height == 3);
        // Rows are stored in the opposite order to the bottom-up file with the same bytes.
        for (int x = 0; x < 5; ++x)
            for (int c = 0; c < 3; ++c) CHECK(top.at(x, 0, c) == img.at(x, 2, c));
    }
    SUBCASE("top-down image of huge decoded size within max_side") {
        image_limits limits;
        limits.max_decoded_bytes = 1 << 20;
        const auto msg = decode_error(make_bmp(16384, -16384, 32, 0), 0, limits);
        CAPTURE(msg);
        CHECK(contains(msg, "above image_limits::max_decoded_bytes"));
    }
    SUBCASE("palette larger than 256 entries") {
        const auto msg = decode_error(make_bmp(4, 4, 8, 1000));
        CAPTURE(msg);
        CHECK(contains(msg, "cannot decode 'hostile' (invalid)"));
    }
    SUBCASE("palette entries that the offset does not leave room for") {
        auto bad = make_bmp(4, 4, 8, 0);  // no palette, but an 8-bit image needs one
        CHECK(contains(decode_error(bad), "hostile"));
        set_le32(bad, 46, 0xffffffffu);  // biClrUsed = 2^32 - 1
        CHECK(contains(decode_error(bad), "hostile"));
    }
    SUBCASE("RLE compression is refused") {
        const auto msg = decode_error(make_bmp(8, 8, 8, 256, 1));
        CAPTURE(msg);
        CHECK(contains(msg, "is an RLE-compressed BMP"));
        CHECK(contains(decode_error(make_bmp(8, 8, 4, 16, 2)), "RLE-compressed BMP"));
    }
    SUBCASE("fuzz finding: an unknown compression value, 2564 x 8960 pixels in 90 bytes") {
        // Found by tests/fuzz/fuzz_datasets.cpp (a timeout): stb decodes compression 0xffffffff as
        // uncompressed, past the truncation check, which knows BI_RGB and BI_BITFIELDS only.
        const auto bad = make_bmp(2564, 8960, 24, 0, 0xffffffffu);
        const std::vector<unsigned char> cut(bad.begin(), bad.begin() + 90);
        const auto msg = decode_error(cut);
        CAPTURE(msg);
        CHECK(contains(msg, "compression method 4294967295"));
        CHECK(contains(decode_error(make_bmp(4, 4, 24, 0, 4)), "compression method 4"));   // embedded JPEG
        CHECK(contains(decode_error(make_bmp(4, 4, 24, 0, 5)), "compression method 5"));   // embedded PNG
    }
    SUBCASE("invalid bits per pixel") {
        CHECK(contains(decode_error(make_bmp(4, 4, 7, 0)), "hostile"));
        CHECK(contains(decode_error(make_bmp(4, 4, 0, 0)), "hostile"));
    }
    SUBCASE("truncated pixel data (stb would read zeros)") {
        const auto big = make_bmp(40, 30, 24, 0);
        const std::vector<unsigned char> cut(big.begin(), big.end() - 100);
        const auto msg = decode_error(cut);
        CHECK(contains(msg, "BMP 'hostile' is truncated"));
        CHECK(contains(msg, "needs " + std::to_string(big.size())));
    }
    SUBCASE("fuzz finding: pixel offset inside the headers, 1793 x 2306 pixels in 43 bytes") {
        // Found by tests/fuzz/fuzz_image.cpp (a 10 s "slow unit"): the offset 42 makes stb's
        // palette size negative, which it accepts, so it reads no palette, jumps to the end of
        // the file and decodes 4 million pixels from missing bytes and an uninitialised palette.
        auto bad = make_bmp(1793, 2306, 8, 0);
        set_le32(bad, 10, 42);
        bad.resize(43);
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "BMP 'hostile' is truncated"));
        // The same header with all its pixel data is still refused: there is no palette.
        auto full = make_bmp(4, 4, 8, 0);
        set_le32(full, 10, 42);
        CHECK(contains(decode_error(full), "8-bit palette BMP without a palette"));
    }
    SUBCASE("pixel indices beyond the palette (stb would copy uninitialised stack memory)") {
        auto bad = make_bmp(8, 2, 8, 16);  // pixel bytes i * 29: index 29 and up are beyond 16 entries
        const auto msg = decode_error(bad);
        CHECK(contains(msg, "has palette index 29 but only 16 palette entries"));
        // The same palette with indices inside it decodes.
        for (std::size_t i = 54 + 16 * 4; i < bad.size(); ++i) bad[i] = static_cast<unsigned char>(i % 16);
        const image ok = decode_image(bad, 0);
        CHECK(ok.width == 8);
        CHECK(ok.at(0, 0, 0) == ((54 + 16 * 4 + 8) % 16) * 1);  // bottom-up: the first stored row is the last
        // 4-bit and 1-bit: a 1-entry palette holds only index 0.
        auto four = make_bmp(3, 1, 4, 1);
        four[54 + 4] = 0x01;  // second pixel uses index 1
        CHECK(contains(decode_error(four), "has palette index 1 but only 1 palette entries"));
        four[54 + 4] = 0x00;
        four[54 + 5] = 0x0F;  // the 4th nibble is padding (width 3): never looked up
        CHECK(decode_image(four, 0).width == 3);
        auto one = make_bmp(9, 1, 1, 1);
        one[54 + 4] = 0x00;
        one[54 + 5] = 0x40;  // 9th pixel is bit 7 of byte 2: 0; bit 6 is padding
        CHECK(decode_image(one, 0).width == 9);
        one[54 + 5] = 0x80;
        CHECK(contains(decode_error(one), "has palette index 1 but only 1 palette entries"));
    }
    SUBCASE("OS/2 1.x BMPs are refused") {
        auto os2 = make_bmp(4, 4, 24, 0);
        set_le32(os2, 14, 12);
        CHECK(contains(decode_error(os2), "OS/2 1.x BMP"));
    }
    SUBCASE("every truncation of a valid BMP (the last row's padding may be missing)") {
        for (std::size_t n = 1; n + 1 < good.size(); ++n) {
            CAPTURE(n);
            const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
            CHECK(decode_error(cut) != "<no exception>");
        }
    }
}
