// Trainer, early stopping, checkpoints (round trip, wrong architecture, corrupt file), exact
// resume and the NaN stop, on a tiny U-Net and the built-in synthetic data set.
#include <doctest/doctest.h>

#include "../../support/error_of.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/train.hpp>

using namespace unetpp;
namespace fs = std::filesystem;

namespace {

using tiny = presets::unet_bn<4, 2>;
using other = presets::unet_bn<8, 2>;

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> k{0};
        path = fs::temp_directory_path() / ("unetpp_test_train_" + std::to_string(::getpid()) + "_" + std::to_string(k++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

template <class Net>
std::vector<float> weights_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, tensor<float>& p, tensor<float>&) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    net.visit_buffers([&](std::string_view, tensor<float>& p) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}

/// A loss that behaves like dice_bce but returns NaN at the k-th call with a gradient.
struct nan_at_step {
    const char* name = "nan_at_step";
    long k = 3;
    std::shared_ptr<long> calls = std::make_shared<long>(0);
    template <class T>
    T operator()(const tensor<T>& x, const tensor<T>& t, tensor<T>* g = nullptr) const {
        const T l = losses::dice_bce{}(x, t, g);
        if (g && ++*calls == k) return std::numeric_limits<T>::quiet_NaN();
        return l;
    }
};

struct fixture {
    data::synthetic_dataset ds{12, {.size = 16, .seed = 5}};
    std::vector<std::size_t> train_idx{0, 1, 2, 3, 4, 5, 6, 7}, val_idx{8, 9, 10, 11};
    data::loader<data::synthetic_dataset> train{ds, {.batch_size = 4, .seed = 9}, train_idx};
    data::loader<data::synthetic_dataset> val{ds, {.batch_size = 4, .shuffle = false}, val_idx};
};

}  // namespace

TEST_CASE("early_stopping: patience and min_delta, min and max") {
    train::early_stopping es(optim::metric_mode::min, 2, 0.1);
    CHECK_FALSE(es.update(1.0));   // first value improves
    CHECK_FALSE(es.update(0.95));  // not by more than 0.1: bad 1
    CHECK(es.update(0.92));        // bad 2 -> stop
    train::early_stopping mx(optim::metric_mode::max, 1);
    CHECK_FALSE(mx.update(0.5));
    CHECK_FALSE(mx.update(0.6));
    CHECK(mx.update(0.6));  // equal is not better
    train::early_stopping off;
    for (int i = 0; i < 5; ++i) CHECK_FALSE(off.update(1.0));
}

TEST_CASE("checkpoint: round trip of weights, Adam moments and bookkeeping") {
    temp_dir tmp;
    fixture f;
    tiny net(1);
    optim::adam<float> opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = 1, .monitor = "train_loss", .progress = train::progress_mode::silent});
    t.fit(f.train);  // moments become non-zero
    train::checkpoint_info info{.epoch = 7, .step = 42, .seed = 123, .monitor = "val_dice", .best_metric = 0.5,
                                .best_epoch = 6, .es_best = 0.5, .es_bad_epochs = 1, .schedule_name = "plateau",
                                .schedule_state = {{"lr", 1e-3}, {"best", std::numeric_limits<double>::infinity()}},
                                .extra = {{"note", "hello \"quoted\""}}};
    const fs::path p = tmp.path / "c.safetensors";
    train::save_checkpoint(p, net, opt, info);
    CHECK_FALSE(fs::exists(tmp.path / "c.safetensors.tmp"));

    tiny back(99);
    optim::adam<float> opt2(back, {.lr = 1e-2});
    const auto got = train::load_checkpoint(p, back, opt2);
    CHECK(weights_of(back) == weights_of(net));
    std::vector<float> m1, m2;
    opt.visit_state([&](const std::string&, tensor<float>& x) { m1.insert(m1.end(), x.data(), x.data() + x.size()); });
    opt2.visit_state([&](const std::string&, tensor<float>& x) { m2.insert(m2.end(), x.data(), x.data() + x.size()); });
    CHECK(m1 == m2);
    CHECK(opt2.steps() == opt.steps());
    CHECK(got.epoch == 7);
    CHECK(got.step == 42);
    CHECK(got.seed == 123);
    CHECK(got.monitor == "val_dice");
    CHECK(got.best_epoch == 6);
    CHECK(got.es_bad_epochs == 1);
    CHECK(got.schedule_state.at("best") == std::numeric_limits<double>::infinity());
    CHECK(got.extra.at("note") == "hello \"quoted\"");
    // the file also names its tensors as documented
    const auto file = io::safetensors_file::load(p);
    CHECK(file.contains("optim.m.enc1.conv1.weight"));
    CHECK(file.contains("optim.v.head.bias"));
    CHECK(file.metadata().at("unetpp.optim.name") == "adam");
    CHECK(file.metadata().at("unetpp.checkpoint.format") == "1");

    SUBCASE("another architecture: clear error naming the first mismatch, network unchanged") {
        other o(3);
        optim::adam<float> oo(o);
        const auto before = weights_of(o);
        const std::string m = test::error_of<std::runtime_error>([&] { train::load_checkpoint(p, o, oo); });
        REQUIRE_MESSAGE(!m.empty(), "no std::runtime_error was thrown");
        INFO(m);
        CHECK(m.starts_with("checkpoint '" + p.string() + "': "));
        CHECK(m.find("enc1.conv1.weight") != std::string::npos);
        CHECK(weights_of(o) == before);
        CHECK_THROWS_WITH_AS(train::load_checkpoint_weights(p, o), doctest::Contains("enc1.conv1.weight"),
                             std::runtime_error);
    }
    SUBCASE("another optimiser: clear error") {
        tiny n2(1);
        optim::sgd<float> s(n2, {.lr = 0.1, .momentum = 0.9});
        CHECK_THROWS_WITH_AS(train::load_checkpoint(p, n2, s), doctest::Contains("optimiser 'adam'"), std::runtime_error);
    }
    SUBCASE("truncated and corrupt files: clear errors, nothing crashes") {
        const std::string bytes = read_all(p);
        for (std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(100), bytes.size() / 2, bytes.size() - 1}) {
            train::write_file_atomic(tmp.path / "bad.safetensors", std::string_view(bytes).substr(0, cut));
            tiny n2(1);
            optim::adam<float> o2(n2);
            INFO("cut at " << cut);
            CHECK_THROWS_WITH_AS(train::load_checkpoint(tmp.path / "bad.safetensors", n2, o2),
                                 doctest::Contains("checkpoint '"), std::runtime_error);
        }
        std::string garbage = bytes;
        for (std::size_t i = 8; i < 40 && i < garbage.size(); ++i) garbage[i] = '\x01';
        train::write_file_atomic(tmp.path / "bad.safetensors", garbage);
        tiny n2(1);
        optim::adam<float> o2(n2);
        CHECK_THROWS_AS(train::load_checkpoint(tmp.path / "bad.safetensors", n2, o2), std::runtime_error);
        // a plain weights file is not a checkpoint
        io::save_weights(net, tmp.path / "w.safetensors");
        CHECK_THROWS_WITH_AS(train::load_checkpoint(tmp.path / "w.safetensors", n2, o2),
                             doctest::Contains("unetpp.checkpoint.format"), std::runtime_error);
        CHECK_THROWS_WITH_AS(train::load_checkpoint(tmp.path / "missing.safetensors", n2, o2),
                             doctest::Contains("checkpoint '"), std::runtime_error);
    }
}

