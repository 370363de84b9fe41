// What predict and evaluate read from a checkpoint (tools/model_record.hpp): the preprocessing
// record unetpp-train writes, the run's split.json, and the comparison of split options with the
// run's. Records and split files are untrusted input: anything malformed is refused by name.

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "../../../tools/model_record.hpp"
#include "../../support/error_of.hpp"

namespace {
using unetpp::test::contains;

template <class F>
std::string error_of(F&& f) {
    return unetpp::test::error_of<cli::usage_error>(std::forward<F>(f), "(no error)");
}
}  // namespace

TEST_CASE("model record: what train records reads back") {
    const auto rec = cli::preprocessing_record(96, "isbi2012");
    CHECK(rec.at("preprocess.resize") == "square 96");
    CHECK(rec.at("preprocess.scale") == "1/255");
    const cli::preprocessing p = cli::preprocessing_from(rec, "run/last.safetensors");
    CHECK(p.size == 96);
    CHECK(p.threshold == 0.5);
    CHECK(contains(p.polarity, "membranes"));
    CHECK(contains(cli::polarity_of("folders"), "> 127"));

    // a plain weights file: no record, no training scale
    CHECK(cli::preprocessing_from({}, "w.safetensors").size == 0);

    // the metadata prefix is stripped; other keys are ignored
    const std::map<std::string, std::string> md{
        {"unetpp.extra.size", "32"}, {"unetpp.config", "{}"}, {"unetpp.extra.model", "unet_bn"}};
    const auto ex = cli::extras_of(md);
    CHECK(ex.size() == 2);
    CHECK(ex.at("size") == "32");
    CHECK(ex.at("model") == "unet_bn");
}

TEST_CASE("model record: a record this program cannot apply is refused, naming the file") {
    auto rec = cli::preprocessing_record(64, "folders");
    rec["preprocess.resize"] = "square 99999";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }),
                   "'f.safetensors' records preprocess.resize 99999 is out of range"));
    rec["preprocess.resize"] = "keep aspect 64";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }), "does not know"));
    rec = cli::preprocessing_record(64, "folders");
    rec["classes"] = "300";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }),
                   "'f.safetensors' records classes 300 is out of range"));
    rec = cli::preprocessing_record(64, "folders");
    rec["channels"] = "2";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }), "give 1 (grey) or 3 (RGB)"));
    rec = cli::preprocessing_record(64, "folders");
    rec["classes"] = "3";  // three classes cannot be read from binary masks
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }), "binary masks hold two"));
    rec["mask-encoding"] = "rainbow";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }), "rainbow"));
    rec["mask-encoding"] = "palette";
    rec["palette"] = "0,0,0;255,0,0";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }),
                   "palette has 2 colours for 3 classes"));
    rec = cli::preprocessing_record(64, "folders");
    rec["threshold"] = "nan";
    CHECK(contains(error_of([&] { (void)cli::preprocessing_from(rec, "f.safetensors"); }), "not a finite number"));
}

TEST_CASE("model record: channels, classes and the mask encoding read back") {
    const cli::class_layout rgb3{.channels = 3, .classes = 3, .encoding = unetpp::data::mask_encoding::palette,
                                 .palette = unetpp::data::parse_palette("0,0,0;255,0,0;#00ff00")};
    const auto rec = cli::preprocessing_record(64, "folders", 0, rgb3);
    CHECK(rec.at("mask-encoding") == "palette");
    CHECK(rec.at("palette") == "0,0,0;255,0,0;0,255,0");
    const auto p = cli::preprocessing_from(rec, "f.safetensors");
    CHECK(p.layout.channels == 3);
    CHECK(p.layout.classes == 3);
    CHECK(p.layout.encoding == unetpp::data::mask_encoding::palette);
    CHECK(unetpp::data::format_palette(p.layout.palette) == rec.at("palette"));
    // a one-class run records no encoding (binary is the default), as earlier runs did
    const auto one = cli::preprocessing_record(64, "folders");
    CHECK(one.count("mask-encoding") == 0);
    CHECK(cli::preprocessing_from(one, "f").layout.classes == 1);
}

TEST_CASE("split.json: unetpp-train's format reads back; anything else is refused") {
    const auto parts = cli::parse_split_json(
        "{\n  \"train\": [\"a\", \"b\\\"q\"],\n  \"val\": [\"c\"],\n  \"test\": []\n}\n", "split.json");
    REQUIRE(parts.size() == 3);
    CHECK(parts.at("train") == std::vector<std::string>{"a", "b\"q"});
    CHECK(parts.at("val") == std::vector<std::string>{"c"});
    CHECK(parts.at("test").empty());
    CHECK(cli::parse_split_json("{\"val\": [\"\\u0041\"]}", "s").at("val") == std::vector<std::string>{"A"});
    for (const char* bad : {"", "[]", "{\"val\": [1]}", "{\"val\": [\"a\"", "{\"val\": [\"a\"]} x",
                            "{\"val\": [\"a\"], \"val\": []}", "{\"val\": \"a\"}", "{\"val\": [\"a\\q\"]}"}) {
        CAPTURE(bad);
        CHECK(contains(error_of([&] { (void)cli::parse_split_json(bad, "run/split.json"); }),
                       "'run/split.json' is not a split.json of unetpp-train"));
    }
    CHECK(contains(error_of([&] { (void)cli::read_split_file("/nonexistent/split.json", "--subset val"); }),
                   "--subset val needs the run's split"));
}

TEST_CASE("split options: agreeing ones pass, others name both values") {
    const std::map<std::string, std::string> rec{{"seed", "3"}, {"split", "0.5,0.5,0"}};
    CHECK(cli::split_difference("seed", "3", rec).empty());
    CHECK(cli::split_difference("seed", "4", rec) == "--seed 3 (the run) against 4 (this command)");
    CHECK(contains(cli::split_difference("folds", "5", rec), "cannot be checked"));
}
