// Parity of unetpp's fast CPU kernels (backend::cpu, float) with PyTorch: every layer family
// and three whole U-Nets, forward and backward, compared tensor by tensor (output, input
// gradient, every parameter gradient, batch-norm running statistics after the forward).
//
// Each case writes a safetensors file, runs tests/parity/torch_parity.py with /usr/bin/python3
// and compares torch's float32 results with unetpp's (see parity_harness.hpp for the rule and
// the messages). Without PyTorch every test case skips (exit 77; a failure under CI=true).
//
// Tolerances (float32 on both sides; criterion max abs err <= atol + rtol * max |torch|):
//   single layers     rtol 1e-4, atol 1e-6: a few float32 roundings of sums of at most a few
//                     hundred terms, summed in a different order than torch does.
//   whole networks    rtol 2e-4, atol 1e-6: eleven to fifteen convolutions and, in training
//                     mode, batch norms whose backward divides by the batch standard deviation
//                     amplify the per-layer rounding differences (observed worst: 7e-6).
//   zero gradients    tensors that are zero in exact arithmetic are checked against
//                     1e-5 x the largest value in the case instead (parity_harness.hpp).

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <unetpp/unet.hpp>

#include "../support/conv_algo.hpp"
#include "parity_harness.hpp"

using namespace unetpp;
using parity::config;
using parity::run_layer_case;
using parity::tolerance;

namespace {

constexpr tolerance layer_tol{1e-4, 1e-6};
constexpr tolerance net_tol{2e-4, 1e-6};

const char* pad_name(padding p) {
    return p == padding::valid ? "valid" : p == padding::same ? "same" : "reflect";
}
std::string flag(bool b) { return b ? "1" : "0"; }

template <conv2d_cfg C>
void conv2d_case(const std::string& name, shape4 in, std::uint64_t seed = 1) {
    conv2d<C, backend::cpu, float> l;
    run_layer_case("conv2d/" + name,
                   config{{"module", "conv2d"},
                          {"in", std::to_string(C.in)},
                          {"out", std::to_string(C.out)},
                          {"kernel", std::to_string(C.kernel)},
                          {"stride", std::to_string(C.stride)},
                          {"pad", pad_name(C.pad)},
                          {"bias", flag(C.bias)}},
                   l, in, layer_tol, {.seed = seed});
}

template <conv_transpose2d_cfg C>
void conv_transpose2d_case(const std::string& name, shape4 in) {
    conv_transpose2d<C, backend::cpu, float> l;
    run_layer_case("conv_transpose2d/" + name,
                   config{{"module", "conv_transpose2d"},
                          {"in", std::to_string(C.in)},
                          {"out", std::to_string(C.out)},
                          {"kernel", std::to_string(C.kernel)},
                          {"stride", std::to_string(C.stride)},
                          {"padding", std::to_string(C.padding)},
                          {"bias", flag(C.bias)}},
                   l, in, layer_tol);
}

template <depthwise_conv2d_cfg C>
void depthwise_case(const std::string& name, shape4 in) {
    depthwise_conv2d<C, backend::cpu, float> l;
    run_layer_case("depthwise_conv2d/" + name,
                   config{{"module", "depthwise_conv2d"},
                          {"channels", std::to_string(C.channels)},
                          {"kernel", std::to_string(C.kernel)},
                          {"stride", std::to_string(C.stride)},
                          {"pad", pad_name(C.pad)},
                          {"bias", flag(C.bias)}},
                   l, in, layer_tol);
}

template <separable_conv2d_cfg C>
void separable_case(const std::string& name, shape4 in) {
    separable_conv2d<C, backend::cpu, float> l;
    run_layer_case("separable_conv2d/" + name,
                   config{{"module", "separable_conv2d"},
                          {"in", std::to_string(C.in)},
                          {"out", std::to_string(C.out)},
                          {"kernel", std::to_string(C.kernel)},
                          {"pad", pad_name(C.pad)},
                          {"bias", flag(C.bias)}},
                   l, in, layer_tol);
}

template <batch_norm2d_cfg C>
void batch_norm_case(const std::string& name, shape4 in, bool train) {
    batch_norm2d<C, backend::cpu, float> l;
    run_layer_case("batch_norm2d/" + name,
                   config{{"module", "batch_norm2d"},
                          {"channels", std::to_string(C.channels)},
                          {"momentum", std::to_string(C.momentum)},
                          {"eps", std::to_string(C.eps)}},
                   l, in, layer_tol, {.train = train, .x_scale = 2.0, .x_shift = 0.5});
}

/// flatten followed by dense, with dense's parameter names (torch: Linear on x.flatten(1)).
template <int In, int Out, bool Bias>
struct flatten_dense {
    flatten<backend::cpu, float> f;
    dense<dense_cfg{.in = In, .out = Out, .bias = Bias}, backend::cpu, float> d;

