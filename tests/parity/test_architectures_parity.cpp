// Parity of the architecture presets with their PyTorch twins (tools/unetpp_torch.py) on
// identical weights: forward in training and eval mode, then backward (input gradient and every
// parameter gradient), plus the batch-norm running statistics after the forward.
//
//   B-Cir U-Net            presets::bcir_unet (base 16, depth 4, Table 1's 1,274,289 parameters)
//                          at 2x1x32x32
//   residual multitask     presets::residual_multitask_unet<16> (base 16, depth 4; 16 is the
//                          smallest image a depth-4 body takes) at 4x1x16x16, both heads
//   Attention U-Net        unet<cfg, cpu, float, attention_policies<>> with base 8, depth 3 (the
//                          preset's base 64 / depth 4 only differ in size) at 2x1x32x32
//   CBR U-Net              presets::unet_cbr<8, 3> (seed 004's network at a smaller width)
//   UNet++                 presets::unet_plusplus<4, 3>
//   deep supervision       deeply_supervised<unet_bn<8, 3>> (train and eval) and
//                          presets::unet_plusplus_ds<4, 3> (train): main and auxiliary logits
//
// The eval-mode cases also run the forward pass under inference_mode (Conv-BN-ReLU folded into
// one convolution) and check it against the layer-by-layer eval forward.
//
// Training mode needs dropout 0: unetpp's and torch's dropout masks come from different random
// generators and cannot be shared. The training-mode cases therefore use the presets' cfg with
// dropout = 0 (the same network minus its dropout layers); the eval-mode cases use the presets
// themselves (dropout 0.1, the identity in eval mode).
//
// Max pooling sends each window's gradient to one winner. When the two largest values of a window
// are within float32 rounding of each other, unetpp and torch (which add in different orders) can
// pick different winners, and every gradient upstream of that window then differs by far more
// than rounding (seen: a 1.2e-6 gap in a 2x2 window of the B-Cir skip path gave 1% errors in the
// whole first level). architectures_parity.py therefore reports the smallest relative top-two gap
// of any pooling window of torch's forward pass; a case whose gap is below min_pool_gap is drawn
// again with the next seed (up to max_draws times) before anything is compared.
//
// Exchange and comparison as in parity_harness.hpp: a safetensors file per case, read by
// tests/parity/architectures_parity.py (run with /usr/bin/python3); per tensor
// max abs err <= atol + rtol * max |torch| with the whole-network tolerance of
// test_torch_parity.cpp (rtol 2e-4, atol 1e-6); tensors that are zero in exact arithmetic are
// checked against zero_rtol x the largest |torch| value of the case instead. Without PyTorch every
// case skips (exit 77; a failure under CI=true, see tests/support/skip.hpp).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/models/attention_unet.hpp>
#include <unetpp/models/bcir_unet.hpp>
#include <unetpp/models/deep_supervision.hpp>
#include <unetpp/models/multitask_unet.hpp>
#include <unetpp/models/nested_unet.hpp>
#include <unetpp/unet.hpp>

#include "parity_harness.hpp"

using namespace unetpp;
using parity::config;
using parity::tolerance;

namespace {

constexpr tolerance net_tol{2e-4, 1e-6};
/// Smallest accepted relative gap between the two largest values of a pooling window: 5x the
/// largest relative forward error of these networks (about 2e-6). A B-Cir case at 2x1x32x32 has
/// about 50,000 pooling windows, so roughly one draw in two has a window below it.
constexpr double min_pool_gap = 1e-5;
constexpr int max_draws = 12;

/// Outcome of one drawn case.
enum class drawn { compared, near_tie };

std::string fmt(double v) {
    std::ostringstream s;
    s << std::scientific << std::setprecision(2) << v;
    return s.str();
}

/// One case: unetpp's results, compared with those of architectures_parity.py by the rule of
/// parity_harness.hpp (parity_case runs torch_parity.py, which does not know these networks).
class arch_case {
public:
    arch_case(std::string name, config cfg) : name_(std::move(name)) {
        in_.set_metadata("case", name_);
        for (auto& [k, v] : cfg) in_.set_metadata(k, v);
    }
    void add_input(const std::string& name, const tensor<float>& t) { in_.add(name, t); }
    void add_result(const std::string& name, const tensor<float>& t) {
        in_.add(name, t);
        results_.emplace_back(name, t);
    }
    void expect_zero(const std::string& name) { zero_.push_back(name); }

