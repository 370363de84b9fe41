// unetpp-train --budget and the plan's choices as options (tools/plan_args.hpp): durations,
// the options a plan adds, the user's options winning (and named), the printout, plan files.

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "../../../tools/plan_args.hpp"
#include "../../support/error_of.hpp"

namespace {

cli::args line(std::vector<const char*> v) {
    v.insert(v.begin(), "unetpp-train");
    return cli::args(static_cast<int>(v.size()), v.data(), {"auto"},
                     {"size", "patch", "fg-oversample", "model", "base", "depth", "batch", "epochs", "loss",
                      "schedule", "augment", "monitor", "optimizer", "lr", "budget"});
}

std::string value_of(const cli::plan_options& o, const std::string& key) {
    for (const auto& [k, v] : o.options)
        if (k == key) return v;
    return "(absent)";
}

unetpp::train::training_plan a_plan() {
    unetpp::train::training_plan p;
    p.input_size = 128;
    p.base = 32;
    p.depth = 4;
    p.batch = 8;
    p.epochs = 37;
    p.loss = "dice_bce";
    p.schedule = "cosine";
    p.augment = "hflip,rotate=10";
    p.reasons = {"input 128 x 128: because"};
    p.fingerprint.images = 10;
    p.fingerprint.sampled = 10;
    p.fingerprint.classes = 1;
    p.fingerprint.channels = 1;
    p.machine.networks = {{16, 3, 64, 2, 0.01}};
    return p;
}

}  // namespace

TEST_CASE("--budget: 90s, 45m, 2h, 1h30m and refusals") {
    CHECK(cli::parse_budget("90s") == 90);
    CHECK(cli::parse_budget("45m") == 2700);
    CHECK(cli::parse_budget("2h") == 7200);
    CHECK(cli::parse_budget("1h30m") == 5400);
    CHECK(cli::parse_budget("1h5m30s") == 3930);
    for (const char* bad : {"", "45", "m", "45x", "30m1h", "1m1m", "1.5h", "-5m", "5 m", "1000000000s"}) {
        INFO(bad);
        CHECK_THROWS_AS(cli::parse_budget(bad), cli::usage_error);
    }
    CHECK(unetpp::test::contains(unetpp::test::error_of<cli::usage_error>([] { (void)cli::parse_budget("0s"); }),
                                 "shorter than one second"));
    CHECK(unetpp::test::contains(unetpp::test::error_of<cli::usage_error>([] { (void)cli::parse_budget("999h"); }),
                                 "longer than 30 days"));
    for (const double s : {20.0, 90.0, 2700.0, 5400.0, 3930.0}) CHECK(cli::parse_budget(cli::format_budget(s)) == s);
}

TEST_CASE("plan options: the plan's choices, the user's options win and are named") {
    const auto p = a_plan();
    const auto all = cli::options_from_plan(p, line({"--auto"}));
    CHECK(value_of(all, "size") == "128");
    CHECK(value_of(all, "patch") == "(absent)");
    CHECK(value_of(all, "base") == "32");
    CHECK(value_of(all, "depth") == "4");
    CHECK(value_of(all, "batch") == "8");
    CHECK(value_of(all, "epochs") == "37");
    CHECK(value_of(all, "loss") == "dice_bce");
    CHECK(value_of(all, "schedule") == "cosine");
    CHECK(value_of(all, "augment") == "hflip,rotate=10");
    CHECK(value_of(all, "monitor") == "val_dice");
    CHECK(value_of(all, "optimizer") == "adam");
    CHECK(value_of(all, "lr") == "0.001");
    CHECK(all.notes.empty());

    const auto mine = cli::options_from_plan(p, line({"--auto", "--epochs", "5", "--batch", "8", "--size", "96"}));
    CHECK(value_of(mine, "epochs") == "(absent)");
    CHECK(value_of(mine, "size") == "(absent)");
    REQUIRE(mine.notes.size() == 2);  // --batch 8 is the plan's own choice: nothing replaced
    CHECK(mine.notes[0] == "--size (given) replaces the plan's input 128");
    CHECK(mine.notes[1] == "--epochs 5 (given) replaces the plan's 37");

    const auto sgd = cli::options_from_plan(p, line({"--optimizer", "sgd"}));
    CHECK(value_of(sgd, "optimizer") == "(absent)");
    CHECK(value_of(sgd, "lr") == "(absent)");  // sgd's own default learning rate applies
    REQUIRE(sgd.notes.size() == 1);
    CHECK(unetpp::test::contains(sgd.notes[0], "the optimiser's default applies"));

    auto patched = p;
    patched.patch = 128;
    patched.fg_oversample = 0.5;
    const auto pa = cli::options_from_plan(patched, line({}));
    CHECK(value_of(pa, "size") == "(absent)");  // images keep their own size
    CHECK(value_of(pa, "patch") == "128");
    CHECK(value_of(pa, "fg-oversample") == "0.5");
    const auto own = cli::options_from_plan(patched, line({"--patch", "64"}));
    CHECK(value_of(own, "patch") == "(absent)");
    CHECK(value_of(own, "fg-oversample") == "(absent)");
}

TEST_CASE("plan summary and plan files") {
    const auto p = a_plan();
    const std::string s = cli::plan_summary(p, {"--epochs 5 (given) replaces the plan's 37"});
    CHECK(unetpp::test::contains(s, "plan: data: 10 images (10 read)"));
    CHECK(unetpp::test::contains(s, "plan: input 128 x 128: because\n"));
    CHECK(unetpp::test::contains(s, "plan: --epochs 5 (given) replaces the plan's 37\n"));
    CHECK(unetpp::test::contains(s, "unet_bn<16,3> 10 ms/image at 64"));

    const auto dir = std::filesystem::temp_directory_path() / ("unetpp_plan_args_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream(dir / "plan.json") << unetpp::train::plan_to_json(p);
        std::ofstream(dir / "bad.json") << "{\"format\": \"unetpp.plan\", \"version\": 1}";
    }
    CHECK(cli::read_plan_file(dir / "plan.json", "--plan").epochs == 37);
    const std::string e =
        unetpp::test::error_of<cli::usage_error>([&] { (void)cli::read_plan_file(dir / "bad.json", "--plan"); });
    CHECK(unetpp::test::contains(e, "bad.json: input_size is missing (--plan: write it again"));
    CHECK(unetpp::test::contains(
        unetpp::test::error_of<cli::usage_error>([&] { (void)cli::read_plan_file(dir / "none.json", "--plan"); }),
        "is not a file"));
    std::filesystem::remove_all(dir);
}
