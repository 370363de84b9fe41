// unetpp-predict: segments images with a network trained by unetpp-train (its checkpoint) or
// saved by unetpp::io::save_weights.
//
//   unetpp-predict --checkpoint run/best.safetensors --input images/ --out pred/ [--mask-dir masks/]
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

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unetpp/infer.hpp>
#include <unetpp/io/image.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/train/checkpoint.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/threads.hpp>

#include "class_masks.hpp"
#include "cli_args.hpp"
#include "model_record.hpp"
#include "model_set.hpp"
#include "output_guard.hpp"
#include "scaled_predict.hpp"

namespace fs = std::filesystem;
using namespace unetpp;

namespace {

constexpr int exit_error = 2;

struct options {
    fs::path weights, input, out, mask_dir, probs_dir;
    std::string model;  // "" = from the file's metadata (or unet_bn)
    int base = 0, depth = 0;
    infer::tile_options tiles;
    bool tta = false, no_tta = false, overwrite = false, threshold_given = false, full_size = false, png16 = false;
    double factor = 1.0;  ///< --scale (with --full-size)
    int threads = 0;
};

/// One line, no embedded newlines.
std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
}

struct cli_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void print_help() {
    std::cout << R"(usage: unetpp-predict --checkpoint FILE --input FILE_OR_DIR --out DIR [options]

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

  --checkpoint FILE   training checkpoint or weights file (safetensors); --weights is the same
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
                      (default: receptive radius)
  --batch N           tiles per forward pass, 1 to 4096 (default 1)
  --memory-mb N       activation memory budget for the automatic tile, 1 to 1048576 (default 2048)
  --tta               average over the 8 flips/rotations (8x slower)
  --no-tta            predict the image alone, also for a checkpoint of a planned run
                      (unetpp-train --auto), whose plan's mirroring (the image and its
                      left-right mirror averaged, 2x slower) applies by default
  --threshold T       mask threshold on the foreground probability, 0 to 1 (default: the
                      checkpoint's, else 0.5); one- and two-class networks only
  --threads N         CPU threads, 1 to 1024 (default: OpenMP's choice, fewer when busy)
  --help              this text

Scale: a checkpoint of unetpp-train records its preprocessing (images resized to N x N,
bilinear; values / 255). Each image is resized to N x N the same way, predicted there, and the
probability map is resized back to the image's own size (bilinear) before the threshold; each
line of output says so ("resized 512x512 -> 256x256 as in training, mask mapped back to
512x512"). A weights file without that record is predicted at the image's own size by overlap
tiling (mirrored borders), and the output says that no training scale is known.
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
                       "batch", "memory-mb", "threshold", "threads", "out-probs", "scale"});
    if (a.has("help")) {
        help = true;
        return o;
    }
    if (a.has("checkpoint") && a.has("weights"))
        throw cli_error("--checkpoint and --weights name the same input; give one of them");
    o.weights = a.has("weights") ? a.str("weights") : a.str("checkpoint");
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
    o.tta = a.has("tta");
    o.no_tta = a.has("no-tta");
    if (o.tta && o.no_tta) throw cli_error("--tta and --no-tta contradict each other; give one of them");
    o.overwrite = a.has("overwrite");
    if (o.weights.empty()) throw cli_error("--checkpoint FILE is required (see --help)");
    if (o.input.empty()) throw cli_error("--input FILE_OR_DIR is required (see --help)");
    if (o.out.empty()) throw cli_error("--out DIR is required (see --help)");
    return o;
}

/// The architecture to build and the preprocessing to apply: from the file, checked against the
/// command line.
struct arch {
    std::string model;
    int base = 64, depth = 4;
    cli::preprocessing pre;  ///< size 0: no training scale recorded
    std::string plan_tta;    ///< the test-time mirroring of a planned run ("hflip", "none"; "": no plan)
};

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