    drawn run_and_compare(tolerance tol) {
        std::string stem = "arch_" + name_;
        for (auto& c : stem)
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        const auto dir = parity::work_dir();
        const auto in_path = dir / (stem + ".in.safetensors"), out_path = dir / (stem + ".out.safetensors"),
                   log_path = dir / (stem + ".log");
        in_.save(in_path);
        const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/parity/architectures_parity.py";
        const std::string cmd = parity::shell_quote(parity::python) + " " + parity::shell_quote(script) + " " +
                                parity::shell_quote(in_path.string()) + " " + parity::shell_quote(out_path.string());
        if (!parity::run_command(cmd, log_path)) {
            FAIL_CHECK(name_ << ": architectures_parity.py failed (" << cmd << "):\n" << parity::read_text(log_path));
            return drawn::compared;
        }
        const auto ref = io::safetensors_file::load(out_path);
        if (!ref.contains("min_pool_gap")) {
            FAIL_CHECK(name_ << ": architectures_parity.py wrote no min_pool_gap");
            return drawn::compared;
        }
        const double gap = ref.get<double>("min_pool_gap")[0];
        if (gap < min_pool_gap) {
            MESSAGE(name_ << ": a max-pooling window's two largest values differ by only " << fmt(gap)
                          << " (relative) in torch's forward pass, below " << fmt(min_pool_gap)
                          << "; its winner is decided by rounding, so the case is drawn again");
            std::error_code ec;
            for (const auto& p : {in_path, out_path, log_path}) std::filesystem::remove(p, ec);
            return drawn::near_tie;
        }
        double scale = 0;
        for (const auto& [n, ours] : results_)
            if (ref.contains(n))
                for (double v : ref.get<double>(n)) scale = std::max(scale, std::abs(v));
        for (const auto& z : zero_)
            CHECK_MESSAGE(std::any_of(results_.begin(), results_.end(), [&](const auto& r) { return r.first == z; }),
                          name_ << ": expect_zero names \"" << z << "\", which is not a result");
        bool all_ok = true;
        double worst_rel = -1, worst_abs = 0;
        std::string worst;
        for (const auto& [n, ours] : results_) {
            if (!ref.contains(n)) {
                FAIL_CHECK(name_ << ": torch produced no tensor \"" << n << "\"");
                all_ok = false;
                continue;
            }
            const tensor<double> theirs = ref.get<double>(n);
            if (theirs.size() != ours.size()) {
                FAIL_CHECK(name_ << ": " << n << " has " << ours.size() << " elements in unetpp but " << theirs.size()
                                 << " in torch");
                all_ok = false;
                continue;
            }
            double max_abs = 0, max_ref = 0, max_ours = 0;
            bool finite = true;
            for (std::size_t i = 0; i < ours.size(); ++i) {
                const double a = ours[i], b = theirs[i];
                finite = finite && std::isfinite(a) && std::isfinite(b);
                max_abs = std::max(max_abs, std::abs(a - b));
                max_ref = std::max(max_ref, std::abs(b));
                max_ours = std::max(max_ours, std::abs(a));
            }
            if (std::find(zero_.begin(), zero_.end(), n) != zero_.end()) {
                const double bound = parity::zero_rtol * scale;
                MESSAGE(name_ << " | " << n << " (zero in exact arithmetic): max |unetpp| " << fmt(max_ours)
                              << ", max |torch| " << fmt(max_ref) << " (bound " << fmt(bound) << ")");
                CHECK_MESSAGE(max_ours <= bound, name_ << " | " << n << ": unetpp value " << fmt(max_ours)
                                                       << " is not float32 noise around zero");
                CHECK_MESSAGE(max_ref <= bound, name_ << " | " << n << ": torch value " << fmt(max_ref)
                                                      << " is not float32 noise around zero (wrong expect_zero)");
                all_ok = all_ok && finite && max_ours <= bound && max_ref <= bound;
                continue;
            }
            const double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
            const double bound = tol.atol + tol.rtol * max_ref;
            MESSAGE(name_ << " | " << n << ": max abs err " << fmt(max_abs) << ", max rel err " << fmt(rel)
                          << " (max |torch| " << fmt(max_ref) << ", bound " << fmt(bound) << ")");
            CHECK_MESSAGE(finite, name_ << " | " << n << ": non-finite values");
            CHECK_MESSAGE(max_abs <= bound,
                          name_ << " | " << n << ": max abs err " << fmt(max_abs) << " exceeds " << fmt(bound));
            all_ok = all_ok && finite && max_abs <= bound;
            if (rel > worst_rel) worst_rel = rel, worst_abs = max_abs, worst = n;
        }
        MESSAGE(name_ << ": " << results_.size() << " tensors, worst max rel err " << fmt(worst_rel) << " (" << worst
                      << ", max abs err " << fmt(worst_abs) << "); tolerance rtol " << fmt(tol.rtol) << ", atol "
                      << fmt(tol.atol));
        if (all_ok) {
            std::error_code ec;
            for (const auto& p : {in_path, out_path, log_path}) std::filesystem::remove(p, ec);
        } else {
            MESSAGE(name_ << ": case files kept in " << dir.string());
        }
        return drawn::compared;
    }

private:
    std::string name_;
    std::vector<std::string> zero_;
    io::safetensors_writer in_;
    std::vector<std::pair<std::string, tensor<float>>> results_;
};

template <class Net>
void add_state(arch_case& c, Net& net) {
    net.visit_parameters(std::string_view{}, [&](std::string_view n, auto& v, auto&) { c.add_input(std::string(n), v); });
    net.visit_buffers(std::string_view{}, [&](std::string_view n, auto& v) { c.add_input(std::string(n), v); });
}
template <class Net>
void add_gradients_and_buffers(arch_case& c, Net& net) {
    net.visit_buffers(std::string_view{},
                      [&](std::string_view n, auto& v) { c.add_result("after." + std::string(n), v); });
    net.visit_parameters(std::string_view{},
                         [&](std::string_view n, auto&, auto& g) { c.add_result("grad." + std::string(n), g); });
}

/// A single-output network built on unet<...> (B-Cir, Attention U-Net).
/// Runs `draw(seed)` for seeds 7, 8, ... until a draw is compared (no near-tie in a pooling
/// window), at most max_draws times.
template <class Draw>
void draw_until_compared(const std::string& name, Draw&& draw) {
    for (int k = 0; k < max_draws; ++k)
        if (draw(static_cast<std::uint64_t>(7 + k)) == drawn::compared) return;
    FAIL_CHECK(name << ": every one of " << max_draws << " draws had a near-tie in a max-pooling window");
}

/// The common start of a drawn case: randomised weights and batch-norm state, the mode, the
/// case's metadata, a random input `x` of shape `in` and the network's state, all from `r`.
template <class Net>
arch_case start_case(Net& net, rng& r, tensor<float>& x, const std::string& name, config cfg, shape4 in, bool train,
                     const std::vector<std::string>& expect_zero, std::uint64_t seed) {
    parity::randomize(net, r);
    net.need_input_grad(true);
    net.train(train);
    net.zero_grad();
    cfg["train"] = train ? "1" : "0";
    cfg["seed"] = std::to_string(seed);
    arch_case c(name, std::move(cfg));
    for (const auto& z : expect_zero) c.expect_zero(z);
    x = tensor<float>(in);
    parity::fill_normal(x, r);
    c.add_input("x", x);
    add_state(c, net);
    return c;
}

template <class Net>
drawn unet_arch_draw(const std::string& name, config cfg, shape4 in, bool train,
                     const std::vector<std::string>& expect_zero, std::uint64_t seed) {
    Net net(42);
    rng r(seed);
    tensor<float> x;
    arch_case c = start_case(net, r, x, name, std::move(cfg), in, train, expect_zero, seed);
    const tensor<float> y = net.forward(x);
    tensor<float> dy(y.shape());
    parity::fill_normal(dy, r);
    c.add_input("dy", dy);
    c.add_result("y", y);
    const tensor<float> dx = net.backward(x, dy);
    c.add_result("dx", dx);
    add_gradients_and_buffers(c, net);
    if (!train) {
        // The fused inference path (Conv-BN-ReLU folded under inference_mode) must give the same
        // logits as the layer-by-layer eval forward that is compared with torch below.
        inference_mode guard;
        const tensor<float>& yi = net.forward(x);
        double m = 0;
        for (float v : y) m = std::max(m, std::abs(static_cast<double>(v)));
        CHECK_MESSAGE(max_abs_diff(yi, y) <= 1e-5 * m + 1e-7,
                      name << ": the inference_mode forward differs from the eval forward by " << fmt(max_abs_diff(yi, y)));
    }
    return c.run_and_compare(net_tol);
}

template <class Net>
void unet_arch_case(const std::string& name, const config& cfg, shape4 in, bool train,
                    const std::vector<std::string>& expect_zero = {}) {
    draw_until_compared(name, [&](std::uint64_t seed) { return unet_arch_draw<Net>(name, cfg, in, train, expect_zero, seed); });
}

/// The two-headed multitask network: backward from random gradients of both logit tensors.
template <class Net>
drawn multitask_draw(const std::string& name, config cfg, shape4 in, bool train,
                     const std::vector<std::string>& expect_zero, std::uint64_t seed) {
    Net net(42);
    rng r(seed);
    tensor<float> x;
    arch_case c = start_case(net, r, x, name, std::move(cfg), in, train, expect_zero, seed);
    const auto out = net.forward(x);
    const tensor<float> seg = out.segmentation.values();
    const tensor<float> cls = out.classification.values();
    tensor<float> dseg(seg.shape()), dcls(cls.shape());
    parity::fill_normal(dseg, r);
    parity::fill_normal(dcls, r);
    c.add_input("dseg", dseg);
    c.add_input("dcls", dcls);
    c.add_result("seg", seg);
    c.add_result("cls", cls);
    const tensor<float> dx = net.backward(x, dseg, dcls);
    c.add_result("dx", dx);
    add_gradients_and_buffers(c, net);
    return c.run_and_compare(net_tol);
}

template <class Net>
void multitask_case(const std::string& name, const config& cfg, shape4 in, bool train,
                    const std::vector<std::string>& expect_zero = {}) {
    draw_until_compared(name, [&](std::uint64_t seed) { return multitask_draw<Net>(name, cfg, in, train, expect_zero, seed); });
}

/// A deeply supervised network: backward from random gradients of the main and every auxiliary
/// logit map.
template <class Net>
drawn deep_supervision_draw(const std::string& name, config cfg, shape4 in, bool train, std::uint64_t seed) {
    Net net(42);
    rng r(seed);
    tensor<float> x;
    arch_case c = start_case(net, r, x, name, std::move(cfg), in, train, {}, seed);
    const auto out = net.forward(x);
    REQUIRE(static_cast<int>(out.aux.size()) == Net::aux_count);
    const tensor<float> y = out.main.values();
    std::vector<tensor<float>> aux;
    for (const auto& a : out.aux) aux.push_back(a.values());
    tensor<float> dy(y.shape());
    parity::fill_normal(dy, r);
    c.add_input("dy", dy);
    c.add_result("y", y);
    std::vector<tensor<float>> daux;
    for (std::size_t k = 0; k < aux.size(); ++k) {
        daux.emplace_back(aux[k].shape());
        parity::fill_normal(daux.back(), r);
        c.add_input("daux" + std::to_string(k), daux.back());
        c.add_result("aux" + std::to_string(k), aux[k]);
    }
    const tensor<float> dx = net.backward(x, dy, daux);
    c.add_result("dx", dx);
    add_gradients_and_buffers(c, net);
    return c.run_and_compare(net_tol);
}

template <class Net>
void deep_supervision_case(const std::string& name, const config& cfg, shape4 in, bool train) {
    draw_until_compared(name, [&](std::uint64_t seed) { return deep_supervision_draw<Net>(name, cfg, in, train, seed); });
}

constexpr unet_cfg without_dropout(unet_cfg c) {
    c.dropout = 0.0;
    return c;
}

std::string level_name(const char* stem, int l) { return std::string(stem) + std::to_string(l); }

}  // namespace

