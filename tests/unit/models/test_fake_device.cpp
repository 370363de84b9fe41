// The backend contract, exercised: every preset builds, trains a step (forward, backward,
// zero_grad, gradient clipping, an optimiser step), saves and loads its weights and runs an
// inference pass (and overlap-tile inference, where the network is tileable) on a backend whose
// memory the host may not read (tests/support/fake_device.hpp).
// Compiling this file proves that no layer, block, model, optimiser or weight file touches a
// tensor's elements on the host; running it proves the backend-generic path computes exactly
// what backend::cpu computes (bit for bit, as the fake device runs the same kernels).
//
// Every preset is instantiated in full here (the explicit instantiations of exercise<...>); one
// step of the large ones takes minutes on two cores, so what runs on both backends are small
// configurations of every model template and policy set: unet (batch norm, none, valid, reflect,
// dropout, run-time channels), the attention and B-Cir policies, the multi-task U-Net, the
// nested U-Net with and without deep supervision, the classifier, and the trainer.

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/infer.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/train.hpp>
#include <unetpp/unet.hpp>

#include "../../support/exercise_network.hpp"
#include "../../support/fake_device.hpp"

using namespace unetpp;
using fake = test::fake_device_backend<>;
using namespace network_exercise;

namespace {

bool bit_equal(const tensor<float>& a, const tensor<float>& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

bool bit_equal(const std::vector<tensor<float>>& a, const std::vector<tensor<float>>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!bit_equal(a[i], b[i])) return false;
    return true;
}

tensor<float> input(shape4 s) {
    tensor<float> x(s);
    rng r(11);
    for (auto& v : x) v = static_cast<float>(r.uniform(-1, 1));
    return x;
}

std::filesystem::path scratch_file(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("unetpp_fake_device_" + name + ".safetensors");
}

/// Runs NetCpu and NetFake (the same network on the two backends) from one seed and checks that
/// every record is bit-identical, and that the fake device's tensors never were read in place.
template <class NetCpu, class NetFake, class... Args>
void check_same(const std::string& name, shape4 in, Args&&... args) {
    CAPTURE(name);
    NetCpu a(args...);
    NetFake b(args...);
    const tensor<float> x = input(in);
    const step_record ra = exercise(a, x, scratch_file(name + "_cpu"));
    const auto downloads_before = test::fake_device_memory::stats().downloads;
    const step_record rb = exercise(b, x, scratch_file(name + "_fake"));
    CHECK(test::fake_device_memory::stats().downloads > downloads_before);  // results came back by copies
    CHECK(bit_equal(ra.train_output, rb.train_output));
    CHECK(bit_equal(ra.infer_output, rb.infer_output));
    CHECK(bit_equal(ra.tiled, rb.tiled));
    CHECK(bit_equal(ra.parameters, rb.parameters));
    CHECK(bit_equal(ra.gradients, rb.gradients));
    CHECK(bit_equal(ra.buffers, rb.buffers));
    CHECK(!ra.parameters.empty());
}

constexpr unet_cfg small_valid{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                               .norm = norm_kind::none, .dropout = 0.3};
constexpr unet_cfg small_reflect{.in_channels = 2, .classes = 1, .base = 4, .depth = 2, .pad = padding::reflect};
constexpr unet_cfg small_runtime{.in_channels = runtime_channels, .classes = runtime_channels, .base = 4, .depth = 2};
constexpr classifier_cfg small_classifier{.in_channels = 1, .base = 4, .depth = 2, .hidden = 8};
constexpr unet_cfg small_dropout{.in_channels = 1, .classes = 1, .base = 4, .depth = 2, .dropout = 0.1};

}  // namespace

// Every preset, instantiated on the fake device: forward, backward, zero_grad, clipping, Adam
// and SGD steps, save and load, inference. A host access anywhere in them fails this build.
template network_exercise::step_record network_exercise::exercise(presets::ronneberger2015_t<fake>&, const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_bn<64, 4, 1, 1, fake>&, const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_cbr<64, 4, 1, 1, fake>&, const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::bcir_unet_t<fake>&, const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::attention_unet_t<fake>&, const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::residual_multitask_unet<256, fake>&, const tensor<float>&,
                              const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_plusplus<32, 4, 1, 1, fake>&, const tensor<float>&,
                              const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_plusplus_ds<32, 4, 1, 1, fake>&, const tensor<float>&,
                              const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::busi_stage_classifier<fake>&, const tensor<float>&, const std::filesystem::path&);

