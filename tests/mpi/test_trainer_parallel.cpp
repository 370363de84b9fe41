// The trainer across MPI ranks (`mpirun -np 2 --oversubscribe mpi_trainer_parallel`): batch-norm
// running statistics averaged over the ranks; a run of a batch-norm network on sharded loaders
// with identical weights and history on every rank, files written by rank 0 only, the world
// size recorded, validation equal to one process validating the whole set; a resume from rank 0's
// checkpoint equal to the uninterrupted run.
//
// Every rank runs every collective call whatever its checks find (CHECK, not REQUIRE).
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
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

using with_bn = presets::unet_bn<4, 2>;
using shards = dist::sharded_loader<data::synthetic_dataset>;

template <class Net>
std::vector<float> buffers_of(Net& net) {
    std::vector<float> v;
    net.visit_buffers([&](std::string_view, auto& p) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}

/// A folder every rank names alike (from rank 0's process id); rank 0 creates and removes it.
struct shared_dir {
    fs::path path;
    dist::communicator& comm;
    shared_dir(dist::communicator& c, const std::string& tag) : comm(c) {
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

struct run_data {
    data::synthetic_dataset ds{20, {.size = 16, .seed = 5}};
    std::vector<std::size_t> train_idx{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, val_idx{12, 13, 14, 15, 16, 17, 18};
};

/// One data-parallel run of `epochs` epochs; returns the history.
std::vector<train::epoch_record> fit(with_bn& net, dist::communicator& comm, const run_data& d, int epochs,
                                     const fs::path& out_dir, const fs::path& resume_from = {}, bool overlap = true) {
    optim::adam opt(net, {.lr = 1e-2});
    shards tr(d.ds, {.batch_size = 4, .seed = 9}, d.train_idx, comm);
    shards va(d.ds, {.batch_size = 4, .shuffle = false}, d.val_idx, comm, {.allow_empty_slices = true});
    std::ostringstream out;
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = epochs, .out_dir = out_dir, .resume_from = resume_from, .seed = 9,
                      .progress = train::progress_mode::silent, .out = &out, .extra = {{"model", "unet_bn<4,2>"}},
                      .comm = &comm, .bucket_bytes = 4096, .overlap_exchange = overlap});
    return t.fit(tr, &va).history;
}

/// The history's numbers, to compare across ranks.
std::vector<double> numbers(const std::vector<train::epoch_record>& h) {
    std::vector<double> v;
    for (const auto& r : h) v.insert(v.end(), {r.train_loss, r.val_loss, r.val_dice, r.val_iou, r.val_pixel_error});
    return v;
}

/// True on every rank when every rank's `v` equals rank 0's, bit for bit.
bool same_on_all_ranks(dist::communicator& comm, const std::vector<double>& v) {
    double n = static_cast<double>(v.size());  // lengths first: a broadcast needs equal lengths
    comm.broadcast(std::span<double>(&n, 1), 0);
    std::vector<double> root = v;
    root.resize(static_cast<std::size_t>(n));
    comm.broadcast(std::span<double>(root), 0);
    bool same = root.size() == v.size();
    for (std::size_t i = 0; same && i < v.size(); ++i)
        same = std::memcmp(&root[i], &v[i], sizeof(double)) == 0;
    return !dist::any_rank(comm, !same);
}

}  // namespace

TEST_CASE("average_buffers: every rank ends with the mean of the ranks' batch-norm statistics") {
    dist::mpi_communicator comm;
    with_bn net(3);
    data::synthetic_dataset ds{8, {.size = 16, .seed = 11}};
    shards mine(ds, {.batch_size = 2 * comm.size(), .seed = 2}, {}, comm);
    mine.start_epoch(0);
    const auto b = mine.next();
    CHECK(b);
    net.train(true);
    if (b) (void)net.forward(b->images);  // running statistics of this rank's slice
    const auto own = buffers_of(net);
    std::vector<double> own_d(own.begin(), own.end());
    const auto all = comm.allgather(std::span<const double>(own_d));
    CHECK(all.size() == own.size() * static_cast<std::size_t>(comm.size()));
    CHECK_FALSE(same_on_all_ranks(comm, own_d));  // the slices differ, so did the statistics
    dist::average_buffers(net, comm);
    const auto avg = buffers_of(net);
    double worst = 0;
    for (std::size_t i = 0; i < own.size(); ++i) {
        float sum = 0;
        for (int r = 0; r < comm.size(); ++r) sum += static_cast<float>(all[static_cast<std::size_t>(r) * own.size() + i]);
        const float mean = sum / static_cast<float>(comm.size());
        if (comm.size() == 2) CHECK(avg[i] == mean);  // (a + b) / 2, exactly
        worst = std::max(worst, static_cast<double>(std::abs(avg[i] - mean)));
    }
    CHECK(worst <= 1e-6);
    CHECK(dist::replicas_agree(net, comm));
}

TEST_CASE("trainer across ranks: same weights and history everywhere, rank 0 writes, validation of the whole set") {
    dist::mpi_communicator comm;
    run_data d;
    shared_dir shared(comm, "trainer");
    const fs::path own = shared.path / ("rank" + std::to_string(comm.rank()));
    with_bn net(7);
    const auto h = fit(net, comm, d, 2, own);
    CHECK(h.size() == 2);
    CHECK(dist::replicas_agree(net, comm));
    CHECK(same_on_all_ranks(comm, numbers(h)));
    for (const auto& r : h) {
        CHECK(std::isfinite(r.train_loss));
        CHECK(std::isfinite(r.val_dice));
    }
    // only rank 0 writes checkpoints and logs; the others' folders stay empty
    if (comm.is_root()) {
        CHECK(fs::exists(own / "last.safetensors"));
        CHECK(fs::exists(own / "log.csv"));
        const auto info = train::read_checkpoint_info(own / "last.safetensors");
        CHECK(info.extra.at("world_size") == std::to_string(comm.size()));
    } else {
        CHECK((!fs::exists(own) || fs::is_empty(own)));
    }
    // the gathered validation equals one process validating the whole set with these weights (with
    // a loss that is a mean over pixels: dice_bce's Dice term is one over each batch, so its value
    // depends on how the images are grouped)
    shards va(d.ds, {.batch_size = 4, .shuffle = false}, d.val_idx, comm, {.allow_empty_slices = true});
    optim::adam opt(net, {});
    train::trainer t(net, opt, losses::bce_with_logits{}, {.progress = train::progress_mode::silent, .comm = &comm});
    train::epoch_record mine;
    t.validate(va, mine);
    CHECK(same_on_all_ranks(comm, {mine.val_loss, mine.val_dice, mine.val_iou, mine.val_pixel_error}));
    if (comm.is_root()) {
        data::loader<data::synthetic_dataset> whole(d.ds, {.batch_size = 4, .shuffle = false}, d.val_idx);
        train::trainer alone(net, opt, losses::bce_with_logits{}, {.progress = train::progress_mode::silent});
        train::epoch_record ref;
        alone.validate(whole, ref);
        CHECK(mine.val_loss == doctest::Approx(ref.val_loss).epsilon(1e-6));
        CHECK(mine.val_dice == doctest::Approx(ref.val_dice).epsilon(1e-9));
        CHECK(mine.val_iou == doctest::Approx(ref.val_iou).epsilon(1e-9));
        CHECK(mine.val_pixel_error == doctest::Approx(ref.val_pixel_error).epsilon(1e-9));
    }
}

TEST_CASE("the gradient exchange overlapped with backward trains the same weights, bit for bit, as after it") {
    dist::mpi_communicator comm;
    run_data d;
    with_bn overlapped(7), after(7);
    const auto ho = fit(overlapped, comm, d, 2, {}, {}, true);
    const auto ha = fit(after, comm, d, 2, {}, {}, false);
    CHECK(dist::fingerprint(overlapped) == dist::fingerprint(after));
    CHECK(numbers(ho) == numbers(ha));
    CHECK(dist::replicas_agree(overlapped, comm));
    for (const auto& r : ho) CHECK(r.exchange_seconds > 0);  // measured: the waits after backward
    for (const auto& r : ha) CHECK(r.exchange_seconds > 0);
}

TEST_CASE("resume from rank 0's checkpoint equals the uninterrupted run") {
    dist::mpi_communicator comm;
    run_data d;
    shared_dir shared(comm, "resume");
    with_bn straight(7), resumed(7);
    const auto h_straight = fit(straight, comm, d, 3, shared.path / "straight");
    (void)fit(resumed, comm, d, 1, shared.path / "resumed");
    with_bn fresh(99);  // other initial weights: everything must come from the checkpoint
    const auto h_resumed = fit(fresh, comm, d, 3, shared.path / "resumed", shared.path / "resumed");
    CHECK(dist::fingerprint(fresh) == dist::fingerprint(straight));
    CHECK(dist::replicas_agree(fresh, comm));
    // the epochs this process ran (rank 0's history also holds the ones before the resume, from
    // its log.csv; the other ranks write and read no log)
    CHECK(h_resumed.size() >= 2);
    if (h_resumed.size() >= 2)
        CHECK(same_on_all_ranks(comm, numbers({h_resumed.end() - 2, h_resumed.end()})));
    if (comm.is_root()) {
        CHECK(h_resumed.size() == h_straight.size());
        // the epochs after the resume bit for bit; the one before it as log.csv keeps it (9 digits)
        const auto a = numbers(h_straight), b = numbers(h_resumed);
        CHECK(a.size() == b.size());
        for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            CAPTURE(i);
            if (i < 5)
                CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-8));
            else
                CHECK(std::memcmp(&a[i], &b[i], sizeof(double)) == 0);
        }
    }
}

