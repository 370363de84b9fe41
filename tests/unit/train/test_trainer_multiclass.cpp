// The trainer's validation for multi-class networks (logits [N, C, H, W], C >= 2, with class-index
// masks [N, 1, H, W]): a tiny 3-class U-Net trained with losses::dice_ce on a generated problem
// reports a finite val_dice in [0, 1] that improves, and val_dice, val_iou and val_pixel_error
// equal metrics::multiclass_evaluator's scores computed directly on the network's outputs, with
// regions of interest and the loss's ignore_index honoured.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/metrics.hpp>
#include <unetpp/models/unet.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/tensor/rng.hpp>
#include <unetpp/train.hpp>

using namespace unetpp;

namespace {

using net3 = unet<unet_cfg{.in_channels = 1, .classes = 3, .base = 4, .depth = 2}>;

/// Batches held in memory, served in order every epoch (a train::BatchSource).
struct batches {
    std::vector<data::batch> all;
    std::size_t at = 0;
    void start_epoch(std::uint64_t) { at = 0; }
    std::optional<data::batch> next() {
        if (at == all.size()) return std::nullopt;
        return all[at++];
    }
    std::size_t batches_per_epoch() const { return all.size(); }
};

/// `count` batches of 4 images 16 x 16: background (class 0, dark), a bright square (class 2)
/// and a mid-grey disc (class 1) at random places, with noise. With `roi`, each batch carries a
/// region of interest (the left 12 columns); with `ignore`, the first row of every mask is 255.
batches make_batches(int count, std::uint64_t seed, bool roi = false, bool ignore = false) {
    rng r(seed);
    batches b;
    for (int k = 0; k < count; ++k) {
        data::batch x;
        x.images = tensor<float>(shape4{4, 1, 16, 16});
        x.masks = tensor<float>(shape4{4, 1, 16, 16});
        if (roi) x.roi = tensor<float>(shape4{4, 1, 16, 16});
        for (int n = 0; n < 4; ++n) {
            const int sx = static_cast<int>(r.below(9)), sy = static_cast<int>(r.below(9));
            const double cx = 3 + 10 * r.uniform(), cy = 3 + 10 * r.uniform(), rad = 2 + 2 * r.uniform();
            for (int y = 0; y < 16; ++y)
                for (int z = 0; z < 16; ++z) {
                    int cls = 0;
                    if ((z - cx) * (z - cx) + (y - cy) * (y - cy) < rad * rad) cls = 1;
                    if (z >= sx && z < sx + 6 && y >= sy && y < sy + 6) cls = 2;
                    const double level = cls == 0 ? 0.1 : cls == 1 ? 0.5 : 0.9;
                    x.images(n, 0, y, z) = static_cast<float>(level + 0.08 * r.normal());
                    x.masks(n, 0, y, z) = ignore && y == 0 ? 255.0f : static_cast<float>(cls);
                    if (roi) x.roi(n, 0, y, z) = z < 12 ? 1.0f : 0.0f;
                }
            x.indices.push_back(static_cast<std::size_t>(k * 4 + n));
        }
        x.labels.assign(4, -1);
        x.groups.assign(4, -1);
        b.all.push_back(std::move(x));
    }
    return b;
}

/// The scores of the network's outputs on `val`, computed directly (eval mode, as validation).
metrics::multiclass_evaluator direct_scores(net3& net, batches& val, int ignore_index = -100) {
    metrics::multiclass_evaluator ev(3, ignore_index);
    net.train(false);
    inference_mode guard;
    val.start_epoch(0);
    while (auto b = val.next()) {
        const tensor<float>& logits = net.forward(b->images);
        REQUIRE(logits.shape() == shape4{4, 3, 16, 16});
        if (b->roi.empty())
            ev.add(logits, b->masks);
        else
            ev.add(logits, b->masks, b->roi);
    }
    net.train(true);
    return ev;
}

void check_same(const train::epoch_record& r, const metrics::multiclass_evaluator& ev) {
    CHECK(r.val_dice == doctest::Approx(ev.foreground().dice).epsilon(1e-12));
    CHECK(r.val_iou == doctest::Approx(ev.foreground().iou).epsilon(1e-12));
    CHECK(r.val_pixel_error == doctest::Approx(1.0 - ev.pixel_accuracy()).epsilon(1e-12));
}

}  // namespace

