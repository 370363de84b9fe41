// The automatic training plan (train/fingerprint.hpp, train/plan.hpp, train/plan_json.hpp): the
// fingerprint of a data set with known statistics, each planning rule, determinism, the JSON round
// trip and hostile plan files.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/augment_spec.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/train/plan.hpp>

#include "../../support/error_of.hpp"

using namespace unetpp;

namespace {

/// Five images of known sizes; image i has its first i rows foreground (value 0.8 in both
/// channels), the rest background (0.2). Image 0 has an empty mask.
struct known_data {
    static constexpr int hs[5] = {10, 20, 30, 40, 50};
    static constexpr int ws[5] = {16, 16, 32, 32, 64};
    int label_value = 1;  ///< the mask value of foreground (2 or more: a label mask)
    [[nodiscard]] std::size_t size() const { return 5; }
    [[nodiscard]] data::sample get(std::size_t i) const {
        const int h = hs[i], w = ws[i];
        data::sample s;
        s.image = tensor<float>(shape4{1, 2, h, w});
        s.mask = tensor<float>(shape4{1, 1, h, w});
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const bool fg = y < static_cast<int>(i);
                s.mask.data()[y * w + x] = fg ? static_cast<float>(label_value) : 0.0f;
                for (int c = 0; c < 2; ++c) s.image.data()[(c * h + y) * w + x] = fg ? 0.8f : 0.2f;
            }
        return s;
    }
};

train::data_fingerprint square(int side, std::size_t images, double fg = 0.1, bool one_size = true) {
    train::data_fingerprint f;
    f.images = f.sampled = images;
    f.height = {side, one_size ? side : side / 2, one_size ? side : side * 2};
    f.width = f.height;
    f.channels = 1;
    f.classes = 1;
    f.foreground_fraction = f.foreground_fraction_median = fg;
    f.foreground_fraction_max = std::min(1.0, 2 * fg);
    return f;
}

/// A machine on which a network of base b costs ms * b / 16 milliseconds per image at 64 x 64
/// (depth 4: 10% more).
train::machine_speed machine(double ms = 20.0) {
    train::machine_speed m;
    for (const int base : {16, 32})
        for (const int depth : {3, 4})
            m.networks.push_back({base, depth, 64, 2, ms * 1e-3 * base / 16.0 * (depth == 4 ? 1.1 : 1.0)});
    return m;
}

}  // namespace

TEST_CASE("fingerprint: sizes, intensities, foreground and empty masks of known data") {
    double read = -1;
    const train::data_fingerprint f = train::fingerprint_of(known_data{}, {.max_pixels_per_image = 1 << 20}, &read);
    CHECK(read >= 0);
    CHECK(f.images == 5);
    CHECK(f.sampled == 5);
    CHECK(f.height.median == 30);
    CHECK(f.height.min == 10);
    CHECK(f.height.max == 50);
    CHECK(f.width.median == 32);
    CHECK(f.width.min == 16);
    CHECK(f.width.max == 64);
    CHECK(f.channels == 2);
    CHECK(f.classes == 1);
    double fg = 0, all = 0;
    std::vector<double> fractions;
    for (int i = 0; i < 5; ++i) {
        fg += i * known_data::ws[i];
        all += known_data::hs[i] * known_data::ws[i];
        fractions.push_back(static_cast<double>(i) / known_data::hs[i]);
    }
    CHECK(f.foreground_fraction == doctest::Approx(fg / all));
    CHECK(f.foreground_fraction_min == 0.0);
    CHECK(f.foreground_fraction_max == doctest::Approx(4.0 / 50));
    CHECK(f.foreground_fraction_median == doctest::Approx(2.0 / 30));  // 0, 1/20, 2/30, 3/40, 4/50
    CHECK(f.empty_mask_fraction == doctest::Approx(0.2));
    const double share = fg / all, mean = 0.8 * share + 0.2 * (1 - share);
    CHECK(f.all.mean == doctest::Approx(mean).epsilon(1e-5));
    CHECK(f.all.std == doctest::Approx(0.6 * std::sqrt(share * (1 - share))).epsilon(1e-4));
    CHECK(f.all.p00_5 == doctest::Approx(0.2));
    CHECK(f.all.p99_5 == doctest::Approx(0.8));
    CHECK(f.all.values == static_cast<std::size_t>(2 * all));
    CHECK(f.foreground.mean == doctest::Approx(0.8));
    CHECK(f.foreground.std == doctest::Approx(0.0).epsilon(1e-6));
    CHECK(f.foreground.values == static_cast<std::size_t>(2 * fg));
}

