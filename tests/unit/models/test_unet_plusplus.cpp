// Seed 004's CBR2d U-Net (presets::unet_cbr), UNet++ (nested_unet / presets::unet_plusplus) and
// deep supervision (deeply_supervised + losses::deep_supervision): names, counts, shapes, the
// nested wiring, finite-difference gradients (double, reference backend), training and
// checkpoints.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/train.hpp>
#include <unetpp/unet.hpp>

#include "../../support/gradcheck.hpp"
#include "../../support/model_inspect.hpp"

using namespace unetpp;
using test::check_layer_gradients;
using R = backend::cpu_reference;
using test::counted_parameters;
using test::parameter_sizes;
using D = double;
namespace fs = std::filesystem;

namespace {

template <class Net>
std::size_t counted_running_stats(Net& net) {
    std::size_t n = 0;
    net.visit_buffers([&](std::string_view name, auto& v) {
        if (name.ends_with("running_mean") || name.ends_with("running_var")) n += v.size();
    });
    return n;
}

/// UNet++ parameter count in closed form (independent of the implementation): node X^{i,j} is
/// conv 3x3 (in -> c, no bias) + BN(c) + conv 3x3 (c -> c, no bias) + BN(c) with in = the
/// image / the level above for j = 0 and (j + 1) c for j >= 1; each j >= 1 node has a 2x2
/// transposed conv 2c -> c with bias; the head is a 1x1 conv base -> classes with bias.
constexpr std::size_t unet_plusplus_formula(std::size_t base, int depth, std::size_t in, std::size_t classes) {
    std::size_t n = 0;
    for (int i = 0; i <= depth; ++i)
        for (int j = 0; i + j <= depth; ++j) {
            const std::size_t c = base << i;
            const std::size_t cin = j > 0 ? (j + 1) * c : (i == 0 ? in : c / 2);
            n += 9 * cin * c + 2 * c + 9 * c * c + 2 * c;
            if (j > 0) n += 4 * (2 * c) * c + c;
        }
    return n + base * classes + classes;
}
static_assert(presets::unet_plusplus<>::parameter_count == unet_plusplus_formula(32, 4, 1, 1));
static_assert(presets::unet_plusplus<16, 3, 3, 2>::parameter_count == unet_plusplus_formula(16, 3, 3, 2));
static_assert(presets::unet_plusplus<8, 1>::parameter_count == unet_plusplus_formula(8, 1, 1, 1));

/// A deeply supervised model seen as one layer (main and auxiliary logits laid end to end), so
/// that check_layer_gradients probes the gradient through every head at once.
template <class M>
struct supervised_as_layer {
    using value_type = typename M::value_type;
    using tensor_type = typename M::tensor_type;
    M model;
    tensor_type y;
    deep_supervision_gradients<value_type> g;
    std::vector<shape4> shapes;
    explicit supervised_as_layer(std::uint64_t seed) : model(seed) {}
    void need_input_grad(bool on) { model.need_input_grad(on); }
    const tensor_type& forward(const tensor_type& x) {
        auto out = model.forward(x);
        shapes.assign(1, out.main.shape());
        std::size_t total = out.main.values().size();
        for (const auto& a : out.aux) {
            shapes.push_back(a.shape());
            total += a.values().size();
        }
        y.resize(shape4{1, 1, 1, static_cast<int>(total)});
        std::size_t k = 0;
        for (std::size_t i = 0; i < out.main.values().size(); ++i) y[k++] = out.main[i];
        for (const auto& a : out.aux)
            for (std::size_t i = 0; i < a.values().size(); ++i) y[k++] = a[i];
        return y;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        std::size_t k = 0;
        g.main.resize(shapes[0]);
        for (auto& v : g.main) v = dy[k++];
        g.aux.resize(shapes.size() - 1);
        for (std::size_t a = 0; a + 1 < shapes.size(); ++a) {
            g.aux[a].resize(shapes[a + 1]);
            for (auto& v : g.aux[a]) v = dy[k++];
        }
        return model.backward(x, g);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        model.visit_parameters(prefix, f);
    }
};

/// Central differences of the deep-supervision loss itself (not a random projection of the
/// outputs) against deeply_supervised::backward fed by the loss's gradients.
template <class M, class L>
void check_loss_gradients(M& net, const L& loss, shape4 in, const test::gradcheck_opts& o) {
    net.need_input_grad(true);
    rng r(o.seed);
    tensor<D> x(in), target(shape4{in.n, M::cfg.classes, in.h, in.w});
    test::fill_normal(x, r);
    for (auto& t : target) t = r.uniform(0.0, 1.0) < 0.4 ? 1.0 : 0.0;
    net.zero_grad();
    deep_supervision_gradients<D> g;
    loss(net.forward(x), target, &g);
    const tensor<D> dx = net.backward(x, g);
    auto value = [&] { return static_cast<double>(loss(net.forward(x), target).total); };
    test::grad_report rep;
    for (std::size_t i : test::probe_indices(x.size(), o.max_checks_per_tensor, r)) {
        const D keep = x[i];
        x[i] = keep + o.step;
        const double lp = value();
        x[i] = keep - o.step;
        const double lm = value();
        x[i] = keep;
        rep.add("input", i, dx[i], (lp - lm) / (2 * o.step), o);
    }
    net.visit_parameters([&](std::string_view name, tensor<D>& p, tensor<D>& gp) {
        for (std::size_t i : test::probe_indices(p.size(), o.max_checks_per_tensor, r)) {
            const D keep = p[i];
            p[i] = keep + o.step;
            const double lp = value();
            p[i] = keep - o.step;
            const double lm = value();
            p[i] = keep;
            rep.add(std::string(name), i, gp[i], (lp - lm) / (2 * o.step), o);
        }
    });
    INFO("checked " << rep.checked << " derivatives; worst: " << rep.where);
    CHECK(rep.checked > 0);
    CHECK(rep.ok);
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> k{0};
        path = fs::temp_directory_path() /
               ("unetpp_test_unet_plusplus_" + std::to_string(::getpid()) + "_" + std::to_string(k++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

template <class Net>
std::vector<float> weights_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, tensor<float>& p, tensor<float>&) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    net.visit_buffers([&](std::string_view, tensor<float>& p) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}

}  // namespace

TEST_CASE("unet_cbr: seed 004's CBR2d U-Net is unet_bn with the level convolutions' bias") {
    static_assert(presets::unet_cbr<>::parameter_count == 31'042'369);
    // 9 blocks (4 encoder, bottleneck, 4 decoder) of two convolutions: 2 * (64+128+256+512) * 2 + 2 * 1024.
    static_assert(presets::unet_cbr<>::parameter_count - presets::unet_bn<>::parameter_count == 5'888);
    static_assert(presets::unet_cbr<>::buffer_count == presets::unet_bn<>::buffer_count);
    static_assert(presets::unet_cbr<>::is_valid_size(256) && !presets::unet_cbr<>::is_valid_size(250));

    presets::unet_cbr<4, 2> net(1);
    presets::unet_bn<4, 2> plain(1);
    const auto p = parameter_sizes(net), q = parameter_sizes(plain);
    CHECK(counted_parameters(net) == presets::unet_cbr<4, 2>::parameter_count);
    // Same names as unet_bn plus one bias per convolution.
    for (const auto& [name, size] : q) CHECK(p.at(name) == size);
    std::set<std::string> extra;
    for (const auto& [name, size] : p)
        if (!q.count(name)) extra.insert(name);
    CHECK(extra.size() == 10);  // 5 blocks x 2 convolutions
    CHECK(extra.count("enc1.conv1.bias") == 1);
    CHECK(extra.count("bottleneck.conv2.bias") == 1);
    CHECK(p.at("dec1.conv1.bias") == 4);
    CHECK(p.at("up2.bias") == 8);
    CHECK(p.at("head.bias") == 1);
    tensor<float> x(shape4{2, 1, 16, 12});
    rng r(2);
    test::fill_normal(x, r);
    CHECK(net.forward(x).shape() == shape4{2, 1, 16, 12});
}

TEST_CASE("unet_plusplus: names, counts and shapes of the preset") {
    using pp = presets::unet_plusplus<>;
    static_assert(pp::depth == 4 && pp::node_count == 15);
    static_assert(pp::parameter_count == 9'045'249);
    static_assert(pp::buffer_count == 7'296);
    static_assert(pp::min_input_size == 16 && pp::is_valid_size(256) && !pp::is_valid_size(248));
    static_assert(pp::node_in_channels(0, 4) == 5 * 32 && pp::node_in_channels(3, 0) == 128);
    static_assert(pp::index(0, 0) == 0 && pp::index(1, 0) == 1 && pp::index(0, 1) == 2 && pp::index(0, 4) == 14);
    static_assert(pp::row(pp::index(2, 1)) == 2 && pp::col(pp::index(2, 1)) == 1);

    pp net(1);
    const auto p = parameter_sizes(net);
    CHECK(counted_parameters(net) == pp::parameter_count);
    CHECK(counted_running_stats(net) == pp::buffer_count);
    CHECK(p.at("x0_0.conv1.weight") == 32u * 1 * 9);
    CHECK(p.at("x4_0.conv2.weight") == 512u * 512 * 9);
    CHECK(p.at("x0_4.conv1.weight") == 32u * 160 * 9);  // [X^{0,0..3}, U(X^{1,3})]
    CHECK(p.at("x1_3.conv1.weight") == 64u * 256 * 9);
    CHECK(p.at("x0_1.bn2.weight") == 32);
    CHECK(p.at("up3_1.weight") == 512u * 256 * 4);
    CHECK(p.at("up3_1.bias") == 256);
    CHECK(p.at("up0_4.weight") == 64u * 32 * 4);
    CHECK(p.at("head.weight") == 32);
    CHECK(p.at("head.bias") == 1);
    CHECK(p.count("x0_0.conv1.bias") == 0);  // batch norm follows
    std::set<std::string> modules;
    for (const auto& [name, size] : p) modules.insert(name.substr(0, name.find('.')));
    std::size_t nodes = 0, ups = 0;
    for (const auto& m : modules) {
        nodes += m.starts_with("x");
        ups += m.starts_with("up");
        CHECK_FALSE((m.starts_with("enc") || m.starts_with("dec") || m.starts_with("skip")));
    }
    CHECK(nodes == 15);
    CHECK(ups == 10);

    tensor<float> x(shape4{1, 1, 32, 48});
    rng r(3);
    test::fill_normal(x, r);
    CHECK(net.forward(x).shape() == shape4{1, 1, 32, 48});
    CHECK(net.node<2, 1>().output().shape() == shape4{1, 128, 8, 12});
    try {
        net.forward(tensor<float>(shape4{1, 1, 40, 48}));
        FAIL("expected a shape_error");
    } catch (const shape_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("nested_unet") != std::string::npos);
        CHECK(msg.find("input height 40") != std::string::npos);
        CHECK(msg.find("nearest valid sizes: 32 or 48") != std::string::npos);
    }
    CHECK_THROWS_AS(net.forward(tensor<float>(shape4{1, 2, 32, 32})), shape_error);
}

TEST_CASE("unet_plusplus: X^{0,2} = H([X^{0,0}, X^{0,1}, U(X^{1,1})]) and the head reads X^{0,2}") {
    nested_unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 2, .depth = 2}, R, D> net(4);
    net.eval();
    tensor<D> x(shape4{2, 1, 8, 8});
    rng r(5);
    test::fill_normal(x, r);
    const tensor<D> logits = net.forward(x);
    const tensor<D> x02 = net.node<0, 2>().output();
    const tensor<D> x00 = net.node<0, 0>().output(), x01 = net.node<0, 1>().output();
    const tensor<D> u = net.up<0, 2>().forward(net.node<1, 1>().output());
    REQUIRE(u.shape() == shape4{2, 2, 8, 8});
    tensor<D> cat(shape4{2, 6, 8, 8});
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 6; ++c)
            for (int p = 0; p < 64; ++p) {
                const tensor<D>& src = c < 2 ? x00 : c < 4 ? x01 : u;
                cat[(std::size_t(n) * 6 + c) * 64 + p] = src[(std::size_t(n) * 2 + c % 2) * 64 + p];
            }
    const tensor<D>& again = net.node<0, 2>().forward(cat);
    REQUIRE(again.shape() == x02.shape());
    double worst = 0;
    for (std::size_t i = 0; i < x02.size(); ++i) worst = std::max(worst, std::abs(again[i] - x02[i]));
    CHECK(worst == 0.0);
    const tensor<D>& head = net.head().forward(x02);
    worst = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::abs(head[i] - logits[i]));
    CHECK(worst == 0.0);
}

