// Optimisers, schedules and clipping against update sequences worked out by hand from PyTorch's
// documented update rules (torch.optim.SGD / Adam / AdamW, torch.optim.lr_scheduler,
// torch.nn.utils.clip_grad_*). The toy problem is loss = p^2 / 2, so the gradient equals p.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/optim.hpp>

using namespace unetpp;

namespace {

/// One scalar parameter (or a small vector) with its gradient, visited like a model's.
struct toy {
    tensor<double> p, g;
    explicit toy(std::vector<double> v) : p(shape4{1, 1, 1, int(v.size())}), g(shape4{1, 1, 1, int(v.size())}) {
        for (std::size_t i = 0; i < v.size(); ++i) p[i] = v[i];
    }
    template <class F>
    void visit_parameters(F&& f) {
        f(std::string_view("w"), p, g);
    }
    void grad_is_p() {
        for (std::size_t i = 0; i < p.size(); ++i) g[i] = p[i];
    }
};

template <class Opt>
std::vector<double> run(toy& m, Opt& opt, int steps) {
    std::vector<double> out;
    for (int i = 0; i < steps; ++i) {
        opt.zero_grad();
        m.grad_is_p();
        opt.step();
        out.push_back(m.p[0]);
    }
    return out;
}

void check_seq(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("step " << i + 1);
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(tol));
    }
}

}  // namespace

