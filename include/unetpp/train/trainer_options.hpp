#pragma once
/// \file The trainer's options and results (trainer_options, fit_result), its error for a run that
/// stopped being finite, the loaders it accepts (BatchSource), and the host-side helpers of a
/// step. train/trainer.hpp documents how each option is used.

#include <atomic>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../data/loader.hpp"
#include "../dist/communicator.hpp"
#include "../dist/gradients.hpp"
#include "../layers/merge.hpp"
#include "callbacks.hpp"

namespace unetpp::inline UNETPP_ABI::train {

/// Training stopped because the loss, the logits or the gradients stopped being finite.
class training_diverged : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct trainer_options {
    int epochs = 10;
    std::string monitor = "val_loss";      ///< train_loss | val_loss | val_dice | val_iou
    std::optional<metric_mode> mode{};     ///< default: min for losses, max for scores
    int patience = 0;                      ///< early stopping (0: off)
    double min_delta = 0.0;                ///< early stopping's minimum improvement
    double clip_norm = 0.0;                ///< > 0: clip gradients to this global L2 norm
    double clip_value = 0.0;               ///< > 0: clamp every gradient to [-clip_value, clip_value]
    std::filesystem::path out_dir{};       ///< checkpoints and logs (empty: none written)
    std::filesystem::path resume_from{};   ///< checkpoint to continue from (empty: fresh start)
    std::uint64_t seed = 0;                ///< the run's seed (recorded; must match on resume)
    progress_mode progress = progress_mode::automatic;
    std::ostream* out = nullptr;           ///< progress and summaries (default std::cout)
    double threshold = 0.5;                ///< probability threshold for Dice / IoU
    std::map<std::string, std::string> extra{};  ///< stored in every checkpoint (unetpp.extra.*)
    /// cfg.extra keys whose value may differ from the checkpoint's on resume (others refuse it)
    std::set<std::string> resume_may_change{"epochs"};
    /// When it becomes true, fit() saves the current step and returns (see "Interrupting" above).
    /// Only read (relaxed is enough: a signal handler may set it); null: never interrupted.
    const std::atomic<bool>* stop_requested = nullptr;
    /// The ranks of a data-parallel run (see "Data parallel" above); null: this process alone.
    dist::communicator* comm = nullptr;
    std::size_t bucket_bytes = dist::default_bucket_bytes;  ///< gradient exchange bucket size
    /// true: start each bucket's sum over the ranks during backward, as soon as its gradients are
    /// final (dist::overlapped_exchange); false: all of them after backward
    /// (dist::allreduce_gradients). Unset: overlap when the ranks span machines
    /// (communicator::spans_machines); on one machine the sums compete with backward for the same
    /// cores and took longer than they hid (docs/DISTRIBUTED.md). The gradients are bit-identical
    /// either way; only the time spent waiting differs.
    std::optional<bool> overlap_exchange{};
};
/// The name before the naming rule; it goes away in a later release.
using trainer_cfg [[deprecated("renamed trainer_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = trainer_options;

struct fit_result {
    std::vector<epoch_record> history;  ///< every logged epoch (including those before a resume)
    bool stopped_early = false;
    double best_metric = std::numeric_limits<double>::quiet_NaN();
    long best_epoch = -1;               ///< 1-based
    long epochs_done = 0;
    std::filesystem::path resumed_from{};  ///< the checkpoint a resume loaded (empty: fresh start)
    std::string resume_message{};          ///< why a newer checkpoint was skipped (empty: none was)
    bool interrupted = false;              ///< stopped because cfg.stop_requested was set
    long interrupted_epoch = 0;            ///< the epoch in progress when it stopped (1-based)
    long interrupted_step = 0;             ///< batches of that epoch done (0: stopped at its start)
    std::filesystem::path interrupted_checkpoint{};  ///< the checkpoint holding that point (empty: none)
};

/// A source of mini-batches (data::loader is one).
template <class L>
concept BatchSource = requires(L& l, std::uint64_t e) {
    l.start_epoch(e);
    { l.next() } -> std::convertible_to<std::optional<data::batch>>;
    { l.batches_per_epoch() } -> std::convertible_to<std::size_t>;
};
/// The name before the naming rule (docs/DESIGN.md, Naming); it goes away in a later release.
template <class L>
concept batch_source = BatchSource<L>;

namespace detail {
/// Centre crop of [N, C, H, W] to h x w (the target of an unpadded network), with the window the
/// unpadded network's skips are cropped to (centre_offset, layers/merge.hpp).
template <class T>
tensor<T> center_crop(const tensor<T>& t, int h, int w) {
    const shape4 s = t.shape();
    if (s.h == h && s.w == w) return t;
    if (h > s.h || w > s.w)
        throw std::invalid_argument("trainer: logits " + std::to_string(h) + "x" + std::to_string(w) +
                                    " are larger than the masks " + s.str());
    tensor<T> out(shape4{s.n, s.c, h, w});
    const int top = centre_offset(s.h, h), left = centre_offset(s.w, w);  // the crop-concat's rule
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    out.data()[((std::size_t(n) * s.c + c) * h + y) * w + x] =
                        t.data()[((std::size_t(n) * s.c + c) * s.h + y + top) * s.w + x + left];
    return out;
}
}  // namespace detail

}  // namespace unetpp::train
