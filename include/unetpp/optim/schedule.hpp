#pragma once
/// \file Learning-rate schedules, stepped once per epoch, with PyTorch's semantics.
///
///   optim::cosine_lr sched(1e-3, {.t_max = 50, .eta_min = 1e-6, .warmup_epochs = 3});
///   for (epoch ...) { opt.set_lr(sched.lr()); train_one_epoch(); sched.step(val_loss); }
///
/// Every schedule has `lr()` (the rate for the coming epoch), `step(metric)` (called after each
/// epoch; only reduce_on_plateau reads the metric), `name()`, and `state()` / `load_state()`
/// (the counters as key -> number, stored in checkpoints so a resumed run continues the
/// schedule exactly). `any_schedule` holds any of them.
///
/// constant_lr        lr = base
/// step_lr            lr = base * gamma^floor(epoch / step_size)         (torch StepLR)
/// cosine_lr          epochs e < W (warm-up, W = warmup_epochs):
///                      lr = base * (f + (1 - f) * e / W)                 (torch LinearLR, f = warmup_start_factor)
///                    then with t = e - W and T = t_max - W:
///                      lr = eta_min + (base - eta_min) (1 + cos(pi t / T)) / 2   for t <= T,
///                      eta_min afterwards                                (torch CosineAnnealingLR's closed form)
/// reduce_on_plateau  torch.optim.lr_scheduler.ReduceLROnPlateau: after each epoch the metric is
///                    compared with the best so far: better means (mode min, rel) m < best (1 - threshold),
///                    (min, abs) m < best - threshold, (max, rel) m > best (1 + threshold),
///                    (max, abs) m > best + threshold. A better metric becomes best and resets
///                    the bad-epoch count; otherwise the count grows. While in cool-down the
///                    count is held at 0. When the count exceeds `patience`, lr = max(lr * factor,
///                    min_lr) (unless that changes it by less than eps = 1e-8), the cool-down
///                    counter is set to `cooldown` and the count is reset.

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::optim {

enum class metric_mode { min, max };
enum class threshold_mode { rel, abs };

namespace detail {
inline double state_value(const std::map<std::string, double>& s, const std::string& key, std::string_view who) {
    const auto it = s.find(key);
    if (it == s.end())
        throw std::runtime_error(std::string(who) + ": saved schedule state lacks \"" + key + "\"");
    return it->second;
}
}  // namespace detail

class constant_lr {
public:
    explicit constant_lr(double base_lr) : base_(base_lr) {}
    [[nodiscard]] double lr() const noexcept { return base_; }
    void step(double = 0) noexcept { ++epoch_; }
    [[nodiscard]] static constexpr std::string_view name() noexcept { return "constant"; }
    [[nodiscard]] std::map<std::string, double> state() const { return {{"epoch", double(epoch_)}}; }
    void load_state(const std::map<std::string, double>& s) { epoch_ = long(detail::state_value(s, "epoch", name())); }

private:
    double base_;
    long epoch_ = 0;
};

struct step_lr_options {
    int step_size = 30;
    double gamma = 0.1;
};
/// The name before the naming rule; it goes away in a later release.
using step_lr_cfg [[deprecated("renamed step_lr_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = step_lr_options;

class step_lr {
public:
    step_lr(double base_lr, step_lr_options cfg) : base_(base_lr), cfg_(cfg) {
        if (cfg_.step_size < 1) throw std::invalid_argument("step_lr: step_size must be at least 1");
    }
    [[nodiscard]] double lr() const noexcept { return base_ * std::pow(cfg_.gamma, double(epoch_ / cfg_.step_size)); }
    void step(double = 0) noexcept { ++epoch_; }
    [[nodiscard]] static constexpr std::string_view name() noexcept { return "step"; }
    [[nodiscard]] std::map<std::string, double> state() const { return {{"epoch", double(epoch_)}}; }
    void load_state(const std::map<std::string, double>& s) { epoch_ = long(detail::state_value(s, "epoch", name())); }

private:
    double base_;
    step_lr_options cfg_;
    long epoch_ = 0;
};

struct cosine_lr_options {
    int t_max = 50;                     ///< epochs from the start to the end of the cosine (warm-up included)
    double eta_min = 0.0;               ///< final learning rate
    int warmup_epochs = 0;              ///< linear warm-up epochs (0: none)
    double warmup_start_factor = 0.1;   ///< lr of the first warm-up epoch = base * factor
};
/// The name before the naming rule; it goes away in a later release.
using cosine_lr_cfg [[deprecated("renamed cosine_lr_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = cosine_lr_options;

class cosine_lr {
public:
    cosine_lr(double base_lr, cosine_lr_options cfg) : base_(base_lr), cfg_(cfg) {
        if (cfg_.warmup_epochs < 0) throw std::invalid_argument("cosine_lr: warmup_epochs must be >= 0");
        if (cfg_.t_max <= cfg_.warmup_epochs)
            throw std::invalid_argument("cosine_lr: t_max (" + std::to_string(cfg_.t_max) +
                                        ") must exceed warmup_epochs (" + std::to_string(cfg_.warmup_epochs) + ")");
        if (!(cfg_.warmup_start_factor > 0 && cfg_.warmup_start_factor <= 1))
            throw std::invalid_argument("cosine_lr: warmup_start_factor must be in (0, 1]");
    }
    [[nodiscard]] double lr() const noexcept {
        const long w = cfg_.warmup_epochs;
        if (epoch_ < w) return base_ * (cfg_.warmup_start_factor + (1 - cfg_.warmup_start_factor) * double(epoch_) / double(w));
        const double t = double(epoch_ - w), T = double(cfg_.t_max - w);
        if (t >= T) return cfg_.eta_min;
        return cfg_.eta_min + (base_ - cfg_.eta_min) * (1 + std::cos(std::acos(-1.0) * t / T)) / 2;
    }
    void step(double = 0) noexcept { ++epoch_; }
    [[nodiscard]] static constexpr std::string_view name() noexcept { return "cosine"; }
    [[nodiscard]] std::map<std::string, double> state() const { return {{"epoch", double(epoch_)}}; }
    void load_state(const std::map<std::string, double>& s) { epoch_ = long(detail::state_value(s, "epoch", name())); }

private:
    double base_;
    cosine_lr_options cfg_;
    long epoch_ = 0;
};

struct plateau_options {
    metric_mode mode = metric_mode::min;
    double factor = 0.1;
    int patience = 10;
    double threshold = 1e-4;
    threshold_mode thr_mode = threshold_mode::rel;
    int cooldown = 0;
    double min_lr = 0.0;
    double eps = 1e-8;
};
/// The name before the naming rule; it goes away in a later release.
using plateau_cfg [[deprecated("renamed plateau_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = plateau_options;

class reduce_on_plateau {
public:
    reduce_on_plateau(double base_lr, plateau_options cfg) : lr_(base_lr), cfg_(cfg) {
        if (!(cfg_.factor < 1.0 && cfg_.factor >= 0)) throw std::invalid_argument("reduce_on_plateau: factor must be in [0, 1)");
        if (cfg_.patience < 0 || cfg_.cooldown < 0)
            throw std::invalid_argument("reduce_on_plateau: patience and cooldown must be >= 0");
        best_ = worst();
    }
    [[nodiscard]] double lr() const noexcept { return lr_; }
    /// Records the epoch's metric (NaN counts as not better, as in PyTorch's comparisons).
    void step(double metric) {
        ++epoch_;
        if (better(metric, best_)) {
            best_ = metric;
            bad_ = 0;
        } else {
            ++bad_;
        }
        if (cooldown_counter_ > 0) {
            --cooldown_counter_;
            bad_ = 0;
        }
        if (bad_ > cfg_.patience) {
            const double nl = std::max(lr_ * cfg_.factor, cfg_.min_lr);
            if (lr_ - nl > cfg_.eps) lr_ = nl;
            cooldown_counter_ = cfg_.cooldown;
            bad_ = 0;
        }
    }
    [[nodiscard]] bool better(double a, double best) const noexcept {
        const double t = cfg_.threshold;
        if (cfg_.mode == metric_mode::min)
            return cfg_.thr_mode == threshold_mode::rel ? a < best * (1 - t) : a < best - t;
        return cfg_.thr_mode == threshold_mode::rel ? a > best * (1 + t) : a > best + t;
    }
    [[nodiscard]] double best() const noexcept { return best_; }
    [[nodiscard]] int bad_epochs() const noexcept { return bad_; }
    [[nodiscard]] static constexpr std::string_view name() noexcept { return "plateau"; }
    [[nodiscard]] std::map<std::string, double> state() const {
        return {{"epoch", double(epoch_)}, {"lr", lr_}, {"best", best_}, {"bad_epochs", double(bad_)},
                {"cooldown_counter", double(cooldown_counter_)}};
    }
    void load_state(const std::map<std::string, double>& s) {
        epoch_ = long(detail::state_value(s, "epoch", name()));
        lr_ = detail::state_value(s, "lr", name());
        best_ = detail::state_value(s, "best", name());
        bad_ = int(detail::state_value(s, "bad_epochs", name()));
        cooldown_counter_ = int(detail::state_value(s, "cooldown_counter", name()));
    }

private:
    double worst() const noexcept {
        return cfg_.mode == metric_mode::min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity();
    }
    double lr_;
    plateau_options cfg_;
    double best_;
    int bad_ = 0, cooldown_counter_ = 0;
    long epoch_ = 0;
};

/// Any of the schedules above.
class any_schedule {
public:
    using variant = std::variant<constant_lr, step_lr, cosine_lr, reduce_on_plateau>;
    any_schedule(double base_lr = 1e-3) : v_(constant_lr(base_lr)) {}
    template <class S>
        requires std::is_constructible_v<variant, S>
    any_schedule(S s) : v_(std::move(s)) {}

    [[nodiscard]] double lr() const {
        return std::visit([](const auto& s) { return s.lr(); }, v_);
    }
    void step(double metric) {
        std::visit([&](auto& s) { s.step(metric); }, v_);
    }
    [[nodiscard]] std::string_view name() const {
        return std::visit([](const auto& s) { return s.name(); }, v_);
    }
    [[nodiscard]] std::map<std::string, double> state() const {
        return std::visit([](const auto& s) { return s.state(); }, v_);
    }
    void load_state(const std::map<std::string, double>& st) {
        std::visit([&](auto& s) { s.load_state(st); }, v_);
    }
    [[nodiscard]] variant& get() noexcept { return v_; }

private:
    variant v_;
};

}  // namespace unetpp::optim
