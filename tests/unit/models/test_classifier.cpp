// encoder_classifier and hierarchical_classifier (seed 001): shapes, names, counts, gradients,
// the 3-class cascade on hand-made probabilities, weight files, and training on a tiny batch.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>

#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

#include "../../support/gradcheck.hpp"
#include "../../support/model_inspect.hpp"

using namespace unetpp;
using R = backend::cpu_reference;
using test::counted_parameters;
using test::parameter_sizes;
using D = double;

namespace {

/// A classifier seen as a layer returning its logits tensor, for check_layer_gradients.
template <class M>
struct classifier_as_layer {
    using value_type = typename M::value_type;
    using tensor_type = typename M::tensor_type;
    M model;
    explicit classifier_as_layer(std::uint64_t seed) : model(seed) {}
    void need_input_grad(bool on) { model.need_input_grad(on); }
    const tensor_type& forward(const tensor_type& x) { return model.forward(x).values(); }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) { return model.backward(x, dy); }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        model.visit_parameters(prefix, f);
    }
};

constexpr classifier_cfg tiny{.in_channels = 1, .base = 2, .depth = 2, .hidden = 3};

}  // namespace

TEST_CASE("encoder_classifier: shapes, names, counts") {
    using M = encoder_classifier<tiny>;
    // enc1: conv 1->2 (18) + bn (4) + conv 2->2 (36) + bn (4); enc2: conv 2->4 (72) + bn (8) +
    // conv 4->4 (144) + bn (8); fc1 4*3 + 3; fc2 3 + 1.
    static_assert(M::parameter_count == 18 + 4 + 36 + 4 + 72 + 8 + 144 + 8 + 15 + 4);
    static_assert(M::buffer_count == 2 * (2 + 2 + 4 + 4));
    static_assert(M::features == 4);
    static_assert(M::is_valid_size(8) && M::is_valid_size(12) && !M::is_valid_size(6) && !M::is_valid_size(2));
    static_assert(M::try_output_shape(shape4{5, 1, 8, 12}) == shape4{5, 1, 1, 1});
    static_assert(!M::try_output_shape(shape4{5, 3, 8, 8}).has_value());

    M net(1);
    tensor<float> x(shape4{3, 1, 8, 12});
    rng r(2);
    test::fill_normal(x, r);
    const auto z = net.forward(x);
    static_assert(std::is_same_v<std::remove_const_t<decltype(z)>, heads::logits<float>>);
    CHECK(z.shape() == shape4{3, 1, 1, 1});
    for (std::size_t i = 0; i < 3; ++i) CHECK(std::isfinite(z[i]));

    const auto names = parameter_sizes(net);
    CHECK(names.size() == 2 * 6 + 4);  // per level conv1, bn1 (weight, bias), conv2, bn2 (2); fc1, fc2 (2 each)
    CHECK(names.at("enc1.conv1.weight") == 18u);
    CHECK(names.at("enc1.bn2.bias") == 2u);
    CHECK(names.at("enc2.conv2.weight") == 144u);
    CHECK(names.at("fc1.weight") == 12u);
    CHECK(names.at("fc1.bias") == 3u);
    CHECK(names.at("fc2.weight") == 3u);
    CHECK(names.at("fc2.bias") == 1u);
    std::size_t counted = 0;
    for (const auto& [n, s] : names) counted += s;
    CHECK(counted == M::parameter_count);
    std::size_t buffers = 0;
    std::size_t counters = 0;
    net.visit_buffers([&](std::string_view name, auto& v) {
        if (name.ends_with("num_batches_tracked")) ++counters;
        else buffers += v.size();
    });
    // buffer_count is Keras's non-trainable count (running mean and variance); the batch
    // counters (one per batch norm, as in PyTorch) are visited too but not counted.
    CHECK(buffers == M::buffer_count);
    CHECK(counters == 4);

    // The preset's count, reported by the visitor too.
    presets::busi_stage_classifier<> stage;
    std::size_t stage_count = 0;
    stage.visit_parameters([&](std::string_view, auto& v, auto&) { stage_count += v.size(); });
    CHECK(stage_count == 302'033u);

    // Invalid sizes and channels are shape errors that name the rule and nearby sizes.
    try {
        net.forward(tensor<float>(shape4{1, 1, 10, 8}));
        FAIL("expected a shape_error");
    } catch (const shape_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("height 10 is not a multiple of 4") != std::string::npos);
        CHECK(msg.find("8 or 12") != std::string::npos);
    }
    CHECK_THROWS_AS(net.forward(tensor<float>(shape4{1, 2, 8, 8})), shape_error);
    encoder_classifier<tiny> fresh;
    CHECK_THROWS_AS(fresh.backward(x, tensor<float>(shape4{3, 1, 1, 1})), std::logic_error);
    CHECK_THROWS_AS(net.backward(x, tensor<float>(shape4{2, 1, 1, 1})), shape_error);
}

