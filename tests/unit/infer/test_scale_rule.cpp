// Unit tests for the scale of unetpp-predict and unetpp-evaluate: the preprocessing record of a
// run that kept its images at their own size (preprocess.resize "none", preprocess.patch N)
// reads back (tools/model_record.hpp), and predict_at_scale (tools/scaled_predict.hpp) at the
// trained square size, at full size and at full size x F returns a map of the image's own size;
// at full size with factor 1 it equals plain tiled prediction of the image, bit for bit.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/models/presets.hpp>

#include "../../../tools/model_record.hpp"
#include "../../../tools/scaled_predict.hpp"
#include "../../support/error_of.hpp"

using namespace unetpp;

TEST_CASE("record: images at their own size, trained on patches") {
    const auto rec = cli::preprocessing_record(0, "folders", 64);
    CHECK(rec.at("preprocess.resize") == "none");
    CHECK(rec.at("preprocess.patch") == "64");
    const cli::preprocessing p = cli::preprocessing_from(rec, "run/last.safetensors");
    CHECK(p.recorded);
    CHECK(p.size == 0);
    CHECK(p.patch == 64);
    const cli::preprocessing sq = cli::preprocessing_from(cli::preprocessing_record(96, "isbi2012"), "f");
    CHECK(sq.recorded);
    CHECK(sq.size == 96);
    CHECK(sq.patch == 0);
    CHECK_FALSE(cli::preprocessing_from({}, "w.safetensors").recorded);
    // unetpp-train's own record of --patch: "patch" beside preprocess.resize "none"
    auto own = cli::preprocessing_record(128, "folders");
    own["preprocess.resize"] = "none";
    own["patch"] = "48";
    const cli::preprocessing q = cli::preprocessing_from(own, "f");
    CHECK(q.size == 0);
    CHECK(q.patch == 48);
    auto bad = rec;
    bad["preprocess.patch"] = "3";
    CHECK(test::contains(test::error_of<cli::usage_error>([&] { (void)cli::preprocessing_from(bad, "f.safetensors"); }),
                         "'f.safetensors' records preprocess.patch 3 is out of range"));
}

TEST_CASE("scale notes say what was done") {
    CHECK(cli::scale_note(48, 40, {.square = 32, .factor = 1.0, .why = ""}) ==
          "resized 48x40 -> 32x32 as in training, mask mapped back to 48x40");
    CHECK(cli::scale_note(32, 32, {.square = 32, .factor = 1.0, .why = ""}) == "32x32, the trained size");
    CHECK(cli::scale_note(48, 40, {.square = 0, .factor = 1.0, .why = "--full-size"}) ==
          "predicted at the native 48x40 by tiling; --full-size");
    CHECK(cli::scale_note(48, 40, {.square = 0, .factor = 0.5, .why = ""}) ==
          "scaled 48x40 by 0.5 -> 24x20, predicted by tiling, mask mapped back to 48x40");
    CHECK(cli::scaled_side(3, 0.0625) == 1);
}

TEST_CASE("predict_at_scale returns the image's own size; full size equals tiled prediction") {
    presets::unet_bn<8, 3> net(5);
    net.eval();
    tensor<float> x(shape4{1, 1, 40, 48});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 100.0f;
    const infer::tile_options tiles;
    for (const cli::scale_rule& r : {cli::scale_rule{.square = 32, .factor = 1.0, .why = ""},
                                     cli::scale_rule{.square = 0, .factor = 1.0, .why = ""},
                                     cli::scale_rule{.square = 0, .factor = 0.5, .why = ""}}) {
        const tensor<float> p = cli::predict_at_scale(net, x, r, tiles, false);
        CHECK(p.shape() == shape4{1, 1, 40, 48});
    }
    const cli::scale_rule native{.square = 0, .factor = 1.0, .why = ""};
    const tensor<float> full = cli::predict_at_scale(net, x, native, tiles, false);
    const tensor<float> direct = infer::predict_proba_tiled(net, x, tiles);
    bool same = true;
    for (std::size_t i = 0; i < full.size(); ++i) same &= full[i] == direct[i];
    CHECK(same);
}

TEST_CASE("a square run is predicted as it was trained: one zero-padded pass, no mirrored context") {
    // The network saw each training image resized to 32 x 32 and zero-padded at its border; the
    // default prediction must give exactly that forward pass (mirrored context around the image,
    // the tiler's default for padded nets, changes the border predictions).
    presets::unet_bn<8, 3> net(6);
    net.eval();
    tensor<float> x(shape4{1, 1, 32, 32});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 53) % 97) / 96.0f;
    const cli::scale_rule square{.square = 32, .factor = 1.0, .why = ""};
    const tensor<float> p = cli::predict_at_scale(net, x, square, infer::tile_options{}, false);
    tensor<float> want;
    {
        inference_mode guard;  // as the tiler runs it (the batch norms folded)
        want = net.forward(x);
    }
    for (auto& v : want) v = numeric::stable_sigmoid(v);
    REQUIRE(p.shape() == want.shape());
    double worst = 0;
    for (std::size_t i = 0; i < p.size(); ++i) worst = std::max(worst, std::abs(double(p[i]) - double(want[i])));
    CHECK(worst < 1e-5);
    // With mirrored context (an explicit overlap) the border predictions differ.
    infer::tile_options mirrored;
    mirrored.overlap = 16;
    const tensor<float> q = cli::predict_at_scale(net, x, square, mirrored, false);
    double diff = 0;
    for (std::size_t i = 0; i < q.size(); ++i) diff = std::max(diff, std::abs(double(q[i]) - double(want[i])));
    CHECK(diff > 1e-4);
}