TEST_CASE("trainer: logs, best/last checkpoints, and 4 epochs == 2 + resume 2 (bitwise)") {
    temp_dir a, b;
    const optim::cosine_lr_cfg cos{.t_max = 4, .eta_min = 1e-4, .warmup_epochs = 1};
    std::vector<float> straight;
    std::vector<train::epoch_record> hist_a;
    {
        fixture f;
        tiny net(1);
        optim::adam<float> opt(net, {.lr = 1e-2});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 4, .out_dir = a.path, .seed = 9, .progress = train::progress_mode::silent},
                         optim::any_schedule(optim::cosine_lr(1e-2, cos)));
        const auto r = t.fit(f.train, &f.val);
        CHECK(r.epochs_done == 4);
        hist_a = r.history;
        straight = weights_of(net);
    }
    CHECK(fs::exists(a.path / "last.safetensors"));
    CHECK(fs::exists(a.path / "best.safetensors"));
    const std::string csv = read_all(a.path / "log.csv");
    CHECK(csv.starts_with("epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds\n"));
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
    const std::string jsonl = read_all(a.path / "log.jsonl");
    CHECK(std::count(jsonl.begin(), jsonl.end(), '\n') == 4);
    CHECK(jsonl.find("\"val_dice\":") != std::string::npos);
    CHECK(jsonl.find("\"val_pixel_error\":") != std::string::npos);
    for (const auto& rec : hist_a) {
        // Pixel error and Dice come from the same thresholded masks: a perfect Dice needs no error.
        CHECK(rec.val_pixel_error >= 0.0);
        CHECK(rec.val_pixel_error <= 1.0);
        if (rec.val_dice == 1.0) CHECK(rec.val_pixel_error == 0.0);
    }
    CHECK(train::read_checkpoint_info(a.path / "last.safetensors").epoch == 4);

    {
        fixture f;
        tiny net(1);
        optim::adam<float> opt(net, {.lr = 1e-2});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 2, .out_dir = b.path, .seed = 9, .progress = train::progress_mode::silent},
                         optim::any_schedule(optim::cosine_lr(1e-2, cos)));
        t.fit(f.train, &f.val);
    }
    {
        fixture f;
        tiny net(77);  // different init: everything must come from the checkpoint
        optim::adam<float> opt(net, {.lr = 0.5});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 4, .out_dir = b.path, .resume_from = b.path / "last.safetensors", .seed = 9,
                          .progress = train::progress_mode::silent},
                         optim::any_schedule(optim::cosine_lr(1e-2, cos)));
        const auto r = t.fit(f.train, &f.val);
        CHECK(weights_of(net) == straight);
        REQUIRE(r.history.size() == 4);
        for (std::size_t i = 0; i < 4; ++i) {  // rows 1-2 come back from log.csv (9 digits)
            CHECK(r.history[i].train_loss == doctest::Approx(hist_a[i].train_loss).epsilon(1e-8));
            CHECK(r.history[i].val_loss == doctest::Approx(hist_a[i].val_loss).epsilon(1e-8));
            CHECK(r.history[i].lr == doctest::Approx(hist_a[i].lr).epsilon(1e-8));
        }
        CHECK(r.history[3].train_loss == hist_a[3].train_loss);  // computed again: bitwise equal
    }
    SUBCASE("resume with another seed is refused") {
        fixture f;
        tiny net(1);
        optim::adam<float> opt(net);
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 5, .resume_from = b.path / "last.safetensors", .seed = 10,
                          .progress = train::progress_mode::silent},
                         optim::any_schedule(optim::cosine_lr(1e-2, cos)));
        CHECK_THROWS_WITH_AS(t.fit(f.train, &f.val), doctest::Contains("seed 9"), std::runtime_error);
    }
}

