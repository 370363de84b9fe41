// Data-parallel training over MPI, run as `mpirun -np 2 --oversubscribe mpi_data_parallel`:
// the communicator's operations; 5 steps of SGD and of Adam on a network without batch norm
// whose weights equal, bit for bit with two ranks, those of one process that accumulates the same
// micro-batches (computed on rank 0 with world_of_one), with identical weights on every rank
// after every step; bucketed exchange equal to one allreduce; shards disjoint and complete across
// the processes; batch-norm running statistics averaged; the trainer across ranks (same history
// on every rank, only rank 0 writes, validation equal to the single-process one, resume from
// rank 0's checkpoint equal to an uninterrupted run).
//
// Every rank runs every test case and every collective call, whatever its checks find (CHECK,
// not REQUIRE, around collective code), so a failure cannot leave a rank waiting.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/dist/gradients.hpp>
#include <unetpp/dist/mpi.hpp>
#include <unetpp/dist/shard.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/models/unet.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/train.hpp>

using namespace unetpp;
namespace fs = std::filesystem;

namespace {

using plain = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 1, .norm = norm_kind::none}>;
using with_bn = presets::unet_bn<4, 2>;
using shards = dist::sharded_loader<data::synthetic_dataset>;

template <class Net>
std::vector<float> weights_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, auto& p, auto&) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    net.visit_buffers([&](std::string_view, auto& p) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}
template <class Net>
std::vector<float> grads_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, auto&, auto& g) { v.insert(v.end(), g.data(), g.data() + g.size()); });
    return v;
}
template <class Net>
void set_grads(Net& net, const std::vector<float>& v) {
    std::size_t at = 0;
    net.visit_parameters([&](std::string_view, auto&, auto& g) {
        std::memcpy(g.data(), v.data() + at, g.size() * sizeof(float));
        at += g.size();
    });
}
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    return m;
}

/// zero_grad, forward, loss, backward on one batch: the gradient of its mean loss.
template <class Net>
void gradient_of(Net& net, const data::batch& b) {
    net.zero_grad();
    const auto& logits = net.forward(b.images);
    tensor<float> g;
    (void)losses::bce_with_logits{}(logits, b.masks, &g);
    net.backward(b.images, g);
}

/// A folder every rank names alike (rank 0's process id), removed at the end by rank 0.
struct shared_dir {
    fs::path path;
    dist::communicator& comm;
    explicit shared_dir(dist::communicator& c, const std::string& tag) : comm(c) {
        double pid = static_cast<double>(::getpid());
        comm.broadcast(std::span<double>(&pid, 1), 0);
        path = fs::temp_directory_path() / ("unetpp_mpi_" + tag + "_" + std::to_string(static_cast<long>(pid)));
        if (comm.is_root()) {
            fs::remove_all(path);
            fs::create_directories(path);
        }
        comm.barrier();
    }
    ~shared_dir() {
        comm.barrier();
        std::error_code ec;
        if (comm.is_root()) fs::remove_all(path, ec);
    }
};

