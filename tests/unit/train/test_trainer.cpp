// Trainer, early stopping, checkpoints (round trip, wrong architecture, corrupt file), exact
// resume and the NaN stop, on a tiny U-Net and the built-in synthetic data set.
// Stop requests and mid-epoch resumes: test_trainer_interrupt.cpp.
#include <doctest/doctest.h>

#include "trainer_fixture.hpp"

using namespace unetpp;
using namespace trainer_test;
namespace fs = std::filesystem;

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
    optim::adam opt(net, {.lr = 1e-2});
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
    optim::adam opt2(back, {.lr = 1e-2});
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
        optim::adam oo(o);
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
        optim::sgd s(n2, {.lr = 0.1, .momentum = 0.9});
        CHECK_THROWS_WITH_AS(train::load_checkpoint(p, n2, s), doctest::Contains("optimiser 'adam'"), std::runtime_error);
    }
    SUBCASE("truncated and corrupt files: clear errors, nothing crashes") {
        const std::string bytes = read_all(p);
        for (std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(100), bytes.size() / 2, bytes.size() - 1}) {
            train::write_file_atomic(tmp.path / "bad.safetensors", std::string_view(bytes).substr(0, cut));
            tiny n2(1);
            optim::adam o2(n2);
            INFO("cut at " << cut);
            CHECK_THROWS_WITH_AS(train::load_checkpoint(tmp.path / "bad.safetensors", n2, o2),
                                 doctest::Contains("checkpoint '"), std::runtime_error);
        }
        std::string garbage = bytes;
        for (std::size_t i = 8; i < 40 && i < garbage.size(); ++i) garbage[i] = '\x01';
        train::write_file_atomic(tmp.path / "bad.safetensors", garbage);
        tiny n2(1);
        optim::adam o2(n2);
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
    const optim::cosine_lr_options cos{.t_max = 4, .eta_min = 1e-4, .warmup_epochs = 1};
    std::vector<float> straight;
    std::vector<train::epoch_record> hist_a;
    {
        fixture f;
        tiny net(1);
        optim::adam opt(net, {.lr = 1e-2});
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
        optim::adam opt(net, {.lr = 1e-2});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = 2, .out_dir = b.path, .seed = 9, .progress = train::progress_mode::silent},
                         optim::any_schedule(optim::cosine_lr(1e-2, cos)));
        t.fit(f.train, &f.val);
    }
    {
        fixture f;
        tiny net(77);  // different init: everything must come from the checkpoint
        optim::adam opt(net, {.lr = 0.5});
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
        optim::adam opt(net);
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
    optim::sgd opt(net, {.lr = 0.0});  // nothing changes: the metric never improves
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
    optim::adam opt(net, {.lr = 1e-2});
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
    optim::adam opt(net, {.lr = 1e-2});
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
        optim::adam opt(net, {.lr = 1e-2});
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
        optim::adam opt(net, {.lr = 1e-2});
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
        optim::adam opt(net, {.lr = 1e-2});
        nan_at_step loss{.k = 1};
        train::trainer t(net, opt, loss, {.epochs = 3, .out_dir = tmp.path, .seed = 9, .progress = train::progress_mode::silent});
        CHECK_THROWS_WITH_AS(t.fit(f.train, &f.val), doctest::Contains("no checkpoint exists yet"), train::training_diverged);
        CHECK_FALSE(fs::exists(tmp.path / "last.safetensors"));
    }
    SUBCASE("without an output folder: none is kept") {
        fixture f;
        tiny net(1);
        optim::adam opt(net, {.lr = 1e-2});
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
