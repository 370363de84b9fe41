// ONNX export checked with the real tools: every exported model passes
// onnx.checker.check_model(full_check=True) and onnxruntime reproduces unetpp's eval-mode output
// on the same input, for
//   - a batch-norm U-Net (unet_bn style), BN folded, logits; and BN emitted, sigmoid, fixed size
//   - an unpadded, norm-free U-Net (Ronneberger style; centre-cropped skips), run at two input
//     sizes through one graph with symbolic H and W
//   - a reflect-padded U-Net with bilinear upsampling and a softmax head
// Each net is trained two Adam steps first so that batch-norm statistics are not the defaults.
// Tolerance: max abs err <= 1e-4 * max|unetpp| + 1e-5. Skips (exit 77; a failure under
// CI=true) when the test venv of scripts/install_deps.sh has no onnx and onnxruntime.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <unetpp/io/onnx.hpp>
#include <unetpp/io/safetensors.hpp>
#include <unetpp/unet.hpp>

#include "../interop/interop_support.hpp"

namespace {

using namespace unetpp;

constexpr double tol_rel = 1e-4;
constexpr double tol_abs = 1e-5;

template <class Net>
void train_two_steps(Net& net, int side) {
    net.train();
    optim::adam opt(net, {.lr = 1e-2});
    losses::bce_with_logits loss;
    rng r(5);
    tensor<float> x(shape4{2, Net::cfg.in_channels, side, side}), g;
    for (int step = 0; step < 2; ++step) {
        for (auto& v : x) v = static_cast<float>(r.normal());
        const auto& y = net.forward(x);
        tensor<float> t(y.shape());
        for (auto& v : t) v = r.uniform() > 0.5 ? 1.0f : 0.0f;
        net.zero_grad();
        loss(y, t, &g);
        net.backward(x, g);
        opt.step();
    }
    net.eval();
}

/// Exports nothing itself: runs onnx_check.py on `model` with input x and compares with `expected`.
bool check_with_onnxruntime(const std::string& what, const std::filesystem::path& dir, const std::string& model,
                            const tensor<float>& x, const tensor<float>& expected) {
    io::safetensors_writer in;
    in.add("x", x);
    const auto in_path = dir / (what + ".in.safetensors");
    const auto out_path = dir / (what + ".out.safetensors");
    in.save(in_path);
    const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/interop/onnx_check.py";
    const auto log = dir / (what + ".log");
    const bool ran = interop::run_command(interop::shell_quote(interop::onnx_python()) + " " +
                                              interop::shell_quote(script) + " " + interop::shell_quote(model) + " " +
                                              interop::shell_quote(in_path.string()) + " " +
                                              interop::shell_quote(out_path.string()),
                                          log);
    if (!ran) {
        FAIL_CHECK(what << ": onnx_check.py failed:\n" << interop::read_text(log));
        return false;
    }
    MESSAGE(what << ": " << interop::read_text(log));
    const auto out = io::safetensors_file::load(out_path);
    const auto y = out.get<float>("y");
    CHECK(y.shape() == expected.shape());
    return interop::compare(what + " onnxruntime vs unetpp", y, expected, tol_rel, tol_abs);
}

tensor<float> random_input(shape4 s, std::uint64_t seed) {
    tensor<float> x(s);
    rng r(seed);
    for (auto& v : x) v = static_cast<float>(r.normal());
    return x;
}

tensor<float> sigmoid_of(const tensor<float>& t) {
    tensor<float> y(t.shape());
    for (std::size_t i = 0; i < t.size(); ++i) y[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(t[i]))));
    return y;
}
tensor<float> softmax_channels(const tensor<float>& t) {
    const shape4 s = t.shape();
    tensor<float> y(s);
    const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
    for (int n = 0; n < s.n; ++n)
        for (std::size_t p = 0; p < plane; ++p) {
            const auto at = [&](int c) { return (static_cast<std::size_t>(n) * s.c + c) * plane + p; };
            double m = -INFINITY, sum = 0;
            for (int c = 0; c < s.c; ++c) m = std::max(m, double(t[at(c)]));
            for (int c = 0; c < s.c; ++c) sum += std::exp(double(t[at(c)]) - m);
            for (int c = 0; c < s.c; ++c) y[at(c)] = static_cast<float>(std::exp(double(t[at(c)]) - m) / sum);
        }
    return y;
}

}  // namespace

TEST_CASE("ONNX: batch-norm U-Net (folded and emitted BN) matches onnxruntime") {
    if (interop::skip_without_onnxruntime()) return;
    const auto dir = interop::case_dir("onnx_bn");
    using net_t = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3}>;
    net_t net(1);
    train_two_steps(net, 32);

    const auto x = random_input(shape4{2, 1, 32, 48}, 11);
    const tensor<float> logits = net.forward(x);

    const auto path = (dir / "unet_bn.onnx").string();
    io::export_onnx(net, path);
    bool ok = check_with_onnxruntime("unet_bn_folded", dir, path, x, logits);

    const auto path2 = (dir / "unet_bn_sigmoid.onnx").string();
    io::export_onnx(net, path2,
                    {.final_activation = io::onnx_activation::sigmoid, .fold_batch_norm = false, .height = 32, .width = 48});
    ok = check_with_onnxruntime("unet_bn_unfolded_sigmoid_fixed", dir, path2, x, sigmoid_of(logits)) && ok;
    if (ok) interop::remove_case_dir(dir);
}

TEST_CASE("ONNX: unpadded Ronneberger-style U-Net (centre crop) matches onnxruntime at two sizes") {
    if (interop::skip_without_onnxruntime()) return;
    const auto dir = interop::case_dir("onnx_valid");
    using net_t = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                                .norm = norm_kind::none}>;
    net_t net(2);
    const int s1 = net_t::next_valid_size(60), s2 = net_t::next_valid_size(s1 + 10);
    train_two_steps(net, s1);
    const auto path = (dir / "ronneberger_small.onnx").string();
    io::export_onnx(net, path);
    bool ok = true;
    for (int side : {s1, s2}) {
        const auto x = random_input(shape4{1, 1, side, side}, static_cast<std::uint64_t>(side));
        const tensor<float> y = net.forward(x);
        ok = check_with_onnxruntime("ronneberger_" + std::to_string(side), dir, path, x, y) && ok;
    }
    if (ok) interop::remove_case_dir(dir);
}

TEST_CASE("ONNX: reflect-padded bilinear U-Net with softmax matches onnxruntime") {
    if (interop::skip_without_onnxruntime()) return;
    const auto dir = interop::case_dir("onnx_reflect");
    using net_t = unet<unet_cfg{.in_channels = 3, .classes = 3, .base = 4, .depth = 2, .pad = padding::reflect,
                                .up = up_mode::bilinear}>;
    net_t net(3);
    train_two_steps(net, 16);
    const auto x = random_input(shape4{2, 3, 16, 24}, 13);
    const tensor<float> y = net.forward(x);
    const auto path = (dir / "reflect_bilinear.onnx").string();
    io::export_onnx(net, path, {.final_activation = io::onnx_activation::softmax});
    const bool ok = check_with_onnxruntime("reflect_bilinear_softmax", dir, path, x, softmax_channels(y));
    if (ok) interop::remove_case_dir(dir);
}