TEST_CASE("trainer: early stopping ends the run") {
    fixture f;
    tiny net(1);
    optim::sgd<float> opt(net, {.lr = 0.0});  // nothing changes: the metric never improves
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = 10, .monitor = "val_loss", .patience = 2, .progress = train::progress_mode::silent});
    const auto r = t.fit(f.train, &f.val);
    CHECK(r.stopped_early);
    CHECK(r.epochs_done == 3);
    CHECK(r.best_epoch == 1);
}

TEST_CASE("trainer: NaN loss at step k stops with a clear message and keeps the last checkpoint") {
    temp_dir tmp;
    fixture f;
    tiny net(1);
    optim::adam<float> opt(net, {.lr = 1e-2});
    nan_at_step loss{.k = 3};  // 2 batches per epoch: step 3 is epoch 2, step 1
    std::ostringstream sink;
    train::trainer t(net, opt, loss, {.epochs = 3, .out_dir = tmp.path, .seed = 9, .out = &sink});
    std::string before;
    t.on_epoch_end = [&](const train::epoch_record& r) {
        if (r.epoch == 1) before = read_all(tmp.path / "last.safetensors");
    };
    const std::string m = test::error_of<train::training_diverged>([&] { t.fit(f.train, &f.val); });
    REQUIRE_MESSAGE(!m.empty(), "no train::training_diverged was thrown");
    INFO(m);
    CHECK(m.find("epoch 2, step 1 of 2") != std::string::npos);
    CHECK(m.find("NaN") != std::string::npos);
    CHECK(m.find("last.safetensors' is unchanged (epoch 1)") != std::string::npos);
    CHECK(!before.empty());
    CHECK(read_all(tmp.path / "last.safetensors") == before);
    CHECK(train::read_checkpoint_info(tmp.path / "last.safetensors").epoch == 1);
}

