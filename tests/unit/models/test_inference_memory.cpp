// Memory planning (exec/workspace.hpp): the workspace's mechanics, and the inference savings of
// UNet++, the encoder classifier and deep supervision. Each network is compared with a twin that
// runs the same eval-mode forward outside inference_mode: the same outputs (the batch norms
// folded into the convolutions change the rounding only), fewer bytes allocated for the pass, no
// allocation on a second pass at the same shape, and no backward after the inference-only pass.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <unetpp/unet.hpp>

#include "../../support/compare.hpp"
#include "../../support/conv_algo.hpp"
#include "../../support/gradcheck.hpp"
#include "../../support/model_inspect.hpp"

using namespace unetpp;

namespace {

tensor<float> input(shape4 s, std::uint64_t seed) {
    tensor<float> x(s);
    rng r(seed);
    test::fill_normal(x, r);
    return x;
}

/// The outputs of a forward as host tensors (one for a segmentation network or a classifier,
/// main + auxiliary maps for deep supervision).
template <class Out>
std::vector<tensor<float>> outputs_of(const Out& out) {
    if constexpr (requires { out.aux; }) {
        std::vector<tensor<float>> v{out.main.values()};
        for (const auto& a : out.aux) v.emplace_back(a.values());
        return v;
    } else if constexpr (requires { out.values(); }) {
        return {out.values()};
    } else {
        return {out};
    }
}

struct pass_cost {
    std::vector<tensor<float>> outputs;
    std::size_t bytes = 0;        // allocated during the first pass
    std::size_t allocations = 0;  // during a second pass at the same shape
};

template <class Net>
pass_cost run(Net& net, const tensor<float>& x, bool inference) {
    pass_cost c;
    std::optional<inference_mode> guard;
    if (inference) guard.emplace();
    const auto b0 = memory::host::allocated_bytes();
    const auto& first = net.forward(x);
    c.bytes = memory::host::allocated_bytes() - b0;
    c.outputs = outputs_of(first);
    const auto a0 = memory::host::allocation_count();
    net.forward(x);
    c.allocations = memory::host::allocation_count() - a0;
    return c;
}

/// The twin comparison described in the file comment. Returns fused bytes / plain bytes.
template <class Net, class Backward>
double check_twins(const tensor<float>& x, Backward&& backward, double rtol = 1e-5) {
    Net warm(5), plain(5), fused(5);
    test::randomise_norms(plain, 7);
    test::randomise_norms(fused, 7);
    warm.eval();
    plain.eval();
    fused.eval();
    run(warm, x, true);  // the backend's per-thread scratch at this shape, before either twin
    run(warm, x, false);
    const pass_cost p = run(plain, x, false);
    const pass_cost f = run(fused, x, true);
    REQUIRE(f.outputs.size() == p.outputs.size());
    for (std::size_t k = 0; k < f.outputs.size(); ++k) {
        INFO("output " << k);
        REQUIRE(f.outputs[k].shape() == p.outputs[k].shape());
        CHECK(test::max_rel_error(f.outputs[k], p.outputs[k]) < rtol);
    }
    MESSAGE(Net::describe() << ": first pass allocates " << p.bytes << " bytes in eval mode, " << f.bytes
                            << " under inference_mode");
    CHECK(f.allocations == 0);
    CHECK(p.allocations == 0);
    try {
        backward(fused, x);
        FAIL("backward after an inference_mode forward must throw");
    } catch (const std::logic_error& e) {
        INFO(std::string(e.what()));
        CHECK(std::string(e.what()).find("inference_mode") != std::string::npos);
    }
    // An ordinary forward makes backward legal again.
    fused.forward(x);
    CHECK_NOTHROW(backward(fused, x));
    return static_cast<double>(f.bytes) / static_cast<double>(p.bytes);
}

template <class Net>
void backward_ones(Net& net, const tensor<float>& x) {
    tensor<float> dy(net.output().shape(), 1.0f);
    net.backward(x, dy);
}

}  // namespace