/// Five steps of `Opt` on two-sample slices, checked against rank 0's single-process reference.
template <class Opt, class Cfg>
void five_steps_equal_accumulation(const Cfg& cfg, bool sgd) {
    dist::mpi_communicator comm;
    const int world = comm.size();
    data::synthetic_dataset ds{24, {.size = 16, .seed = 7}};
    const data::loader_options lo{.batch_size = 2 * world, .seed = 13};
    plain net(21);
    Opt opt(net, cfg);
    shards mine(ds, lo, {}, comm);
    mine.start_epoch(0);

    // rank 0's references: accumulated micro-batches (world_of_one), the same accumulated in
    // place by backward, and one process on the whole global batch
    dist::world_of_one one;
    plain ref(21), in_place(21), full(21);
    Opt ref_opt(ref, cfg), in_place_opt(in_place, cfg), full_opt(full, cfg);
    std::vector<std::unique_ptr<shards>> all;
    data::loader<data::synthetic_dataset> whole(ds, lo);
    if (comm.is_root()) {
        for (int r = 0; r < world; ++r) all.push_back(std::make_unique<shards>(ds, lo, std::vector<std::size_t>{}, r, world));
        for (auto& s : all) s->start_epoch(0);
        whole.start_epoch(0);
    }
    double in_place_diff = 0, full_diff = 0;
    for (int step = 1; step <= 5; ++step) {
        CAPTURE(step);
        auto b = mine.next();
        CHECK(b);
        if (b) gradient_of(net, *b);
        dist::allreduce_gradients(net, comm, 1000);  // several buckets
        opt.step();
        CHECK(dist::replicas_agree(net, comm));  // identical weights on every rank

        if (!comm.is_root()) continue;
        std::vector<float> acc;
        in_place.zero_grad();
        for (int r = 0; r < world; ++r) {
            const auto mb = all[static_cast<std::size_t>(r)]->next();
            REQUIRE(mb);
            gradient_of(ref, *mb);
            const auto g = grads_of(ref);
            if (r == 0)
                acc = g;
            else
                for (std::size_t i = 0; i < g.size(); ++i) acc[i] += g[i];
            const auto& logits = in_place.forward(mb->images);  // backward adds to the gradients
            tensor<float> d;
            (void)losses::bce_with_logits{}(logits, mb->masks, &d);
            in_place.backward(mb->images, d);
        }
        for (auto& x : acc) x /= static_cast<float>(world);
        set_grads(ref, acc);
        dist::allreduce_gradients(ref, one);  // one process: a no-op
        ref_opt.step();
        auto g = grads_of(in_place);
        for (auto& x : g) x /= static_cast<float>(world);
        set_grads(in_place, g);
        in_place_opt.step();
        const auto wb = whole.next();
        REQUIRE(wb);
        gradient_of(full, *wb);
        full_opt.step();

        const auto w = weights_of(net);
        if (world == 2)
            CHECK(w == weights_of(ref));  // bit-equal: a + b == b + a
        else
            CHECK(max_abs_diff(w, weights_of(ref)) <= 1e-6);
        in_place_diff = std::max(in_place_diff, max_abs_diff(w, weights_of(in_place)));
        full_diff = std::max(full_diff, max_abs_diff(w, weights_of(full)));
    }
    if (comm.is_root()) {
        MESSAGE(std::string(sgd ? "SGD" : "Adam") << ", " << world << " ranks, 5 steps: max |w - w_ref| against backward "
                                       << "accumulating in place " << in_place_diff << ", against the full batch in one "
                                       << "process " << full_diff);
        if (sgd) CHECK(full_diff <= 1e-6);  // the loss (a mean over equal slices) decomposes
    }
}

}  // namespace

TEST_CASE("mpi_communicator: sums, broadcasts, gathers of unequal lengths, barrier") {
    dist::mpi_communicator comm;
    const int w = comm.size(), r = comm.rank();
    CHECK(w >= 2);
    CHECK_FALSE(comm.spans_machines());  // the tests' ranks share one machine
    CHECK(comm.local_rank() == r);        // so each one's index on it is its rank
    std::vector<float> f{static_cast<float>(r + 1), 0.5f};
    comm.allreduce_sum(std::span<float>(f));
    CHECK(f[0] == static_cast<float>(w * (w + 1) / 2));
    CHECK(f[1] == 0.5f * static_cast<float>(w));
    std::vector<double> d{static_cast<double>(r) * 10.0};
    comm.broadcast(std::span<double>(d), w - 1);
    CHECK(d[0] == static_cast<double>(w - 1) * 10.0);
    std::vector<std::byte> bytes(3, std::byte{static_cast<unsigned char>(r)});
    comm.broadcast(std::span<std::byte>(bytes), 0);
    CHECK(bytes[2] == std::byte{0});
    const std::vector<std::uint64_t> mine(static_cast<std::size_t>(r + 1), static_cast<std::uint64_t>(r));
    const auto all = comm.allgather(std::span<const std::uint64_t>(mine));
    std::vector<std::uint64_t> expect;
    for (int k = 0; k < w; ++k) expect.insert(expect.end(), static_cast<std::size_t>(k + 1), static_cast<std::uint64_t>(k));
    CHECK(all == expect);
    CHECK(dist::any_rank(comm, r == w - 1));
    CHECK_FALSE(dist::any_rank(comm, false));
    CHECK(error_of([&] { comm.broadcast(std::span<double>(d), w); }).find("root rank") != std::string::npos);
    comm.barrier();
}

TEST_CASE("mpi_communicator: a non-blocking sum equals the blocking one; several may be in flight") {
    dist::mpi_communicator comm;
    const int r = comm.rank();
    std::vector<float> a(1000), blocking(1000);
    std::vector<double> b{static_cast<double>(r) + 0.25, -1.0};
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = blocking[i] = static_cast<float>(r + 1) * 0.001f * static_cast<float>(i);
    auto first = comm.start_allreduce_sum(std::span<float>(a));
    auto second = comm.start_allreduce_sum(std::span<double>(b));
    (void)first->test();  // may or may not be done; moves it along
    second->wait();
    first->wait();
    CHECK(first->test());
    comm.allreduce_sum(std::span<float>(blocking));
    CHECK(a == blocking);
    const double ranks = comm.size();
    CHECK(b[0] == ranks * (ranks - 1) / 2 + 0.25 * ranks);
    CHECK(b[1] == -ranks);
    {
        std::vector<float> dropped(64, 1.0f);
        auto op = comm.start_allreduce_sum(std::span<float>(dropped));
        op.reset();  // the destructor waits: the buffer may go
        CHECK(dropped[63] == static_cast<float>(comm.size()));
    }
}