TEST_CASE("fingerprint: bounded sample, pixel grid, classes from label masks or the caller") {
    const auto f = train::fingerprint_of(known_data{}, {.max_images = 2, .max_pixels_per_image = 16});
    CHECK(f.sampled == 2);  // images 0 and 2 (floor(k * 5 / 2))
    CHECK(f.height.min == 10);
    CHECK(f.height.max == 30);
    CHECK(f.all.values <= 2 * 2 * 16);
    CHECK(f.all.values > 0);
    known_data labels;
    labels.label_value = 3;
    CHECK(train::fingerprint_of(labels).classes == 4);
    CHECK(train::fingerprint_of(known_data{}, {.classes = 2}).classes == 2);
    CHECK_THROWS_AS(train::fingerprint_of(known_data{}, {.max_images = 0}), std::invalid_argument);
}

TEST_CASE("speed: a few timed steps give a positive time per image") {
    presets::unet_bn<4, 2> net(1);
    const double s = train::seconds_per_training_image(net, 1, 16, 2, 1);
    CHECK(s > 0);
    CHECK(std::isfinite(s));
}

TEST_CASE("plan rule: epochs are what the budget buys at the measured speed") {
    const auto f = square(64, 100);
    const auto p = train::plan_recipe(f, machine(), {.seconds = 600});
    CHECK(p.epochs == static_cast<int>(std::floor(600 / p.seconds_per_epoch)));
    const auto q = train::plan_recipe(f, machine(), {.seconds = 1200});
    CHECK(q.base == p.base);
    CHECK(std::abs(q.epochs - 2 * p.epochs) <= 1);
    // a machine twice as slow halves them
    const auto slow = train::plan_recipe(f, machine(40.0), {.seconds = 1200});
    CHECK(std::abs(slow.epochs - p.epochs) <= 1);
    // a budget for more than max_epochs stops there
    CHECK(train::plan_recipe(f, machine(), {.seconds = 1e8}).epochs == train::plan_rules::max_epochs);
    // reads count: a slow disk leaves fewer epochs
    auto m = machine();
    m.seconds_per_read = 0.01;
    CHECK(train::plan_recipe(f, m, {.seconds = 600}).epochs < p.epochs);
}

TEST_CASE("plan rule: input size follows the median image and the budget; depth the input size") {
    const auto big = train::plan_recipe(square(300, 100), machine(), {.seconds = 1e6});
    CHECK(big.input_size == 256);  // the largest of the ladder up to the median short side
    CHECK(big.depth == 4);
    CHECK(big.base == 32);
    const auto small = train::plan_recipe(square(64, 100), machine(), {.seconds = 1e6});
    CHECK(small.input_size == 64);
    CHECK(small.depth == 3);  // 64 / 16 = 4 < min_bottleneck
    // a tight budget: a smaller input, or the narrower network, reaches min_epochs
    const auto tight = train::plan_recipe(square(300, 100), machine(), {.seconds = 300});
    CHECK(tight.input_size < 256);
    CHECK(tight.epochs >= train::plan_rules::min_epochs);
    // width: 32 while it still reaches min_epochs, else 16
    const auto f = square(128, 100);
    const double e32 = train::plan_recipe(f, machine(), {.seconds = 1e6}).seconds_per_epoch;  // base 32
    const auto narrow = train::plan_recipe(f, machine(), {.seconds = 0.8 * e32 * train::plan_rules::min_epochs});
    CHECK(narrow.base == 16);
    CHECK(narrow.input_size == 128);
    // no budget reaches min_epochs: the cheapest network, a warning, still at least one epoch
    const auto starved = train::plan_recipe(square(512, 1000), machine(), {.seconds = 2});
    CHECK(starved.epochs >= 1);
    CHECK(starved.base == 16);
    CHECK(starved.depth == 3);
    CHECK_FALSE(starved.warnings.empty());
    CHECK(starved.reasons.front().find("no side reaches 30 epochs") != std::string::npos);
    CHECK(tight.reasons.front().find("at which a network reaches 30 epochs") != std::string::npos);
}

