// unetpp-evaluate: scores a trained network on a data set: per-image Dice, IoU, precision,
// recall, HD95, pixel ROC-AUC and average precision as CSV (at the data's own resolution,
// optionally inside a region-of-interest mask), a mean +- std summary table with the pooled
// ROC-AUC and AP, and optionally the predicted masks and the probability maps as float32 .npy.
// Model, data, preprocessing and split come from the checkpoint and the run's split.json
// (model_record.hpp); prediction is at the trained scale or at full size by tiling, mapped back to
// each image's own size (scaled_predict.hpp). A network of two or more classes is scored per
// class (multiclass_scores.hpp), its masks written in the run's mask encoding (class_masks.hpp).
// Several --checkpoint options make an ensemble (ensemble_members.hpp): the mean of the members'
// probabilities is scored, each member with its own scale and test-time transforms.
#include <iostream>
#include <string>
#include <utility>

#include "cli_device.hpp"
#include "evaluate_run.hpp"


namespace {

using namespace cli;

const char* help_text = R"(usage: unetpp-evaluate --checkpoint FILE [--checkpoint FILE ...] --csv FILE [options]

Runs the network of a checkpoint written by unetpp-train (last.safetensors or best.safetensors;
the optimiser state in it is ignored) over a data set and writes:
  --csv FILE         one row per image:
                     image,dice,iou,precision,recall,hd95,roc_auc,average_precision,width,height,pixels
                     (hd95 in pixels of the image's own size; inf when exactly one of
                     prediction and truth is empty; roc_auc nan when the image has one class
                     only, average_precision nan without foreground and 1 without background;
                     pixels: the pixels scored, those inside the region mask if any)
  --summary FILE     the summary table (mean +- sample std over images, and ROC-AUC and AP
                     pooled over all pixels of all images), also printed
  --out-masks DIR    predicted masks as PNG (0/255) at each image's own size,
                     DIR/<image stem>_pred.png, each written atomically; DIR must be new or
                     empty
  --overlays DIR     labelled pictures, DIR/<image stem>_overlay.png: image | ground truth |
                     prediction | overlay (true positives yellow, false positives magenta,
                     false negatives cyan, ground-truth outline green), masks drawn in the
                     run's polarity (white = the predicted class); DIR must be new or empty.
                     unetpp-report --overlays DIR shows the worst cases
  --out-probs DIR    foreground probabilities as float32 NumPy files at each image's own size,
                     DIR/<image stem>_prob.npy (numpy.load gives an H x W array); written as
                     each image is done. DIR must be new or empty
  --probs-png16      with --out-probs: also DIR/<image stem>_prob16.png, 16-bit grey,
                     round(p * 65535); K >= 2 classes: one per class, <stem>_prob16_c<k>.png
  --overwrite        replace existing --csv / --summary files and write masks into a DIR that
                     holds other files (only the files named above are replaced; nothing is
                     removed). Without it an existing output is refused.
Every file is written atomically, and nothing is written before all inputs are checked; the CSV
and summary are written last, so a failed run leaves no output that looks complete.

classes (from the checkpoint: unetpp-train --classes N, --mask-encoding, --palette):
  1 class            the above: one logit, sigmoid, mask = probability >= threshold
  K >= 2 classes     softmax; each pixel takes its most probable class (K = 2: class 1 where
                     its probability reaches the threshold; K > 2 has no threshold, so
                     --threshold is refused). Ground truth is read with the run's mask encoding.
                     Scores per class, one class against the rest; the headline is the mean
                     foreground Dice and IoU over classes 1..K-1 (class 0 is the background),
                     with pixel accuracy and a per-class table (Dice, IoU, precision, recall,
                     pooled ROC-AUC and AP per class). The CSV columns are
                     image,dice,iou,precision,recall,hd95,roc_auc,average_precision,
                     pixel_accuracy,width,height,pixels,dice_c1,...,dice_c<K-1>
                     where dice..recall are the image's means over the foreground classes, hd95
                     the mean over the foreground classes present in prediction or truth (inf
                     when one is in only one of them) and roc_auc / average_precision the means
                     over the foreground classes where they are defined. --out-masks writes the
                     masks in the run's encoding (labels: pixel = class index; palette: the
                     palette's colours; binary: 0/255); --out-probs writes [K, H, W] arrays;
                     --overlays fills every class in its colour (the palette's, else a fixed
                     table) with a legend naming the classes.

ensembles and test-time augmentation:
  --checkpoint FILE  given 2 to 16 times: an ensemble. Each member predicts with its own
                     network, trained scale and test-time transforms; their probabilities are
                     averaged at each image's own size and the mean is thresholded once (e.g.
                     the five fold models of a K-fold run, on images none of them trained on).
                     The members must agree on the image channels, the classes, the mask
                     encoding (and palette), the recorded threshold (else give --threshold) and
                     the data they record (else give --data-type / --data / --masks): a
                     disagreement is refused before anything is written, naming both
                     checkpoints. The summary lists the members and their test-time transforms.
  (default)          a checkpoint of a planned run (unetpp-train --auto) mirrors as its plan
                     says (the image and its left-right mirror averaged, 2x slower); others
                     predict the image alone
  --tta              every member averages the 8 flips and rotations (8x slower)
  --no-tta           every member predicts the image alone
  --subset with an ensemble: the part must list the same images in every member's split.json.
  The validation (and training) images of K-fold runs differ from fold to fold, so --subset val
  and --subset train are refused unless every member records the same --split, --folds, --fold
  and split seed (its --split-seed, else its --seed: runs of several --seed on one split are an
  ensemble that --subset val can score). --folds holds no test images out (their split.json's
  test part is empty), so fold models are scored on a data set of their own (--data-type,
  --data, --masks, without --subset); runs of one ratio split (--split a,b,c, the same split
  seed) share their --subset test.