TEST_CASE("SGD, 5 steps on 2 ranks: bit-equal to one process accumulating the same micro-batches") {
    five_steps_equal_accumulation<optim::sgd<>>(optim::sgd_options{.lr = 0.05, .momentum = 0.9}, true);
}

TEST_CASE("Adam, 5 steps on 2 ranks: bit-equal to one process accumulating the same micro-batches") {
    five_steps_equal_accumulation<optim::adam<>>(optim::adam_options{.lr = 1e-2}, false);
}

TEST_CASE("bucketed gradient exchange equals one allreduce") {
    dist::mpi_communicator comm;
    plain a(5), b(5);
    data::synthetic_dataset ds{8, {.size = 16, .seed = 3}};
    shards mine(ds, {.batch_size = 2 * comm.size(), .seed = 1}, {}, comm);
    mine.start_epoch(0);
    const auto batch = mine.next();
    CHECK(batch);
    if (batch) {
        gradient_of(a, *batch);
        gradient_of(b, *batch);
    }
    const auto local = grads_of(a);
    dist::allreduce_gradients(a, comm, 64);                          // buckets of 16 floats
    dist::allreduce_gradients(b, comm, local.size() * sizeof(float));  // one bucket: one allreduce
    CHECK(grads_of(a) == grads_of(b));
    CHECK(grads_of(a) != local);  // the ranks' slices differ, so the exchange changed something
    // uneven shares: rank r weighs its gradient by w_r (summing to 1): the weighted sum
    plain c(5);
    if (batch) gradient_of(c, *batch);
    const double share = comm.rank() == 0 ? 0.25 : 0.75 / (comm.size() - 1);
    dist::allreduce_gradients(c, comm, 256, share);
    std::vector<double> mine_w(local.size());
    for (std::size_t i = 0; i < local.size(); ++i) mine_w[i] = static_cast<double>(local[i] * static_cast<float>(share));
    comm.allreduce_sum(std::span<double>(mine_w));
    const auto got = grads_of(c);
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - mine_w[i]));
    CHECK(worst <= 1e-6);
}

TEST_CASE("shards are disjoint and complete across the processes, and the loader delivers them") {
    dist::mpi_communicator comm;
    data::synthetic_dataset ds{13, {.size = 16, .seed = 3}};
    for (int bs : {comm.size(), 5}) {
        CAPTURE(bs);
        const data::loader_options lo{.batch_size = bs, .drop_last = true, .seed = 17};
        shards mine(ds, lo, {}, comm);
        for (std::uint64_t epoch : {0u, 4u}) {
            // per batch: its length, then its indices; gathered in rank order
            std::vector<std::uint64_t> flat;
            mine.start_epoch(epoch);
            for (const auto& slice : mine.slices(epoch)) {
                const auto b = mine.next();
                CHECK(b);
                if (b) CHECK(b->indices == slice);
                flat.push_back(slice.size());
                flat.insert(flat.end(), slice.begin(), slice.end());
            }
            CHECK_FALSE(mine.next());
            const auto all = comm.allgather(std::span<const std::uint64_t>(flat));
            // rebuild every rank's slices, then each global batch from the ranks' slices in order
            std::vector<std::vector<std::vector<std::uint64_t>>> per_rank(static_cast<std::size_t>(comm.size()));
            std::size_t at = 0;
            for (auto& rank_slices : per_rank)
                for (std::size_t b = 0; b < mine.batches_per_epoch(); ++b) {
                    const std::size_t n = all.at(at++);
                    rank_slices.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(at),
                                             all.begin() + static_cast<std::ptrdiff_t>(at + n));
                    at += n;
                }
            CHECK(at == all.size());
            const auto order = mine.order(epoch);
            std::vector<std::uint64_t> seen;
            for (std::size_t b = 0; b < mine.batches_per_epoch(); ++b) {
                std::vector<std::uint64_t> joined;
                for (const auto& rank_slices : per_rank) {
                    CHECK_FALSE(rank_slices[b].empty());
                    joined.insert(joined.end(), rank_slices[b].begin(), rank_slices[b].end());
                }
                const std::size_t first = b * static_cast<std::size_t>(bs);
                CHECK(joined == std::vector<std::uint64_t>(order.begin() + static_cast<std::ptrdiff_t>(first),
                                                           order.begin() + static_cast<std::ptrdiff_t>(first + bs)));
                seen.insert(seen.end(), joined.begin(), joined.end());
            }
            std::sort(seen.begin(), seen.end());
            CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // disjoint
            CHECK(seen.size() == mine.batches_per_epoch() * static_cast<std::size_t>(bs));  // complete
        }
    }
}