TEST_CASE("encoder_classifier: finite-difference gradients (double, reference backend)") {
    test::gradcheck_opts o;
    o.max_checks_per_tensor = 8;
    // Convolutions before a training-mode batch norm have no bias here, but the BN shift's
    // effect through max pooling and GAP is tiny; keep the floor above rounding noise.
    o.atol = 1e-7;
    SUBCASE("train mode, batch norm on batch statistics") {
        classifier_as_layer<encoder_classifier<tiny, R, D>> net(3);
        test::check_layer_gradients(net, {3, 1, 8, 8}, o);
    }
    SUBCASE("without batch norm, three levels, two input channels") {
        classifier_as_layer<
            encoder_classifier<classifier_cfg{.in_channels = 2, .base = 2, .depth = 3, .hidden = 4, .batch_norm = false},
                               R, D>>
            net(4);
        test::check_layer_gradients(net, {2, 2, 8, 8}, o);
    }
}

TEST_CASE("hierarchy: the cascade on hand-made probabilities") {
    using C = tri_class;
    // stage 1 below its threshold: normal, whatever stage 2 says
    CHECK(combine_hierarchy(0.10, 0.99) == C::normal);
    CHECK(combine_hierarchy(0.49, 0.01) == C::normal);
    // abnormal: stage 2 decides
    CHECK(combine_hierarchy(0.50, 0.50) == C::malignant);  // thresholds are inclusive
    CHECK(combine_hierarchy(0.90, 0.70) == C::malignant);
    CHECK(combine_hierarchy(0.90, 0.30) == C::benign);
    // the case where the cascade and the arg-max of the soft probabilities differ
    const auto p = hierarchy_probabilities(0.55, 0.5);
    CHECK(p.normal == doctest::Approx(0.45));
    CHECK(p.benign == doctest::Approx(0.275));
    CHECK(p.malignant == doctest::Approx(0.275));
    CHECK(p.normal + p.benign + p.malignant == doctest::Approx(1.0));
    CHECK(combine_hierarchy(0.55, 0.49) == C::benign);
    // thresholds move the boundaries
    const hierarchy_thresholds t{.abnormal = 0.8, .malignant = 0.3};
    CHECK(combine_hierarchy(0.75, 0.9, t) == C::normal);
    CHECK(combine_hierarchy(0.85, 0.35, t) == C::malignant);
    CHECK(combine_hierarchy(0.85, 0.25, t) == C::benign);
    CHECK_THROWS_AS((void)combine_hierarchy(std::nan(""), 0.5), std::invalid_argument);
    CHECK(std::string(tri_class_name(C::malignant)) == "malignant");

    // batch form, from logits through the typed sigmoid
    tensor<float> z1(shape4{4, 1, 1, 1}), z2(shape4{4, 1, 1, 1});
    const float l1[4] = {-3.0f, 2.0f, 2.0f, 0.0f};  // p_a: 0.047, 0.88, 0.88, 0.5
    const float l2[4] = {5.0f, 1.0f, -1.0f, -0.1f};  // p_m: 0.99, 0.73, 0.27, 0.475
    for (int i = 0; i < 4; ++i) z1[i] = l1[i], z2[i] = l2[i];
    const auto d = combine_hierarchy(heads::sigmoid(heads::logits<float>(z1)), heads::sigmoid(heads::logits<float>(z2)));
    REQUIRE(d.size() == 4);
    CHECK(d[0] == C::normal);
    CHECK(d[1] == C::malignant);
    CHECK(d[2] == C::benign);
    CHECK(d[3] == C::benign);
    tensor<float> z3(shape4{3, 1, 1, 1});
    CHECK_THROWS_AS((void)combine_hierarchy(heads::sigmoid(heads::logits<float>(z1)),
                                            heads::sigmoid(heads::logits<float>(z3))),
                    shape_error);
}

