// Tests for unetpp/data/{dataset,busi,isbi2012,folder}.hpp on tiny image folders written to a
// temporary directory: layouts, mask merging and polarity, caching, and every bad-input error.

#include <doctest/doctest.h>

#include <unetpp/data/busi.hpp>
#include <unetpp/data/folder.hpp>
#include <unetpp/data/isbi2012.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
namespace data = unetpp::data;
namespace io = unetpp::io;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("unetpp_test_readers_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// A w x h gray image with pixel (x, y) = f(x, y).
template <class F>
io::image gray(int w, int h, F f) {
    io::image img(w, h, 1);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at(x, y) = static_cast<std::uint8_t>(f(x, y));
    return img;
}
io::image flat(int w, int h, int v) { return gray(w, h, [v](int, int) { return v; }); }

void write(const fs::path& p, const io::image& img) {
    fs::create_directories(p.parent_path());
    io::write_png(p, img);
}

std::string message_of(auto&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "<no exception>";
}

// BUSI-like tree: benign (1), (2) with two masks, (10); malignant (1); normal (1) with RGB empty mask.
fs::path make_busi(const fs::path& root) {
    const fs::path b = root / "Dataset_BUSI_with_GT";
    write(b / "benign" / "benign (1).png", flat(6, 4, 100));
    write(b / "benign" / "benign (1)_mask.png", gray(6, 4, [](int x, int) { return x < 3 ? 255 : 0; }));
    write(b / "benign" / "benign (2).png", flat(6, 4, 110));
    write(b / "benign" / "benign (2)_mask.png", gray(6, 4, [](int x, int y) { return x == 0 && y == 0 ? 255 : 0; }));
    write(b / "benign" / "benign (2)_mask_1.png", gray(6, 4, [](int x, int y) { return x == 5 && y == 3 ? 255 : 0; }));
    write(b / "benign" / "benign (10).png", flat(6, 4, 120));
    write(b / "benign" / "benign (10)_mask.png", flat(6, 4, 255));
    io::image rgb(5, 5, 3);
    for (auto& p : rgb.pixels) p = 50;
    write(b / "malignant" / "malignant (1).png", rgb);
    write(b / "malignant" / "malignant (1)_mask.png", gray(5, 5, [](int, int y) { return y == 2 ? 255 : 0; }));
    write(b / "normal" / "normal (1).png", flat(4, 4, 30));
    write(b / "normal" / "normal (1)_mask.png", io::image(4, 4, 3));
    return b;
}

}  // namespace

TEST_CASE("busi: classes, natural order, OR-merged masks, empty normal masks") {
    temp_dir t;
    make_busi(t.path);
    const auto ds = data::busi(t.path);  // the parent of Dataset_BUSI_with_GT also works
    REQUIRE(ds.size() == 5);
    CHECK(ds.class_names() == std::vector<std::string>{"benign", "malignant", "normal"});
    CHECK(ds.image_path(0).filename() == "benign (1).png");
    CHECK(ds.image_path(1).filename() == "benign (2).png");
    CHECK(ds.image_path(2).filename() == "benign (10).png");
    CHECK(ds.label(0) == 0);
    CHECK(ds.label(3) == 1);
    CHECK(ds.label(4) == 2);
    CHECK(ds.entries()[1].masks.size() == 2);

    const data::sample s0 = ds.get(0);
    CHECK(s0.image.shape() == unetpp::shape4{1, 1, 4, 6});
    CHECK(s0.mask.shape() == unetpp::shape4{1, 1, 4, 6});
    CHECK(s0.image(0, 0, 1, 1) == doctest::Approx(100.0 / 255));
    CHECK(s0.mask(0, 0, 2, 2) == 1.0f);
    CHECK(s0.mask(0, 0, 2, 3) == 0.0f);
    CHECK(s0.paths.size() == 2);

    const data::sample s1 = ds.get(1);  // two single-pixel masks merged
    float sum = 0;
    for (float v : s1.mask) sum += v;
    CHECK(sum == 2.0f);
    CHECK(s1.mask(0, 0, 0, 0) == 1.0f);
    CHECK(s1.mask(0, 0, 3, 5) == 1.0f);

    const data::sample s3 = ds.get(3);  // RGB image read as gray by default
    CHECK(s3.image.shape() == unetpp::shape4{1, 1, 5, 5});
    const data::sample s4 = ds.get(4);
    for (float v : s4.mask) CHECK(v == 0.0f);

    data::busi_options rgb;
    rgb.reader.channels = 3;
    const auto ds3 = data::busi(t.path / "Dataset_BUSI_with_GT", rgb);
    CHECK(ds3.get(0).image.shape() == unetpp::shape4{1, 3, 4, 6});
    CHECK(ds3.get(3).image.shape() == unetpp::shape4{1, 3, 5, 5});
}

