// Data parallel without MPI: dist::world_of_one (every operation the identity, the trainer's
// hook a no-op: bit-identical training), the bucketed gradient exchange against an in-process
// communicator that stands for W identical ranks, shard_batches (disjoint and complete slices)
// and sharded_loader (the same samples as data::loader, refusals of empty slices).
#include <doctest/doctest.h>

#include "../../support/error_of.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>
#include <sstream>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/augment.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/dist/communicator.hpp>
#include <unetpp/dist/gradients.hpp>
#include <unetpp/dist/shard.hpp>
#include <unetpp/dist/validation.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/train.hpp>

using namespace unetpp;

namespace {

using tiny = presets::unet_bn<4, 2>;

template <class Net>
std::vector<float> grads_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { v.insert(v.end(), g.data(), g.data() + g.size()); });
    return v;
}
template <class Net>
std::vector<float> weights_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, auto& p, auto&) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    net.visit_buffers([&](std::string_view, auto& p) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}
/// Fills every gradient with distinct values.
template <class Net>
void fill_grads(Net& net) {
    float k = 0.001f;
    net.visit_parameters([&](std::string_view, auto&, auto& g) {
        for (auto& x : g) {
            k += 0.37f;
            x = k * (static_cast<int>(k) % 2 ? -1.0f : 1.0f);
        }
    });
}

/// W identical ranks in one process: a sum over the ranks is W times the value. Records the
/// length and the first element of every allreduce.
class twin_ranks final : public dist::communicator {
public:
    explicit twin_ranks(int w) : w_(w) {}
    int rank() const noexcept override { return 0; }
    int size() const noexcept override { return w_; }
    void allreduce_sum(std::span<float> v) override {
        calls.push_back(v.size());
        firsts.push_back(v.empty() ? 0.0f : v[0]);
        for (auto& x : v) x *= static_cast<float>(w_);
    }
    void allreduce_sum(std::span<double> v) override {
        for (auto& x : v) x *= w_;
    }
    void broadcast(std::span<float>, int) override {}
    void broadcast(std::span<double>, int) override {}
    void broadcast(std::span<std::byte>, int) override {}
    std::vector<double> allgather(std::span<const double> m) override { return {m.begin(), m.end()}; }
    std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> m) override { return {m.begin(), m.end()}; }
    void barrier() override {}
    std::vector<std::size_t> calls;
    std::vector<float> firsts;

private:
    int w_;
};

}  // namespace

TEST_CASE("world_of_one: rank 0 of 1, every collective leaves the data as it is") {
    dist::world_of_one one;
    CHECK(one.rank() == 0);
    CHECK(one.size() == 1);
    CHECK(one.is_root());
    CHECK_FALSE(one.spans_machines());
    std::vector<float> f{1.5f, -2.0f};
    std::vector<double> d{3.25};
    one.allreduce_sum(std::span<float>(f));
    one.allreduce_sum(std::span<double>(d));
    one.broadcast(std::span<float>(f), 0);
    CHECK(f == std::vector<float>{1.5f, -2.0f});
    CHECK(d == std::vector<double>{3.25});
    const std::vector<std::uint64_t> u{7, 9};
    CHECK(one.allgather(std::span<const std::uint64_t>(u)) == u);
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { one.broadcast(std::span<float>(f), 1); }),
                         "root rank 1 outside 0..0"));
    CHECK(dist::any_rank(one, true));
    CHECK_FALSE(dist::any_rank(one, false));
}

TEST_CASE("allreduce_gradients with world_of_one is a no-op; a local weight scales") {
    tiny net(3);
    fill_grads(net);
    const auto before = grads_of(net);
    dist::world_of_one one;
    dist::allreduce_gradients(net, one);
    dist::allreduce_gradients(net, one, 64);
    CHECK(grads_of(net) == before);
    dist::allreduce_gradients(net, one, 64, 0.5);
    const auto half = grads_of(net);
    for (std::size_t i = 0; i < before.size(); ++i) REQUIRE(half[i] == before[i] * 0.5f);
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { dist::allreduce_gradients(net, one, 2); }),
                         "bucket_bytes 2 holds no gradient element"));
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { dist::allreduce_gradients(net, one, 64, 1.5); }),
                         "local_weight"));
}