TEST_CASE("parity B-Cir U-Net") {
    if (parity::skip_without_torch()) return;
    static constexpr unet_cfg preset = presets::bcir_unet_cfg;
    const auto cfg_for = [](double dropout) {
        return config{{"module", "bcir_unet"},
                      {"in_channels", std::to_string(preset.in_channels)},
                      {"classes", std::to_string(preset.classes)},
                      {"base", std::to_string(preset.base)},
                      {"depth", std::to_string(preset.depth)},
                      {"dropout", std::to_string(dropout)}};
    };
    SUBCASE("train (preset without dropout)") {
        // Every level convolution (encL, bottleneck, decL) has a bias and is followed by a
        // training-mode batch norm, which subtracts the per-channel batch mean: a per-channel
        // constant added before it has no effect, so its gradient is zero in exact arithmetic.
        std::vector<std::string> zero{"grad.bottleneck.conv.bias"};
        for (int l = 1; l <= preset.depth; ++l)
            for (const char* s : {"enc", "dec"}) zero.push_back("grad." + level_name(s, l) + ".conv.bias");
        constexpr unet_cfg c = without_dropout(preset);
        unet_arch_case<unet<c, backend::cpu, float, bcir_policies<>>>("bcir_unet_train", cfg_for(0.0), {2, 1, 32, 32},
                                                                     true, zero);
    }
    SUBCASE("eval (preset)") {
        unet_arch_case<presets::bcir_unet>("bcir_unet_eval", cfg_for(preset.dropout), {2, 1, 32, 32}, false);
    }
}

