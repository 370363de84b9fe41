#pragma once
/// \file The training loop: epochs of mini-batches, validation with loss + Dice/IoU, learning-rate
/// schedule, gradient clipping, early stopping, atomic best/last checkpoints, CSV/JSON-lines
/// logs, progress display, exact resume, and a clean stop on NaN/Inf.
///
///   auto net = presets::unet_bn<16, 3>(seed);
///   optim::adam opt(net, {.lr = 1e-3});
///   data::loader<data::paired_dataset> tr(ds, {.batch_size = 4, .seed = seed}, parts.train);
///   data::loader<data::paired_dataset> va(ds, {.batch_size = 4, .shuffle = false}, parts.val);
///   train::trainer t(net, opt, losses::dice_bce{}, {.epochs = 30, .patience = 5, .out_dir = "run", .seed = seed});
///   auto result = t.fit(tr, &va);
///
/// Generic over the network (any unet type: forward/backward/train/zero_grad/visit_parameters),
/// the optimiser (optim::sgd/adam/adamw or anything with step/zero_grad/lr/set_lr and the
/// checkpoint state API), the loss (losses::Loss: `T loss(logits, target, &grad)`) and the
/// loaders (anything with start_epoch(e), next() -> optional<data::batch>, batches_per_epoch()).
///
/// One epoch e (0-based; logged 1-based):
///   lr = schedule.lr(); the train loader's batches for epoch e (order and augmentation derive
///   from (seed, e), so they are the same in a resumed run); per batch: zero_grad, forward, loss
///   and its gradient, backward, optional clipping, step. Masks larger than the logits (unpadded
///   networks) are centre-cropped to the logits' size. A batch with regions of interest
///   (data::batch::roi, e.g. field-of-view masks) passes them to the loss as per-pixel weights
///   (losses::WeightedLoss: pixels outside contribute nothing). Then validation (eval mode, no
///   gradients): mean loss over images and macro scores, counting only the pixels inside the
///   regions of interest when the batch has them: for one-channel logits, Dice, IoU and pixel
///   error at sigmoid(logit) > threshold; for logits of C >= 2 classes with class-index masks
///   [N, 1, H, W], the label is the argmax over the channels, val_dice and val_iou are the mean
///   over the foreground classes 1..C-1 of each class's macro score (metrics/multiclass.hpp:
///   multiclass_evaluator::foreground) and val_pixel_error is 1 - the macro pixel accuracy;
///   pixels whose mask equals the loss's ignore_index (when it has one) are skipped. Other
///   shapes (e.g. one-hot masks) leave the scores NaN. Then schedule.step(monitor), the log rows,
///   checkpoints
///   (`best.safetensors` when the monitored metric improved, then `last.safetensors`), and early
///   stopping.
///
/// Checkpoints: `last.safetensors` is written with save_checkpoint_keeping_previous, so the one
/// before it stays as `last.prev.safetensors`; at any instant (kill -9 included) at least one
/// complete, checksummed checkpoint of the latest or the previous epoch exists.
///
/// Resume: with cfg.resume_from set (a checkpoint file, or a folder holding last.safetensors),
/// find_resume_checkpoint picks the newest of the file and the one kept before it that verifies
/// and says so when it skips one ("... last.safetensors is corrupt (...); resuming from
/// .../last.prev.safetensors, epoch 4"; printed even with progress_mode::silent, and in
/// fit_result::resume_message). The run must be the same run: the seed, the monitor, the
/// schedule and every cfg.extra entry (the caller's description of the run: model, loss, lr,
/// batch size, ...) must equal the checkpoint's, except the keys in cfg.resume_may_change
/// (default {"epochs"}); otherwise fit() refuses, before touching the network, with one message
/// listing every difference. Then weights, optimiser
/// moments and step count, epoch, schedule state, best metric and early-stopping counters are
/// restored and the log rows after the checkpoint's epoch are dropped; the run continues exactly
/// as if it had not stopped (the data order and augmentation are functions of (seed, epoch)).
/// Limitation: dropout masks come from generators inside the network that a checkpoint does not
/// store, so a network with dropout > 0 resumes with different (equally random) masks.
///
/// Interrupting (cfg.stop_requested, e.g. set by a SIGINT handler): the flag is read after every
/// optimiser step and after every epoch's checkpoints. When it is set mid-epoch, fit() writes a
/// checkpoint of the current step to `last.safetensors` (same rotation as at an epoch's end: the
/// one before it stays as `last.prev.safetensors`) recording the position inside the epoch
/// (checkpoint_info::epoch_step, the batches done, and the running train-loss sum and count),
/// writes no log row for the unfinished epoch, leaves `best.safetensors` alone, and returns with
/// fit_result::interrupted set. Resuming from it starts the train loader's epoch with the same
/// (seed, epoch), draws and discards the batches already done (augmentation is a function of
/// (seed, epoch, sample index), so the later batches are the same) and continues at the next
/// one; the schedule and early stopping only change at an epoch's end, so their saved state is
/// that of the epoch's start. With the same options and thread count the run then ends with
/// weights, optimiser state and log rows bit-identical to a run that was never interrupted.
/// Set at an epoch's end, the flag stops before the next epoch (its checkpoint is already
/// written). Without an out_dir nothing is saved (interrupted_checkpoint stays empty).
///
/// NaN/Inf: a non-finite loss, logit or gradient norm stops training at once with
/// `training_diverged`, whose message names the epoch and the step and says truthfully which
/// good checkpoint exists: the last one written by this run or the one it resumed from (those
/// are not touched), or that there is none (no output folder, or no epoch completed yet).
///
/// Data parallel (cfg.comm, docs/DISTRIBUTED.md): each rank trains on its slice of every global
/// batch (dist::sharded_loader); after backward the gradients are averaged (dist::allreduce_gradients,
/// before clipping and the step), the step's loss and NaN/Inf verdict and the stop flag are agreed,
/// batch-norm running statistics are averaged after each epoch, validation results are gathered,
/// and only rank 0 writes checkpoints and logs and prints. Without cfg.comm nothing changes.

