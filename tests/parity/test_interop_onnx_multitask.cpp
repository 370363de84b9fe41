// ONNX export of the residual multi-task U-Net (<unetpp/io/onnx_multitask.hpp>) checked with the
// real tools: every exported model passes onnx.checker.check_model(full_check=True) and
// onnxruntime reproduces both of unetpp's eval-mode outputs (segmentation and classification)
// on the same input, for
//   - presets::residual_multitask_unet<16> (base 16, depth 4, batch norm, dropout 0.1; 16 is the
//     smallest image size a depth-4 body takes): BN folded, logits; and BN emitted, sigmoid on
//     both heads
//   - a reflect-padded multitask_unet (base 4, depth 2, two segmentation classes, 8x8 images)
//     with a softmax segmentation head
// Batch-norm scales, shifts and running statistics are set to seeded random values first
// (parity::randomize) so that folding is exercised with non-default statistics.
// Tolerance, per output: max abs err <= 1e-4 * max|unetpp| + 1e-5. Skips (exit 77; a failure
// under CI=true) when the test venv of scripts/install_deps.sh has no onnx and onnxruntime. The
// option-error case needs no Python; when it fails the executable fails, skip or not.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <unetpp/io/onnx_multitask.hpp>
#include <unetpp/io/safetensors.hpp>
#include <unetpp/unet.hpp>

#include "../interop/interop_support.hpp"

namespace {

using namespace unetpp;

constexpr double tol_rel = 1e-4;
constexpr double tol_abs = 1e-5;

/// Runs onnx_check.py on `model` with input x; compares the graph outputs "segmentation" and
/// "classification" with unetpp's.
bool check_both_heads(const std::string& what, const std::filesystem::path& dir, const std::string& model,
                      const tensor<float>& x, const tensor<float>& seg, const tensor<float>& cls) {
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
    REQUIRE(out.contains("segmentation"));
    REQUIRE(out.contains("classification"));
    const auto ys = out.get<float>("segmentation");
    const auto yc = out.get<float>("classification");
    CHECK(ys.shape() == seg.shape());
    // ONNX gives [N, 1] (Gemm), unetpp [N, 1, 1, 1]: the same values.
    CHECK(yc.shape().size() == cls.shape().size());
    bool ok = interop::compare(what + " segmentation: onnxruntime vs unetpp", ys, seg, tol_rel, tol_abs);
    ok = interop::compare(what + " classification: onnxruntime vs unetpp", yc, cls, tol_rel, tol_abs) && ok;
    return ok;
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

TEST_CASE("ONNX: residual multitask U-Net (two outputs) matches onnxruntime") {
    if (interop::skip_without_onnxruntime()) return;
    const auto dir = interop::case_dir("onnx_multitask");
    using net_t = presets::residual_multitask_unet<16>;
    net_t net(4);
    rng r(21);
    parity::randomize(net, r);
    net.eval();

    const auto x = random_input(shape4{3, 1, 16, 16}, 17);
    const auto out = net.forward(x);
    const tensor<float> seg = out.segmentation.values();
    const tensor<float> cls = out.classification.values();

    const auto path = (dir / "residual_multitask.onnx").string();
    io::export_onnx(net, path, io::onnx_multitask_options{});
    bool ok = check_both_heads("multitask_folded_logits", dir, path, x, seg, cls);

    const auto path2 = (dir / "residual_multitask_sigmoid.onnx").string();
    io::export_onnx(net, path2,
                    io::onnx_multitask_options{.segmentation_activation = io::onnx_activation::sigmoid,
                                               .classification_activation = io::onnx_activation::sigmoid,
                                               .fold_batch_norm = false});
    ok = check_both_heads("multitask_unfolded_sigmoid", dir, path2, x, sigmoid_of(seg), sigmoid_of(cls)) && ok;
    if (ok) interop::remove_case_dir(dir);
}

TEST_CASE("ONNX: reflect-padded multitask U-Net with a softmax segmentation head matches onnxruntime") {
    if (interop::skip_without_onnxruntime()) return;
    const auto dir = interop::case_dir("onnx_multitask_reflect");
    constexpr unet_cfg c{.in_channels = 2, .classes = 2, .base = 4, .depth = 2, .kernel = 3, .pad = padding::reflect,
                         .norm = norm_kind::batch, .dropout = 0.2};
    using net_t = multitask_unet<c, 8, 5>;
    net_t net(6);
    rng r(22);
    parity::randomize(net, r);
    net.eval();

    const auto x = random_input(shape4{2, 2, 8, 8}, 19);
    const auto out = net.forward(x);
    const tensor<float> seg = out.segmentation.values();
    const tensor<float> cls = out.classification.values();

    const auto path = (dir / "multitask_reflect.onnx").string();
    io::export_onnx(net, path, io::onnx_multitask_options{.segmentation_activation = io::onnx_activation::softmax});
    const bool ok = check_both_heads("multitask_reflect_softmax", dir, path, x, softmax_channels(seg), cls);
    if (ok) interop::remove_case_dir(dir);
}

TEST_CASE("ONNX multitask export: option errors") {
    presets::residual_multitask_unet<16> net(1);
    CHECK_THROWS_AS(io::to_onnx(net, io::onnx_multitask_options{.classification_activation = io::onnx_activation::softmax}),
                    std::invalid_argument);
    CHECK_THROWS_AS(io::to_onnx(net, io::onnx_multitask_options{.segmentation_name = "input"}), std::invalid_argument);
    CHECK_THROWS_AS(io::to_onnx(net, io::onnx_multitask_options{.classification_name = ""}), std::invalid_argument);
}
