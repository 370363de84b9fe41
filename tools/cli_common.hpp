// Shared code of the unetpp command-line tools: the data set choice, splits, the compiled model
// set, and the error convention (one line on stderr, exit code 2). The option parser is in
// cli_args.hpp, progress during long start-up steps and file errors in plain words in
// cli_messages.hpp, and the output policy (never overwrite a user's file) in output_guard.hpp.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/threads.hpp>
#include <unetpp/train.hpp>

#include "cli_args.hpp"
#include "cli_messages.hpp"
#include "model_record.hpp"
#include "model_set.hpp"
#include "output_guard.hpp"

namespace cli {

namespace fs = std::filesystem;
using namespace unetpp;

// --- data ------------------------------------------------------------------------------------

/// Either an on-disk data set (resized on read) or the synthetic generator, behind one Dataset.
class any_dataset {
public:
    any_dataset(data::paired_dataset d) : v_(std::move(d)) {}
    any_dataset(data::synthetic_dataset d) : v_(std::move(d)) {}
    [[nodiscard]] std::size_t size() const {
        return std::visit([](const auto& d) -> std::size_t { return d.size(); }, v_);
    }
    [[nodiscard]] data::sample get(std::size_t i) const {
        return std::visit([&](const auto& d) { return d.get(i); }, v_);
    }
    [[nodiscard]] int label(std::size_t i) const {
        return std::visit(
            [&](const auto& d) -> int {
                if constexpr (requires { d.label(i); })
                    return d.label(i);
                else
                    return d.get(i).label;
            },
            v_);
    }
    /// The group set by set_groups, else the reader's (one per file, so the slices of a NIfTI
    /// volume or the frames of a DICOM file stay in one part of a split), else i.
    [[nodiscard]] int group(std::size_t i) const {
        if (!groups_.empty()) return groups_[i];
        if (const auto* p = std::get_if<data::paired_dataset>(&v_)) return p->group(i);
        return static_cast<int>(i);
    }
    [[nodiscard]] std::string source(std::size_t i) const {
        return std::visit([&](const auto& d) { return data::describe(d, i); }, v_);
    }
    /// A short name for sample i (the image file name without extension, "vol#k" for slice k of
    /// vol.nii.gz, or "synthetic_<i>").
    [[nodiscard]] std::string stem(std::size_t i) const {
        if (const auto* p = std::get_if<data::paired_dataset>(&v_)) return io::image_name(p->image_path(i));
        return "synthetic_" + std::to_string(i);
    }
    void set_groups(std::vector<int> g) { groups_ = std::move(g); }
    [[nodiscard]] bool on_disk() const noexcept { return std::holds_alternative<data::paired_dataset>(v_); }
    [[nodiscard]] const data::paired_dataset* paired() const { return std::get_if<data::paired_dataset>(&v_); }

private:
    std::variant<data::paired_dataset, data::synthetic_dataset> v_;
    std::vector<int> groups_;
};

struct data_choice {
    std::string type = "synthetic";
    fs::path data, masks;
    std::string mask_suffix;
    int size = 64;
    long synthetic_count = 48;
    std::uint64_t seed = 1;
    /// --split-seed: the seed of the train / validation / test split (default: seed), so that runs
    /// with several --seed (weights, batch order) can share one split
    std::uint64_t split_seed = 1;
    /// --group-hash resized: BUSI's near-duplicate groups from the images at --size, as
    /// unetpp-train grouped them before the option (so that its splits changed with --size);
    /// default: from the image files at their own size, the same split at every --size
    bool group_hash_resized = false;
    /// false: images and masks at their own size (unetpp-evaluate scores there); synthetic data
    /// is generated at `size` either way
    bool resize = true;
    fs::path roi_masks;      ///< --roi-masks: folder of region-of-interest masks (read with folders data)
    std::string roi_suffix;  ///< --roi-suffix: ROI stem = image stem + suffix
    bool quiet = false;      ///< no progress output during start-up steps
    class_layout layout;     ///< --in-channels, --classes, --mask-encoding, --palette
    /// Whether ROI masks are looked up.
    [[nodiscard]] bool roi() const noexcept { return !roi_masks.empty() || !roi_suffix.empty(); }
};

inline void require_folder(const fs::path& p, const std::string& what) {
    std::error_code ec;
    if (p.empty()) throw usage_error(what + " is required (see --help)");
    if (!fs::exists(p, ec))
        throw usage_error(what + " '" + p.string() + "' does not exist; check the path");
    if (!fs::is_directory(p, ec)) throw usage_error(what + " '" + p.string() + "' is not a folder");
}

/// Opens the data set the options name; images resized to size x size (bilinear; masks nearest)
/// unless c.resize is false.
inline any_dataset open_dataset(const data_choice& c) {
    if (c.size < range::size.min || c.size > range::size.max)
        throw usage_error("--size " + std::to_string(c.size) + " is out of range; use " + describe(range::size));
    data::reader_options ro;
    ro.channels = c.layout.channels;
    ro.mask = c.layout.encoding == data::mask_encoding::labels    ? data::mask_rule::labels(c.layout.classes)
              : c.layout.encoding == data::mask_encoding::palette ? data::mask_rule::palette(c.layout.palette)
                                                                  : data::mask_rule::binary();
    const int s = c.size;
    if (c.resize) ro.preprocess = [s](data::sample& x) { data::resize(x, s, s); };
    if (c.type == "synthetic") {
        if (c.layout.classes > 5)
            throw usage_error("--classes " + std::to_string(c.layout.classes) +
                              " with --data-type synthetic: the synthetic data has 1 to 5 classes; use 1 to 5, or "
                              "your own data (--data-type folders)");
        return any_dataset(data::synthetic_dataset(
            static_cast<std::size_t>(c.synthetic_count),
            {.size = c.size, .seed = c.seed, .classes = c.layout.classes, .channels = c.layout.channels}));
    }
    if (c.layout.classes > 2 && (c.type == "busi" || c.type == "isbi2012"))
        throw usage_error("--classes " + std::to_string(c.layout.classes) + " with --data-type " + c.type +
                          ": its masks hold one foreground class; use --classes 1 (or 2)");
    if (c.type == "busi") {
        require_folder(c.data, "--data (the BUSI folder)");
        auto ds = data::busi(c.data, {.reader = ro});
        return any_dataset(std::move(ds));
    }
    if (c.type == "isbi2012") {
        require_folder(c.data, "--data (the ISBI 2012 folder)");
        return any_dataset(data::isbi2012(c.data, {.reader = ro}));
    }
    if (c.type == "folders") {
        require_folder(c.data, "--data (the images folder)");
        require_folder(c.masks, "--masks (the masks folder)");
        if (!c.roi_masks.empty()) require_folder(c.roi_masks, "--roi-masks (the region-of-interest masks folder)");
        return any_dataset(data::paired_folders(
            c.data, c.masks,
            {.reader = ro, .mask_suffix = c.mask_suffix, .roi_dir = c.roi_masks, .roi_suffix = c.roi_suffix}));
    }
    throw usage_error("--data-type '" + c.type + "' is not one of busi, isbi2012, folders, synthetic");
}

/// --in-channels, --classes, --mask-encoding and --palette, checked together (check_layout).
/// Defaults: 1 channel, 1 class; masks binary for 1 or 2 classes, labels for more (palette when
/// --palette is given).
inline class_layout layout_from(const args& a, const std::string& data_type) {
    class_layout l;
    l.channels = static_cast<int>(a.integer("in-channels", 1, range::in_channels));
    l.classes = static_cast<int>(a.integer("classes", 1, range::classes));
    if (a.has("palette")) {
        try {
            l.palette = data::parse_palette(a.str("palette"));
        } catch (const std::invalid_argument& e) {
            throw usage_error("--palette '" + a.str("palette") + "': " + e.what());
        }
    }
    const std::string fallback = a.has("palette") ? "palette" : l.classes > 2 ? "labels" : "binary";
    l.encoding = data::parse_mask_encoding(a.choice("mask-encoding", fallback, {"binary", "labels", "palette"}));
    if (l.encoding == data::mask_encoding::palette && !a.has("palette"))
        throw usage_error("--mask-encoding palette needs --palette with one colour per class, e.g. "
                          "--palette '0,0,0;255,0,0;0,255,0' (class 0 first)");
    if (a.has("palette") && l.encoding != data::mask_encoding::palette)
        throw usage_error("--palette is for --mask-encoding palette, not " + a.str("mask-encoding"));
    // the synthetic data makes its own masks: class indices for 3 or more classes, 0/1 otherwise
    if (data_type == "synthetic" && a.has("mask-encoding"))
        throw usage_error("--mask-encoding is for masks read from files; the synthetic data makes its own");
    if (data_type == "synthetic") l.encoding = l.classes > 2 ? data::mask_encoding::labels : data::mask_encoding::binary;
    check_layout(l, "--");
    return l;
}

inline data_choice data_from(const args& a) {
    data_choice c;
    c.type = a.choice("data-type", "synthetic", {"busi", "isbi2012", "folders", "synthetic"});
    c.data = a.str("data");
    c.masks = a.str("masks");
    c.mask_suffix = a.str("mask-suffix");
    c.size = static_cast<int>(a.integer("size", c.type == "synthetic" ? 64 : 128, range::size));
    c.synthetic_count = a.integer("synthetic-count", 48, range::synthetic_count);
    c.seed = static_cast<std::uint64_t>(a.integer("seed", 1, range::seed));
    c.split_seed = static_cast<std::uint64_t>(a.integer("split-seed", static_cast<std::int64_t>(c.seed), range::seed));
    c.group_hash_resized = a.choice("group-hash", "files", {"files", "resized"}) == "resized";
    if (a.has("group-hash") && c.type != "busi")
        throw usage_error("--group-hash chooses how BUSI's near-duplicate images are found; --data-type " + c.type +
                          " is not grouped by hash: drop it");
    if (a.has("roi-masks") && a.str("roi-masks").empty()) throw usage_error("--roi-masks needs a folder name");
    c.roi_masks = a.str("roi-masks");
    c.roi_suffix = a.str("roi-suffix");
    c.quiet = a.has("quiet");
    c.layout = layout_from(a, c.type);
    return c;
}

/// "matched 12 images to masks, e.g. 'img/a.png' -> mask 'masks/a_mask.png', ROI 'fov/a_fov.png'":
/// what the file look-up took, so that a wrong rule (a ROI mask taken for ground truth) is seen
/// at once. Empty for data that is not read from folders.
inline std::string matched_text(const any_dataset& ds) {
    const data::paired_dataset* p = ds.paired();
    if (!p || p->entries().empty()) return {};
    const data::entry& e = p->entries().front();
    std::string m = "matched " + std::to_string(p->size()) + " image" + (p->size() == 1 ? "" : "s") +
                    " to their masks, e.g. '" + e.image.string() + "'";
    for (std::size_t i = 0; i < e.masks.size(); ++i) m += (i ? " + '" : " -> mask '") + e.masks[i].string() + "'";
    if (!e.roi.empty()) m += ", region of interest '" + e.roi.string() + "'";
    return m;
}

/// Decodes sample 0 so an unreadable file or a bad mask is reported before anything is written.
inline void probe(const any_dataset& ds) {
    if (ds.size() == 0) throw usage_error("the data set is empty");
    (void)ds.get(0);
}

/// Train / validation / test indices: grouped k-fold when folds > 0 (fold k is the validation
/// part, nothing is held out), else a grouped, stratified ratio split; `seed` is the split seed
/// (--split-seed, which defaults to --seed). BUSI is grouped by
/// near-duplicate image hashes so copies of one scan never straddle parts.
struct split_choice {
    std::vector<std::size_t> train, val, test;
};

/// --folds K (2..100; absent: no folds) and --fold k (0..K-1; absent: 0), checked together
/// before any data is read.
inline std::pair<long, long> folds_from(const args& a) {
    const long folds = static_cast<long>(a.integer("folds", 0, range::folds));
    const long fold = static_cast<long>(a.integer("fold", 0, range::fold));
    if (a.has("fold") && !a.has("folds")) throw usage_error("--fold needs --folds K (the number of folds)");
    if (folds > 0 && fold >= folds)
        throw usage_error("--fold " + std::to_string(fold) + " is out of range; use 0 to " + std::to_string(folds - 1) +
                          " (--folds " + std::to_string(folds) + ")");
    return {folds, fold};
}

inline split_choice make_split(any_dataset& ds, const args& a, const data_choice& dc, bool quiet = false) {
    if (dc.type == "busi") {
        step_progress progress("hashing " + std::to_string(ds.size()) + " images to group near-duplicates", quiet);
        // the image files at their own size (one split whatever --size), or the images as
        // resized (--group-hash resized: the splits of runs from before the option)
        const data::paired_dataset* files = ds.paired();
        ds.set_groups(data::near_duplicate_groups(dc.group_hash_resized || !files ? data::phashes(ds, std::ref(progress))
                                                                                  : data::phashes(*files, std::ref(progress))));
    }
    const data::split_options so{.seed = dc.split_seed, .labels = data::labels_of(ds), .groups = data::groups_of(ds)};
    split_choice out;
    const auto [folds, fold] = folds_from(a);
    if (folds > 0) {
        const auto f = data::kfold(ds.size(), static_cast<int>(folds), so);
        out.train = f[static_cast<std::size_t>(fold)].train;
        out.val = f[static_cast<std::size_t>(fold)].test;
        return out;
    }
    const split_fractions r = parse_split(a.str("split", "0.8,0.1,0.1"));
    const auto p = data::split_ratio(ds.size(), so, {r.train, r.val, r.test});
    out.train = p.train;
    out.val = p.val;
    out.test = p.test;
    return out;
}

// --- output ----------------------------------------------------------------------------------

/// `s` as the inside of a JSON string (io::json_quote without the quotes).
inline std::string json_escape(const std::string& s) {
    const std::string q = io::json_quote(s);
    return q.substr(1, q.size() - 2);
}

/// An error as the programs report it: the exit code (2: bad input; 3: diverged) and the text
/// (what went wrong and what to do).
struct error_report {
    int code = 2;
    std::string text;
};

/// The report of the exception `e` (one that a program's body let out).
inline error_report describe_error(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const train::training_diverged& x) {
        return {3, x.what()};
    } catch (const fs::filesystem_error& x) {
        return {2, file_error_text(x)};
    } catch (const std::exception& x) {
        return {2, with_file_advice(x.what())};
    }
}

/// Runs body(); maps errors to one stderr line and exit codes (2: bad input; 3: diverged).
inline int guarded(const char* tool, const std::function<int()>& body) {
    try {
        return body();
    } catch (const std::exception&) {
        const error_report r = describe_error(std::current_exception());
        std::cerr << tool << ": error: " << r.text << '\n';
        return r.code;
    }
}

}  // namespace cli