    void init(rng& r) { d.init(r); }
    void train(bool on) {
        f.train(on);
        d.train(on);
    }
    const tensor<float>& forward(const tensor<float>& x) { return d.forward(f.forward(x)); }
    const tensor<float>& backward(const tensor<float>& x, const tensor<float>& dy) {
        return f.backward(x, d.backward(f.output(), dy));
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& fn) {
        d.visit_parameters(prefix, fn);
    }
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
};

template <unet_cfg C>
void unet_case(const std::string& name, shape4 in, bool train, std::vector<std::string> expect_zero = {}) {
    unet<C, backend::cpu, float> net(42);
    net.need_input_grad(true);  // compare the image gradient too
    run_layer_case("unet/" + name,
                   config{{"module", "unet"},
                          {"in_channels", std::to_string(C.in_channels)},
                          {"classes", std::to_string(C.classes)},
                          {"base", std::to_string(C.base)},
                          {"depth", std::to_string(C.depth)},
                          {"kernel", std::to_string(C.kernel)},
                          {"pad", pad_name(C.pad)},
                          {"norm", C.norm == norm_kind::batch ? "batch" : "none"},
                          {"up", C.up == up_mode::transposed ? "transposed" : "bilinear"}},
                   net, in, net_tol, {.train = train, .seed = 7, .expect_zero = std::move(expect_zero)});
}

}  // namespace

TEST_CASE("parity conv2d") {
    if (parity::skip_without_torch()) return;
    SUBCASE("k3 same 3->5 bias") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 3, .pad = padding::same}>("k3_same_3to5", {2, 3, 13, 17});
    }
    SUBCASE("k3 same 16->32 no bias") {
        conv2d_case<conv2d_cfg{.in = 16, .out = 32, .kernel = 3, .pad = padding::same, .bias = false}>(
            "k3_same_16to32_nobias", {2, 16, 13, 17});
    }
    SUBCASE("k3 same 3->7 wide rows") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 7, .kernel = 3, .pad = padding::same}>("k3_same_3to7_wide", {2, 3, 9, 70});
    }
    SUBCASE("k3 valid 3->5 bias") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 3, .pad = padding::valid}>("k3_valid_3to5", {2, 3, 13, 17});
    }
    SUBCASE("k3 valid 16->32 no bias") {
        conv2d_case<conv2d_cfg{.in = 16, .out = 32, .kernel = 3, .pad = padding::valid, .bias = false}>(
            "k3_valid_16to32_nobias", {2, 16, 13, 17});
    }
    SUBCASE("k3 reflect 3->5") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 3, .pad = padding::reflect}>("k3_reflect_3to5",
                                                                                          {2, 3, 13, 17});
    }
    SUBCASE("k3 reflect 16->32") {
        conv2d_case<conv2d_cfg{.in = 16, .out = 32, .kernel = 3, .pad = padding::reflect}>("k3_reflect_16to32",
                                                                                            {2, 16, 13, 17});
    }
    SUBCASE("k5 same 3->5") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 5, .pad = padding::same}>("k5_same_3to5", {2, 3, 13, 17});
    }
    SUBCASE("k5 reflect 16->32 no bias") {
        conv2d_case<conv2d_cfg{.in = 16, .out = 32, .kernel = 5, .pad = padding::reflect, .bias = false}>(
            "k5_reflect_16to32_nobias", {2, 16, 13, 17});
    }
    SUBCASE("k3 stride 2 same 3->5") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 3, .stride = 2, .pad = padding::same}>("k3_s2_same_3to5",
                                                                                                   {2, 3, 13, 17});
    }
    SUBCASE("k3 stride 2 reflect 3->5") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 3, .stride = 2, .pad = padding::reflect}>(
            "k3_s2_reflect_3to5", {2, 3, 13, 17});
    }
    SUBCASE("k3 stride 2 same 16->32") {
        conv2d_case<conv2d_cfg{.in = 16, .out = 32, .kernel = 3, .stride = 2, .pad = padding::same}>(
            "k3_s2_same_16to32", {2, 16, 13, 17});
    }
    SUBCASE("k1 valid 3->5") {
        conv2d_case<conv2d_cfg{.in = 3, .out = 5, .kernel = 1, .pad = padding::valid}>("k1_valid_3to5", {2, 3, 13, 17});
    }
    SUBCASE("k1 valid 16->32 no bias") {
        conv2d_case<conv2d_cfg{.in = 16, .out = 32, .kernel = 1, .pad = padding::valid, .bias = false}>(
            "k1_valid_16to32_nobias", {2, 16, 13, 17});
    }
}