scale:
  (default)          a run trained with --size N: each image is resized to N x N as in
                     training (bilinear), predicted there, and the probability map is resized
                     back to the image's own size (bilinear) before the threshold. A run that
                     kept its images at their own size: as --full-size.
  --full-size        predict every image whole at its own pixels by overlap tiling (any size,
                     not square too; tiling is exact, the tile size only bounds memory). For a
                     run trained with --size N the network then sees the images at another
                     scale than in training: give --scale
  --scale F          with --full-size: both sides multiplied by F (0.0625 to 16) before
                     tiling, probabilities mapped back (e.g. 0.5 for a network trained at 256
                     on 512 x 512 images)
Metrics are always computed at each image's own resolution against its mask as read (the
ground truth is never resized).

region of interest:
  --roi-masks DIR    score only the pixels inside each image's region mask (e.g. a field of
                     view): DIR/<image stem><suffix>.png (.jpg, .jpeg, .bmp), pixel > 127 =
                     inside. Every metric ignores the pixels outside (HD95: both masks are cut
                     to the region first). Default: the run's --roi-masks, when it had one.
  --roi-suffix S     the suffix of the region masks' stems (default: none, or the run's)
  A region mask that is also the image's ground-truth mask or the image itself, an image
  without one, an empty one or one of another size is refused, naming the files.

Nothing needs repeating: the checkpoint records the model, the data and the preprocessing of
the run. The output names the ground-truth (and region) files matched for the first image.

data (default: the run's, from the checkpoint): --data-type busi|isbi2012|folders|synthetic,
  --data PATH, --masks PATH, --mask-suffix S, --synthetic-count N (4 to 1000000),
  --seed N (0 to 9223372036854775807; synthetic images),
  --split-seed N (0 to 9223372036854775807; with --subset: checked against the run's split seed,
  which is its --split-seed, else its --seed)
  --subset S         all | train | val | test (default all): the images the run's split.json
                     lists under S (the split.json beside the checkpoint, or --split-file F).
                     Refused when it is missing, when it names an image the data set lacks, or
                     when --split, --folds, --fold, --seed or --split-seed disagree with the run's.
  --split-file F     the run's split.json, when it is not beside the checkpoint (with several
                     --checkpoint: the split of every member)
