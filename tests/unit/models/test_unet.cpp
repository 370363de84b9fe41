// U-Net as a type: shapes, parameter names and counts, validation messages, allocation-free
// steady state, fast kernels against the reference backend, and training that lowers the loss.

#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <unetpp/unet.hpp>

#include "../../support/compare.hpp"
#include "../../support/gradcheck.hpp"
#include "../../support/model_inspect.hpp"

using namespace unetpp;

using small_bn = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 3}>;
using small_valid = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 4, .depth = 2, .pad = padding::valid,
                                  .norm = norm_kind::none}>;

TEST_CASE("parameter names follow the PyTorch module and counts add up") {
    small_bn net(1);
    std::vector<std::string> names;
    std::size_t total = 0;
    net.visit_parameters([&](std::string_view n, tensor<float>& v, tensor<float>& g) {
        names.emplace_back(n);
        total += v.size();
        CHECK(g.shape() == v.shape());
    });
    CHECK(total == small_bn::parameter_count);
    CHECK(names.front() == "enc1.conv1.weight");
    CHECK(names.back() == "head.bias");
    const std::set<std::string> unique(names.begin(), names.end());
    CHECK(unique.size() == names.size());
    CHECK(unique.count("bottleneck.bn2.weight") == 1);
    CHECK(unique.count("up3.weight") == 1);
    CHECK(unique.count("dec1.conv2.weight") == 1);
    CHECK(unique.count("enc1.conv1.bias") == 0);  // no conv bias before batch norm
    std::size_t buffers = 0;
    net.visit_buffers([&](std::string_view n, tensor<float>& v) {
        if (std::string(n).find("num_batches_tracked") == std::string::npos) buffers += v.size();
    });
    CHECK(buffers == small_bn::buffer_count);
}

TEST_CASE("presets: the original U-Net's size and valid tiles") {
    using R = presets::ronneberger2015;
    CHECK(R::parameter_count == 31'030'658);
    CHECK(R::output_size(572) == 388);
    CHECK_FALSE(R::is_valid_size(570));
    CHECK(R::previous_valid_size(570) == 556);
    CHECK(R::next_valid_size(570) == 572);
    CHECK(presets::unet_bn<64, 4>::output_size(256) == 256);
    CHECK_FALSE(presets::unet_bn<64, 4>::is_valid_size(250));
}

TEST_CASE("forward shapes for padded and unpadded nets") {
    small_bn a(1);
    tensor<float> x(shape4{2, 1, 32, 24}, 0.25f);
    CHECK(a.forward(x).shape() == shape4{2, 1, 32, 24});
    small_valid b(1);
    const int s = small_valid::min_input_size;
    tensor<float> y(shape4{1, 1, s, s});
    const auto out = *small_valid::output_size(s);
    CHECK(b.forward(y).shape() == shape4{1, 2, out, out});
    CHECK(out < s);
}

TEST_CASE("bad input: clear errors naming what is wrong") {
    small_bn net(1);
    tensor<float> wrong_c(shape4{1, 3, 32, 32});
    CHECK_THROWS_WITH_AS(net.forward(wrong_c), doctest::Contains("input has 3 channels, the network expects 1"),
                         shape_error);
    tensor<float> wrong_size(shape4{1, 1, 30, 32});
    CHECK_THROWS_WITH_AS(net.forward(wrong_size), doctest::Contains("nearest valid sizes: 24 or 32"), shape_error);
    small_bn fresh(1);
    tensor<float> x(shape4{1, 1, 16, 16});
    CHECK_THROWS_WITH_AS(fresh.backward(x, x), doctest::Contains("backward called before forward"), std::logic_error);
    const auto& y = fresh.forward(x);
    tensor<float> bad_grad(shape4{1, 1, 8, 8});
    CHECK_THROWS_WITH_AS(fresh.backward(x, bad_grad), doctest::Contains("logit gradient has shape"), shape_error);
    CHECK(y.shape() == x.shape());

    conv2d<conv2d_cfg{.in = 3, .out = 8}> conv;
    tensor<float> two_channels(shape4{1, 2, 8, 8});
    CHECK_THROWS_WITH_AS(conv.forward(two_channels),
                         doctest::Contains("conv2d<in=3, out=8, k=3, stride=1, same>: cannot take input of shape [1, 2, 8, 8]"),
                         shape_error);
    tensor<float> ok(shape4{1, 3, 8, 8});
    CHECK_THROWS_WITH_AS(conv.backward(ok, ok), doctest::Contains("backward called before forward"), std::logic_error);
    conv.forward(ok);
    tensor<float> other(shape4{1, 3, 9, 8});
    CHECK_THROWS_WITH_AS(conv.backward(other, conv.output()), doctest::Contains("pass the same input to both"),
                         shape_error);
}

