// Architectures built from unet's policy slots: B-Cir U-Net (seed 003), the residual multi-task
// U-Net with typed heads (seed 002), the attention U-Net, and a user-written variant.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

#include "../../support/gradcheck.hpp"
#include "../../support/model_inspect.hpp"

using namespace unetpp;
using test::check_layer_gradients;
using R = backend::cpu_reference;
using test::counted_parameters;
using test::parameter_sizes;
using D = double;

namespace {

/// A multitask model seen as one layer (outputs laid end to end) for check_layer_gradients.
template <class M>
struct multitask_as_layer {
    using value_type = typename M::tensor_type::value_type;
    using tensor_type = typename M::tensor_type;
    M model;
    tensor_type y, dseg, dcls;
    explicit multitask_as_layer(std::uint64_t seed) : model(seed) {}
    void need_input_grad(bool on) { model.need_input_grad(on); }
    const tensor_type& forward(const tensor_type& x) {
        auto out = model.forward(x);
        const auto& s = out.segmentation.values();
        const auto& c = out.classification.values();
        y.resize(shape4{1, 1, 1, static_cast<int>(s.size() + c.size())});
        for (std::size_t i = 0; i < s.size(); ++i) y[i] = s[i];
        for (std::size_t i = 0; i < c.size(); ++i) y[s.size() + i] = c[i];
        seg_shape = s.shape();
        cls_shape = c.shape();
        return y;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        dseg.resize(seg_shape);
        dcls.resize(cls_shape);
        for (std::size_t i = 0; i < dseg.size(); ++i) dseg[i] = dy[i];
        for (std::size_t i = 0; i < dcls.size(); ++i) dcls[i] = dy[dseg.size() + i];
        return model.backward(x, dseg, dcls);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        model.visit_parameters(prefix, f);
    }
    shape4 seg_shape{}, cls_shape{};
};

}  // namespace