TEST_CASE("workspace: named slots, grow-only, copies start empty, release frees") {
    using T = tensor<float>;
    exec::workspace<T> ws;
    CHECK(ws.bytes() == 0);
    ws[exec::slot::merged].resize(shape4{1, 2, 4, 4});
    CHECK(ws.bytes() == 32 * sizeof(float));
    ws[exec::slot::merged].resize(shape4{1, 1, 2, 2});  // smaller: the storage stays
    CHECK(ws.bytes() == 32 * sizeof(float));
    CHECK(&ws.fused(0) == &ws[exec::slot::fused_even]);
    CHECK(&ws.fused(3) == &ws[exec::slot::fused_odd]);
    REQUIRE(ws.lent_grad(0, 1) != nullptr);
    CHECK(ws.lent_grad(0, 1) == ws.lent_grad(0, 3));
    CHECK(ws.lent_grad(0, 0) != ws.lent_grad(0, 1));
    CHECK(ws.lent_grad(exec::grad_lending_depths, 0) == nullptr);
    CHECK(ws.lent_grad(-1, 0) == nullptr);
    const exec::workspace<T> copy = ws;
    CHECK(copy.bytes() == 0);
    ws.release();
    CHECK(ws.bytes() == 0);
}

TEST_CASE("workspace: binding scopes nest, fused loans nest, outside a network each thread has its own") {
    using T = tensor<float>;
    exec::workspace<T> a, b;
    exec::workspace<T>& own = exec::current<T>();
    CHECK(&own != &a);
    {
        const exec::bind_workspace<T> bind_a(a);
        CHECK(&exec::current<T>() == &a);
        {
            const exec::bind_workspace<T> bind_b(b);
            CHECK(&exec::current<T>() == &b);
        }
        CHECK(&exec::current<T>() == &a);
    }
    CHECK(&exec::current<T>() == &own);
    T lent1, lent2;
    T* even = &a[exec::slot::fused_even];
    {
        const exec::fused_loan<T> l1(a, lent1);
        CHECK(&a.fused(0) == &lent1);
        CHECK(&a.fused(1) == &a[exec::slot::fused_odd]);
        {
            const exec::fused_loan<T> l2(a, lent2);
            CHECK(&a.fused(2) == &lent2);
        }
        CHECK(&a.fused(0) == &lent1);
    }
    CHECK(&a.fused(0) == even);
}

TEST_CASE("output_loan: the layer gets its buffer back and is marked, also when the forward throws") {
    using conv_t = conv2d<conv2d_cfg{.in = 1, .out = 2, .kernel = 3, .pad = padding::same}>;
    conv_t conv;
    rng r(3);
    conv.init(r);
    const tensor<float> x = input({1, 1, 6, 6}, 4);
    exec::workspace<tensor<float>> ws;
    tensor<float>& slot = ws[exec::slot::pool_up];
    const tensor<float>& y = exec::lent_forward(true, ws, exec::slot::pool_up, conv, x.shape(),
                                                [&]() -> const tensor<float>& { return conv.forward(x); });
    CHECK(&y == &slot);
    CHECK(y.shape() == shape4{1, 2, 6, 6});
    CHECK(conv.output().size() == 0);  // the result is the slot's, not the layer's
    tensor<float> dy(y.shape(), 1.0f);
    CHECK_THROWS_AS(conv.backward(x, dy), std::logic_error);
    // A throwing forward: the buffers are exchanged back all the same.
    const tensor<float> wrong = input({1, 3, 6, 6}, 5);
    CHECK_THROWS(exec::lent_forward(true, ws, exec::slot::pool_up, conv, wrong.shape(),
                                    [&]() -> const tensor<float>& { return conv.forward(wrong); }));
    CHECK(slot.shape() == shape4{1, 2, 6, 6});
    conv.forward(x);
    CHECK_NOTHROW(conv.backward(x, dy));
}