TEST_CASE("finite-difference gradients (double, reference backend)") {
    test::gradcheck_opts o;
    o.max_checks_per_tensor = 5;
    // Biases in front of a training-mode batch norm have an exactly zero gradient; their finite
    // differences are rounding noise of the loss, so the absolute floor is raised above it.
    o.atol = 1e-6;
    SUBCASE("unet_cbr at a tiny size") {
        presets::unet_cbr<2, 2, 1, 1, R, D> net(6);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
    SUBCASE("UNet++ depth 2") {
        nested_unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 2, .depth = 2}, R, D> net(7);
        check_layer_gradients(net, {2, 1, 8, 8}, o);
    }
    SUBCASE("UNet++ depth 3, two input channels") {
        nested_unet<unet_cfg{.in_channels = 2, .classes = 1, .base = 1, .depth = 3}, R, D> net(8);
        check_layer_gradients(net, {1, 2, 16, 16}, o);
    }
    SUBCASE("deep supervision over UNet++: every head") {
        supervised_as_layer<deeply_supervised<presets::unet_plusplus<2, 3, 1, 1, R, D>>> net(9);
        check_layer_gradients(net, {1, 1, 16, 16}, o);
    }
    SUBCASE("deep supervision over unet_cbr: up-sampled decoder heads") {
        supervised_as_layer<deeply_supervised<presets::unet_cbr<2, 3, 1, 2, R, D>>> net(10);
        check_layer_gradients(net, {1, 1, 16, 16}, o);
    }
    SUBCASE("losses::deep_supervision through all heads (weighted BCE terms)") {
        deeply_supervised<presets::unet_plusplus<2, 3, 1, 1, R, D>> net(11);
        const losses::deep_supervision<losses::bce_with_logits> loss{.weights = {1.0, 0.5, 0.25}};
        check_loss_gradients(net, loss, {2, 1, 8, 8}, o);
        deeply_supervised<presets::unet_cbr<2, 3, 1, 2, R, D>> dec(12);
        const losses::deep_supervision<losses::dice_bce> dice{.weights = {0.7, 0.2, 0.1}};
        check_loss_gradients(dec, dice, {1, 1, 16, 16}, o);
    }
}

