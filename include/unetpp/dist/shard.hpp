#pragma once
/// \file Sharding the batches of a data set over the ranks of a data-parallel run.
///
///   dist::sharded_loader<data::paired_dataset> tr(ds, {.batch_size = 8, .seed = seed}, parts.train, comm);
///   dist::sharded_loader<data::paired_dataset> va(ds, {.batch_size = 8, .shuffle = false}, parts.val, comm,
///                                                 {.allow_empty_slices = true});
///
/// Every rank derives the same global order from (seed, epoch), exactly as data::loader does
/// with the same options (data::loader::order), cuts it into the same global batches of
/// batch_size samples, and takes its slice of each: global batch b of m samples gives rank r the
/// samples [floor(m r / W), floor(m (r+1) / W)) of it (W ranks). The slices of one batch are
/// disjoint and together hold the whole batch, so a data-parallel step sees the same samples as
/// a single-process step over the global batch, and the ranks' slices differ in size by at most
/// one. Patches and augmentation are functions of (seed, epoch, data-set index) and come out the
/// same as in a single-process run.
///
/// Every rank must have the same number of batches per epoch (each step is a collective
/// operation), so a global batch smaller than the number of ranks (batch_size < W, or a last
/// batch of fewer than W samples without drop_last) is refused unless allow_empty_slices is set.
/// Set it for validation loaders: validation exchanges its sums only at the end, so a rank may
/// skip a batch that has no sample for it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../data/loader.hpp"
#include "communicator.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

/// Rank `rank`'s slice of every global batch: the global batches are consecutive runs of
/// `batch_size` samples of `order` (the last one smaller, or dropped with drop_last), and rank r
/// of `world` takes the samples [floor(m r / world), floor(m (r+1) / world)) of a batch of m.
[[nodiscard]] inline std::vector<std::vector<std::size_t>> shard_batches(const std::vector<std::size_t>& order,
                                                                         std::size_t batch_size, bool drop_last,
                                                                         int rank, int world) {
    if (batch_size == 0) throw std::invalid_argument("shard_batches: batch_size must be at least 1");
    if (world < 1 || rank < 0 || rank >= world)
        throw std::invalid_argument("shard_batches: rank " + std::to_string(rank) + " outside a world of " +
                                    std::to_string(world));
    const std::size_t nb = drop_last ? order.size() / batch_size : (order.size() + batch_size - 1) / batch_size;
    const std::size_t r = static_cast<std::size_t>(rank), w = static_cast<std::size_t>(world);
    std::vector<std::vector<std::size_t>> out(nb);
    for (std::size_t b = 0; b < nb; ++b) {
        const std::size_t first = b * batch_size, m = std::min(batch_size, order.size() - first);
        const std::size_t lo = m * r / w, hi = m * (r + 1) / w;
        out[b].assign(order.begin() + static_cast<std::ptrdiff_t>(first + lo),
                      order.begin() + static_cast<std::ptrdiff_t>(first + hi));
    }
    return out;
}

struct shard_options {
    /// Allow global batches that leave some rank without a sample (that rank skips the batch);
    /// only for validation loaders.
    bool allow_empty_slices = false;
};

/// A loader that delivers this rank's slice of every global batch (see the file comment). It has
/// the BatchSource interface of train::trainer (start_epoch, next, batches_per_epoch) and the
/// same options as data::loader, whose batch_size is the global batch size.
template <data::Dataset D>
class sharded_loader {
public:
    sharded_loader(const D& ds, data::loader_options global, std::vector<std::size_t> indices, int rank, int world,
                   shard_options opt = {})
        : ds_(&ds), opt_(global), shard_(opt), rank_(rank), world_(world),
          global_(ds, std::move(global), std::move(indices)) {
        if (world < 1 || rank < 0 || rank >= world)
            throw std::invalid_argument("sharded_loader: rank " + std::to_string(rank) + " outside a world of " +
                                        std::to_string(world));
        const std::size_t n = global_.order(0).size(), bs = static_cast<std::size_t>(opt_.batch_size);
        const std::size_t smallest = opt_.drop_last || n % bs == 0 ? bs : n % bs;
        if (!shard_.allow_empty_slices && smallest < static_cast<std::size_t>(world))
            throw std::invalid_argument(
                "sharded_loader: " +
                (smallest == bs ? "a global batch of " + std::to_string(bs) + " samples"
                                : "the last global batch (" + std::to_string(smallest) + " of " + std::to_string(n) +
                                      " samples)") +
                " cannot give each of the " + std::to_string(world) +
                " ranks a sample; use a batch size of at least the number of ranks, drop_last, or a sample count "
                "whose last batch holds at least one sample per rank");
    }
    sharded_loader(const D& ds, data::loader_options global, std::vector<std::size_t> indices,
                   const communicator& comm, shard_options opt = {})
        : sharded_loader(ds, std::move(global), std::move(indices), comm.rank(), comm.size(), opt) {}

