#pragma once
/// \file Random training patches, as nnU-Net and MONAI's RandCropByPosNegLabel draw them: each
/// epoch, every training image gives one size x size patch at a random place; a share of the
/// patches is centred on a foreground pixel (foreground oversampling), so that small structures
/// are seen often enough.
///
///   data::patch_options po{.size = 128, .foreground_share = 0.33};
///   data::random_patch(s, po, seed, epoch, index);   // same (seed, epoch, index) -> same patch
///
/// The draw: an rng seeded with derive_seed(seed ^ patch_salt, epoch, index) (a stream of its own,
/// so the augmentation's numbers do not change when patches are switched on). First u = uniform();
/// when u < foreground_share and the mask has foreground pixels (value > 0.5: 1 in a binary mask,
/// any class but background 0 in a label mask) inside the region of interest,
/// one of them is chosen uniformly (k = below(count), in row-major order) and the patch is centred
/// on it (shifted inwards at the borders: top = clamp(y - size / 2, 0, H - size)); otherwise top
/// and left are uniform over every position where the patch fits. An image smaller than the patch
/// is an error that names its size and its files.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../tensor/rng.hpp"
#include "augment.hpp"
#include "dataset.hpp"

namespace unetpp::inline UNETPP_ABI::data {

struct patch_options {
    int size = 0;                   ///< patch side in pixels (0: no patches, the whole image)
    double foreground_share = 0.0;  ///< probability that a patch is centred on a foreground pixel, [0, 1]
};

/// Mixed into the seed so that patches and augmentation draw from different streams.
inline constexpr std::uint64_t patch_salt = 0x7061746368000000ULL;  // "patch"

/// Where a patch goes: its top-left corner, and whether it was centred on foreground.
struct patch_place {
    int top = 0, left = 0;
    bool on_foreground = false;
};

/// Draws a patch position for sample s from r (see the file comment).
[[nodiscard]] inline patch_place draw_patch(const sample& s, const patch_options& o, rng& r) {
    const shape4 sh = s.image.shape();
    const int H = sh.h, W = sh.w, P = o.size;
    if (P < 1) throw std::invalid_argument("patch: size must be at least 1, got " + std::to_string(P));
    if (!(o.foreground_share >= 0.0 && o.foreground_share <= 1.0))
        throw std::invalid_argument("patch: foreground_share must be in [0, 1], got " +
                                    std::to_string(o.foreground_share));
    if (H < P || W < P)
        throw std::invalid_argument("the image " + s.source() + " is " + std::to_string(W) + " x " + std::to_string(H) +
                                    " pixels, smaller than the " + std::to_string(P) + " x " + std::to_string(P) +
                                    " patch; use a smaller patch or resize the images (--size)");
    patch_place p;
    if (r.uniform() < o.foreground_share) {
        const bool roi = !s.roi.empty();
        const auto fg = [&](std::size_t i) { return s.mask[i] > 0.5f && (!roi || s.roi[i] > 0.5f); };
        std::size_t count = 0;
        for (std::size_t i = 0; i < s.mask.size(); ++i) count += fg(i) ? 1 : 0;
        if (count > 0) {
            std::size_t k = r.below(count), i = 0;
            for (;; ++i)
                if (fg(i) && k-- == 0) break;
            const int y = static_cast<int>(i / static_cast<std::size_t>(W)), x = static_cast<int>(i % static_cast<std::size_t>(W));
            p.top = std::clamp(y - P / 2, 0, H - P);
            p.left = std::clamp(x - P / 2, 0, W - P);
            p.on_foreground = true;
            return p;
        }
    }
    p.top = static_cast<int>(r.below(static_cast<std::uint64_t>(H - P + 1)));
    p.left = static_cast<int>(r.below(static_cast<std::uint64_t>(W - P + 1)));
    return p;
}

/// Crops sample `index`'s patch of `epoch` (image, mask and region of interest together).
inline patch_place random_patch(sample& s, const patch_options& o, std::uint64_t seed, std::uint64_t epoch,
                                std::uint64_t index) {
    rng r(derive_seed(seed ^ patch_salt, epoch, index));
    const patch_place p = draw_patch(s, o, r);
    crop(s, p.top, p.left, o.size, o.size);
    return p;
}

}  // namespace unetpp::data