TEST_CASE("deep supervision: outputs, loss weights and the gradient each head receives") {
    using ds_t = deeply_supervised<presets::unet_cbr<2, 3, 1, 1, R, D>>;
    static_assert(ds_t::aux_count == 2);
    static_assert(ds_t::parameter_count == presets::unet_cbr<2, 3, 1, 1, R, D>::parameter_count + (4 + 1) + (8 + 1));
    CHECK(ds_t::aux_name(0) == "aux_dec2");
    CHECK(ds_t::aux_name(1) == "aux_dec3");
    ds_t net(13);
    const auto p = parameter_sizes(net);
    CHECK(p.at("aux_dec2.weight") == 4);
    CHECK(p.at("aux_dec3.weight") == 8);
    CHECK(p.at("aux_dec3.bias") == 1);
    CHECK(counted_parameters(net) == ds_t::parameter_count);

    tensor<D> x(shape4{2, 1, 16, 16}), mask(shape4{2, 1, 16, 16});
    rng r(14);
    test::fill_normal(x, r);
    for (auto& m : mask) m = r.uniform(0.0, 1.0) < 0.5 ? 1.0 : 0.0;
    auto out = net.forward(x);
    static_assert(std::is_same_v<decltype(out.main), heads::logits<D>>);
    static_assert(std::is_same_v<decltype(out.aux), std::vector<heads::logits<D>>>);
    REQUIRE(out.aux.size() == 2);
    for (const auto& a : out.aux) CHECK(a.shape() == out.main.shape());
    CHECK(net.net().decoder<2>().output().shape() == shape4{2, 8, 4, 4});  // dec3: 1/4 size, up-sampled twice

    // total = sum_k w_k L_k; each gradient carries its weight.
    const losses::bce_with_logits bce;
    const losses::deep_supervision<losses::bce_with_logits> loss{.weights = {1.0, 0.5, 0.25}};
    deep_supervision_gradients<D> g;
    const auto res = loss(out, mask, &g);
    tensor<D> g0, g2;
    const D l0 = bce(out.main.values(), mask, &g0), l1 = bce(out.aux[0].values(), mask),
            l2 = bce(out.aux[1].values(), mask, &g2);
    CHECK(res.main == doctest::Approx(l0));
    CHECK(res.aux[1] == doctest::Approx(l2));
    CHECK(res.total == doctest::Approx(l0 + 0.5 * l1 + 0.25 * l2));
    CHECK(g.main[5] == doctest::Approx(g0[5]));
    CHECK(g.aux[1][7] == doctest::Approx(0.25 * g2[7]));
    const auto equal = losses::deep_supervision<losses::bce_with_logits>{}(out, mask);
    CHECK(equal.total == doctest::Approx(l0 + l1 + l2));

    // With the auxiliary weights at 0 the network's gradients are exactly those of the main
    // logits alone, and the auxiliary heads get none.
    const losses::deep_supervision<losses::bce_with_logits> main_only{.weights = {1.0, 0.0, 0.0}};
    net.zero_grad();
    out = net.forward(x);
    main_only(out, mask, &g);
    net.backward(x, g);
    std::map<std::string, std::vector<D>> grads;
    net.visit_parameters([&](std::string_view name, tensor<D>&, tensor<D>& gp) {
        grads[std::string(name)].assign(gp.begin(), gp.end());
    });
    for (const auto& name : {"aux_dec2.weight", "aux_dec3.bias"})
        for (D v : grads.at(name)) CHECK(v == 0.0);
    net.zero_grad();
    net.forward(x);
    net.net().backward(x, g.main);
    net.visit_parameters([&](std::string_view name, tensor<D>&, tensor<D>& gp) {
        const auto& want = grads.at(std::string(name));
        bool same = true;
        for (std::size_t i = 0; i < want.size(); ++i) same = same && gp[i] == want[i];
        INFO(name);
        CHECK(same);
    });
    // ... and with them on, the auxiliary heads and the decoder get more.
    net.zero_grad();
    out = net.forward(x);
    loss(out, mask, &g);
    net.backward(x, g);
    double aux_norm = 0, diff = 0;
    net.visit_parameters([&](std::string_view name, tensor<D>&, tensor<D>& gp) {
        const auto& before = grads.at(std::string(name));
        for (std::size_t i = 0; i < before.size(); ++i) {
            if (name.starts_with("aux_")) aux_norm += std::abs(gp[i]);
            if (name.starts_with("dec3.conv1.weight")) diff += std::abs(gp[i] - before[i]);
        }
    });
    CHECK(aux_norm > 0);
    CHECK(diff > 0);

    // Bad input: wrong number of weights or gradients, negative weights.
    const losses::deep_supervision<losses::bce_with_logits> two_weights{.weights = {1.0, 1.0}};
    const losses::deep_supervision<losses::bce_with_logits> negative{.weights = {1.0, -1.0, 1.0}};
    CHECK_THROWS_AS(two_weights(out, mask), std::invalid_argument);
    CHECK_THROWS_AS(negative(out, mask), std::invalid_argument);
    tensor<D> bad_mask(mask.shape(), 2.0);
    try {
        loss(out, bad_mask);
        FAIL("expected invalid_argument");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("losses::deep_supervision: main logits") != std::string::npos);
    }
    try {
        net.backward(x, g.main, std::vector<tensor<D>>(1));
        FAIL("expected invalid_argument");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("aux_dec2, aux_dec3") != std::string::npos);
    }
    std::vector<tensor<D>> wrong{tensor<D>(shape4{2, 1, 8, 8}), g.aux[1]};
    CHECK_THROWS_AS(net.backward(x, g.main, wrong), shape_error);

    // UNet++ taps X^{0,1..depth-1}, already at full resolution.
    using dspp = presets::unet_plusplus_ds<2, 3, 1, 1, R, D>;
    static_assert(dspp::aux_count == 2);
    CHECK(dspp::aux_name(0) == "aux_x0_1");
    dspp pp(15);
    CHECK(parameter_sizes(pp).at("aux_x0_2.weight") == 2);
    const auto o2 = pp.forward(x);
    REQUIRE(o2.aux.size() == 2);
    CHECK(o2.aux[0].shape() == shape4{2, 1, 16, 16});
}