TEST_CASE("multi-class validation: dice_ce training improves val_dice; the scores are the metrics'") {
    batches train = make_batches(4, 1), val = make_batches(2, 2);
    net3 net(3);
    optim::adam opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_ce{},
                     {.epochs = 8, .monitor = "val_dice", .progress = train::progress_mode::silent});
    std::vector<double> seen;
    t.on_epoch_end = [&](const train::epoch_record& r) {
        // after every epoch the logged scores are those of the network as it is now
        check_same(r, direct_scores(net, val));
        seen.push_back(r.val_dice);
    };
    const auto res = t.fit(train, &val);
    REQUIRE(res.history.size() == 8);
    REQUIRE(seen.size() == 8);
    for (const auto& r : res.history) {
        INFO("epoch " << r.epoch << ": val_dice " << r.val_dice << ", val_iou " << r.val_iou << ", pixel error "
                      << r.val_pixel_error);
        CHECK(std::isfinite(r.val_loss));
        CHECK(std::isfinite(r.val_dice));
        CHECK(r.val_dice >= 0.0);
        CHECK(r.val_dice <= 1.0);
        CHECK(r.val_iou >= 0.0);
        CHECK(r.val_iou <= r.val_dice + 1e-12);  // IoU <= Dice class by class, so for the means too
        CHECK(r.val_pixel_error >= 0.0);
        CHECK(r.val_pixel_error <= 1.0);
    }
    const double first = res.history.front().val_dice, best = res.best_metric;
    INFO("val_dice first " << first << ", best " << best << ", last " << res.history.back().val_dice);
    CHECK(best > first + 0.1);
    CHECK(res.history.back().val_dice > first);
    CHECK(res.history.back().val_pixel_error < res.history.front().val_pixel_error);
}

TEST_CASE("multi-class validation honours regions of interest and the loss's ignore_index") {
    batches train = make_batches(2, 5);
    net3 net(7);
    optim::adam opt(net, {.lr = 1e-2});
    {
        train::trainer t(net, opt, losses::dice_ce{},
                         {.epochs = 2, .monitor = "train_loss", .progress = train::progress_mode::silent});
        (void)t.fit(train);  // any trained state will do; only the scores' bookkeeping is checked
    }
    SUBCASE("regions of interest") {
        batches with = make_batches(2, 6, true), without = make_batches(2, 6, false);
        train::trainer t(net, opt, losses::dice_ce{},
                         {.epochs = 1, .monitor = "val_dice", .progress = train::progress_mode::silent});
        train::epoch_record in, all;
        t.validate(with, in);
        t.validate(without, all);
        const auto ev_in = direct_scores(net, with), ev_all = direct_scores(net, without);
        check_same(in, ev_in);
        check_same(all, ev_all);
        CHECK(ev_in.counts().counted == 2u * 4 * 16 * 12);
        CHECK(ev_all.counts().counted == 2u * 4 * 16 * 16);
    }
    SUBCASE("ignore_index") {
        batches marked = make_batches(2, 8, false, true);
        train::trainer t(net, opt, losses::dice_ce{.ignore_index = 255},
                         {.epochs = 1, .monitor = "val_dice", .progress = train::progress_mode::silent});
        train::epoch_record r;
        t.validate(marked, r);
        const auto ev = direct_scores(net, marked, 255);
        check_same(r, ev);
        CHECK(ev.counts().counted == 2u * 4 * 15 * 16);
    }
    SUBCASE("one-hot masks: the loss only, the scores stay NaN") {
        batches onehot = make_batches(1, 9);
        for (auto& b : onehot.all) {
            tensor<float> m(shape4{4, 3, 16, 16}, 0.0f);
            for (int n = 0; n < 4; ++n)
                for (int y = 0; y < 16; ++y)
                    for (int z = 0; z < 16; ++z) m(n, static_cast<int>(b.masks(n, 0, y, z)), y, z) = 1.0f;
            b.masks = m;
        }
        train::trainer t(net, opt, losses::dice_ce{},
                         {.epochs = 1, .monitor = "val_loss", .progress = train::progress_mode::silent});
        train::epoch_record r;
        t.validate(onehot, r);
        CHECK(std::isfinite(r.val_loss));
        CHECK(std::isnan(r.val_dice));
        CHECK(std::isnan(r.val_pixel_error));
    }
}