TEST_CASE("parity conv_transpose2d") {
    if (parity::skip_without_torch()) return;
    SUBCASE("k2 s2 p0") {
        conv_transpose2d_case<conv_transpose2d_cfg{.in = 16, .out = 8, .kernel = 2, .stride = 2, .padding = 0}>(
            "k2_s2_p0_16to8", {2, 16, 7, 9});
    }
    SUBCASE("k2 s2 p0 no bias") {
        conv_transpose2d_case<conv_transpose2d_cfg{.in = 3, .out = 5, .kernel = 2, .stride = 2, .padding = 0, .bias = false}>(
            "k2_s2_p0_3to5_nobias", {2, 3, 7, 9});
    }
    SUBCASE("k3 s2 p1") {
        conv_transpose2d_case<conv_transpose2d_cfg{.in = 6, .out = 4, .kernel = 3, .stride = 2, .padding = 1}>(
            "k3_s2_p1_6to4", {2, 6, 7, 9});
    }
    SUBCASE("k4 s2 p1") {
        conv_transpose2d_case<conv_transpose2d_cfg{.in = 5, .out = 3, .kernel = 4, .stride = 2, .padding = 1}>(
            "k4_s2_p1_5to3", {2, 5, 7, 9});
    }
}

TEST_CASE("parity max_pool2d") {
    if (parity::skip_without_torch()) return;
    SUBCASE("window 2 stride 2") {
        max_pool2d<max_pool2d_cfg{.window = 2, .stride = 2}, backend::cpu, float> l;
        run_layer_case("max_pool2d/w2_s2", config{{"module", "max_pool2d"}, {"window", "2"}, {"stride", "2"}}, l,
                       {2, 3, 13, 17}, layer_tol);
    }
    SUBCASE("window 3 stride 2 (overlapping)") {
        max_pool2d<max_pool2d_cfg{.window = 3, .stride = 2}, backend::cpu, float> l;
        run_layer_case("max_pool2d/w3_s2", config{{"module", "max_pool2d"}, {"window", "3"}, {"stride", "2"}}, l,
                       {2, 3, 13, 17}, layer_tol);
    }
}

TEST_CASE("parity batch_norm2d") {
    if (parity::skip_without_torch()) return;
    SUBCASE("train") { batch_norm_case<batch_norm2d_cfg{.channels = 5}>("train", {4, 5, 7, 9}, true); }
    SUBCASE("train, momentum 0.3, eps 1e-3") {
        batch_norm_case<batch_norm2d_cfg{.channels = 3, .momentum = 0.3, .eps = 1e-3}>("train_m03_eps1e-3",
                                                                                          {2, 3, 5, 6}, true);
    }
    SUBCASE("eval") { batch_norm_case<batch_norm2d_cfg{.channels = 5}>("eval", {4, 5, 7, 9}, false); }
}

