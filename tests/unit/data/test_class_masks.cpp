// Tests for label and palette masks read from files by the readers (dataset.hpp, folder.hpp):
// class indices in the sample, the refusals (lossy or rescaled formats, 16-bit PNGs, several mask
// files, inverted masks) with their messages, regions of interest staying binary, and nearest
// resizing keeping class indices.

#include <doctest/doctest.h>

#include <unetpp/data/folder.hpp>
#include <unetpp/data/transforms.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "../../support/error_of.hpp"

namespace fs = std::filesystem;
namespace data = unetpp::data;
namespace io = unetpp::io;
using unetpp::test::contains;
using unetpp::test::error_of;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("unetpp_test_class_masks_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path / "images");
        fs::create_directories(path / "masks");
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// A w x h image of `channels` whose pixel (x, y) channel c is f(x, y, c).
template <class F>
io::image make(int w, int h, int channels, F f) {
    io::image img(w, h, channels);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < channels; ++c) img.at(x, y, c) = static_cast<std::uint8_t>(f(x, y, c));
    return img;
}

// Label of pixel (x, y) in the 6 x 4 test masks: three vertical bands 0, 1, 2.
int band(int x, int) { return x / 2; }

// The paired folder data set of one 6 x 4 gray image "a" and its mask, written with `mask`.
data::paired_dataset one_pair(const temp_dir& d, const io::image& mask, const data::mask_rule& rule,
                              const std::string& mask_name = "a.png") {
    io::write_png(d.path / "images" / "a.png", make(6, 4, 1, [](int x, int y, int) { return 10 * x + y; }));
    io::write_png(d.path / "masks" / mask_name, mask);
    data::folder_options o;
    o.reader.mask = rule;
    return data::paired_folders(d.path / "images", d.path / "masks", o);
}

std::vector<float> mask_values(const data::sample& s) { return {s.mask.begin(), s.mask.end()}; }

std::vector<float> expected_bands() {
    std::vector<float> v;
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 6; ++x) v.push_back(static_cast<float>(band(x, y)));
    return v;
}

// A 16-bit gray PNG of w x h pixels of value v16, written by hand (one stored deflate block),
// since io::write_png writes 8 bits.
void write_gray16_png(const fs::path& p, int w, int h, std::uint16_t v16) {
    auto be32 = [](std::vector<unsigned char>& v, std::uint32_t x) {
        for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<unsigned char>(x >> s));
    };
    auto crc32 = [](const unsigned char* q, std::size_t n) {
        std::uint32_t c = 0xffffffffu;
        for (std::size_t i = 0; i < n; ++i) {
            c ^= q[i];
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        }
        return c ^ 0xffffffffu;
    };
    std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    auto chunk = [&](const char* type, const std::vector<unsigned char>& body) {
        be32(png, static_cast<std::uint32_t>(body.size()));
        const std::size_t start = png.size();
        png.insert(png.end(), type, type + 4);
        png.insert(png.end(), body.begin(), body.end());
        be32(png, crc32(png.data() + start, png.size() - start));
    };
    std::vector<unsigned char> ihdr;
    be32(ihdr, static_cast<std::uint32_t>(w));
    be32(ihdr, static_cast<std::uint32_t>(h));
    ihdr.insert(ihdr.end(), {16, 0, 0, 0, 0});  // 16 bits, gray, deflate, filter 0, no interlace
    chunk("IHDR", ihdr);
    std::vector<unsigned char> raw;
    for (int y = 0; y < h; ++y) {
        raw.push_back(0);  // filter: none
        for (int x = 0; x < w; ++x)
            raw.insert(raw.end(), {static_cast<unsigned char>(v16 >> 8), static_cast<unsigned char>(v16)});
    }
    std::vector<unsigned char> z = {0x78, 0x01, 0x01};  // zlib header; one final stored block
    const auto len = static_cast<std::uint16_t>(raw.size());
    z.insert(z.end(), {static_cast<unsigned char>(len), static_cast<unsigned char>(len >> 8),
                       static_cast<unsigned char>(~len), static_cast<unsigned char>(~len >> 8)});
    z.insert(z.end(), raw.begin(), raw.end());
    std::uint32_t a = 1, b = 0;  // Adler-32
    for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
    be32(z, (b << 16) | a);
    chunk("IDAT", z);
    chunk("IEND", {});
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
}

}  // namespace

