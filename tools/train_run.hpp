// The per-network part of unetpp-train: everything that depends on the network type (the data
// loaders, the optimiser, the trainer and its checkpoints), as one function template,
// train_network<Net>, over the options unetpp-train.cpp has parsed and checked (train_job).
// Each network of the compiled set (model_set.hpp) is instantiated once, in one of the
// tools/train_networks_*.cpp files, so that no translation unit of the program holds them all
// (compile time and memory per file stay bounded; bench/compile_time/programs.sh measures them).
#pragma once

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <unetpp/dist/communicator.hpp>
#include <unetpp/dist/shard.hpp>
#include <unetpp/io/safetensors.hpp>

#include "cli_common.hpp"
#include "model_record.hpp"
#include "report/tensorboard.hpp"
#include "run_record.hpp"

namespace cli {

/// One loss type for every choice (keeps one trainer instantiation per network).
struct any_loss {
    std::string name;
    std::function<float(const tensor<float>&, const tensor<float>&, tensor<float>*)> fn;
    /// with per-pixel weights (regions of interest, losses::WeightedLoss)
    std::function<float(const tensor<float>&, const tensor<float>&, const tensor<float>&, tensor<float>*)> weighted;
    float operator()(const tensor<float>& x, const tensor<float>& t, tensor<float>* g = nullptr) const { return fn(x, t, g); }
    float operator()(const tensor<float>& x, const tensor<float>& t, const tensor<float>& w,
                     tensor<float>* g = nullptr) const {
        return weighted(x, t, w, g);
    }
};

/// The optimiser options, parsed and range-checked before anything is read or written.
struct optimizer_choice {
    std::string name;  ///< adam | adamw | sgd
    double lr = 1e-3, weight_decay = 0.0, momentum = 0.9;
};

/// SGD or Adam/AdamW behind one type, with the checkpoint state API, on backend B (the network's:
/// backend::cuda for unetpp-train --device cuda).
template <class B = backend::cpu>
class any_optimizer {
public:
    template <class Net>
    any_optimizer(Net& net, const optimizer_choice& o) : v_(make(net, o)) {}
    void step() { std::visit([](auto& o) { o.step(); }, v_); }
    void zero_grad() { std::visit([](auto& o) { o.zero_grad(); }, v_); }
    [[nodiscard]] double lr() const { return std::visit([](const auto& o) { return o.lr(); }, v_); }
    void set_lr(double x) { std::visit([&](auto& o) { o.set_lr(x); }, v_); }
    [[nodiscard]] long steps() const { return std::visit([](const auto& o) { return o.steps(); }, v_); }
    void set_steps(long t) { std::visit([&](auto& o) { o.set_steps(t); }, v_); }
    [[nodiscard]] std::string_view name() const { return std::visit([](const auto& o) { return std::string_view(o.name()); }, v_); }
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> hyper_parameters() const {
        return std::visit([](const auto& o) { return o.hyper_parameters(); }, v_);
    }
    template <class F>
    void visit_state(F&& f) {
        std::visit([&](auto& o) { o.visit_state(f); }, v_);
    }

private:
    using variant = std::variant<optim::sgd<B>, optim::adam<B>>;
    template <class Net>
    static variant make(Net& net, const optimizer_choice& o) {
        if (o.name == "sgd")
            return variant(std::in_place_type<optim::sgd<B>>, net,
                           optim::sgd_options{.lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay});
        if (o.name == "adam")
            return variant(std::in_place_type<optim::adam<B>>, net,
                           optim::adam_options{.lr = o.lr, .weight_decay = o.weight_decay});
        if (o.name == "adamw")
            return variant(std::in_place_type<optim::adam<B>>, net, optim::adamw_options(o.lr, o.weight_decay));
        throw usage_error("--optimizer '" + o.name + "' is not one of adam, adamw or sgd");
    }
    variant v_;
};

inline optim::any_schedule make_schedule(const std::string& s, double lr, int epochs, const std::string& monitor) {
    if (s == "constant") return optim::any_schedule(optim::constant_lr(lr));
    if (s == "step") return optim::any_schedule(optim::step_lr(lr, {.step_size = std::max(1, epochs / 3), .gamma = 0.1}));
    if (s == "cosine")
        return optim::any_schedule(
            optim::cosine_lr(lr, {.t_max = epochs + 1, .eta_min = lr * 1e-2, .warmup_epochs = epochs >= 10 ? 2 : 0}));
    if (s == "plateau")
        return optim::any_schedule(optim::reduce_on_plateau(
            lr, {.mode = train::default_mode(monitor), .factor = 0.1, .patience = 3}));
    throw usage_error("--schedule '" + s + "' is not one of constant, step, cosine, plateau");
}

/// --export-data: the preprocessed samples of each non-empty part, stacked into [N, C, H, W].
inline void export_data(const any_dataset& ds,
                 const std::vector<std::pair<const char*, const std::vector<std::size_t>*>>& parts,
                 const fs::path& file, bool overwrite, bool quiet) {
    std::size_t total = 0, done = 0;
    for (const auto& part : parts) total += part.second->size();
    step_progress progress("reading " + std::to_string(total) + " images for --export-data", quiet);
    io::safetensors_writer w;
    w.set_metadata("tool", "unetpp-train --export-data");
    for (const auto& [name, idx] : parts) {
        if (idx->empty()) continue;
        tensor<float> images, masks;
        for (std::size_t k = 0; k < idx->size(); ++k) {
            const data::sample s = ds.get((*idx)[k]);
            if (k == 0) {
                const auto n = static_cast<int>(idx->size());
                images.resize(shape4{n, s.image.shape().c, s.image.shape().h, s.image.shape().w});
                masks.resize(shape4{n, s.mask.shape().c, s.mask.shape().h, s.mask.shape().w});
            }
            if (s.image.size() * idx->size() != images.size() || s.mask.size() * idx->size() != masks.size())
                throw usage_error("--export-data: " + ds.source((*idx)[k]) +
                                  " has another size than the first image of the part; pass --size");
            std::copy_n(s.image.data(), s.image.size(), images.data() + k * s.image.size());
            std::copy_n(s.mask.data(), s.mask.size(), masks.data() + k * s.mask.size());
            progress(++done, total);
        }
        w.add(std::string(name) + "_images", images);
        w.add(std::string(name) + "_masks", masks);
    }
    write_file(file, w.serialize(), overwrite);  // atomic and fsynced; never replaces a file without --overwrite
}

/// Sets trainer_options::resume_may_change where the library has it (the trainer then refuses a
/// resume whose recorded options differ, as run_record.hpp does here before any data is read).
template <class Cfg>
void set_resume_may_change(Cfg& cfg) {
    if constexpr (requires { cfg.resume_may_change; })
        cfg.resume_may_change = {resume_may_change().begin(), resume_may_change().end()};
}

/// The batches of this process: data::loader's for one process, dist::sharded_loader's (this
/// rank's slice of every global batch) for a rank of a data-parallel run. One type either way, so
/// that the trainer is compiled once per network.
template <class D>
class rank_loader {
public:
    /// `validation`: a rank may have no image in a batch (it skips it; dist::shard_options).
    rank_loader(const D& ds, data::loader_options o, std::vector<std::size_t> indices, dist::communicator* comm,
                bool validation) {
        if (comm && comm->size() > 1)
            sharded_.emplace(ds, std::move(o), std::move(indices), *comm,
                             dist::shard_options{.allow_empty_slices = validation});
        else
            whole_.emplace(ds, std::move(o), std::move(indices));
    }
    void start_epoch(std::uint64_t e) { sharded_ ? sharded_->start_epoch(e) : whole_->start_epoch(e); }
    [[nodiscard]] std::optional<data::batch> next() { return sharded_ ? sharded_->next() : whole_->next(); }
    [[nodiscard]] std::size_t batches_per_epoch() const {
        return sharded_ ? sharded_->batches_per_epoch() : whole_->batches_per_epoch();
    }

private:
    std::optional<data::loader<D>> whole_;
    std::optional<dist::sharded_loader<D>> sharded_;
};

/// Refuses a global --batch that leaves a process without a training image in some batch (every
/// process takes part in every step): the batches of `images` images, the last one included.
inline void check_batch_for_ranks(std::size_t images, int batch, int ranks) {
    if (ranks <= 1 || images == 0) return;
    const auto w = static_cast<std::size_t>(ranks);
    const auto last = [&](int b) {  // the images of the last batch with --batch b
        const auto u = static_cast<std::size_t>(b);
        return images % u == 0 ? u : images % u;
    };
    const auto fits = [&](int b) { return b >= ranks && last(b) >= w; };
    if (fits(batch)) return;
    const std::string what =
        static_cast<std::size_t>(batch) < w
            ? "--batch " + std::to_string(batch) + " is the global batch, shared by the " + std::to_string(ranks) +
                  " processes, so some would get no image"
            : "the " + std::to_string(images) + " training images make a last batch of " + std::to_string(last(batch)) +
                  " with --batch " + std::to_string(batch) + ", fewer than the " + std::to_string(ranks) + " processes";
    if (images < w)
        throw usage_error(what + "; use at most " + std::to_string(images) + " processes, or more training images");
    int nearest = 0;  // the valid --batch closest to the given one
    for (int d = 1; d <= range::batch.max && nearest == 0; ++d)
        for (const int c : {batch - d, batch + d})
            if (c >= 1 && c <= range::batch.max && fits(c)) {
                nearest = c;
                break;
            }
    throw usage_error(what + "; every batch needs at least one image per process: use " +
                      (nearest > 0 ? "--batch " + std::to_string(nearest) + " (the nearest that works)"
                                   : std::string("another --batch")) +
                      ", another split, or fewer processes");
}

/// The options of a run, parsed and checked by unetpp-train.cpp before any network is built.
struct train_job {
    const args* a = nullptr;  ///< the command line (for the options read as they are used)
    data_choice dc;
    int patch = 0;
    double fg_share = 0.0;
    data::augment_spec augment_spec;
    std::string augment;  ///< the normalised --augment list
    int batch = 4, epochs = 10, patience = 0;
    double min_delta = 0.0, clip_norm = 0.0;
    std::string monitor, schedule;
    optimizer_choice opt_choice;
    any_loss loss;
    std::map<std::string, std::string> extra;  ///< the run's record (trainer_options::extra)
    fs::path out, last;
    bool resume = false, overwrite = false;
    fs::path export_file;
    std::atomic<bool>* stop_requested = nullptr;  ///< set by the SIGINT / SIGTERM handler
    void (*install_stop_handler)() = nullptr;     ///< installs that handler (just before training)
    const volatile std::sig_atomic_t* stop_signal = nullptr;  ///< the signal received (0: none)
    dist::communicator* comm = nullptr;  ///< the ranks of a data-parallel run (null: this process alone)
    bool root = true;                    ///< rank 0: prints and writes the files
    /// Called once the setup is done, before training (every rank waits for every other's setup).
    std::function<void()> agree_setup = [] {};
};

/// Rank 0's files before training: the --out folder (created and proven writable), config.json
/// (config.resume.json for a resumed run), split.json and --export-data.
inline void write_run_files(const train_job& job, const any_dataset& ds, const std::optional<any_dataset>& val_ds,
                            const split_choice& parts, const std::string& cfg, bool quiet) {
    const args& a = *job.a;
    const fs::path& out = job.out;
    prepare_folder(out, "--out");
    if (a.has("export-data")) prepare_file_parent(job.export_file, "--export-data");
    train::write_file_atomic(out / (job.resume ? "config.resume.json" : "config.json"), cfg);
    const std::vector<std::pair<const char*, const std::vector<std::size_t>*>> part_list{
        {"train", &parts.train}, {"val", &parts.val}, {"test", &parts.test}};
    std::string split = "{";
    for (const auto& [name, idx] : part_list) {
        split += std::string(split.size() > 1 ? ",\n" : "\n") + "  \"" + name + "\": [";
        const any_dataset& from = (val_ds && std::string(name) == "val") ? *val_ds : ds;
        for (std::size_t k = 0; k < idx->size(); ++k) {
            split += k ? ", \"" : "\"";
            split += json_escape(from.stem((*idx)[k]));
            split += '"';
        }
        split += "]";
    }
    // the validation folder, as one-string lists (unetpp-evaluate --subset val looks there)
    if (val_ds)
        for (const auto& [key, value] : {std::pair{"val_data", job.extra.at("val-data")}, std::pair{"val_masks", job.extra.at("val-masks")}})
            split += std::string(",\n  \"") + key + "\": [\"" + json_escape(value) + "\"]";
    if (job.dc.roi())
        split += ",\n  \"roi_masks\": [\"" + json_escape(job.extra.at("roi-masks")) + "\", \"" +
                 json_escape(job.dc.roi_suffix) + "\"]";
    train::write_file_atomic(out / "split.json", split + "\n}\n");
    if (a.has("export-data")) {
        if (val_ds) throw usage_error("--export-data with --val-data is not supported; export without --val-data");
        export_data(ds, part_list, job.export_file, job.overwrite, quiet);
    }
}

/// Trains network type Net as the job says; returns the program's exit status.
template <class Net>
int train_network(const train_job& job) {
    const args& a = *job.a;
    const data_choice& dc = job.dc;
    const int patch = job.patch, batch = job.batch, epochs = job.epochs, patience = job.patience;
    const double fg_share = job.fg_share, min_delta = job.min_delta, clip_norm = job.clip_norm;
    const data::augment_spec& augment_spec = job.augment_spec;
    const std::string& augment = job.augment;
    const std::string &monitor = job.monitor, &schedule = job.schedule;
    const optimizer_choice& opt_choice = job.opt_choice;
    const any_loss& loss = job.loss;
    const std::map<std::string, std::string>& extra = job.extra;
    const fs::path &out = job.out, &last = job.last;
    const bool resume = job.resume;
    const int classes = dc.layout.classes;
    if (dc.resize) check_size<Net>(dc.size);
    if (patch > 0 && !Net::is_valid_size(patch))
        throw usage_error("--patch " + std::to_string(patch) + " does not fit " + Net::describe() +
                          "; nearest valid sizes: " + std::to_string(Net::previous_valid_size(patch)) + " and " +
                          std::to_string(Net::next_valid_size(patch)));
    const bool quiet = a.has("quiet") || !job.root;  // rank 0 alone prints
    any_dataset ds = open_dataset(dc);
    probe(ds);
    if (!quiet && !matched_text(ds).empty()) std::cout << "unetpp-train: " << matched_text(ds) << '\n';
    std::optional<any_dataset> val_ds;  // --val-data: the validation part
    if (a.has("val-data")) {
        data_choice vc = dc;
        vc.type = "folders";
        vc.data = a.str("val-data");
        vc.masks = a.str("val-masks");
        try {
            val_ds.emplace(open_dataset(vc));
        } catch (const usage_error& e) {
            throw usage_error(std::string("validation folder: ") + e.what());
        }
        probe(*val_ds);
        if (!quiet) std::cout << "unetpp-train: validation folder: " << matched_text(*val_ds) << '\n';
    }
    auto parts = make_split(ds, a, dc, quiet);  // --split-seed (default --seed), --group-hash
    if (val_ds) {  // the split's validation images train; the folder validates
        parts.train.insert(parts.train.end(), parts.val.begin(), parts.val.end());
        std::sort(parts.train.begin(), parts.train.end());
        parts.val.resize(val_ds->size());
        std::iota(parts.val.begin(), parts.val.end(), std::size_t{0});
    }
    if (parts.train.empty() || parts.val.empty()) throw usage_error("the split leaves no training or validation images");

    Net net = make_net<Net>(dc.seed, dc.layout.channels, classes);
    // B named: deduced from the constructor, it cost about 10 s more compile time per file (measured)
    any_optimizer<typename Net::backend_type> opt(net, opt_choice);
    auto sched = make_schedule(schedule, opt.lr(), epochs, monitor);

    const data::patch_options po{.size = patch, .foreground_share = fg_share};
    check_batch_for_ranks(parts.train.size(), batch, job.comm ? job.comm->size() : 1);
    rank_loader<any_dataset> tr(ds, {.batch_size = batch, .seed = dc.seed, .augment = augment_spec.pipeline, .patch = po},
                                parts.train, job.comm, false);
    // validation: whole images at --size; at their own size, one fixed patch per image (the
    // trainer validates with epoch 0, so the patches are the same every epoch)
    rank_loader<any_dataset> va(val_ds ? *val_ds : ds,
                                {.batch_size = batch, .shuffle = false, .seed = dc.seed,
                                 .patch = dc.resize ? data::patch_options{} : po},
                                parts.val, job.comm, true);

    // configuration: recorded in config.json and (extra) in every checkpoint
    std::string cfg = "{\n  \"tool\": \"unetpp-train\",\n  \"network\": \"" +
                      json_escape(Net::describe(net.channels())) + "\"";
    for (const auto& [k, v] : a.all()) cfg += ",\n  \"" + json_escape(k) + "\": \"" + json_escape(v) + "\"";
    cfg += ",\n  \"augment_steps\": \"" + json_escape(augment) + "\"";
    cfg += ",\n  \"split_seed\": " + std::to_string(dc.split_seed);  // the split's seed, given or not
    if (dc.type == "busi") cfg += std::string(",\n  \"group_hash\": \"") + (dc.group_hash_resized ? "resized" : "files") + "\"";
    cfg += ",\n  \"image_size\": \"" + (dc.resize ? std::to_string(dc.size) : std::string("own")) + "\"";
    cfg += ",\n  \"train_images\": " + std::to_string(parts.train.size()) +
           ",\n  \"val_images\": " + std::to_string(parts.val.size()) +
           ",\n  \"test_images\": " + std::to_string(parts.test.size());
    if (job.comm && job.comm->size() > 1) cfg += ",\n  \"world_size\": " + std::to_string(job.comm->size());
    cfg += "\n}\n";
    // all inputs are valid: rank 0 creates the folders, proves them writable and writes the files
    if (job.root) write_run_files(job, ds, val_ds, parts, cfg, quiet);
    std::optional<report::tensorboard::event_writer> tb;  // --tensorboard: created (and proven writable) now
    if (a.has("tensorboard") && job.root) tb.emplace(a.str("tensorboard"), "--tensorboard");

    if (!quiet)
        std::cout << "unetpp-train: " << Net::describe(net.channels()) << ", " << ds.size() << " images (" << parts.train.size()
                  << " train, " << parts.val.size() << " val, " << parts.test.size() << " test), loss " << loss.name
                  << ", optimiser " << opt.name() << (resume ? ", resuming" : "") << '\n';
    train::trainer_options tc{.epochs = epochs,
                          .monitor = monitor,
                          .patience = patience,
                          .min_delta = min_delta,
                          .clip_norm = clip_norm,
                          .out_dir = out,
                          .resume_from = resume ? last : fs::path{},
                          .seed = dc.seed,
                          .progress = quiet ? train::progress_mode::silent : train::progress_mode::automatic,
                          .extra = extra,
                          .stop_requested = job.stop_requested,
                          .comm = job.comm};
    set_resume_may_change(tc);
    train::trainer t(net, opt, loss, tc, sched);
    if (tb)
        t.on_epoch_end = [&](const train::epoch_record& r) { tb->add(r.epoch, report::tensorboard::epoch_scalars(r)); };
    job.agree_setup();           // every rank is ready (or every rank stops here)
    job.install_stop_handler();  // from here on Ctrl-C saves the current step (before: the default action)
    const auto r = t.fit(tr, &va);
    if (r.interrupted) {
        if (!job.root) return *job.stop_signal == SIGTERM ? 128 + SIGTERM : 128 + SIGINT;
        const long e = r.interrupted_step > 0 ? r.interrupted_epoch : r.interrupted_epoch - 1;
        std::cout << "interrupted: saved epoch " << e << " step "
                  << (r.interrupted_step > 0 ? r.interrupted_step : static_cast<long>(tr.batches_per_epoch()))
                  << " to " << r.interrupted_checkpoint.string() << "; continue with --resume\n"
                  << std::flush;
        return *job.stop_signal == SIGTERM ? 128 + SIGTERM : 128 + SIGINT;
    }
    if (!quiet)
        std::cout << "done: " << r.epochs_done << " epochs" << (r.stopped_early ? " (early stop)" : "") << ", best "
                  << monitor << " " << r.best_metric << " at epoch " << r.best_epoch << "; checkpoints in '"
                  << out.string() << "'\n";
    return 0;
}

/// The networks of the compiled set, each instantiated in one tools/train_networks_*.cpp file.
#define UNETPP_CLI_TRAIN_NETWORK(Type, Name, Base, Depth) \
    extern template int train_network<Type<Base, Depth>>(const train_job&);
UNETPP_CLI_MODELS(UNETPP_CLI_TRAIN_NETWORK)
#undef UNETPP_CLI_TRAIN_NETWORK

/// train_network for the network the options name, on `Backend` (train_on_cuda, train_on_bf16).
template <class Backend>
int train_on(const std::string& model, int base, int depth, const train_job& job) {
    return with_model<Backend>(model, base, depth, [&]<class Net>() -> int { return train_network<Net>(job); });
}

/// For the files that compile the model set on another backend (train_networks_{cuda,bf16}_*.cpp):
/// with UNETPP_CLI_BACKEND defined as that backend, UNETPP_CLI_MODELS_A(UNETPP_CLI_TRAIN_ON_BACKEND)
/// instantiates one half and UNETPP_CLI_MODELS_B(UNETPP_CLI_TRAIN_ON_BACKEND_EXTERN) declares the other.
#define UNETPP_CLI_TRAIN_ON_BACKEND(Type, Name, Base, Depth) \
    template int train_network<Type<Base, Depth, UNETPP_CLI_BACKEND>>(const train_job&);
#define UNETPP_CLI_TRAIN_ON_BACKEND_EXTERN(Type, Name, Base, Depth) \
    extern template int train_network<Type<Base, Depth, UNETPP_CLI_BACKEND>>(const train_job&);

}  // namespace cli
