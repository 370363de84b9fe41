// The CUDA backend (label cuda, built only with UNETPP_WITH_CUDA=ON, linked with unetpp::cuda).
//
// Compiling and linking this file proves that every preset instantiates on backend::cuda:
// forward, backward, zero_grad, clipping, Adam and SGD steps, weight save and load, inference
// and tiled inference (the explicit instantiations of tests/support/exercise_network.hpp's
// exercise below, the same list as the fake-device test's). That needs no GPU.
//
// Running it needs one: without a usable device every case exits 77 with
// "[unetpp-skip] no CUDA device: <cudaGetDeviceCount's error>". With one, small configurations of
// every model template train a step on backend::cuda and backend::cpu from the same seed and must
// agree (cuDNN's and cuBLAS's sums run in another order than the CPU's, so to 1e-3 of each
// tensor's largest magnitude, TF32 off), and a training loop must make no cudaMalloc after its
// first step. Weight files move between the backends unchanged.

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unetpp/backend/cuda.hpp>
#include <unetpp/infer.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/optim.hpp>
#include <unetpp/unet.hpp>

#include "../../support/exercise_network.hpp"
#include "../../support/cuda_test.hpp"

using namespace unetpp;
using namespace network_exercise;
using gpu = backend::cuda;

static_assert(backend::Backend<gpu>);
static_assert(!backend::host_backend<gpu>);

// Every preset on the CUDA backend. A host access or a missing operation anywhere fails this build.
template network_exercise::step_record network_exercise::exercise(presets::ronneberger2015_t<gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_bn<64, 4, 1, 1, gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_cbr<64, 4, 1, 1, gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::bcir_unet_t<gpu>&, const tensor<float>&,
                                                                  const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::attention_unet_t<gpu>&, const tensor<float>&,
                                                                  const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::residual_multitask_unet<256, gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_plusplus<32, 4, 1, 1, gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::unet_plusplus_ds<32, 4, 1, 1, gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);
template network_exercise::step_record network_exercise::exercise(presets::busi_stage_classifier<gpu>&,
                                                                  const tensor<float>&, const std::filesystem::path&);

namespace {

void check_close(const std::vector<tensor<float>>& a, const std::vector<tensor<float>>& b, const char* what) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CAPTURE(what);
        CAPTURE(i);
        CHECK(test::relative_gap(a[i], b[i]) <= 1e-3);
    }
}

tensor<float> input(shape4 s) {
    tensor<float> x(s);
    rng r(11);
    for (auto& v : x) v = static_cast<float>(r.uniform(-1, 1));
    return x;
}

/// NetCpu and NetGpu (one network on the two backends) from one seed: one training step, a
/// save/load and inference each; the records must agree.
template <class NetCpu, class NetGpu, class... Args>
void check_same(const std::string& name, shape4 in, Args&&... args) {
    CAPTURE(name);
    NetCpu a(args...);
    NetGpu b(args...);
    const tensor<float> x = input(in);
    const auto dir = std::filesystem::temp_directory_path();
    const step_record ra = exercise(a, x, dir / ("unetpp_cuda_" + name + "_cpu.safetensors"));
    const step_record rb = exercise(b, x, dir / ("unetpp_cuda_" + name + "_gpu.safetensors"));
    check_close({ra.train_output, ra.infer_output, ra.tiled}, {rb.train_output, rb.infer_output, rb.tiled}, "outputs");
    check_close(ra.parameters, rb.parameters, "parameters");
    check_close(ra.gradients, rb.gradients, "gradients");
    check_close(ra.buffers, rb.buffers, "buffers");
    CHECK(!ra.parameters.empty());
}

constexpr unet_cfg small_valid{.in_channels = 1,
                               .classes = 2,
                               .base = 4,
                               .depth = 2,
                               .pad = padding::valid,
                               .norm = norm_kind::none,
                               .dropout = 0.3};
constexpr unet_cfg small_reflect{.in_channels = 2, .classes = 1, .base = 4, .depth = 2, .pad = padding::reflect};
constexpr unet_cfg small_dropout{.in_channels = 1, .classes = 1, .base = 4, .depth = 2, .dropout = 0.1};
constexpr classifier_cfg small_classifier{.in_channels = 1, .base = 4, .depth = 2, .hidden = 8};

}  // namespace