TEST_CASE("bcir_unet reproduces Table 1 of seed 003") {
    using net_t = presets::bcir_unet;
    CHECK(net_t::parameter_count == 1'274'289);
    CHECK(net_t::buffer_count == 2'432);
    CHECK(net_t::parameter_count + net_t::buffer_count == 1'276'721);
    net_t net(1);
    auto p = parameter_sizes(net);
    CHECK(counted_parameters(net) == net_t::parameter_count);
    // Rows of Table 1 (Keras name -> unetpp name: parameters).
    CHECK(p.at("enc1.conv.weight") + p.at("enc1.conv.bias") == 160);                 // conv2d_39
    CHECK(p.at("bottleneck.conv.weight") + p.at("bottleneck.conv.bias") == 295'168);  // conv2d_47
    CHECK(p.at("up4.weight") + p.at("up4.bias") == 295'040);                         // conv2d_transpose_8
    CHECK(p.at("skip4.path.sep1.depthwise.weight") + p.at("skip4.path.sep1.pointwise.weight") == 17'536);
    CHECK(p.at("skip1.path.sep4.depthwise.weight") + p.at("skip1.path.sep4.pointwise.weight") == 400);
    CHECK(p.count("skip1.path.sep1.pointwise.bias") == 0);  // no bias in the separable convolutions
    CHECK(p.at("dec4.conv.weight") + p.at("dec4.conv.bias") == 295'040);  // conv2d_49
    CHECK(p.at("head.weight") + p.at("head.bias") == 17);                 // conv2d_56
    std::size_t buffers = 0;
    net.visit_buffers([&](std::string_view name, auto& v) {
        if (name.ends_with("running_mean") || name.ends_with("running_var")) buffers += v.size();
    });
    CHECK(buffers == 2'432);
}

TEST_CASE("bcir_unet: shapes and the pieces of its skip path") {
    using tiny = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2, .dropout = 0.1}, R, float,
                      bcir_policies<>>;
    tiny net(3);
    tensor<float> x(shape4{2, 1, 16, 12});
    rng r(1);
    test::fill_normal(x, r);
    CHECK(net.forward(x).shape() == shape4{2, 1, 16, 12});
    CHECK_THROWS_AS(net.forward(tensor<float>(shape4{1, 1, 10, 12})), shape_error);

    // Keras "same" transposed convolution: exactly twice the size.
    using up_t = conv_transpose2d_same<conv_transpose2d_cfg{.in = 2, .out = 1, .kernel = 3, .stride = 2}, R, D>;
    CHECK(up_t::try_output_shape({1, 2, 5, 7}) == shape4{1, 1, 10, 14});
    // Stride-1 same max pool: y[i, j] = max of x[i..i+1, j..j+1], clipped at the border.
    max_pool2d_same<2, R, D> pool;
    tensor<D> t(shape4{1, 1, 2, 3}, {1, 5, 2, 4, 0, 3});
    const auto& y = pool.forward(t);
    CHECK(y[0] == 5);
    CHECK(y[1] == 5);
    CHECK(y[2] == 3);
    CHECK(y[3] == 4);
    CHECK(y[4] == 3);
    CHECK(y[5] == 3);
}

TEST_CASE("architectures: finite-difference gradients of whole networks (double, reference backend)") {
    test::gradcheck_opts o;
    o.max_checks_per_tensor = 5;
    // Biases in front of a training-mode batch norm have an exactly zero gradient; their finite
    // differences are rounding noise of the loss, so the absolute floor is raised above it.
    o.atol = 1e-6;
    SUBCASE("bcir layers") {
        conv_transpose2d_same<conv_transpose2d_cfg{.in = 2, .out = 3, .kernel = 3, .stride = 2}, R, D> up;
        check_layer_gradients(up, {2, 2, 3, 4});
        max_pool2d_same<2, R, D> pool;
        check_layer_gradients(pool, {2, 2, 4, 5});
        separable_block<separable_block_cfg{.channels = 3}, R, D> block;
        check_layer_gradients(block, {2, 3, 5, 4});
    }
    SUBCASE("bcir_unet at a tiny size (dropout off so the loss is deterministic)") {
        unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2}, R, D, bcir_policies<>> net(5);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
    SUBCASE("bcir_unet with dropout, eval mode") {
        unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2, .dropout = 0.1}, R, D, bcir_policies<>>
            net(5);
        net.eval();
        // Fresh running statistics (mean 0, var 1) map the exact zeros of a ReLU through an
        // eval-mode norm with zero shift onto the next ReLU's kink, where a central difference
        // is one-sided; random statistics move them off it.
        rng r(11);
        net.visit_buffers([&](std::string_view name, tensor<D>& v) {
            if (name.ends_with("running_mean"))
                for (auto& e : v) e = 0.2 * r.normal();
            else if (name.ends_with("running_var"))
                for (auto& e : v) e = 0.5 + r.uniform(0.0, 1.0);
        });
        check_layer_gradients(net, {1, 1, 8, 8}, o);
    }
    SUBCASE("residual block and attention gate") {
        residual_block<conv_block_cfg{.in = 2, .out = 3}, R, D> res;
        check_layer_gradients(res, {2, 2, 4, 4});
    }
    SUBCASE("attention U-Net at a tiny size") {
        unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 2, .depth = 2}, R, D, attention_policies<>> net(8);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
    SUBCASE("residual multitask U-Net at a tiny size, both heads") {
        using M = multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2}, 8, 4, R, D>;
        multitask_as_layer<M> net(9);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
    SUBCASE("residual multitask U-Net with the pooled head on the last decoder block") {
        using M = multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2}, 8, 4, R, D,
                                 residual_multitask_policies, cls_head_kind::gap>;
        multitask_as_layer<M> net(9);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
    SUBCASE("residual multitask U-Net with the pooled head on the deepest decoder block") {
        // depth 3, so that the deepest decoder is not the body's output and the head's gradient
        // enters the body in the middle of the decoder path
        // (16 x 16: at 8 x 8 the bottleneck's batch norm sees 1 x 1 maps of two images, too
        // curved for the finite differences)
        using M = multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 3}, 16, 4, R, D,
                                 residual_multitask_policies, cls_head_kind::gap_deep>;
        multitask_as_layer<M> net(9);
        check_layer_gradients(net, {2, 1, 16, 16}, o);
    }
    SUBCASE("multitask U-Net on unet_bn's body with the pooled head") {
        using M = multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2}, 8, 4, R, D,
                                 plain_multitask_policies, cls_head_kind::gap>;
        multitask_as_layer<M> net(9);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
}

TEST_CASE("attention gate: coefficients in (0, 1), gated skip = skip * coefficient") {
    attention_gate<attention_gate_cfg{.gate = 2, .skip = 3, .inter = 2}, R, D> gate;
    tensor<D> x(shape4{2, 3, 4, 4}), g(shape4{2, 2, 4, 4});
    rng r(4);
    test::fill_normal(x, r);
    test::fill_normal(g, r);
    const auto& y = gate.forward(x, g);
    const auto& a = gate.coefficients();
    REQUIRE(a.shape() == shape4{2, 1, 4, 4});
    for (std::size_t i = 0; i < a.size(); ++i) CHECK((a[i] > 0 && a[i] < 1));
    // element (n=1, c=2, h=3, w=1): NCHW offsets
    CHECK(y[((1 * 3 + 2) * 4 + 3) * 4 + 1] == doctest::Approx(x[((1 * 3 + 2) * 4 + 3) * 4 + 1] * a[(1 * 4 + 3) * 4 + 1]));
    CHECK_THROWS_AS(gate.forward(x, tensor<D>(shape4{2, 2, 2, 2})), shape_error);
}

TEST_CASE("residual multitask U-Net: typed outputs, image size, joint loss") {
    using M = multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2, .dropout = 0.1}, 8, 4>;
    static_assert(M::flatten_features == 2 * 8 * 8);
    M model(2);
    tensor<float> x(shape4{3, 1, 8, 8});
    rng r(3);
    test::fill_normal(x, r);
    auto out = model.forward(x);
    static_assert(std::is_same_v<decltype(out.segmentation), heads::logits<float>>);
    static_assert(std::is_same_v<decltype(out.classification), heads::logits<float>>);
    CHECK(out.segmentation.shape() == shape4{3, 1, 8, 8});
    CHECK(out.classification.shape() == shape4{3, 1, 1, 1});

    const heads::probabilities<float> p = heads::sigmoid(out.classification);
    const tensor<float> decided = heads::threshold(p);
    for (std::size_t i = 0; i < decided.size(); ++i) CHECK(decided[i] == (p[i] >= 0.5f ? 1.0f : 0.0f));

    // The flatten head is sized for 8 x 8: anything else is a clear run-time error.
    try {
        model.forward(tensor<float>(shape4{1, 1, 16, 16}));
        FAIL("expected a shape_error");
    } catch (const shape_error& e) {
        const std::string msg = e.what();
        MESSAGE(msg);
        CHECK(msg.find("built for 8 x 8 images") != std::string::npos);
        CHECK(msg.find("got 16 x 16") != std::string::npos);
    }

    // Joint loss = w_seg * BCE(seg) + w_cls * BCE(cls); gradients carry the weights.
    out = model.forward(x);
    tensor<float> mask(shape4{3, 1, 8, 8}, 0.0f), label(shape4{3, 1, 1, 1}, 1.0f);
    tensor<float> ds, dc, ds1, dc1;
    const auto l1 = losses::multitask{}(out, mask, label, &ds1, &dc1);
    const auto l = losses::multitask{.segmentation_weight = 0.25, .classification_weight = 2.0}(out, mask, label, &ds, &dc);
    CHECK(l.total == doctest::Approx(0.25 * l1.segmentation + 2.0 * l1.classification));
    CHECK(l.segmentation == doctest::Approx(l1.segmentation));
    CHECK(dc[1] == doctest::Approx(2.0 * dc1[1]));
    CHECK(ds[7] == doctest::Approx(0.25 * ds1[7]));
    model.zero_grad();
    model.backward(x, ds, dc);
    double norm = 0;
    model.visit_parameters([&](std::string_view name, auto&, auto& g) {
        if (name.starts_with("cls_head.fc1"))
            for (float v : g) norm += std::abs(v);
    });
    CHECK(norm > 0);

    auto names = parameter_sizes(model);
    CHECK(names.count("bottleneck.shortcut.weight") == 1);
    CHECK(names.count("enc1.block3.conv.weight") == 1);
    CHECK(names.at("cls_head.fc1.weight") == 128u * 4u);
    CHECK(names.count("seg_head.weight") == 1);
}

namespace {

/// The classification logit of a pooled-head multitask model recomputed by hand from the map its
/// head reads: fc2(relu(fc1(mean over H x W of each channel))).
template <class M>
std::vector<double> pooled_head_reference(M& model, const tensor<float>& features) {
    std::map<std::string, std::vector<float>> p;
    model.visit_parameters([&](std::string_view name, auto& w, auto&) {
        if (name.starts_with("cls_head.")) p[std::string(name)].assign(w.begin(), w.end());
    });
    const shape4 s = features.shape();
    const auto plane = static_cast<std::size_t>(s.h) * static_cast<std::size_t>(s.w);
    const auto& w1 = p.at("cls_head.fc1.weight");
    const auto& b1 = p.at("cls_head.fc1.bias");
    const auto& w2 = p.at("cls_head.fc2.weight");
    const auto& b2 = p.at("cls_head.fc2.bias");
    const std::size_t hidden = b1.size(), channels = static_cast<std::size_t>(s.c);
    REQUIRE(w1.size() == hidden * channels);
    std::vector<double> logits;
    for (int n = 0; n < s.n; ++n) {
        std::vector<double> mean(channels, 0.0);
        for (std::size_t c = 0; c < channels; ++c) {
            const std::size_t at = (static_cast<std::size_t>(n) * channels + c) * plane;
            for (std::size_t i = 0; i < plane; ++i) mean[c] += features[at + i];
            mean[c] /= static_cast<double>(plane);
        }
        double z = b2[0];
        for (std::size_t j = 0; j < hidden; ++j) {
            double a = b1[j];
            for (std::size_t c = 0; c < channels; ++c) a += w1[j * channels + c] * mean[c];  // dense: [out, in]
            z += w2[j] * std::max(a, 0.0);
        }
        logits.push_back(z);
    }
    return logits;
}

}  // namespace

TEST_CASE("residual multitask U-Net: pooled classification heads (shapes, parameters, logits, gradients)") {
    constexpr unet_cfg cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 3};
    using flat = multitask_unet<cfg, 16, 4>;
    using gap = multitask_unet<cfg, 16, 4, backend::cpu, float, residual_multitask_policies, cls_head_kind::gap>;
    using deep = multitask_unet<cfg, 16, 4, backend::cpu, float, residual_multitask_policies, cls_head_kind::gap_deep>;
    using gap32 = multitask_unet<cfg, 32, 4, backend::cpu, float, residual_multitask_policies, cls_head_kind::gap>;
    // The body and segmentation head are the same; only the classification head differs:
    // flatten: 2*16*16 -> 4 -> 1; gap: 2 -> 4 -> 1; gap_deep: 8 (base * 2^(depth-1)) -> 4 -> 1.
    constexpr std::size_t shared = flat::parameter_count - (2 * 16 * 16 * 4 + 4 + 4 + 1);
    static_assert(gap::parameter_count == shared + 2 * 4 + 4 + 4 + 1);
    static_assert(deep::parameter_count == shared + 8 * 4 + 4 + 4 + 1);
    static_assert(gap32::parameter_count == gap::parameter_count, "a pooled head does not depend on the image size");
    static_assert(gap::cls_features == 2 && deep::cls_features == 8 && flat::cls_features == 2 * 16 * 16);
    static_assert(presets::residual_multitask_unet_gap<64>::cls_head_t::parameter_count == 16 * 64 + 64 + 64 + 1);
    static_assert(presets::residual_multitask_unet_gap_deep<64>::cls_head_t::parameter_count == 128 * 64 + 64 + 64 + 1);

    tensor<float> x(shape4{3, 1, 16, 16});
    rng r(11);
    test::fill_normal(x, r);

    SUBCASE("gap reads the last decoder block") {
        gap model(4);
        CHECK(counted_parameters(model) == gap::parameter_count);
        CHECK(parameter_sizes(model).at("cls_head.fc1.weight") == 2u * 4u);
        model.eval();
        const auto out = model.forward(x);
        CHECK(out.segmentation.shape() == shape4{3, 1, 16, 16});
        REQUIRE(out.classification.shape() == shape4{3, 1, 1, 1});
        const auto ref = pooled_head_reference(model, model.body().output());
        for (std::size_t n = 0; n < 3; ++n) CHECK(out.classification[n] == doctest::Approx(ref[n]).epsilon(1e-5));
        CHECK(gap::describe().find("head gap>") != std::string::npos);
        CHECK(flat::describe().find("head") == std::string::npos);
    }
    SUBCASE("gap_deep reads the deepest decoder block, and its gradient reaches the body from there") {
        deep model(4);
        CHECK(counted_parameters(model) == deep::parameter_count);
        CHECK(parameter_sizes(model).at("cls_head.fc1.weight") == 8u * 4u);
        model.train(true);
        const auto out = model.forward(x);
        REQUIRE(out.classification.shape() == shape4{3, 1, 1, 1});
        const auto& features = model.body().template decoder<2>().output();
        REQUIRE(features.shape() == shape4{3, 8, 4, 4});
        const auto ref = pooled_head_reference(model, features);
        for (std::size_t n = 0; n < 3; ++n) CHECK(out.classification[n] == doctest::Approx(ref[n]).epsilon(1e-5));
        // A gradient on the classification logit alone reaches the encoder and the deepest
        // decoder, but not the decoder blocks above it nor the segmentation head.
        tensor<float> dseg(out.segmentation.shape(), 0.0f), dcls(out.classification.shape(), 1.0f);
        model.zero_grad();
        model.backward(x, dseg, dcls);
        std::map<std::string, double> g;
        model.visit_parameters([&](std::string_view name, auto&, auto& grad) {
            double a = 0;
            for (float v : grad) a += std::abs(v);
            g[std::string(name)] = a;
        });
        CHECK(g.at("cls_head.fc1.weight") > 0);
        CHECK(g.at("enc1.block1.conv.weight") > 0);
        CHECK(g.at("dec3.block1.conv.weight") > 0);
        CHECK(g.at("dec1.block1.conv.weight") == 0);
        CHECK(g.at("seg_head.weight") == 0);
    }
    SUBCASE("under inference_mode the deepest decoder's map is read before it is overwritten") {
        deep model(4);
        model.eval();
        const float expected = model.forward(x).classification[1];
        inference_mode guard;
        CHECK(model.forward(x).classification[1] == doctest::Approx(expected).epsilon(1e-6));
    }
}

TEST_CASE("multitask U-Net on unet_bn's body: its segmentation is unet_bn's, its head the pooled one") {
    constexpr unet_cfg cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 3};
    using M = multitask_unet<cfg, 16, 4, backend::cpu, float, plain_multitask_policies, cls_head_kind::gap>;
    using plain = unet<cfg>;  // unet_bn<2, 3>
    static_assert(M::parameter_count == plain::parameter_count + 2 * 4 + 4 + 4 + 1);
    static_assert(M::buffer_count == plain::buffer_count);
    static_assert(presets::unet_bn_multitask_gap<64>::cls_head_t::parameter_count == 16 * 64 + 64 + 64 + 1);
    CHECK(M::describe().find("body unet_bn") != std::string::npos);
    CHECK(M::describe().find("head gap>") != std::string::npos);
    CHECK(multitask_unet<cfg, 16, 4, backend::cpu, float, residual_multitask_policies, cls_head_kind::gap>::describe()
              .find("body") == std::string::npos);

    M model(3);
    plain net(8);
    CHECK(counted_parameters(model) == M::parameter_count);
    // Same parameter names as unet_bn's, except its 1x1 head is the segmentation head here.
    std::map<std::string, std::size_t> expected;
    for (const auto& [name, n] : parameter_sizes(net))
        expected[name.starts_with("head.") ? "seg_head." + name.substr(5) : name] = n;
    auto got = parameter_sizes(model);
    CHECK(got.at("cls_head.fc1.weight") == 2u * 4u);
    std::erase_if(got, [](const auto& kv) { return kv.first.starts_with("cls_head."); });
    CHECK(got == expected);

    // With the multitask model's weights and statistics copied into unet_bn, both give the same
    // segmentation logits, in training mode (batch statistics) and in eval mode.
    test::randomise_norms(model, 5);
    std::map<std::string, std::vector<float>> w;
    model.visit_parameters([&](std::string_view name, auto& v, auto&) { w[std::string(name)].assign(v.begin(), v.end()); });
    model.visit_buffers([&](std::string_view name, auto& v) { w[std::string(name)].assign(v.begin(), v.end()); });
    const auto copy_in = [&](std::string_view name, tensor<float>& v) {
        const std::string key = name.starts_with("head.") ? "seg_head." + std::string(name.substr(5)) : std::string(name);
        const auto& src = w.at(key);
        REQUIRE(src.size() == v.size());
        std::copy(src.begin(), src.end(), v.begin());
    };
    net.visit_parameters([&](std::string_view name, auto& v, auto&) { copy_in(name, v); });
    net.visit_buffers([&](std::string_view name, auto& v) { copy_in(name, v); });

    tensor<float> x(shape4{3, 1, 16, 16});
    rng r(12);
    test::fill_normal(x, r);
    for (const bool training : {true, false}) {
        CAPTURE(training);
        model.train(training);
        net.train(training);
        const auto out = model.forward(x);
        const auto& y = net.forward(x);
        REQUIRE(out.segmentation.shape() == y.shape());
        for (std::size_t i = 0; i < y.size(); i += 7) CHECK(out.segmentation[i] == doctest::Approx(y[i]).epsilon(1e-5));
        REQUIRE(out.classification.shape() == shape4{3, 1, 1, 1});
        const auto ref = pooled_head_reference(model, model.body().output());
        for (std::size_t n = 0; n < 3; ++n) CHECK(out.classification[n] == doctest::Approx(ref[n]).epsilon(1e-5));
    }
}

