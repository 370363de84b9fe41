// Class masks of networks with two or more classes, for unetpp-predict and unetpp-evaluate: the
// mask file in the run's mask encoding (so that a prediction reads back as a ground-truth mask
// would), the colours and names of the classes in pictures, the ground truth read with the run's
// rule (data::read_masks_into, the readers' own decoding) and strips of RGB pictures.
//
// Mask files, by the run's encoding (model_record.hpp, class_layout):
//   binary   (one or two classes)  8-bit grey, 0 background, 255 foreground
//   labels                         8-bit grey, pixel value = class index 0..N-1
//   palette                        8-bit RGB, pixel colour = the palette's colour of the class
// Colours in pictures: the run's palette, else class_colour_table (class 0 black, then 20 colours
// that stay apart, then hues spread around the colour wheel).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unetpp/data/dataset.hpp>
#include <unetpp/data/mask_encoding.hpp>
#include <unetpp/infer/probability_files.hpp>
#include <unetpp/io/image.hpp>

#include "model_record.hpp"
#include "output_guard.hpp"

namespace cli {

/// Whether a run's pictures show classes in colours (more than two classes, or masks that encode
/// classes as labels or colours); a binary run keeps its grey 0/255 pictures.
inline bool coloured_classes(const class_layout& l, int classes) {
    return classes > 2 || l.encoding != unetpp::data::mask_encoding::binary;
}

/// "class 0 (background)", "class 1", ...
inline std::string class_name(int k) { return k == 0 ? "class 0 (background)" : "class " + std::to_string(k); }

/// The colours of `classes` classes for pictures when the run has no palette (see the file
/// comment): class 0 black, then Sasha Trubetskoy's 20 distinct colours, then hues.
inline std::vector<unetpp::data::rgb8> class_colour_table(int classes) {
    static constexpr std::uint8_t distinct[20][3] = {
        {230, 25, 75},   {60, 180, 75},   {0, 130, 200},  {255, 225, 25}, {245, 130, 48},
        {145, 30, 180},  {70, 240, 240},  {240, 50, 230}, {210, 245, 60}, {250, 190, 212},
        {0, 128, 128},   {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
        {170, 255, 195}, {128, 128, 0},   {255, 215, 180}, {0, 0, 128},   {128, 128, 128}};
    std::vector<unetpp::data::rgb8> out;
    for (int k = 0; k < classes; ++k) {
        if (k == 0) {
            out.push_back({0, 0, 0});
        } else if (k <= 20) {
            out.push_back({distinct[k - 1][0], distinct[k - 1][1], distinct[k - 1][2]});
        } else {
            // golden-angle hues at full saturation, brightness alternating 1 and 0.7
            const double h = std::fmod((k - 21) * 137.508, 360.0) / 60.0, v = (k % 2) ? 255.0 : 178.0;
            const double x = v * (1.0 - std::fabs(std::fmod(h, 2.0) - 1.0));
            const int sector = static_cast<int>(h) % 6;
            const double r[6] = {v, x, 0, 0, x, v}, g[6] = {x, v, v, x, 0, 0}, b[6] = {0, 0, x, v, v, x};
            out.push_back({static_cast<std::uint8_t>(std::lround(r[sector])),
                           static_cast<std::uint8_t>(std::lround(g[sector])),
                           static_cast<std::uint8_t>(std::lround(b[sector]))});
        }
    }
    return out;
}

/// The colours of a run's classes in pictures: its palette, else class_colour_table.
inline std::vector<unetpp::data::rgb8> class_colours(const class_layout& l, int classes) {
    if (l.encoding == unetpp::data::mask_encoding::palette && static_cast<int>(l.palette.size()) == classes)
        return l.palette;
    return class_colour_table(classes);
}

/// The readers' rule for a run's masks (as cli::open_dataset builds it).
inline unetpp::data::mask_rule mask_rule_of(const class_layout& l) {
    using unetpp::data::mask_encoding;
    using unetpp::data::mask_rule;
    if (l.encoding == mask_encoding::labels) return mask_rule::labels(l.classes);
    if (l.encoding == mask_encoding::palette) return mask_rule::palette(l.palette);
    return mask_rule::binary();
}

namespace class_mask_detail {

inline int label_at(const unetpp::tensor<float>& labels, std::size_t i, int classes) {
    const float v = labels[i];
    const int k = static_cast<int>(v);
    if (!(v >= 0.0f) || k >= classes || static_cast<float>(k) != v)
        throw std::invalid_argument("class mask: value " + std::to_string(v) + " at pixel " + std::to_string(i) +
                                    " is not a class index 0.." + std::to_string(classes - 1));
    return k;
}

}  // namespace class_mask_detail

/// A label map [1, 1, H, W] (class indices 0..classes-1) as the mask file of the run's encoding
/// (see the file comment).
inline unetpp::io::image class_mask_image(const unetpp::tensor<float>& labels, const class_layout& l, int classes) {
    using unetpp::data::mask_encoding;
    const auto s = labels.shape();
    if (s.n != 1 || s.c != 1)
        throw std::invalid_argument("class_mask_image: labels " + s.str() + " are not [1, 1, H, W]");
    const bool palette = l.encoding == mask_encoding::palette;
    if (palette && static_cast<int>(l.palette.size()) < classes)
        throw std::invalid_argument("class_mask_image: the palette has " + std::to_string(l.palette.size()) +
                                    " colours for " + std::to_string(classes) + " classes");
    unetpp::io::image img(s.w, s.h, palette ? 3 : 1);
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const int k = class_mask_detail::label_at(labels, i, classes);
        if (palette) {
            const auto& c = l.palette[static_cast<std::size_t>(k)];
            img.pixels[3 * i] = c.r, img.pixels[3 * i + 1] = c.g, img.pixels[3 * i + 2] = c.b;
        } else {
            img.pixels[i] = static_cast<std::uint8_t>(l.encoding == mask_encoding::binary ? (k ? 255 : 0) : k);
        }
    }
    return img;
}

/// A label map [1, 1, H, W] drawn in `colours` (colour k for class k), RGB.
inline unetpp::io::image colour_labels(const unetpp::tensor<float>& labels,
                                       const std::vector<unetpp::data::rgb8>& colours) {
    const auto s = labels.shape();
    unetpp::io::image img(s.w, s.h, 3);
    const int classes = static_cast<int>(colours.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const auto& c = colours[static_cast<std::size_t>(class_mask_detail::label_at(labels, i, classes))];
        img.pixels[3 * i] = c.r, img.pixels[3 * i + 1] = c.g, img.pixels[3 * i + 2] = c.b;
    }
    return img;
}

/// Reads the ground-truth mask `file` of `image_file` (h x w) with the run's rule: class indices
/// [1, 1, H, W]. Errors (another size, a label >= N, a colour in no palette entry, a lossy file)
/// are std::runtime_error naming the file, from the data readers.
inline unetpp::tensor<float> read_class_truth(const std::filesystem::path& file,
                                              const std::filesystem::path& image_file, const class_layout& l, int h,
                                              int w, std::string_view what) {
    unetpp::tensor<float> out(unetpp::shape4{1, 1, h, w});
    unetpp::data::read_masks_into(out, {file}, image_file, mask_rule_of(l), what);
    return out;
}

/// RGB pictures of one height side by side with 2 white pixels between them (grey parts are drawn
/// as grey RGB); the colour counterpart of io::side_by_side.
inline unetpp::io::image side_by_side_rgb(const std::vector<unetpp::io::image>& parts) {
    if (parts.empty()) throw std::invalid_argument("side_by_side_rgb: no images given");
    const int h = parts.front().height;
    int w = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (parts[i].height != h)
            throw std::invalid_argument("side_by_side_rgb: image " + std::to_string(i) + " is " +
                                        std::to_string(parts[i].height) + " pixels high, image 0 is " +
                                        std::to_string(h));
        if (parts[i].channels != 1 && parts[i].channels != 3)
            throw std::invalid_argument("side_by_side_rgb: image " + std::to_string(i) + " has " +
                                        std::to_string(parts[i].channels) + " channels; give grey or RGB images");
        w += parts[i].width + (i ? 2 : 0);
    }
    unetpp::io::image out(w, h, 3);
    std::fill(out.pixels.begin(), out.pixels.end(), std::uint8_t{255});
    int x0 = 0;
    for (const auto& p : parts) {
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < p.width; ++x)
                for (int c = 0; c < 3; ++c) out.at(x0 + x, y, c) = p.at(x, y, p.channels == 1 ? 0 : c);
        x0 += p.width + 2;
    }
    return out;
}