TEST_CASE("unet on backend::cuda computes what it computes on backend::cpu") {
    if (test::no_cuda_device()) return;
    check_same<presets::unet_bn<4, 2>, presets::unet_bn<4, 2, 1, 1, gpu>>("unet_bn", shape4{2, 1, 16, 16}, 3u);
    check_same<unet<small_valid>, unet<small_valid, gpu>>("valid", shape4{2, 1, 44, 44}, 3u);
    check_same<unet<small_reflect>, unet<small_reflect, gpu>>("reflect", shape4{1, 2, 20, 20}, 3u);
}

TEST_CASE("the attention, B-Cir, multi-task and nested U-Nets and the classifier on backend::cuda") {
    if (test::no_cuda_device()) return;
    check_same<unet<small_reflect, backend::cpu, float, attention_policies<>>,
               unet<small_reflect, gpu, float, attention_policies<>>>("attention", shape4{1, 2, 16, 16}, 3u);
    check_same<unet<small_dropout, backend::cpu, float, bcir_policies<>>,
               unet<small_dropout, gpu, float, bcir_policies<>>>("bcir", shape4{2, 1, 16, 16}, 3u);
    check_same<multitask_unet<small_dropout, 16, 8>, multitask_unet<small_dropout, 16, 8, gpu>>(
        "multitask", shape4{2, 1, 16, 16}, 3u);
    check_same<presets::unet_plusplus_ds<4, 2>, presets::unet_plusplus_ds<4, 2, 1, 1, gpu>>("nested_ds",
                                                                                            shape4{2, 1, 16, 16}, 3u);
    check_same<encoder_classifier<small_classifier>, encoder_classifier<small_classifier, gpu>>(
        "classifier", shape4{2, 1, 16, 16}, 3u);
}

TEST_CASE("a training step on backend::cuda makes no cudaMalloc after warm-up") {
    if (test::no_cuda_device()) return;
    presets::unet_bn<8, 3, 1, 1, gpu> net(5);
    tensor<float, memory::cuda_device> x, dy;
    x.assign(input(shape4{2, 1, 32, 32}));
    dy.assign(tensor<float>(shape4{2, 1, 32, 32}, 0.25f));
    optim::adam opt(net, {.lr = 1e-3});
    const auto step = [&] {
        net.train(true);
        net.zero_grad();
        (void)net.forward(x);
        net.backward(x, dy);
        (void)optim::clip_grad_norm(net, 1.0);
        opt.step();
    };
    step();  // warm-up: activations, gradients, optimiser state, cuDNN plans, scratch
    step();
    const auto before = cuda_runtime::device_allocator::stats();
    const auto plans_before = cuda_runtime::context::current().plans_built();
    for (int i = 0; i < 3; ++i) step();
    const auto after = cuda_runtime::device_allocator::stats();
    CHECK(after.device_allocations == before.device_allocations);
    CHECK(after.bytes_reserved == before.bytes_reserved);
    CHECK(cuda_runtime::context::current().plans_built() == plans_before);
    CHECK(std::isfinite(optim::grad_norm(net)));
}

TEST_CASE("weights written by a backend::cuda network load into a backend::cpu one, and back") {
    if (test::no_cuda_device()) return;
    const auto file = std::filesystem::temp_directory_path() / "unetpp_cuda_to_cpu.safetensors";
    presets::unet_bn<4, 2, 1, 1, gpu> trained(5);
    tensor<float, memory::cuda_device> x;
    x.assign(input(shape4{2, 1, 16, 16}));
    trained.train(true);
    (void)trained.forward(x);  // moves the batch-norm running statistics
    io::save_weights(trained, file);
    presets::unet_bn<4, 2> deployed(9);
    io::load_weights(deployed, file);
    std::vector<tensor<float>> a, b;
    trained.visit_parameters([&](std::string_view, auto& v, auto&) { a.push_back(to_host(v)); });
    trained.visit_buffers([&](std::string_view, auto& v) { a.push_back(to_host(v)); });
    deployed.visit_parameters([&](std::string_view, auto& v, auto&) { b.push_back(v); });
    deployed.visit_buffers([&](std::string_view, auto& v) { b.push_back(v); });
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(test::relative_gap(a[i], b[i]) == 0);
    presets::unet_bn<4, 2, 1, 1, gpu> back(11);
    io::load_weights(back, file);
    trained.eval();
    back.eval();
    CHECK(test::relative_gap(to_host(trained.forward(x)), to_host(back.forward(x))) == 0);
    std::error_code ec;
    std::filesystem::remove(file, ec);
}