model (default: read from the checkpoint; needed only for a weights file without a training
  record, and refused when they disagree with the record): --model M --base N (1 to 1024)
  --depth D (1 to 10) --size N (8 to 4096: the trained scale; without it and without a record
  the images are predicted at full size)
  --threshold X      probability threshold for the masks, 0 to 1 (default: the checkpoint's, 0.5)
  --threads N        CPU threads, 1 to 1024 (default: OpenMP's choice, fewer when busy)
)";

// after --device and --precision (cli_device.hpp)
const char* help_tail = R"(Checks: the weights must be finite (NaN or Inf in any tensor: exit 2); the file's checksums must
match; a probability map with NaN stops the run before anything is written.
Exit codes: 0 done, 2 bad input (missing or unreadable file, checkpoint of another
architecture, impossible size, split that does not match the run).
)";

/// The run's record in a checkpoint (unetpp.extra.* metadata; a plain weights file has none). The
/// file's checksums are verified here (io::safetensors_file).
std::map<std::string, std::string> record_of(const fs::path& ckpt) {
    try {
        return extras_of(io::safetensors_file::load(ckpt).metadata());
    } catch (const std::exception& e) {
        const std::string m = e.what();
        throw usage_error(m.find(ckpt.string()) != std::string::npos ? m : "'" + ckpt.string() + "': " + m);
    }
}

/// A value from the command line is range-checked as an option; one recorded in the checkpoint is
/// untrusted input too and gets the same check, with the file named. Both given: they must agree.
struct record_picker {
    const args& a;
    const std::map<std::string, std::string>& rec;
    const fs::path& ckpt;
    std::int64_t integer(const std::string& k, std::int64_t def, const int_range& r) const {
        const auto it = rec.find(k);
        const bool recorded = it != rec.end() && it->second != "(not used)";
        const std::int64_t from_file =
            recorded ? parse_integer("'" + ckpt.string() + "' records " + k, it->second, r) : def;
        if (!a.has(k)) return from_file;
        const std::int64_t v = a.integer(k, def, r);
        if (recorded && v != from_file && k != "seed" && k != "synthetic-count")
            throw usage_error("--" + k + " " + std::to_string(v) + " disagrees with the checkpoint, which was trained " +
                              "with " + k + " " + it->second + "; drop --" + k + " (the value of '" + ckpt.string() +
                              "' is used)");
        return v;
    }
    std::string str(const std::string& k, const std::string& def) const {
        if (a.has(k)) return a.str(k);
        const auto it = rec.find(k);
        return it == rec.end() || it->second == "(not used)" ? def : it->second;
    }
};

/// One checkpoint of the command line: its network, preprocessing, scale and test-time transforms.
member_spec read_member(const args& a, const fs::path& ckpt, const std::map<std::string, std::string>& rec,
                        double factor, tta_option tta) {
    const record_picker pick{a, rec, ckpt};
    member_spec m;
    m.file = ckpt;
    m.pre = preprocessing_from(rec, ckpt.string());
    m.model = pick.str("model", "unet_bn");
    if (a.has("model") && rec.count("model") && rec.at("model") != m.model)
        throw usage_error("--model " + m.model + " disagrees with the checkpoint, which was trained with model " +
                          rec.at("model") + "; drop --model ('" + ckpt.string() + "')");
    m.base = static_cast<int>(pick.integer("base", 16, range::base));
    m.depth = static_cast<int>(pick.integer("depth", 3, range::depth));
    // the trained scale: the record's preprocess.resize, else --size, else none (full size)
    int scale = m.pre.size;
    if (a.has("size")) {
        const int given = static_cast<int>(a.integer("size", 0, range::size));
        if (scale > 0 && given != scale)
            throw usage_error("--size " + std::to_string(given) + " disagrees with the checkpoint, which was trained " +
                              "at " + std::to_string(scale) + "x" + std::to_string(scale) + "; drop --size ('" +
                              ckpt.string() + "')");
        scale = given;
    }
    m.size_check = scale;
    // full size: asked for, or the run kept its images at their own size, or no scale is known
    m.rule = {.square = a.has("full-size") ? 0 : scale,
              .factor = factor,
              .why = a.has("full-size") ? "--full-size"
                     : m.pre.recorded   ? "the run kept its images at their own size"
                                        : "no training scale is known"};
    m.plan_tta = plan_tta_of(rec, "'" + ckpt.string() + "'");
    m.tta = tta_transforms(tta, m.plan_tta);
    m.tta_note = tta_words(tta, m.plan_tta);
    return m;
}