TEST_CASE("parity activations") {
    if (parity::skip_without_torch()) return;
    const shape4 in{2, 4, 13, 17};
    SUBCASE("relu") {
        relu<backend::cpu, float> l;
        run_layer_case("relu", config{{"module", "relu"}}, l, in, layer_tol);
    }
    SUBCASE("leaky_relu 0.01") {
        leaky_relu<0.01, backend::cpu, float> l;
        run_layer_case("leaky_relu/0.01", config{{"module", "leaky_relu"}, {"slope", "0.01"}}, l, in, layer_tol);
    }
    SUBCASE("leaky_relu 0.2") {
        leaky_relu<0.2, backend::cpu, float> l;
        run_layer_case("leaky_relu/0.2", config{{"module", "leaky_relu"}, {"slope", "0.2"}}, l, in, layer_tol);
    }
    SUBCASE("sigmoid") {
        sigmoid<backend::cpu, float> l;
        run_layer_case("sigmoid", config{{"module", "sigmoid"}}, l, in, layer_tol, {.x_scale = 4.0});
    }
    SUBCASE("softmax over channels") {
        softmax<backend::cpu, float> l;
        run_layer_case("softmax/channels", config{{"module", "softmax"}}, l, in, layer_tol, {.x_scale = 3.0});
    }
}

TEST_CASE("parity flatten + dense") {
    if (parity::skip_without_torch()) return;
    SUBCASE("4x5x6 -> 7 with bias") {
        flatten_dense<4 * 5 * 6, 7, true> l;
        run_layer_case("flatten_dense/120to7",
                       config{{"module", "flatten_dense"}, {"in", "120"}, {"out", "7"}, {"bias", "1"}}, l, {3, 4, 5, 6},
                       layer_tol);
    }
    SUBCASE("33 -> 18 without bias") {
        flatten_dense<33, 18, false> l;
        run_layer_case("flatten_dense/33to18_nobias",
                       config{{"module", "flatten_dense"}, {"in", "33"}, {"out", "18"}, {"bias", "0"}}, l, {5, 33, 1, 1},
                       layer_tol);
    }
}

TEST_CASE("parity global_avg_pool") {
    if (parity::skip_without_torch()) return;
    global_avg_pool<backend::cpu, float> l;
    run_layer_case("global_avg_pool", config{{"module", "global_avg_pool"}}, l, {2, 5, 13, 17}, layer_tol);
}

TEST_CASE("parity upsample_bilinear2x") {
    if (parity::skip_without_torch()) return;
    SUBCASE("13x17") {
        upsample_bilinear2x<backend::cpu, float> l;
        run_layer_case("upsample_bilinear2x/13x17", config{{"module", "upsample_bilinear2x"}}, l, {2, 3, 13, 17},
                       layer_tol);
    }
    SUBCASE("1x5 (single row)") {
        upsample_bilinear2x<backend::cpu, float> l;
        run_layer_case("upsample_bilinear2x/1x5", config{{"module", "upsample_bilinear2x"}}, l, {2, 2, 1, 5},
                       layer_tol);
    }
}

TEST_CASE("parity depthwise_conv2d") {
    if (parity::skip_without_torch()) return;
    SUBCASE("k3 same") {
        depthwise_case<depthwise_conv2d_cfg{.channels = 6, .kernel = 3, .pad = padding::same}>("k3_same", {2, 6, 13, 17});
    }
    SUBCASE("k3 same with bias") {
        depthwise_case<depthwise_conv2d_cfg{.channels = 6, .kernel = 3, .pad = padding::same, .bias = true}>(
            "k3_same_bias", {2, 6, 13, 17});
    }
    SUBCASE("k5 reflect") {
        depthwise_case<depthwise_conv2d_cfg{.channels = 4, .kernel = 5, .pad = padding::reflect}>("k5_reflect",
                                                                                                 {2, 4, 13, 17});
    }
    SUBCASE("k3 stride 2 same") {
        depthwise_case<depthwise_conv2d_cfg{.channels = 4, .kernel = 3, .stride = 2, .pad = padding::same}>(
            "k3_s2_same", {2, 4, 13, 17});
    }
}

