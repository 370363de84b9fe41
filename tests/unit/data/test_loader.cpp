// Tests for unetpp/data/loader.hpp: every sample once per epoch, shuffling per epoch,
// determinism with a seed (augmentation included), drop_last, error propagation, shutdown.

#include <doctest/doctest.h>

#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace data = unetpp::data;
using unetpp::shape4;
using unetpp::tensor;

namespace {

// Sample i: a 4 x 4 image filled with i / 100, mask filled with i % 2; sample `bad` throws.
struct counting_dataset {
    std::size_t n = 23;
    std::size_t bad = static_cast<std::size_t>(-1);
    int odd_size_at = -1;
    mutable std::atomic<int> calls{0};
    std::size_t size() const { return n; }
    data::sample get(std::size_t i) const {
        ++calls;
        if (i == bad) throw std::runtime_error("cannot decode 'broken.png'");
        const int side = static_cast<int>(i) == odd_size_at ? 5 : 4;
        data::sample s;
        s.image = tensor<float>(shape4{1, 1, side, side}, static_cast<float>(i) / 100.0f);
        s.mask = tensor<float>(shape4{1, 1, side, side}, static_cast<float>(i % 2));
        s.label = static_cast<int>(i % 3);
        s.group = static_cast<int>(i);
        return s;
    }
    std::string source(std::size_t i) const { return "'img" + std::to_string(i) + ".png'"; }
};

std::vector<std::size_t> run_epoch(data::loader<counting_dataset>& l, std::uint64_t epoch, std::vector<int>* sizes = nullptr) {
    std::vector<std::size_t> seen;
    l.start_epoch(epoch);
    while (auto b = l.next()) {
        REQUIRE(b->images.shape().n == static_cast<int>(b->indices.size()));
        REQUIRE(b->masks.shape() == shape4{b->images.shape().n, 1, 4, 4});
        for (std::size_t k = 0; k < b->indices.size(); ++k) {
            const std::size_t i = b->indices[k];
            CHECK(b->images(static_cast<int>(k), 0, 2, 2) == doctest::Approx(i / 100.0));
            CHECK(b->masks(static_cast<int>(k), 0, 0, 0) == static_cast<float>(i % 2));
            CHECK(b->labels[k] == static_cast<int>(i % 3));
            seen.push_back(i);
        }
        if (sizes) sizes->push_back(b->images.shape().n);
    }
    return seen;
}

}  // namespace

TEST_CASE("every sample once per epoch; the order changes with the epoch and repeats with the seed") {
    counting_dataset ds;
    data::loader<counting_dataset> l(ds, {.batch_size = 5, .seed = 11});
    CHECK(l.batches_per_epoch() == 5);
    std::vector<int> sizes;
    const auto e0 = run_epoch(l, 0, &sizes);
    CHECK(sizes == std::vector<int>{5, 5, 5, 5, 3});
    auto sorted = e0;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < ds.n; ++i) CHECK(sorted[i] == i);
    CHECK(e0 == l.order(0));
    const auto e1 = run_epoch(l, 1);
    CHECK(e1 != e0);
    data::loader<counting_dataset> again(ds, {.batch_size = 5, .seed = 11});
    CHECK(run_epoch(again, 1) == e1);
    data::loader<counting_dataset> other(ds, {.batch_size = 5, .seed = 12});
    CHECK(run_epoch(other, 1) != e1);
}

TEST_CASE("drop_last, no shuffle and an index subset") {
    counting_dataset ds;
    data::loader<counting_dataset> l(ds, {.batch_size = 4, .shuffle = false, .drop_last = true}, {3, 1, 4, 15, 9, 2, 6});
    CHECK(l.batches_per_epoch() == 1);
    CHECK(run_epoch(l, 0) == std::vector<std::size_t>{3, 1, 4, 15});
    CHECK_THROWS_AS(data::loader<counting_dataset>(ds, {.batch_size = 0}), std::invalid_argument);
    CHECK_THROWS_AS(data::loader<counting_dataset>(ds, {}, {99}), std::out_of_range);
}

TEST_CASE("augmentation in the loader is deterministic per seed and epoch") {
    data::synthetic_dataset ds(12, {.size = 32, .seed = 4});
    data::augment_pipeline aug;
    aug.add(data::aug::hflip(), 0.5).add(data::aug::elastic(), 0.5).add(data::aug::gaussian_noise(0.05), 0.5);
    auto collect = [&](std::uint64_t seed, std::uint64_t epoch) {
        data::loader<data::synthetic_dataset> l(ds, {.batch_size = 5, .seed = seed, .prefetch = 1, .augment = aug});
        l.start_epoch(epoch);
        std::vector<float> all;
        while (auto b = l.next()) all.insert(all.end(), b->images.begin(), b->images.end());
        return all;
    };
    const auto a = collect(3, 2);
    CHECK(a.size() == 12u * 32 * 32);
    CHECK(collect(3, 2) == a);
    CHECK(collect(3, 3) != a);
}

TEST_CASE("a worker error reaches the consumer with the sample's path, after the batches before it") {
    counting_dataset ds;
    ds.bad = 7;
    data::loader<counting_dataset> l(ds, {.batch_size = 2, .shuffle = false});
    l.start_epoch(0);
    int batches = 0;
    std::string msg;
    try {
        while (auto b = l.next()) ++batches;
    } catch (const std::runtime_error& e) {
        msg = e.what();
    }
    CHECK(batches == 3);  // samples 0..5
    CHECK(msg.find("img7.png") != std::string::npos);
    CHECK(msg.find("broken.png") != std::string::npos);
    CHECK(msg.find("sample 7") != std::string::npos);

    counting_dataset odd;
    odd.odd_size_at = 1;
    data::loader<counting_dataset> l2(odd, {.batch_size = 4, .shuffle = false});
    l2.start_epoch(0);
    std::string msg2;
    try {
        while (l2.next()) {}
    } catch (const std::runtime_error& e) {
        msg2 = e.what();
    }
    CHECK(msg2.find("img1.png") != std::string::npos);
    CHECK(msg2.find("resize") != std::string::npos);

    data::loader<counting_dataset> l3(ds);
    CHECK_THROWS_AS((void)l3.next(), std::logic_error);
}

TEST_CASE("the prefetch queue is bounded; abandoning an epoch or destroying the loader stops the worker") {
    counting_dataset ds;
    ds.n = 200;
    {
        data::loader<counting_dataset> l(ds, {.batch_size = 2, .prefetch = 2});
        l.start_epoch(0);
        auto b = l.next();
        REQUIRE(b);
        // Give the worker time to fill the queue; it may hold 2 batches plus one being built.
        for (int i = 0; i < 50 && ds.calls.load() < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(ds.calls.load() <= 2 * (1 + 2 + 1));
        l.start_epoch(1);  // abandons epoch 0
        CHECK(l.next());
    }  // destructor joins a worker blocked on a full queue
    CHECK(ds.calls.load() < 200);
}