namespace {

// Trains `epochs` epochs of `tiny` into `dir` (resuming when `resume`), returns the result.
train::fit_result run_tiny(const fs::path& dir, int epochs, bool resume, std::map<std::string, std::string> extra = {},
                           std::uint64_t seed = 9, std::ostream* out = nullptr) {
    fixture f;
    tiny net(1);
    optim::adam<float> opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = epochs, .out_dir = dir, .resume_from = resume ? dir / "last.safetensors" : fs::path{},
                      .seed = seed, .progress = out ? train::progress_mode::lines : train::progress_mode::silent,
                      .out = out, .extra = std::move(extra)});
    return t.fit(f.train, &f.val);
}

void flip_last_byte(const fs::path& p) {
    std::string b = read_all(p);
    b.back() = static_cast<char>(b.back() ^ 0x5A);
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST_CASE("trainer keeps the last two checkpoints; resume falls back to the previous one and says so") {
    temp_dir d;
    const fs::path last = d.path / "last.safetensors", prev = d.path / "last.prev.safetensors";
    run_tiny(d.path, 3, false);
    REQUIRE(train::read_checkpoint_info(last).epoch == 3);
    REQUIRE(train::read_checkpoint_info(prev).epoch == 2);
    CHECK(train::previous_checkpoint_path(last) == prev);
    CHECK_FALSE(fs::exists(d.path / "last.safetensors.tmp"));
    CHECK_FALSE(fs::exists(d.path / "last.prev.safetensors.tmp"));
    CHECK(io::safetensors_file::load(last).has_checksums());
    {
        const auto c = train::find_resume_checkpoint(d.path);  // a folder: its last.safetensors
        CHECK(c.path == last);
        CHECK_FALSE(c.fell_back);
    }

    SUBCASE("a damaged byte in last.safetensors: resume from last.prev.safetensors, which is not replaced by it") {
        flip_last_byte(last);
        std::string msg;
        const auto c = train::find_resume_checkpoint(last, &msg);
        CHECK(c.path == prev);
        CHECK(c.fell_back);
        CHECK(c.info.epoch == 2);
        INFO(msg);
        CHECK(msg.find(last.string() + " is corrupt (") != std::string::npos);
        CHECK(msg.find("fails its checksum") != std::string::npos);
        CHECK(msg.find("resuming from " + prev.string() + ", epoch 2") != std::string::npos);

        std::ostringstream said;
        const auto r = run_tiny(d.path, 3, true, {}, 9, &said);
        CHECK(r.resumed_from == prev);
        CHECK(r.resume_message == msg);
        CHECK(said.str().find(msg) != std::string::npos);
        REQUIRE(r.history.size() == 3);  // rows 1-2 kept from log.csv, 3 trained again
        CHECK(r.epochs_done == 3);
        CHECK(train::read_checkpoint_info(last).epoch == 3);
        // the damaged file was replaced, not kept: the good epoch-2 checkpoint stays as the previous one
        CHECK(train::read_checkpoint_info(prev).epoch == 2);
        run_tiny(d.path, 5, true);
        CHECK(train::read_checkpoint_info(last).epoch == 5);
        CHECK(train::read_checkpoint_info(prev).epoch == 4);
    }
    SUBCASE("a truncated last.safetensors: fall back, naming the problem") {
        const std::string b = read_all(last);
        std::ofstream(last, std::ios::binary | std::ios::trunc).write(b.data(), static_cast<std::streamsize>(b.size() / 2));
        std::string msg;
        const auto c = train::find_resume_checkpoint(last, &msg);
        CHECK(c.path == prev);
        INFO(msg);
        CHECK(msg.find(last.string() + " cannot be loaded (") != std::string::npos);
        CHECK(msg.find("truncated") != std::string::npos);
    }
    SUBCASE("a missing last.safetensors: fall back to last.prev.safetensors") {
        fs::remove(last);
        std::string msg;
        CHECK(train::find_resume_checkpoint(d.path, &msg).path == prev);
        CHECK(msg.find("does not exist") != std::string::npos);
    }
    SUBCASE("both damaged: a clear error naming both") {
        flip_last_byte(last);
        flip_last_byte(prev);
        const std::string m = test::error_of<std::runtime_error>([&] { (void)train::find_resume_checkpoint(last); });
        REQUIRE_MESSAGE(!m.empty(), "no std::runtime_error was thrown");
        INFO(m);
        CHECK(m.find("no checkpoint to resume from") != std::string::npos);
        CHECK(m.find(last.string() + " is corrupt") != std::string::npos);
        CHECK(m.find(prev.string() + " is corrupt") != std::string::npos);
        CHECK_THROWS_WITH_AS(run_tiny(d.path, 4, true), doctest::Contains("no checkpoint to resume from"),
                             std::runtime_error);
    }
    SUBCASE("a user's files named like temporary files are left alone") {
        std::ofstream(d.path / "last.safetensors.tmp") << "user";
        std::ofstream(d.path / "last.prev.safetensors.tmp") << "user";
        run_tiny(d.path, 4, true);
        CHECK(train::read_checkpoint_info(last).epoch == 4);
        CHECK(train::read_checkpoint_info(prev).epoch == 3);
        CHECK(read_all(d.path / "last.safetensors.tmp") == "user");
        CHECK(read_all(d.path / "last.prev.safetensors.tmp") == "user");
    }
}

TEST_CASE("resume refuses a different run, listing every difference; resume_may_change allows some") {
    temp_dir d;
    const std::map<std::string, std::string> first{{"lr", "0.01"}, {"size", "16"}, {"epochs", "2"}, {"model", "tiny"}};
    run_tiny(d.path, 2, false, first);
    CHECK(train::read_checkpoint_info(d.path / "last.safetensors").extra == first);

    SUBCASE("changed options, a new option and another seed: one message with all of them; nothing modified") {
        fixture f;
        tiny net(5);
        const auto before = weights_of(net);
        optim::adam<float> opt(net, {.lr = 1e-2});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 4, .out_dir = d.path, .resume_from = d.path / "last.safetensors", .seed = 10,
                          .progress = train::progress_mode::silent,
                          .extra = {{"lr", "0.001"}, {"size", "32"}, {"epochs", "4"}, {"model", "tiny"}, {"loss", "dice"}}});
        const std::string m = test::error_of<std::runtime_error>([&] { t.fit(f.train, &f.val); });
        REQUIRE_MESSAGE(!m.empty(), "no std::runtime_error was thrown");
        INFO(m);
        CHECK(m.find("cannot resume") != std::string::npos);
        CHECK(m.find("seed 9") != std::string::npos);
        CHECK(m.find("lr: checkpoint 0.01, now 0.001") != std::string::npos);
        CHECK(m.find("size: checkpoint 16, now 32") != std::string::npos);
        CHECK(m.find("loss: checkpoint (not recorded), now dice") != std::string::npos);
        CHECK(m.find("epochs") == std::string::npos);  // may change by default
        CHECK(m.find("model") == std::string::npos);   // equal
        CHECK(m.find("another output folder") != std::string::npos);
        CHECK(weights_of(net) == before);
        CHECK(train::read_checkpoint_info(d.path / "last.safetensors").epoch == 2);
    }
    SUBCASE("an option missing now is a difference too") {
        CHECK_THROWS_WITH_AS(run_tiny(d.path, 3, true, {{"lr", "0.01"}, {"size", "16"}, {"epochs", "3"}}),
                             doctest::Contains("model: checkpoint tiny, now (not given)"), std::runtime_error);
    }
    SUBCASE("only keys in resume_may_change differ: the resume proceeds and records the new values") {
        fixture f;
        tiny net(1);
        optim::adam<float> opt(net, {.lr = 1e-2});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 3, .out_dir = d.path, .resume_from = d.path / "last.safetensors", .seed = 9,
                          .progress = train::progress_mode::silent,
                          .extra = {{"lr", "0.01"}, {"size", "16"}, {"epochs", "3"}, {"model", "tiny"}, {"quiet", "1"}},
                          .resume_may_change = {"epochs", "quiet"}});
        const auto r = t.fit(f.train, &f.val);
        CHECK(r.epochs_done == 3);
        const auto info = train::read_checkpoint_info(d.path / "last.safetensors");
        CHECK(info.extra.at("epochs") == "3");
        CHECK(info.extra.at("quiet") == "1");
    }
}

