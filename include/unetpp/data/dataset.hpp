#pragma once
/// \file Samples, the `Dataset` concept and the lazy image/mask reader shared by every on-disk data set.
///
///   auto ds = unetpp::data::busi("/data/busi");          // keeps paths, decodes nothing yet
///   unetpp::data::sample s = ds.get(0);                    // decodes 'benign (1).png' and its masks
///   // s.image [1, C, H, W] in [0, 1], s.mask [1, 1, H, W] in {0, 1}, s.label, s.group, s.paths
///
///   opts.mask = unetpp::data::mask_rule::labels(3);                          // masks hold 0, 1, 2
///   opts.mask = unetpp::data::mask_rule::palette(data::parse_palette("0,0,0;255,0,0;0,255,0"));
///
/// A data set is anything with `size()` and `get(i) -> sample` (see `Dataset`). Optional members
/// that the splits, the loader and the near-duplicate grouping use when present, so that they need
/// not decode images: `label(i)`, `group(i)`, `source(i)` (text naming the files) and
/// `image_path(i)`.
///
/// Mask rule (every reader), by `mask_rule::encoding` (mask_encoding.hpp):
///  - binary (the default): a mask file is read with its stored channels; a pixel's value is the
///    largest of its colour channels (alpha ignored); the pixel is foreground when value > 127
///    (`mask_rule::threshold`). With `mask_rule::strict` any value other than 0 and 255 is an error
///    naming the file and the pixel. Several mask files of one image are merged with a logical OR.
///  - labels (`mask_rule::labels(N)`): the mask is a label image; each pixel's value is its class
///    index, stored as a float 0..N-1. The file is an 8-bit PNG or BMP, gray (alpha ignored) or
///    colour with equal channels; a value >= N is an error naming the file, the pixel, the value and
///    the --classes that would hold it (N = 0: values are not checked).
///  - palette (`mask_rule::palette(colours)`): the mask is a colour image (gray is read as equal
///    channels, alpha ignored); a pixel whose colour is palette entry k is class k; a colour in no
///    entry is an error naming the file, the pixel, the colour and the palette.
///  Label and palette masks must be lossless and hold the stored values: JPEG (lossy), 16-bit PNG
///  (io::read_image rounds it to 8 bits) and DICOM / NIfTI (io/medical.hpp maps values to 0..255
///  by window) are refused with a message saying what to save instead. They take one mask file per
///  image (several would need a merge rule; merge them into one file) and no `entry::invert_mask`;
///  both are refused when the data set is built. An image without a mask file has mask 0
///  (background) under every encoding.
/// A region-of-interest mask always follows the binary rule (threshold and strict of the mask rule).
/// A mask whose size differs from its image's is always an error naming both files.
///
/// Streaming: readers keep only paths; each `get(i)` decodes from disk, so a data set larger
/// than memory works. `reader_options::cache` keeps decoded samples (after `preprocess`, so a
/// cache of 256x256 resized samples stays small). `get` is safe to call from several threads.

#include <algorithm>
#include <cctype>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../io/image.hpp"
#include "../tensor/tensor.hpp"
#include "mask_encoding.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// One training example.
struct sample {
    tensor<float> image;  ///< [1, C, H, W], values in [0, 1] as decoded (pixel / 255)
    tensor<float> mask;   ///< [1, 1, H, W], 0 or 1 (binary), or class indices 0..N-1 (label and palette masks)
    /// [1, 1, H, W], 1 inside the region of interest (e.g. a field-of-view mask), 0 outside;
    /// empty: every pixel counts. Losses and metrics ignore the pixels outside it; geometric
    /// transforms move it with the mask (nearest neighbour).
    tensor<float> roi;
    int label = -1;       ///< class index (-1: none)
    int group = -1;       ///< group id for grouped splits (-1: none)
    std::vector<std::filesystem::path> paths;  ///< image file first, then its mask files (then its ROI file)

    /// The files as one quoted string, for messages ("'a.png' + 'a_mask.png'"), or "<generated>".
    [[nodiscard]] std::string source() const {
        if (paths.empty()) return "<generated>";
        std::string s;
        for (std::size_t i = 0; i < paths.size(); ++i) s += (i ? " + '" : "'") + paths[i].string() + "'";
        return s;
    }
};

/// A random-access data set of samples.
template <class D>
concept Dataset = requires(const D& d, std::size_t i) {
    { d.size() } -> std::convertible_to<std::size_t>;
    { d.get(i) } -> std::convertible_to<sample>;
};