#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../data/loader.hpp"
#include "../dist/communicator.hpp"
#include "../dist/gradients.hpp"
#include "../dist/overlap.hpp"
#include "../dist/validation.hpp"
#include "../losses/common.hpp"
#include "../losses/on_backend.hpp"
#include "../metrics/multiclass.hpp"
#include "../metrics/segmentation.hpp"
#include "../optim/clip.hpp"
#include "../optim/schedule.hpp"
#include "callbacks.hpp"
#include "checkpoint.hpp"
#include "trainer_options.hpp"

namespace unetpp::inline UNETPP_ABI::train {

template <class Net, class Optim, class Loss>
class trainer {
    using T = typename Net::value_type;
    static_assert(std::is_same_v<T, float>, "trainer: the loaders deliver float tensors; use a float network");
    using net_tensor = typename Net::tensor_type;
    /// Whether the network's tensors are the loaders' and losses' host tensors. A network on a
    /// device backend gets copies: each batch goes up; the loss runs on the device where it can
    /// (loss_on_device), else the logits come down for it and its gradient goes up for backward;
    /// at validation the logits come down for the metrics (host code).
    static constexpr bool on_host = std::is_same_v<net_tensor, tensor<T>>;
    static_assert(losses::Loss<Loss, T>, "trainer: the loss must satisfy losses::Loss (T loss(logits, target, &grad))");
    /// Whether a device network's training loss runs where its logits are (losses/on_backend.hpp):
    /// then a step reads back the loss value only; other losses get the logits copied to the host.
    /// Validation copies the logits to the host either way (the metrics are host code).
    static constexpr bool loss_on_device = !on_host && losses::BackendLoss<Loss, typename Net::backend_type, T>;

public:
    trainer(Net& net, Optim& opt, Loss loss, trainer_options cfg, std::optional<optim::any_schedule> schedule = std::nullopt)
        : net_(net), opt_(opt), loss_(std::move(loss)), cfg_(std::move(cfg)),
          sched_(schedule ? std::move(*schedule) : optim::any_schedule(opt.lr())),
          es_(cfg_.mode.value_or(default_mode(cfg_.monitor)), cfg_.patience, cfg_.min_delta),
          log_(!cfg_.comm || cfg_.comm->is_root() ? cfg_.out_dir : std::filesystem::path{}) {
        if (cfg_.epochs < 1) throw std::invalid_argument("trainer: epochs must be at least 1");
        if (!lead()) cfg_.progress = progress_mode::silent;
        if (comm().size() > 1) cfg_.extra.emplace("world_size", std::to_string(comm().size()));
        (void)epoch_record{}.get(cfg_.monitor);  // validates the name
        mode_ = cfg_.mode.value_or(default_mode(cfg_.monitor));
    }