    /// Batches per epoch: the number of global batches (the same on every rank).
    [[nodiscard]] std::size_t batches_per_epoch() const noexcept { return global_.batches_per_epoch(); }
    /// The global order of `epoch` (the same on every rank, and data::loader's with these options).
    [[nodiscard]] std::vector<std::size_t> order(std::uint64_t epoch) const { return global_.order(epoch); }
    /// This rank's slice of every global batch of `epoch`.
    [[nodiscard]] std::vector<std::vector<std::size_t>> slices(std::uint64_t epoch) const {
        return shard_batches(global_.order(epoch), static_cast<std::size_t>(opt_.batch_size), opt_.drop_last, rank_,
                             world_);
    }

    /// Starts producing this rank's batches of `epoch` (abandoning any epoch in progress).
    void start_epoch(std::uint64_t epoch) {
        inner_.reset();
        slices_ = slices(epoch);
        next_ = 0;
        std::vector<std::size_t> mine;
        std::size_t largest = 1;
        for (const auto& s : slices_) {
            mine.insert(mine.end(), s.begin(), s.end());
            largest = std::max(largest, s.size());
        }
        started_ = true;
        if (mine.empty()) return;  // this rank has no sample this epoch (validation only)
        data::loader_options one = opt_;  // one sample at a time, in this rank's order
        one.batch_size = 1;
        one.shuffle = false;
        one.drop_last = false;
        one.prefetch = opt_.prefetch * largest;
        inner_.emplace(*ds_, std::move(one), std::move(mine));
        inner_->start_epoch(epoch);
    }

    /// This rank's slice of the next global batch; std::nullopt when the epoch is over. A batch
    /// that has no sample for this rank (only with allow_empty_slices) is skipped.
    [[nodiscard]] std::optional<data::batch> next() {
        if (!started_) throw std::logic_error("sharded_loader: call start_epoch(epoch) before next()");
        while (next_ < slices_.size() && slices_[next_].empty()) ++next_;
        if (next_ >= slices_.size()) return std::nullopt;
        const std::size_t k = slices_[next_++].size();
        std::vector<data::batch> parts;
        parts.reserve(k);
        for (std::size_t i = 0; i < k; ++i) {
            auto b = inner_->next();
            if (!b) throw std::logic_error("sharded_loader: the inner loader ended inside a slice");
            parts.push_back(std::move(*b));
        }
        return concatenate(parts);
    }

private:
    /// One batch of the one-sample batches `parts`.
    static data::batch concatenate(std::vector<data::batch>& parts) {
        if (parts.size() == 1) return std::move(parts.front());
        const shape4 f = parts.front().images.shape();
        const int n = static_cast<int>(parts.size());
        const std::size_t isz = parts.front().images.size(), msz = parts.front().masks.size();
        bool any_roi = false;
        for (const auto& p : parts) {
            const shape4 s = p.images.shape();
            if (s.c != f.c || s.h != f.h || s.w != f.w)
                throw std::runtime_error("sharded_loader: sample " + std::to_string(p.indices.front()) + " is " +
                                         s.str() + " but the slice's first sample is " + f.str() +
                                         "; add a resize (tf::resize) or a crop so all samples match");
            any_roi = any_roi || !p.roi.empty();
        }
        data::batch out;
        out.images.resize(shape4{n, f.c, f.h, f.w});
        out.masks.resize(shape4{n, 1, f.h, f.w});
        if (any_roi) out.roi = tensor<float>(out.masks.shape(), 1.0f);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            std::memcpy(out.images.data() + i * isz, parts[i].images.data(), isz * sizeof(float));
            std::memcpy(out.masks.data() + i * msz, parts[i].masks.data(), msz * sizeof(float));
            if (!parts[i].roi.empty()) std::memcpy(out.roi.data() + i * msz, parts[i].roi.data(), msz * sizeof(float));
            out.labels.insert(out.labels.end(), parts[i].labels.begin(), parts[i].labels.end());
            out.groups.insert(out.groups.end(), parts[i].groups.begin(), parts[i].groups.end());
            out.indices.insert(out.indices.end(), parts[i].indices.begin(), parts[i].indices.end());
        }
        return out;
    }

    const D* ds_;
    data::loader_options opt_;
    shard_options shard_;
    int rank_, world_;
    data::loader<D> global_;  // never started: the global order and batch count
    std::optional<data::loader<D>> inner_;
    std::vector<std::vector<std::size_t>> slices_;
    std::size_t next_ = 0;
    bool started_ = false;
};

}  // namespace unetpp::dist