/// Text naming sample i's files (source(i) when the data set has it, otherwise "sample i").
template <Dataset D>
[[nodiscard]] std::string describe(const D& d, std::size_t i) {
    if constexpr (requires { { d.source(i) } -> std::convertible_to<std::string>; })
        return d.source(i);
    else
        return "sample " + std::to_string(i);
}

/// Class labels of all samples (label(i) when available, otherwise each sample is decoded).
template <Dataset D>
[[nodiscard]] std::vector<int> labels_of(const D& d) {
    std::vector<int> out(d.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        if constexpr (requires { { d.label(i) } -> std::convertible_to<int>; })
            out[i] = d.label(i);
        else
            out[i] = d.get(i).label;
    }
    return out;
}

/// Group ids of all samples (group(i) when available, otherwise each sample is decoded).
template <Dataset D>
[[nodiscard]] std::vector<int> groups_of(const D& d) {
    std::vector<int> out(d.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        if constexpr (requires { { d.group(i) } -> std::convertible_to<int>; })
            out[i] = d.group(i);
        else
            out[i] = d.get(i).group;
    }
    return out;
}

/// What a reader does with an image that has no mask file.
enum class missing_mask {
    error,  ///< throw, naming the image file (default)
    skip,   ///< leave the image out and report it through reader_options::warn
};

/// Options shared by every reader.
struct reader_options {
    int channels = 1;  ///< channels of the image tensor: 1 gray, 3 RGB, 4 RGBA, 0 as stored (see io::read_image)
    mask_rule mask{};
    missing_mask on_missing_mask = missing_mask::error;
    bool cache = false;                             ///< keep decoded (and preprocessed) samples in memory
    std::function<void(sample&)> preprocess{};       ///< applied after decoding, before caching (e.g. resize)
    std::function<void(const std::string&)> warn{};  ///< warnings; default: one line on std::cerr
};

/// One sample on disk.
struct entry {
    std::filesystem::path image;
    std::vector<std::filesystem::path> masks;  ///< binary: OR-merged; labels, palette: at most one; none = empty mask
    int label = -1;
    int group = -1;
    bool invert_mask = false;  ///< foreground = mask pixels that the rule says are 0
    std::filesystem::path roi{};  ///< region-of-interest mask (binary rule, with the masks' threshold; empty: none)
};

namespace detail {

inline void warn(const reader_options& o, const std::string& msg) {
    if (o.warn)
        o.warn(msg);
    else
        std::cerr << "unetpp: warning: " << msg << '\n';
}

inline std::string quoted(const std::filesystem::path& p) {
    std::string s = "'";  // appended, not "'" + ...: GCC 12 warns (-Wrestrict) on that form when inlined
    s += p.string();
    s += '\'';
    return s;
}

inline std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

/// True for the file extensions the image reader decodes (.png, .jpg, .jpeg, .bmp, and DICOM
/// .dcm / .dicom and NIfTI .nii / .nii.gz, read through io/medical.hpp; any case).
inline bool is_image_file(const std::filesystem::path& p) {
    const std::string e = lower(p.extension().string());
    return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".dcm" || e == ".dicom" ||
           e == ".nii" || (e == ".gz" && lower(p.stem().extension().string()) == ".nii");
}

/// A file's stem for matching images with masks: the name without its extension, and without
/// both parts of ".nii.gz" ("brain.nii.gz" -> "brain").
inline std::string image_stem(const std::filesystem::path& p) {
    std::string stem = p.stem().string();
    if (lower(p.extension().string()) == ".gz" && lower(p.stem().extension().string()) == ".nii")
        stem = p.stem().stem().string();
    return stem;
}

/// "Natural" order: digit runs compare by value, so 'benign (2)' sorts before 'benign (10)'.
inline bool natural_less(std::string_view a, std::string_view b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
        const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
        if (da && db) {
            std::size_t i2 = i, j2 = j;
            while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
            while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
            std::string_view na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
            while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
            while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
            if (na.size() != nb.size()) return na.size() < nb.size();
            if (na != nb) return na < nb;
            i = i2, j = j2;
        } else {
            if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
            ++i, ++j;
        }
    }
    return a.size() - i < b.size() - j;
}