TEST_CASE("multitask U-Net: detach_classification keeps the classification gradient out of the body") {
    constexpr unet_cfg cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 3};
    using gap = multitask_unet<cfg, 16, 4, backend::cpu, float, plain_multitask_policies, cls_head_kind::gap>;
    using deep = multitask_unet<cfg, 16, 4, backend::cpu, float, residual_multitask_policies, cls_head_kind::gap_deep>;
    tensor<float> x(shape4{3, 1, 16, 16});
    rng r(13);
    test::fill_normal(x, r);
    const auto grads = [&](auto& model, bool detach, bool with_cls) {
        model.detach_classification(detach);
        model.train(true);
        const auto out = model.forward(x);
        tensor<float> dseg(out.segmentation.shape()), dcls(out.classification.shape(), with_cls ? 0.7f : 0.0f);
        for (std::size_t i = 0; i < dseg.size(); ++i) dseg[i] = 0.01f * static_cast<float>(i % 5) - 0.02f;
        dcls[1] *= -2.0f;
        model.zero_grad();
        model.backward(x, dseg, dcls);
        std::map<std::string, std::vector<float>> g;
        model.visit_parameters([&](std::string_view name, auto&, auto& t) { g[std::string(name)].assign(t.begin(), t.end()); });
        return g;
    };
    const auto check = [&](auto& model) {
        const auto full = grads(model, false, true);     // both terms into the body
        const auto seg_only = grads(model, false, false);  // the classification gradient zeroed
        const auto detached = grads(model, true, true);
        CHECK(model.classification_detached());
        bool body_differs = false;
        for (const auto& [name, g] : detached) {
            CAPTURE(name);
            // the head learns as without detach; the body as if the classification term were 0
            const auto& want = name.starts_with("cls_head.") ? full.at(name) : seg_only.at(name);
            REQUIRE(g.size() == want.size());
            for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(want[i]).epsilon(1e-5));
            if (!name.starts_with("cls_head.") && !name.starts_with("seg_head.") && full.at(name) != seg_only.at(name))
                body_differs = true;
        }
        CHECK(body_differs);  // without detach the classification gradient does reach the body
        double head = 0;
        for (float v : detached.at("cls_head.fc1.weight")) head += std::abs(v);
        CHECK(head > 0);
    };
    SUBCASE("pooled head on the last decoder block (unet_bn body)") {
        gap model(6);
        check(model);
    }
    SUBCASE("pooled head on the deepest decoder block (residual body)") {
        deep model(6);
        check(model);
    }
}

