// unetpp-evaluate's scoring: evaluate_members scores the data set with the loaded members of the
// command line (one checkpoint, or an ensemble whose mean probabilities are thresholded once),
// over the options unetpp-evaluate.cpp has parsed and checked (evaluate_job). The members'
// networks are built by ensemble_members.hpp: the CPU networks of the model set (model_set.hpp)
// in unetpp-evaluate.cpp, their backend::cuda variants (--device cuda, cli_device.hpp) in
// ensemble_members_cuda.cpp, compiled only with UNETPP_WITH_CUDA=ON.
#pragma once

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <unetpp/metrics.hpp>

#include <unetpp/infer.hpp>
#include <unetpp/io/safetensors.hpp>

#include "class_masks.hpp"
#include "cli_common.hpp"
#include "ensemble_members.hpp"
#include "model_record.hpp"
#include "report/overlay_png.hpp"
#include "image_scores.hpp"
#include "multiclass_scores.hpp"
#include "scaled_predict.hpp"
#include "cli_device.hpp"

namespace cli {

inline std::string fmt(double v) {
    if (std::isinf(v)) return "inf";
    if (std::isnan(v)) return "nan";
    char b[40];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

inline std::vector<report::rgb> legend_colours(const std::vector<data::rgb8>& colours) {
    std::vector<report::rgb> out;
    for (const auto& c : colours) out.push_back({c.r, c.g, c.b});
    return out;
}

inline std::vector<std::string> legend_names(int classes) {
    std::vector<std::string> out;
    for (int k = 0; k < std::max(classes, 2); ++k) out.push_back(class_name(k));
    return out;
}


/// What run() has parsed and checked: the checkpoints, the data, the part to score and the outputs.
struct evaluate_job {
    const args* a = nullptr;  ///< the command line
    data_choice dc;
    std::vector<member_spec> members;  ///< one checkpoint, or the members of an ensemble
    fs::path csv, summary, masks_dir, probs_dir, overlays_dir;
    bool overwrite = false;
    std::string subset;                     ///< all, train, val or test
    std::vector<std::string> subset_names;  ///< the images of the part (from the run's split.json)
    preprocessing pre;                      ///< the (first) run's record
    bool class_masks = false;               ///< label or palette masks
    double threshold = 0.5;
    int scale = 0;                          ///< the (first member's) trained size (0: none)
    scale_rule rule;                        ///< the (first) member's
    std::string roi_dir, roi_suffix;
    std::optional<data::roi_lookup> rois;   ///< evaluate's own region-mask look-up (not folders)
};

/// Scores the data set with the members' mean probabilities (one member: its own) as the job says;
/// returns the exit status.
inline int evaluate_members(const evaluate_job& job, const std::vector<member_net>& nets) {
    const args& a = *job.a;
    const data_choice& dc = job.dc;
    const fs::path &csv = job.csv, &summary = job.summary, &masks_dir = job.masks_dir, &probs_dir = job.probs_dir,
                   &overlays_dir = job.overlays_dir;
    const bool overwrite = job.overwrite, class_masks = job.class_masks;
    const std::string &subset = job.subset, &roi_dir = job.roi_dir, &roi_suffix = job.roi_suffix;
    const std::vector<std::string>& subset_names = job.subset_names;
    const preprocessing& pre = job.pre;
    const double threshold = job.threshold;
    const int scale = job.scale;
    const scale_rule& rule = job.rule;
    const std::optional<data::roi_lookup>& rois = job.rois;
    const infer::ensemble members = ensemble_of(nets);
    inference_mode no_intermediates;  // fused Conv-BN-ReLU, nothing kept for backward
    any_dataset ds = open_dataset(dc);
    probe(ds);
    std::vector<std::size_t> idx;
    if (subset == "all") {
        for (std::size_t i = 0; i < ds.size(); ++i) idx.push_back(i);
    } else {
        std::map<std::string, std::size_t> by_name;
        for (std::size_t i = 0; i < ds.size(); ++i)
            if (const auto [it, fresh] = by_name.emplace(ds.stem(i), i); !fresh)
                throw usage_error("--subset: " + ds.source(it->second) + " and " + ds.source(i) +
                                  " have the same name '" + ds.stem(i) +
                                  "', so the run's split.json cannot tell them apart");
        for (const auto& n : subset_names) {
            const auto it = by_name.find(n);
            if (it == by_name.end())
                throw usage_error("--subset " + subset + ": the run's split lists '" + n +
                                  "', which is not in the data set; evaluate on the data of the run");
            idx.push_back(it->second);
        }
    }
    if (a.has("out-masks") || a.has("overlays") || a.has("out-probs")) {  // two images of one stem: one file
        std::map<std::string, std::size_t> seen;
        for (std::size_t i : idx)
            if (const auto [it, fresh] = seen.emplace(ds.stem(i), i); !fresh)
                throw usage_error("output files: " + ds.source(it->second) + " and " + ds.source(i) +
                                  " would both be written as '" + ds.stem(i) +
                                  (a.has("out-masks") ? "_pred.png" : a.has("out-probs") ? "_prob.npy" : "_overlay.png") +
                                  "'; rename one of the images");
    }
    // Predict every image first: a damaged probability map stops the run before anything is written
    // (but the --out-probs files, written as each image is done, so that they need no memory).
    std::vector<std::vector<unsigned char>> pngs, overlays;  // encoded, written after the loop
    const std::string polarity_note = class_masks ? "masks: " + pre.polarity
                                      : pre.polarity.empty() || pre.polarity == polarity_of(dc.type)
                                          ? "masks: " + polarity_of(dc.type)
                                          : "masks read as " + polarity_of(dc.type) + "; the run: " + pre.polarity;
    // a network of K >= 2 classes is scored per class (multiclass_scores.hpp)
    const int K = nets.front().classes;
    const bool coloured = coloured_classes(dc.layout, K);  // overlays with the classes in colours
    const std::vector<report::rgb> legend = legend_colours(class_colours(dc.layout, std::max(K, 2)));
    const std::vector<std::string> names = legend_names(K);
    std::optional<class_score_table> class_scores;
    if (K >= 2) class_scores.emplace(K);
    std::vector<metrics::ranking_histogram> class_pooled;  // per class, while K - 1 <= max_pooled_classes
    std::string rows = K >= 2 ? class_csv_header(K) : std::string(score_csv_header);
    score_table scores;
    metrics::ranking_histogram pooled;  // ROC-AUC and AP over all pixels of all images
    std::string scale_line, matched;
    bool in_regions = false;
    if (a.has("out-probs")) prepare_folder(probs_dir, "--out-probs");  // written as each image is done
    for (std::size_t i : idx) {
        const data::sample s = ds.get(i);
        const tensor<float> prob = members.predict_proba(s.image);
        check_probabilities(prob, ds.source(i));
        const tensor<float> pred = infer::make_mask(prob, static_cast<float>(threshold));
        if (scale_line.empty()) scale_line = scale_note(s.image.shape().w, s.image.shape().h, rule);
        std::optional<tensor<float>> roi;
        fs::path roi_file;
        if (!s.roi.empty()) {  // the data layer's look-up (folders with ROI options): the last file
            roi_file = s.paths.back();
            require_inside(s.roi, roi_file, ds.source(i));
            roi = s.roi;
        } else if (rois) {
            roi_file = rois->find(ds.stem(i));
            if (roi_file.empty())
                throw usage_error("--roi-masks: no region mask for " + ds.source(i) + ": looked for '" + ds.stem(i) +
                                  roi_suffix + "' (.png, .jpg, .jpeg or .bmp) in '" + roi_dir +
                                  "'; give every image one, or leave --roi-masks out");
            roi = read_roi(roi_file, s.mask.shape().h, s.mask.shape().w, s.paths, ds.source(i));
        }
        if (matched.empty())  // the data layer's source() names a region mask it found itself
            matched = ds.source(i) + (roi_file.empty() || !s.roi.empty() ? std::string()
                                                                         : " with region mask '" + roi_file.string() + "'");
        in_regions |= roi.has_value();
        std::string name = ds.stem(i);
        for (char& ch : name)
            if (ch == ',' || ch == '"' || ch == '\n') ch = '_';
        std::string caption;
        if (K >= 2) {
            const bool pool = K - 1 <= max_pooled_classes;
            const class_image_score sc =
                score_class_image(prob, pred, s.mask, roi ? &*roi : nullptr, pool ? &class_pooled : nullptr);
            class_scores->add(sc);
            rows += class_csv_row(ds.stem(i), sc);
            caption = name + "   mean Dice " + fmt(sc.dice()) + "   IoU " + fmt(sc.iou());
        } else {
            const image_score sc = score_image(prob, pred, s.mask, roi ? &*roi : nullptr, pooled);
            scores.add(sc);
            rows += score_csv_row(ds.stem(i), sc);
            caption = name + "   Dice " + fmt(sc.counts.dice()) + "   IoU " + fmt(sc.counts.iou());
        }
        if (a.has("out-probs")) write_probabilities(probs_dir, ds.stem(i), prob, a.has("probs-png16"));
        if (a.has("out-masks"))
            pngs.push_back(io::encode_png(K >= 2 ? class_mask_image(pred, dc.layout, K) : io::from_tensor(pred)));
        if (a.has("overlays") && coloured)
            overlays.push_back(report::class_overlay_png(s.image, s.mask, pred, legend, names, caption,
                                                         polarity_note));
        else if (a.has("overlays"))
            overlays.push_back(report::overlay_png(s.image, s.mask, pred, caption, polarity_note));
    }
    // all inputs are valid: create the output folders and prove them writable, then write
    prepare_file_parent(csv, "--csv");
    if (a.has("summary")) prepare_file_parent(summary, "--summary");
    if (a.has("out-masks")) {
        prepare_folder(masks_dir, "--out-masks");
        for (std::size_t k = 0; k < idx.size(); ++k) {
            const std::vector<unsigned char>& png = pngs[k];
            write_file(masks_dir / (ds.stem(idx[k]) + "_pred.png"),
                       std::string_view(reinterpret_cast<const char*>(png.data()), png.size()), true);
        }
    }
    if (a.has("overlays")) {
        prepare_folder(overlays_dir, "--overlays");
        for (std::size_t k = 0; k < idx.size(); ++k)
            write_file(overlays_dir / (ds.stem(idx[k]) + "_overlay.png"), report::as_string(overlays[k]), true);
    }
    const std::string who = job.members.size() == 1
                                ? nets.front().describe
                                : "ensemble of " + std::to_string(job.members.size()) + " checkpoints";
    std::string table = "unetpp-evaluate: " + who + ", " + std::to_string(idx.size()) + " images (" +
                        subset + (subset == "all" ? "" : ", from the run's split.json") + "), " +
                        (K > 2 ? std::to_string(K) + " classes, each pixel its most probable class"
                               : (K == 2 ? "2 classes, threshold " : "threshold ") + format_real(threshold)) +
                        "\nscale: " +
                        (job.members.size() > 1
                             ? std::string("each member at its own (below), its probabilities mapped back to each "
                                           "image's own size and averaged there; metrics at that resolution")
                         : rule.square > 0 ? "trained at " + std::to_string(scale) + "x" + std::to_string(scale) +
                                               "; each prediction mapped back to its image's own size, metrics there"
                                         : "full size (" + rule.why + "): each image predicted whole by tiling, " +
                                               "metrics at its own resolution") +
                        (job.members.size() > 1 ? std::string() : " (first image: " + scale_line + ")") + "\n";
    if (job.members.size() == 1 && rule.full_size() && pre.size > 0 && !a.has("scale"))
        table += "note: the network was trained on images resized to " + std::to_string(pre.size) + "x" +
                 std::to_string(pre.size) + "; at full size it sees them at another scale (--scale F matches it)\n";
    table += members_text(job.members, nets);
    table += "matched: " + matched + (in_regions ? "; metrics inside the region masks" : "") + "\n";
    table += K >= 2 ? class_scores->str(class_pooled) : scores.str(pooled);
    write_file(csv, rows, overwrite);
    if (a.has("summary")) write_file(summary, table, overwrite);
    std::cout << table;
    return 0;
}

}  // namespace cli