/// Regular image files directly in `dir`, in natural order of their names. Throws naming the
/// folder when it is missing, not a folder, or unreadable.
inline std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir, std::string_view what) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto st = fs::status(dir, ec);
    if (!fs::exists(st))
        throw std::runtime_error(std::string(what) + ": folder " + quoted(dir) + " does not exist");
    if (!fs::is_directory(st))
        throw std::runtime_error(std::string(what) + ": " + quoted(dir) + " is not a folder");
    std::vector<fs::path> files;
    fs::directory_iterator it(dir, ec);
    if (ec) throw std::runtime_error(std::string(what) + ": cannot list folder " + quoted(dir) + ": " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) throw std::runtime_error(std::string(what) + ": error listing " + quoted(dir) + ": " + ec.message());
        const auto& p = it->path();
        if (p.filename().string().starts_with('.')) continue;  // hidden files (.DS_Store, ...)
        std::error_code e2;
        if (!it->is_regular_file(e2) || !is_image_file(p)) continue;
        files.push_back(p);
    }
    std::sort(files.begin(), files.end(),
              [](const fs::path& x, const fs::path& y) { return natural_less(x.filename().string(), y.filename().string()); });
    return files;
}

inline std::string size_str(int w, int h) { return std::to_string(w) + " x " + std::to_string(h); }

/// Why `mask` cannot hold label or palette values as stored, from its name ("" when it can): JPEG
/// is lossy, and DICOM / NIfTI values are mapped to 0..255 by window (io/medical.hpp). A frame or
/// slice suffix ('a.nii.gz#3') is ignored.
inline std::string class_mask_file_problem(const std::filesystem::path& mask) {
    std::string name = lower(mask.filename().string());
    if (const auto hash = name.rfind('#'); hash != std::string::npos) name.resize(hash);
    if (name.ends_with(".jpg") || name.ends_with(".jpeg"))
        return "is a JPEG file; JPEG compression changes pixel values, so label and palette masks must be "
               "lossless: save it as PNG";
    if (name.ends_with(".dcm") || name.ends_with(".dicom") || name.ends_with(".nii") || name.ends_with(".nii.gz"))
        return "is a DICOM or NIfTI file; their reader maps stored values to 0..255 by window, so class indices "
               "are lost: export the label slices as 8-bit PNGs (values 0 to N-1)";
    return {};
}

/// Checks an image's mask files against a label or palette rule before anything is decoded: no
/// inverted mask, at most one mask file, a lossless mask format.
inline void check_class_masks(const std::filesystem::path& image, const std::vector<std::filesystem::path>& masks,
                              bool invert, const mask_rule& rule, std::string_view what) {
    if (rule.encoding == mask_encoding::binary) return;
    const std::string enc(to_string(rule.encoding));
    if (invert)
        throw std::runtime_error(std::string(what) + ": image " + quoted(image) +
                                 " asks for an inverted mask (invert_mask), which only binary masks have; with " + enc +
                                 " masks turn the inversion off (for ISBI 2012: isbi_foreground::cell_interior)");
    if (masks.size() > 1) {
        std::string files;
        for (const auto& m : masks) {
            files += files.empty() ? "'" : ", '";
            files += m.string();
            files += '\'';
        }
        throw std::runtime_error(std::string(what) + ": image " + quoted(image) + " has " +
                                 std::to_string(masks.size()) + " mask files (" + files + "); " + enc +
                                 " masks are read from one file per image: merge them into one mask file");
    }
    for (const auto& m : masks)
        if (const std::string why = class_mask_file_problem(m); !why.empty())
            throw std::runtime_error(std::string(what) + ": mask " + quoted(m) + " of image " + quoted(image) + " " +
                                     why);
}

}  // namespace detail

/// Whether the readers decode a file of this name (.png, .jpg, .jpeg, .bmp; .dcm, .dicom, .nii,
/// .nii.gz through io/medical.hpp): how folders are listed, for programs that list their own.
using detail::is_image_file;