arch choose_arch(const io::safetensors_file& file, const options& o) {
    const std::string where = o.weights.string() + ": ";
    arch a;
    const auto& md = file.metadata();
    const std::map<std::string, std::string> rec = cli::extras_of(md);
    const std::string describe = md.count("unetpp.describe") ? md.at("unetpp.describe") : std::string("no description");
    a.pre = cli::preprocessing_from(rec, o.weights.string());
    if (const auto t = rec.find("plan.tta"); t != rec.end()) {  // unetpp-train --auto (untrusted)
        if (t->second != "hflip" && t->second != "none")
            throw cli_error(where + "unetpp.extra.plan.tta '" + t->second + "' is not hflip or none");
        a.plan_tta = t->second;
    }
    if (rec.count("model") && rec.count("base") && rec.count("depth")) {
        // a checkpoint of unetpp-train: its record names the network (untrusted, range-checked)
        const std::string field = "'" + o.weights.string() + "' records ";
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

/// A frame or slice reference "file#k" (k: decimal digits): the file and k, or k = -1 when `p` is
/// a plain path.
std::pair<fs::path, int> frame_ref(const fs::path& p) {
    const std::string s = p.string();
    const std::size_t hash = s.rfind('#');
    if (hash == std::string::npos || hash + 1 == s.size() || s.size() - hash > 8) return {p, -1};
    if (!std::all_of(s.begin() + static_cast<std::ptrdiff_t>(hash) + 1, s.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; }))
        return {p, -1};
    return {fs::path(s.substr(0, hash)), std::stoi(s.substr(hash + 1))};
}

/// The 2-D images of one file: the file itself, or every frame of a multi-frame DICOM file and
/// every slice of a NIfTI volume as "file#k" (io::count_images reads the header only).
std::vector<fs::path> images_of(const fs::path& file) {
    const int n = io::count_images(file);
    if (n <= 1) return {file};
    std::vector<fs::path> out;
    for (int k = 0; k < n; ++k) out.emplace_back(file.string() + "#" + std::to_string(k));
    return out;
}

/// Input images: the file itself (each frame or slice of a DICOM / NIfTI file that holds several),
/// one frame or slice "file#k", or the images of a directory in name order.
std::vector<fs::path> list_inputs(const fs::path& input) {
    std::error_code ec;
    if (!fs::exists(input, ec)) {
        if (const auto [file, k] = frame_ref(input); k >= 0 && fs::is_regular_file(file, ec)) return {input};
        throw cli_error(input.string() + ": no such file or directory");
    }
    if (!fs::is_directory(input, ec)) return images_of(input);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(input, ec))
        if (e.is_regular_file() && data::is_image_file(e.path())) files.push_back(e.path());
    if (ec) throw cli_error(input.string() + ": cannot list the directory: " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty())
        throw cli_error(input.string() +
                        ": no .png, .jpg, .jpeg, .bmp, .dcm, .dicom, .nii or .nii.gz images in the directory");
    std::vector<fs::path> images;
    for (const auto& f : files)
        for (auto& i : images_of(f)) images.push_back(std::move(i));
    return images;
}