TEST_CASE("a forward and backward pass at a known shape allocates nothing") {
    small_bn net(2);
    tensor<float> x(shape4{2, 1, 32, 32}, 0.5f);
    tensor<float> g(shape4{2, 1, 32, 32}, 0.1f);
    net.forward(x);
    net.backward(x, g);
    const auto before = memory::host::allocation_count();
    for (int i = 0; i < 3; ++i) {
        net.forward(x);
        net.backward(x, g);
    }
    CHECK(memory::host::allocation_count() == before);
    net.eval();
    net.forward(x);
    const auto eval_before = memory::host::allocation_count();
    net.forward(x);
    CHECK(memory::host::allocation_count() == eval_before);
}

template <unet_cfg C>
void compare_fast_with_reference(shape4 in, double rtol) {
    unet<C, backend::cpu> fast(11);
    unet<C, backend::cpu_reference> ref(11);
    fast.need_input_grad(true);
    ref.need_input_grad(true);
    rng r(5);
    tensor<float> x(in);
    // Inputs whose ReLU kinks land on the same side in both networks (test::relu_kink_flips).
    const auto draw = [&](tensor<float>& t) { test::fill_normal(t, r); };
    const auto [yf, yr] = test::forward_without_kink_flips(fast, ref, x, draw);
    REQUIRE(yf.size() > 0);
    tensor<float> dy(yf.shape());
    test::fill_normal(dy, r);
    const tensor<float> dxf = fast.backward(x, dy);
    const tensor<float> dxr = ref.backward(x, dy);
    CHECK(test::max_rel_error(yf, yr) < rtol);
    CHECK(test::max_rel_error(dxf, dxr) < rtol);
    const double worst = test::worst_gradient_error(fast, ref);
    MESSAGE("fast vs reference: worst relative parameter-gradient error " << worst);
    CHECK(worst < rtol);
}

TEST_CASE("fast CPU kernels match the reference backend on whole networks") {
    SUBCASE("unet_bn-like, batch 2") {
        compare_fast_with_reference<unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 3}>({2, 1, 40, 48},
                                                                                                      2e-4);
    }
    SUBCASE("unpadded, odd widths on the way") {
        using N = unet<unet_cfg{.in_channels = 2, .classes = 2, .base = 6, .depth = 2, .pad = padding::valid,
                                .norm = norm_kind::none}>;
        const int s = N::next_valid_size(50);
        compare_fast_with_reference<N::cfg>({1, 2, s, s}, 2e-4);
    }
    SUBCASE("reflect padding, bilinear up") {
        compare_fast_with_reference<unet_cfg{.in_channels = 3, .classes = 2, .base = 5, .depth = 2,
                                             .pad = padding::reflect, .up = up_mode::bilinear}>({1, 3, 20, 28}, 2e-4);
    }
}

namespace {
// Eval-mode forward with and without inference_mode on two identical networks: same logits, less
// memory, and no backward on the inference-only pass.
template <unet_cfg C, class B>
void check_inference_mode(shape4 in) {
    unet<C, B> plain(3), fused(3);
    test::randomise_norms(plain, 17);
    test::randomise_norms(fused, 17);
    plain.eval();
    fused.eval();
    rng r(8);
    tensor<float> x(in);
    test::fill_normal(x, r);
    const auto b0 = memory::host::allocated_bytes();
    const tensor<float> y_plain = plain.forward(x);
    const auto b1 = memory::host::allocated_bytes();
    tensor<float> y_fused;
    {
        inference_mode guard;
        CHECK(inference_mode::enabled());
        const auto b2 = memory::host::allocated_bytes();
        y_fused = fused.forward(x);
        const auto b3 = memory::host::allocated_bytes();
        MESSAGE("forward allocations: plain " << (b1 - b0) << " bytes, under inference_mode " << (b3 - b2));
        CHECK(b3 - b2 < b1 - b0);
    }
    CHECK_FALSE(inference_mode::enabled());
    REQUIRE(y_fused.shape() == y_plain.shape());
    CHECK(test::max_rel_error(y_fused, y_plain) < 1e-5);
    // The first convolution's own output was never written (its pair wrote the next layer's).
    CHECK(fused.template encoder<0>().template get<0>().output().size() == 0);
    // The bottleneck's and every decoder's outputs went to the shared level_out buffer (level 0's,
    // the head's input, last) and pooling recorded no winners.
    CHECK(fused.bottleneck().output().size() == 0);
    if constexpr (C.depth >= 2) CHECK(fused.template decoder<1>().output().size() == 0);
    CHECK(fused.template decoder<0>().output().size() == 0);
    CHECK(plain.template decoder<C.depth - 1>().output().size() > 0);
    tensor<float> dy(y_fused.shape(), 1.0f);
    try {
        fused.backward(x, dy);
        FAIL("backward after an inference_mode forward must throw");
    } catch (const std::logic_error& e) {
        CHECK(std::string(e.what()).find("inference_mode") != std::string::npos);
    }
    // An ordinary forward makes backward legal again.
    fused.forward(x);
    CHECK_NOTHROW(fused.backward(x, dy));
}
}  // namespace

