// Trainer interruption: a stop request saves the current step, the resume continues mid-epoch
// bit-identically, and a mid-epoch checkpoint refuses a loader with fewer batches.
#include <doctest/doctest.h>

#include "trainer_fixture.hpp"

using namespace unetpp;
using namespace trainer_test;
namespace fs = std::filesystem;

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
    optim::adam opt(net, {.lr = 1e-2});
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
    optim::adam opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = 3, .patience = 2, .min_delta = 0.05, .out_dir = d.path,
                      .resume_from = d.path / "last.safetensors", .seed = 9, .progress = train::progress_mode::silent,
                      .extra = {{"model", "unet_bn<8,3>"}}},
                     optim::any_schedule(optim::step_lr(1e-2, {.step_size = 1, .gamma = 0.5})));
    CHECK_THROWS_WITH_AS(t.fit(tr, &va), doctest::Contains("after batch 4 of epoch 2"), std::runtime_error);
}