TEST_CASE("allreduce_gradients: buckets of bounded size in reverse parameter order, result independent of the size") {
    tiny net(3);
    fill_grads(net);
    const auto g0 = grads_of(net);
    std::vector<float> last;  // the last parameter's gradient
    net.visit_parameters([&](std::string_view, auto&, auto& g) { last.assign(g.data(), g.data() + g.size()); });
    for (std::size_t bytes : {std::size_t{4}, std::size_t{100}, std::size_t{4096}, dist::default_bucket_bytes}) {
        CAPTURE(bytes);
        tiny copy(3);
        fill_grads(copy);
        twin_ranks two(2);
        dist::allreduce_gradients(copy, two, bytes);
        // two identical ranks: (g + g) / 2 == g exactly
        CHECK(grads_of(copy) == g0);
        const std::size_t cap = std::min(bytes / sizeof(float), g0.size());
        std::size_t total = 0;
        for (std::size_t c : two.calls) {
            CHECK(c <= cap);
            CHECK(c > 0);
            total += c;
        }
        CHECK(total == g0.size());
        CHECK(two.calls.size() == (g0.size() + cap - 1) / cap);
        CHECK(two.firsts.front() == last.front());  // the first bucket starts with the last parameter
    }
    // three ranks: the sum is divided by the rank count
    twin_ranks three(3);
    dist::allreduce_gradients(net, three, 1000);
    const auto g3 = grads_of(net);
    for (std::size_t i = 0; i < g0.size(); ++i) REQUIRE(g3[i] == (g0[i] * 3.0f) / 3.0f);
}

TEST_CASE("broadcast_parameters, average_buffers and replicas_agree with one rank change nothing") {
    tiny net(5);
    const auto w = weights_of(net);
    dist::world_of_one one;
    dist::broadcast_parameters(net, one);
    dist::average_buffers(net, one);
    CHECK(weights_of(net) == w);
    CHECK(dist::replicas_agree(net, one));
    tiny other(6);
    CHECK(dist::fingerprint(net) != dist::fingerprint(other));
    CHECK(dist::fingerprint(net) == dist::fingerprint(net));
}

TEST_CASE("trainer with cfg.comm = world_of_one is bit-identical to the trainer without one") {
    data::synthetic_dataset ds{12, {.size = 16, .seed = 5}};
    const std::vector<std::size_t> tr_idx{0, 1, 2, 3, 4, 5, 6, 7}, va_idx{8, 9, 10, 11};
    dist::world_of_one one;
    const auto run = [&](dist::communicator* comm) {
        tiny net(11);
        optim::adam opt(net, {.lr = 1e-2});
        data::loader<data::synthetic_dataset> tr(ds, {.batch_size = 3, .seed = 9}, tr_idx);
        data::loader<data::synthetic_dataset> va(ds, {.batch_size = 4, .shuffle = false}, va_idx);
        std::ostringstream out;
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 2, .seed = 9, .progress = train::progress_mode::silent, .out = &out, .comm = comm});
        const auto res = t.fit(tr, &va);
        return std::pair{weights_of(net), res.history};
    };
    const auto [w0, h0] = run(nullptr);
    const auto [w1, h1] = run(&one);
    CHECK(w0 == w1);
    REQUIRE(h0.size() == h1.size());
    for (std::size_t i = 0; i < h0.size(); ++i) {
        CHECK(h0[i].train_loss == h1[i].train_loss);
        CHECK(h0[i].val_loss == h1[i].val_loss);
        CHECK(h0[i].val_dice == h1[i].val_dice);
    }
}

TEST_CASE("gather_validation with one rank leaves the results as they are") {
    dist::world_of_one one;
    metrics::segmentation_evaluator ev;
    ev.add(metrics::binary_confusion{3, 1, 2, 10});
    std::optional<metrics::multiclass_evaluator> mev;
    double sum = 1.25;
    std::size_t count = 4;
    dist::gather_validation(one, sum, count, ev, mev, -100);
    CHECK(sum == 1.25);
    CHECK(count == 4);
    CHECK(ev.images() == 1);
    CHECK_FALSE(mev);
    const auto t = dist::exchange_step(one, 0.75, 4, false);
    CHECK(t.loss_sum == 0.75 * 4.0);
    CHECK(t.samples == 4.0);
    CHECK_FALSE(t.any_bad);
}

