// Parity of losses::softmax_dice and losses::dice_ce with MONAI's DiceLoss(softmax=True,
// to_onehot_y=True) and DiceCELoss formulas written in PyTorch: value and gradient with respect to
// the logits, in double and in float, against torch in float64.
//
// The test writes seeded random inputs to a text file (format in tests/parity/softmax_dice_parity.py),
// runs `/usr/bin/python3 tests/parity/softmax_dice_parity.py IN OUT` from UNETPP_SOURCE_DIR and
// compares. Without PyTorch it skips (exit 77; a failure under CI=true).
//
// Inputs: 4-class logits [2, 4, 6, 7] ~ 2 N(0, 1); index targets (one class absent from image 1),
// the same with six pixels set to 255, one-hot targets, and pixel weights in [0, 2] with a few 0.
// All inputs are float32 values, so the float and double runs see identical numbers.
//
// Criterion (value and gradient separately): max |unetpp - torch| <= atol + rtol * max |torch|,
//   double rtol 1e-9, atol 1e-14; float rtol 1e-5, atol 1e-9 (as tests/parity/test_losses_parity.cpp).

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unetpp/losses.hpp>
#include <unetpp/tensor/rng.hpp>

#include "parity_harness.hpp"

using namespace unetpp;
using namespace unetpp::losses;

namespace {

struct loss_case {
    std::string name, loss, x, t, w;  // w: "-" for none
    std::function<double(const tensor<double>&, const tensor<double>&, const tensor<double>*, tensor<double>*)> f64;
    std::function<float(const tensor<float>&, const tensor<float>&, const tensor<float>*, tensor<float>*)> f32;
};

template <class L>
loss_case make_case(std::string name, std::string loss, std::string x, std::string t, std::string w, L l) {
    auto call = [l](const auto& a, const auto& b, const auto* weight, auto* g) {
        return weight ? l(a, b, *weight, g) : l(a, b, g);
    };
    return {std::move(name), std::move(loss), std::move(x), std::move(t), std::move(w), call, call};
}

std::map<std::string, tensor<double>> make_inputs() {
    rng r(77);
    auto f = [](double v) { return static_cast<double>(static_cast<float>(v)); };
    const shape4 s{2, 4, 6, 7}, ls{2, 1, 6, 7};
    tensor<double> x(s), idx(ls), ign(ls), onehot(s, 0.0), w(ls);
    for (auto& v : x) v = f(2.0 * r.normal());
    for (auto& v : idx) v = static_cast<double>(r.below(4));
    for (int h = 0; h < 6; ++h)
        for (int c = 0; c < 7; ++c)
            if (idx(1, 0, h, c) == 3) idx(1, 0, h, c) = 2;  // class 3 absent from image 1
    ign = idx;
    for (std::size_t i : {0u, 5u, 13u, 40u, 51u, 83u}) ign[i] = 255;
    for (int n = 0; n < 2; ++n)
        for (int h = 0; h < 6; ++h)
            for (int c = 0; c < 7; ++c) onehot(n, static_cast<int>(idx(n, 0, h, c)), h, c) = 1.0;
    for (auto& v : w) v = r.uniform() < 0.15 ? 0.0 : f(2.0 * r.uniform());
    return {{"x", x}, {"idx", idx}, {"ign", ign}, {"onehot", onehot}, {"w", w}};
}

std::vector<loss_case> cases() {
    const auto batch = region_reduction::per_batch;
    return {
        make_case("dice_index", "dice", "x", "idx", "-", softmax_dice{}),
        make_case("dice_onehot", "dice", "x", "onehot", "-", softmax_dice{}),
        make_case("dice_no_background", "dice_no_background", "x", "idx", "-",
                  softmax_dice{.include_background = false}),
        make_case("dice_batch", "dice_batch", "x", "idx", "-", softmax_dice{.reduction = batch}),
        make_case("dice_smooth1_batch_no_background", "dice_smooth1_batch_no_background", "x", "onehot", "-",
                  softmax_dice{.include_background = false, .smooth = 1.0, .reduction = batch}),
        make_case("dice_ignore", "dice_ignore255", "x", "ign", "-", softmax_dice{.ignore_index = 255}),
        make_case("dice_weighted", "dice", "x", "idx", "w", softmax_dice{}),
        make_case("dice_weighted_ignore", "dice_ignore255", "x", "ign", "w", softmax_dice{.ignore_index = 255}),
        make_case("dice_ce", "dice_ce", "x", "idx", "-", dice_ce{}),
        make_case("dice_ce_onehot", "dice_ce", "x", "onehot", "-", dice_ce{}),
        make_case("dice_ce_weighted", "dice_ce", "x", "idx", "w", dice_ce{}),
        make_case("dice_ce_lambdas", "dice_ce_lambdas", "x", "ign", "w",
                  dice_ce{.dice_weight = 0.3, .ce_weight = 1.7, .include_background = false, .ignore_index = 255,
                          .class_weights = {1.0, 2.0, 0.5, 3.0}}),
    };
}

void write_tensor(std::ostream& o, const std::string& name, const tensor<double>& t) {
    const shape4 s = t.shape();
    o << "tensor " << name << ' ' << s.n << ' ' << s.c << ' ' << s.h << ' ' << s.w << '\n';
    char buf[40];
    for (std::size_t i = 0; i < t.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%.17g", t[i]);
        o << (i ? " " : "") << buf;
    }
    o << '\n';
}

struct torch_result {
    double value = 0;
    tensor<double> grad;
};

std::map<std::string, torch_result> read_results(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::map<std::string, torch_result> out;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string kind, name;
        ls >> kind >> name;
        if (kind == "value") {
            ls >> out[name].value;
        } else if (kind == "tensor") {
            shape4 s;
            ls >> s.n >> s.c >> s.h >> s.w;
            tensor<double> t(s);
            std::getline(in, line);
            std::istringstream vs(line);
            for (auto& v : t) vs >> v;
            out[name.substr(5)].grad = std::move(t);  // strip "grad."
        }
    }
    return out;
}