TEST_CASE("a label PNG gives class indices; gray, gray + alpha and equal-channel RGB alike") {
    const auto rule = data::mask_rule::labels(3);
    {
        temp_dir d;
        const auto ds = one_pair(d, make(6, 4, 1, [](int x, int y, int) { return band(x, y); }), rule);
        const data::sample s = ds.get(0);
        CHECK(s.mask.shape() == unetpp::shape4{1, 1, 4, 6});
        CHECK(mask_values(s) == expected_bands());
        CHECK(s.image(0, 0, 1, 2) == doctest::Approx(21.0 / 255.0));
    }
    {
        temp_dir d;
        const auto ds = one_pair(d, make(6, 4, 2, [](int x, int y, int c) { return c == 1 ? 200 : band(x, y); }), rule);
        CHECK(mask_values(ds.get(0)) == expected_bands());
    }
    {
        temp_dir d;
        const auto ds = one_pair(d, make(6, 4, 3, [](int x, int y, int) { return band(x, y); }), rule);
        CHECK(mask_values(ds.get(0)) == expected_bands());
    }
    {
        // Nearest resizing keeps exactly the class indices that were there.
        temp_dir d;
        auto ds = one_pair(d, make(6, 4, 1, [](int x, int y, int) { return band(x, y); }), rule);
        data::sample s = ds.get(0);
        data::resize(s, 9, 13);
        std::set<float> seen(s.mask.begin(), s.mask.end());
        CHECK(seen == std::set<float>{0, 1, 2});
    }
}

TEST_CASE("a label above --classes is an error naming the file, the pixel and the --classes to pass") {
    temp_dir d;
    const auto ds = one_pair(d, make(6, 4, 1, [](int x, int y, int) { return x == 4 && y == 2 ? 5 : band(x, y); }),
                             data::mask_rule::labels(3));
    const std::string err = error_of<std::runtime_error>([&] { (void)ds.get(0); });
    CAPTURE(err);
    CHECK(contains(err, "paired_folders: mask '" + (d.path / "masks" / "a.png").string() + "' holds class 5"));
    CHECK(contains(err, "at pixel (4, 2)"));
    CHECK(contains(err, "--classes is 3 (classes 0 to 2); pass --classes 6 or fix the mask"));
    CHECK(contains(error_of<std::runtime_error>([&] { ds.validate(); }), "holds class 5"));
}

TEST_CASE("a palette PNG gives the index of each colour; an unknown colour names file, pixel and palette") {
    const auto rule = data::mask_rule::palette(data::parse_palette("0,0,0;255,0,0;0,255,0"));
    const auto colour = [](int k, int c) { return (k == 1 && c == 0) || (k == 2 && c == 1) ? 255 : 0; };
    {
        temp_dir d;
        const auto ds = one_pair(d, make(6, 4, 3, [&](int x, int y, int c) { return colour(band(x, y), c); }), rule);
        CHECK(mask_values(ds.get(0)) == expected_bands());
    }
    {
        temp_dir d;
        const auto ds =
            one_pair(d, make(6, 4, 4, [&](int x, int y, int c) { return c == 3 ? 255 : colour(band(x, y), c); }), rule);
        CHECK(mask_values(ds.get(0)) == expected_bands());
    }
    temp_dir d;
    const auto ds = one_pair(
        d, make(6, 4, 3, [&](int x, int y, int c) { return x == 1 && y == 3 ? 40 + c : colour(band(x, y), c); }), rule);
    const std::string err = error_of<std::runtime_error>([&] { (void)ds.get(0); });
    CAPTURE(err);
    CHECK(contains(err, "mask '" + (d.path / "masks" / "a.png").string() + "' has colour (40, 41, 42)"));
    CHECK(contains(err, "at pixel (1, 3), which is in no palette entry"));
    CHECK(contains(err, "the palette is 0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 255, 0)"));
}