TEST_CASE("inference_mode: fused Conv-BN-ReLU and Conv-ReLU give the same logits with less memory") {
    constexpr unet_cfg bn{.in_channels = 1, .classes = 2, .base = 8, .depth = 3};
    constexpr unet_cfg bn_wide{.in_channels = 1, .classes = 1, .base = 40, .depth = 1};  // several input-channel chunks
    constexpr unet_cfg valid{.in_channels = 1, .classes = 2, .base = 6, .depth = 2, .pad = padding::valid,
                             .norm = norm_kind::none};
    using V = unet<valid>;
    SUBCASE("batch norm, fast kernels") { check_inference_mode<bn, backend::cpu>({2, 1, 40, 24}); }
    SUBCASE("batch norm, reference kernels") { check_inference_mode<bn, backend::cpu_reference>({1, 1, 16, 24}); }
    SUBCASE("batch norm, 80-channel convolutions") { check_inference_mode<bn_wide, backend::cpu>({1, 1, 20, 36}); }
    SUBCASE("unpadded, no norm (Conv-ReLU)") {
        const int s = V::next_valid_size(48);
        check_inference_mode<valid, backend::cpu>({1, 1, s, s});
    }
    SUBCASE("reflect padding") {
        check_inference_mode<unet_cfg{.in_channels = 2, .classes = 1, .base = 5, .depth = 2, .pad = padding::reflect},
                             backend::cpu>({1, 2, 20, 28});
    }
    SUBCASE("training-mode batch norm is not folded") {
        unet<bn> a(4), b(4);
        rng r(2);
        tensor<float> x(shape4{2, 1, 16, 16});
        test::fill_normal(x, r);
        const tensor<float> ya = a.forward(x);
        tensor<float> yb;
        {
            inference_mode guard;
            yb = b.forward(x);
        }
        CHECK(max_abs_diff(ya, yb) == 0.0);
        CHECK(b.encoder<0>().get<0>().output().size() > 0);
    }
}

TEST_CASE("backward: inner layers of a block write their gradients into lent buffers") {
    // Within each Conv-BN-ReLU x 2 block the inner layers borrow two shared buffers from the
    // block during backward, and the first layer's input gradient (what the block returns) is
    // borrowed from the network's level buffers; all give them back, so after backward no layer
    // holds a gradient buffer.
    small_bn net(6), fresh(6);
    rng r(3);
    tensor<float> x(shape4{2, 1, 16, 16});
    test::fill_normal(x, r);
    const tensor<float> y = net.forward(x);
    tensor<float> dy(y.shape());
    test::fill_normal(dy, r);
    const tensor<float> dx_first = net.backward(x, dy);
    auto& block = net.encoder<1>();
    for (int k = 0; k < 2; ++k) {  // twice: the buffers come back to the same state
        tensor<float> probe;
        block.get<3>().swap_input_grad(probe);  // bn2: lent, so holds nothing now
        CHECK(probe.size() == 0);
        block.get<3>().swap_input_grad(probe);
        tensor<float> own;
        block.get<0>().swap_input_grad(own);  // conv1: the block's result, lent by the network
        CHECK(own.size() == 0);
        block.get<0>().swap_input_grad(own);
        net.forward(x);
        net.backward(x, dy);
    }
    // Same gradients as a network that ran one backward (lending changes where, not what).
    fresh.forward(x);
    fresh.backward(x, dy);
    std::vector<tensor<float>> a, b;
    net.zero_grad();
    net.forward(x);
    net.backward(x, dy);
    net.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& g) { a.push_back(g); });
    fresh.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& g) { b.push_back(g); });
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(max_abs_diff(a[i], b[i]) == 0.0);
}