TEST_CASE("sgd: plain, momentum, Nesterov, weight decay with dampening (PyTorch rules)") {
    SUBCASE("plain: p -= lr g") {
        toy m({1.0});
        optim::sgd<backend::cpu, double> o(m, {.lr = 0.1});
        check_seq(run(m, o, 3), {0.9, 0.81, 0.729});
    }
    SUBCASE("momentum 0.9: b1 = g, b = 0.9 b + g") {
        // t1: b=1, p=0.9; t2: g=0.9, b=1.8, p=0.72; t3: g=0.72, b=2.34, p=0.486
        toy m({1.0});
        optim::sgd<backend::cpu, double> o(m, {.lr = 0.1, .momentum = 0.9});
        check_seq(run(m, o, 3), {0.9, 0.72, 0.486});
    }
    SUBCASE("Nesterov 0.9: g' = g + 0.9 b") {
        // t1: b=1, g'=1.9, p=0.81; t2: g=0.81, b=1.71, g'=2.349, p=0.5751;
        // t3: g=0.5751, b=2.1141, g'=2.47779, p=0.327321
        toy m({1.0});
        optim::sgd<backend::cpu, double> o(m, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
        check_seq(run(m, o, 3), {0.81, 0.5751, 0.327321});
    }
    SUBCASE("weight decay 0.1, momentum 0.5, dampening 0.5") {
        // t1: g=1.1, b=1.1 (no dampening on the first step), p=0.89
        // t2: g=0.979, b=0.55+0.4895=1.0395, p=0.78605
        toy m({1.0});
        optim::sgd<backend::cpu, double> o(m, {.lr = 0.1, .momentum = 0.5, .dampening = 0.5, .weight_decay = 0.1});
        check_seq(run(m, o, 2), {0.89, 0.78605});
    }
    SUBCASE("invalid Nesterov settings are rejected") {
        toy m({1.0});
        CHECK_THROWS_AS((optim::sgd<backend::cpu, double>(m, {.lr = 0.1, .nesterov = true})), std::invalid_argument);
    }
}

TEST_CASE("adam / adamw: bias-corrected moments (PyTorch rules)") {
    // t1: m=0.1, v=0.001, m^=1, v^=1, p = 1 - 0.1/(1+1e-8) = 0.900000001
    // t2, t3 from the same formulas (m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    // p -= lr m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps)).
    SUBCASE("adam") {
        toy m({1.0});
        optim::adam<backend::cpu, double> o(m, {.lr = 0.1});
        check_seq(run(m, o, 3), {0.900000001, 0.80041222971233816, 0.70158627450441502});
        CHECK(o.name() == "adam");
    }
    SUBCASE("adam with L2 weight decay 0.1 (g += wd p)") {
        // t1: g = 1.1; m^ = 1.1, v^ = 1.21: p = 1 - 0.1 * 1.1 / (1.1 + 1e-8)
        toy m({1.0});
        optim::adam<backend::cpu, double> o(m, {.lr = 0.1, .weight_decay = 0.1});
        check_seq(run(m, o, 3), {0.90000000090909094, 0.80041222952678448, 0.70158627422107234});
    }
    SUBCASE("adamw: p *= 1 - lr wd before the Adam step") {
        // t1: p = 0.99, then p -= 0.1 * 1/(1 + 1e-8) -> 0.890000001
        toy m({1.0});
        optim::adamw<backend::cpu, double> o(m, optim::adamw_options(0.1, 0.1));
        check_seq(run(m, o, 3), {0.890000001, 0.78157185695416109, 0.67510122318920074});
        CHECK(o.name() == "adamw");
    }
    SUBCASE("state round trip: moments and step count continue the sequence") {
        toy a({1.0}), b({1.0});
        optim::adam<backend::cpu, double> oa(a, {.lr = 0.1}), ob(b, {.lr = 0.1});
        run(a, oa, 2);
        // copy a's state into b (as a checkpoint does) and continue both
        std::vector<tensor<double>> st;
        oa.visit_state([&](const std::string&, tensor<double>& t) { st.push_back(t); });
        std::size_t k = 0;
        std::vector<std::string> names;
        ob.visit_state([&](const std::string& n, tensor<double>& t) {
            names.push_back(n);
            t = st[k++];
        });
        CHECK(names == std::vector<std::string>{"optim.m.w", "optim.v.w"});
        ob.set_steps(oa.steps());
        b.p = a.p;
        CHECK(run(b, ob, 1)[0] == run(a, oa, 1)[0]);
    }
}

TEST_CASE("schedules: step, cosine with warm-up, reduce on plateau") {
    SUBCASE("step_lr: base * gamma^floor(e / step)") {
        optim::step_lr s(0.1, {.step_size = 2, .gamma = 0.5});
        const std::vector<double> want{0.1, 0.1, 0.05, 0.05, 0.025, 0.025};
        for (double w : want) {
            CHECK(s.lr() == doctest::Approx(w));
            s.step();
        }
    }
    SUBCASE("cosine_lr without warm-up: T_max 4") {
        optim::cosine_lr s(1.0, {.t_max = 4});
        const double c = (1 + std::cos(M_PI / 4)) / 2;  // 0.853553...
        const std::vector<double> want{1.0, c, 0.5, 1 - c, 0.0, 0.0};
        for (double w : want) {
            CHECK(s.lr() == doctest::Approx(w));
            s.step();
        }
    }
    SUBCASE("cosine_lr with 2 warm-up epochs from 0.1 x base, T_max 6") {
        optim::cosine_lr s(1.0, {.t_max = 6, .eta_min = 0.0, .warmup_epochs = 2, .warmup_start_factor = 0.1});
        const double c = (1 + std::cos(M_PI / 4)) / 2;
        const std::vector<double> want{0.1, 0.55, 1.0, c, 0.5, 1 - c, 0.0};
        for (double w : want) {
            CHECK(s.lr() == doctest::Approx(w));
            s.step();
        }
    }
    SUBCASE("reduce_on_plateau: patience 1, cooldown 1, factor 0.5, min_lr 0.01") {
        optim::reduce_on_plateau s(0.1, {.mode = optim::metric_mode::min, .factor = 0.5, .patience = 1,
                                         .threshold = 0.0, .cooldown = 1, .min_lr = 0.01});
        // metric          best  bad  cooldown  lr after
        // 1.0  better     1.0   0    0         0.1
        // 1.0             1.0   1    0         0.1
        // 1.0             1.0   2>1  -> reduce 0.05, cooldown 1, bad 0
        // 1.0  cooldown   1.0   0    0         0.05
        // 1.0             1.0   1              0.05
        // 1.0             1.0   2 -> 0.025, cooldown 1
        // 0.5  better     0.5   0    0         0.025
        // 0.6             0.5   1              0.025
        // 0.6             0.5   2 -> 0.0125, cooldown 1
        // 0.6  cooldown         0    0         0.0125
        // 0.6                   1              0.0125
        // 0.6                   2 -> max(0.00625, 0.01) = 0.01
        const std::vector<std::pair<double, double>> seq{{1.0, 0.1},    {1.0, 0.1},    {1.0, 0.05},  {1.0, 0.05},
                                                         {1.0, 0.05},   {1.0, 0.025},  {0.5, 0.025}, {0.6, 0.025},
                                                         {0.6, 0.0125}, {0.6, 0.0125}, {0.6, 0.0125}, {0.6, 0.01}};
        for (auto [metric, lr] : seq) {
            s.step(metric);
            CHECK(s.lr() == doctest::Approx(lr));
        }
        // state round trip
        optim::reduce_on_plateau r(0.1, {.factor = 0.5, .patience = 1, .threshold = 0.0, .cooldown = 1, .min_lr = 0.01});
        r.load_state(s.state());
        CHECK(r.lr() == s.lr());
        CHECK(r.best() == s.best());
    }
    SUBCASE("reduce_on_plateau mode max, abs threshold") {
        optim::reduce_on_plateau s(1.0, {.mode = optim::metric_mode::max, .factor = 0.1, .patience = 0,
                                         .threshold = 0.1, .thr_mode = optim::threshold_mode::abs});
        s.step(0.5);  // better than -inf
        CHECK(s.lr() == doctest::Approx(1.0));
        s.step(0.55);  // not > 0.5 + 0.1: bad 1 > 0 -> reduce
        CHECK(s.lr() == doctest::Approx(0.1));
        s.step(0.7);  // better
        CHECK(s.lr() == doctest::Approx(0.1));
    }
    SUBCASE("any_schedule keeps its state") {
        optim::any_schedule a(optim::step_lr(1.0, {.step_size = 1, .gamma = 0.5}));
        a.step(0);
        a.step(0);
        optim::any_schedule b(optim::step_lr(1.0, {.step_size = 1, .gamma = 0.5}));
        b.load_state(a.state());
        CHECK(b.lr() == doctest::Approx(0.25));
        CHECK(b.name() == "step");
    }
}

TEST_CASE("gradient clipping returns the pre-clip norm") {
    SUBCASE("by global norm") {
        toy m({0, 0});
        m.g[0] = 3, m.g[1] = 4;
        CHECK(optim::clip_grad_norm(m, 1.0) == doctest::Approx(5.0));
        CHECK(m.g[0] == doctest::Approx(3.0 / (5 + 1e-6)));
        CHECK(m.g[1] == doctest::Approx(4.0 / (5 + 1e-6)));
        CHECK(optim::clip_grad_norm(m, 10.0) == doctest::Approx(1.0).epsilon(1e-6));  // below: unchanged
        CHECK(m.g[1] == doctest::Approx(4.0 / (5 + 1e-6)));
    }
    SUBCASE("by value") {
        toy m({0, 0, 0});
        m.g[0] = 3, m.g[1] = 4, m.g[2] = -5;
        CHECK(optim::clip_grad_value(m, 3.5) == doctest::Approx(std::sqrt(50.0)));
        CHECK(m.g[0] == 3.0);
        CHECK(m.g[1] == 3.5);
        CHECK(m.g[2] == -3.5);
    }
    SUBCASE("non-finite gradients are reported, not clipped") {
        toy m({0});
        m.g[0] = std::nan("");
        CHECK(std::isnan(optim::clip_grad_norm(m, 1.0)));
    }
}