tensor<float> to_float(const tensor<double>& t) {
    tensor<float> out(t.shape());
    for (std::size_t i = 0; i < t.size(); ++i) out[i] = static_cast<float>(t[i]);
    return out;
}

/// max |a - b| and max |b|.
template <class T>
std::pair<double, double> errors(const tensor<T>& a, const tensor<double>& b) {
    double err = 0, mag = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        err = std::max(err, std::abs(static_cast<double>(a[i]) - b[i]));
        mag = std::max(mag, std::abs(b[i]));
    }
    return {err, mag};
}

}  // namespace

TEST_CASE("softmax_dice and dice_ce match MONAI's formulas in PyTorch (value and gradient, double and float)") {
    if (parity::skip_without_torch()) return;
    const auto in = make_inputs();
    const auto all = cases();
    const auto dir = parity::work_dir();
    const auto in_path = dir / "softmax_dice_in.txt", out_path = dir / "softmax_dice_out.txt",
               log = dir / "softmax_dice_log.txt";
    {
        std::ofstream o(in_path);
        for (const auto& [name, t] : in) write_tensor(o, name, t);
        for (const auto& c : all)
            o << "case " << c.name << ' ' << c.loss << ' ' << c.x << ' ' << c.t << ' ' << c.w << '\n';
    }
    const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/parity/softmax_dice_parity.py";
    const bool ok = parity::run_command(parity::shell_quote(parity::python) + " " + parity::shell_quote(script) + " " +
                                            parity::shell_quote(in_path.string()) + " " +
                                            parity::shell_quote(out_path.string()),
                                        log);
    INFO("softmax_dice_parity.py output:\n" << parity::read_text(log));
    REQUIRE(ok);
    const auto torch = read_results(out_path);
    for (const auto& c : all) {
        CAPTURE(c.name);
        REQUIRE(torch.count(c.name) == 1);
        const torch_result& ref = torch.at(c.name);
        const tensor<double>& xd = in.at(c.x);
        const tensor<double>& td = in.at(c.t);
        const tensor<double>* wd = c.w == "-" ? nullptr : &in.at(c.w);
        const tensor<float> xf = to_float(xd), tf = to_float(td), wf = wd ? to_float(*wd) : tensor<float>{};
        tensor<double> gd;
        tensor<float> gf;
        const double vd = c.f64(xd, td, wd, &gd);
        const double vf = c.f32(xf, tf, wd ? &wf : nullptr, &gf);
        REQUIRE(gd.shape() == ref.grad.shape());
        REQUIRE(gf.shape() == ref.grad.shape());
        const double ev64 = std::abs(vd - ref.value), ev32 = std::abs(vf - ref.value);
        const auto [eg64, mag] = errors(gd, ref.grad);
        const auto [eg32, mag32] = errors(gf, ref.grad);
        (void)mag32;
        char line[300];
        std::snprintf(line, sizeof line,
                      "%-34s value %.6g | double: value err %.2e, grad max abs err %.2e (rel %.2e) | float: value err "
                      "%.2e, grad max abs err %.2e (rel %.2e)",
                      c.name.c_str(), ref.value, ev64, eg64, eg64 / (mag > 0 ? mag : 1), ev32, eg32,
                      eg32 / (mag > 0 ? mag : 1));
        MESSAGE(line);
        CHECK(ev64 <= 1e-14 + 1e-9 * std::abs(ref.value));
        CHECK(eg64 <= 1e-14 + 1e-9 * mag);
        CHECK(ev32 <= 1e-9 + 1e-5 * std::abs(ref.value));
        CHECK(eg32 <= 1e-9 + 1e-5 * mag);
    }
    std::error_code ec;
    std::filesystem::remove(in_path, ec);
    std::filesystem::remove(out_path, ec);
    std::filesystem::remove(log, ec);
}
