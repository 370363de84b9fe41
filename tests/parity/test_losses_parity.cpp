// Parity of every unetpp loss with PyTorch: value and gradient with respect to the logits (the
// probabilities for losses::bce), in double and in float, against torch in float64.
//
// The test writes seeded random inputs to a text file (format in tests/parity/losses_parity.py),
// runs `/usr/bin/python3 tests/parity/losses_parity.py IN OUT` from UNETPP_SOURCE_DIR, which
// evaluates the same losses with torch.nn.functional (or hand-written torch formulas where torch
// has none) and autograd, and compares. Without PyTorch it skips (exit 77; a failure under CI=true).
//
// Inputs: logits [2, 1, 8, 8] ~ 3 N(0, 1) with three set to 30, -30 and 0; 0/1 and soft targets;
// probabilities sigmoid(2 N(0, 1)) with one exact 0 and one exact 1 (torch's clamps); 3-class
// logits [2, 3, 8, 8] with index targets (five pixels ignore_index -100) and soft one-hot targets.
// All inputs are float32 values, so the float and double runs see identical numbers.
//
// Criterion (per loss, value and gradient separately):
//   max |unetpp - torch| <= atol + rtol * max |torch|
//   double  rtol 1e-9, atol 1e-14: the same formulas in float64, summed in another order.
//   float   rtol 1e-5, atol 1e-9:  unetpp accumulates in double and rounds the result to float
//           (relative error ~6e-8); 1e-5 leaves room for the focal power and softmax terms.
// Every case reports its max absolute and relative errors with MESSAGE.

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
    std::string name, loss, x, t;
    std::function<double(const tensor<double>&, const tensor<double>&, tensor<double>*)> f64;
    std::function<float(const tensor<float>&, const tensor<float>&, tensor<float>*)> f32;
};

template <class L>
loss_case make_case(std::string name, std::string loss, std::string x, std::string t, L l) {
    auto call = [l](const auto& a, const auto& b, auto* g) { return l(a, b, g); };
    return {std::move(name), std::move(loss), std::move(x), std::move(t), call, call};
}

struct inputs {
    std::map<std::string, tensor<double>> t;
};

/// Seeded inputs, rounded to float.
inputs make_inputs() {
    inputs in;
    rng r(2024);
    auto f = [](double v) { return static_cast<double>(static_cast<float>(v)); };
    tensor<double> x(shape4{2, 1, 8, 8}), t01(x.shape()), ts(x.shape()), p(x.shape());
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = f(3.0 * r.normal());
        t01[i] = r.uniform() < 0.3 ? 1.0 : 0.0;
        ts[i] = f(r.uniform());
        p[i] = f(numeric::stable_sigmoid(2.0 * r.normal()));
    }
    x[0] = 30, x[1] = -30, x[2] = 0;
    p[0] = 0, p[1] = 1;
    tensor<double> x3(shape4{2, 3, 8, 8}), idx(shape4{2, 1, 8, 8}), soft(x3.shape());
    for (auto& v : x3) v = f(2.0 * r.normal());
    for (auto& v : idx) v = static_cast<double>(r.below(3));
    for (std::size_t i : {3u, 17u, 40u, 64u, 127u}) idx[i] = -100;
    for (int n = 0; n < 2; ++n)
        for (int h = 0; h < 8; ++h)
            for (int w = 0; w < 8; ++w) {
                double z = 0;
                for (int c = 0; c < 3; ++c) z += (soft(n, c, h, w) = r.uniform());
                for (int c = 0; c < 3; ++c) soft(n, c, h, w) = f(soft(n, c, h, w) / z);
            }
    in.t = {{"x", x}, {"t01", t01}, {"ts", ts}, {"p", p}, {"x3", x3}, {"idx", idx}, {"soft3", soft}};
    return in;
}