TEST_CASE("plan rule: patches for large images of one size; foreground decides their sampling") {
    const auto many = train::plan_recipe(square(1024, 30, 0.2, false), machine(), {.seconds = 3000});
    CHECK(many.patch == 0);  // images of many sizes are resized whole
    const auto em = train::plan_recipe(square(1024, 30, 0.2), machine(), {.seconds = 3000});
    REQUIRE(em.patch > 0);
    CHECK(em.patch == em.input_size);
    CHECK(em.fg_oversample == doctest::Approx(1.0 / 3));
    const auto rare = train::plan_recipe(square(1024, 30, 0.002), machine(), {.seconds = 3000});
    CHECK(rare.patch == em.patch);
    CHECK(rare.fg_oversample == doctest::Approx(0.5));
    const auto whole = train::plan_recipe(square(128, 30), machine(), {.seconds = 3000});
    CHECK(whole.patch == 0);
    CHECK(whole.fg_oversample == 0.0);
}

TEST_CASE("plan rule: classes choose the loss; batch, schedule, augmentation, TTA, deep supervision") {
    auto f = square(64, 100);
    CHECK(train::plan_recipe(f, machine(), {.seconds = 600}).loss == "dice_bce");
    f.classes = 3;
    CHECK(train::plan_recipe(f, machine(), {.seconds = 600}).loss == "dice_ce");
    const auto p = train::plan_recipe(square(64, 100), machine(), {.seconds = 600});
    CHECK(p.batch == 16);  // 16 x 64^2 <= 8 x 128^2; 80 training images / 4 = 20
    CHECK(train::plan_recipe(square(256, 100), machine(), {.seconds = 1e6}).batch == 2);
    CHECK(train::plan_recipe(square(64, 12), machine(), {.seconds = 600}).batch == 2);  // 9 training images
    CHECK(p.schedule == "cosine");
    CHECK(p.tta == "hflip");
    CHECK(p.monitor == "val_dice");
    CHECK(p.augment_level == "strong");  // 80 training images
    CHECK(train::plan_recipe(square(64, 1000), machine(), {.seconds = 1e5}).augment_level == "medium");
    const auto brief = train::plan_recipe(square(64, 1000), machine(), {.seconds = 5});
    CHECK(brief.epochs < 5);
    CHECK(brief.augment_level == "light");
    CHECK(brief.schedule == "constant");
    for (const auto* q : {&p, &brief}) CHECK_NOTHROW(data::parse_augment(q->augment));
    CHECK_NOTHROW(data::parse_augment(train::plan_recipe(square(64, 1000), machine(), {.seconds = 1e5}).augment));
    CHECK_FALSE(train::plan_recipe(square(256, 100), machine(), {.seconds = 1e6}).deep_supervision);
    auto ds = machine();
    ds.deep_supervision = true;
    CHECK(train::plan_recipe(square(256, 100), ds, {.seconds = 1e6}).deep_supervision);
    CHECK_FALSE(train::plan_recipe(square(64, 100), ds, {.seconds = 1e6}).deep_supervision);  // depth 3
    CHECK(p.reasons.size() >= 10);
}

TEST_CASE("plan: deterministic, bad inputs refused") {
    const auto f = square(200, 300, 0.05);
    CHECK(train::plan_to_json(train::plan_recipe(f, machine(), {.seconds = 900})) ==
          train::plan_to_json(train::plan_recipe(f, machine(), {.seconds = 900})));
    CHECK_THROWS_AS(train::plan_recipe(f, machine(), {.seconds = 0}), std::invalid_argument);
    CHECK_THROWS_AS(train::plan_recipe(f, {}, {.seconds = 10}), std::invalid_argument);
    auto m = machine();
    m.networks[0].seconds_per_image = 0;
    CHECK_THROWS_AS(train::plan_recipe(f, m, {.seconds = 10}), std::invalid_argument);
}

