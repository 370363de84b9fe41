// Shared code of the BUSI experiment programs (examples/busi_multitask.cpp,
// examples/busi_hierarchical.cpp): reading BUSI into memory once, the grouped K-fold split, the
// part of a training fold held out for choosing thresholds, mini-batches with augmentation, and
// the result files. Errors follow tools/cli_common.hpp:
// bad input is a cli::usage_error, printed as one line by cli::guarded, exit code 2.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <unetpp/data.hpp>
#include <unetpp/metrics.hpp>
#include <unetpp/threads.hpp>
#include <unetpp/train/atomic_file.hpp>

#include "../tools/cli_common.hpp"

namespace busi_exp {

namespace fs = std::filesystem;
using cli::usage_error;
using namespace unetpp;

/// BUSI resized to size x size and held in memory (about 16 KB per image at 64 x 64).
struct busi_images {
    std::vector<data::sample> samples;  ///< image [1, 1, S, S] in [0, 1], mask [1, 1, S, S] in {0, 1}
    std::vector<int> labels;            ///< index into class_names
    std::vector<int> groups;            ///< near-duplicate group ids (pHash, data::near_duplicate_groups)
    std::vector<std::string> names;     ///< image file stems, e.g. "benign (12)"
    std::vector<std::string> class_names;
};

/// Reads the BUSI classes `classes` (label = position in the list) from `root` (the
/// Dataset_BUSI_with_GT folder or the folder holding it). `max_per_class` > 0 keeps the first
/// images of each class in natural file order (for quick runs and tests). Each image is decoded
/// once: its pHash is taken at full resolution (the same hash data::phashes gives, so the
/// groups are those of unetpp-train --folds), then image and mask are resized (bilinear, nearest).
inline busi_images read_busi(const fs::path& root, const std::vector<std::string>& classes, int size, long max_per_class,
                             bool quiet) {
    cli::require_folder(root, "--data (the BUSI folder, Dataset_BUSI_with_GT)");
    data::reader_options ro;
    ro.channels = 1;
    data::paired_dataset ds = [&] {
        try {
            return data::busi(root, {.reader = ro, .classes = classes});
        } catch (const std::runtime_error& e) {
            throw usage_error(std::string(e.what()) + "; --data must name the Dataset_BUSI_with_GT folder");
        }
    }();
    std::vector<std::size_t> keep;
    std::vector<long> taken(classes.size(), 0);
    for (std::size_t i = 0; i < ds.size(); ++i) {
        const int l = ds.label(i);
        if (max_per_class > 0 && taken[static_cast<std::size_t>(l)] >= max_per_class) continue;
        ++taken[static_cast<std::size_t>(l)];
        keep.push_back(i);
    }
    busi_images out;
    out.class_names = classes;
    std::vector<std::uint64_t> hashes;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i : keep) {
        data::sample s = ds.get(i);  // errors name the files
        hashes.push_back(data::phash(s.image));
        data::resize(s, size, size);
        out.labels.push_back(s.label);
        out.names.push_back(ds.image_path(i).stem().string());
        out.samples.push_back(std::move(s));
    }
    out.groups = data::near_duplicate_groups(hashes);
    if (!quiet) {
        const auto st = data::near_duplicate_stats(out.groups);
        std::cout << "read " << out.samples.size() << " images (";
        for (std::size_t c = 0; c < classes.size(); ++c)
            std::cout << (c ? ", " : "") << taken[c] << " " << classes[c];
        std::cout << ") at " << size << " x " << size << " in "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s; "
                  << st.duplicate_groups << " near-duplicate groups hold " << st.in_duplicates << " images\n";
    }
    return out;
}

/// Grouped, stratified K-fold (data::kfold): near-duplicates never straddle train and test.
inline std::vector<data::fold> make_folds(const busi_images& d, int folds, std::uint64_t seed) {
    if (folds < 2) throw usage_error("--folds must be at least 2");
    try {
        return data::kfold(d.samples.size(), folds, {.seed = seed, .labels = d.labels, .groups = d.groups});
    } catch (const std::exception& e) {
        throw usage_error(std::string(e.what()) + " (" + std::to_string(d.samples.size()) + " images)");
    }
}

/// Which folds to run: --fold all (default) or one index.
inline std::vector<int> folds_to_run(const cli::args& a, int folds) {
    const std::string f = a.str("fold", "all");
    if (f == "all") {
        std::vector<int> v(static_cast<std::size_t>(folds));
        std::iota(v.begin(), v.end(), 0);
        return v;
    }
    const long k = a.integer("fold", 0);
    if (k < 0 || k >= folds)
        throw usage_error("--fold " + f + " is outside 0.." + std::to_string(folds - 1) + " (or use --fold all)");
    return {static_cast<int>(k)};
}