TEST_CASE("NaN stop says truthfully that no checkpoint exists") {
    SUBCASE("diverging in the first epoch, with an output folder: none written yet") {
        temp_dir tmp;
        fixture f;
        tiny net(1);
        optim::adam<float> opt(net, {.lr = 1e-2});
        nan_at_step loss{.k = 1};
        train::trainer t(net, opt, loss, {.epochs = 3, .out_dir = tmp.path, .seed = 9, .progress = train::progress_mode::silent});
        CHECK_THROWS_WITH_AS(t.fit(f.train, &f.val), doctest::Contains("no checkpoint exists yet"), train::training_diverged);
        CHECK_FALSE(fs::exists(tmp.path / "last.safetensors"));
    }
    SUBCASE("without an output folder: none is kept") {
        fixture f;
        tiny net(1);
        optim::adam<float> opt(net, {.lr = 1e-2});
        nan_at_step loss{.k = 3};  // epoch 2: epoch 1 completed but nothing was written
        train::trainer t(net, opt, loss, {.epochs = 3, .seed = 9, .progress = train::progress_mode::silent});
        const std::string m = test::error_of<train::training_diverged>([&] { t.fit(f.train, &f.val); });
        REQUIRE_MESSAGE(!m.empty(), "no train::training_diverged was thrown");
        INFO(m);
        CHECK(m.find("no checkpoint exists (no output folder") != std::string::npos);
        CHECK(m.find("last good checkpoint") == std::string::npos);
    }
}