TEST_CASE("trainer with slices of unequal size: each rank's gradient weighted by its share of the batch") {
    // global batches of 5 (slices of 2 and 3 on 2 ranks), a loss that is a mean over pixels, no
    // batch norm: the run must follow the single-process run on whole batches
    using plain = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 1, .norm = norm_kind::none}>;
    dist::mpi_communicator comm;
    data::synthetic_dataset ds{10, {.size = 16, .seed = 8}};
    const data::loader_options lo{.batch_size = 5, .seed = 4};
    plain net(12), alone(12);
    optim::sgd<> opt(net, {.lr = 0.1}), alone_opt(alone, {.lr = 0.1});
    shards tr(ds, lo, {}, comm);
    train::trainer t(net, opt, losses::bce_with_logits{},
                     {.epochs = 2, .monitor = "train_loss", .seed = 4, .progress = train::progress_mode::silent, .comm = &comm});
    const auto h = t.fit(tr);
    CHECK(dist::replicas_agree(net, comm));
    if (comm.is_root()) {
        data::loader<data::synthetic_dataset> whole(ds, lo);
        train::trainer ref(alone, alone_opt, losses::bce_with_logits{},
                           {.epochs = 2, .monitor = "train_loss", .seed = 4, .progress = train::progress_mode::silent});
        const auto hr = ref.fit(whole);
        double worst = 0;
        net.visit_parameters([&](std::string_view name, auto& p, auto&) {
            alone.visit_parameters([&](std::string_view other, auto& q, auto&) {
                if (name != other) return;
                for (std::size_t i = 0; i < p.size(); ++i)
                    worst = std::max(worst, static_cast<double>(std::abs(p.data()[i] - q.data()[i])));
            });
        });
        MESSAGE("slices of 2 and 3, 4 SGD steps: max |w - w_single_process| " << worst);
        CHECK(worst <= 1e-6);
        CHECK(h.history.back().train_loss == doctest::Approx(hr.history.back().train_loss).epsilon(1e-6));
    }
}

