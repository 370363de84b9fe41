// unetpp-predict's prediction: the options, the input look-up, the files it writes and
// run_members, which predicts every image with the checkpoints of the command line (one, or the
// mean of an ensemble's). unetpp-predict.cpp parses the command line and reads every file; the
// members' networks are built by ensemble_members.hpp: the CPU networks of the model set
// (model_set.hpp) there, their backend::cuda variants (--device cuda, cli_device.hpp) in
// ensemble_members_cuda.cpp, compiled only with UNETPP_WITH_CUDA=ON.
#pragma once

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
#include "ensemble_members.hpp"
#include "model_record.hpp"
#include "model_set.hpp"
#include "output_guard.hpp"
#include "scaled_predict.hpp"
#include "cli_device.hpp"

namespace predict_cli {

namespace fs = std::filesystem;
using namespace unetpp;

inline constexpr int exit_error = 2;

struct options {
    std::vector<fs::path> weights;  ///< --checkpoint, 1 to 16 (several: an ensemble)
    fs::path input, out, mask_dir, probs_dir;
    std::string model;  // "" = from the file's metadata (or unet_bn)
    int base = 0, depth = 0;
    infer::tile_options tiles;
    cli::tta_option tta = cli::tta_option::plan;  ///< --tta, --no-tta or the plan's
    bool overwrite = false, threshold_given = false, full_size = false, png16 = false;
    double factor = 1.0;  ///< --scale (with --full-size)
    int threads = 0;
    cli::device_kind device = cli::device_kind::cpu;            ///< --device
    cli::precision_kind precision = cli::precision_kind::fp32;  ///< --precision
};

/// One line, no embedded newlines.
inline std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    return s;
}

struct cli_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The architecture to build and the preprocessing to apply: from the file, checked against the
/// command line.
struct arch {
    fs::path file;  ///< the checkpoint or weights file
    std::string model;
    int base = 64, depth = 4;
    cli::preprocessing pre;  ///< size 0: no training scale recorded
    std::string plan_tta;    ///< the test-time mirroring of a planned run ("hflip", "none"; "": no plan)
};

