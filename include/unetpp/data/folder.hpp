#pragma once
/// \file Generic reader: an images folder and a masks folder, matched by file stem, with an
/// optional region-of-interest (ROI) mask per image.
///
///   auto ds = unetpp::data::paired_folders("data/images", "data/masks");                  // a.png + a.png
///   auto ds = unetpp::data::paired_folders("imgs", "masks", {.mask_suffix = "_mask"});   // a.jpg + a_mask.png
///   auto ds = unetpp::data::paired_folders("imgs", "masks", {.roi_dir = "fov", .roi_suffix = "_fov"});
///
/// Every image file (.png, .jpg, .jpeg, .bmp; .dcm, .dicom, .nii, .nii.gz with unetpp::medical) in
/// `images_dir` needs the mask whose stem is the image's stem followed by `mask_suffix` (any of
/// those extensions; the stem of "a.nii.gz" is "a"). A multi-frame DICOM or a NIfTI volume is one
/// sample per frame or slice, 'a.nii.gz#k', with frame or slice k of its mask (io/medical.hpp).
/// An image without a mask is an error naming it (or skipped with a warning, reader_options::on_missing_mask); a mask without
/// an image is reported as a warning; two masks for one image (a.png and a.bmp) are an error.
/// Mask values follow the rule in dataset.hpp (> 127 -> 1; mask_rule::strict for an error).
///
/// Regions of interest: with `roi_dir` or `roi_suffix` set, every image needs the ROI mask whose
/// stem is the image's stem followed by `roi_suffix`, in `roi_dir` (default: the masks folder);
/// pixels outside it (value <= 127) are ignored by the losses and metrics (sample::roi). The look-up
/// is roi_lookup, which unetpp-evaluate uses too.
///
/// Look-ups that could take the wrong file are refused, naming the files: a ROI mask that would
/// also be the ground-truth mask (same folder and suffix); images and masks in one folder without a
/// mask suffix (every image would be its own mask); a file that is both an image's mask and another
/// image's ROI. When images and masks (or ROI masks) share a folder, the files that are some
/// image's mask or ROI are not taken as images.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "dataset.hpp"