/// Reads masks with `rule` into `out` [1, 1, H, W] (out must be zeroed and of the image's size;
/// `image_path` is named in size-mismatch messages). Binary masks are OR-merged over the files;
/// label and palette masks take one file (see the file comment).
inline void read_masks_into(tensor<float>& out, const std::vector<std::filesystem::path>& masks,
                            const std::filesystem::path& image_path, const mask_rule& rule, std::string_view what) {
    const int H = out.shape().h, W = out.shape().w;
    if (rule.encoding != mask_encoding::binary)
        detail::check_class_masks(image_path, masks, false, rule, what);
    for (const auto& mp : masks) {
        const io::image m = io::read_image(mp, 0);
        if (m.width != W || m.height != H)
            throw std::runtime_error(std::string(what) + ": image " + detail::quoted(image_path) + " is " +
                                     detail::size_str(W, H) + " pixels but its mask " + detail::quoted(mp) + " is " +
                                     detail::size_str(m.width, m.height) + "; they must be the same size");
        if (rule.encoding != mask_encoding::binary) {
            if (m.source_bits != 8)
                throw std::runtime_error(std::string(what) + ": mask " + detail::quoted(mp) + " is a " +
                                         std::to_string(m.source_bits) +
                                         "-bit PNG; io::read_image rounds 16-bit files to 8 bits, which would turn "
                                         "class indices into other values: save it as an 8-bit PNG (class indices 0 to 255)");
            decode_class_mask(m.pixels.data(), m.width, m.height, m.channels, rule, out.data(), what, mp.string());
            continue;
        }
        const int colour = (m.channels == 2 || m.channels == 4) ? m.channels - 1 : m.channels;
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                int v = 0;
                for (int c = 0; c < colour; ++c) v = std::max<int>(v, m.at(x, y, c));
                if (rule.strict && v != 0 && v != 255)
                    throw std::runtime_error(std::string(what) + ": mask " + detail::quoted(mp) + " has value " +
                                             std::to_string(v) + " at pixel (" + std::to_string(x) + ", " +
                                             std::to_string(y) + "); masks must hold only 0 and 255 "
                                             "(mask_rule::strict is set; unset it to threshold at > " +
                                             std::to_string(rule.threshold) + ")");
                if (v > rule.threshold) out(0, 0, y, x) = 1.0f;
            }
    }
}

/// A list of image (+ mask) files read lazily: the type every on-disk reader returns.
class paired_dataset {
public:
    paired_dataset() = default;
    paired_dataset(std::string name, std::vector<entry> entries, reader_options opt,
                   std::vector<std::string> class_names = {})
        : name_(std::move(name)), entries_(std::move(entries)), opt_(std::move(opt)),
          class_names_(std::move(class_names)), cache_(std::make_shared<cache_state>()) {
        if (opt_.channels != 0 && opt_.channels != 1 && opt_.channels != 3 && opt_.channels != 4)
            throw std::invalid_argument(name_ + ": reader_options::channels must be 0, 1, 3 or 4, got " +
                                        std::to_string(opt_.channels));
        if (entries_.empty()) throw std::runtime_error(name_ + ": the data set is empty");
        opt_.mask.check();
        for (const entry& e : entries_) detail::check_class_masks(e.image, e.masks, e.invert_mask, opt_.mask, name_);
        cache_->slots.resize(opt_.cache ? entries_.size() : 0);
    }

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] int label(std::size_t i) const { return at(i).label; }
    [[nodiscard]] int group(std::size_t i) const { return at(i).group; }
    [[nodiscard]] const std::filesystem::path& image_path(std::size_t i) const { return at(i).image; }
    [[nodiscard]] std::string source(std::size_t i) const {
        const entry& e = at(i);
        std::string s = detail::quoted(e.image);
        for (const auto& m : e.masks) s += " + " + detail::quoted(m);
        if (!e.roi.empty()) s += " (ROI " + detail::quoted(e.roi) + ")";
        return s;
    }
    [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }
    [[nodiscard]] const std::vector<std::string>& class_names() const noexcept { return class_names_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const reader_options& options() const noexcept { return opt_; }

    /// Replaces the group ids (e.g. with near_duplicate_groups(...)); one per sample.
    void set_groups(const std::vector<int>& groups) {
        if (groups.size() != entries_.size())
            throw std::invalid_argument(name_ + ": set_groups got " + std::to_string(groups.size()) +
                                        " group ids for " + std::to_string(entries_.size()) + " samples");
        for (std::size_t i = 0; i < groups.size(); ++i) entries_[i].group = groups[i];
    }

    /// Sample i, decoded from disk (or from the cache). Errors name the files.
    [[nodiscard]] sample get(std::size_t i) const {
        const entry& e = at(i);
        if (opt_.cache) {
            std::shared_ptr<const sample> hit;
            {
                std::lock_guard<std::mutex> lock(cache_->mu);
                hit = cache_->slots[i];
            }
            if (!hit) {
                auto fresh = std::make_shared<const sample>(load(e));
                std::lock_guard<std::mutex> lock(cache_->mu);
                if (!cache_->slots[i]) cache_->slots[i] = fresh;
                hit = cache_->slots[i];
            }
            sample s = *hit;
            s.group = e.group;
            return s;
        }
        return load(e);
    }

    /// Decodes every sample once and throws the first error (a check before a long training run).
    void validate() const {
        for (std::size_t i = 0; i < size(); ++i) (void)get(i);
    }

private:
    struct cache_state {
        std::mutex mu;
        std::vector<std::shared_ptr<const sample>> slots;
    };

    const entry& at(std::size_t i) const {
        if (i >= entries_.size())
            throw std::out_of_range(name_ + ": sample " + std::to_string(i) + " outside a data set of " +
                                    std::to_string(entries_.size()));
        return entries_[i];
    }

    sample load(const entry& e) const {
        sample s;
        s.image = io::to_tensor(io::read_image(e.image, opt_.channels));
        const shape4 is = s.image.shape();
        s.mask = tensor<float>(shape4{1, 1, is.h, is.w});
        read_masks_into(s.mask, e.masks, e.image, opt_.mask, name_);
        if (e.invert_mask)
            for (float& v : s.mask) v = 1.0f - v;
        if (!e.roi.empty()) {
            s.roi = tensor<float>(shape4{1, 1, is.h, is.w});
            read_masks_into(s.roi, {e.roi}, e.image, mask_rule::binary(opt_.mask.threshold, opt_.mask.strict),
                            name_ + " (region-of-interest mask)");
        }
        s.label = e.label;
        s.group = e.group;
        s.paths.reserve(1 + e.masks.size());
        s.paths.push_back(e.image);
        for (const auto& m : e.masks) s.paths.push_back(m);
        if (!e.roi.empty()) s.paths.push_back(e.roi);
        if (opt_.preprocess) opt_.preprocess(s);
        return s;
    }

    std::string name_ = "data set";
    std::vector<entry> entries_;
    reader_options opt_;
    std::vector<std::string> class_names_;
    std::shared_ptr<cache_state> cache_ = std::make_shared<cache_state>();
};