/// The ground-truth mask of `stem` in `dir`: exactly one of the candidate names must exist, and
/// it must not be the input image itself; otherwise the error names every file in question.
/// Frame or slice k of a DICOM / NIfTI image ("a.nii.gz#3", stem "a#3") also matches frame k of a
/// mask file of the same form: DIR/a.nii.gz#3, a.nii#3, a.dcm#3 or with "_mask" before the extension.
fs::path find_ground_truth(const fs::path& dir, const std::string& stem, const fs::path& image) {
    std::vector<fs::path> found;
    std::error_code ec;
    for (const char* suffix : {".png", "_mask.png", ".bmp", "_mask.bmp", ".jpg", ".jpeg"}) {
        const fs::path p = dir / (stem + suffix);
        if (fs::is_regular_file(p, ec)) found.push_back(p);
    }
    const auto [image_file, k] = frame_ref(image);
    if (k >= 0) {
        const std::string name = io::image_name(image_file);
        for (const char* suffix : {".nii.gz", ".nii", ".dcm", "_mask.nii.gz", "_mask.nii", "_mask.dcm"})
            if (const fs::path p = dir / (name + suffix); fs::is_regular_file(p, ec))
                found.emplace_back(p.string() + "#" + std::to_string(k));
    }
    // the image itself is never its own mask (--mask-dir is the images' folder)
    std::erase_if(found, [&](const fs::path& p) {
        std::error_code e;
        return fs::equivalent(frame_ref(p).first, image_file, e) && !e;
    });
    if (found.empty())
        throw cli_error((dir / (stem + ".png")).string() +
                        ": no ground-truth mask for this image (looked for <stem>.png, <stem>_mask.png, .bmp, "
                        "_mask.bmp, .jpg, .jpeg in --mask-dir, and frame k of <name>.nii.gz, .nii, .dcm (or "
                        "_mask.nii.gz, ...) for frame k of a DICOM or NIfTI image, other than the image itself)");
    if (found.size() > 1) {
        std::string names;
        for (const auto& p : found) names += (names.empty() ? "'" : ", '") + p.string() + "'";
        throw cli_error(image.string() + ": " + std::to_string(found.size()) + " files could be its ground-truth mask (" +
                        names + "); keep one, or give the masks a folder of their own");
    }
    return found.front();
}

/// Foreground probability as a gray image: the one channel (K = 1), channel 1 (K = 2), or
/// 1 - background (K > 2).
io::image probability_image(const tensor<float>& prob) {
    const shape4 s = prob.shape();
    if (s.c <= 2) return io::from_tensor(prob, 0, s.c - 1);
    tensor<float> fg(shape4{1, 1, s.h, s.w});
    for (std::size_t i = 0; i < s.plane(); ++i) fg[i] = 1.0f - prob[i];
    return io::from_tensor(fg);
}

/// A float threshold as given ("0.4", not the double 0.4000000059604645).
std::string threshold_text(float t) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", static_cast<double>(t));
    return b;
}

/// The mask file's picture: 0/255 for a one-class network, else the run's mask encoding.
io::image mask_image(const tensor<float>& mask, const cli::class_layout& layout, int classes) {
    return classes >= 2 ? cli::class_mask_image(mask, layout, classes) : io::from_tensor(mask);
}

/// <stem>_compare.png: input | prediction | ground truth. Classes in colours (read with the run's
/// mask encoding) for a multi-class run, else grey 0/255 as the masks.
io::image compare_image(const fs::path& image_path, const io::image& img, const tensor<float>& pmask,
                        const io::image& mask, const fs::path& gt_path, const cli::class_layout& layout, int classes) {
    if (!cli::coloured_classes(layout, classes)) {
        const io::image gt = io::read_image(gt_path, 1);
        if (gt.width != img.width || gt.height != img.height)
            throw cli_error(gt_path.string() + ": mask is " + std::to_string(gt.width) + "x" +
                            std::to_string(gt.height) + " but the image is " + std::to_string(img.width) + "x" +
                            std::to_string(img.height));
        const io::image gray = img.channels == 1 ? img : io::read_image(image_path, 1);
        return io::side_by_side({gray, mask, gt});
    }
    const auto colours = cli::class_colours(layout, classes);
    const tensor<float> truth = cli::read_class_truth(gt_path, image_path, layout, img.height, img.width, "--mask-dir");
    return cli::side_by_side_rgb({img, cli::colour_labels(pmask, colours), cli::colour_labels(truth, colours)});
}

/// Writes a PNG atomically (unique temporary file, fsync, rename) into the output folder, which
/// was new or empty when the program started, or named with --overwrite.
void save_png(const fs::path& path, const io::image& img) {
    const std::vector<unsigned char> png = io::encode_png(img);
    cli::write_file(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()), true);
}