/// A frame or slice reference "file#k" (k: decimal digits): the file and k, or k = -1 when `p` is
/// a plain path.
inline std::pair<fs::path, int> frame_ref(const fs::path& p) {
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
inline std::vector<fs::path> images_of(const fs::path& file) {
    const int n = io::count_images(file);
    if (n <= 1) return {file};
    std::vector<fs::path> out;
    for (int k = 0; k < n; ++k) out.emplace_back(file.string() + "#" + std::to_string(k));
    return out;
}

/// Input images: the file itself (each frame or slice of a DICOM / NIfTI file that holds several),
/// one frame or slice "file#k", or the images of a directory in name order.
inline std::vector<fs::path> list_inputs(const fs::path& input) {
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
inline fs::path find_ground_truth(const fs::path& dir, const std::string& stem, const fs::path& image) {
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
inline io::image probability_image(const tensor<float>& prob) {
    const shape4 s = prob.shape();
    if (s.c <= 2) return io::from_tensor(prob, 0, s.c - 1);
    tensor<float> fg(shape4{1, 1, s.h, s.w});
    for (std::size_t i = 0; i < s.plane(); ++i) fg[i] = 1.0f - prob[i];
    return io::from_tensor(fg);
}

/// A float threshold as given ("0.4", not the double 0.4000000059604645).
inline std::string threshold_text(float t) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", static_cast<double>(t));
    return b;
}

/// The mask file's picture: 0/255 for a one-class network, else the run's mask encoding.
inline io::image mask_image(const tensor<float>& mask, const cli::class_layout& layout, int classes) {
    return classes >= 2 ? cli::class_mask_image(mask, layout, classes) : io::from_tensor(mask);
}

/// <stem>_compare.png: input | prediction | ground truth. Classes in colours (read with the run's
/// mask encoding) for a multi-class run, else grey 0/255 as the masks.
inline io::image compare_image(const fs::path& image_path, const io::image& img, const tensor<float>& pmask,
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
inline void save_png(const fs::path& path, const io::image& img) {
    const std::vector<unsigned char> png = io::encode_png(img);
    cli::write_file(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()), true);
}

/// The members of the command line: each file's architecture and preprocessing with the scale
/// and the test-time transforms it gets.
inline std::vector<cli::member_spec> member_specs(const std::vector<arch>& archs, const options& o) {
    std::vector<cli::member_spec> specs;
    for (const arch& ar : archs) {
        const cli::scale_rule rule{.square = o.full_size ? 0 : ar.pre.size,
                                   .factor = o.factor,
                                   .why = o.full_size       ? "--full-size"
                                          : ar.pre.recorded ? "the run kept its images at their own size"
                                                            : "no training scale is known"};
        specs.push_back({.file = ar.file,
                         .model = ar.model,
                         .base = ar.base,
                         .depth = ar.depth,
                         .pre = ar.pre,
                         .plan_tta = ar.plan_tta,
                         .rule = rule,
                         .tta = cli::tta_transforms(o.tta, ar.plan_tta),
                         .tta_note = cli::tta_words(o.tta, ar.plan_tta),
                         .size_check = 0,
                         .tiles = o.tiles});
    }
    cli::check_members_agree(specs);
    return specs;
}

/// What the program says before the images: the network, its scale and test-time transforms (a
/// single checkpoint), or the members of an ensemble.
inline void print_plan(const arch& ar, const std::vector<cli::member_spec>& specs,
                       const std::vector<cli::member_net>& nets, const options& o, int classes, float threshold) {
    const std::string how = classes > 2 ? ", " + std::to_string(classes) + " classes (each pixel its most probable class)"
                                        : ", threshold " + threshold_text(threshold);
    if (specs.size() > 1) {
        std::cout << "unetpp-predict: " << cli::members_text(specs, nets) << "unetpp-predict: the mean" << how
                  << "\n";
        return;
    }
    std::cout << "unetpp-predict: " << nets[0].describe_io << how;
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
    if (o.tta == cli::tta_option::plan && ar.plan_tta == "hflip")
        std::cout << "unetpp-predict: the run's plan mirrors at test time: each image and its left-right mirror "
                     "are predicted and averaged (--no-tta: the image alone)\n";
    if (!nets[0].compute.empty()) std::cout << "unetpp-predict: compute: " << nets[0].compute << "\n";
}

/// Predicts every input image with the members of `archs` (one checkpoint, or the mean of an
/// ensemble's probabilities) and writes the files; returns the exit status.
inline int run_members(const std::vector<arch>& archs, const options& o) {
    const std::vector<cli::member_spec> specs = member_specs(archs, o);
    const std::vector<cli::member_net> nets = cli::load_members(specs, o.device, o.precision);
    const infer::ensemble members = cli::ensemble_of(nets);
    const int classes = nets.front().classes;
    if (o.threshold_given && classes > 2)
        throw cli_error("--threshold applies to networks of one or two classes; " + specs.front().file.string() +
                        " has " + std::to_string(classes) +
                        " classes and each pixel takes its most probable class (argmax, no threshold): drop "
                        "--threshold");
    const float threshold = static_cast<float>(cli::members_threshold(specs, o.threshold_given, o.tiles.threshold));
    const arch& ar = archs.front();  // the mask encoding, which every member shares
    const std::vector<fs::path> inputs = list_inputs(o.input);
    std::map<std::string, fs::path> stems;  // a.png and a.jpg would write the same a_mask.png
    for (const fs::path& path : inputs)
        if (const auto [it, fresh] = stems.emplace(io::image_name(path), path); !fresh)
            throw cli_error(it->second.string() + " and " + path.string() + " would both be written as '" +
                            io::image_name(path) + "_mask.png'; rename one of the images");
    cli::prepare_folder(o.out, "--out");  // the folder was checked to be new or empty (or --overwrite)
    if (!o.probs_dir.empty()) cli::prepare_folder(o.probs_dir, "--out-probs");
    print_plan(ar, specs, nets, o, classes, threshold);

    int failures = 0;
    for (const fs::path& path : inputs) {
        try {
            const io::image img = io::read_image(path, nets.front().in_channels);
            const tensor<float> x = io::to_tensor(img);
            const tensor<float> prob = members.predict_proba(x);
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
            const std::string scale =
                specs.size() == 1 ? cli::scale_note(img.width, img.height, specs.front().rule)
                                  : "the mean of " + std::to_string(specs.size()) + " members at " +
                                        std::to_string(img.width) + "x" + std::to_string(img.height);
            std::cout << path.string() << " -> " << (o.out / (stem + "_mask.png")).string() << " (" << scale
                      << gt_note << ")\n";
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

}  // namespace predict_cli
