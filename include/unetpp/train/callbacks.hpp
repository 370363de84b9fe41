#pragma once
/// \file Pieces the trainer uses, usable on their own: early stopping, the per-epoch CSV and
/// JSON-lines log, and the terminal progress display.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "../config/abi.hpp"
#include "../optim/schedule.hpp"
#include "atomic_file.hpp"

namespace unetpp::inline UNETPP_ABI::train {

using optim::metric_mode;

/// Whether a metric is minimised (losses) or maximised (scores): "*loss*" -> min, else max.
inline metric_mode default_mode(std::string_view metric) {
    return metric.find("loss") != std::string_view::npos ? metric_mode::min : metric_mode::max;
}

/// Keras-style early stopping: an epoch improves when the metric beats the best so far by more
/// than min_delta (min: m < best - min_delta; max: m > best + min_delta); training stops once
/// `patience` epochs in a row have not improved. NaN never improves. patience 0 disables it.
class early_stopping {
public:
    early_stopping(metric_mode mode = metric_mode::min, int patience = 0, double min_delta = 0.0)
        : mode_(mode), patience_(patience), min_delta_(std::fabs(min_delta)) {
        if (patience < 0) throw std::invalid_argument("early_stopping: patience must be >= 0");
    }
    /// Records one epoch's metric; returns true when training should stop.
    bool update(double metric) {
        if (improves(metric)) {
            best_ = metric;
            bad_ = 0;
        } else {
            ++bad_;
        }
        return enabled() && bad_ >= patience_;
    }
    [[nodiscard]] bool improves(double m) const noexcept {
        if (std::isnan(m)) return false;
        if (std::isnan(best_)) return true;
        return mode_ == metric_mode::min ? m < best_ - min_delta_ : m > best_ + min_delta_;
    }
    [[nodiscard]] bool enabled() const noexcept { return patience_ > 0; }
    [[nodiscard]] double best() const noexcept { return best_; }
    [[nodiscard]] int bad_epochs() const noexcept { return bad_; }
    [[nodiscard]] int patience() const noexcept { return patience_; }
    void restore(double best, int bad_epochs) noexcept {
        best_ = best;
        bad_ = bad_epochs;
    }

private:
    metric_mode mode_;
    int patience_;
    double min_delta_;
    double best_ = std::numeric_limits<double>::quiet_NaN();
    int bad_ = 0;
};

/// One row of the epoch log.
struct epoch_record {
    int epoch = 0;  ///< 1-based
    double train_loss = std::numeric_limits<double>::quiet_NaN();
    double val_loss = std::numeric_limits<double>::quiet_NaN();
    double val_dice = std::numeric_limits<double>::quiet_NaN();
    double val_iou = std::numeric_limits<double>::quiet_NaN();
    /// Fraction of misclassified validation pixels, averaged over images (1 - pixel accuracy).
    double val_pixel_error = std::numeric_limits<double>::quiet_NaN();
    double lr = 0;
    double seconds = 0;
    /// Data parallel: seconds this rank waited for the gradient exchange after its backward
    /// passes (the exchange's exposed part, not hidden behind computation); 0 with one process.
    /// Printed, not written to the logs.
    double exchange_seconds = 0;

    /// The value of a named column ("train_loss", "val_loss", "val_dice", "val_iou",
    /// "val_pixel_error", "lr").
    [[nodiscard]] double get(std::string_view metric) const {
        if (metric == "train_loss") return train_loss;
        if (metric == "val_loss") return val_loss;
        if (metric == "val_dice") return val_dice;
        if (metric == "val_iou") return val_iou;
        if (metric == "val_pixel_error") return val_pixel_error;
        if (metric == "lr") return lr;
        throw std::invalid_argument("unknown metric '" + std::string(metric) +
                                    "' (use train_loss, val_loss, val_dice, val_iou or val_pixel_error)");
    }
};

/// The per-epoch log: `log.csv` (header
/// `epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds`;
/// NaN written as `nan`) and `log.jsonl` (one JSON object per epoch with the same keys; NaN as
/// null). Both files are rewritten atomically after every epoch, so they always match a
/// complete epoch and the last checkpoint.
class epoch_log {
public:
    static constexpr std::string_view csv_header =
        "epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds";