TEST_CASE("a 16-bit label PNG is refused: the image reader rounds it to 8 bits") {
    temp_dir d;
    io::write_png(d.path / "images" / "a.png", make(5, 3, 1, [](int, int, int) { return 0; }));
    write_gray16_png(d.path / "masks" / "a.png", 5, 3, 2);
    REQUIRE(io::read_image(d.path / "masks" / "a.png", 0).source_bits == 16);
    data::folder_options o;
    o.reader.mask = data::mask_rule::labels(3);
    const auto ds = data::paired_folders(d.path / "images", d.path / "masks", o);
    const std::string err = error_of<std::runtime_error>([&] { (void)ds.get(0); });
    CAPTURE(err);
    CHECK(contains(err, "mask '" + (d.path / "masks" / "a.png").string() + "' is a 16-bit PNG"));
    CHECK(contains(err, "save it as an 8-bit PNG"));
    // The binary rule reads the same file as before (rounded to 8 bits: 2 -> 0, background).
    const auto bin = data::paired_folders(d.path / "images", d.path / "masks");
    CHECK(mask_values(bin.get(0)) == std::vector<float>(15, 0.0f));
}

TEST_CASE("label and palette rules refuse, when the data set is built, what cannot hold class indices") {
    const auto labels = data::mask_rule::labels(4);
    data::reader_options ro;
    ro.mask = labels;
    const auto build = [&](data::entry e) {
        return error_of<std::runtime_error>([&] { (void)data::paired_dataset("test", {std::move(e)}, ro); });
    };
    // No file is opened: the checks run on the names.
    const std::string jpeg = build({"img.png", {"dir/img_mask.JPG"}, -1, -1, false, {}});
    CHECK(contains(jpeg, "test: mask 'dir/img_mask.JPG' of image 'img.png' is a JPEG file"));
    CHECK(contains(jpeg, "save it as PNG"));
    CHECK(contains(build({"v.nii.gz#3", {"m.nii.gz#3"}, -1, -1, false, {}}), "is a DICOM or NIfTI file"));
    CHECK(contains(build({"v.dcm", {"m.dcm"}, -1, -1, false, {}}), "export the label slices as 8-bit PNGs"));
    const std::string several = build({"b (1).png", {"b (1)_mask.png", "b (1)_mask_1.png"}, -1, -1, false, {}});
    CHECK(contains(several, "test: image 'b (1).png' has 2 mask files ('b (1)_mask.png', 'b (1)_mask_1.png')"));
    CHECK(contains(several, "labels masks are read from one file per image: merge them into one mask file"));
    const std::string inverted = build({"i.png", {"l.png"}, -1, -1, true, {}});
    CHECK(contains(inverted, "asks for an inverted mask (invert_mask), which only binary masks have"));
    ro.mask = data::mask_rule::palette({{0, 0, 0}, {9, 9, 9}});
    CHECK(contains(build({"i.png", {"l.png", "k.png"}, -1, -1, false, {}}), "palette masks are read from one file"));
    // The binary rule accepts all of them as before (OR merge, inversion, any format).
    ro.mask = data::mask_rule{};
    CHECK(build({"b.png", {"m1.png", "m2.jpg"}, -1, -1, true, {}}).empty());
    // A hand-built rule that is inconsistent is refused too.
    ro.mask = data::mask_rule{};
    ro.mask.encoding = data::mask_encoding::labels;
    ro.mask.classes = 1;
    CHECK_THROWS_AS((void)data::paired_dataset("test", {data::entry{"a.png", {}, -1, -1, false, {}}}, ro),
                    std::invalid_argument);
}

TEST_CASE("without a mask file the mask is background; a region of interest stays binary under labels") {
    temp_dir d;
    io::write_png(d.path / "images" / "a.png", make(6, 4, 1, [](int, int, int) { return 7; }));
    io::write_png(d.path / "masks" / "a.png", make(6, 4, 1, [](int x, int y, int) { return band(x, y); }));
    io::write_png(d.path / "roi.png", make(6, 4, 1, [](int x, int, int) { return x < 3 ? 255 : 0; }));
    data::reader_options ro;
    ro.mask = data::mask_rule::labels(3);
    const data::paired_dataset ds(
        "test", {{d.path / "images" / "a.png", {}, -1, -1, false, {}},
                 {d.path / "images" / "a.png", {d.path / "masks" / "a.png"}, -1, -1, false, d.path / "roi.png"}},
        ro);
    CHECK(mask_values(ds.get(0)) == std::vector<float>(24, 0.0f));
    const data::sample s = ds.get(1);
    CHECK(mask_values(s) == expected_bands());
    REQUIRE(s.roi.shape() == s.mask.shape());
    for (int x = 0; x < 6; ++x) CHECK(s.roi(0, 0, 2, x) == (x < 3 ? 1.0f : 0.0f));
}