/// A recorded value for the comparisons of the members ("(none)" when not recorded; split-seed
/// falls back to seed as recorded_split_value says).
std::string recorded(const std::map<std::string, std::string>& rec, const std::string& k) {
    const std::string v = recorded_split_value(rec, k);
    return v.empty() || v == "(not used)" ? std::string("(none)") : v;
}

/// The members must be scored on the same data: every data option that the command line does not
/// give is taken from the first checkpoint, and the others must record the same.
void check_same_data(const args& a, const std::vector<member_spec>& ms,
                     const std::vector<std::map<std::string, std::string>>& recs, const std::string& type) {
    std::vector<std::string> keys = {"data-type", "data", "masks", "mask-suffix", "roi-masks", "roi-suffix"};
    if (type == "synthetic") keys.insert(keys.end(), {"seed", "synthetic-count", "preprocess.resize"});
    for (const std::string& k : keys) {
        if (a.has(k)) continue;
        for (std::size_t i = 1; i < ms.size(); ++i)
            require_same("the data (" + k + ")", ms[0], recorded(recs[0], k), ms[i], recorded(recs[i], k),
                         "an ensemble is scored on one data set: give it on the command line (--" + k +
                             ", with --data-type, --data and --masks as needed), or checkpoints of runs on the "
                             "same data");
    }
}

/// --subset of an ensemble: the part must list the same images for every member. The validation
/// and training parts of K-fold runs differ from fold to fold (each fold validates on its own
/// images and trains on the others'), so their members must record the same split.
std::vector<std::string> members_subset(const args& a, const std::string& subset, const std::vector<member_spec>& ms,
                                        const std::vector<std::map<std::string, std::string>>& recs,
                                        std::map<std::string, std::vector<std::string>>& parts) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < ms.size(); ++i) {
        if (i > 0 && subset != "test")
            for (const char* k : {"split", "folds", "fold", "split-seed"}) {
                // split-seed: runs of several --seed on one split agree
                require_same("the split (" + std::string(k) + ")", ms[0], recorded(recs[0], k), ms[i],
                             recorded(recs[i], k),
                             "--subset " + subset + " would score images that some members trained on (each fold "
                             "of a K-fold run has its own validation images). Score an ensemble of folds on a "
                             "data set that none of them trained on (--data-type, --data, --masks, without "
                             "--subset; --folds holds no test images out)");
            }
        const fs::path split_file =
            a.has("split-file") ? fs::path(a.str("split-file")) : ms[i].file.parent_path() / "split.json";
        const auto mine = read_split_file(split_file, "--subset " + subset);
        const auto it = mine.find(subset);
        if (it == mine.end())
            throw usage_error("'" + split_file.string() + "' has no part \"" + subset + "\"; use the split.json of the run");
        if (it->second.empty())
            throw usage_error("--subset " + subset + ": the run's split ('" + split_file.string() + "') has no " +
                              subset + " images" +
                              (recorded(recs[i], "folds") != "(none)" && subset == "test"
                                   ? " (--folds holds no test images out: score the fold models on a data set of "
                                     "their own with --data-type, --data and --masks, without --subset)"
                                   : ""));
        if (i == 0) {
            names = it->second;
            parts = mine;
        } else if (it->second != names || (subset == "val" && mine.count("val_data") != parts.count("val_data"))) {
            throw usage_error("--subset " + subset + ": the split.json of --checkpoint '" + ms[0].file.string() +
                              "' and of --checkpoint '" + ms[i].file.string() + "' list different " + subset +
                              " images; an ensemble is scored on images that are the same for every member: use "
                              "runs with the same --split and --seed, or give the data with --data");
        }
    }
    return names;
}