namespace {
/// bce_with_logits, except that on rank `rank` the `k`-th training call returns NaN (or throws).
struct fails_on_one_rank {
    static constexpr const char* name = "fails_on_one_rank";
    int rank = 1;
    bool nan = true;
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    int me = 0;
    template <class T>
    T operator()(const tensor<T>& x, const tensor<T>& t, tensor<T>* g = nullptr) const {
        const T l = losses::bce_with_logits{}(x, t, g);
        if (g && me == rank && ++*calls == 2) {
            if (!nan) throw std::invalid_argument("a bad mask");
            return std::numeric_limits<T>::quiet_NaN();
        }
        return l;
    }
};
}  // namespace

TEST_CASE("a NaN loss or a loss error on one rank stops every rank at the same step") {
    using plain = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 1, .norm = norm_kind::none}>;
    dist::mpi_communicator comm;
    data::synthetic_dataset ds{12, {.size = 16, .seed = 8}};
    for (bool nan : {true, false}) {
        CAPTURE(nan);
        plain net(12);
        optim::sgd opt(net, {.lr = 0.1});
        shards tr(ds, {.batch_size = 4, .seed = 4}, {}, comm);
        const fails_on_one_rank loss{.rank = comm.size() - 1, .nan = nan, .me = comm.rank()};
        train::trainer t(net, opt, loss,
                         {.epochs = 1, .monitor = "train_loss", .seed = 4, .progress = train::progress_mode::silent,
                          .comm = &comm});
        std::string what;
        try {
            (void)t.fit(tr);
        } catch (const std::exception& e) {
            what = e.what();
        }
        CHECK(what.find("step 2 of 3") != std::string::npos);
        const bool mine = comm.rank() == comm.size() - 1;
        if (nan)
            CHECK(what.find(mine ? "is NaN" : "another rank's loss or outputs hold NaN") != std::string::npos);
        else
            CHECK(what.find(mine ? "a bad mask" : "another rank's loss or outputs hold NaN") != std::string::npos);
        CHECK(dist::replicas_agree(net, comm));  // nobody took the step
    }
}

