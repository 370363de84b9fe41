#pragma once
/// \file Named U-Net configurations from the literature, as type aliases.

#include "unet.hpp"

namespace unetpp::presets {

/// Ronneberger, Fischer & Brox 2015 (seeds 000 and 004): unpadded 3x3 convolutions, no batch
/// norm, crop-and-concat skips, 2x2 up-convolutions, 1x1 head; 23 convolutions; one input
/// channel and two classes; 572 x 572 input tiles give 388 x 388 outputs.
inline constexpr unet_cfg ronneberger2015_cfg{.in_channels = 1, .classes = 2, .base = 64, .depth = 4, .kernel = 3,
                                              .pad = padding::valid, .norm = norm_kind::none};
template <class B = backend::cpu, class T = float>
using ronneberger2015_t = unet<ronneberger2015_cfg, B, T>;
using ronneberger2015 = ronneberger2015_t<>;

static_assert(ronneberger2015::parameter_count == 31'030'658,
              "ronneberger2015 must have the paper's 31,030,658 parameters");
static_assert(ronneberger2015::output_size(572) == 388, "ronneberger2015 maps 572 x 572 tiles to 388 x 388");

/// Padded U-Net with Conv-BN-ReLU x 2 per level (seed 004's "CBR2d" blocks), transposed-conv up,
/// 1x1 head.
template <int Base = 64, int Depth = 4, int InChannels = 1, int Classes = 1, class B = backend::cpu, class T = float>
using unet_bn = unet<unet_cfg{.in_channels = InChannels, .classes = Classes, .base = Base, .depth = Depth, .kernel = 3,
                              .pad = padding::same, .norm = norm_kind::batch},
                     B, T>;

}  // namespace unetpp::presets