// --- Interrupting (cfg.stop_requested) and resuming mid-epoch (issue 20, item 11) ---

namespace {

using mid_net = presets::unet_bn<8, 3>;

/// A train loader that sets `flag` once it has handed out batch `stop_batch` (1-based) of epoch
/// `stop_epoch` (0-based), as a Ctrl-C during that step would.
struct stopping_loader {
    data::loader<data::synthetic_dataset>& inner;
    std::atomic<bool>* flag = nullptr;
    std::uint64_t stop_epoch = 0;
    std::size_t stop_batch = 0;  ///< 0: never
    std::uint64_t epoch = 0;
    std::size_t handed = 0;
    void start_epoch(std::uint64_t e) {
        epoch = e;
        handed = 0;
        inner.start_epoch(e);
    }
    std::optional<data::batch> next() {
        auto b = inner.next();
        if (b && ++handed == stop_batch && epoch == stop_epoch && flag) flag->store(true);
        return b;
    }
    [[nodiscard]] std::size_t batches_per_epoch() const { return inner.batches_per_epoch(); }
};

struct mid_state {
    train::fit_result result;
    std::vector<float> weights;  ///< parameters and batch-norm running statistics
    std::vector<float> moments;  ///< Adam's m and v
    long opt_steps = 0;
};

/// 3 epochs (or `epochs`) of unet_bn<8,3> on 32x32 synthetic images, batch 2, augmentation on,
/// a step schedule and early stopping; interrupted after batch `stop_batch` of epoch `stop_epoch`
/// (0: not interrupted) or, with `stop_after_epoch` > 0, from the end-of-epoch callback.
mid_state run_mid(const fs::path& dir, bool resume, std::uint64_t stop_epoch = 0, std::size_t stop_batch = 0,
                  int stop_after_epoch = 0, int epochs = 3) {
    data::synthetic_dataset ds{14, {.size = 32, .seed = 5}};
    data::augment_pipeline aug;
    aug.add(data::aug::hflip(), 0.5).add(data::aug::vflip(), 0.5).add(data::aug::rotate(15.0), 0.5);
    std::vector<std::size_t> tr_idx{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, va_idx{10, 11, 12, 13};
    data::loader<data::synthetic_dataset> tr{ds, {.batch_size = 2, .seed = 9, .augment = aug}, tr_idx};
    data::loader<data::synthetic_dataset> va{ds, {.batch_size = 2, .shuffle = false}, va_idx};
    std::atomic<bool> flag{false};
    stopping_loader st{tr, &flag, stop_epoch, stop_batch};
    mid_net net(resume ? 1234 : 1);  // a resume must take everything from the checkpoint
    optim::adam<float> opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = epochs, .patience = 2, .min_delta = 0.05, .out_dir = dir,
                      .resume_from = resume ? dir / "last.safetensors" : fs::path{}, .seed = 9,
                      .progress = train::progress_mode::silent, .extra = {{"model", "unet_bn<8,3>"}},
                      .stop_requested = &flag},
                     optim::any_schedule(optim::step_lr(1e-2, {.step_size = 1, .gamma = 0.5})));
    if (stop_after_epoch > 0)
        t.on_epoch_end = [&](const train::epoch_record& r) {
            if (r.epoch == stop_after_epoch) flag.store(true);
        };
    mid_state s;
    s.result = t.fit(st, &va);
    s.weights = weights_of(net);
    opt.visit_state([&](const std::string&, tensor<float>& x) { s.moments.insert(s.moments.end(), x.data(), x.data() + x.size()); });
    s.opt_steps = opt.steps();
    return s;
}