TEST_CASE("parity residual multitask U-Net") {
    if (parity::skip_without_torch()) return;
    constexpr int image = 16;
    static constexpr unet_cfg preset = presets::residual_multitask_cfg;
    const auto cfg_for = [](double dropout) {
        return config{{"module", "residual_multitask_unet"},
                      {"image_size", std::to_string(image)},
                      {"in_channels", std::to_string(preset.in_channels)},
                      {"classes", std::to_string(preset.classes)},
                      {"base", std::to_string(preset.base)},
                      {"depth", std::to_string(preset.depth)},
                      {"dropout", std::to_string(dropout)},
                      {"hidden", "64"}};
    };
    SUBCASE("train (preset without dropout)") {
        // Each conv block's convolution keeps its bias (Keras style) before a training-mode
        // batch norm, which removes any per-channel constant: those bias gradients are zero in
        // exact arithmetic. (The bottleneck's 1x1 shortcut has no batch norm after it.)
        std::vector<std::string> zero;
        for (int b = 1; b <= 2; ++b) zero.push_back("grad.bottleneck.block" + std::to_string(b) + ".conv.bias");
        for (int l = 1; l <= preset.depth; ++l)
            for (const char* s : {"enc", "dec"})
                for (int b = 1; b <= 3; ++b)
                    zero.push_back("grad." + level_name(s, l) + ".block" + std::to_string(b) + ".conv.bias");
        constexpr unet_cfg c = without_dropout(preset);
        static_assert(std::is_same_v<presets::residual_multitask_unet<image>, multitask_unet<preset, image, 64>>);
        // Batch 4: the bottleneck runs at 1x1, so its batch norm sees only N values per channel.
        multitask_case<multitask_unet<c, image, 64>>("residual_multitask_unet_train", cfg_for(0.0), {4, 1, image, image},
                                                     true, zero);
    }
    SUBCASE("eval (preset)") {
        multitask_case<presets::residual_multitask_unet<image>>("residual_multitask_unet_eval", cfg_for(preset.dropout),
                                                                {4, 1, image, image}, false);
    }
}

