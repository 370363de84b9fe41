#pragma once
/// \file Mini-batch loader: a background thread decodes, augments and batches samples ahead of
/// the training loop, through a bounded queue.
///
///   data::loader<data::paired_dataset> load(ds, {.batch_size = 8, .seed = 1, .augment = aug}, parts.train);
///   for (int epoch = 0; epoch < epochs; ++epoch) {
///       load.start_epoch(epoch);
///       while (auto b = load.next()) train_step(b->images, b->masks);   // [N, C, H, W], [N, 1, H, W]
///   }
///
/// - Order: each epoch visits every index of the loader once, in an order shuffled with
///   derive_seed(seed, epoch, ~0) (or in the given order with shuffle = false). The last,
///   smaller batch is dropped with drop_last.
/// - Patches: with patch.size > 0, sample `index` in `epoch` is first cut to its random patch
///   random_patch(s, patch, seed, epoch, index) (patch.hpp), then augmented.
/// - Augmentation: sample `index` in `epoch` is augmented with augment.apply(s, seed, epoch,
///   index), so the result does not depend on thread timing or on the batch it lands in.
/// - Regions of interest: when a sample of the batch has one (sample::roi), batch::roi holds them
///   all ([N, 1, H, W]; 1 everywhere for samples without one); otherwise it is empty.
/// - Prefetch: at most `prefetch` finished batches wait in the queue (default 2); the worker
///   blocks when it is full, so memory stays bounded whatever the data set's size.
/// - Errors: an exception in the worker (unreadable file, mask mismatch, samples of unequal
///   size) ends the epoch; next() rethrows it as std::runtime_error naming the sample and its
///   files. Batches before it are delivered first.
/// - Lifetime: the loader holds a pointer to the data set, which must outlive it. start_epoch
///   during an epoch abandons the rest of it; the destructor stops and joins the worker.
///   The data set's get() is called from the worker thread only.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/rng.hpp"
#include "../tensor/tensor.hpp"
#include "augment.hpp"
#include "dataset.hpp"
#include "patch.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// A mini-batch.
struct batch {
    tensor<float> images;               ///< [N, C, H, W]
    tensor<float> masks;                ///< [N, 1, H, W]
    std::vector<int> labels;            ///< one per sample
    std::vector<int> groups;            ///< one per sample
    std::vector<std::size_t> indices;   ///< data-set indices of the samples
    tensor<float> roi;                  ///< [N, 1, H, W] regions of interest, or empty (every pixel counts)
};

struct loader_options {
    int batch_size = 8;
    bool shuffle = true;
    bool drop_last = false;
    std::uint64_t seed = 0;
    std::size_t prefetch = 2;   ///< finished batches that may wait in the queue (>= 1)
    augment_pipeline augment{};
    patch_options patch{};      ///< random patches (size 0: whole images)
};

template <Dataset D>
class loader {
public:
    /// Loads the samples `indices` of `ds` (all samples when empty).
    loader(const D& ds, loader_options opt = {}, std::vector<std::size_t> indices = {})
        : ds_(&ds), opt_(std::move(opt)), idx_(std::move(indices)) {
        if (opt_.batch_size < 1)
            throw std::invalid_argument("loader: batch_size must be at least 1, got " + std::to_string(opt_.batch_size));
        if (opt_.prefetch < 1) throw std::invalid_argument("loader: prefetch must be at least 1");
        if (idx_.empty()) {
            idx_.resize(ds.size());
            std::iota(idx_.begin(), idx_.end(), std::size_t{0});
        }
        for (std::size_t i : idx_)
            if (i >= ds.size())
                throw std::out_of_range("loader: index " + std::to_string(i) + " outside a data set of " +
                                        std::to_string(ds.size()));
        if (idx_.empty()) throw std::invalid_argument("loader: the data set is empty");
        if (opt_.drop_last && idx_.size() < static_cast<std::size_t>(opt_.batch_size))
            throw std::invalid_argument("loader: drop_last with " + std::to_string(idx_.size()) +
                                        " samples and batch_size " + std::to_string(opt_.batch_size) +
                                        " leaves no batch");
    }
    loader(const loader&) = delete;
    loader& operator=(const loader&) = delete;
    ~loader() { stop(); }

    /// Batches per epoch.
    [[nodiscard]] std::size_t batches_per_epoch() const noexcept {
        const std::size_t b = static_cast<std::size_t>(opt_.batch_size);
        return opt_.drop_last ? idx_.size() / b : (idx_.size() + b - 1) / b;
    }

    /// The data-set indices in the order epoch `epoch` visits them.
    [[nodiscard]] std::vector<std::size_t> order(std::uint64_t epoch) const {
        std::vector<std::size_t> o = idx_;
        if (opt_.shuffle) {
            rng r(derive_seed(opt_.seed, epoch, ~std::uint64_t{0}));
            for (std::size_t i = o.size(); i > 1; --i) std::swap(o[i - 1], o[r.below(i)]);
        }
        return o;
    }