TEST_CASE("hierarchical_classifier: predict runs both stages in eval mode and combines them") {
    hierarchical_classifier<tiny> h(5);
    tensor<float> x(shape4{6, 1, 8, 8});
    rng r(6);
    test::fill_normal(x, r);
    const auto p = h.probabilities(x);
    CHECK_FALSE(h.stage1().training());
    CHECK_FALSE(h.stage2().training());
    const auto d = h.predict(x);
    REQUIRE(d.size() == 6);
    for (std::size_t i = 0; i < d.size(); ++i)
        CHECK(d[i] == combine_hierarchy(static_cast<double>(p.abnormal[i]), static_cast<double>(p.malignant[i])));
    // moving the stage-1 threshold to the extremes forces the first branch
    h.set_thresholds({.abnormal = 1.01, .malignant = 0.5});
    for (auto c : h.predict(x)) CHECK(c == tri_class::normal);
    h.set_thresholds({.abnormal = 0.0, .malignant = 1.01});
    for (auto c : h.predict(x)) CHECK(c == tri_class::benign);
    // the two stages are distinct networks with prefixed names
    const auto names = parameter_sizes(h);
    CHECK(names.count("stage1.fc2.bias") == 1);
    CHECK(names.count("stage2.enc1.conv1.weight") == 1);
    std::size_t n = 0;
    for (const auto& [k, s] : names) n += s;
    CHECK(n == decltype(h)::parameter_count);
    CHECK(h.stage1().forward(x)[0] != h.stage2().forward(x)[0]);
}

TEST_CASE("encoder_classifier: weights round-trip through a safetensors file") {
    encoder_classifier<tiny> a(7), b(8);
    tensor<float> x(shape4{2, 1, 8, 8});
    rng r(9);
    test::fill_normal(x, r);
    a.train(true);
    a.forward(x);  // moves the running statistics away from their initial values
    a.eval();
    b.eval();
    const float za = a.forward(x)[0];
    CHECK(b.forward(x)[0] != za);
    const auto path = std::filesystem::temp_directory_path() /
                      ("unetpp_test_classifier_" + std::to_string(::getpid()) + ".safetensors");
    io::save_weights(a, path);
    io::load_weights(b, path);
    CHECK(b.forward(x)[0] == za);
    // a classifier of another width is rejected by name
    encoder_classifier<classifier_cfg{.in_channels = 1, .base = 2, .depth = 2, .hidden = 5}> c;
    try {
        io::load_weights(c, path);
        FAIL("expected a mismatch");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("fc1") != std::string::npos);
    }
    std::filesystem::remove(path);
}

TEST_CASE("encoder_classifier: a few Adam steps lower the loss on a tiny synthetic batch") {
    // Class 1 images carry a bright square, class 0 images are noise only.
    encoder_classifier<classifier_cfg{.in_channels = 1, .base = 4, .depth = 2, .hidden = 8}> net(11);
    tensor<float> x(shape4{8, 1, 16, 16}), y(shape4{8, 1, 1, 1});
    rng r(12);
    for (int n = 0; n < 8; ++n) {
        const bool pos = n % 2 == 1;
        y[n] = pos ? 1.0f : 0.0f;
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                float v = static_cast<float>(0.1 * r.normal());
                if (pos && i >= 4 && i < 10 && j >= 5 && j < 11) v += 1.0f;
                x[(static_cast<std::size_t>(n) * 16 + i) * 16 + j] = v;
            }
    }
    optim::adam opt(net, {.lr = 1e-2});
    const losses::bce_with_logits bce;
    tensor<float> g;
    net.train(true);
    const float first = bce(net.forward(x).values(), y);
    float last = first;
    for (int step = 0; step < 30; ++step) {
        net.zero_grad();
        last = bce(net.forward(x).values(), y, &g);
        net.backward(x, g);
        opt.step();
    }
    // With lr 1e-2 the weights move faster than the running statistics (momentum 0.1) follow;
    // a few training-mode passes at the final weights let them settle before evaluation.
    for (int k = 0; k < 40; ++k) net.forward(x);
    net.eval();
    const auto z = net.forward(x);
    const float eval_loss = bce(z.values(), y);
    INFO("first " << first << " last " << last << " eval " << eval_loss);
    CHECK(std::isfinite(last));
    CHECK(last < 0.5f * first);
    int correct = 0;
    const auto p = heads::sigmoid(z);
    for (int n = 0; n < 8; ++n) correct += (p[n] >= 0.5f) == (y[n] > 0.5f);
    CHECK(correct == 8);
}