TEST_CASE("parity Attention U-Net") {
    if (parity::skip_without_torch()) return;
    // The preset's cfg with base 8 and depth 3 instead of 64 and 4.
    constexpr unet_cfg c = [] {
        unet_cfg k = presets::attention_unet_cfg;
        k.base = 8;
        k.depth = 3;
        return k;
    }();
    using net_t = unet<c, backend::cpu, float, attention_policies<>>;
    const config cfg{{"module", "attention_unet"},
                     {"in_channels", std::to_string(c.in_channels)},
                     {"classes", std::to_string(c.classes)},
                     {"base", std::to_string(c.base)},
                     {"depth", std::to_string(c.depth)},
                     {"kernel", std::to_string(c.kernel)},
                     {"pad", "same"},
                     {"norm", "batch"}};
    SUBCASE("train") {
        // In each gate, W_g, W_x and psi are 1x1 convolutions with a bias followed by a
        // training-mode batch norm, which cancels any per-channel constant: zero gradients.
        std::vector<std::string> zero;
        for (int l = 1; l <= c.depth; ++l)
            for (const char* p : {"wg", "wx", "psi"})
                zero.push_back("grad." + level_name("skip", l) + ".gate." + p + ".conv.bias");
        unet_arch_case<net_t>("attention_unet_base8_depth3_train", cfg, {2, 1, 32, 32}, true, zero);
    }
    SUBCASE("eval") { unet_arch_case<net_t>("attention_unet_base8_depth3_eval", cfg, {2, 1, 32, 32}, false); }
}