namespace {
// Runs `chain` and the same layers one by one (weights copied), forward and backward, and checks
// that the chain gives bit-identical results while keeping no output for its middle layer.
template <class Chain, class A, class M, class C>
void check_recomputed_middle(bool training) {
    Chain chain;
    A a;
    M m;
    C c;
    std::vector<tensor<float>*> from, to;
    chain.visit_parameters(std::string_view{}, [&](std::string_view, tensor<float>& v, tensor<float>&) { from.push_back(&v); });
    const auto collect = [&](std::string_view, tensor<float>& v, tensor<float>&) { to.push_back(&v); };
    a.visit_parameters(std::string_view{}, collect);
    m.visit_parameters(std::string_view{}, collect);
    c.visit_parameters(std::string_view{}, collect);
    REQUIRE(from.size() == to.size());
    for (std::size_t i = 0; i < from.size(); ++i) *to[i] = *from[i];
    chain.train(training);
    a.train(training);
    m.train(training);
    c.train(training);
    rng r(11);
    tensor<float> x(shape4{2, 2, 9, 7}), dy(shape4{2, 3, 9, 7});
    test::fill_normal(x, r);
    test::fill_normal(dy, r);
    for (int round = 0; round < 2; ++round) {  // twice: the shared buffer goes back each time
        const tensor<float> y = chain.forward(x);
        CHECK(chain.template get<1>().output().size() == 0);  // the middle output was not kept
        const tensor<float>& ym = m.forward(a.forward(x));
        const tensor<float> y_ref = c.forward(ym);
        CHECK(max_abs_diff(y, y_ref) == 0.0);
        const tensor<float> dx = chain.backward(x, dy);
        CHECK(chain.template get<1>().output().size() == 0);  // and backward gave the buffer back
        const tensor<float> dx_ref = a.backward(x, m.backward(a.output(), c.backward(m.output(), dy)));
        CHECK(max_abs_diff(dx, dx_ref) == 0.0);
    }
    std::vector<tensor<float>> g1, g2;
    chain.visit_parameters(std::string_view{}, [&](std::string_view, tensor<float>&, tensor<float>& g) { g1.push_back(g); });
    const auto grads = [&](std::string_view, tensor<float>&, tensor<float>& g) { g2.push_back(g); };
    a.visit_parameters(std::string_view{}, grads);
    m.visit_parameters(std::string_view{}, grads);
    c.visit_parameters(std::string_view{}, grads);
    REQUIRE(g1.size() == g2.size());
    for (std::size_t i = 0; i < g1.size(); ++i) CHECK(max_abs_diff(g1[i], g2[i]) == 0.0);
}
}  // namespace

TEST_CASE("a norm or ReLU between two convolutions keeps no output; backward recomputes it exactly") {
    using conv_a = conv2d<conv2d_cfg{.in = 2, .out = 4, .kernel = 3, .pad = padding::same, .bias = false}>;
    using conv_c = conv2d<conv2d_cfg{.in = 4, .out = 3, .kernel = 3, .pad = padding::same, .bias = true}>;
    using norm = batch_norm2d<batch_norm2d_cfg{.channels = 4, .relu = true}>;
    using plain_norm = batch_norm2d<batch_norm2d_cfg{.channels = 4, .relu = false}>;
    SUBCASE("batch norm + ReLU, training") {
        check_recomputed_middle<sequential<named<"a", conv_a>, named<"m", norm>, named<"c", conv_c>>, conv_a, norm, conv_c>(true);
    }
    SUBCASE("batch norm + ReLU, eval") {
        check_recomputed_middle<sequential<named<"a", conv_a>, named<"m", norm>, named<"c", conv_c>>, conv_a, norm, conv_c>(false);
    }
    SUBCASE("batch norm without ReLU, training") {
        check_recomputed_middle<sequential<named<"a", conv_a>, named<"m", plain_norm>, named<"c", conv_c>>, conv_a,
                                plain_norm, conv_c>(true);
    }
    SUBCASE("ReLU") {
        check_recomputed_middle<sequential<named<"a", conv_a>, named<"m", relu<>>, named<"c", conv_c>>, conv_a, relu<>,
                                conv_c>(true);
    }
}