    epoch_log() = default;
    explicit epoch_log(std::filesystem::path dir) : dir_(std::move(dir)) {}

    /// Keeps the rows of epochs 1..epochs of an existing log.csv (for a resumed run).
    void resume(long epochs) {
        rows_.clear();
        if (dir_.empty()) return;
        std::ifstream in(dir_ / "log.csv");
        std::string line;
        if (!in || !std::getline(in, line)) return;
        while (std::getline(in, line)) {
            epoch_record r;
            if (!parse_csv(line, r)) continue;
            if (r.epoch >= 1 && r.epoch <= epochs) rows_.push_back(r);
        }
    }
    void add(const epoch_record& r) {
        rows_.push_back(r);
        write();
    }
    [[nodiscard]] const std::vector<epoch_record>& rows() const noexcept { return rows_; }

    [[nodiscard]] static std::string csv_number(double v) {
        if (std::isnan(v)) return "nan";
        char b[40];
        std::snprintf(b, sizeof b, "%.9g", v);
        return b;
    }
    [[nodiscard]] static std::string json_number(double v) {
        if (!std::isfinite(v)) return "null";
        char b[40];
        std::snprintf(b, sizeof b, "%.9g", v);
        return b;
    }
    [[nodiscard]] std::string csv() const {
        std::string s(csv_header);
        s += '\n';
        for (const auto& r : rows_)
            s += std::to_string(r.epoch) + ',' + csv_number(r.train_loss) + ',' + csv_number(r.val_loss) + ',' +
                 csv_number(r.val_dice) + ',' + csv_number(r.val_iou) + ',' + csv_number(r.val_pixel_error) + ',' +
                 csv_number(r.lr) + ',' +
                 csv_number(r.seconds) + '\n';
        return s;
    }
    [[nodiscard]] std::string jsonl() const {
        std::string s;
        for (const auto& r : rows_)
            s += "{\"epoch\":" + std::to_string(r.epoch) + ",\"train_loss\":" + json_number(r.train_loss) +
                 ",\"val_loss\":" + json_number(r.val_loss) + ",\"val_dice\":" + json_number(r.val_dice) +
                 ",\"val_iou\":" + json_number(r.val_iou) + ",\"val_pixel_error\":" + json_number(r.val_pixel_error) +
                 ",\"lr\":" + json_number(r.lr) +
                 ",\"seconds\":" + json_number(r.seconds) + "}\n";
        return s;
    }
    void write() const {
        if (dir_.empty()) return;
        write_file_atomic(dir_ / "log.csv", csv());
        write_file_atomic(dir_ / "log.jsonl", jsonl());
    }