TEST_CASE("multitask loss: the classification term with pos_weight, by hand") {
    // Three images: malignant, benign, malignant; logits 0.3, 1.2, -2.0; pos_weight 2.08.
    const double z[3] = {0.3, 1.2, -2.0}, t[3] = {1, 0, 1}, p = 2.08;
    tensor<float> seg(shape4{3, 1, 2, 2}, 0.0f), cls(shape4{3, 1, 1, 1}), label(shape4{3, 1, 1, 1}),
        mask(shape4{3, 1, 2, 2}, 0.0f);
    for (int i = 0; i < 3; ++i) {
        cls[static_cast<std::size_t>(i)] = static_cast<float>(z[i]);
        label[static_cast<std::size_t>(i)] = static_cast<float>(t[i]);
    }
    const multitask_outputs<float> out{heads::logits<float>(seg), heads::logits<float>(cls)};
    // torch: l = -[p t log s(z) + (1 - t) log(1 - s(z))], mean over the images;
    // dl/dz = (p t (s - 1) + (1 - t) s) / 3.
    double expected = 0, grad[3];
    for (int i = 0; i < 3; ++i) {
        const double s = 1 / (1 + std::exp(-z[i]));
        expected += -(p * t[i] * std::log(s) + (1 - t[i]) * std::log(1 - s)) / 3;
        grad[i] = (p * t[i] * (s - 1) + (1 - t[i]) * s) / 3;
    }
    tensor<float> ds, dc;
    const losses::multitask loss{.segmentation_weight = 1.0, .classification_weight = 0.5,
                                 .classification_pos_weight = p};
    const auto l = loss(out, mask, label, &ds, &dc);
    CHECK(l.classification == doctest::Approx(expected).epsilon(1e-5));
    CHECK(l.total == doctest::Approx(l.segmentation + 0.5 * expected).epsilon(1e-5));
    for (std::size_t i = 0; i < 3; ++i) CHECK(dc[i] == doctest::Approx(0.5 * grad[i]).epsilon(1e-5));
    // pos_weight 1 is the plain BCE; the weight only raises the malignant images' terms.
    tensor<float> ds1, dc1;
    const auto l1 = losses::multitask{.classification_weight = 0.5}(out, mask, label, &ds1, &dc1);
    CHECK(l.segmentation == doctest::Approx(l1.segmentation));
    CHECK(l1.classification < l.classification);
    CHECK(dc1[1] == doctest::Approx(dc[1]));
    CHECK(std::abs(dc[2]) > std::abs(dc1[2]) * 2.0);
}