TEST_CASE("UNet++ under inference_mode: same logits, its pooled and up-sampled maps and concatenations lent") {
    using net_t = presets::unet_plusplus<8, 3>;
    const double ratio = check_twins<net_t>(input({2, 1, 32, 32}, 11), backward_ones<net_t>);
    // The 6 concatenations, 6 up-sampled maps and 3 pooled maps (each kept by its node before)
    // now share two slots; the nodes keep their outputs, which later nodes read.
    CHECK(ratio < 0.7);
}

TEST_CASE("encoder classifier under inference_mode: same logit, its feature maps in two slots") {
    using net_t = presets::busi_stage_classifier<>;
    const auto back = [](net_t& net, const tensor<float>& x) {
        tensor<float> dy(shape4{x.shape().n, 1, 1, 1}, 1.0f);
        net.backward(x, dy);
    };
    const double ratio = check_twins<net_t>(input({2, 1, 64, 64}, 12), back);
    CHECK(ratio < 0.5);
}

TEST_CASE("deep supervision under inference_mode keeps the network's savings") {
    using ds_unet = deeply_supervised<presets::unet_bn<8, 3>>;
    using ds_pp = presets::unet_plusplus_ds<8, 3>;
    const auto back = [](auto& net, const tensor<float>& x) {
        deep_supervision_gradients<float> g;
        g.main = tensor<float>(net.net().output().shape(), 1.0f);
        for (int k = 0; k < std::decay_t<decltype(net)>::aux_count; ++k) g.aux.emplace_back(g.main.shape(), 1.0f);
        net.backward(x, g);
    };
    const tensor<float> x = input({1, 1, 32, 32}, 13);
    CHECK(check_twins<ds_unet>(x, back) < 0.8);
    CHECK(check_twins<ds_pp>(x, back) < 0.7);
}

TEST_CASE("share_workspace: networks that run one after the other use one set of slots") {
    using net_t = presets::unet_bn<8, 3>;
    const tensor<float> x = input({1, 1, 32, 32}, 14);
    net_t a(1), b(1), c(1);
    a.eval();
    b.eval();
    c.eval();
    {
        inference_mode guard;
        a.forward(x);
    }
    REQUIRE(a.workspace().bytes() > 0);
    CHECK(c.workspace().bytes() == 0);  // each network has its own
    b.share_workspace(&a.workspace());
    const auto bytes = a.workspace().bytes();
    std::vector<tensor<float>> got, want;
    {
        inference_mode guard;
        got.push_back(b.forward(x));
        want.push_back(c.forward(x));
    }
    CHECK(&b.workspace() == &a.workspace());
    CHECK(a.workspace().bytes() == bytes);  // b used a's slots, which were large enough
    CHECK(c.workspace().bytes() == bytes);
    CHECK(max_abs_diff(got[0], want[0]) == 0.0);
    b.share_workspace(nullptr);
    CHECK(&b.workspace() != &a.workspace());
    // The hierarchical classifier's stages share one workspace.
    hierarchical_classifier<presets::busi_stage_cfg> h(3);
    CHECK(&h.stage1().workspace() == &h.stage2().workspace());
    a.workspace().release();
    CHECK(a.workspace().bytes() == 0);
}

namespace {

/// The two-input decoders of a U-Net against the same network with the concatenation written
/// (the direct kernels forced: no two-input forward there). Returns the `merged` and `level_out`
/// capacities of both, two-input first.
template <class Net>
std::pair<std::array<std::size_t, 2>, std::array<std::size_t, 2>> two_input_vs_concat(const tensor<float>& x) {
    // The same logits as the eval-mode forward outside inference_mode, no allocation on a second
    // pass, no backward after it.
    check_twins<Net>(x, backward_ones<Net>);
    std::vector<tensor<float>> logits;
    std::array<std::size_t, 2> merged{}, level_out{};
    int k = 0;
    for (const auto algo : {backend::cpu_kernels::conv_algo::automatic, backend::cpu_kernels::conv_algo::direct}) {
        const test::conv_algo_scope force(algo);
        Net net(5);
        test::randomise_norms(net, 7);
        net.eval();
        const inference_mode guard;
        logits.push_back(net.forward(x));
        merged[k] = net.workspace()[exec::slot::merged].capacity();
        level_out[k++] = net.workspace()[exec::slot::level_out].capacity();
    }
    CHECK(test::max_rel_error(logits[0], logits[1]) < 1e-4);
    return {merged, level_out};
}

}  // namespace