TEST_CASE("plan.json: round trip, and the plan it holds is the plan of its inputs") {
    auto f = train::fingerprint_of(known_data{});
    f.images = 400;
    f.sampled = 5;
    auto m = machine(1.7);
    m.seconds_per_read = 0.0031;
    const auto p = train::plan_recipe(f, m, {.seconds = 1234.5, .train_share = 0.75, .val_share = 0.25});
    const std::string text = train::plan_to_json(p);
    const auto q = train::plan_from_json(text, "plan.json");
    CHECK(train::plan_to_json(q) == text);
    CHECK(q.epochs == p.epochs);
    CHECK(q.augment == p.augment);
    CHECK(q.fingerprint.all.mean == p.fingerprint.all.mean);
    CHECK(q.machine.networks.size() == 4);
    CHECK(train::plan_to_json(train::plan_recipe(q.fingerprint, q.machine, q.budget)) == text);
}

TEST_CASE("plan.json: hostile files give clear errors") {
    const std::string good = train::plan_to_json(train::plan_recipe(square(64, 100), machine(), {.seconds = 60}));
    const auto replaced = [&](const std::string& from, const std::string& to) {
        std::string s = good;
        const auto at = s.find(from);
        REQUIRE(at != std::string::npos);
        return s.replace(at, from.size(), to);
    };
    const auto error = [](const std::string& text) {
        return unetpp::test::error_of<std::runtime_error>([&] { (void)train::plan_from_json(text, "run/plan.json"); });
    };
    CHECK(error("").find("run/plan.json: malformed JSON") == 0);
    CHECK(error("[1, 2]").find("run/plan.json: the file is not a JSON object") != std::string::npos);
    CHECK(error(replaced("\"unetpp.plan\"", "\"other\"")).find("run/plan.json: not a unetpp plan") != std::string::npos);
    CHECK(error(replaced("\"version\": 1", "\"version\": 2")).find("version") != std::string::npos);
    CHECK(error(replaced("\"epochs\": ", "\"epochz\": ")).find("run/plan.json: epochs is missing") != std::string::npos);
    CHECK(error(replaced("\"lr\": 0.001", "\"lr\": 0.001, \"extra\": 1")).find("unknown field \"extra\"") !=
          std::string::npos);
    CHECK(error(replaced("\"batch\": ", "\"batch\": \"8\", \"x\": ")).find("run/plan.json: batch must be a finite number") !=
          std::string::npos);
    CHECK(error(replaced("\"lr\": 0.001", "\"lr\": 1e400")).find("run/plan.json: lr must be a finite number") != std::string::npos);
    CHECK(error(replaced("\"input_size\": 64", "\"input_size\": 1000000")).find("outside [8, 4096]") !=
          std::string::npos);
    CHECK(error(replaced("\"input_size\": 64", "\"input_size\": 64.5")).find("whole number") != std::string::npos);
    CHECK(error(replaced("\"tta\": \"hflip\"", "\"tta\": \"all\"")).find("run/plan.json: tta 'all' is not one of none, hflip") !=
          std::string::npos);
    CHECK(error(replaced("\"patch\": 0", "\"patch\": 32")).find("patch must be 0 or the input size") !=
          std::string::npos);
    CHECK(error(replaced("\"deep_supervision\": false", "\"deep_supervision\": 0")).find("true or false") !=
          std::string::npos);
    CHECK(error(replaced("\"seconds_per_image\": ", "\"seconds_per_image\": -")).find("machine.networks[0].seconds_per_image") !=
          std::string::npos);
    CHECK(error(replaced("\"median\": 64", "\"median\": 640")).find("min <= median <= max") != std::string::npos);
    CHECK(error(replaced("\"reasons\": [", "\"reasons\": [[[[[[[[[[1]]]]]]]]], ")).find("nested deeper") !=
          std::string::npos);
    CHECK(error(std::string(2 << 20, ' ')).find("more than a plan file's") != std::string::npos);
    CHECK(error(good + "x").find("malformed JSON") != std::string::npos);
    CHECK_NOTHROW(train::plan_from_json(good, "run/plan.json"));
}