// docs/ARCHITECTURES.md, "Writing a new variant": a residual U-Net with attention skips and
// reflect padding. The block below is the documented listing.
// --- begin walkthrough ---
struct residual_attention_policies : attention_policies<default_policies> {
    template <unet_cfg C, int In, int Out, class B, class T>
    using block = residual_block<conv_block_cfg{.in = In, .out = Out, .kernel = C.kernel, .pad = C.pad,
                                                .batch_norm = C.norm == norm_kind::batch, .bias = false,
                                                .dropout = C.dropout},
                                 B, T>;
};
template <class B = backend::cpu, class T = float>
using residual_attention_unet =
    unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3, .pad = padding::reflect},
         B, T, residual_attention_policies>;
// --- end walkthrough ---

TEST_CASE("the documented variant (residual blocks, attention skips, reflect padding) works") {
    using net_t = residual_attention_unet<>;
    static_assert(net_t::is_valid_size(64) && !net_t::is_valid_size(60));
    net_t net(1);
    CHECK(counted_parameters(net) == net_t::parameter_count);
    CHECK(parameter_sizes(net).count("enc1.shortcut.weight") == 1);
    CHECK(parameter_sizes(net).count("skip1.gate.psi.conv.weight") == 1);
    unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2, .pad = padding::reflect}, R, D,
         residual_attention_policies>
        tiny(2);
    test::gradcheck_opts o;
    o.max_checks_per_tensor = 4;
    check_layer_gradients(tiny, {1, 1, 8, 8}, o);
}

