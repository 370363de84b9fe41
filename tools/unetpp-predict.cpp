// unetpp-predict: segments images with a network trained by unetpp-train (its checkpoint) or
// saved by unetpp::io::save_weights.
//
//   unetpp-predict --checkpoint run/best.safetensors --input images/ --out pred/ [--mask-dir masks/]
//
// Several --checkpoint options make an ensemble (ensemble_members.hpp): the members' probabilities
// are averaged at each image's own size and the mean is thresholded once.
//
// For every input image <stem>.<ext> it writes <stem>_prob.png (foreground probability, 0..255)
// and <stem>_mask.png (thresholded mask; for a network of K >= 2 classes the most probable class
// of each pixel, in the run's mask encoding: class_masks.hpp), and with --mask-dir also
// <stem>_compare.png (input | predicted mask | ground truth; classes in colours). A training
// checkpoint records the model and the preprocessing (unetpp.extra.* metadata): the image is
// resized to the trained size as in training, predicted there, and the probability map is resized
// back to the image's own size (scaled_predict.hpp).
// A plain weights file records no training scale: the image is predicted at its own size by
// overlap tiling with mirrored borders (docs/INFERENCE.md). The optimiser state of a checkpoint
// is ignored. Loaded weights must be finite; a probability map with NaN is not written.
//
// The architecture comes from the file (the training record, else unetpp.config); --model,
// --base and --depth are only needed for a file that records neither, and must agree with the
// file otherwise. The model set is unetpp-train's (model_set.hpp). Every error is one line on
// stderr naming the file; the exit status is 2 when any image or the weights could not be
// processed, 0 otherwise.

#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include <unetpp/io/safetensors.hpp>
#include <unetpp/threads.hpp>

#include "cli_args.hpp"
#include "cli_device.hpp"
#include "model_record.hpp"
#include "model_set.hpp"
#include "output_guard.hpp"
#include "predict_run.hpp"

using namespace unetpp;

namespace {

using namespace predict_cli;

void print_help() {
    std::cout << R"(usage: unetpp-predict --checkpoint FILE [--checkpoint FILE ...] --input FILE_OR_DIR --out DIR
                      [options]

Segments PNG/JPEG/BMP images with a network trained by unetpp-train (last.safetensors or
best.safetensors of its --out folder; the optimiser state in it is ignored) or saved by
unetpp::io::save_weights. Writes <stem>_prob.png (foreground probability) and <stem>_mask.png
(0/255) for every input image, each at the image's own size. Grey or RGB images: as the network
was trained (--in-channels of unetpp-train; colour images are converted as needed).

Classes (recorded in the checkpoint by unetpp-train --classes N --mask-encoding E):
  1 class     one logit, sigmoid; mask = probability >= threshold, 0/255
  K >= 2      softmax; each pixel takes its most probable class (K = 2: class 1 where its
              probability reaches the threshold). <stem>_mask.png is written in the run's mask
              encoding, so that it reads back as a ground-truth mask would: labels -> 8-bit grey
              label image (pixel = class index 0..K-1), palette -> RGB in the palette's colours,
              binary (2 classes) -> 0/255. <stem>_prob.png is the foreground probability
              1 - p(class 0). <stem>_compare.png draws the classes in colours (the palette's,
              else class 0 black, 1 red, 2 green, 3 blue, 4 yellow, ...) and reads the ground
              truth with the run's mask encoding. --threshold is refused for K > 2 (argmax has
              no threshold).