TEST_CASE("U-Net under inference_mode: a decoder reads its skip and up-sampled map without concatenating them") {
    // Level 0's decoder convolution of unet_bn<32, 3> at 2 x 64 x 64: [skip 32, up-sampled 32] -> 32.
    if (!backend::cpu::conv2d_forward_fused_two_supported<float>({2, 64, 64, 64, 32, 3, 3, 1, 1}, 32, 64, 64)) {
        MESSAGE("this build's kernels read one input per convolution (no Winograd): nothing to check");
        return;
    }
    SUBCASE("padded: unet_bn") {
        const auto [merged, level_out] = two_input_vs_concat<presets::unet_bn<32, 3>>(input({2, 1, 64, 64}, 15));
        // `merged` holds the encoders' and decoders' intermediate maps (32 channels at level 0),
        // never level 0's 64-channel concatenation, which it holds when the concatenation is
        // written. Level 0's result goes to pool_up, where the up-sampled map it was computed
        // from lay: level_out holds level 1's [2, 64, 32, 32] at most, not level 0's [2, 32, 64, 64].
        const std::size_t concat0 = std::size_t(2) * 64 * 64 * 64;
        CHECK(merged[0] == concat0 / 2);
        CHECK(merged[1] == concat0);
        CHECK(level_out[0] == concat0 / 4);
        CHECK(level_out[1] == concat0 / 2);
    }
    SUBCASE("unpadded: ronneberger2015, the skip read centre-cropped") {
        using net_t = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 32, .depth = 2, .kernel = 3,
                                    .pad = padding::valid},
                           backend::cpu>;
        const int side = net_t::next_valid_size(60);
        const auto [merged, level_out] = two_input_vs_concat<net_t>(input({1, 1, side, side}, 16));
        // Level 0's result went to pool_up, which only the two-input decoder does. (Here the
        // encoder's intermediate map, 32 channels at side - 2, is the largest use of `merged`
        // either way: level 0's concatenation is smaller.)
        CHECK(level_out[0] < level_out[1]);
        CHECK(merged[0] == std::size_t(32) * (side - 2) * (side - 2));
    }
}

namespace {
/// A block under a prefix, as a network's visit names it (test::randomise_norms finds ".bn").
template <class Block>
struct prefixed {
    Block& b;
    template <class F>
    void visit_parameters(F&& f) {
        b.visit_parameters("dec", f);
    }
    template <class F>
    void visit_buffers(F&& f) {
        b.visit_buffers("dec", f);
    }
};
}  // namespace