/// The log rows of epochs >= `from` (1-based) without the timing column. (Rows of epochs before
/// a resume are read back from log.csv, which holds 9 significant digits: the files are compared
/// for those.)
std::string rows_of(const std::vector<train::epoch_record>& h, long from = 1) {
    std::ostringstream o;
    o.precision(17);
    for (const auto& r : h)
        if (r.epoch >= from)
            o << r.epoch << ' ' << r.train_loss << ' ' << r.val_loss << ' ' << r.val_dice << ' ' << r.val_iou << ' '
          << r.val_pixel_error << ' ' << r.lr << '\n';
    return o.str();
}

/// log.csv without its last column (seconds).
std::string csv_without_seconds(const fs::path& p) {
    std::istringstream in(read_all(p));
    std::string line, out;
    while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + '\n';
    return out;
}

/// The tensor data of a safetensors file (after the 8-byte length and the JSON header).
std::string tensor_bytes(const fs::path& p) {
    const std::string b = read_all(p);
    REQUIRE(b.size() >= 8);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
    REQUIRE(8 + n <= b.size());
    return b.substr(8 + n);
}

}  // namespace

TEST_CASE("trainer: a stop request saves the current step; the resume continues mid-epoch bit-identically") {
    temp_dir straight_dir;
    const mid_state straight = run_mid(straight_dir.path, false);
    REQUIRE(straight.result.epochs_done == 3);
    REQUIRE_FALSE(straight.result.interrupted);
    REQUIRE(straight.result.history.size() == 3);
    const long nb = 5;  // 10 training images, batch 2

    // `resumed` continued a run that had completed `done` epochs in `dir`
    const auto check_same_as_straight = [&](const mid_state& resumed, const fs::path& dir, long done) {
        CHECK_FALSE(resumed.result.interrupted);
        CHECK(resumed.result.epochs_done == 3);
        CHECK(resumed.weights == straight.weights);
        CHECK(resumed.moments == straight.moments);
        CHECK(resumed.opt_steps == straight.opt_steps);
        CHECK(resumed.result.history.size() == 3);
        CHECK(rows_of(resumed.result.history, done + 1) == rows_of(straight.result.history, done + 1));
        CHECK(csv_without_seconds(dir / "log.csv") == csv_without_seconds(straight_dir.path / "log.csv"));
        CHECK(tensor_bytes(dir / "last.safetensors") == tensor_bytes(straight_dir.path / "last.safetensors"));
        CHECK(tensor_bytes(dir / "best.safetensors") == tensor_bytes(straight_dir.path / "best.safetensors"));
        const auto info = train::read_checkpoint_info(dir / "last.safetensors");
        CHECK(info.epoch == 3);
        CHECK(info.step == 3 * nb);
        CHECK(info.epoch_step == 0);
    };

    SUBCASE("stop after batch 2 of epoch 2") {
        temp_dir d;
        const mid_state cut = run_mid(d.path, false, 1, 2);
        CHECK(cut.result.interrupted);
        CHECK(cut.result.interrupted_epoch == 2);
        CHECK(cut.result.interrupted_step == 2);
        CHECK(cut.result.interrupted_checkpoint == d.path / "last.safetensors");
        CHECK(cut.result.epochs_done == 1);
        CHECK(cut.result.history.size() == 1);  // no row for the unfinished epoch
        CHECK(csv_without_seconds(d.path / "log.csv").find("\n2,") == std::string::npos);
        const auto info = train::read_checkpoint_info(d.path / "last.safetensors");
        CHECK(info.epoch == 1);
        CHECK(info.epoch_step == 2);
        CHECK(info.step == nb + 2);
        CHECK(info.epoch_loss_count == 4);
        CHECK(info.epoch_loss_sum > 0.0);
        CHECK(cut.opt_steps == nb + 2);
        // the end-of-epoch checkpoint before it is kept; best is that of epoch 1
        const auto prev = train::read_checkpoint_info(d.path / "last.prev.safetensors");
        CHECK(prev.epoch == 1);
        CHECK(prev.epoch_step == 0);
        CHECK(train::read_checkpoint_info(d.path / "best.safetensors").epoch_step == 0);
        CHECK(train::read_checkpoint_info(d.path / "best.safetensors").epoch == 1);
        check_same_as_straight(run_mid(d.path, true), d.path, 1);
    }
    SUBCASE("stop after the last batch of epoch 2 (before its validation)") {
        temp_dir d;
        const mid_state cut = run_mid(d.path, false, 1, static_cast<std::size_t>(nb));
        CHECK(cut.result.interrupted);
        CHECK(cut.result.interrupted_epoch == 2);
        CHECK(cut.result.interrupted_step == nb);
        CHECK(cut.result.history.size() == 1);
        CHECK(train::read_checkpoint_info(d.path / "last.safetensors").epoch_step == nb);
        check_same_as_straight(run_mid(d.path, true), d.path, 1);
    }
    SUBCASE("stop after batch 1 of epoch 1: no earlier checkpoint exists") {
        temp_dir d;
        const mid_state cut = run_mid(d.path, false, 0, 1);
        CHECK(cut.result.interrupted);
        CHECK(cut.result.interrupted_epoch == 1);
        CHECK(cut.result.interrupted_step == 1);
        CHECK(cut.result.history.empty());
        CHECK_FALSE(fs::exists(d.path / "last.prev.safetensors"));
        CHECK_FALSE(fs::exists(d.path / "best.safetensors"));
        const auto info = train::read_checkpoint_info(d.path / "last.safetensors");
        CHECK(info.epoch == 0);
        CHECK(info.epoch_step == 1);
        check_same_as_straight(run_mid(d.path, true), d.path, 0);
    }
    SUBCASE("stopped twice: in epoch 1, then in epoch 3 of the resumed run") {
        temp_dir d;
        CHECK(run_mid(d.path, false, 0, 3).result.interrupted_step == 3);
        const mid_state second = run_mid(d.path, true, 2, 4);
        CHECK(second.result.interrupted);
        CHECK(second.result.interrupted_epoch == 3);
        CHECK(second.result.interrupted_step == 4);
        CHECK(second.result.history.size() == 2);
        CHECK(train::read_checkpoint_info(d.path / "last.prev.safetensors").epoch == 2);
        check_same_as_straight(run_mid(d.path, true), d.path, 2);
    }
    SUBCASE("stop requested at an epoch's end: the next epoch does not start") {
        temp_dir d;
        const mid_state cut = run_mid(d.path, false, 0, 0, 1);
        CHECK(cut.result.interrupted);
        CHECK(cut.result.interrupted_epoch == 2);
        CHECK(cut.result.interrupted_step == 0);
        CHECK(cut.result.epochs_done == 1);
        CHECK(cut.opt_steps == nb);
        const auto info = train::read_checkpoint_info(d.path / "last.safetensors");
        CHECK(info.epoch == 1);
        CHECK(info.epoch_step == 0);
        check_same_as_straight(run_mid(d.path, true), d.path, 1);
    }
}

TEST_CASE("trainer: a mid-epoch checkpoint refuses a loader with fewer batches than it recorded") {
    temp_dir d;
    (void)run_mid(d.path, false, 1, 4);
    data::synthetic_dataset ds{14, {.size = 32, .seed = 5}};
    data::loader<data::synthetic_dataset> tr{ds, {.batch_size = 2, .seed = 9}, {0, 1, 2, 3, 4, 5}};  // 3 batches
    data::loader<data::synthetic_dataset> va{ds, {.batch_size = 2, .shuffle = false}, {10, 11, 12, 13}};
    mid_net net(1);
    optim::adam<float> opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = 3, .patience = 2, .min_delta = 0.05, .out_dir = d.path,
                      .resume_from = d.path / "last.safetensors", .seed = 9, .progress = train::progress_mode::silent,
                      .extra = {{"model", "unet_bn<8,3>"}}},
                     optim::any_schedule(optim::step_lr(1e-2, {.step_size = 1, .gamma = 0.5})));
    CHECK_THROWS_WITH_AS(t.fit(tr, &va), doctest::Contains("after batch 4 of epoch 2"), std::runtime_error);
}