template <class Net>
int run_with(const arch& ar, const options& o) {
    Net net = cli::make_net<Net>(0, ar.pre.layout.channels, ar.pre.layout.classes);
    try {
        // a training checkpoint's optimiser state (optim.*) is ignored; io::load_weights' checks
        train::load_checkpoint_weights(o.weights, net);
    } catch (const std::exception& e) {
        throw cli_error(one_line(e.what()));  // names the file already
    }
    cli::check_finite_weights(net, o.weights.string());
    net.eval();
    const int classes = net.classes();
    if (o.threshold_given && classes > 2)
        throw cli_error("--threshold applies to networks of one or two classes; " + o.weights.string() + " has " +
                        std::to_string(classes) +
                        " classes and each pixel takes its most probable class (argmax, no threshold): drop "
                        "--threshold");
    const float threshold =
        o.threshold_given || !ar.pre.recorded ? o.tiles.threshold : static_cast<float>(ar.pre.threshold);
    const cli::scale_rule rule{.square = o.full_size ? 0 : ar.pre.size,
                               .factor = o.factor,
                               .why = o.full_size       ? "--full-size"
                                      : ar.pre.recorded ? "the run kept its images at their own size"
                                                        : "no training scale is known"};
    const std::vector<fs::path> inputs = list_inputs(o.input);
    std::map<std::string, fs::path> stems;  // a.png and a.jpg would write the same a_mask.png
    for (const fs::path& path : inputs)
        if (const auto [it, fresh] = stems.emplace(io::image_name(path), path); !fresh)
            throw cli_error(it->second.string() + " and " + path.string() + " would both be written as '" +
                            io::image_name(path) + "_mask.png'; rename one of the images");
    cli::prepare_folder(o.out, "--out");  // the folder was checked to be new or empty (or --overwrite)
    if (!o.probs_dir.empty()) cli::prepare_folder(o.probs_dir, "--out-probs");
    std::cout << "unetpp-predict: " << Net::describe(net.channels())
              << (classes > 2 ? ", " + std::to_string(classes) + " classes (each pixel its most probable class)"
                              : ", threshold " + threshold_text(threshold));
    if (ar.pre.size > 0)
        std::cout << ", trained at " << ar.pre.size << "x" << ar.pre.size
                  << (ar.pre.polarity.empty() ? std::string() : " (" + ar.pre.polarity + ")")
                  << (o.full_size ? std::string("; --full-size: images predicted whole by tiling at ") +
                                        (o.factor == 1.0 ? "their own pixels, another scale than in training (--scale F "
                                                           "matches it)"
                                                         : "their size x " + cli::format_real(o.factor))
                                  : std::string())
                  << "\n";
    else if (ar.pre.recorded)
        std::cout << ", trained at the images' own size" << (ar.pre.patch ? " on " + std::to_string(ar.pre.patch) + "x" +
                                                                               std::to_string(ar.pre.patch) + " patches"
                                                                         : std::string())
                  << ": images are predicted whole by tiling\n";
    else
        std::cout << "; no training scale is known (the file records none): images are predicted at their own "
                     "size by tiling\n";

    // test-time transforms: --tta all 8, --no-tta none, else the run's plan (image + left-right mirror)
    std::vector<infer::dihedral> tta;
    if (o.tta)
        tta = infer::all_dihedral();
    else if (!o.no_tta && ar.plan_tta == "hflip") {
        tta = {infer::dihedral::identity, infer::dihedral::flip_h};
        std::cout << "unetpp-predict: the run's plan mirrors at test time: each image and its left-right mirror "
                     "are predicted and averaged (--no-tta: the image alone)\n";
    }

    int failures = 0;
    for (const fs::path& path : inputs) {
        try {
            const io::image img = io::read_image(path, net.in_channels());
            const tensor<float> x = io::to_tensor(img);
            const tensor<float> prob = cli::predict_at_scale(net, x, rule, o.tiles, tta);
            cli::check_probabilities(prob, path.string());
            const tensor<float> pmask = infer::make_mask(prob, threshold);
            const std::string stem = io::image_name(path);  // "a.png" -> "a", "b.nii.gz#3" -> "b#3"
            // the ground truth is looked up before anything of this image is written
            const fs::path gt_path = o.mask_dir.empty() ? fs::path() : find_ground_truth(o.mask_dir, stem, path);
            const io::image mask = mask_image(pmask, ar.pre.layout, classes);
            // the comparison is drawn (and its ground truth read and checked) before anything is written
            const io::image compare = o.mask_dir.empty() ? io::image()
                                                         : compare_image(path, img, pmask, mask, gt_path,
                                                                         ar.pre.layout, classes);
            save_png(o.out / (stem + "_prob.png"), probability_image(prob));
            save_png(o.out / (stem + "_mask.png"), mask);
            if (!o.probs_dir.empty()) cli::write_probabilities(o.probs_dir, stem, prob, o.png16);
            std::string gt_note;
            if (!o.mask_dir.empty()) {
                gt_note = "; ground truth " + gt_path.string();
                save_png(o.out / (stem + "_compare.png"), compare);
            }
            std::cout << path.string() << " -> " << (o.out / (stem + "_mask.png")).string() << " ("
                      << cli::scale_note(img.width, img.height, rule) << gt_note << ")\n";
        } catch (const cli_error& e) {
            std::cerr << "unetpp-predict: error: " << one_line(e.what()) << "\n";
            ++failures;
        } catch (const std::exception& e) {
            const std::string msg = one_line(e.what());
            // io errors name the file already; others get it prefixed.
            if (msg.find(path.string()) != std::string::npos)
                std::cerr << "unetpp-predict: error: " << msg << "\n";
            else
                std::cerr << "unetpp-predict: error: " << path.string() << ": " << msg << "\n";
            ++failures;
        }
    }
    return failures ? exit_error : 0;
}