/// Where a program's decision thresholds come from: --threshold-from OTHER|holdout (OTHER is
/// the program's own choice: "train" in busi_multitask, "fixed" in busi_hierarchical) and
/// --holdout F, the fraction of each training fold held out of training for choosing them.
struct threshold_source {
    bool holdout = false;
    double fraction = 0.15;
};
inline threshold_source parse_threshold_source(const cli::args& a, const std::string& other) {
    const std::string tf = a.str("threshold-from", other);
    if (tf != other && tf != "holdout")
        throw usage_error("--threshold-from must be " + other + " or holdout");
    threshold_source t{.holdout = tf == "holdout", .fraction = a.num("holdout", 0.15)};
    if (!(t.fraction > 0 && t.fraction < 0.5)) throw usage_error("--holdout must be in (0, 0.5)");
    return t;
}

/// The images a fold trains on and, with holdout > 0, the part of its training images held out
/// for the thresholds: a grouped (near-duplicates stay together), stratified split of the
/// training fold (data::split_ratio with the run's seed and the fold). The validation fold is
/// not touched.
struct train_parts {
    std::vector<std::size_t> train, holdout;
};
inline train_parts split_training(const busi_images& d, const data::fold& part, int fold, std::uint64_t seed,
                                  double holdout) {
    if (!(holdout > 0)) return {part.train, {}};
    const auto split = data::split_ratio(
        part.train.size(),
        {.seed = seed * 7919 + static_cast<std::uint64_t>(fold),
         .labels = data::pick(d.labels, part.train),
         .groups = data::pick(d.groups, part.train)},
        {.train = 1.0 - holdout, .val = holdout, .test = 0.0});
    train_parts p;
    for (std::size_t i : split.train) p.train.push_back(part.train[i]);
    for (std::size_t i : split.val) p.holdout.push_back(part.train[i]);
    return p;
}

/// Candidate thresholds on `scores`: 0.5 first, then the midpoints between consecutive distinct
/// scores in increasing order (every distinct decision the scores allow, besides the extremes).
inline std::vector<double> threshold_candidates(std::vector<double> scores) {
    std::sort(scores.begin(), scores.end());
    std::vector<double> t{0.5};
    for (std::size_t i = 0; i + 1 < scores.size(); ++i)
        if (scores[i] != scores[i + 1]) t.push_back((scores[i] + scores[i + 1]) / 2);
    return t;
}

/// The threshold on a binary score with the highest accuracy on the given images (the training
/// images or a held-out part of the training fold), scored by the trained network in eval mode
/// without augmentation; the validation fold is not looked at. Candidates: threshold_candidates;
/// among equally accurate ones, the nearest to 0.5.
inline double best_threshold(const std::vector<double>& scores, const std::vector<double>& labels) {
    const auto accuracy = [&](double t) { return metrics::binary_confusion_matrix(scores, labels, t).accuracy(); };
    double best = 0.5, best_acc = accuracy(0.5);
    for (double t : threshold_candidates(scores)) {
        const double a = accuracy(t);
        if (a > best_acc || (a == best_acc && std::abs(t - 0.5) < std::abs(best - 0.5))) {
            best = t;
            best_acc = a;
        }
    }
    return best;
}

/// The augmentation of unetpp-train --augment on: flips and a +-15 degree rotation.
inline data::augment_pipeline make_augment(const std::string& mode) {
    if (mode != "on" && mode != "off") throw usage_error("--augment must be on or off, got '" + mode + "'");
    data::augment_pipeline aug;
    if (mode == "on") aug.add(data::aug::hflip(), 0.5).add(data::aug::vflip(), 0.5).add(data::aug::rotate(15.0), 0.5);
    return aug;
}

/// The order an epoch visits `idx` in (shuffled with derive_seed(seed, epoch, ~0), as
/// data::loader does).
inline std::vector<std::size_t> epoch_order(std::vector<std::size_t> idx, std::uint64_t seed, int epoch) {
    rng r(data::derive_seed(seed, static_cast<std::uint64_t>(epoch), ~std::uint64_t{0}));
    for (std::size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[static_cast<std::size_t>(r.below(i))]);
    return idx;
}

