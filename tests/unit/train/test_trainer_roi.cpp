// The trainer with regions of interest: pixels outside a sample's ROI neither train the network
// nor count in the validation loss and metrics. Two data sets that differ only outside the ROIs
// (one with the true masks, one with noise there) must give bit-identical weights and logs. Also
// the whole run's ETA (run_eta).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/train.hpp>

#include "../../support/error_of.hpp"

using namespace unetpp;

namespace {

using tiny = presets::unet_bn<4, 2>;

/// The synthetic samples with a ROI (a centred disc); with `scramble`, the mask outside it is noise.
struct with_roi {
    data::synthetic_dataset base{8, {.size = 16, .seed = 5}};
    bool scramble = false;
    std::size_t size() const { return base.size(); }
    data::sample get(std::size_t i) const {
        data::sample s = base.get(i);
        s.roi = tensor<float>(s.mask.shape());
        rng r(1000 + i);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x) {
                const bool in = (x - 7.5) * (x - 7.5) + (y - 7.5) * (y - 7.5) < 36.0;
                s.roi(0, 0, y, x) = in ? 1.0f : 0.0f;
                if (!in && scramble) s.mask(0, 0, y, x) = r.uniform() < 0.5 ? 1.0f : 0.0f;
            }
        return s;
    }
};

template <class Net>
std::vector<float> weights_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, tensor<float>& p, tensor<float>&) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}

struct run_result {
    std::vector<float> weights;
    std::vector<train::epoch_record> history;
};

run_result run(bool scramble) {
    with_roi ds;
    ds.scramble = scramble;
    data::loader<with_roi> tr(ds, {.batch_size = 3, .seed = 2}, {0, 1, 2, 3, 4, 5});
    data::loader<with_roi> va(ds, {.batch_size = 2, .shuffle = false}, {6, 7});
    tiny net(3);
    optim::adam opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{}, {.epochs = 2, .seed = 2, .progress = train::progress_mode::silent});
    const auto r = t.fit(tr, &va);
    return {weights_of(net), r.history};
}

}  // namespace

TEST_CASE("pixels outside the regions of interest neither train nor count in validation") {
    const run_result a = run(false), b = run(true);
    REQUIRE(a.weights.size() == b.weights.size());
    CHECK(a.weights == b.weights);
    REQUIRE(a.history.size() == 2);
    for (std::size_t e = 0; e < 2; ++e) {
        CHECK(a.history[e].train_loss == b.history[e].train_loss);
        CHECK(a.history[e].val_loss == b.history[e].val_loss);
        CHECK(a.history[e].val_dice == b.history[e].val_dice);
        CHECK(a.history[e].val_pixel_error == b.history[e].val_pixel_error);
        CHECK(std::isfinite(a.history[e].val_dice));
    }
}

TEST_CASE("the ROI changes what is learnt: without it the noisy masks train the network") {
    // the same noisy data without ROIs: the weights differ from the ROI run (the test above can fail)
    struct no_roi : with_roi {
        data::sample get(std::size_t i) const {
            data::sample s = with_roi::get(i);
            s.roi = tensor<float>();
            return s;
        }
    };
    no_roi ds;
    ds.scramble = true;
    data::loader<no_roi> tr(ds, {.batch_size = 3, .seed = 2}, {0, 1, 2, 3, 4, 5});
    tiny net(3);
    optim::adam opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{}, {.epochs = 2, .monitor = "train_loss", .seed = 2,
                                                    .progress = train::progress_mode::silent});
    (void)t.fit(tr);
    CHECK(weights_of(net) != run(true).weights);
}

TEST_CASE("the run's ETA adds the epochs after the current one") {
    CHECK(train::run_eta(10, 60, 0, 3) == 190);
    CHECK(train::run_eta(10, std::numeric_limits<double>::quiet_NaN(), 50, 2) == 110);  // no completed epoch yet
    CHECK(train::run_eta(0, 60, 0, 0) == 0);
    CHECK(train::format_duration(train::run_eta(30, 1800, 0, 2)) == "1:00:30");
}