int run(int argc, char** argv) {
    const args a(argc, argv, {"overwrite", "full-size", "probs-png16", "tta", "no-tta"},
                 {"checkpoint", "csv", "summary", "out-masks", "overlays", "data-type", "data", "masks", "mask-suffix",
                  "size",
                  "synthetic-count", "seed", "split-seed", "subset", "split", "folds", "fold", "split-file", "model", "base", "depth",
                  "threshold", "threads", "out-probs", "scale", "roi-masks", "roi-suffix", "device", "precision"},
                 {"checkpoint"});
    if (a.has("help")) {
        std::cout << help_text << device_help(21) << precision_help(21) << help_tail;
        return 0;
    }
    // Every option is parsed and range-checked before any file is read or written; --device cuda
    // first: refused at once in a build without the CUDA backend, or without a usable device.
    const device_kind device = device_option(a, "unetpp-evaluate");
    const precision_kind precision = precision_option(a, "unetpp-evaluate", device);
    if constexpr (cuda_built)
        if (device == device_kind::cuda) require_cuda_device();
    const int threads = static_cast<int>(a.integer("threads", 0, range::threads));
    double threshold = a.real("threshold", 0.5, range::threshold);
    const std::string subset = a.choice("subset", "all", {"all", "train", "val", "test"});
    const double factor = a.real("scale", 1.0, scale_factor);
    if (a.has("scale") && !a.has("full-size"))
        throw usage_error("--scale " + a.str("scale") + " applies to --full-size prediction; add --full-size (or drop "
                          "--scale: by default a run trained with --size N is predicted at N x N)");
    if (a.has("full-size") && a.has("size"))
        throw usage_error("--full-size predicts each image at its own size, --size N resizes it to N x N; give one");
    if (a.has("probs-png16") && !a.has("out-probs"))
        throw usage_error("--probs-png16 adds 16-bit PNGs to the --out-probs folder; give --out-probs DIR too");
    const tta_option tta = tta_option_of(a);
    // the split options, normalised as unetpp-train records them
    std::map<std::string, std::string> split_now;
    {
        const auto [folds, fold] = folds_from(a);
        if (a.has("folds")) split_now["folds"] = std::to_string(folds);
        if (a.has("fold")) split_now["fold"] = std::to_string(fold);
        if (a.has("split")) {
            const split_fractions sp = parse_split(a.str("split"));
            split_now["split"] = format_real(sp.train) + "," + format_real(sp.val) + "," + format_real(sp.test);
        }
    }
    if (subset == "all" &&
        (a.has("split") || a.has("folds") || a.has("fold") || a.has("split-file") || a.has("split-seed")))
        throw usage_error("--split, --folds, --fold, --split-seed and --split-file choose a part with --subset "
                          "train|val|test; without --subset every image is scored");
    data_choice dc = data_from(a);
    const std::vector<fs::path> ckpts = checkpoint_paths(a, "checkpoint");
    if (ckpts.empty()) throw usage_error("--checkpoint FILE is required");
    for (const fs::path& ckpt : ckpts) {
        std::error_code ec;
        if (!fs::exists(ckpt, ec))
            throw usage_error("--checkpoint '" + ckpt.string() + "' does not exist; check the path");
        if (!fs::is_regular_file(ckpt, ec)) throw usage_error("--checkpoint '" + ckpt.string() + "' is not a file");
    }

    // Outputs: refused when they exist (a folder: when it is not empty), unless --overwrite.
    const bool overwrite = a.has("overwrite");
    const fs::path csv = a.str("csv");
    if (csv.empty()) throw usage_error("--csv FILE is required (the per-image results)");
    check_output_file(csv, "--csv", "unetpp-evaluate", overwrite);
    const fs::path summary = a.str("summary");
    if (a.has("summary")) {
        check_output_file(summary, "--summary", "unetpp-evaluate", overwrite);
        if (fs::absolute(summary).lexically_normal() == fs::absolute(csv).lexically_normal())
            throw usage_error("--summary and --csv name the same file; give two names");
    }
    const fs::path masks_dir = a.str("out-masks");
    if (a.has("out-masks")) check_output_folder(masks_dir, "--out-masks", "unetpp-evaluate", overwrite);
    const fs::path probs_dir = a.str("out-probs");
    if (a.has("out-probs")) {
        check_output_folder(probs_dir, "--out-probs", "unetpp-evaluate", overwrite);
        if (a.has("out-masks") && fs::absolute(probs_dir).lexically_normal() == fs::absolute(masks_dir).lexically_normal())
            throw usage_error("--out-probs and --out-masks name the same folder; give two folders");
    }
    const fs::path overlays_dir = a.str("overlays");
    if (a.has("overlays")) check_output_folder(overlays_dir, "--overlays", "unetpp-evaluate", overwrite);

    // Every member's record, network, scale and test-time transforms; they must agree on what
    // they predict (channels, classes, mask encoding) and on the threshold of their mean.
    std::vector<std::map<std::string, std::string>> recs;
    std::vector<member_spec> members;
    for (const fs::path& ckpt : ckpts) {
        recs.push_back(record_of(ckpt));
        members.push_back(read_member(a, ckpt, recs.back(), factor, tta));
    }
    check_members_agree(members);
    const member_spec& first = members.front();
    const std::map<std::string, std::string>& rec = recs.front();
    const record_picker pick{a, rec, first.file};
    const preprocessing& pre = first.pre;
    const int scale = first.size_check;
    const scale_rule& rule = first.rule;
    if (a.has("threshold") && pre.layout.classes > 2)
        throw usage_error("--threshold applies to networks of one or two classes; '" + first.file.string() + "' has " +
                          std::to_string(pre.layout.classes) +
                          " classes and each pixel takes its most probable class (argmax, no threshold): "
                          "drop --threshold");
    threshold = members_threshold(members, a.has("threshold"), threshold);
    // the data: the run's unless given (an ensemble's members must record the same)
    if (!a.has("data-type") && rec.count("data-type")) {
        dc.type = pick.str("data-type", dc.type);
        if (dc.type != "busi" && dc.type != "isbi2012" && dc.type != "folders" && dc.type != "synthetic")
            throw usage_error("'" + first.file.string() + "' records data-type '" + dc.type + "', which is unknown");
    }
    check_same_data(a, members, recs, dc.type);
    // label and palette masks have no polarity: their encoding is the run's (dc.layout below)
    const bool class_masks = pre.layout.encoding != data::mask_encoding::binary;
    if (pre.recorded && !class_masks && !pre.polarity.empty() && polarity_of(dc.type) != pre.polarity)
        std::cerr << "unetpp-evaluate: note: the run read its masks as '" << pre.polarity << "', --data-type " << dc.type
                  << " reads them as '" << polarity_of(dc.type) << "'; the scores are for that polarity\n";
    if (!a.has("data")) dc.data = pick.str("data", "");
    if (!a.has("masks")) dc.masks = pick.str("masks", "");
    if (!a.has("mask-suffix")) dc.mask_suffix = pick.str("mask-suffix", "");
    dc.seed = static_cast<std::uint64_t>(pick.integer("seed", 1, range::seed));
    dc.synthetic_count = pick.integer("synthetic-count", dc.synthetic_count, range::synthetic_count);
    dc.size = scale > 0 ? scale : pre.patch > 0 ? pre.patch : dc.size;  // synthetic images: the trained size
    dc.resize = false;                      // scored at the data's own resolution
    if (pre.recorded) dc.layout = pre.layout;  // the run's channels, classes and mask encoding

    // --subset: the runs' split.json is the truth; split options must agree with every run's
    std::vector<std::string> subset_names;
    if (subset != "all") {
        if (a.has("seed")) split_now["seed"] = std::to_string(dc.seed);
        if (a.has("split-seed")) split_now["split-seed"] = std::to_string(dc.split_seed);
        for (std::size_t i = 0; i < members.size(); ++i) {
            std::vector<std::string> diffs;
            for (const auto& [k, v] : split_now)
                if (auto d = split_difference(k, v, recs[i]); !d.empty()) diffs.push_back(d);
            if (diffs.empty()) continue;
            std::string m = "--subset " + subset + " scores the run's split, but ";
            if (members.size() > 1) m += "for '" + members[i].file.string() + "' ";
            for (std::size_t j = 0; j < diffs.size(); ++j) m += (j ? "; " : "") + diffs[j];
            throw usage_error(m + ". Drop these options: the split is read from the run's split.json");
        }
        std::map<std::string, std::vector<std::string>> parts;
        subset_names = members_subset(a, subset, members, recs, parts);
        // a run trained with --val-data validated on that folder: its split names the folder
        if (const auto vd = parts.find("val_data"); subset == "val" && vd != parts.end()) {
            const auto vm = parts.find("val_masks");
            if (vd->second.size() != 1 || vm == parts.end() || vm->second.size() != 1)
                throw usage_error("the split.json of '" + first.file.string() +
                                  "' names a validation folder without exactly one \"val_data\" and one "
                                  "\"val_masks\" entry; use the split.json of the run");
            if (a.has("data") || a.has("masks"))
                throw usage_error("--subset val: the run validated on the folder '" + vd->second.front() +
                                  "' (--val-data); drop --data and --masks, the split names the folder");
            dc.type = "folders";
            dc.data = vd->second.front();
            dc.masks = vm->second.front();
            std::cout << "unetpp-evaluate: --subset val: the run's validation folder '" << fs::path(dc.data).string()
                      << "' (masks '" << fs::path(dc.masks).string() << "')\n";
        }
    }
    // --roi-masks: given, else the run's (recorded by unetpp-train as roi-masks / roi-suffix)
    const std::string roi_dir = pick.str("roi-masks", "");
    const std::string roi_suffix = pick.str("roi-suffix", "");
    if (a.has("roi-suffix") && roi_dir.empty())
        throw usage_error("--roi-suffix S names the region masks of --roi-masks DIR; give --roi-masks too");
    std::optional<data::roi_lookup> rois;
    if (!roi_dir.empty()) {
        if (!a.has("roi-masks"))
            std::cout << "unetpp-evaluate: region masks from the run: '" << roi_dir << "' (suffix '" << roi_suffix
                      << "'); every metric counts only the pixels inside them\n";
        require_folder(roi_dir, "--roi-masks (the region-of-interest masks)");
        if (dc.type == "folders") {
            // looked up with the images by the data layer (data/folder.hpp), which also keeps a
            // folder shared by images, masks and region masks apart and refuses ambiguous files
            dc.roi_masks = roi_dir;
            dc.roi_suffix = roi_suffix;
        } else {
            try {
                rois.emplace(roi_dir, roi_suffix, "--roi-masks");
            } catch (const std::exception& e) {
                throw usage_error(e.what());
            }
        }
    }
    if (dc.type != "folders") dc.roi_masks.clear(), dc.roi_suffix.clear();  // evaluate's own look-up above
    adapt_threads_to_load();
    if (threads > 0) set_num_threads(threads);

    // the networks, each of its compiled type (CPU, with --precision bf16 its backend::cpu_bf16
    // variant, or with --device cuda its backend::cuda variant)
    const std::vector<member_net> nets = load_members(members, device, precision);
    const evaluate_job job{.a = &a, .dc = dc, .members = members, .csv = csv, .summary = summary,
                           .masks_dir = masks_dir, .probs_dir = probs_dir, .overlays_dir = overlays_dir,
                           .overwrite = overwrite, .subset = subset, .subset_names = subset_names, .pre = pre,
                           .class_masks = class_masks, .threshold = threshold, .scale = scale, .rule = rule,
                           .roi_dir = roi_dir, .roi_suffix = roi_suffix, .rois = std::move(rois)};
    return evaluate_members(job, nets);
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp-evaluate", [&] { return run(argc, argv); });
}