TEST_CASE("busi: missing mask is an error naming the file, or skipped with a warning") {
    temp_dir t;
    const fs::path b = make_busi(t.path);
    write(b / "benign" / "benign (3).png", flat(6, 4, 1));
    const std::string msg = message_of([&] { (void)data::busi(t.path); });
    CHECK(msg.find("benign (3).png") != std::string::npos);
    CHECK(msg.find("no mask") != std::string::npos);

    data::busi_options o;
    o.reader.on_missing_mask = data::missing_mask::skip;
    std::vector<std::string> warnings;
    o.reader.warn = [&](const std::string& w) { warnings.push_back(w); };
    const auto ds = data::busi(t.path, o);
    CHECK(ds.size() == 5);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("benign (3).png") != std::string::npos);
}

TEST_CASE("busi: missing or empty class folder is an error naming the folder") {
    temp_dir t;
    const fs::path b = make_busi(t.path);
    fs::remove_all(b / "normal");
    CHECK(message_of([&] { (void)data::busi(t.path); }).find("normal") != std::string::npos);
    fs::create_directories(b / "normal");
    const std::string msg = message_of([&] { (void)data::busi(t.path); });
    CHECK(msg.find((b / "normal").string()) != std::string::npos);
    CHECK(msg.find("holds no images") != std::string::npos);
    CHECK(message_of([&] { (void)data::busi(t.path / "nowhere"); }).find("does not exist") != std::string::npos);
}

TEST_CASE("mask size mismatch names both files") {
    temp_dir t;
    const fs::path b = make_busi(t.path);
    write(b / "benign" / "benign (10)_mask.png", flat(7, 4, 255));
    const auto ds = data::busi(t.path);  // lazy: construction does not decode
    const std::string msg = message_of([&] { (void)ds.get(2); });
    CHECK(msg.find("benign (10).png") != std::string::npos);
    CHECK(msg.find("benign (10)_mask.png") != std::string::npos);
    CHECK(msg.find("6 x 4") != std::string::npos);
    CHECK(msg.find("7 x 4") != std::string::npos);
    CHECK_THROWS(ds.validate());
}

TEST_CASE("mask values other than 0/255: threshold > 127 by default, error when strict") {
    temp_dir t;
    write(t.path / "img" / "a.png", flat(4, 1, 10));
    write(t.path / "msk" / "a.png", gray(4, 1, [](int x, int) { return std::vector<int>{0, 127, 128, 255}[x]; }));
    const auto ds = data::paired_folders(t.path / "img", t.path / "msk");
    const auto s = ds.get(0);
    CHECK(s.mask[0] == 0.0f);
    CHECK(s.mask[1] == 0.0f);
    CHECK(s.mask[2] == 1.0f);
    CHECK(s.mask[3] == 1.0f);

    data::folder_options o;
    o.reader.mask.strict = true;
    const auto strict = data::paired_folders(t.path / "img", t.path / "msk", o);
    const std::string msg = message_of([&] { (void)strict.get(0); });
    CHECK(msg.find("value 127") != std::string::npos);
    CHECK(msg.find((t.path / "msk" / "a.png").string()) != std::string::npos);
}

TEST_CASE("unreadable image or mask file: the error names it") {
    temp_dir t;
    write(t.path / "img" / "a.png", flat(4, 4, 10));
    write(t.path / "msk" / "a.png", flat(4, 4, 0));
    { std::ofstream(t.path / "img" / "b.png") << "this is not a PNG file"; }
    write(t.path / "msk" / "b.png", flat(4, 4, 0));
    const auto ds = data::paired_folders(t.path / "img", t.path / "msk");
    REQUIRE(ds.size() == 2);
    CHECK_NOTHROW((void)ds.get(0));
    const std::string msg = message_of([&] { (void)ds.get(1); });
    CHECK(msg.find((t.path / "img" / "b.png").string()) != std::string::npos);
    CHECK(ds.source(1).find("b.png") != std::string::npos);
}