TEST_CASE("double_conv::forward_two: the forward of the concatenation, bit for bit, without it") {
    using block_t = double_conv<double_conv_cfg{.in = 64, .out = 32}>;
    if (!backend::cpu::conv2d_forward_fused_two_supported<float>(backend::conv_geometry{1, 64, 20, 28, 32, 3, 3, 1, 1},
                                                                  24, 20, 28)) {
        MESSAGE("this build's kernels read one input per convolution (no Winograd): nothing to check");
        return;
    }
    block_t block;
    rng r(18);
    block.init(r);
    prefixed<block_t> view{block};
    test::randomise_norms(view, 19);
    block.train(false);
    // [a, b] along channels, image by image.
    const auto concat = [](const tensor<float>& a, const tensor<float>& b) {
        const shape4 sa = a.shape(), sb = b.shape();
        tensor<float> cat(shape4{sa.n, sa.c + sb.c, sa.h, sa.w});
        const std::size_t hw = std::size_t(sa.h) * sa.w, ca = sa.c * hw, cb = sb.c * hw;
        for (std::size_t n = 0; n < std::size_t(sa.n); ++n) {
            std::copy_n(a.data() + n * ca, ca, cat.data() + n * (ca + cb));
            std::copy_n(b.data() + n * cb, cb, cat.data() + n * (ca + cb) + ca);
        }
        return cat;
    };
    struct pair_case {
        shape4 a, b;
    };
    // Equal halves at batch 2 (groups of tiles span images) and unequal ones at batch 1.
    for (const auto& pc : {pair_case{{2, 32, 20, 28}, {2, 32, 20, 28}}, pair_case{{1, 24, 20, 28}, {1, 40, 20, 28}}}) {
        CAPTURE(pc.a.n);
        const tensor<float> a = input(pc.a, 16), b = input(pc.b, 17);
        {  // outside inference_mode: the unfused passes (what training runs)
            REQUIRE(block.can_forward_two(a, b) == (pc.a.c == pc.b.c || pc.a.n == 1));
            const tensor<float> want = block.forward(concat(a, b));
            const tensor<float> got = block.forward_two(a, b);
            CHECK(max_abs_diff(got, want) == 0.0);
        }
        const inference_mode guard;
        REQUIRE(block.can_forward_two(a, b));
        const tensor<float> want = block.forward(concat(a, b));
        const tensor<float> got = block.forward_two(a, b);
        CHECK(max_abs_diff(got, want) == 0.0);
    }
    // Unequal halves at batch 2: the gathers cannot step over both tensors' images.
    const tensor<float> a = input({2, 24, 20, 28}, 20), b = input({2, 40, 20, 28}, 21);
    const inference_mode guard;
    CHECK_FALSE(block.can_forward_two(a, b));
    CHECK_THROWS_AS(block.forward_two(a, b), std::logic_error);
}

TEST_CASE("U-Net training step: decoders read the skip and up-sampled map, write their gradients, no concatenation") {
    using net_t = presets::unet_bn<32, 3>;
    if (!backend::cpu::conv2d_two_inputs_supported<float>({2, 64, 64, 64, 32, 3, 3, 1, 1}, 32)) {
        MESSAGE("this build's kernels read one input per convolution (no Winograd): nothing to check");
        return;
    }
    const tensor<float> x = input({2, 1, 64, 64}, 22);
    // A forward and backward with the two-input decoders and with the direct kernels forced (which
    // concatenate): the bytes the step allocates and whether the concatenation's gradient slot
    // was used.
    struct step {
        std::size_t bytes = 0, dec_grad = 0;
    };
    const auto run_step = [&](backend::cpu_kernels::conv_algo algo, bool training) {
        const test::conv_algo_scope force(algo);
        net_t net(5);
        test::randomise_norms(net, 7);
        net.train(training);
        step s;
        const auto b0 = memory::host::allocated_bytes();
        const tensor<float> y = net.forward(x);
        tensor<float> dy(y.shape());
        rng r(23);
        test::fill_normal(dy, r);
        net.backward(x, dy);
        s.bytes = memory::host::allocated_bytes() - b0;
        s.dec_grad = net.workspace()[exec::slot::dec_grad].capacity();
        return s;
    };
    const step two = run_step(backend::cpu_kernels::conv_algo::automatic, true);
    const step cat = run_step(backend::cpu_kernels::conv_algo::direct, true);
    MESSAGE("training step allocates " << two.bytes << " bytes with two-input decoders, " << cat.bytes
                                       << " with concatenations");
    // The concatenations' gradient (dec_grad) is never written; level 0's concatenation and its
    // gradient alone (2 x 64 x 64 x 64 floats each) are 4 MiB of what the concatenating step holds.
    CHECK(two.dec_grad == 0);
    CHECK(cat.dec_grad > 0);
    CHECK(two.bytes + std::size_t(2) * 64 * 64 * 64 * sizeof(float) * 2 <= cat.bytes);

    // Eval mode outside inference_mode (a backward may follow) takes the same path. Its gradients
    // against the concatenating network on the direct kernels: unit_backend_winograd's
    // whole-network test, which redraws inputs until no ReLU or pooling decision flips between
    // the two (here a flip under another build's rounding moved one gradient by 1%).
    CHECK(run_step(backend::cpu_kernels::conv_algo::automatic, false).dec_grad == 0);
}