namespace {
/// bce_with_logits that sets `flag` at its k-th training call (on the rank given a flag).
struct stops_after {
    static constexpr const char* name = "bce_with_logits";
    std::atomic<bool>* flag = nullptr;
    int k = 0;
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    template <class T>
    T operator()(const tensor<T>& x, const tensor<T>& t, tensor<T>* g = nullptr) const {
        const T l = losses::bce_with_logits{}(x, t, g);
        if (g && flag && ++*calls == k) flag->store(true);
        return l;
    }
};
}  // namespace

TEST_CASE("a stop requested on one rank: all stop at the same step, rank 0 saves, the resume equals the full run") {
    using plain = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 1, .norm = norm_kind::none}>;
    dist::mpi_communicator comm;
    shared_dir shared(comm, "stop");
    data::synthetic_dataset ds{12, {.size = 16, .seed = 8}};
    const auto run = [&](plain& net, const fs::path& dir, int stop_at, const fs::path& resume) {
        optim::adam opt(net, {.lr = 1e-2});
        shards tr(ds, {.batch_size = 4, .seed = 4}, {}, comm);  // 3 steps per epoch
        std::atomic<bool> flag{false};
        const bool last_rank = comm.rank() == comm.size() - 1;  // only its flag is ever set
        train::trainer t(net, opt, stops_after{.flag = last_rank ? &flag : nullptr, .k = stop_at},
                         {.epochs = 3, .monitor = "train_loss", .out_dir = dir, .resume_from = resume, .seed = 4,
                          .progress = train::progress_mode::silent, .stop_requested = &flag, .comm = &comm});
        return t.fit(tr);
    };
    plain straight(3), cut(3), resumed(50);
    (void)run(straight, shared.path / "straight", 0, {});
    const auto r = run(cut, shared.path / "cut", 5, {});  // the 5th step: epoch 2, step 2
    CHECK(r.interrupted);
    CHECK(r.interrupted_epoch == 2);
    CHECK(r.interrupted_step == 2);
    CHECK(dist::replicas_agree(cut, comm));
    const auto r2 = run(resumed, shared.path / "cut", 0, shared.path / "cut");
    CHECK_FALSE(r2.interrupted);
    CHECK(dist::fingerprint(resumed) == dist::fingerprint(straight));
    CHECK(dist::replicas_agree(resumed, comm));
    if (comm.is_root()) {  // one process cannot resume the run of 2 without saying so
        plain alone(3);
        optim::adam opt(alone, {.lr = 1e-2});
        data::loader<data::synthetic_dataset> tr(ds, {.batch_size = 4, .seed = 4});
        train::trainer t(alone, opt, losses::bce_with_logits{},
                         {.epochs = 4, .monitor = "train_loss", .resume_from = shared.path / "cut", .seed = 4,
                          .progress = train::progress_mode::silent});
        std::string what;
        try {
            (void)t.fit(tr);
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        CHECK(what.find("world_size: checkpoint " + std::to_string(comm.size()) + ", now (not given)") !=
              std::string::npos);
    }
}