TEST_CASE("shard_batches: the ranks' slices of each global batch are disjoint and complete") {
    std::vector<std::size_t> order(11);
    std::iota(order.begin(), order.end(), std::size_t{100});
    std::reverse(order.begin(), order.end());
    for (int world = 1; world <= 4; ++world)
        for (std::size_t bs = 1; bs <= 6; ++bs)
            for (bool drop : {false, true}) {
                CAPTURE(world);
                CAPTURE(bs);
                CAPTURE(drop);
                const std::size_t nb = drop ? order.size() / bs : (order.size() + bs - 1) / bs;
                std::vector<std::vector<std::vector<std::size_t>>> per_rank;
                for (int r = 0; r < world; ++r) per_rank.push_back(dist::shard_batches(order, bs, drop, r, world));
                for (int r = 0; r < world; ++r) REQUIRE(per_rank[static_cast<std::size_t>(r)].size() == nb);
                for (std::size_t b = 0; b < nb; ++b) {
                    std::vector<std::size_t> joined;
                    std::size_t lo = order.size(), hi = 0;
                    for (int r = 0; r < world; ++r) {
                        const auto& s = per_rank[static_cast<std::size_t>(r)][b];
                        joined.insert(joined.end(), s.begin(), s.end());
                        lo = std::min(lo, s.size());
                        hi = std::max(hi, s.size());
                    }
                    const std::size_t first = b * bs, m = std::min(bs, order.size() - first);
                    // rank order concatenated is the global batch itself: disjoint and complete
                    CHECK(joined == std::vector<std::size_t>(order.begin() + static_cast<std::ptrdiff_t>(first),
                                                             order.begin() + static_cast<std::ptrdiff_t>(first + m)));
                    CHECK(hi - lo <= 1);
                }
            }
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { (void)dist::shard_batches(order, 2, false, 2, 2); }),
                         "rank 2 outside a world of 2"));
}

TEST_CASE("sharded_loader: the ranks' batches together are data::loader's, augmentation included") {
    data::synthetic_dataset ds{10, {.size = 16, .seed = 3}};
    data::augment_pipeline aug;
    aug.add(data::aug::hflip(), 0.5).add(data::aug::gaussian_noise(0.05), 0.5);
    const data::loader_options opt{.batch_size = 4, .seed = 21, .augment = aug};
    data::loader<data::synthetic_dataset> whole(ds, opt);
    dist::sharded_loader<data::synthetic_dataset> r0(ds, opt, {}, 0, 2), r1(ds, opt, {}, 1, 2);
    CHECK(r0.batches_per_epoch() == whole.batches_per_epoch());
    for (std::uint64_t epoch : {0u, 3u}) {
        whole.start_epoch(epoch);
        r0.start_epoch(epoch);
        r1.start_epoch(epoch);
        CHECK(r0.order(epoch) == whole.order(epoch));
        std::size_t batches = 0;
        while (auto w = whole.next()) {
            auto a = r0.next(), b = r1.next();
            REQUIRE(a);
            REQUIRE(b);
            std::vector<std::size_t> idx = a->indices;
            idx.insert(idx.end(), b->indices.begin(), b->indices.end());
            CHECK(idx == w->indices);
            const std::size_t na = a->images.size(), nb = b->images.size();
            REQUIRE(na + nb == w->images.size());
            CHECK(std::memcmp(a->images.data(), w->images.data(), na * sizeof(float)) == 0);
            CHECK(std::memcmp(b->images.data(), w->images.data() + na, nb * sizeof(float)) == 0);
            CHECK(std::memcmp(b->masks.data(), w->masks.data() + a->masks.size(), b->masks.size() * sizeof(float)) == 0);
            ++batches;
        }
        CHECK(batches == whole.batches_per_epoch());
        CHECK_FALSE(r0.next());
        CHECK_FALSE(r1.next());
    }
}

TEST_CASE("sharded_loader refuses global batches that leave a rank without a sample, unless allowed") {
    data::synthetic_dataset ds{5, {.size = 16, .seed = 3}};
    using L = dist::sharded_loader<data::synthetic_dataset>;
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { L l(ds, {.batch_size = 1}, {}, 0, 2); }),
                         "a global batch of 1 samples cannot give each of the 2 ranks a sample"));
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { L l(ds, {.batch_size = 4}, {}, 1, 2); }),
                         "the last global batch (1 of 5 samples)"));
    CHECK(test::error_of<std::invalid_argument>([&] { L l(ds, {.batch_size = 4, .drop_last = true}, {}, 1, 2); }).empty());
    CHECK(test::contains(test::error_of<std::invalid_argument>([&] { L l(ds, {.batch_size = 4}, {}, 2, 2); }),
                         "rank 2 outside a world of 2"));
    // validation: rank 1 gets nothing of the last batch and skips it
    L r0(ds, {.batch_size = 4, .shuffle = false}, {}, 0, 2, {.allow_empty_slices = true});
    L r1(ds, {.batch_size = 4, .shuffle = false}, {}, 1, 2, {.allow_empty_slices = true});
    r0.start_epoch(0);
    r1.start_epoch(0);
    std::vector<std::size_t> seen;
    for (L* l : {&r0, &r1})
        while (auto b = l->next()) seen.insert(seen.end(), b->indices.begin(), b->indices.end());
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::size_t>{0, 1, 2, 3, 4});
    CHECK(test::contains(test::error_of<std::logic_error>([&] {
                             L l(ds, {.batch_size = 4, .drop_last = true}, {}, 0, 2);
                             (void)l.next();
                         }),
                         "call start_epoch(epoch) before next()"));
}