TEST_CASE("level buffers: short-lived level results share buffers, and nothing changes") {
    // Backward: the gradients that pass between levels (the decoder inputs', the up-sampled
    // maps', the poolings') live in the network's shared level buffers, so the layers that
    // produced them hold none afterwards; a second network on the same thread reuses the same
    // buffers without disturbing the first network's results.
    small_bn a(6), b(6), c(7);
    rng r(4);
    tensor<float> x(shape4{2, 1, 32, 32});
    test::fill_normal(x, r);
    tensor<float> dy(a.forward(x).shape());
    test::fill_normal(dy, r);
    const tensor<float> dx_alone = [&] {
        a.need_input_grad(true);
        a.forward(x);
        return tensor<float>(a.backward(x, dy));
    }();
    std::vector<tensor<float>> alone;
    a.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& g) { alone.push_back(g); });
    // b and c interleave: b forward, c forward and backward, then b backward.
    b.need_input_grad(true);
    b.forward(x);
    c.forward(x);
    c.backward(x, dy);
    const tensor<float>& dx_b = b.backward(x, dy);
    CHECK(max_abs_diff(dx_b, dx_alone) == 0.0);
    std::vector<tensor<float>> interleaved;
    b.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& g) { interleaved.push_back(g); });
    REQUIRE(alone.size() == interleaved.size());
    for (std::size_t i = 0; i < alone.size(); ++i) CHECK(max_abs_diff(alone[i], interleaved[i]) == 0.0);
    tensor<float> probe;
    b.decoder<1>().swap_input_grad(probe);  // the decoder's input gradient: lent
    CHECK(probe.size() == 0);
    b.decoder<1>().swap_input_grad(probe);

    // Inference: the pooled maps, up-sampled maps and concatenations go to level buffers too;
    // the logits are those of a plain eval forward, and a backward after it throws.
    a.eval();
    const tensor<float> plain = a.forward(x);
    tensor<float> lent;
    {
        inference_mode guard;
        lent = a.forward(x);
    }
    CHECK(max_abs_diff(lent, plain) < 1e-5);
    CHECK_THROWS_WITH_AS(a.backward(x, dy), doctest::Contains("inference_mode"), std::logic_error);
    a.forward(x);  // a normal forward makes backward legal again
    CHECK_NOTHROW(a.backward(x, dy));
}

TEST_CASE("training on a fixed batch lowers the loss") {
    unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2, .pad = padding::reflect}> net(3);
    optim::adam opt(net, {.lr = 1e-2});
    losses::bce_with_logits bce;
    tensor<float> x(shape4{4, 1, 16, 16}), t(shape4{4, 1, 16, 16});
    for (int n = 0; n < 4; ++n)
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                const bool inside = (i - 8) * (i - 8) + (j - 6 - n) * (j - 6 - n) < 20;
                t(n, 0, i, j) = inside ? 1.0f : 0.0f;
                x(n, 0, i, j) = inside ? 0.2f : 0.8f;
            }
    tensor<float> grad;
    float first = 0, last = 0;
    for (int step = 0; step < 40; ++step) {
        opt.zero_grad();
        const float loss = bce(net.forward(x), t, &grad);
        REQUIRE(std::isfinite(loss));
        net.backward(x, grad);
        opt.step();
        if (step == 0) first = loss;
        last = loss;
    }
    MESSAGE("loss " << first << " -> " << last);
    CHECK(last < 0.5f * first);
}

TEST_CASE("dropout: seeded masks, identity in eval, same mask in backward") {
    dropout<0.5> d;
    rng r(4);
    d.init(r);
    tensor<float> x(shape4{1, 1, 10, 10}, 1.0f);
    const tensor<float> y = d.forward(x);
    int zeros = 0;
    for (float v : y) {
        CHECK((v == 0.0f || v == 2.0f));
        zeros += v == 0.0f;
    }
    CHECK(zeros > 20);
    CHECK(zeros < 80);
    tensor<float> g(x.shape(), 1.0f);
    const tensor<float>& dx = d.backward(x, g);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(dx[i] == y[i]);
    d.train(false);
    const tensor<float>& ye = d.forward(x);
    for (float v : ye) CHECK(v == 1.0f);
}

TEST_CASE("the input-image gradient is skipped by default without changing parameter gradients") {
    using N = unet<unet_cfg{.in_channels = 2, .classes = 1, .base = 4, .depth = 2}>;
    N a(9), b(9);
    CHECK_FALSE(a.needs_input_grad());
    b.need_input_grad(true);
    rng r(2);
    tensor<float> x(shape4{2, 2, 16, 16}), dy(shape4{2, 1, 16, 16});
    test::fill_normal(x, r);
    test::fill_normal(dy, r);
    a.forward(x);
    b.forward(x);
    CHECK(a.backward(x, dy).empty());
    CHECK(b.backward(x, dy).shape() == x.shape());
    std::vector<tensor<float>> ga, gb;
    a.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& g) { ga.push_back(g); });
    b.visit_parameters([&](std::string_view, tensor<float>&, tensor<float>& g) { gb.push_back(g); });
    REQUIRE(ga.size() == gb.size());
    for (std::size_t i = 0; i < ga.size(); ++i) CHECK(max_abs_diff(ga[i], gb[i]) == 0.0);
}
