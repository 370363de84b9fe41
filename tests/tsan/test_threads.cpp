// The library's threads under ThreadSanitizer (scripts/test.sh stage `tsan`; built with
// -DUNETPP_SANITIZE=thread -DUNETPP_WITH_OPENMP=OFF so that the uninstrumented OpenMP runtime
// cannot cause false reports). Also a plain unit test in every other build.
//
//   - data::loader: the worker thread decodes and augments ahead of the training loop through a
//     bounded queue; full epochs, an epoch abandoned by start_epoch, destruction in the middle
//     of an epoch and an exception in the worker, with prefetch 1 so the worker blocks often.
//   - paired_dataset::get from several threads at once with reader_options::cache on (DATA.md:
//     "get is thread-safe"): the cache's slots are filled concurrently.
//   - concurrent inference: a model object holds its layers' output buffers, so one object must
//     not run forward on two threads at once; the supported pattern is one copy of the model
//     per thread (the copies share nothing; unet's level buffers and inference_mode are
//     thread_local). Four threads each run their own copy of one model's weights, with and
//     without inference_mode, and must give the single-threaded result bit for bit.
#include <doctest/doctest.h>

#include <unetpp/data.hpp>
#include <unetpp/io/image.hpp>
#include <unetpp/unet.hpp>

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
namespace data = unetpp::data;
using unetpp::shape4;
using unetpp::tensor;

namespace {

constexpr int threads = 4;

// Sample i: 4 x 4, image i / 100, mask i % 2; get(bad) throws.
struct counting_dataset {
    std::size_t n = 17;
    std::size_t bad = static_cast<std::size_t>(-1);
    mutable std::atomic<int> calls{0};
    std::size_t size() const { return n; }
    data::sample get(std::size_t i) const {
        ++calls;
        if (i == bad) throw std::runtime_error("cannot decode sample " + std::to_string(i));
        data::sample s;
        s.image = tensor<float>(shape4{1, 1, 4, 4}, static_cast<float>(i) / 100.0f);
        s.mask = tensor<float>(shape4{1, 1, 4, 4}, static_cast<float>(i % 2));
        s.label = static_cast<int>(i % 3);
        s.group = static_cast<int>(i);
        return s;
    }
};

bool same(const tensor<float>& a, const tensor<float>& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

// A fresh folder under the temp directory, removed (with what this test wrote in it) at the end.
struct temp_dir {
    fs::path path;
    temp_dir() {
        path = fs::temp_directory_path() / ("unetpp_tsan_" + std::to_string(std::random_device{}()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

}  // namespace

TEST_CASE("loader worker thread: full epochs, abandoned epoch, destruction mid-epoch") {
    counting_dataset ds;
    data::augment_pipeline aug;
    aug.add(data::aug::hflip(), 0.5).add(data::aug::gaussian_noise(0.05), 0.5);
    data::loader<counting_dataset> load(ds, {.batch_size = 3, .seed = 5, .prefetch = 1, .augment = aug});
    for (int epoch = 0; epoch < 3; ++epoch) {
        load.start_epoch(epoch);
        std::multiset<std::size_t> seen;
        while (auto b = load.next()) {
            CHECK(b->images.shape().n == static_cast<int>(b->indices.size()));
            seen.insert(b->indices.begin(), b->indices.end());
        }
        CHECK(seen.size() == ds.size());
        CHECK(std::set<std::size_t>(seen.begin(), seen.end()).size() == ds.size());
    }
    // Abandon an epoch after one batch, start the next one at once.
    load.start_epoch(3);
    REQUIRE(load.next().has_value());
    load.start_epoch(4);
    std::size_t count = 0;
    while (auto b = load.next()) count += b->indices.size();
    CHECK(count == ds.size());
    // Destroy a loader whose worker is blocked on a full queue.
    {
        data::loader<counting_dataset> early(ds, {.batch_size = 2, .prefetch = 1});
        early.start_epoch(0);
        REQUIRE(early.next().has_value());
    }
}

TEST_CASE("loader worker thread: an exception in the worker reaches next()") {
    counting_dataset ds;
    ds.bad = 7;
    data::loader<counting_dataset> load(ds, {.batch_size = 2, .shuffle = false, .prefetch = 1});
    load.start_epoch(0);
    std::size_t delivered = 0;
    bool threw = false;
    try {
        while (auto b = load.next()) delivered += b->indices.size();
    } catch (const std::runtime_error& e) {
        threw = true;
        CHECK(std::string(e.what()).find("sample 7") != std::string::npos);
    }
    CHECK(threw);
    CHECK(delivered == 6);  // the batches before the one holding sample 7
}

TEST_CASE("paired_dataset::get with the cache, from several threads at once") {
    temp_dir dir;
    fs::create_directories(dir.path / "images");
    fs::create_directories(dir.path / "masks");
    constexpr int n = 6;
    for (int i = 0; i < n; ++i) {
        tensor<float> img(shape4{1, 1, 8, 8}), mask(shape4{1, 1, 8, 8});
        for (std::size_t k = 0; k < img.size(); ++k) {
            img[k] = static_cast<float>((k * 7 + static_cast<std::size_t>(i) * 13) % 256) / 255.0f;
            mask[k] = static_cast<float>((k + static_cast<std::size_t>(i)) % 3 == 0);
        }
        const std::string name = "s" + std::to_string(i) + ".png";
        unetpp::io::write_png(dir.path / "images" / name, unetpp::io::from_tensor(img));
        unetpp::io::write_png(dir.path / "masks" / name, unetpp::io::from_tensor(mask));
    }
    const auto uncached = data::paired_folders(dir.path / "images", dir.path / "masks");
    const auto cached = data::paired_folders(dir.path / "images", dir.path / "masks", {.reader = {.cache = true}});
    REQUIRE(cached.size() == n);
    std::vector<data::sample> want;
    for (std::size_t i = 0; i < n; ++i) want.push_back(uncached.get(i));

    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int round = 0; round < 3; ++round)
                for (std::size_t k = 0; k < n; ++k) {
                    const std::size_t i = (k + static_cast<std::size_t>(t)) % n;  // threads collide on slots
                    const data::sample s = cached.get(i);
                    if (!same(s.image, want[i].image) || !same(s.mask, want[i].mask)) ++mismatches;
                }
        });
    for (auto& th : pool) th.join();
    CHECK(mismatches == 0);
}

TEST_CASE("concurrent inference: one copy of the model per thread gives the single-threaded result") {
    using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}>;
    net_t net(3);
    net.eval();
    tensor<float> x(shape4{2, 1, 16, 16});
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>((k * 37) % 101) / 101.0f - 0.5f;
    const tensor<float> want = net.forward(x);
    tensor<float> want_fused;
    {
        unetpp::inference_mode guard;
        want_fused = net.forward(x);
    }

    std::vector<net_t> copies(threads, net);  // each thread gets its own copy of the weights
    std::atomic<int> mismatches{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            net_t& mine = copies[static_cast<std::size_t>(t)];
            for (int round = 0; round < 2; ++round) {
                if (!same(mine.forward(x), want)) ++mismatches;
                unetpp::inference_mode guard;
                if (!same(mine.forward(x), want_fused)) ++mismatches;
            }
        });
    for (auto& th : pool) th.join();
    CHECK(mismatches == 0);
}
