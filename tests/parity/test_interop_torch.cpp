// Weights between PyTorch and unetpp through safetensors and tools/unetpp_export_torch.py:
//   1. a U-Net trained a few Adam steps in PyTorch, converted with the tool and loaded into
//      unetpp, gives PyTorch's eval-mode outputs;
//   2. a U-Net trained a few steps in unetpp (optim::adam, losses::bce_with_logits), saved with
//      io::save_weights and loaded into PyTorch with the tool, gives unetpp's eval-mode outputs.
// Tolerance: max abs err <= 1e-4 * max|reference| + 1e-5 (float32 on both sides, different
// summation orders). Skips when /usr/bin/python3 has no torch.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

#include "../interop/interop_support.hpp"

namespace {

using namespace unetpp;
using net_t = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3}>;

constexpr double tol_rel = 1e-4;
constexpr double tol_abs = 1e-5;

bool run_roundtrip(const std::filesystem::path& dir, const char* mode) {
    const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/interop/torch_roundtrip.sh";
    const auto log = dir / "log.txt";
    const bool ok = interop::run_command("sh " + interop::shell_quote(script) + " " +
                                             interop::shell_quote(UNETPP_SOURCE_DIR) + " " +
                                             interop::shell_quote(dir.string()) + " " + mode,
                                         log);
    if (!ok) FAIL_CHECK("torch_roundtrip.sh " << mode << " failed:\n" << interop::read_text(log));
    else MESSAGE(interop::read_text(log));
    return ok;
}

}  // namespace

TEST_CASE("PyTorch-trained U-Net -> tool -> unetpp reproduces PyTorch's eval outputs") {
    if (parity::skip_without_torch()) return;
    const auto dir = interop::case_dir("torch_to_unetpp");
    if (!run_roundtrip(dir, "torch-to-unetpp")) return;

    net_t net;
    io::load_weights(net, dir / "model.safetensors");
    const auto ref = io::safetensors_file::load(dir / "reference.safetensors");
    const auto x = ref.get<float>("x");
    const auto y_torch = ref.get<float>("y");
    net.eval();
    const auto& y = net.forward(x);
    const bool ok = interop::compare("torch -> unetpp eval output", y, y_torch, tol_rel, tol_abs);

    // The trained batch norms really moved (otherwise the test would prove little).
    const auto f = io::safetensors_file::load(dir / "model.safetensors");
    CHECK(f.get<float>("enc1.bn1.num_batches_tracked")[0] == 5.0f);
    CHECK(f.get<float>("enc1.bn1.running_mean")[0] != 0.0f);
    if (ok) interop::remove_case_dir(dir);
}

TEST_CASE("unetpp-trained U-Net -> save_weights -> tool -> PyTorch reproduces unetpp's eval outputs") {
    if (parity::skip_without_torch()) return;
    const auto dir = interop::case_dir("unetpp_to_torch");

    net_t net(42);
    net.train();
    optim::adam opt(net, {.lr = 1e-2});
    losses::bce_with_logits loss;
    rng r(99);
    tensor<float> xb(shape4{4, 1, 32, 32}), tb(xb.shape()), g;
    for (int step = 0; step < 5; ++step) {
        for (auto& v : xb) v = static_cast<float>(r.normal());
        for (auto& v : tb) v = r.uniform() > 0.5 ? 1.0f : 0.0f;
        net.zero_grad();
        const auto& logits = net.forward(xb);
        loss(logits, tb, &g);
        net.backward(xb, g);
        opt.step();
    }
    tensor<float> x(shape4{2, 1, 32, 32});
    for (auto& v : x) v = static_cast<float>(r.normal());
    net.eval();
    const tensor<float> y = net.forward(x);

    io::save_weights(net, dir / "model.safetensors");
    io::safetensors_writer in;
    in.add("x", x);
    in.save(dir / "input.safetensors");
    if (!run_roundtrip(dir, "unetpp-to-torch")) return;

    const auto out = io::safetensors_file::load(dir / "torch_output.safetensors");
    const bool ok = interop::compare("unetpp -> torch eval output", y, out.get<float>("y"), tol_rel, tol_abs);
    if (ok) interop::remove_case_dir(dir);
}