/// Runs the compiled network `a` names (the model set of unetpp-train), or throws listing it.
int dispatch(const arch& a, const options& o) {
    try {
        return cli::with_model(a.model, a.base, a.depth, [&]<class Net>() { return run_with<Net>(a, o); });
    } catch (const cli::usage_error& e) {
        const std::string msg = e.what();
        if (msg.rfind("--model", 0) == 0) throw cli_error(o.weights.string() + ": the file holds a network that is not "
                                                          "compiled in (" + msg + ")");
        throw;
    }
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
        cli::check_output_folder(o.out, "--out", "unetpp-predict", o.overwrite);
        if (!o.probs_dir.empty()) {
            cli::check_output_folder(o.probs_dir, "--out-probs", "unetpp-predict", o.overwrite);
            if (fs::absolute(o.probs_dir).lexically_normal() == fs::absolute(o.out).lexically_normal())
                throw cli_error("--out-probs and --out name the same folder; give two folders");
        }
        adapt_threads_to_load();
        if (o.threads) set_num_threads(o.threads);
        std::error_code ec;
        if (!fs::is_regular_file(o.weights, ec))
            throw cli_error(o.weights.string() + ": weights file not found (or not a regular file)");
        const io::safetensors_file file = [&] {
            try {
                return io::safetensors_file::load(o.weights);
            } catch (const std::exception& e) {
                const std::string msg = one_line(e.what());
                throw cli_error(msg.find(o.weights.string()) != std::string::npos ? msg
                                                                                 : o.weights.string() + ": " + msg);
            }
        }();
        return dispatch(choose_arch(file, o), o);
    } catch (const std::exception& e) {
        std::cerr << "unetpp-predict: error: " << one_line(e.what()) << "\n";
        return exit_error;
    }
}
