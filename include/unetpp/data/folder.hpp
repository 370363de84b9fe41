#pragma once
/// \file Generic reader: an images folder and a masks folder, matched by file stem.
///
///   auto ds = unetpp::data::paired_folders("data/images", "data/masks");                  // a.png + a.png
///   auto ds = unetpp::data::paired_folders("imgs", "masks", {.mask_suffix = "_mask"});   // a.jpg + a_mask.png
///
/// Every image file (.png, .jpg, .jpeg, .bmp) in `images_dir` needs the mask whose stem is the
/// image's stem followed by `mask_suffix` (any of those extensions). An image without one is an
/// error naming it (or skipped with a warning, reader_options::on_missing_mask); a mask without
/// an image is reported as a warning; two masks for one image (a.png and a.bmp) are an error.
/// Mask values follow the rule in dataset.hpp (> 127 -> 1; mask_rule::strict for an error).

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dataset.hpp"

namespace unetpp::data {

struct folder_options {
    reader_options reader{};
    std::string mask_suffix{};  ///< mask stem = image stem + mask_suffix
    bool invert_mask = false;   ///< foreground = mask pixels at 0 (e.g. dark-on-white labels)
    int label = -1;             ///< class label given to every sample
    std::string name = "paired_folders";  ///< used in messages
};

/// Reads images_dir/<stem>.<ext> with masks_dir/<stem><mask_suffix>.<ext>.
inline paired_dataset paired_folders(const std::filesystem::path& images_dir, const std::filesystem::path& masks_dir,
                                     const folder_options& opt = {}) {
    const std::string& what = opt.name;
    const auto images = detail::list_images(images_dir, what);
    if (images.empty()) throw std::runtime_error(what + ": folder " + detail::quoted(images_dir) + " holds no images");
    const auto masks = detail::list_images(masks_dir, what);
    if (masks.empty()) throw std::runtime_error(what + ": folder " + detail::quoted(masks_dir) + " holds no masks");
    std::map<std::string, std::filesystem::path> by_stem;
    for (const auto& m : masks) {
        const std::string stem = m.stem().string();
        if (auto [it, fresh] = by_stem.emplace(stem, m); !fresh)
            throw std::runtime_error(what + ": two masks with the stem '" + stem + "': " + detail::quoted(it->second) +
                                     " and " + detail::quoted(m) + "; keep one");
    }
    std::vector<entry> entries;
    std::vector<bool> used(masks.size(), false);
    std::map<std::string, std::filesystem::path> image_stems;
    for (const auto& img : images) {
        const std::string stem = img.stem().string();
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
        entries.push_back({img, {m->second}, opt.label, static_cast<int>(entries.size()), opt.invert_mask});
        by_stem.erase(m);
    }
    for (const auto& [stem, path] : by_stem) {
        // With an empty suffix an image and its mask share the stem, so nothing is left over unless unmatched.
        detail::warn(opt.reader, what + ": mask " + detail::quoted(path) + " has no image; ignored");
    }
    if (entries.empty())
        throw std::runtime_error(what + ": no image in " + detail::quoted(images_dir) + " has a mask in " +
                                 detail::quoted(masks_dir));
    return paired_dataset(what, std::move(entries), opt.reader);
}

}  // namespace unetpp::data