TEST_CASE("parity CBR U-Net (seed 004)") {
    if (parity::skip_without_torch()) return;
    constexpr int base = 8, depth = 3;
    using net_t = presets::unet_cbr<base, depth>;
    const config cfg{{"module", "unet_cbr"}, {"in_channels", "1"}, {"classes", "1"},
                     {"base", std::to_string(base)}, {"depth", std::to_string(depth)}};
    SUBCASE("train") {
        // Every level convolution keeps its bias before a training-mode batch norm, which removes
        // any per-channel constant: those bias gradients are zero in exact arithmetic.
        std::vector<std::string> zero;
        for (const char* conv : {"conv1", "conv2"}) {
            zero.push_back(std::string("grad.bottleneck.") + conv + ".bias");
            for (int l = 1; l <= depth; ++l)
                for (const char* s : {"enc", "dec"}) zero.push_back("grad." + level_name(s, l) + "." + conv + ".bias");
        }
        unet_arch_case<net_t>("unet_cbr_base8_depth3_train", cfg, {2, 1, 32, 32}, true, zero);
    }
    SUBCASE("eval") { unet_arch_case<net_t>("unet_cbr_base8_depth3_eval", cfg, {2, 1, 32, 32}, false); }
}

TEST_CASE("parity UNet++") {
    if (parity::skip_without_torch()) return;
    constexpr int base = 4, depth = 3;
    using net_t = presets::unet_plusplus<base, depth>;
    const config cfg{{"module", "unet_plusplus"}, {"in_channels", "1"}, {"classes", "1"},
                     {"base", std::to_string(base)}, {"depth", std::to_string(depth)}};
    SUBCASE("train") { unet_arch_case<net_t>("unet_plusplus_base4_depth3_train", cfg, {2, 1, 32, 32}, true); }
    SUBCASE("eval") { unet_arch_case<net_t>("unet_plusplus_base4_depth3_eval", cfg, {2, 1, 32, 32}, false); }
}

TEST_CASE("parity deep supervision") {
    if (parity::skip_without_torch()) return;
    SUBCASE("unet_bn<8, 3>: heads on dec2, dec3") {
        const config cfg{{"module", "deeply_supervised"}, {"inner", "unet_bn"}, {"in_channels", "1"},
                         {"classes", "1"}, {"base", "8"}, {"depth", "3"}};
        using net_t = deeply_supervised<presets::unet_bn<8, 3>>;
        deep_supervision_case<net_t>("deep_supervision_unet_bn_train", cfg, {2, 1, 32, 32}, true);
        deep_supervision_case<net_t>("deep_supervision_unet_bn_eval", cfg, {2, 1, 32, 32}, false);
    }
    SUBCASE("unet_plusplus<4, 3>: heads on x0_1, x0_2") {
        const config cfg{{"module", "deeply_supervised"}, {"inner", "unet_plusplus"}, {"in_channels", "1"},
                         {"classes", "1"}, {"base", "4"}, {"depth", "3"}};
        using net_t = presets::unet_plusplus_ds<4, 3>;
        deep_supervision_case<net_t>("deep_supervision_unet_plusplus_train", cfg, {2, 1, 32, 32}, true);
    }
}
