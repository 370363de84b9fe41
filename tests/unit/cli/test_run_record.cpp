// The --resume refusal of unetpp-train (tools/run_record.hpp): every differing run-defining option
// is named, also one that only one side records; the options a resume may change pass.

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "../../../tools/run_record.hpp"

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("resume: differences are listed, allowed changes pass") {
    const std::map<std::string, std::string> run{
        {"lr", "0.01"}, {"size", "32"}, {"loss", "dice_bce"}, {"epochs", "2"}, {"batch", "4"}};
    std::map<std::string, std::string> now = run;
    CHECK(cli::run_differences(run, now, cli::resume_may_change()).empty());
    now["epochs"] = "5";  // may change
    now["threads"] = "2";
    CHECK_NOTHROW(cli::check_resume("run/last.safetensors", run, now));
    now["lr"] = "0.02";
    now["size"] = "64";
    const auto d = cli::run_differences(run, now, cli::resume_may_change());
    REQUIRE(d.size() == 2);
    CHECK(d[0] == "--lr 0.01 (the run) against 0.02 (this command)");
    CHECK(d[1] == "--size 32 (the run) against 64 (this command)");
    std::string msg;
    try {
        cli::check_resume("run/last.safetensors", run, now);
    } catch (const cli::usage_error& e) {
        msg = e.what();
    }
    CHECK(contains(msg, "--resume: 'run/last.safetensors' was trained with other options: --lr 0.01"));
    CHECK(contains(msg, "--size 32 (the run) against 64"));
    CHECK(contains(msg, "--epochs"));  // names what may change
    CHECK(!contains(msg, "--epochs 2"));
}

TEST_CASE("resume: an option only one side records is a difference") {
    std::map<std::string, std::string> now{{"lr", "0.01"}, {"augment", "off"}};
    const auto d = cli::run_differences({{"lr", "0.01"}, {"future", "x"}}, now, cli::resume_may_change());
    REQUIRE(d.size() == 2);
    CHECK(d[0] == "--augment (not recorded) (the run) against off (this command)");
    CHECK(d[1] == "--future x (the run) against (not given) (this command)");
}

TEST_CASE("resume: an empty value is shown as (none)") {
    const auto d = cli::run_differences({{"masks", ""}}, {{"masks", "/data/m"}}, cli::resume_may_change());
    REQUIRE(d.size() == 1);
    CHECK(d[0] == "--masks (none) (the run) against /data/m (this command)");
}

TEST_CASE("the data options are recorded only when used, with absolute folders") {
    CHECK(cli::data_options_record({}).empty());  // runs without them still resume
    const auto r = cli::data_options_record({.patch = 64, .fg_share = 0.33, .own_size = true, .val_data = "val/img",
                                             .val_masks = "val/msk", .roi_masks = "fov", .roi_suffix = "_fov"});
    CHECK(r.at("patch") == "64");
    CHECK(r.at("fg-oversample") == "0.33");
    CHECK(r.at("size") == "(own)");
    CHECK(std::filesystem::path(r.at("val-data")).is_absolute());
    CHECK(r.at("val-data").ends_with("val/img"));
    CHECK(std::filesystem::path(r.at("roi-masks")).is_absolute());
    CHECK(r.at("roi-suffix") == "_fov");
    cli::data_options patched;
    patched.patch = 32;
    CHECK(cli::data_options_record(patched).count("size") == 0);  // resized images: --size is recorded
    // a resume with another patch size is a difference
    auto now = r;
    now["patch"] = "32";
    CHECK(cli::run_differences(r, now, cli::resume_may_change()).size() == 1);
}