  --checkpoint FILE   training checkpoint or weights file (safetensors); --weights is the same.
                      Given 2 to 16 times: an ensemble (see Ensembles below)
  --input PATH        an image, one frame or slice 'FILE#k' of a DICOM or NIfTI file, or a
                      directory of images (.png .jpg .jpeg .bmp; .dcm .dicom .nii .nii.gz when
                      built with DICOM / NIfTI support). A multi-frame DICOM file or a NIfTI
                      volume gives one output per frame or slice, named <name>#k (k from 0);
                      with --mask-dir, slice k is scored against slice k of DIR/<name>.nii.gz
                      (.nii, .dcm, or _mask before the extension)
  --out DIR           output directory: new or empty (created if missing)
  --overwrite         write into an --out folder that holds other files; only this program's
                      <stem>_prob.png, <stem>_mask.png and <stem>_compare.png are replaced,
                      nothing is removed
  --mask-dir DIR      ground-truth masks: also writes <stem>_compare.png = input | predicted
                      mask | ground truth. The mask of <stem> is DIR/<stem>.png, <stem>_mask.png,
                      .bmp, _mask.bmp, .jpg or .jpeg; each output line names the file matched.
                      Two candidates (a.png and a_mask.png), or a match that is the input image
                      itself, are refused: give the masks a folder of their own
  --out-probs DIR     probabilities as float32 NumPy files at the image's own size,
                      DIR/<stem>_prob.npy: numpy.load gives an H x W array (foreground) for one
                      class, a K x H x W array (one plane per class, summing to 1) for K >= 2;
                      DIR new or empty
  --probs-png16       with --out-probs: also 16-bit grey PNGs, round(p * 65535): one class
                      DIR/<stem>_prob16.png; K >= 2 one per class, DIR/<stem>_prob16_c<k>.png
                      (<stem>_prob.png in --out is 8-bit, for viewing only)
  --full-size         predict every image whole at its own pixels by overlap tiling, also when
                      the checkpoint was trained at --size N (then at another scale than in
                      training: see --scale). Default for a run that kept its images at their
                      own size, and for a weights file without a training record
  --scale F           with --full-size: both sides multiplied by F (0.0625 to 16) before tiling,
                      probabilities mapped back to the image's own size
  --model NAME        unet_bn or ronneberger2015 (default: from the file)
  --base N --depth N  channels of the first level (1 to 1024) and number of poolings (1 to 10)
                      (default: from the file); needed only for a file that records no model,
                      and refused when they disagree with the file
  --tile N            input tile side, 8 to 65536 and valid for the network
                      (default: automatic, bounded by --memory-mb)
  --overlap N         padded nets: context pixels discarded per tile side, 0 to 32768
                      (default: 0 for a run trained at N x N, which saw each image whole;
                      the receptive radius at full size, where tiles need their neighbours)
  --batch N           tiles per forward pass, 1 to 4096 (default 1)
  --memory-mb N       activation memory budget for the automatic tile, 1 to 1048576 (default 2048)
  --tta               average over the 8 flips/rotations (8x slower; every member of an ensemble)
  --no-tta            predict the image alone, also for a checkpoint of a planned run
                      (unetpp-train --auto), whose plan's mirroring (the image and its
                      left-right mirror averaged, 2x slower) applies by default (in an
                      ensemble: each member as its own plan says)
  --threshold T       mask threshold on the foreground probability, 0 to 1 (default: the
                      checkpoint's, else 0.5); one- and two-class networks only
  --threads N         CPU threads, 1 to 1024 (default: OpenMP's choice, fewer when busy)
)" << cli::device_help(22) << cli::precision_help(22) << R"(  --help              this text

Scale: a checkpoint of unetpp-train records its preprocessing (images resized to N x N,
bilinear; values / 255). Each image is resized to N x N the same way, predicted there, and the
probability map is resized back to the image's own size (bilinear) before the threshold; each
line of output says so ("resized 512x512 -> 256x256 as in training, mask mapped back to
512x512"). A weights file without that record is predicted at the image's own size by overlap
tiling (mirrored borders), and the output says that no training scale is known.
Ensembles: --checkpoint given several times (e.g. the fold models of a K-fold run). Each member
predicts with its own network, trained scale and test-time transforms; the members'
probabilities are averaged at each image's own size (class probabilities for K classes) and the
mean is thresholded once (--threshold, else the members' recorded threshold, which must then
agree). --out-probs writes the mean. The members must agree on the image channels, the classes
and the mask encoding (and palette); a disagreement, or a missing or damaged file, is refused
before anything is written, naming the checkpoints. The output lists the members.
Checks: the weights must be finite (NaN or Inf in any tensor: exit 2, nothing written), the
file's checksums must match, and a probability map with NaN is not written.
Exit status: 0 success, 2 when the weights or any image could not be processed (one line on
stderr each, naming the file).

Compiled-in architectures (those of unetpp-train): )"
              << cli::supported_models << "\n";
}

options parse(int argc, char** argv, bool& help) {
    options o;
    const cli::args a(argc, argv, {"tta", "no-tta", "overwrite", "full-size", "probs-png16"},
                      {"checkpoint", "weights", "input", "out", "mask-dir", "model", "base", "depth", "tile", "overlap",
                       "batch", "memory-mb", "threshold", "threads", "out-probs", "scale", "device", "precision"},
                      {"checkpoint", "weights"});
    if (a.has("help")) {
        help = true;
        return o;
    }
    o.device = cli::device_option(a, "unetpp-predict");  // cuda in a CPU-only build: refused at once
    o.precision = cli::precision_option(a, "unetpp-predict", o.device);  // bf16 without AVX512-BF16: refused
    if (a.has("checkpoint") && a.has("weights"))
        throw cli_error("--checkpoint and --weights name the same input; give one of them");
    o.weights = cli::checkpoint_paths(a, a.has("weights") ? "weights" : "checkpoint");
    o.input = a.str("input");
    o.out = a.str("out");
    o.mask_dir = a.str("mask-dir");
    o.probs_dir = a.str("out-probs");
    o.full_size = a.has("full-size");
    o.png16 = a.has("probs-png16");
    o.factor = a.real("scale", 1.0, cli::scale_factor);
    if (a.has("scale") && !o.full_size)
        throw cli_error("--scale " + a.str("scale") + " applies to --full-size prediction; add --full-size (or drop "
                        "--scale: by default a checkpoint trained with --size N is predicted at N x N)");
    if (o.png16 && o.probs_dir.empty())
        throw cli_error("--probs-png16 adds 16-bit PNGs to the --out-probs folder; give --out-probs DIR too");
    o.model = a.choice("model", "", {"unet_bn", "ronneberger2015"});
    o.base = static_cast<int>(a.integer("base", 0, cli::range::base));
    o.depth = static_cast<int>(a.integer("depth", 0, cli::range::depth));
    o.tiles.tile = static_cast<int>(a.integer("tile", o.tiles.tile, cli::range::tile));
    o.tiles.overlap = static_cast<int>(a.integer("overlap", o.tiles.overlap, cli::range::overlap));
    o.tiles.batch = static_cast<int>(a.integer("batch", o.tiles.batch, cli::range::batch));
    if (a.has("memory-mb"))
        o.tiles.memory_budget = static_cast<std::size_t>(a.integer("memory-mb", 0, cli::range::memory_mb)) << 20;
    o.threads = static_cast<int>(a.integer("threads", 0, cli::range::threads));
    o.tiles.threshold = static_cast<float>(a.real("threshold", o.tiles.threshold, cli::range::threshold));
    o.threshold_given = a.has("threshold");
    o.tta = cli::tta_option_of(a);
    o.overwrite = a.has("overwrite");
    if (o.weights.empty()) throw cli_error("--checkpoint FILE is required (see --help)");
    if (o.input.empty()) throw cli_error("--input FILE_OR_DIR is required (see --help)");
    if (o.out.empty()) throw cli_error("--out DIR is required (see --help)");
    return o;
}

void check_flags(const arch& a, const options& o, const std::string& where, const std::string& describe) {
    if (!o.model.empty() && o.model != a.model)
        throw cli_error(where + "weights of another architecture: the file holds " + a.model + " (" + describe +
                        ") but --model " + o.model + " was given");
    if ((o.base && o.base != a.base) || (o.depth && o.depth != a.depth))
        throw cli_error(where + "weights of another architecture: the file holds base " + std::to_string(a.base) +
                        ", depth " + std::to_string(a.depth) + " (" + describe + ") but --base " +
                        std::to_string(o.base ? o.base : a.base) + " --depth " +
                        std::to_string(o.depth ? o.depth : a.depth) + " was given");
}

arch choose_arch(const io::safetensors_file& file, const fs::path& path, const options& o) {
    const std::string where = path.string() + ": ";
    arch a;
    a.file = path;
    const auto& md = file.metadata();
    const std::map<std::string, std::string> rec = cli::extras_of(md);
    const std::string describe = md.count("unetpp.describe") ? md.at("unetpp.describe") : std::string("no description");
    a.pre = cli::preprocessing_from(rec, path.string());
    a.plan_tta = cli::plan_tta_of(rec, path.string());  // unetpp-train --auto (untrusted)
    if (rec.count("model") && rec.count("base") && rec.count("depth")) {
        // a checkpoint of unetpp-train: its record names the network (untrusted, range-checked)
        const std::string field = "'" + path.string() + "' records ";
        a.model = rec.at("model");
        a.base = static_cast<int>(cli::parse_integer(field + "base", rec.at("base"), cli::range::base));
        a.depth = static_cast<int>(cli::parse_integer(field + "depth", rec.at("depth"), cli::range::depth));
        check_flags(a, o, where, describe);
        return a;
    }
    const auto it = md.find("unetpp.config");
    if (it != md.end()) {
        const auto cfg = io::config_fields(it->second, where + "metadata unetpp.config");
        const auto get = [&](const char* k) {
            const auto f = cfg.find(k);
            if (f == cfg.end()) throw cli_error(where + "metadata unetpp.config lacks \"" + k + "\"");
            return f->second;
        };
        const std::string pad = get("pad"), norm = get("norm");
        a.model = pad == "valid" && norm == "none" ? "ronneberger2015" : pad == "same" && norm == "batch" ? "unet_bn" : "";
        const std::string shown = md.count("unetpp.describe") ? describe : it->second;
        if (a.model.empty())
            throw cli_error(where + "the file holds " + shown +
                            ", which is neither unet_bn (same padding, batch norm) nor ronneberger2015 (valid "
                            "padding, no norm)");
        // the file is untrusted input: its numbers get the range checks of the options
        const std::string field = where + "metadata unetpp.config ";
        a.base = static_cast<int>(cli::parse_integer(field + "base", get("base"), cli::range::base));
        a.depth = static_cast<int>(cli::parse_integer(field + "depth", get("depth"), cli::range::depth));
        // channels and classes: the training record's, else the file's configuration
        if (!a.pre.recorded) {
            a.pre.layout.channels =
                static_cast<int>(cli::parse_integer(field + "in_channels", get("in_channels"), cli::range::in_channels));
            a.pre.layout.classes =
                static_cast<int>(cli::parse_integer(field + "classes", get("classes"), cli::range::classes));
            if (a.pre.layout.classes > 2) a.pre.layout.encoding = data::mask_encoding::labels;
            cli::check_layout(a.pre.layout, where);
        }
        check_flags(a, o, where, shown);
    } else {
        a.model = o.model.empty() ? "unet_bn" : o.model;
        if (o.base) a.base = o.base;
        if (o.depth) a.depth = o.depth;
    }
    return a;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        bool help = false;
        const options o = parse(argc, argv, help);
        if (help) {
            print_help();
            return 0;
        }
        if constexpr (cli::cuda_built)  // before anything is read: a device must be there
            if (o.device == cli::device_kind::cuda) cli::require_cuda_device();
        cli::check_output_folder(o.out, "--out", "unetpp-predict", o.overwrite);
        if (!o.probs_dir.empty()) {
            cli::check_output_folder(o.probs_dir, "--out-probs", "unetpp-predict", o.overwrite);
            if (fs::absolute(o.probs_dir).lexically_normal() == fs::absolute(o.out).lexically_normal())
                throw cli_error("--out-probs and --out name the same folder; give two folders");
        }
        adapt_threads_to_load();
        if (o.threads) set_num_threads(o.threads);
        // every member's file is read and checked (checksums, record, architecture) before any
        // network is built or anything is written
        std::vector<arch> archs;
        for (const fs::path& w : o.weights) {
            std::error_code ec;
            if (!fs::is_regular_file(w, ec))
                throw cli_error(w.string() + ": weights file not found (or not a regular file)");
            const io::safetensors_file file = [&] {
                try {
                    return io::safetensors_file::load(w);
                } catch (const std::exception& e) {
                    const std::string msg = one_line(e.what());
                    throw cli_error(msg.find(w.string()) != std::string::npos ? msg : w.string() + ": " + msg);
                }
            }();
            archs.push_back(choose_arch(file, w, o));
        }
        // the compiled networks the files name (the model set of unetpp-train; with --device cuda
        // their backend::cuda variants, ensemble_members_cuda.cpp; with --precision bf16 their
        // backend::cpu_bf16 ones, ensemble_members_bf16.cpp), or an error listing the set
        return run_members(archs, o);
    } catch (const std::exception& e) {
        std::cerr << "unetpp-predict: error: " << one_line(e.what()) << "\n";
        return exit_error;
    }
}