TEST_CASE("unet on a device backend computes what it computes on the CPU: batch norm, valid, reflect, run-time") {
    check_same<presets::unet_bn<4, 2>, presets::unet_bn<4, 2, 1, 1, fake>>("unet_bn", shape4{2, 1, 16, 16}, 3u);
    check_same<presets::unet_cbr<4, 2>, presets::unet_cbr<4, 2, 1, 1, fake>>("unet_cbr", shape4{2, 1, 16, 16}, 3u);
    check_same<unet<small_valid>, unet<small_valid, fake>>("valid", shape4{2, 1, 44, 44}, 3u);
    check_same<unet<small_reflect>, unet<small_reflect, fake>>("reflect", shape4{1, 2, 20, 20}, 3u);
    check_same<unet<small_runtime>, unet<small_runtime, fake>>("runtime", shape4{2, 3, 16, 16}, 3u,
                                                                 io_channels{.in_channels = 3, .classes = 4});
}

TEST_CASE("the attention, B-Cir and multi-task U-Nets on a device backend") {
    check_same<unet<small_reflect, backend::cpu, float, attention_policies<>>,
               unet<small_reflect, fake, float, attention_policies<>>>("attention", shape4{1, 2, 16, 16}, 3u);
    check_same<unet<small_dropout, backend::cpu, float, bcir_policies<>>, unet<small_dropout, fake, float, bcir_policies<>>>(
        "bcir", shape4{2, 1, 16, 16}, 3u);
    check_same<multitask_unet<small_dropout, 16, 8>, multitask_unet<small_dropout, 16, 8, fake>>(
        "multitask", shape4{2, 1, 16, 16}, 3u);
}

TEST_CASE("nested U-Net, deep supervision and the classifier on a device backend") {
    check_same<presets::unet_plusplus<4, 2>, presets::unet_plusplus<4, 2, 1, 1, fake>>("nested", shape4{2, 1, 16, 16},
                                                                                         3u);
    check_same<presets::unet_plusplus_ds<4, 2>, presets::unet_plusplus_ds<4, 2, 1, 1, fake>>(
        "nested_ds", shape4{2, 1, 16, 16}, 3u);
    check_same<encoder_classifier<small_classifier>, encoder_classifier<small_classifier, fake>>(
        "classifier", shape4{2, 1, 16, 16}, 3u);
}

namespace {
/// Two epochs of the trainer (Adam, dice_bce, clipping, validation, checkpoints in `dir`), then a
/// resume for a third; the final weights, copied to the host.
template <class Net>
std::vector<tensor<float>> train_two_then_resume(const std::filesystem::path& dir) {
    data::synthetic_dataset ds{12, {.size = 16, .seed = 5}};
    std::vector<std::size_t> tr{0, 1, 2, 3, 4, 5, 6, 7}, va{8, 9, 10, 11};
    const auto run = [&](Net& net, int epochs, const std::filesystem::path& resume) {
        data::loader<data::synthetic_dataset> train{ds, {.batch_size = 4, .seed = 9}, tr};
        data::loader<data::synthetic_dataset> val{ds, {.batch_size = 4, .shuffle = false}, va};
        optim::adam opt(net, {.lr = 1e-2});
        train::trainer t(net, opt, losses::dice_bce{},
                         {.epochs = epochs, .clip_norm = 1.0, .out_dir = dir, .resume_from = resume, .seed = 3,
                          .progress = train::progress_mode::silent});
        return t.fit(train, &val);
    };
    Net first(1);
    const auto r1 = run(first, 2, {});
    CHECK(r1.epochs_done == 2);
    Net second(2);  // other weights: the resume must replace them
    const auto r2 = run(second, 3, dir / "last.safetensors");
    CHECK(r2.epochs_done == 3);
    std::vector<tensor<float>> w;
    second.visit_parameters([&](std::string_view, auto& v, auto&) { w.push_back(to_host(v)); });
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return w;
}
}  // namespace

TEST_CASE("the trainer trains, validates, checkpoints and resumes a device network as it does a CPU one") {
    const auto base = std::filesystem::temp_directory_path() / "unetpp_fake_device_trainer";
    const auto cpu = train_two_then_resume<presets::unet_bn<4, 2>>(base / "cpu");
    const auto dev = train_two_then_resume<presets::unet_bn<4, 2, 1, 1, fake>>(base / "fake");
    CHECK(bit_equal(cpu, dev));
}

template <class X>
concept host_readable = requires(X& x) { x[0]; } || requires(X& x) { x.begin(); } || requires(X& x) { *x.data(); } ||
                        requires(X& x) { x.data()[0]; } || requires(X& x) { x.span(); };

TEST_CASE("the fake device is not host memory") {
    tensor<float, test::fake_device_memory> t(shape4{1, 1, 2, 2}, 1.5f);
    static_assert(!decltype(t)::host_accessible);
    static_assert(!host_readable<decltype(t)>);
    static_assert(host_readable<tensor<float>>);
    const tensor<float> h = to_host(t);
    CHECK(h[3] == 1.5f);
}