TEST_CASE("deep supervision under inference_mode: the auxiliary heads read each decoder map while it is valid") {
    // An inference_mode forward of a plain unet lends the deeper decoders one shared output slot
    // of its workspace, which each level overwrites. The wrapper keeps that saving: its heads run
    // as each map is computed (unet::forward_tapped), so the results equal a forward outside
    // inference_mode, where every decoder keeps its map.
    using net_t = presets::unet_bn<4, 3>;
    deeply_supervised<net_t> plain(21), fused(21);
    plain.eval();
    fused.eval();
    tensor<float> x(shape4{1, 1, 32, 32});
    rng r(22);
    test::fill_normal(x, r);
    const auto a = plain.forward(x);
    std::vector<tensor<float>> want{a.main.values()};
    for (const auto& z : a.aux) want.emplace_back(z.values());
    std::vector<tensor<float>> got;
    {
        inference_mode guard;
        const auto b = fused.forward(x);
        got.emplace_back(b.main.values());
        for (const auto& z : b.aux) got.emplace_back(z.values());
    }
    // dec2's map went to the shared slot (the decoder kept none of its own); its head read it in time.
    CHECK(fused.net().template decoder<1>().output().size() == 0);
    CHECK(plain.net().template decoder<1>().output().size() > 0);
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        REQUIRE(got[k].shape() == want[k].shape());
        double m = 0, d = 0;
        for (std::size_t i = 0; i < got[k].size(); ++i) {
            m = std::max(m, std::abs(double(want[k].data()[i])));
            d = std::max(d, std::abs(double(got[k].data()[i]) - double(want[k].data()[i])));
        }
        INFO("output " << k);
        CHECK(d <= 1e-5 * (m + 1e-30));
    }
}