    /// Starts producing the batches of `epoch` (abandoning any epoch in progress).
    void start_epoch(std::uint64_t epoch) {
        stop();
        {
            std::lock_guard<std::mutex> lock(mu_);
            queue_.clear();
            error_ = nullptr;
            done_ = false;
            cancel_ = false;
            started_ = true;
        }
        worker_ = std::thread([this, epoch, o = order(epoch)] { run(epoch, o); });
    }

    /// The next batch of the current epoch; std::nullopt when the epoch is over. Rethrows a
    /// worker error.
    [[nodiscard]] std::optional<batch> next() {
        std::unique_lock<std::mutex> lock(mu_);
        if (!started_) throw std::logic_error("loader: call start_epoch(epoch) before next()");
        cv_.wait(lock, [&] { return !queue_.empty() || done_; });
        if (!queue_.empty()) {
            batch b = std::move(queue_.front());
            queue_.pop_front();
            cv_.notify_all();
            return b;
        }
        if (error_) {
            auto e = std::exchange(error_, nullptr);
            std::rethrow_exception(e);
        }
        return std::nullopt;
    }

private:
    void stop() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            cancel_ = true;
        }
        cv_.notify_all();
        if (worker_.joinable()) worker_.join();
    }

    void run(std::uint64_t epoch, const std::vector<std::size_t>& order) {
        const std::size_t bs = static_cast<std::size_t>(opt_.batch_size);
        const std::size_t nb = batches_per_epoch();
        std::size_t current = 0;
        bool current_set = false;
        try {
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t first = b * bs, count = std::min(bs, order.size() - first);
                batch out;
                for (std::size_t k = 0; k < count; ++k) {
                    {
                        std::lock_guard<std::mutex> lock(mu_);
                        if (cancel_) return;
                    }
                    current = order[first + k];
                    current_set = true;
                    sample s = ds_->get(current);
                    if (opt_.patch.size > 0) random_patch(s, opt_.patch, opt_.seed, epoch, current);
                    opt_.augment.apply(s, opt_.seed, epoch, current);
                    const shape4 is = s.image.shape(), ms = s.mask.shape();
                    if (is.n != 1 || ms != shape4{1, 1, is.h, is.w})
                        throw std::runtime_error("image " + is.str() + " and mask " + ms.str() +
                                                 " are not one sample of equal size");
                    if (k == 0) {
                        out.images.resize(shape4{static_cast<int>(count), is.c, is.h, is.w});
                        out.masks.resize(shape4{static_cast<int>(count), 1, is.h, is.w});
                    } else if (out.images.shape().c != is.c || out.images.shape().h != is.h ||
                               out.images.shape().w != is.w) {
                        const shape4 f = out.images.shape();
                        throw std::runtime_error("its image is " + is.str() + " but the batch's first sample is [1, " +
                                                 std::to_string(f.c) + ", " + std::to_string(f.h) + ", " +
                                                 std::to_string(f.w) +
                                                 "]; add a resize (tf::resize) or a crop so all samples match");
                    }
                    std::memcpy(out.images.data() + k * is.c * static_cast<std::size_t>(is.h) * is.w, s.image.data(),
                                s.image.size() * sizeof(float));
                    const std::size_t plane = static_cast<std::size_t>(is.h) * is.w;
                    std::memcpy(out.masks.data() + k * plane, s.mask.data(), s.mask.size() * sizeof(float));
                    if (!s.roi.empty()) {
                        if (s.roi.shape() != ms)
                            throw std::runtime_error("its region-of-interest mask " + s.roi.shape().str() +
                                                     " and its mask " + ms.str() + " differ in size");
                        if (out.roi.empty()) out.roi = tensor<float>(out.masks.shape(), 1.0f);
                        std::memcpy(out.roi.data() + k * plane, s.roi.data(), plane * sizeof(float));
                    }
                    out.labels.push_back(s.label);
                    out.groups.push_back(s.group);
                    out.indices.push_back(current);
                }
                current_set = false;
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return queue_.size() < opt_.prefetch || cancel_; });
                if (cancel_) return;
                queue_.push_back(std::move(out));
                cv_.notify_all();
            }
        } catch (const std::exception& e) {
            const std::string where = current_set ? "sample " + std::to_string(current) + " (" +
                                                        describe(*ds_, current) + ")"
                                                  : std::string("a batch");
            // Made in its own statement so that the temporary runtime_error (whose message
            // libstdc++ shares by reference count with the copy in the exception_ptr) is gone
            // before the error is published: afterwards only the consumer thread holds it.
            auto error = std::make_exception_ptr(
                std::runtime_error("loader: epoch " + std::to_string(epoch) + ", " + where + ": " + e.what()));
            set_error(std::move(error));
            return;
        } catch (...) {
            set_error(std::current_exception());
            return;
        }
        std::lock_guard<std::mutex> lock(mu_);
        done_ = true;
        cv_.notify_all();
    }

    void set_error(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = std::move(e);
        done_ = true;
        cv_.notify_all();
    }

    const D* ds_;
    loader_options opt_;
    std::vector<std::size_t> idx_;

    std::thread worker_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<batch> queue_;
    std::exception_ptr error_;
    bool done_ = false;
    bool cancel_ = false;
    bool started_ = false;
};

}  // namespace unetpp::data