    /// Called after every epoch with its log row (after checkpoints are written).
    std::function<void(const epoch_record&)> on_epoch_end{};

    template <BatchSource TL, BatchSource VL>
    fit_result fit(TL& train, VL* val) {
        std::ostream& out = cfg_.out ? *cfg_.out : std::cout;
        const bool bar = cfg_.progress == progress_mode::bar ||
                         (cfg_.progress == progress_mode::automatic && stdout_is_terminal() && &out == &std::cout);
        if (!val && cfg_.monitor.starts_with("val_"))
            throw std::invalid_argument("trainer: monitor '" + cfg_.monitor +
                                        "' needs a validation loader; pass one or monitor train_loss");
        if (!cfg_.out_dir.empty() && lead()) std::filesystem::create_directories(cfg_.out_dir);

        checkpoint_info info;
        info.seed = cfg_.seed;
        info.monitor = cfg_.monitor;
        info.extra = cfg_.extra;
        fit_result res;
        good_checkpoint_.clear();
        bool last_is_good = false;  // may the current out_dir/last.safetensors be kept as .prev?
        if (!cfg_.resume_from.empty()) {
            std::string note;
            const resume_checkpoint chosen = find_resume_checkpoint(cfg_.resume_from, &note);
            check_same_run(chosen);  // before anything is modified
            info = load_checkpoint(chosen.path, net_, opt_);
            res.resumed_from = chosen.path;
            res.resume_message = note;
            if (!note.empty() && lead()) out << note << '\n' << std::flush;  // a warning: printed even when silent
            good_checkpoint_ = chosen.path;
            good_epoch_ = info.epoch;
            last_is_good = !cfg_.out_dir.empty() && fs_equivalent(chosen.path, cfg_.out_dir / "last.safetensors");
            sched_.load_state(info.schedule_state);
            es_.restore(info.es_best, info.es_bad_epochs);
            for (const auto& [k, v] : cfg_.extra) info.extra[k] = v;
            log_.resume(info.epoch);
            if (info.epoch >= cfg_.epochs && lead())
                out << "checkpoint already holds " << info.epoch << " epochs; nothing to do (raise the epoch count)\n";
        }

        // one process: nothing to do; a device network needs a communicator that sums device memory
        dist::broadcast_parameters(net_, comm());
        const auto stop_requested = [&] {  // collective: every rank stops at the same step
            return dist::any_rank(comm(), cfg_.stop_requested && cfg_.stop_requested->load(std::memory_order_relaxed));
        };
        // finishes the result of an interrupted run
        const auto interrupted = [&](long epoch, long step, std::filesystem::path ckpt) {
            res.interrupted = true;
            res.interrupted_epoch = epoch;
            res.interrupted_step = step;
            res.interrupted_checkpoint = std::move(ckpt);
            res.history = log_.rows();
            res.best_metric = info.best_metric;
            res.best_epoch = info.best_epoch;
            res.epochs_done = info.epoch;
            info_ = info;
            return res;
        };
        bool stop = false;
        double seconds_here = 0;  // the completed epochs of this process: the run's ETA
        long epochs_here = 0;
        for (long e = info.epoch; e < cfg_.epochs && !stop; ++e) {
            const auto t0 = std::chrono::steady_clock::now();
            exchange_seconds_ = 0;
            epoch_record r;
            r.epoch = static_cast<int>(e + 1);
            r.lr = sched_.lr();
            opt_.set_lr(r.lr);
            net_.train(true);
            train.start_epoch(static_cast<std::uint64_t>(e));
            const std::size_t nb = train.batches_per_epoch();
            std::optional<progress_bar> pb;
            if (bar)
                pb.emplace(out, r.epoch, cfg_.epochs, nb,
                           epochs_here ? seconds_here / double(epochs_here) : std::numeric_limits<double>::quiet_NaN());
            double sum = 0;
            std::size_t count = 0, k = 0;
            if (info.epoch_step > 0) {  // resumed mid-epoch: skip the batches already done
                if (static_cast<std::size_t>(info.epoch_step) > nb)
                    throw std::runtime_error("trainer: the checkpoint was written after batch " +
                                             std::to_string(info.epoch_step) + " of epoch " + std::to_string(r.epoch) +
                                             " but the training loader has " + std::to_string(nb) +
                                             " batches per epoch; resume with the same data and batch size");
                for (long s = 0; s < info.epoch_step; ++s)
                    if (!train.next())
                        throw std::runtime_error("trainer: the training loader ended before batch " +
                                                 std::to_string(info.epoch_step) + " of epoch " +
                                                 std::to_string(r.epoch) + ", where the checkpoint was written");
                k = static_cast<std::size_t>(info.epoch_step);
                sum = info.epoch_loss_sum;
                count = static_cast<std::size_t>(info.epoch_loss_count);
                info.epoch_step = 0;
                info.epoch_loss_sum = 0.0;
                info.epoch_loss_count = 0;
            }
            while (auto b = train.next()) {
                ++k;
                const dist::step_totals l = train_step(b->images, b->masks, b->roi, r.epoch, k, nb, info.step + 1);
                ++info.step;
                sum += l.loss_sum;
                count += static_cast<std::size_t>(l.samples);
                if (pb) pb->update(k, sum / double(count));
                if (stop_requested()) {
                    if (pb) pb->finish();
                    std::filesystem::path saved;
                    if (!cfg_.out_dir.empty()) {
                        checkpoint_info mid = info;  // epoch: still the completed ones
                        mid.epoch_step = static_cast<long>(k);
                        mid.epoch_loss_sum = sum;
                        mid.epoch_loss_count = static_cast<long>(count);
                        mid.es_best = es_.best();
                        mid.es_bad_epochs = es_.bad_epochs();
                        mid.schedule_name = std::string(sched_.name());
                        mid.schedule_state = sched_.state();  // unchanged since the epoch's start
                        saved = cfg_.out_dir / "last.safetensors";
                        if (lead()) save_checkpoint_keeping_previous(saved, net_, opt_, mid, last_is_good);
                        comm().barrier();  // the checkpoint exists when fit() returns on any rank
                        info = mid;
                    }
                    return interrupted(r.epoch, static_cast<long>(k), saved);
                }
            }
            if (pb) pb->finish();
            if (count == 0) throw std::runtime_error("trainer: the training loader gave no batches in epoch " + std::to_string(r.epoch));
            r.train_loss = sum / double(count);
            dist::average_buffers(net_, comm());  // the replicas' batch-norm statistics agree
            if (val) validate(*val, r);
            r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (comm().size() > 1) r.exchange_seconds = exchange_seconds_;
            seconds_here += r.seconds;
            ++epochs_here;

            const double m = r.get(cfg_.monitor);
            sched_.step(m);
            const bool improved = better(m, info.best_metric);
            if (improved) {
                info.best_metric = m;
                info.best_epoch = r.epoch;
            }
            stop = es_.update(m);
            info.epoch = e + 1;
            info.es_best = es_.best();
            info.es_bad_epochs = es_.bad_epochs();
            info.schedule_name = std::string(sched_.name());
            info.schedule_state = sched_.state();

            log_.add(r);  // before the checkpoints: a resume drops rows newer than its checkpoint
            if (!cfg_.out_dir.empty()) {
                if (improved && lead()) save_checkpoint(cfg_.out_dir / "best.safetensors", net_, opt_, info);
                const auto last = cfg_.out_dir / "last.safetensors";
                if (lead()) save_checkpoint_keeping_previous(last, net_, opt_, info, last_is_good);
                comm().barrier();
                last_is_good = true;
                good_checkpoint_ = last;
                good_epoch_ = info.epoch;
            }
            if (cfg_.progress != progress_mode::silent) {
                out << epoch_summary(r, cfg_.epochs) << (improved ? "  *" : "");
                if (e + 1 < cfg_.epochs)  // the whole run's time left, at this process's mean epoch
                    out << "  ETA " << format_duration(run_eta(0, seconds_here / double(epochs_here), 0, cfg_.epochs - e - 1));
                out << '\n' << std::flush;
            }
            if (on_epoch_end) on_epoch_end(r);
            if (stop && cfg_.progress != progress_mode::silent)
                out << "early stopping: " << cfg_.monitor << " did not improve for " << es_.bad_epochs()
                    << " epochs (best " << info.best_metric << " at epoch " << info.best_epoch << ")\n";
            if (!stop && e + 1 < cfg_.epochs && stop_requested())  // this epoch's checkpoint is written
                return interrupted(r.epoch + 1, 0, cfg_.out_dir.empty() ? std::filesystem::path{} : good_checkpoint_);
        }
        res.history = log_.rows();
        res.stopped_early = stop;
        res.best_metric = info.best_metric;
        res.best_epoch = info.best_epoch;
        res.epochs_done = info.epoch;
        info_ = info;
        return res;
    }

