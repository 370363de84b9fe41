#pragma once
/// \file Named U-Net configurations from the literature, as type aliases.

#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/sequential.hpp"
#include "unet.hpp"

namespace unetpp {

/// Seed 004's level block "CBR2d - CBR2d": (Conv k x k with bias -> [BatchNorm] -> ReLU) x 2 ->
/// [Dropout]. The same layers and names as double_conv (conv1, bn1, conv2, bn2, drop), except
/// that the convolutions keep their bias in front of the batch norm, as a PyTorch
/// nn.Conv2d(..., bias=True) followed by nn.BatchNorm2d does (2 * out extra parameters per
/// block; the norm's shift makes them redundant, so their gradient is zero in training mode).
template <double_conv_cfg C, class T = float, class B = backend::cpu>
struct cbr_double_conv
    : sequential_of<
          named<"conv1", conv2d<conv2d_cfg{.in = C.in, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = true}, T, B>>,
          optional_layer<C.batch_norm, "bn1", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, T, B>>,
          optional_layer<!C.batch_norm, "relu1", relu<T, B>>,
          named<"conv2", conv2d<conv2d_cfg{.in = C.out, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = true}, T, B>>,
          optional_layer<C.batch_norm, "bn2", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, T, B>>,
          optional_layer<!C.batch_norm, "relu2", relu<T, B>>,
          optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, T, B>>> {};

/// The default policies with cbr_double_conv level blocks (and bottleneck).
struct cbr_policies : default_policies {
    template <unet_cfg C, int In, int Out, class T, class B>
    using block = cbr_double_conv<double_conv_cfg{.in = In, .out = Out, .kernel = C.kernel, .pad = C.pad,
                                                  .batch_norm = C.norm == norm_kind::batch, .dropout = C.dropout},
                                  T, B>;
};

}  // namespace unetpp

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

/// Seed 004's padded U-Net (section 5.4.2): CBR2d = Conv2d 3x3 (padding 1, bias) + BatchNorm2d +
/// ReLU; encoder levels CBR2d-CBR2d-MaxPool2d(2); a 5th stage CBR2d-CBR2d; decoder levels
/// ConvTranspose2d(k 2, s 2, bias) - concat - CBR2d-CBR2d; Conv2d 1x1 (bias) head. Structurally
/// unet_bn with the level convolutions' bias kept (cbr_policies): 2 * channels more parameters
/// per block. The seed gives neither the widths below the head's 64 input channels nor the
/// concatenation order; the preset takes the standard doubling widths (64 ... 1024 at depth 4)
/// and [skip, upsampled], like unet_bn (docs/ARCHITECTURES.md).
template <int Base = 64, int Depth = 4, int InChannels = 1, int Classes = 1, class B = backend::cpu, class T = float>
using unet_cbr = unet<unet_cfg{.in_channels = InChannels, .classes = Classes, .base = Base, .depth = Depth, .kernel = 3,
                               .pad = padding::same, .norm = norm_kind::batch},
                      B, T, cbr_policies>;

}  // namespace unetpp::presets
