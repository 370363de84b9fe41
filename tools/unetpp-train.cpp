// unetpp-train: trains a U-Net on BUSI, ISBI 2012, a pair of image/mask folders or the built-in
// synthetic data, writing checkpoints, logs and the run configuration into --out. This file
// parses and checks the options and handles the stop signals; the training itself is
// train_run.hpp's train_network<Net>, compiled in tools/train_networks_*.cpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <unetpp/io/safetensors.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#include <unistd.h>
#define UNETPP_TRAIN_SIGACTION 1
#endif

#include "cli_common.hpp"
#include "cli_device.hpp"
#include "model_record.hpp"
#include "run_record.hpp"
#include "train_ranks.hpp"
#include "train_auto.hpp"
#include "train_run.hpp"

namespace {

using namespace cli;

const char* help_text = R"(usage: unetpp-train [options] --out DIR

Trains a U-Net for segmentation (one foreground class, or --classes N) and writes into DIR:
  last.safetensors   checkpoint after the last completed epoch (weights, optimiser moments,
                     epoch, schedule, seed, best metric); --resume continues from it
  best.safetensors   checkpoint of the epoch with the best monitored metric
                     Both record the model and the preprocessing (resize to --size, values / 255,
                     channels, classes, mask encoding and polarity, threshold 0.5):
                     unetpp-predict --checkpoint F and
                     unetpp-evaluate --checkpoint F need no other model option
  log.csv, log.jsonl one row per epoch: epoch, train_loss, val_loss, val_dice, val_iou, val_pixel_error, lr, seconds
  config.json        the options of the run (config.resume.json for a resumed run)
  split.json         the images of each part of the split (train, val, test), by file name;
                     unetpp-evaluate --subset val reads it
  plan.json          with --auto or --plan FILE: the plan the run was trained with
Every file is written atomically (temporary file, fsync, rename). DIR must be new or empty: a
folder that already holds other files is refused unless --overwrite is given, and even then only
the files above are written, nothing is removed. A DIR that holds a run (last.safetensors) is
continued with --resume and refused without it.

automatic plan (docs/TRAINING.md, "Automatic plan"):
  --auto             plan the recipe from the data and the machine: reads up to 256 images for
                     the data set's fingerprint (sizes, intensities, foreground, classes), times
                     a training step of 4 networks (a few seconds), chooses the input size or
                     patches, network, batch, epochs, schedule, loss, augmentation and monitor,
                     prints the plan with the reason for each choice, writes it to DIR/plan.json
                     and trains with it. Options given on the command line replace the plan's
                     choices (the printout says which). With --resume: continues with
                     DIR/plan.json
  --budget T         the time the run may take, e.g. 90s, 45m, 2h, 1h30m (needed by --auto and
                     --plan-only; planning's own seconds count). Epochs are planned to fit it;
                     the run is not stopped when it is over
  --plan-only        plan as --auto does, print it, write DIR/plan.json when --out is given,
                     and train nothing
  --plan FILE        train with the plan in FILE (from --plan-only or a run), e.g. on several
                     processes, which cannot plan (each would time itself)

data:
  --data-type T      busi | isbi2012 | folders | synthetic            (default synthetic)
  --data PATH        BUSI root, ISBI 2012 root, or the images folder (folders)
  --masks PATH       the masks folder (folders); --mask-suffix S: mask stem = image stem + S
  --size N           resize images to N x N (bilinear; masks nearest), 8 to 4096
                     (default 64 synthetic, 128 else; with --patch and no --size, images keep
                     their own size)
  --synthetic-count N  images of the synthetic data set, 4 to 1000000  (default 48)
  --in-channels C    1 (grey) or 3 (RGB): images are read (or converted) to C channels
                                                                        (default 1)
  --classes N        1: one foreground class (one logit, sigmoid; masks 0/255); 2 to 256:
                     N classes with background as class 0 (N logits, softmax over them;
                     losses ce, dice, dice_ce; val_dice is the mean over classes 1..N-1)
                                                                        (default 1)
  --mask-encoding E  how mask files give classes: binary (pixel > 127 is class 1), labels
                     (the pixel value is the class, 0..N-1, 8-bit PNG), palette (colour k of
                     --palette is class k)       (default binary for 1-2 classes, else labels)
  --palette P        the colours of the classes, class 0 first: "r,g,b;r,g,b;..." or
                     "#rrggbb;#rrggbb;..." (implies --mask-encoding palette)
  --patch N          train on N x N patches, 8 to 4096, one drawn at random from every training
                     image each epoch (a function of --seed, the epoch and the image: resumes
                     draw the same); validation uses whole images at --size, or, when the
                     images keep their own size, one fixed patch per image   (default: off)
  --fg-oversample P  share of the patches centred on a foreground pixel (inside the region of
                     interest), 0 to 1; needs --patch                    (default 0: uniform)
  --augment LIST     on | off | a comma-separated list of paired augmentations, each with an
                     optional @probability: flip, hflip, vflip, rot90, rotate=DEG (0 to 180],
                     scale=A:B (0 to 4], brightness=B [0, 1], contrast=C [0, 1], gamma=A:B
                     (0 to 10], noise=SIGMA (0 to 1], elastic[=SIGMA] (0 to 100]; e.g.
                     flip,rot90,rotate=15,scale=0.9:1.1,gamma=0.8:1.25. Geometric steps move
                     image, mask and ROI together (masks nearest neighbour). "on" is
                     flip,rotate=15 (each at probability 0.5)              (default off)
  --val-data DIR --val-masks DIR
                     a separate validation folder (images and masks, matched as for folders,
                     with --mask-suffix): it replaces the split's validation part, whose images
                     then train; recorded in split.json (val, val_data, val_masks)
  --roi-masks DIR    region-of-interest masks (e.g. field-of-view masks), one per image of
                     --data and --val-data, matched by stem + --roi-suffix S (folders data; S
                     alone looks in the masks folder): pixels outside (value <= 127) count in
                     neither the loss nor the validation metrics
  --split a,b,c      train,val,test fractions in [0, 1], val > 0, sum <= 1, grouped and
                     stratified                                         (default 0.8,0.1,0.1)
  --folds K --fold k grouped K-fold cross-validation, K 2 to 100, k 0 to K-1; fold k validates
                     (BUSI: groups of near-duplicate images by perceptual hash)
  --group-hash H     files | resized: BUSI's near-duplicate groups from the image files at
                     their own size (the same split at every --size), or from the images at
                     --size, as runs before this option grouped them (to reproduce or resume
                     such a run)                                        (default files)
model:
  --model M          unet_bn | ronneberger2015                          (default unet_bn)
  --base N --depth D compiled combinations: unet_bn with base 8, 16, 32 or 64 and depth 3 or 4;
                     ronneberger2015 (unpadded, no batch norm, one logit channel) with
                     base 64 depth 4 or base 16 depth 3                 (default 16, 3)
training:
  --loss L           one class: bce | dice | dice_bce | focal | iou | tversky (default dice_bce)
                     --classes N >= 2: ce | dice | dice_ce (softmax; MONAI's DiceCELoss)
                                                                        (default dice_ce)
  --optimizer O      adam | adamw | sgd                                 (default adam)
  --lr X             learning rate, > 0 and <= 10                       (default 1e-3; sgd 1e-2)
  --weight-decay X   0 to 1 (default 0; adamw 1e-2)
  --momentum X       sgd momentum, >= 0 and < 1                          (default 0.9)
  --schedule S       constant | step | cosine | plateau                  (default constant)
  --epochs N         1 to 100000 (default 10)   --batch N  1 to 4096 (default 4)
                     --batch is the global batch: with mpirun -np P each process takes about
                     N / P of its images (below)
  --seed N           0 to 9223372036854775807: the initial weights, the batch order, the
                     augmentation and patch draws, and the split unless --split-seed is given
                                                                        (default 1)
  --split-seed N     0 to 9223372036854775807: the seed of the split alone (--split or
                     --folds), so that runs with several --seed train and validate on the
                     same images; recorded as split-seed when it differs from --seed
                                                                        (default: --seed)
  --monitor M        val_loss | val_dice | val_iou | train_loss          (default val_loss)
  --patience N       early stopping after N epochs without improvement, 0 to 100000
                                                                        (default 0: off)
  --min-delta X      smallest change that counts as improvement, 0 to 1e6 (default 0)
  --clip-norm X      clip gradients to global L2 norm X, 0 to 1e6       (default 0: off)
  --threads N        CPU threads, 1 to 1024 (default: OpenMP's choice, fewer when busy)
)";
const char* help_tail = R"(  --resume           continue the run in --out from last.safetensors. Every option that defines
                     the run must be the same (it is recorded in the checkpoint; a resume with
                     another --size, --loss, --lr, --batch, model, data, ... is refused with the
                     list of differences); only --epochs, --patience, --min-delta, --threads and
                     --quiet may change
  --overwrite        write into a --out folder that holds other files, and replace an existing
                     --export-data file (only the files this program writes are replaced)
  --export-data F    also write the preprocessed images and masks of every part of the split
                     (after resizing, before augmentation) to the safetensors file F:
                     train_images, train_masks, val_images, val_masks[, test_images, test_masks]
                     as [N, C, H, W] float32 (images in [0, 1], masks 0/1), so that another
                     framework can be trained on exactly the same tensors; an existing F
                     is refused unless --overwrite
  --quiet            no progress output
  --tensorboard DIR  also write TensorBoard scalars (train/loss, val/loss, val/dice, val/iou,
                     val/pixel_error, lr, time/epoch_seconds; step = epoch) to a new event
                     file in DIR (other files there are left alone): tensorboard --logdir DIR
Interrupting: Ctrl-C (SIGINT) or SIGTERM during training finishes the current step, writes
it to DIR/last.safetensors (the checkpoint before it is kept as last.prev.safetensors; no log
row is written for the unfinished epoch, best.safetensors is not touched), prints "interrupted:
saved epoch E step S to DIR/last.safetensors; continue with --resume" and exits with 130
(SIGINT) or 143 (SIGTERM). --resume then continues that epoch at the next batch and ends with
the same weights as a run that was never interrupted (same options and --threads). A second
signal while it saves only prints a note; a third ends the program at once, and the atomic
writes leave the previous checkpoint complete.
Several processes (data parallel; docs/DISTRIBUTED.md): with unetpp built with -DUNETPP_WITH_MPI=ON,
`mpirun -np P unetpp-train ...` trains one model on P processes, on one machine or several. Every
process derives the same batches from --seed and takes its slice of each (--batch is the global
batch; the slices differ in size by at most one, and a batch with fewer images than processes is
refused), the gradients are averaged before every step, and all processes hold the same weights.
Rank 0 alone prints and writes the files above (its --out is the run); an error on any rank is
printed naming the rank and ends every rank with a non-zero status. Give each process its share
of the cores (--threads or OMP_NUM_THREADS; Open MPI: mpirun --bind-to none). Ctrl-C on mpirun
stops every rank after the same step and rank 0 saves it. --resume needs as many processes as the
run had. A build without MPI started as several processes (OMPI_COMM_WORLD_SIZE or PMI_SIZE above
1) refuses.
Exit codes: 0 done, 2 bad input (the message names the file and what to do), 3 training diverged,
130 / 143 interrupted by SIGINT / SIGTERM after saving the current step.
)";

/// Set by the SIGINT / SIGTERM handler; the trainer reads it after every step.
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "a signal handler may only touch lock-free atomics");
volatile std::sig_atomic_t stop_signal = 0;  ///< the first signal received (0: none)
volatile std::sig_atomic_t signals_seen = 0;
/// False on the ranks other than 0 of a data-parallel run (mpirun signals every rank; rank 0 speaks).
volatile std::sig_atomic_t signal_notes = 1;

#ifdef UNETPP_TRAIN_SIGACTION
void write_stderr(const char* m) {
    std::size_t n = 0;
    while (m[n]) ++n;
    const ssize_t w = ::write(2, m, n);  // async-signal-safe; nothing to do if it fails
    (void)w;
}

void set_stop_handler(void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}
#endif

/// Async-signal-safe: only sets flags and writes a fixed text. The first signal asks the trainer
/// to save the current step and stop; the second restores the default action, so that a third
/// ends the program at once (the checkpoint writes are atomic: the previous one stays complete).
extern "C" void on_stop_signal(int sig) {
    signals_seen = signals_seen + 1;
    if (signals_seen == 1) {
        stop_signal = sig;
        stop_requested.store(true, std::memory_order_relaxed);
#ifdef UNETPP_TRAIN_SIGACTION
        if (signal_notes) write_stderr("\nunetpp-train: stopping after the current step and saving it\n");
#endif
    } else {
#ifdef UNETPP_TRAIN_SIGACTION
        set_stop_handler(SIG_DFL);
        if (signal_notes)
            write_stderr("\nunetpp-train: still saving; a third signal ends the program at once (the previous "
                         "checkpoint stays complete)\n");
#endif
    }
#ifndef UNETPP_TRAIN_SIGACTION
    std::signal(sig, signals_seen == 1 ? on_stop_signal : SIG_DFL);  // some systems reset the handler
#endif
}

void install_stop_handler() {
#ifdef UNETPP_TRAIN_SIGACTION
    set_stop_handler(on_stop_signal);
#else
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
#endif
}

const std::vector<std::string> loss_names{"bce", "dice", "dice_bce", "focal", "iou", "tversky"};
const std::vector<std::string> multiclass_loss_names{"ce", "dice", "dice_ce"};

/// The loss --loss names for `classes` logit channels: sigmoid losses for one, softmax losses
/// (cross-entropy, soft Dice over the softmax, both) for two or more.
any_loss make_loss(const std::string& n, int classes) {
    const auto wrap = [&](auto l) {
        return any_loss{n, [l](const tensor<float>& x, const tensor<float>& t, tensor<float>* g) { return l(x, t, g); },
                        [l](const tensor<float>& x, const tensor<float>& t, const tensor<float>& w, tensor<float>* g) {
                            return l(x, t, w, g);
                        }};
    };
    if (classes >= 2) {
        if (n == "ce") return wrap(losses::cross_entropy{});
        if (n == "dice") return wrap(losses::softmax_dice{});
        if (n == "dice_ce") return wrap(losses::dice_ce{});
        throw usage_error("--loss '" + n + "' is a one-class (sigmoid) loss; with --classes " + std::to_string(classes) +
                          " use ce, dice or dice_ce");
    }
    if (n == "ce" || n == "dice_ce")
        throw usage_error("--loss " + n + " is a softmax loss for --classes 2 or more; with one class use bce, dice, "
                          "dice_bce, focal, iou or tversky");
    if (n == "bce") return wrap(losses::bce_with_logits{});
    if (n == "dice") return wrap(losses::dice_loss{});
    if (n == "dice_bce") return wrap(losses::dice_bce{});
    if (n == "focal") return wrap(losses::focal_loss{});
    if (n == "iou") return wrap(losses::iou_loss{});
    if (n == "tversky") return wrap(losses::tversky_loss{});
    throw usage_error("--loss '" + n + "' is not one of bce, dice, dice_bce, focal, iou, tversky");
}

optimizer_choice optimizer_from(const args& a) {
    optimizer_choice o;
    o.name = a.choice("optimizer", "adam", {"adam", "adamw", "sgd"});
    o.lr = a.real("lr", o.name == "sgd" ? 1e-2 : 1e-3, range::lr);
    o.weight_decay = a.real("weight-decay", o.name == "adamw" ? 1e-2 : 0.0, range::weight_decay);
    o.momentum = a.real("momentum", 0.9, range::momentum);
    return o;
}

/// The run-defining options, normalised (effective defaults filled in, numbers in one spelling,
/// data paths absolute), as recorded in every checkpoint and compared on --resume.
std::map<std::string, std::string> run_record(const args& a, const data_choice& dc, const optimizer_choice& opt,
                                              const std::string& model, int base, int depth, const std::string& loss,
                                              int batch, int epochs, const std::string& schedule,
                                              const std::string& augment, double clip_norm) {
    const auto path = [](const fs::path& p) {
        if (p.empty()) return std::string();
        std::error_code ec;
        const fs::path c = fs::weakly_canonical(fs::absolute(p, ec), ec);
        return (ec ? p : c).string();
    };
    const auto [folds, fold] = folds_from(a);
    const split_fractions sp = parse_split(a.str("split", "0.8,0.1,0.1"));
    const std::string split = format_real(sp.train) + "," + format_real(sp.val) + "," + format_real(sp.test);
    std::map<std::string, std::string> r{
            {"model", model},
            {"base", std::to_string(base)},
            {"depth", std::to_string(depth)},
            {"size", std::to_string(dc.size)},
            {"loss", loss},
            {"lr", format_real(opt.lr)},
            {"batch", std::to_string(batch)},
            {"optimizer", opt.name},
            {"weight-decay", format_real(opt.weight_decay)},
            {"momentum", opt.name == "sgd" ? format_real(opt.momentum) : std::string("(not used)")},
            {"schedule", schedule},
            {"augment", augment},
            {"data-type", dc.type},
            {"data", path(dc.data)},
            {"masks", path(dc.masks)},
            {"mask-suffix", dc.mask_suffix},
            {"split", folds > 0 ? std::string("(folds)") : split},
            {"folds", std::to_string(folds)},
            {"fold", std::to_string(fold)},
            {"clip-norm", format_real(clip_norm)},
            {"epochs", std::to_string(epochs)},
            {"synthetic-count",
             dc.type == "synthetic" ? std::to_string(dc.synthetic_count) : std::string("(not used)")},
            {"seed", std::to_string(dc.seed)}};
    // --split-seed is recorded only where it differs from --seed: a run without it split with
    // --seed, so its record (and a resume of a run from before the option) stays the same
    if (dc.split_seed != dc.seed) r["split-seed"] = std::to_string(dc.split_seed);
    // BUSI's grouping: recorded as "files" (the default); a run from before --group-hash records
    // nothing, as --group-hash resized does, so that such a run resumes with its own split
    if (dc.type == "busi" && !dc.group_hash_resized) r["group-hash"] = "files";
    return r;
}

/// --out new, empty, or holding this run (with --resume, whose recorded options must match
/// before any data is read); --export-data new unless --overwrite. Nothing else is written over.
void check_outputs(const fs::path& out, const fs::path& last, bool resume, bool overwrite,
                   const std::map<std::string, std::string>& extra, const fs::path& export_file) {
    std::error_code ec;
    // a run: last.safetensors, or the checkpoint kept before it (the newest may be lost in a crash)
    const bool holds_run = fs::exists(last, ec) || fs::exists(train::previous_checkpoint_path(last), ec);
    if (resume && !holds_run)
        throw usage_error("--resume: '" + out.string() +
                          "' holds no run (no last.safetensors); start without --resume");
    if (!resume && holds_run)
        throw usage_error("'" + out.string() + "' already holds a run (last.safetensors); pass --resume to continue it "
                          "or choose another --out");
    if (resume) {
        // the checkpoint the trainer will resume from (last, or the one before when last is
        // corrupt); its recorded options must match
        const train::resume_checkpoint chosen = train::find_resume_checkpoint(last);
        check_resume(chosen.path.string(), chosen.info.extra, extra);
    } else {
        check_output_folder(out, "--out", "unetpp-train", overwrite);
    }
    if (!export_file.empty()) check_output_file(export_file, "--export-data", "unetpp-train", overwrite);
}

const std::set<std::string> flag_names{"resume", "quiet", "overwrite", "auto", "plan-only"};
const std::set<std::string> key_names{
    "data-type", "data", "masks", "mask-suffix", "size", "synthetic-count", "augment", "split", "folds",
    "fold", "model", "base", "depth", "loss", "optimizer", "lr", "weight-decay", "momentum", "schedule",
    "epochs", "batch", "seed", "split-seed", "group-hash", "monitor", "patience", "min-delta", "clip-norm", "out", "threads",
    "patch", "fg-oversample", "val-data", "val-masks", "roi-masks", "roi-suffix",
    "export-data", "tensorboard", "in-channels", "classes", "mask-encoding", "palette", "budget", "plan", "device", "precision"};

/// The command line, with the plan's options added under --auto / --plan FILE (train_auto.hpp).
args with_plan(const std::vector<std::string>& argv) {
    std::vector<const char*> p{"unetpp-train"};
    for (const auto& s : argv) p.push_back(s.c_str());
    return args(static_cast<int>(p.size()), p.data(), flag_names, key_names);
}

/// --plan-only: the plan printed (plan_run did) and written to --out/plan.json when --out is given.
int plan_only(const args& given, const train::training_plan& plan) {
    if (!given.has("out")) return 0;
    const fs::path out = given.str("out");
    prepare_folder(out, "--out");
    write_file(out / "plan.json", train::plan_to_json(plan), given.has("overwrite"));
    std::cout << "unetpp-train: plan written to '" << (out / "plan.json").string()
              << "'; train with it: unetpp-train --plan " << (out / "plan.json").string() << " --out RUN (and the data options)\n";
    return 0;
}

int run(int argc, char** argv, process_group& group) {
    const args line(argc, argv, flag_names, key_names);
    if (line.has("help")) {
        if (group.root())  // --device, --precision: cli_device.hpp
            std::cout << help_text << device_help(21) << precision_help(21) << help_tail;
        return 0;
    }
    // --auto / --plan FILE: the plan's choices become options (the user's own win); --plan-only stops here
    const std::optional<auto_plan> planned = plan_run(line, argc, argv, group.size(), group.root());
    if (planned && line.has("plan-only")) return group.root() ? plan_only(line, planned->plan) : 0;
    const args a = planned ? with_plan(planned->argv) : line;
    const bool root = group.root();  // prints and writes files; the other ranks only train
    if (!root) signal_notes = 0;
    // Every option is parsed and range-checked before any file is read or written; --device cuda
    // first: refused at once in a build without the CUDA backend, or without a usable device.
    const device_kind device = device_option(a, "unetpp-train");
    const precision_kind precision = precision_option(a, "unetpp-train", device);
    if constexpr (cuda_built)
        if (device == device_kind::cuda) require_cuda_device();
    if (device == device_kind::cuda && group.size() > 1)  // this program sets up no NCCL communicator
        throw usage_error("--device cuda trains in one process; data-parallel training over " +
                          std::to_string(group.size()) + " processes runs on --device cpu (GPU ranks: a program "
                          "of your own with dist::nccl_communicator, docs/DISTRIBUTED.md)");
    const int threads = static_cast<int>(a.integer("threads", 0, range::threads));
    const int epochs = static_cast<int>(a.integer("epochs", 10, range::epochs));
    const int batch = static_cast<int>(a.integer("batch", 4, range::batch));
    const int patience = static_cast<int>(a.integer("patience", 0, range::patience));
    const double min_delta = a.real("min-delta", 0.0, range::min_delta);
    const double clip_norm = a.real("clip-norm", 0.0, range::clip_norm);
    data::augment_spec augment_spec;
    try {
        augment_spec = data::parse_augment(a.str("augment", "off"));
    } catch (const std::invalid_argument& e) {
        throw usage_error("--augment '" + a.str("augment") + "': " + e.what());
    }
    const std::string augment = augment_spec.text;
    const int patch = static_cast<int>(a.integer("patch", 0, range::patch));
    const double fg_share = a.real("fg-oversample", 0.0, range::fraction);
    if (a.has("fg-oversample") && !a.has("patch"))
        throw usage_error("--fg-oversample needs --patch N (it is the share of patches centred on foreground)");
    if (a.has("val-data") != a.has("val-masks"))
        throw usage_error(a.has("val-data") ? "--val-data needs --val-masks DIR (the masks of the validation images)"
                                            : "--val-masks needs --val-data DIR (the validation images)");
    if (a.has("val-data") && a.has("folds"))
        throw usage_error("--val-data replaces the validation part, --folds makes one per fold; give one of them");
    const std::string monitor = a.choice("monitor", "val_loss", {"val_loss", "val_dice", "val_iou", "train_loss"});
    const std::string schedule = a.choice("schedule", "constant", {"constant", "step", "cosine", "plateau"});
    const std::string model = a.str("model", "unet_bn");
    const int base = static_cast<int>(a.integer("base", 16, range::base));
    const int depth = static_cast<int>(a.integer("depth", 3, range::depth));
    data_choice dc = data_from(a);
    if (!root) dc.quiet = true;
    const int classes = dc.layout.classes;
    // a loss of the other kind (sigmoid / softmax) gets its own message from make_loss
    const auto& names = classes >= 2 ? multiclass_loss_names : loss_names;
    const auto& other = classes >= 2 ? loss_names : multiclass_loss_names;
    const std::string given = a.str("loss");
    const bool other_kind = std::find(other.begin(), other.end(), given) != other.end() &&
                            std::find(names.begin(), names.end(), given) == names.end();
    const auto loss =
        make_loss(other_kind ? given : a.choice("loss", classes >= 2 ? "dice_ce" : "dice_bce", names), classes);
    const optimizer_choice opt_choice = optimizer_from(a);
    if (dc.roi() && dc.type != "folders")
        throw usage_error("--roi-masks and --roi-suffix work with --data-type folders (" + dc.type +
                          " has no region-of-interest masks); drop them or use folders");
    // with patches and no --size the images keep their own size (synthetic data is made at its size)
    if (patch > 0 && !a.has("size") && dc.type != "synthetic") dc.resize = false;
    if (patch > 0 && dc.resize && patch > dc.size)
        throw usage_error("--patch " + std::to_string(patch) + " is larger than the images (--size " +
                          std::to_string(dc.size) + "); use a patch of at most " + std::to_string(dc.size) +
                          ", or a larger --size");
    std::map<std::string, std::string> extra =
        run_record(a, dc, opt_choice, model, base, depth, loss.name, batch, epochs, schedule, augment, clip_norm);
    for (auto& [k, v] : data_options_record({.patch = patch, .fg_share = fg_share, .own_size = !dc.resize,
                                             .val_data = a.str("val-data"), .val_masks = a.str("val-masks"),
                                             .roi_masks = dc.roi() ? (dc.roi_masks.empty() ? dc.masks : dc.roi_masks)
                                                                   : fs::path{},
                                             .roi_suffix = dc.roi_suffix}))
        extra[k] = v;
    // the number of processes of a data-parallel run (the trainer records it too); a resume
    // needs as many (run_differences)
    if (group.size() > 1) extra["world_size"] = std::to_string(group.size());
    // what unetpp-predict and unetpp-evaluate need to apply the network as it was trained
    for (auto& [k, v] : preprocessing_record(dc.size, dc.type, 0, dc.layout)) extra.emplace(k, v);
    // images at their own size: no resize to undo (unetpp-predict must apply the network unscaled)
    if (!dc.resize) extra["preprocess.resize"] = "none";

    // Outputs (check_outputs): only rank 0 checks and writes them (the other ranks would see its
    // files appear); an error there stops every rank (process_group::agree_setup).
    const bool overwrite = a.has("overwrite");
    const fs::path out = a.str("out");
    if (out.empty()) throw usage_error("--out DIR is required (the folder for checkpoints and logs)");
    const bool resume = a.has("resume");
    const fs::path last = out / "last.safetensors";
    const fs::path export_file = a.str("export-data");
    // a planned run records the plan's prediction mirroring (unetpp-predict reads unetpp.extra.plan.tta)
    if (planned) extra["plan.tta"] = planned->plan.tta;
    if (root) try {
        check_outputs(out, last, resume, overwrite, extra, a.has("export-data") ? export_file : fs::path{});
    } catch (const usage_error& e) {
        std::error_code ec;
        if (!planned && resume && fs::exists(out / "plan.json", ec))  // the options came from its plan
            throw usage_error(std::string(e.what()) + ". The run was planned: resume it with --auto --resume");
        throw;
    }
    if (root && planned && planned->write) {  // the run folder keeps the plan it was trained with
        prepare_folder(out, "--out");
        write_file(out / "plan.json", train::plan_to_json(planned->plan), overwrite);
    }

    adapt_threads_to_load();
    if (threads > 0) set_num_threads(threads);

    train_job job{.a = &a, .dc = dc, .patch = patch, .fg_share = fg_share, .augment_spec = augment_spec,
                  .augment = augment, .batch = batch, .epochs = epochs, .patience = patience,
                  .min_delta = min_delta, .clip_norm = clip_norm, .monitor = monitor, .schedule = schedule,
                  .opt_choice = opt_choice, .loss = loss, .extra = extra, .out = out, .last = last,
                  .resume = resume, .overwrite = overwrite, .export_file = export_file,
                  .stop_requested = &stop_requested, .install_stop_handler = install_stop_handler,
                  .stop_signal = &stop_signal, .comm = group.comm(), .root = root,
                  .agree_setup = [&group] { group.agree_setup(); }};
    if constexpr (cuda_built)
        if (device == device_kind::cuda) return train_on_cuda(model, base, depth, job);
    if (precision == precision_kind::bf16) return train_on_bf16(model, base, depth, job);
    return with_model(model, base, depth, [&]<class Net>() -> int { return train_network<Net>(job); });
}

}  // namespace

int main(int argc, char** argv) {
    return cli::run_on_ranks("unetpp-train", argc, argv, [&](cli::process_group& g) { return run(argc, argv, g); });
}