    template <BatchSource TL>
    fit_result fit(TL& train) {
        return fit(train, static_cast<TL*>(nullptr));
    }

    /// Validation loss and macro Dice / IoU / pixel error over a loader, in eval mode (one-channel
    /// logits: binary scores; C >= 2 channels with index masks: the foreground classes' mean).
    template <BatchSource VL>
    void validate(VL& val, epoch_record& r) {
        net_.train(false);
        inference_mode no_intermediates;  // fused Conv-BN-ReLU, no backward on these passes
        val.start_epoch(0);
        metrics::segmentation_evaluator ev(metrics::prediction_kind::logits, cfg_.threshold);
        std::optional<metrics::multiclass_evaluator> mev;  // created at the first multi-class batch
        // the label the loss skips (losses::cross_entropy, softmax_dice, dice_ce); -100 (torch's) otherwise
        const int ignore_index = [&] {
            if constexpr (requires { { loss_.ignore_index } -> std::convertible_to<int>; })
                return static_cast<int>(loss_.ignore_index);
            else
                return -100;
        }();
        double sum = 0;
        std::size_t count = 0;
        while (auto b = val.next()) {
            const net_tensor& out = net_.forward(in_space(b->images, x_net_));
            const tensor<T>& logits = in_space(out, logits_host_);
            const auto target = detail::center_crop(b->masks, logits.shape().h, logits.shape().w);
            if (!all_finite(out))
                throw training_diverged("validation after epoch " + std::to_string(r.epoch) +
                                        ": the network's outputs hold NaN or Inf; training stopped" + kept());
            const bool roi = !b->roi.empty();
            const auto region = roi ? detail::center_crop(b->roi, logits.shape().h, logits.shape().w) : tensor<float>{};
            const double l = static_cast<double>(roi ? weighted_loss(logits, target, region, nullptr) : loss_(logits, target));
            sum += l * b->images.shape().n;
            count += static_cast<std::size_t>(b->images.shape().n);
            const shape4 ls = logits.shape();
            if (ls.c == 1 && target.shape() == ls) {
                if (roi)
                    for (const auto& c : metrics::count_per_image(logits, target, region, metrics::prediction_kind::logits,
                                                                  cfg_.threshold))
                        ev.add(c);
                else
                    ev.add(logits, target);
            } else if (ls.c >= 2 && target.shape() == shape4{ls.n, 1, ls.h, ls.w}) {
                if (!mev) mev.emplace(ls.c, ignore_index);
                if (roi)
                    mev->add(logits, target, region);
                else
                    mev->add(logits, target);
            }
        }
        net_.train(true);
        dist::gather_validation(comm(), sum, count, ev, mev, ignore_index);  // one process: unchanged
        if (count == 0) throw std::runtime_error("trainer: the validation loader gave no batches");
        r.val_loss = sum / double(count);
        if (ev.images()) {
            const auto s = ev.macro();
            r.val_dice = s.dice;
            r.val_iou = s.iou;
            r.val_pixel_error = 1.0 - s.accuracy;
        } else if (mev && mev->images()) {
            const auto s = mev->foreground();
            r.val_dice = s.dice;
            r.val_iou = s.iou;
            r.val_pixel_error = 1.0 - mev->pixel_accuracy();
        }
    }