TEST_CASE("encoder_classifier with K outputs: shapes, counts, gradients, names") {
    constexpr classifier_cfg tiny3 = [] {
        classifier_cfg c = tiny;
        c.outputs = 3;
        return c;
    }();
    using M3 = encoder_classifier<tiny3>;
    using M1 = encoder_classifier<tiny>;
    // only fc2 grows: 3 x 3 weights + 3 biases instead of 3 + 1
    static_assert(M3::parameter_count == M1::parameter_count + 2 * (3 + 1));
    static_assert(M3::buffer_count == M1::buffer_count);
    static_assert(M3::try_output_shape(shape4{5, 1, 8, 12}) == shape4{5, 3, 1, 1});
    static_assert(M3::cfg.classes == 3 && M1::cfg.classes == 1);
    // the BUSI flat control differs from the stage network in fc2 only
    static_assert(presets::busi_flat_cfg.outputs == 3 && presets::busi_flat_cfg.base == presets::busi_stage_cfg.base &&
                  presets::busi_flat_cfg.depth == presets::busi_stage_cfg.depth &&
                  presets::busi_flat_cfg.hidden == presets::busi_stage_cfg.hidden);
    static_assert(presets::busi_flat_classifier<>::parameter_count == 302'033 + 130);

    M3 net(1);
    tensor<float> x(shape4{2, 1, 8, 8});
    rng r(2);
    test::fill_normal(x, r);
    const auto z = net.forward(x);
    CHECK(z.shape() == shape4{2, 3, 1, 1});
    const auto names = parameter_sizes(net);
    CHECK(names.at("fc2.weight") == 9u);
    CHECK(names.at("fc2.bias") == 3u);
    CHECK(M3::describe().find("outputs=3") != std::string::npos);
    CHECK(M1::describe().find("outputs") == std::string::npos);
    // the gradient checks on the wider last layer
    CHECK_THROWS_AS(net.backward(x, tensor<float>(shape4{2, 1, 1, 1})), shape_error);
    test::gradcheck_opts o;
    o.max_checks_per_tensor = 8;
    o.atol = 1e-7;
    classifier_as_layer<encoder_classifier<tiny3, R, D>> g(3);
    test::check_layer_gradients(g, {3, 1, 8, 8}, o);
}

TEST_CASE("hierarchy_stages: the stage probabilities a flat 3-class classifier implies") {
    const auto s = hierarchy_stages({.normal = 0.2, .benign = 0.6, .malignant = 0.2});
    CHECK(s.abnormal == doctest::Approx(0.8));
    CHECK(s.malignant == doctest::Approx(0.25));
    // and back along the tree
    const auto p = hierarchy_probabilities(s.abnormal, s.malignant);
    CHECK(p.normal == doctest::Approx(0.2));
    CHECK(p.benign == doctest::Approx(0.6));
    CHECK(p.malignant == doctest::Approx(0.2));
    CHECK(combine_hierarchy(s.abnormal, s.malignant) == tri_class::benign);
    // all mass on normal: p_m is undefined and taken as 0.5
    const auto n = hierarchy_stages({.normal = 1.0, .benign = 0.0, .malignant = 0.0});
    CHECK(n.abnormal == doctest::Approx(0.0));
    CHECK(n.malignant == 0.5);
}

TEST_CASE("encoder_classifier: softmax cross-entropy on 3 logits learns a tiny 3-class batch") {
    // class 0: noise; class 1: a bright square at the top left; class 2: one at the bottom right
    encoder_classifier<classifier_cfg{.in_channels = 1, .base = 4, .depth = 2, .hidden = 8, .outputs = 3}> net(21);
    tensor<float> x(shape4{9, 1, 16, 16}), y(shape4{9, 1, 1, 1});
    rng r(22);
    for (int n = 0; n < 9; ++n) {
        const int c = n % 3;
        y[n] = static_cast<float>(c);
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                float v = static_cast<float>(0.1 * r.normal());
                if (c == 1 && i < 6 && j < 6) v += 1.0f;
                if (c == 2 && i >= 10 && j >= 10) v += 1.0f;
                x[(static_cast<std::size_t>(n) * 16 + i) * 16 + j] = v;
            }
    }
    optim::adam opt(net, {.lr = 1e-2});
    // class weights as the flat BUSI control uses them (the loss divides by their sum, so only
    // their ratios matter)
    const losses::cross_entropy ce{.class_weights = {1.0, 2.0, 0.5}};
    tensor<float> g;
    net.train(true);
    const float first = ce(net.forward(x).values(), y);
    float last = first;
    for (int step = 0; step < 40; ++step) {
        net.zero_grad();
        last = ce(net.forward(x).values(), y, &g);
        net.backward(x, g);
        opt.step();
    }
    for (int k = 0; k < 40; ++k) net.forward(x);  // settle the running statistics (see above)
    net.eval();
    const auto z = net.forward(x);
    INFO("first " << first << " last " << last);
    CHECK(std::isfinite(last));
    CHECK(last < 0.5f * first);
    int correct = 0;
    for (int n = 0; n < 9; ++n) {
        int best = 0;
        for (int k = 1; k < 3; ++k)
            if (z[static_cast<std::size_t>(n) * 3 + k] > z[static_cast<std::size_t>(n) * 3 + best]) best = k;
        correct += best == static_cast<int>(y[n]);
    }
    CHECK(correct == 9);
}
