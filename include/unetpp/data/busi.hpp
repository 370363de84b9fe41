#pragma once
/// \file BUSI (Breast Ultrasound Images, Al-Dhabyani et al. 2020) in its original layout.
///
///   auto ds = unetpp::data::busi("../shared/data/busi");   // or .../Dataset_BUSI_with_GT
///   ds.class_names();   // {"benign", "malignant", "normal"}: label 0, 1, 2
///
/// Layout: <root>/<class>/<class> (k).png with <class> (k)_mask.png and, for images with several
/// lesions, <class> (k)_mask_1.png, _mask_2.png, ... merged with a logical OR. `root` may be the
/// Dataset_BUSI_with_GT folder or the folder holding it. `normal` images have empty masks (the
/// files exist and are all 0). Images may be gray or RGB; reader_options::channels (default 1)
/// converts them all alike. An image without any mask file is an error naming it, or skipped
/// with a warning (reader_options::on_missing_mask); a mask without an image is a warning.
/// Group ids start as the sample index; near_duplicate_groups() (phash.hpp) gives better ones.

#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "dataset.hpp"

namespace unetpp::inline UNETPP_ABI::data {

struct busi_options {
    reader_options reader{};
    /// Class folders to read; the label is the position in this list. Missing folders are an
    /// error, so a partial copy is noticed.
    std::vector<std::string> classes = {"benign", "malignant", "normal"};
};

namespace detail {

/// For "x_mask" or "x_mask_<digits>" returns {"x", index (0 for _mask, k + 1 for _mask_k)}; else {"", -1}.
inline std::pair<std::string, int> busi_mask_of(const std::string& stem) {
    const auto p = stem.rfind("_mask");
    if (p == std::string::npos) return {"", -1};
    const std::string rest = stem.substr(p + 5);
    if (rest.empty()) return {stem.substr(0, p), 0};
    if (rest.size() < 2 || rest[0] != '_') return {"", -1};
    for (std::size_t i = 1; i < rest.size(); ++i)
        if (!std::isdigit(static_cast<unsigned char>(rest[i]))) return {"", -1};
    return {stem.substr(0, p), std::stoi(rest.substr(1)) + 1};
}

}  // namespace detail

inline paired_dataset busi(const std::filesystem::path& root_in, const busi_options& opt = {}) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path root = root_in;
    if (fs::is_directory(root / "Dataset_BUSI_with_GT", ec)) root /= "Dataset_BUSI_with_GT";
    if (!fs::is_directory(root, ec))
        throw std::runtime_error("busi: folder " + detail::quoted(root_in) + " does not exist");
    if (opt.classes.empty()) throw std::invalid_argument("busi: busi_options::classes is empty");
    std::vector<entry> entries;
    for (std::size_t label = 0; label < opt.classes.size(); ++label) {
        const fs::path dir = root / opt.classes[label];
        if (!fs::is_directory(dir, ec))
            throw std::runtime_error("busi: class folder " + detail::quoted(dir) + " does not exist (expected " +
                                     "<root>/benign, malignant, normal; or set busi_options::classes)");
        const auto files = detail::list_images(dir, "busi");
        std::map<std::string, std::vector<std::pair<int, fs::path>>> masks;  // image stem -> (index, path)
        std::vector<fs::path> images;
        for (const auto& f : files) {
            auto [base, k] = detail::busi_mask_of(f.stem().string());
            if (k >= 0) masks[base].emplace_back(k, f);
            else images.push_back(f);
        }
        if (images.empty()) throw std::runtime_error("busi: folder " + detail::quoted(dir) + " holds no images");
        for (const auto& img : images) {
            auto it = masks.find(img.stem().string());
            if (it == masks.end()) {
                const std::string msg = "image " + detail::quoted(img) + " has no mask ('" + img.stem().string() +
                                        "_mask.png' is missing)";
                if (opt.reader.on_missing_mask == missing_mask::error)
                    throw std::runtime_error("busi: " + msg + " (set on_missing_mask = skip to leave it out)");
                detail::warn(opt.reader, "busi: skipping " + msg);
                continue;
            }
            auto list = std::move(it->second);
            masks.erase(it);
            std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            entry e{img, {}, static_cast<int>(label), static_cast<int>(entries.size()), false};
            for (auto& [k, p] : list) e.masks.push_back(std::move(p));
            entries.push_back(std::move(e));
        }
        for (const auto& [stem, list] : masks)
            for (const auto& [k, p] : list) detail::warn(opt.reader, "busi: mask " + detail::quoted(p) + " has no image; ignored");
    }
    return paired_dataset("busi", std::move(entries), opt.reader, opt.classes);
}

}  // namespace unetpp::data