namespace unetpp::inline UNETPP_ABI::data {

struct folder_options {
    reader_options reader{};
    std::string mask_suffix{};  ///< mask stem = image stem + mask_suffix
    bool invert_mask = false;   ///< foreground = mask pixels at 0 (e.g. dark-on-white labels)
    int label = -1;             ///< class label given to every sample
    std::string name = "paired_folders";  ///< used in messages
    std::filesystem::path roi_dir{};      ///< folder of the ROI masks (empty: the masks folder, when roi_suffix is set)
    std::string roi_suffix{};             ///< ROI stem = image stem + roi_suffix
    /// Whether ROI masks are looked up (roi_dir or roi_suffix set).
    [[nodiscard]] bool has_roi() const noexcept { return !roi_dir.empty() || !roi_suffix.empty(); }
};

namespace detail {
inline bool same_folder(const std::filesystem::path& a, const std::filesystem::path& b) {
    std::error_code ec;
    const bool eq = std::filesystem::equivalent(a, b, ec);
    return !ec && eq;
}
}  // namespace detail

/// Finds the region-of-interest mask of an image: the file in `dir` whose stem is the image's stem
/// followed by `suffix` (.png, .jpg, .jpeg or .bmp). The folder is listed once, at construction.
class roi_lookup {
public:
    roi_lookup(std::filesystem::path dir, std::string suffix, std::string what = "roi masks")
        : dir_(std::move(dir)), suffix_(std::move(suffix)), what_(std::move(what)) {
        for (const auto& f : detail::list_images(dir_, what_)) {
            const std::string stem = detail::image_stem(f);
            if (auto [it, fresh] = by_stem_.emplace(stem, f); !fresh)
                throw std::runtime_error(what_ + ": two region-of-interest masks with the stem '" + stem + "': " +
                                         detail::quoted(it->second) + " and " + detail::quoted(f) +
                                         "; keep one, so that it is clear which one applies");
        }
    }
    /// The ROI mask of `image`; throws naming the file it looked for when there is none.
    [[nodiscard]] std::filesystem::path operator()(const std::filesystem::path& image) const {
        const auto p = find(detail::image_stem(image));
        if (p.empty())
            throw std::runtime_error(what_ + ": image " + detail::quoted(image) + " has no region-of-interest mask '" +
                                     detail::image_stem(image) + suffix_ + ".png' (or .jpg, .jpeg, .bmp) in " +
                                     detail::quoted(dir_) + "; give every image one, or leave ROI masks out");
        return p;
    }
    /// The ROI mask for an image stem, or an empty path.
    [[nodiscard]] std::filesystem::path find(const std::string& image_stem) const {
        const auto it = by_stem_.find(image_stem + suffix_);
        return it == by_stem_.end() ? std::filesystem::path{} : it->second;
    }
    [[nodiscard]] const std::filesystem::path& folder() const noexcept { return dir_; }
    [[nodiscard]] const std::string& suffix() const noexcept { return suffix_; }

private:
    std::filesystem::path dir_;
    std::string suffix_, what_;
    std::map<std::string, std::filesystem::path> by_stem_;
};

/// Reads images_dir/<stem>.<ext> with masks_dir/<stem><mask_suffix>.<ext>.
inline paired_dataset paired_folders(const std::filesystem::path& images_dir, const std::filesystem::path& masks_dir,
                                     const folder_options& opt = {}) {
    const std::string& what = opt.name;
    const bool roi = opt.has_roi();
    const std::filesystem::path roi_dir = opt.roi_dir.empty() ? masks_dir : opt.roi_dir;
    const bool roi_with_masks = roi && detail::same_folder(roi_dir, masks_dir);
    if (roi_with_masks && opt.roi_suffix == opt.mask_suffix)
        throw std::runtime_error(what + ": the region-of-interest masks would be the ground-truth masks themselves (folder " +
                                 detail::quoted(masks_dir) + ", suffix '" + opt.mask_suffix +
                                 "' for both); give the ROI masks their own folder or suffix");
    const bool images_with_masks = detail::same_folder(images_dir, masks_dir);
    if (images_with_masks && opt.mask_suffix.empty())
        throw std::runtime_error(what + ": images and masks are in one folder " + detail::quoted(images_dir) +
                                 " and no mask suffix is given, so every image would be its own mask; give the "
                                 "mask suffix (e.g. _mask) or put the masks in their own folder");
    std::vector<std::filesystem::path> images = detail::list_images(images_dir, what);
    if (images_with_masks || (roi && detail::same_folder(images_dir, roi_dir))) {
        // files that are another file's mask or ROI are not images
        std::map<std::string, int> stems;
        for (const auto& f : images) stems.emplace(detail::image_stem(f), 0);
        const auto is_companion = [&](const std::string& stem) {
            for (const std::string* sfx : {&opt.mask_suffix, &opt.roi_suffix}) {
                if (sfx->empty() || stem.size() <= sfx->size() || !stem.ends_with(*sfx)) continue;
                if (stems.count(stem.substr(0, stem.size() - sfx->size()))) return true;
            }
            return false;
        };
        std::erase_if(images, [&](const std::filesystem::path& f) { return is_companion(detail::image_stem(f)); });
    }
    if (images.empty()) throw std::runtime_error(what + ": folder " + detail::quoted(images_dir) + " holds no images");
    const auto masks = detail::list_images(masks_dir, what);
    if (masks.empty()) throw std::runtime_error(what + ": folder " + detail::quoted(masks_dir) + " holds no masks");
    std::map<std::string, std::filesystem::path> by_stem;
    for (const auto& m : masks) {
        const std::string stem = detail::image_stem(m);
        if (auto [it, fresh] = by_stem.emplace(stem, m); !fresh)
            throw std::runtime_error(what + ": two masks with the stem '" + stem + "': " + detail::quoted(it->second) +
                                     " and " + detail::quoted(m) + "; keep one");
    }
    std::optional<roi_lookup> rois;
    if (roi) rois.emplace(roi_dir, opt.roi_suffix, what);
    std::vector<entry> entries;
    std::map<std::string, std::filesystem::path> image_stems;
    std::map<std::string, std::filesystem::path> mask_stems, roi_names;  // mask stem / ROI file name -> its image
    for (const auto& img : images) mask_stems.emplace(detail::image_stem(img) + opt.mask_suffix, img);
    if (rois && roi_with_masks)
        for (const auto& img : images) {
            const std::filesystem::path r = rois->find(detail::image_stem(img));
            if (const auto it = r.empty() ? mask_stems.end() : mask_stems.find(detail::image_stem(r)); it != mask_stems.end())
                throw std::runtime_error(what + ": " + detail::quoted(r) + " would be the mask of " +
                                         detail::quoted(it->second) + " and the region-of-interest mask of " +
                                         detail::quoted(img) + "; rename one, or give the ROI masks their own folder");
        }
    for (const auto& img : images) {
        const std::string stem = detail::image_stem(img);
        if (auto [it, fresh] = image_stems.emplace(stem, img); !fresh)
            throw std::runtime_error(what + ": two images with the stem '" + stem + "': " + detail::quoted(it->second) +
                                     " and " + detail::quoted(img) + "; keep one");
        const auto m = by_stem.find(stem + opt.mask_suffix);
        if (m == by_stem.end()) {
            const std::string msg = "image " + detail::quoted(img) + " has no mask '" + stem + opt.mask_suffix +
                                    ".png' (or .jpg, .jpeg, .bmp) in " + detail::quoted(masks_dir);
            if (opt.reader.on_missing_mask == missing_mask::error)
                throw std::runtime_error(what + ": " + msg + " (set on_missing_mask = skip to leave it out)");
            detail::warn(opt.reader, what + ": skipping " + msg);
            continue;
        }
        std::filesystem::path roi_file;
        if (rois) {
            roi_file = (*rois)(img);
            if (roi_with_masks) roi_names.emplace(roi_file.filename().string(), img);
        }
        // A multi-frame DICOM or a NIfTI volume gives one sample per frame / slice, 'file#k', paired
        // with frame / slice k of its mask (and ROI); all of a file's samples share one group, so
        // grouped splits keep a volume in one part (io/medical.hpp).
        const int group = static_cast<int>(entries.size());
        if (const int frames = io::count_images(img); frames > 1) {
            const auto need = [&](const std::filesystem::path& f, const char* role) {
                if (const int n = io::count_images(f); n != frames)
                    throw std::runtime_error(what + ": image " + detail::quoted(img) + " holds " + std::to_string(frames) +
                                             " frames or slices, but its " + role + " " + detail::quoted(f) + " holds " +
                                             std::to_string(n) + "; give it a " + role + " with one per frame or slice");
            };
            need(m->second, "mask");
            if (!roi_file.empty()) need(roi_file, "region-of-interest mask");
            const auto at = [](const std::filesystem::path& f, int k) {
                return f.empty() ? f : std::filesystem::path(f.string() + "#" + std::to_string(k));
            };
            for (int k = 0; k < frames; ++k)
                entries.push_back({at(img, k), {at(m->second, k)}, opt.label, group, opt.invert_mask, at(roi_file, k)});
        } else {
            entries.push_back({img, {m->second}, opt.label, group, opt.invert_mask, roi_file});
        }
        by_stem.erase(m);
    }
    for (const auto& [stem, path] : by_stem) {
        if (roi_names.count(path.filename().string())) continue;  // an image's ROI, not an unmatched mask
        if (images_with_masks && image_stems.count(stem)) continue;  // an image beside its mask
        // With an empty suffix an image and its mask share the stem, so nothing is left over unless unmatched.
        detail::warn(opt.reader, what + ": mask " + detail::quoted(path) + " has no image; ignored");
    }
    if (entries.empty())
        throw std::runtime_error(what + ": no image in " + detail::quoted(images_dir) + " has a mask in " +
                                 detail::quoted(masks_dir));
    return paired_dataset(what, std::move(entries), opt.reader);
}

}  // namespace unetpp::data