TEST_CASE("training reduces the loss: UNet++ with deep supervision on one synthetic batch") {
    data::synthetic_dataset ds{4, {.size = 16, .seed = 3}};
    data::loader<data::synthetic_dataset> ld{ds, {.batch_size = 4, .shuffle = false}, std::vector<std::size_t>{0, 1, 2, 3}};
    ld.start_epoch(0);
    const auto b = ld.next();
    REQUIRE(b);
    deeply_supervised<presets::unet_plusplus<4, 2>> net(16);
    optim::adam opt(net, {.lr = 1e-2});
    const losses::deep_supervision<losses::dice_bce> loss{};
    deep_supervision_gradients<float> g;
    float first = 0, last = 0;
    for (int step = 0; step < 25; ++step) {
        net.zero_grad();
        const auto r = loss(net.forward(b->images), b->masks, &g);
        net.backward(b->images, g);
        opt.step();
        if (step == 0) first = r.total;
        last = r.total;
    }
    INFO("first " << first << ", last " << last);
    CHECK(std::isfinite(last));
    CHECK(last < 0.7f * first);
}

TEST_CASE("train::trainer, Adam and checkpoints work with UNet++ and the deep-supervision wrapper") {
    temp_dir tmp;
    data::synthetic_dataset ds{8, {.size = 16, .seed = 5}};
    data::loader<data::synthetic_dataset> ld{ds, {.batch_size = 4, .seed = 9}, std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7}};
    using pp = presets::unet_plusplus<4, 2>;
    pp net(17);
    optim::adam opt(net, {.lr = 1e-2});
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = 4, .monitor = "train_loss", .out_dir = tmp.path, .seed = 1,
                      .progress = train::progress_mode::silent});
    const auto res = t.fit(ld);
    REQUIRE(res.history.size() == 4);
    CHECK(res.history.back().train_loss < res.history.front().train_loss);
    pp back(99);
    optim::adam opt2(back, {.lr = 1e-2});
    (void)train::load_checkpoint(tmp.path / "last.safetensors", back, opt2);
    CHECK(weights_of(back) == weights_of(net));
    const auto file = io::safetensors_file::load(tmp.path / "last.safetensors");
    CHECK(file.contains("x1_1.conv1.weight"));
    CHECK(file.contains("optim.m.up0_2.weight"));
    CHECK(file.metadata().at("unetpp.describe").starts_with("nested_unet<"));
    // A plain U-Net with the same cfg cannot take these weights (names differ).
    presets::unet_bn<4, 2> plain(1);
    try {
        train::load_checkpoint_weights(tmp.path / "last.safetensors", plain);
        FAIL("expected a runtime_error");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("tensor \"") != std::string::npos);
    }

    deeply_supervised<pp> dsn(18);
    optim::adam opt3(dsn, {.lr = 1e-2});
    train::save_checkpoint(tmp.path / "ds.safetensors", dsn, opt3, train::checkpoint_info{});
    deeply_supervised<pp> dsn2(19);
    optim::adam opt4(dsn2, {.lr = 1e-2});
    (void)train::load_checkpoint(tmp.path / "ds.safetensors", dsn2, opt4);
    CHECK(weights_of(dsn2) == weights_of(dsn));
    CHECK(io::safetensors_file::load(tmp.path / "ds.safetensors").contains("aux_x0_1.weight"));
}