    /// Parses one data line of log.csv; false when it is malformed.
    static bool parse_csv(const std::string& line, epoch_record& r) {
        std::vector<double> v;
        std::stringstream ss(line);
        std::string cell;
        while (std::getline(ss, cell, ',')) {
            char* end = nullptr;
            const double d = std::strtod(cell.c_str(), &end);
            if (cell.empty() || end != cell.c_str() + cell.size()) return false;
            v.push_back(d);
        }
        if (v.size() != 8) return false;
        r = {static_cast<int>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
        return true;
    }

private:
    std::filesystem::path dir_;
    std::vector<epoch_record> rows_;
};

/// How the trainer reports progress.
enum class progress_mode {
    automatic,  ///< a live bar when stdout is a terminal, else one line per epoch
    bar,        ///< always the live bar
    lines,      ///< one line per epoch
    silent,     ///< nothing
};

inline bool stdout_is_terminal() {
#if defined(__unix__) || defined(__APPLE__)
    return ::isatty(STDOUT_FILENO) == 1;
#else
    return false;
#endif
}

/// "1:02:03" or "02:03".
inline std::string format_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
    const long s = static_cast<long>(seconds + 0.5);
    char b[32];
    if (s >= 3600)
        std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(b, sizeof b, "%02ld:%02ld", s / 60, s % 60);
    return b;
}

/// The time left for the whole run: the epochs still to come after the current one, at the mean
/// duration of the epochs this process has completed (or, before the first one completes, at the
/// current epoch's projected duration), plus what is left of the current epoch.
///   epoch_left   seconds left in the current epoch (0 at its end)
///   mean_epoch   mean seconds of the completed epochs of this process (NaN: none yet)
///   projected    the current epoch's projected total seconds (used when mean_epoch is NaN)
///   epochs_after epochs still to run after the current one
[[nodiscard]] inline double run_eta(double epoch_left, double mean_epoch, double projected, long epochs_after) {
    const double per = std::isfinite(mean_epoch) ? mean_epoch : projected;
    return std::max(0.0, epoch_left) + std::max(0.0, per) * static_cast<double>(std::max(0L, epochs_after));
}

/// Live progress bar of one epoch:
///   "epoch 3/20 [#######.......] 14/40 loss 0.3121 ETA 00:41 (run 12:03)"
/// redrawn in place with '\r'; the epoch's ETA extrapolates its mean time per batch, the run's
/// adds the epochs after it (run_eta, with the mean epoch time given by the caller).
class progress_bar {
public:
    progress_bar(std::ostream& out, int epoch, int epochs, std::size_t batches,
                 double mean_epoch_seconds = std::numeric_limits<double>::quiet_NaN())
        : out_(out), epoch_(epoch), epochs_(epochs), batches_(batches), mean_epoch_(mean_epoch_seconds),
          start_(clock::now()) {}

    void update(std::size_t done, double running_loss) {
        const double el = std::chrono::duration<double>(clock::now() - start_).count();
        const double eta = done ? el / double(done) * double(batches_ - std::min(done, batches_)) : 0.0;
        const double run = run_eta(eta, mean_epoch_, el + eta, static_cast<long>(epochs_) - epoch_);
        constexpr int width = 24;
        const int fill = batches_ ? static_cast<int>(width * double(done) / double(batches_)) : width;
        std::string bar(static_cast<std::size_t>(fill), '#');
        bar.resize(width, '.');
        char b[64];
        std::snprintf(b, sizeof b, "%.4f", running_loss);
        out_ << "\repoch " << epoch_ << '/' << epochs_ << " [" << bar << "] " << done << '/' << batches_ << " loss "
             << b << " ETA " << format_duration(eta);
        if (epoch_ < epochs_) out_ << " (run " << format_duration(run) << ')';
        out_ << "   " << std::flush;
    }
    void finish() { out_ << '\r' << std::string(80, ' ') << '\r' << std::flush; }

private:
    using clock = std::chrono::steady_clock;
    std::ostream& out_;
    int epoch_, epochs_;
    std::size_t batches_;
    double mean_epoch_;
    clock::time_point start_;
};

/// The one-line summary of an epoch.
inline std::string epoch_summary(const epoch_record& r, int epochs) {
    char b[256];
    std::snprintf(b, sizeof b, "epoch %d/%d  train_loss %.4f  val_loss %.4f  val_dice %.4f  val_iou %.4f  lr %.3g  %.1fs",
                  r.epoch, epochs, r.train_loss, r.val_loss, r.val_dice, r.val_iou, r.lr, r.seconds);
    std::string s = b;
    if (r.exchange_seconds > 0) {
        std::snprintf(b, sizeof b, " (gradient exchange %.2fs exposed)", r.exchange_seconds);
        s += b;
    }
    return s;
}

}  // namespace unetpp::train