TEST_CASE("paired folders: stem matching with a suffix, empty folders, orphans, cache") {
    temp_dir t;
    write(t.path / "img" / "x1.png", flat(3, 3, 10));
    write(t.path / "img" / "x2.png", flat(3, 3, 20));
    write(t.path / "msk" / "x1_seg.png", flat(3, 3, 255));
    write(t.path / "msk" / "x2_seg.png", flat(3, 3, 0));
    write(t.path / "msk" / "x3_seg.png", flat(3, 3, 0));
    data::folder_options o;
    o.mask_suffix = "_seg";
    std::vector<std::string> warnings;
    o.reader.warn = [&](const std::string& w) { warnings.push_back(w); };
    o.reader.cache = true;
    const auto ds = data::paired_folders(t.path / "img", t.path / "msk", o);
    REQUIRE(ds.size() == 2);
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("x3_seg.png") != std::string::npos);
    CHECK(ds.get(0).mask[0] == 1.0f);
    CHECK(ds.get(1).mask[0] == 0.0f);
    // Cached: the samples survive the files being deleted.
    fs::remove_all(t.path / "img");
    CHECK(ds.get(1).image[0] == doctest::Approx(20.0 / 255));

    fs::create_directories(t.path / "empty");
    const std::string msg = message_of([&] { (void)data::paired_folders(t.path / "empty", t.path / "msk"); });
    CHECK(msg.find((t.path / "empty").string()) != std::string::npos);
    CHECK(msg.find("no images") != std::string::npos);

    // Without cache the files are read on every access (streaming).
    write(t.path / "img2" / "x1.png", flat(3, 3, 10));
    o.reader.cache = false;
    const auto lazy = data::paired_folders(t.path / "img2", t.path / "msk", o);
    fs::remove(t.path / "img2" / "x1.png");
    CHECK(message_of([&] { (void)lazy.get(0); }).find("x1.png") != std::string::npos);
}

TEST_CASE("preprocess runs after decoding; groups can be replaced") {
    temp_dir t;
    write(t.path / "img" / "a.png", flat(4, 4, 10));
    write(t.path / "msk" / "a.png", flat(4, 4, 255));
    data::folder_options o;
    o.reader.preprocess = [](data::sample& s) { s.label = 42; };
    auto ds = data::paired_folders(t.path / "img", t.path / "msk", o);
    CHECK(ds.get(0).label == 42);
    CHECK(ds.group(0) == 0);
    ds.set_groups({7});
    CHECK(ds.get(0).group == 7);
    CHECK_THROWS_AS(ds.set_groups({1, 2}), std::invalid_argument);
    CHECK_THROWS_AS((void)ds.get(1), std::out_of_range);
}

TEST_CASE("isbi2012: membranes (label 0) are the foreground by default; option keeps the stored polarity") {
    temp_dir t;
    for (int k : {0, 1, 10, 2}) {
        write(t.path / "images" / (std::to_string(k) + ".png"), flat(8, 8, 100 + k));
        write(t.path / "labels" / (std::to_string(k) + ".png"), gray(8, 8, [](int x, int) { return x == 0 ? 0 : 255; }));
    }
    const auto ds = data::isbi2012(t.path);
    REQUIRE(ds.size() == 4);
    CHECK(ds.image_path(2).filename() == "2.png");
    CHECK(ds.image_path(3).filename() == "10.png");
    const auto s = ds.get(0);
    CHECK(s.mask(0, 0, 3, 0) == 1.0f);  // membrane
    CHECK(s.mask(0, 0, 3, 1) == 0.0f);

    data::isbi_options o;
    o.foreground = data::isbi_foreground::cell_interior;
    const auto s2 = data::isbi2012(t.path, o).get(0);
    CHECK(s2.mask(0, 0, 3, 0) == 0.0f);
    CHECK(s2.mask(0, 0, 3, 1) == 1.0f);

    fs::remove(t.path / "labels" / "10.png");
    CHECK(message_of([&] { (void)data::isbi2012(t.path); }).find("10.png") != std::string::npos);
}
