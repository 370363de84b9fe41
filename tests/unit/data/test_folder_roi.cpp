// Tests for the region-of-interest masks of unetpp/data/folder.hpp and for the mask look-up that
// could take the wrong file: a ROI mask that would be the ground truth, images and masks in one
// folder, one file that is both a mask and a ROI, and two ROI candidates for one image.

#include <doctest/doctest.h>

#include <unetpp/data/folder.hpp>
#include <unetpp/data/transforms.hpp>

#include <atomic>
#include <filesystem>
#include <string>

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
               ("unetpp_test_folder_roi_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write(const fs::path& p, int w, int h, auto f) {
    fs::create_directories(p.parent_path());
    io::image img(w, h, 1);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at(x, y) = static_cast<std::uint8_t>(f(x, y));
    io::write_png(p, img);
}

// images a, b (8 x 6) with masks (left half) and field-of-view masks (top 4 rows) under `root`.
void make(const fs::path& root, const std::string& mask_dir, const std::string& mask_sfx, const std::string& roi_dir,
          const std::string& roi_sfx) {
    for (const char* n : {"a", "b"}) {
        write(root / "images" / (std::string(n) + ".png"), 8, 6, [](int x, int y) { return 10 * x + y; });
        write(root / mask_dir / (n + mask_sfx + ".png"), 8, 6, [](int x, int) { return x < 4 ? 255 : 0; });
        write(root / roi_dir / (n + roi_sfx + ".png"), 8, 6, [](int, int y) { return y < 4 ? 255 : 0; });
    }
}

}  // namespace

TEST_CASE("ROI masks from their own folder are read, named and resized with the sample") {
    temp_dir t;
    make(t.path, "masks", "", "fov", "_fov");
    std::vector<std::string> warnings;
    data::folder_options o{.roi_dir = t.path / "fov", .roi_suffix = "_fov"};
    o.reader.warn = [&](const std::string& w) { warnings.push_back(w); };
    const auto ds = data::paired_folders(t.path / "images", t.path / "masks", o);
    REQUIRE(ds.size() == 2);
    CHECK(ds.entries()[0].roi == t.path / "fov" / "a_fov.png");
    CHECK(contains(ds.source(0), "(ROI '" + (t.path / "fov" / "a_fov.png").string() + "')"));
    data::sample s = ds.get(0);
    REQUIRE(s.roi.shape() == s.mask.shape());
    CHECK(s.roi(0, 0, 3, 7) == 1.0f);
    CHECK(s.roi(0, 0, 4, 0) == 0.0f);
    CHECK(s.mask(0, 0, 4, 0) == 1.0f);
    data::resize(s, 12, 16);
    CHECK(s.roi.shape() == s.mask.shape());
    CHECK(warnings.empty());
    // without ROI options the samples have none
    CHECK(data::paired_folders(t.path / "images", t.path / "masks").get(0).roi.empty());
    // the shared look-up (unetpp-evaluate uses it too)
    const data::roi_lookup look(t.path / "fov", "_fov");
    CHECK(look(t.path / "images" / "b.png") == t.path / "fov" / "b_fov.png");
    CHECK(contains(error_of<std::runtime_error>([&] { (void)look(t.path / "images" / "c.png"); }),
                   "has no region-of-interest mask 'c_fov.png'"));
}

TEST_CASE("ROI masks in the masks folder with their own suffix are not taken for masks") {
    temp_dir t;
    make(t.path, "masks", "_mask", "masks", "_fov");
    std::vector<std::string> warnings;
    data::folder_options o{.mask_suffix = "_mask", .roi_suffix = "_fov"};
    o.reader.warn = [&](const std::string& w) { warnings.push_back(w); };
    const auto ds = data::paired_folders(t.path / "images", t.path / "masks", o);
    CHECK(ds.entries()[1].masks.front().filename() == "b_mask.png");
    CHECK(ds.entries()[1].roi.filename() == "b_fov.png");
    CHECK(warnings.empty());  // the ROI files are not reported as masks without an image
}

TEST_CASE("look-ups that could take the wrong file are refused, naming the files") {
    temp_dir t;
    make(t.path, "masks", "", "masks", "_fov");
    // the ROI would be the mask itself
    CHECK(contains(error_of<std::runtime_error>([&] {
                       (void)data::paired_folders(t.path / "images", t.path / "masks", {.roi_dir = t.path / "masks"});
                   }),
                   "would be the ground-truth masks themselves"));
    // images and masks in one folder without a suffix
    CHECK(contains(error_of<std::runtime_error>([&] { (void)data::paired_folders(t.path / "images", t.path / "images"); }),
                   "every image would be its own mask; give the mask suffix"));
    // one file that is both an image's mask and another image's ROI
    write(t.path / "images" / "a_fov.png", 8, 6, [](int, int) { return 0; });
    CHECK(contains(error_of<std::runtime_error>([&] {
                       (void)data::paired_folders(t.path / "images", t.path / "masks", {.roi_suffix = "_fov"});
                   }),
                   "'" + (t.path / "masks" / "a_fov.png").string() + "' would be the mask of"));
    // two ROI candidates for one image
    write(t.path / "fov" / "a.png", 8, 6, [](int, int) { return 255; });
    write(t.path / "fov" / "a.bmp", 8, 6, [](int, int) { return 255; });
    CHECK(contains(error_of<std::runtime_error>([&] { data::roi_lookup(t.path / "fov", ""); }),
                   "two region-of-interest masks with the stem 'a'"));
}

TEST_CASE("images and masks in one folder: the masks are not taken as images") {
    temp_dir t;
    for (const char* n : {"a", "b"}) {
        write(t.path / "all" / (std::string(n) + ".png"), 8, 6, [](int x, int) { return x; });
        write(t.path / "all" / (std::string(n) + "_mask.png"), 8, 6, [](int x, int) { return x < 4 ? 255 : 0; });
    }
    const auto ds = data::paired_folders(t.path / "all", t.path / "all", {.mask_suffix = "_mask"});
    REQUIRE(ds.size() == 2);
    CHECK(ds.image_path(0).filename() == "a.png");
    CHECK(ds.entries()[1].masks.front().filename() == "b_mask.png");
}
