#pragma once
/// \file The gradient exchange overlapped with backward: each bucket of gradients is summed over
/// the ranks as soon as every gradient in it is final, while backward goes on with the layers
/// below, instead of all of them after backward has returned.
///
///   dist::overlapped_exchange<float> exchange(comm);          // one per model, kept across steps
///   {
///       const auto listening = exchange.begin(net);           // this thread's gradient listener
///       net.backward(x, dy);                                  // layers report final gradients
///   }
///   exchange.finish();                                        // waits; every rank holds the mean
///
/// It computes exactly what dist::allreduce_gradients computes: the same buckets (reverse
/// parameter order, at most bucket_bytes each, a large parameter split across buckets), the same
/// packing, the same element-wise sum and the same scaling, so the two are bit-identical (a test
/// holds them to it). Only the time a bucket starts differs.
///
/// How it knows a gradient is final: every parameterised layer tells this thread's
/// gradient_listener (layers/layer.hpp) after its last write to its weight and bias gradients,
/// before its backward-data pass. Bucket k starts when all its gradients are final and buckets
/// 0..k-1 have started, so every rank starts the same collective operations in the same order
/// (MPI requires it), whatever the timing. Gradients that are never reported (a layer whose
/// backward did not run) are sent by finish(). Each report also tests the buckets in flight,
/// which is what moves an MPI message along while backward computes (MPI progresses a
/// non-blocking operation only inside MPI calls).
///
/// A gradient reported twice in one backward pass (a layer run twice, its gradient added to
/// after it was sent) is an error: the exchange would have sent a partial sum.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../layers/layer.hpp"
#include "communicator.hpp"
#include "gradients.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

/// Sums a model's gradients over the ranks during its backward pass (see the file comment).
/// One object per model and communicator; reuse it every step (its buffers are kept).
template <class T>
class overlapped_exchange final : public gradient_listener {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "overlapped_exchange: the gradients must be float or double tensors");

public:
    explicit overlapped_exchange(communicator& comm, std::size_t bucket_bytes = default_bucket_bytes)
        : comm_(&comm), bucket_bytes_(bucket_bytes) {
        if (bucket_bytes < sizeof(T))
            throw std::invalid_argument("overlapped_exchange: bucket_bytes " + std::to_string(bucket_bytes) +
                                        " holds no gradient element; use at least " + std::to_string(sizeof(T)) +
                                        " (the default is 25 MiB)");
    }
    overlapped_exchange(const overlapped_exchange&) = delete;
    overlapped_exchange& operator=(const overlapped_exchange&) = delete;

    /// Prepares the exchange of `net`'s gradients for one backward pass and returns the scope
    /// during which this thread's layers report to it: run backward inside it, then finish().
    /// local_weight as in allreduce_gradients. With one rank and no local weight nothing is
    /// exchanged and no listener is installed.
    template <class Net>
    [[nodiscard]] gradient_listener_scope begin(Net& net, std::optional<double> local_weight = std::nullopt) {
        // A pass left unfinished (its backward threw): its messages complete before the buffers
        // are reused.
        for (bucket& b : buckets_)
            if (b.op) b.op->wait();
        in_pass_ = false;
        if (local_weight && !(*local_weight >= 0.0 && *local_weight <= 1.0))
            throw std::invalid_argument("overlapped_exchange: local_weight " + std::to_string(*local_weight) +
                                        " is not a share of the batch (0..1)");
        weight_ = local_weight;
        active_ = comm_->size() > 1 || local_weight.has_value();
        if (!active_) return gradient_listener_scope(gradient_listener_scope::current());
        plan(detail::reversed_gradients(net));
        for (slot& s : slots_) s.final = false;
        for (bucket& b : buckets_) {
            b.waiting = b.slot_count;
            b.op.reset();
        }
        next_ = 0;
        started_in_backward_ = 0;
        in_pass_ = true;
        return gradient_listener_scope(this);
    }

    /// Called by the layers (through the listener scope): `grad_data` is final.
    void gradient_final(const void* grad_data) override {
        if (!in_pass_) return;
        const auto it = std::lower_bound(by_address_.begin(), by_address_.end(), grad_data,
                                         [](const auto& e, const void* p) { return e.first < p; });
        if (it == by_address_.end() || it->first != grad_data) return;  // not one of this model's gradients
        slot& s = slots_[it->second];
        if (s.final)
            throw std::logic_error("overlapped_exchange: a gradient was reported final twice in one backward pass "
                                   "(a layer whose backward ran twice); its first value was already sent. Use "
                                   "dist::allreduce_gradients after backward for this model (trainer: "
                                   "cfg.overlap_exchange = false)");
        s.final = true;
        for (std::size_t b = s.first_bucket; b <= s.last_bucket; ++b) --buckets_[b].waiting;
        while (next_ < buckets_.size() && buckets_[next_].waiting == 0) {
            start(next_++);
            ++started_in_backward_;
        }
        for (std::size_t b = 0; b < next_; ++b)  // progress the messages in flight
            if (buckets_[b].op) buckets_[b].op->test();
    }

    /// Starts the buckets backward did not complete, waits for every bucket and writes the sums,
    /// scaled, back into the gradients. After it, every rank holds the same gradients.
    void finish() {
        if (!active_) return;
        if (!in_pass_) throw std::logic_error("overlapped_exchange::finish: no pass was begun; call begin() first");
        in_pass_ = false;
        while (next_ < buckets_.size()) start(next_++);
        const T ranks = static_cast<T>(comm_->size());
        for (bucket& b : buckets_) {
            b.op->wait();
            b.op.reset();
            std::size_t at = 0;
            for (const piece& p : b.pieces) {
                T* dst = slots_[p.slot].data + p.offset;
                if (weight_)
                    std::memcpy(dst, b.buffer.data() + at, p.n * sizeof(T));
                else
                    for (std::size_t i = 0; i < p.n; ++i) dst[i] = b.buffer[at + i] / ranks;
                at += p.n;
            }
        }
    }

    /// Buckets in the current plan, and how many of them the last pass started during backward
    /// (before finish()): the part of the exchange that overlapped with computation.
    [[nodiscard]] std::size_t bucket_count() const noexcept { return buckets_.size(); }
    [[nodiscard]] std::size_t started_during_backward() const noexcept { return started_in_backward_; }