/// Images, masks and labels of samples idx[from, from + n) laid into batch tensors; with an
/// augmentation pipeline each sample is augmented with (seed, epoch, data-set index).
struct batch_tensors {
    tensor<float> images, masks, labels;
};
inline void fill_batch(const busi_images& d, const std::vector<std::size_t>& idx, std::size_t from, std::size_t n,
                       const std::vector<float>& label_values, batch_tensors& b, const data::augment_pipeline* aug,
                       std::uint64_t seed, int epoch) {
    const shape4 is = d.samples[idx[from]].image.shape(), ms = d.samples[idx[from]].mask.shape();
    b.images.resize(shape4{static_cast<int>(n), is.c, is.h, is.w});
    b.masks.resize(shape4{static_cast<int>(n), 1, ms.h, ms.w});
    b.labels.resize(shape4{static_cast<int>(n), 1, 1, 1});
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = idx[from + k];
        const data::sample* s = &d.samples[i];
        data::sample copy;
        if (aug && !aug->empty()) {
            copy = *s;
            aug->apply(copy, seed, static_cast<std::uint64_t>(epoch), i);
            s = &copy;
        }
        std::copy_n(s->image.data(), s->image.size(), b.images.data() + k * s->image.size());
        std::copy_n(s->mask.data(), s->mask.size(), b.masks.data() + k * s->mask.size());
        b.labels[k] = label_values[i];
    }
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline std::string fmt(double v, int digits = 4) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

/// Refuses to overwrite a finished run; creates the folder.
inline void prepare_out(const fs::path& out, const std::string& marker) {
    if (out.empty()) throw usage_error("--out DIR is required (the folder for the result files)");
    if (fs::exists(out / marker))
        throw usage_error("'" + out.string() + "' already holds a finished run (" + marker +
                          "); choose another --out or delete it");
    fs::create_directories(out);
}

inline void write_text(const fs::path& p, const std::string& s) { train::write_file_atomic(p, s); }

/// Common options of both programs.
struct common_options {
    fs::path data, out;
    int size = 128;
    int epochs = 10;
    int batch = 8;
    double lr = 1e-3;
    int folds = 5;
    std::uint64_t seed = 1;
    long max_per_class = 0;
    std::string augment = "off";
    bool quiet = false;
};

inline common_options parse_common(const cli::args& a, int default_size, double default_lr) {
    common_options o;
    unetpp::adapt_threads_to_load();
    if (a.has("threads")) {
        const long t = a.integer("threads", 1);
        if (t < 1) throw usage_error("--threads must be at least 1");
        unetpp::set_num_threads(static_cast<int>(t));
    }
    o.data = a.str("data");
    if (o.data.empty()) throw usage_error("--data PATH is required (the Dataset_BUSI_with_GT folder)");
    o.out = a.str("out");
    if (o.out.empty()) throw usage_error("--out DIR is required (the folder for the result files)");
    o.size = static_cast<int>(a.integer("size", default_size));
    o.epochs = static_cast<int>(a.integer("epochs", 10));
    o.batch = static_cast<int>(a.integer("batch", 8));
    o.lr = a.num("lr", default_lr);
    o.folds = static_cast<int>(a.integer("folds", 5));
    o.seed = static_cast<std::uint64_t>(a.integer("seed", 1));
    o.max_per_class = a.integer("max-per-class", 0);
    o.augment = a.str("augment", "off");
    o.quiet = a.has("quiet");
    if (o.epochs < 1) throw usage_error("--epochs must be at least 1");
    if (o.batch < 1) throw usage_error("--batch must be at least 1");
    if (!(o.lr > 0)) throw usage_error("--lr must be positive");
    if (o.folds < 2) throw usage_error("--folds must be at least 2");
    if (o.max_per_class < 0) throw usage_error("--max-per-class must be >= 0");
    (void)make_augment(o.augment);
    return o;
}

/// Runs `run_fold(parts[k], k)` for every fold k in `which` and writes the results into o.out:
/// summary.md (`summary(results)`) after every fold, so a long run can be watched, then
/// folds.csv (`csv(results)`) once all are done; folds.csv marks a finished run. Prints the
/// summary unless quiet. Returns the results.
template <class Result, class RunFold, class Summary, class Csv>
std::vector<Result> run_folds(const std::vector<data::fold>& parts, const std::vector<int>& which,
                              const common_options& o, RunFold&& run_fold, Summary&& summary, Csv&& csv) {
    std::vector<Result> results;
    for (int f : which) {
        const auto& p = parts[static_cast<std::size_t>(f)];
        if (!o.quiet)
            std::cout << "== fold " << f << "/" << o.folds << ": " << p.train.size() << " train, " << p.test.size()
                      << " validation images" << std::endl;
        results.push_back(run_fold(p, f));
        write_text(o.out / "summary.md", summary(results));
    }
    write_text(o.out / "folds.csv", csv(results));
    if (!o.quiet) std::cout << summary(results);
    return results;
}

}  // namespace busi_exp
