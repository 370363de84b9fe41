#pragma once
/// \file What the trainer exchanges between ranks besides the gradients: the per-step loss sums
/// (so that every rank logs the loss of the global batch and all stop together on NaN/Inf) and
/// the validation results (so that every rank sees the same metrics and the schedule and early
/// stopping agree).
///
/// Validation is sharded like training (dist::sharded_loader); each rank scores its images, then
/// gather_validation gives every rank the loss sum and image count of all ranks and the per-image
/// confusion counts of all images, in rank order. The macro scores (means over images) are then
/// those of the whole validation set; they differ from a single-process run's only in the order
/// in which the per-image scores are added.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../metrics/multiclass.hpp"
#include "../metrics/segmentation.hpp"
#include "communicator.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

/// The loss and sample count of one step over all ranks, and whether any rank's loss or outputs
/// were not finite.
struct step_totals {
    double loss_sum = 0;  ///< sum over the ranks of (mean loss x samples)
    double samples = 0;   ///< samples in the global batch
    bool any_bad = false; ///< some rank's loss or logits held NaN or Inf
};

/// Sums (loss x samples, samples, bad flag) over the ranks; collective. With one rank the sums
/// are this rank's values, unchanged.
[[nodiscard]] inline step_totals exchange_step(communicator& comm, double loss, std::size_t samples, bool bad) {
    double v[3] = {loss * static_cast<double>(samples), static_cast<double>(samples), bad ? 1.0 : 0.0};
    comm.allreduce_sum(std::span<double>(v, 3));
    return {v[0], v[1], v[2] > 0.0};
}

/// Replaces this rank's validation results by those of all ranks: `loss_sum` and `count` become
/// the sums over the ranks, and `ev` / `mev` hold every rank's per-image counts (in rank order).
/// `mev` is created (with `ignore_index`) when another rank scored multi-class images. With one
/// rank nothing changes. Collective.
inline void gather_validation(communicator& comm, double& loss_sum, std::size_t& count,
                              metrics::segmentation_evaluator& ev,
                              std::optional<metrics::multiclass_evaluator>& mev, int ignore_index) {
    if (comm.size() == 1) return;
    double sums[2] = {loss_sum, static_cast<double>(count)};
    comm.allreduce_sum(std::span<double>(sums, 2));
    loss_sum = sums[0];
    count = static_cast<std::size_t>(sums[1]);
    // One block per rank: [binary images, classes (0: none), multi-class images, the binary counts
    // (tp fp fn tn per image), the multi-class counts (per image: counted, correct, then tp fp fn
    // tn per class)].
    std::vector<std::uint64_t> mine{ev.images(), mev ? static_cast<std::uint64_t>(mev->classes()) : 0,
                                    mev ? mev->images() : 0};
    for (const auto& c : ev.per_image()) mine.insert(mine.end(), {c.tp, c.fp, c.fn, c.tn});
    if (mev)
        for (const auto& m : mev->per_image()) {
            mine.insert(mine.end(), {m.counted, m.correct});
            for (const auto& c : m.classes) mine.insert(mine.end(), {c.tp, c.fp, c.fn, c.tn});
        }
    const std::vector<std::uint64_t> all = comm.allgather(std::span<const std::uint64_t>(mine));
    ev.reset();
    if (mev) mev->reset();
    std::size_t at = 0;
    const auto take = [&] {
        if (at >= all.size()) throw std::runtime_error("gather_validation: the ranks' validation counts are truncated");
        return all[at++];
    };
    for (int r = 0; r < comm.size(); ++r) {
        const std::uint64_t nb = take(), classes = take(), nm = take();
        for (std::uint64_t i = 0; i < nb; ++i) {
            metrics::binary_confusion c;
            c.tp = take(), c.fp = take(), c.fn = take(), c.tn = take();
            ev.add(c);
        }
        if (nm == 0) continue;
        if (!mev) mev.emplace(static_cast<int>(classes), ignore_index);
        if (static_cast<std::uint64_t>(mev->classes()) != classes)
            throw std::runtime_error("gather_validation: rank " + std::to_string(r) + " scored " +
                                     std::to_string(classes) + " classes, another rank " +
                                     std::to_string(mev->classes()) + "; every rank must train the same network");
        for (std::uint64_t i = 0; i < nm; ++i) {
            metrics::multiclass_confusion m(static_cast<int>(classes));
            m.counted = take(), m.correct = take();
            for (auto& c : m.classes) c.tp = take(), c.fp = take(), c.fn = take(), c.tn = take();
            mev->add(m);
        }
    }
}

}  // namespace unetpp::dist
