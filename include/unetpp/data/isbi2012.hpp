#pragma once
/// \file ISBI 2012 EM segmentation challenge training set: images/<k>.png + labels/<k>.png.
///
///   auto ds = unetpp::data::isbi2012("../shared/data/isbi2012");   // 30 pairs, 512 x 512 gray
///
/// Label polarity: the label files hold 255 for cell interior and 0 for membranes (the
/// challenge's convention). By default the mask marks the membranes (mask = 1 where the label
/// is 0), the structure the challenge and the U-Net paper segment, as a thin minority class;
/// `isbi_foreground::cell_interior` keeps the files' polarity (mask = 1 where the label is 255).
/// Label values follow the mask rule of dataset.hpp (> 127 is "255") before the inversion.

#include <filesystem>
#include <string>

#include "../config/abi.hpp"
#include "folder.hpp"

namespace unetpp::inline UNETPP_ABI::data {

enum class isbi_foreground {
    membrane,       ///< mask 1 = membrane (label pixel 0); default
    cell_interior,  ///< mask 1 = cell interior (label pixel 255), as stored
};

struct isbi_options {
    reader_options reader{};
    isbi_foreground foreground = isbi_foreground::membrane;
    std::string images_dir = "images";
    std::string labels_dir = "labels";
};

/// Reads root/images/<k>.png with root/labels/<k>.png, in natural order (0, 1, ..., 29).
inline paired_dataset isbi2012(const std::filesystem::path& root, const isbi_options& opt = {}) {
    folder_options f;
    f.reader = opt.reader;
    f.invert_mask = opt.foreground == isbi_foreground::membrane;
    f.name = "isbi2012";
    return paired_folders(root / opt.images_dir, root / opt.labels_dir, f);
}

}  // namespace unetpp::data