    [[nodiscard]] const checkpoint_info& info() const noexcept { return info_; }
    [[nodiscard]] optim::any_schedule& schedule() noexcept { return sched_; }

private:
    /// The loss with per-pixel weights (regions of interest); a loss without them is refused.
    double weighted_loss(const tensor<T>& logits, const tensor<T>& target, const tensor<T>& weight, tensor<T>* grad) {
        if constexpr (losses::WeightedLoss<Loss, T>)
            return static_cast<double>(loss_(logits, target, weight, grad));
        else
            throw std::invalid_argument("trainer: the batches have regions of interest, but loss '" +
                                        std::string(loss_.name) +
                                        "' takes no per-pixel weights (losses::WeightedLoss); use a loss that does, "
                                        "or train without region-of-interest masks");
    }

    dist::step_totals train_step(const tensor<float>& x, const tensor<float>& masks, const tensor<float>& roi, int epoch,
                      std::size_t k, std::size_t nb, long global_step) {
        const auto where = [&] {
            return "epoch " + std::to_string(epoch) + ", step " + std::to_string(k) + " of " + std::to_string(nb) +
                   " (global step " + std::to_string(global_step) + ")";
        };
        net_.zero_grad();
        const net_tensor& xn = in_space(x, x_net_);
        const net_tensor& out = net_.forward(xn);
        const shape4 ls = out.shape();
        const auto target = detail::center_crop(masks, ls.h, ls.w);
        const bool finite = all_finite(out), alone = comm().size() == 1;
        const auto bad_outputs = [&] { return where() + ": the network's outputs hold NaN or Inf; training stopped" + kept(); };
        if (!finite && alone) throw training_diverged(bad_outputs());
        double l = std::numeric_limits<double>::quiet_NaN();
        std::string loss_error;  // with other ranks: thrown after they have been told (l stays NaN)
        if (finite) try {
            if constexpr (loss_on_device) {  // the gradient stays in grad_net_; one value comes back
                const tensor<T> region = roi.empty() ? tensor<T>{} : detail::center_crop(roi, ls.h, ls.w);
                l = static_cast<double>(losses::evaluate_on<typename Net::backend_type>(
                    loss_, out, target, roi.empty() ? nullptr : &region, &grad_net_, loss_buffers_));
            } else {
                const tensor<T>& logits = in_space(out, logits_host_);
                l = roi.empty() ? static_cast<double>(loss_(logits, target, &grad_))
                                : weighted_loss(logits, target, detail::center_crop(roi, ls.h, ls.w), &grad_);
            }
        } catch (const std::exception& e) {
            loss_error = where() + ": loss '" + std::string(loss_.name) + "': " + e.what();
            if (alone) throw std::runtime_error(loss_error);
        }
        const auto bad_loss = [&] {
            return where() + ": loss '" + std::string(loss_.name) + "' is " + (std::isnan(l) ? "NaN" : "infinite") +
                   "; training stopped" + kept() + " (lower the learning rate, clip gradients, or check the data)";
        };
        if (!std::isfinite(l) && alone) throw training_diverged(bad_loss());
        const dist::step_totals tot = dist::exchange_step(comm(), l, static_cast<std::size_t>(x.shape().n),
                                                          !std::isfinite(l));
        if (!loss_error.empty()) throw std::runtime_error(loss_error);
        if (tot.any_bad)  // every rank stops at the same step
            throw training_diverged(!finite ? bad_outputs() : !std::isfinite(l) ? bad_loss()
                                    : where() + ": another rank's loss or outputs hold NaN or Inf; training stopped" + kept());
        if constexpr (on_host) {
            // the mean gradient of the global batch; slices of unequal size are weighted by their share
            const bool even = tot.samples == static_cast<double>(x.shape().n) * comm().size();
            const std::optional<double> weight = even ? std::nullopt : std::optional<double>(x.shape().n / tot.samples);
            if (cfg_.overlap_exchange.value_or(comm().spans_machines())) {
                if (!exchange_) exchange_.emplace(comm(), cfg_.bucket_bytes);
                {
                    const auto listening = exchange_->begin(net_, weight);
                    net_.backward(xn, in_space(grad_, grad_net_));
                }
                const auto t0 = std::chrono::steady_clock::now();
                exchange_->finish();
                exchange_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            } else {
                net_.backward(xn, in_space(grad_, grad_net_));
                const auto t0 = std::chrono::steady_clock::now();
                dist::allreduce_gradients(net_, comm(), cfg_.bucket_bytes, weight);
                exchange_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            }
        } else {  // a device network: its gradients are summed where they are, after backward
            if constexpr (loss_on_device)
                net_.backward(xn, grad_net_);
            else
                net_.backward(xn, in_space(grad_, grad_net_));
            const bool even = tot.samples == static_cast<double>(x.shape().n) * comm().size();
            const auto t0 = std::chrono::steady_clock::now();
            dist::allreduce_gradients(net_, comm(), cfg_.bucket_bytes,
                                      even ? std::nullopt : std::optional<double>(x.shape().n / tot.samples));
            exchange_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        double norm;
        if (cfg_.clip_norm > 0)
            norm = optim::clip_grad_norm(net_, cfg_.clip_norm);
        else if (cfg_.clip_value > 0)
            norm = optim::clip_grad_value(net_, cfg_.clip_value);
        else
            norm = optim::grad_norm(net_);
        if (!std::isfinite(norm))
            throw training_diverged(where() + ": the gradients hold NaN or Inf; training stopped" + kept());
        opt_.step();
        return tot;
    }

    /// Whether the network's outputs are finite: the backend's check, where they live.
    static bool all_finite(const net_tensor& t) {
        return Net::backend_type::all_finite(t.data(), static_cast<std::ptrdiff_t>(t.size()));
    }

    dist::communicator& comm() noexcept { return cfg_.comm ? *cfg_.comm : one_; }
    std::optional<dist::overlapped_exchange<T>> exchange_;  // cfg.overlap_exchange, made at the first step
    double exchange_seconds_ = 0;  // exposed exchange time since the epoch's start
    bool lead() const noexcept { return !cfg_.comm || cfg_.comm->is_root(); }  // writes files, prints

    /// What the NaN/Inf message says about checkpoints: only what exists.
    std::string kept() const {
        if (!good_checkpoint_.empty())
            return "; the last good checkpoint '" + good_checkpoint_.string() + "' is unchanged (epoch " +
                   std::to_string(good_epoch_) + ")";
        if (cfg_.out_dir.empty()) return "; no checkpoint exists (no output folder was given)";
        return "; no checkpoint exists yet (the first epoch did not complete)";
    }

    static bool fs_equivalent(const std::filesystem::path& a, const std::filesystem::path& b) {
        std::error_code ec;
        const bool same = std::filesystem::equivalent(a, b, ec);
        return !ec && same;
    }

    /// Refuses to resume a checkpoint of another run, listing every difference in one message.
    void check_same_run(const resume_checkpoint& c) const {
        std::vector<std::string> diffs;
        if (c.info.seed != cfg_.seed)
            diffs.push_back("seed: the checkpoint was trained with seed " + std::to_string(c.info.seed) +
                            ", this run has seed " + std::to_string(cfg_.seed));
        if (c.info.monitor != cfg_.monitor)
            diffs.push_back("monitor: checkpoint " + c.info.monitor + ", now " + cfg_.monitor);
        if (c.info.schedule_name != sched_.name())
            diffs.push_back("schedule: checkpoint " + c.info.schedule_name + ", now " + std::string(sched_.name()));
        std::set<std::string> keys;
        for (const auto& [k, v] : c.info.extra) keys.insert(k);
        for (const auto& [k, v] : cfg_.extra) keys.insert(k);
        for (const auto& k : keys) {
            if (cfg_.resume_may_change.count(k)) continue;
            const auto a = c.info.extra.find(k);
            const auto b = cfg_.extra.find(k);
            const bool ha = a != c.info.extra.end(), hb = b != cfg_.extra.end();
            if (ha && hb && a->second == b->second) continue;
            diffs.push_back(k + ": checkpoint " + (ha ? a->second : std::string("(not recorded)")) + ", now " +
                            (hb ? b->second : std::string("(not given)")));
        }
        if (diffs.empty()) return;
        std::string m = "checkpoint '" + c.path.string() + "': cannot resume: this run differs from the one that wrote it (";
        for (std::size_t i = 0; i < diffs.size(); ++i) m += (i ? "; " : "") + diffs[i];
        m += "); resume with the same settings, or start a new run in another output folder";
        throw std::runtime_error(m);
    }

    bool better(double m, double best) const {
        if (std::isnan(m)) return false;
        if (std::isnan(best)) return true;
        return mode_ == metric_mode::min ? m < best : m > best;
    }

    Net& net_;
    Optim& opt_;
    Loss loss_;
    trainer_options cfg_;
    optim::any_schedule sched_;
    early_stopping es_;
    epoch_log log_;
    metric_mode mode_ = metric_mode::min;
    tensor<T> grad_;
    net_tensor x_net_, grad_net_;  // a device network's copies of the batch and the loss gradient
    tensor<T> logits_host_;        // a device network's logits, copied for a host-only loss and the metrics
    losses::backend_buffers<T, typename net_tensor::memory_space> loss_buffers_;  // loss_on_device's inputs
    checkpoint_info info_;
    std::filesystem::path good_checkpoint_{};  // the newest complete checkpoint of this run (empty: none)
    long good_epoch_ = 0;
    dist::world_of_one one_;  // the communicator without cfg.comm
};

template <class Net, class Optim, class Loss>
trainer(Net&, Optim&, Loss, trainer_options) -> trainer<Net, Optim, Loss>;
template <class Net, class Optim, class Loss, class S>
trainer(Net&, Optim&, Loss, trainer_options, S) -> trainer<Net, Optim, Loss>;

}  // namespace unetpp::train