/// Plane k of a map [1, K, H, W] as [1, 1, H, W].
inline unetpp::tensor<float> class_plane(const unetpp::tensor<float>& map, int k) {
    const auto s = map.shape();
    unetpp::tensor<float> out(unetpp::shape4{1, 1, s.h, s.w});
    std::copy_n(map.data() + static_cast<std::size_t>(k) * s.plane(), s.plane(), out.data());
    return out;
}

/// 1 where `labels` [1, 1, H, W] equals class k, else 0.
inline unetpp::tensor<float> class_indicator(const unetpp::tensor<float>& labels, int k) {
    unetpp::tensor<float> out(labels.shape());
    for (std::size_t i = 0; i < labels.size(); ++i) out[i] = labels[i] == static_cast<float>(k) ? 1.0f : 0.0f;
    return out;
}

/// --out-probs of predict and evaluate: DIR/<stem>_prob.npy (numpy.load gives [H, W] for one
/// class, [K, H, W] for K >= 2) and, with `png16`, 16-bit grey PNGs round(p * 65535):
/// DIR/<stem>_prob16.png for one class, DIR/<stem>_prob16_c<k>.png for each class k of K >= 2.
/// Each file is written atomically into a folder prepared by the caller.
inline void write_probabilities(const std::filesystem::path& dir, const std::string& stem,
                                const unetpp::tensor<float>& prob, bool png16) {
    const auto put = [&](const std::string& name, const std::vector<unsigned char>& bytes) {
        write_file(dir / name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), true);
    };
    put(stem + "_prob.npy", unetpp::infer::encode_npy(prob));
    if (!png16) return;
    const int K = prob.shape().c;
    if (K == 1) return put(stem + "_prob16.png", unetpp::infer::encode_png16(prob));
    for (int k = 0; k < K; ++k)
        put(stem + "_prob16_c" + std::to_string(k) + ".png", unetpp::infer::encode_png16(prob, k));
}

}  // namespace cli