private:
    struct slot {
        T* data = nullptr;
        std::size_t n = 0;
        std::size_t first_bucket = 0, last_bucket = 0;
        bool final = false;
    };
    struct piece {
        std::size_t slot, offset, n;
    };
    struct bucket {
        std::vector<piece> pieces;
        std::vector<T> buffer;
        std::size_t slot_count = 0, waiting = 0;
        std::unique_ptr<pending_operation> op;
    };

    /// Cuts the gradients into buckets as allreduce_gradients does; kept while the model's
    /// gradient tensors stay the same.
    void plan(const std::vector<std::span<T>>& grads) {
        const bool same = grads.size() == slots_.size() &&
                          std::equal(grads.begin(), grads.end(), slots_.begin(), [](const std::span<T>& g, const slot& s) {
                              return g.data() == s.data && g.size() == s.n;
                          });
        if (same) return;
        slots_.clear();
        buckets_.clear();
        by_address_.clear();
        std::size_t total = 0;
        for (const auto& g : grads) total += g.size();
        const std::size_t cap = std::max<std::size_t>(1, std::min(bucket_bytes_ / sizeof(T), total));
        std::size_t used = cap;  // start a new bucket at the first piece
        for (const auto& g : grads) {
            if (g.empty()) continue;
            slot s{g.data(), g.size(), 0, 0, false};
            std::size_t done = 0;
            while (done < g.size()) {
                if (used == cap) {
                    buckets_.emplace_back();
                    used = 0;
                }
                const std::size_t n = std::min(g.size() - done, cap - used);
                bucket& b = buckets_.back();
                if (done == 0) s.first_bucket = buckets_.size() - 1;
                if (b.pieces.empty() || b.pieces.back().slot != slots_.size()) ++b.slot_count;
                b.pieces.push_back({slots_.size(), done, n});
                used += n;
                done += n;
            }
            s.last_bucket = buckets_.size() - 1;
            by_address_.emplace_back(static_cast<const void*>(g.data()), slots_.size());
            slots_.push_back(s);
        }
        for (bucket& b : buckets_) {
            std::size_t n = 0;
            for (const piece& p : b.pieces) n += p.n;
            b.buffer.resize(n);
        }
        std::sort(by_address_.begin(), by_address_.end());
    }

    /// Packs bucket k (scaled by the local weight, if any) and starts its sum over the ranks.
    void start(std::size_t k) {
        bucket& b = buckets_[k];
        std::size_t at = 0;
        const T w = weight_ ? static_cast<T>(*weight_) : T(1);
        for (const piece& p : b.pieces) {
            const T* src = slots_[p.slot].data + p.offset;
            if (weight_)
                for (std::size_t i = 0; i < p.n; ++i) b.buffer[at + i] = src[i] * w;
            else
                std::memcpy(b.buffer.data() + at, src, p.n * sizeof(T));
            at += p.n;
        }
        b.op = comm_->start_allreduce_sum(std::span<T>(b.buffer));
    }

    communicator* comm_;
    std::size_t bucket_bytes_;
    std::optional<double> weight_;
    std::vector<slot> slots_;      // reverse parameter order
    std::vector<bucket> buckets_;  // in the order every rank starts them
    std::vector<std::pair<const void*, std::size_t>> by_address_;  // gradient data -> slot, sorted
    std::size_t next_ = 0;         // the first bucket not started
    std::size_t started_in_backward_ = 0;
    bool active_ = false, in_pass_ = false;
};

}  // namespace unetpp::dist