/// A data set seen through a function applied to every sample (e.g. a resize).
template <Dataset D>
class mapped_dataset {
public:
    mapped_dataset(const D& base, std::function<void(sample&)> fn) : base_(&base), fn_(std::move(fn)) {}
    [[nodiscard]] std::size_t size() const { return base_->size(); }
    [[nodiscard]] sample get(std::size_t i) const {
        sample s = base_->get(i);
        if (fn_) fn_(s);
        return s;
    }
    [[nodiscard]] std::string source(std::size_t i) const { return describe(*base_, i); }
    [[nodiscard]] int label(std::size_t i) const { return labels_of_one(i); }
    [[nodiscard]] int group(std::size_t i) const {
        if constexpr (requires { base_->group(i); }) return base_->group(i);
        else return base_->get(i).group;
    }

private:
    int labels_of_one(std::size_t i) const {
        if constexpr (requires { base_->label(i); }) return base_->label(i);
        else return base_->get(i).label;
    }
    const D* base_;
    std::function<void(sample&)> fn_;
};

/// The samples `indices` of a data set (a train or test part), renumbered 0..n-1.
template <Dataset D>
class subset_dataset {
public:
    subset_dataset(const D& base, std::vector<std::size_t> indices) : base_(&base), idx_(std::move(indices)) {
        for (std::size_t k : idx_)
            if (k >= base.size())
                throw std::out_of_range("subset: index " + std::to_string(k) + " outside a data set of " +
                                        std::to_string(base.size()));
    }
    [[nodiscard]] std::size_t size() const noexcept { return idx_.size(); }
    [[nodiscard]] sample get(std::size_t i) const { return base_->get(idx_.at(i)); }
    [[nodiscard]] std::string source(std::size_t i) const { return describe(*base_, idx_.at(i)); }
    [[nodiscard]] int label(std::size_t i) const {
        if constexpr (requires { base_->label(i); }) return base_->label(idx_.at(i));
        else return base_->get(idx_.at(i)).label;
    }
    [[nodiscard]] int group(std::size_t i) const {
        if constexpr (requires { base_->group(i); }) return base_->group(idx_.at(i));
        else return base_->get(idx_.at(i)).group;
    }
    [[nodiscard]] const std::vector<std::size_t>& indices() const noexcept { return idx_; }

private:
    const D* base_;
    std::vector<std::size_t> idx_;
};

}  // namespace unetpp::data