TEST_CASE("parity separable_conv2d") {
    if (parity::skip_without_torch()) return;
    SUBCASE("k3 same 6->10") {
        separable_case<separable_conv2d_cfg{.in = 6, .out = 10, .kernel = 3, .pad = padding::same}>("k3_same_6to10",
                                                                                                    {2, 6, 13, 17});
    }
    SUBCASE("k3 valid 4->8 no bias") {
        separable_case<separable_conv2d_cfg{.in = 4, .out = 8, .kernel = 3, .pad = padding::valid, .bias = false}>(
            "k3_valid_4to8_nobias", {2, 4, 13, 17});
    }
}

TEST_CASE("parity concat_skip with crop") {
    if (parity::skip_without_torch()) return;
    // a is centre-cropped to b's size; odd margins (13 - 8, 17 - 10) check the rounding.
    const auto run = [](const std::string& name, shape4 as, shape4 bs) {
        concat_channels<true, backend::cpu, float> l;
        rng r(3);
        tensor<float> a(as), b(bs);
        parity::fill_normal(a, r);
        parity::fill_normal(b, r);
        parity::parity_case c("concat_skip/" + name, config{{"module", "crop_concat"}, {"train", "1"}});
        c.add_input("x", a);
        c.add_input("x2", b);
        const tensor<float> y = l.forward(a, b);
        tensor<float> dy(y.shape());
        parity::fill_normal(dy, r);
        c.add_input("dy", dy);
        c.add_result("y", y);
        const auto [da, db] = l.backward(dy);
        c.add_result("dx", da);
        c.add_result("dx2", db);
        c.run_and_compare(layer_tol);
    };
    SUBCASE("odd margins") { run("crop_13x17_to_8x10", {2, 4, 13, 17}, {2, 3, 8, 10}); }
    SUBCASE("even margins") { run("crop_12x16_to_8x10", {2, 5, 12, 16}, {2, 5, 8, 10}); }
    SUBCASE("no crop needed") { run("crop_equal_sizes", {2, 3, 8, 10}, {2, 2, 8, 10}); }
}

TEST_CASE("parity unet") {
    if (parity::skip_without_torch()) return;
    constexpr unet_cfg bn_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3};
    static_assert(std::is_same_v<unet<bn_cfg>, presets::unet_bn<8, 3>>);
    SUBCASE("unet_bn base 8 depth 3, train") {
        // Training mode on the direct kernels. In training mode batch norm divides by each
        // channel's batch standard deviation and couples all pixels of a channel, so on the small
        // deep maps Winograd's 1e-5 rounding (forward within 3.5e-5 of the direct kernels here)
        // moves gradients by up to ~1e-3 of their largest value, beyond this tolerance, although
        // every layer is within 1e-5 (test_winograd.cpp checks Winograd against the reference on
        // every preset geometry, and whole networks in evaluation mode). The eval case below runs
        // Winograd against PyTorch.
        const test::conv_algo_scope direct(backend::cpu_kernels::conv_algo::direct);
        unet_case<bn_cfg>("bn_base8_depth3_train", {2, 1, 64, 64}, true);
    }
    SUBCASE("unet_bn base 8 depth 3, eval") { unet_case<bn_cfg>("bn_base8_depth3_eval", {2, 1, 64, 64}, false); }
    SUBCASE("bilinear up, reflect padding, train") {
        constexpr unet_cfg c{.in_channels = 3, .classes = 2, .base = 4, .depth = 2, .pad = padding::reflect,
                             .up = up_mode::bilinear};
        // The bias of each up-path 1x1 conv adds a constant per channel; reflect padding keeps it
        // constant through the next conv, and that conv's training-mode batch norm subtracts it
        // again. Its gradient is therefore exactly zero (float64 torch: ~1e-13); both float32
        // sides return cancellation noise around 1e-5.
        unet_case<c>("bilinear_reflect_base4_depth2_train", {2, 3, 32, 48}, true,
                     {"grad.up1.conv.bias", "grad.up2.conv.bias"});
    }
    SUBCASE("unpadded, no batch norm (Ronneberger-style), train") {
        constexpr unet_cfg c{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                             .norm = norm_kind::none};
        using net_t = unet<c>;
        constexpr int side = net_t::next_valid_size(60);
        static_assert(side > 0 && net_t::output_size(side).has_value());
        unet_case<c>("valid_nobn_base4_depth2_train", {2, 1, side, side}, true);
    }
}