TEST_CASE("residual multitask U-Net: weights of both heads round-trip through a safetensors file") {
    using M = multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2}, 8, 4>;
    M a(5), b(6);
    tensor<float> x(shape4{2, 1, 8, 8});
    rng r(7);
    test::fill_normal(x, r);
    a.train(true);
    a.forward(x);  // moves the running statistics away from their initial values
    a.eval();
    b.eval();
    const auto oa = a.forward(x);
    const float seg_a = oa.segmentation[0], cls_a = oa.classification[0];
    CHECK(b.forward(x).classification[0] != cls_a);
    const auto path = std::filesystem::temp_directory_path() /
                      ("unetpp_test_multitask_" + std::to_string(::getpid()) + ".safetensors");
    io::save_weights(a, path);
    io::load_weights(b, path);
    const auto ob = b.forward(x);
    CHECK(ob.segmentation[0] == seg_a);
    CHECK(ob.classification[0] == cls_a);
    CHECK(M::describe().find("multitask_unet<") == 0);
    // A plain U-Net with the same configuration is another architecture: the file is rejected,
    // naming the first tensor that does not match and the model the file was saved from.
    unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2}> plain;
    try {
        io::load_weights(plain, path);
        FAIL("expected a mismatch");
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("missing tensor") != std::string::npos);
        CHECK(msg.find("saved from multitask_unet<") != std::string::npos);
    }
    std::filesystem::remove(path);
}