std::vector<loss_case> cases() {
    return {
        make_case("bce_with_logits", "bce_with_logits", "x", "t01", bce_with_logits{}),
        make_case("bce_with_logits_soft", "bce_with_logits", "x", "ts", bce_with_logits{}),
        make_case("bce_probabilities", "bce", "p", "ts", bce{}),
        make_case("weighted_bce_pos3", "weighted_bce", "x", "t01", weighted_bce{3.0}),
        make_case("weighted_bce_pos3_soft", "weighted_bce", "x", "ts", weighted_bce{3.0}),
        make_case("balanced_bce", "balanced_bce", "x", "t01", balanced_bce{}),
        make_case("cross_entropy_index", "ce_index", "x3", "idx", cross_entropy{}),
        make_case("cross_entropy_index_weighted", "ce_index_weighted", "x3", "idx", cross_entropy{{0.5, 1.0, 2.0}}),
        make_case("cross_entropy_probabilities", "ce_prob", "x3", "soft3", cross_entropy{}),
        make_case("cross_entropy_probabilities_weighted", "ce_prob_weighted", "x3", "soft3",
                  cross_entropy{{0.5, 1.0, 2.0}}),
        make_case("mae", "mae", "x", "ts", mae{}),
        make_case("dice", "dice", "x", "t01", dice_loss{}),
        make_case("dice_soft", "dice", "x", "ts", dice_loss{}),
        make_case("dice_per_image", "dice_per_image", "x", "t01", dice_loss{.reduction = region_reduction::per_image}),
        make_case("iou", "iou", "x", "t01", iou_loss{}),
        make_case("tversky", "tversky", "x", "t01", tversky_loss{}),
        make_case("tversky_soft", "tversky", "x", "ts", tversky_loss{}),
        make_case("dice_bce", "dice_bce", "x", "t01", dice_bce{}),
        make_case("focal", "focal", "x", "t01", focal_loss{}),
        make_case("focal_soft", "focal", "x", "ts", focal_loss{}),
        make_case("focal_on_mean_bce", "focal_mean_bce", "x", "t01", focal_loss{.form = focal_form::on_mean_bce}),
        make_case("weighted_sum_dice_bce", "weighted_sum", "x", "t01",
                  weighted_sum{term{0.5, dice_loss{}}, term{0.5, bce_with_logits{}}}),
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

TEST_CASE("losses match PyTorch (value and gradient, double and float)") {
    if (parity::skip_without_torch()) return;
    const inputs in = make_inputs();
    const auto all = cases();
    const auto dir = parity::work_dir();
    const auto in_path = dir / "losses_in.txt", out_path = dir / "losses_out.txt", log = dir / "losses_log.txt";
    {
        std::ofstream o(in_path);
        for (const auto& [name, t] : in.t) write_tensor(o, name, t);
        for (const auto& c : all) o << "case " << c.name << ' ' << c.loss << ' ' << c.x << ' ' << c.t << '\n';
    }
    const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/parity/losses_parity.py";
    const bool ok = parity::run_command(parity::shell_quote(parity::python) + " " + parity::shell_quote(script) + " " +
                                            parity::shell_quote(in_path.string()) + " " +
                                            parity::shell_quote(out_path.string()),
                                        log);
    INFO("losses_parity.py output:\n" << parity::read_text(log));
    REQUIRE(ok);
    const auto torch = read_results(out_path);

    struct tol {
        double rtol, atol;
    };
    const tol t64{1e-9, 1e-14}, t32{1e-5, 1e-9};
    for (const auto& c : all) {
        CAPTURE(c.name);
        REQUIRE(torch.count(c.name) == 1);
        const torch_result& ref = torch.at(c.name);
        const tensor<double>& xd = in.t.at(c.x);
        const tensor<double>& td = in.t.at(c.t);
        tensor<float> xf(xd.shape()), tf(td.shape());
        for (std::size_t i = 0; i < xd.size(); ++i) xf[i] = static_cast<float>(xd[i]);
        for (std::size_t i = 0; i < td.size(); ++i) tf[i] = static_cast<float>(td[i]);

        tensor<double> gd;
        tensor<float> gf;
        const double vd = c.f64(xd, td, &gd);
        const double vf = c.f32(xf, tf, &gf);
        REQUIRE(gd.shape() == ref.grad.shape());
        REQUIRE(gf.shape() == ref.grad.shape());
        const double ev64 = std::abs(vd - ref.value), ev32 = std::abs(vf - ref.value);
        const auto [eg64, mag] = errors(gd, ref.grad);
        const auto [eg32, mag2] = errors(gf, ref.grad);
        (void)mag2;
        char line[300];
        std::snprintf(line, sizeof line,
                      "%-38s value %.6g | double: value err %.2e, grad max abs err %.2e (rel %.2e) | float: value err "
                      "%.2e, grad max abs err %.2e (rel %.2e)",
                      c.name.c_str(), ref.value, ev64, eg64, eg64 / (mag > 0 ? mag : 1), ev32, eg32,
                      eg32 / (mag > 0 ? mag : 1));
        MESSAGE(line);
        CHECK(ev64 <= t64.atol + t64.rtol * std::abs(ref.value));
        CHECK(eg64 <= t64.atol + t64.rtol * mag);
        CHECK(ev32 <= t32.atol + t32.rtol * std::abs(ref.value));
        CHECK(eg32 <= t32.atol + t32.rtol * mag);
    }
    std::error_code ec;
    std::filesystem::remove(in_path, ec);
    std::filesystem::remove(out_path, ec);
    std::filesystem::remove(log, ec);
}
