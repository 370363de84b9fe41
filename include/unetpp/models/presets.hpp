#pragma once
/// \file Every named configuration from the literature, as type aliases, in one place: the plain
/// U-Nets (ronneberger2015, unet_bn, unet_cbr), UNet++ with and without deep supervision, the
/// Attention U-Net, the B-Cir U-Net, seed 002's residual multi-task U-Net (and the same heads on
/// unet_bn's body) and the BUSI stage classifier. The model templates and their policy sets live in the headers named after them.

#include "../config/abi.hpp"
#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/sequential.hpp"
#include "attention_unet.hpp"
#include "bcir_unet.hpp"
#include "classifier.hpp"
#include "deep_supervision.hpp"
#include "multitask_unet.hpp"
#include "nested_unet.hpp"
#include "unet.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Seed 004's level block "CBR2d - CBR2d": (Conv k x k with bias -> [BatchNorm] -> ReLU) x 2 ->
/// [Dropout]. The same layers and names as double_conv (conv1, bn1, conv2, bn2, drop), except
/// that the convolutions keep their bias in front of the batch norm, as a PyTorch
/// nn.Conv2d(..., bias=True) followed by nn.BatchNorm2d does (2 * out extra parameters per
/// block; the norm's shift makes them redundant, so their gradient is zero in training mode).
template <double_conv_cfg C, backend::backend_type B = backend::cpu, class T = float>
struct cbr_double_conv
    : sequential_of<
          named<"conv1", conv2d<conv2d_cfg{.in = C.in, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = true}, B, T>>,
          optional_layer<C.batch_norm, "bn1", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, B, T>>,
          optional_layer<!C.batch_norm, "relu1", relu<B, T>>,
          named<"conv2", conv2d<conv2d_cfg{.in = C.out, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = true}, B, T>>,
          optional_layer<C.batch_norm, "bn2", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, B, T>>,
          optional_layer<!C.batch_norm, "relu2", relu<B, T>>,
          optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, B, T>>> {};

/// The default policies with cbr_double_conv level blocks (and bottleneck).
struct cbr_policies : default_policies {
    template <unet_cfg C, int In, int Out, class B, class T>
    using block = cbr_double_conv<double_conv_cfg{.in = In, .out = Out, .kernel = C.kernel, .pad = C.pad,
                                                  .batch_norm = C.norm == norm_kind::batch, .dropout = C.dropout},
                                  B, T>;
};

}  // namespace unetpp

namespace unetpp::inline UNETPP_ABI::presets {

/// Ronneberger, Fischer & Brox 2015 (seeds 000 and 004): unpadded 3x3 convolutions, no batch
/// norm, crop-and-concat skips, 2x2 up-convolutions, 1x1 head; 23 convolutions; one input
/// channel and two classes; 572 x 572 input tiles give 388 x 388 outputs.
inline constexpr unet_cfg ronneberger2015_cfg{.in_channels = 1, .classes = 2, .base = 64, .depth = 4, .kernel = 3,
                                              .pad = padding::valid, .norm = norm_kind::none};
template <backend::backend_type B = backend::cpu, class T = float>
using ronneberger2015_t = unet<ronneberger2015_cfg, B, T>;
using ronneberger2015 = ronneberger2015_t<>;

static_assert(ronneberger2015::parameter_count == 31'030'658,
              "ronneberger2015 must have the paper's 31,030,658 parameters");
static_assert(ronneberger2015::output_size(572) == 388, "ronneberger2015 maps 572 x 572 tiles to 388 x 388");

/// Padded U-Net with Conv-BN-ReLU x 2 per level (seed 004's "CBR2d" blocks), transposed-conv up,
/// 1x1 head.
template <int Base = 64, int Depth = 4, int InChannels = 1, int Classes = 1, backend::backend_type B = backend::cpu, class T = float>
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
template <int Base = 64, int Depth = 4, int InChannels = 1, int Classes = 1, backend::backend_type B = backend::cpu, class T = float>
using unet_cbr = unet<unet_cfg{.in_channels = InChannels, .classes = Classes, .base = Base, .depth = Depth, .kernel = 3,
                               .pad = padding::same, .norm = norm_kind::batch},
                      B, T, cbr_policies>;

// --- UNet++ (models/nested_unet.hpp) ---------------------------------------------------------

/// UNet++ (Zhou et al. 2018) with the paper's widths at the defaults (base 32: 32, 64, 128, 256,
/// 512 for depth 4), padded 3x3 Conv-BN-ReLU x 2 nodes, 2x2 stride-2 transposed-convolution
/// up-sampling, one 1x1 head on X^{0,depth}. Deep supervision: deeply_supervised<unet_plusplus<>>
/// (models/deep_supervision.hpp) adds the heads on X^{0,1..depth-1}.
template <int Base = 32, int Depth = 4, int InChannels = 1, int Classes = 1, backend::backend_type B = backend::cpu, class T = float>
using unet_plusplus = nested_unet<unet_cfg{.in_channels = InChannels, .classes = Classes, .base = Base, .depth = Depth,
                                           .kernel = 3, .pad = padding::same, .norm = norm_kind::batch},
                                  B, T>;

// --- UNet++ with deep supervision (models/deep_supervision.hpp) ------------------------------

/// UNet++ with deep supervision: heads on X^{0,1}..X^{0,Depth} (the last one is the main head).
template <int Base = 32, int Depth = 4, int InChannels = 1, int Classes = 1, backend::backend_type B = backend::cpu, class T = float>
using unet_plusplus_ds = deeply_supervised<unet_plusplus<Base, Depth, InChannels, Classes, B, T>>;

// --- Attention U-Net (models/attention_unet.hpp) ---------------------------------------------

/// Attention U-Net: base 64, depth 4, padded 3x3 Conv-BN-ReLU x 2 blocks, transposed-conv up,
/// attention-gated skips, one input channel and one output map.
inline constexpr unet_cfg attention_unet_cfg{.in_channels = 1, .classes = 1, .base = 64, .depth = 4, .kernel = 3,
                                             .pad = padding::same, .norm = norm_kind::batch};
template <backend::backend_type B = backend::cpu, class T = float>
using attention_unet_t = unet<attention_unet_cfg, B, T, attention_policies<>>;
using attention_unet = attention_unet_t<>;

// --- B-Cir U-Net (models/bcir_unet.hpp) ------------------------------------------------------

/// B-Cir U-Net as in Table 1: 1024 x 1024 x 1 mammograms (any multiple of 16 works), base 16,
/// depth 4, dropout 0.1, one sigmoid output map (the network returns its logits).
inline constexpr unet_cfg bcir_unet_cfg{.in_channels = 1, .classes = 1, .base = 16, .depth = 4, .kernel = 3,
                                        .pad = padding::same, .norm = norm_kind::batch, .dropout = 0.1};
template <backend::backend_type B = backend::cpu, class T = float>
using bcir_unet_t = unet<bcir_unet_cfg, B, T, bcir_policies<>>;
using bcir_unet = bcir_unet_t<>;

static_assert(bcir_unet::parameter_count + bcir_unet::buffer_count == 1'276'721,
              "bcir_unet must have Table 1's 1,276,721 parameters (Keras total)");
static_assert(bcir_unet::buffer_count == 2'432,
              "bcir_unet must have Table 1's 2,432 non-trainable parameters (BN moving mean/variance)");
static_assert(bcir_unet::parameter_count == 1'274'289, "bcir_unet must have Table 1's 1,274,289 trainable parameters");
static_assert(bcir_unet::output_size(1024) == 1024, "bcir_unet maps 1024 x 1024 to 1024 x 1024");

// --- Residual multi-task U-Net (models/multitask_unet.hpp) -----------------------------------

/// Seed 002's residual multi-task U-Net for ImageSize x ImageSize grayscale images (the paper
/// uses 256): base 16, depth 4, dropout 0.1, classification head flatten -> 64 -> 1. The paper
/// leaves the widths open; these choices are documented in docs/ARCHITECTURES.md.
inline constexpr unet_cfg residual_multitask_cfg{.in_channels = 1, .classes = 1, .base = 16, .depth = 4, .kernel = 3,
                                                 .pad = padding::same, .norm = norm_kind::batch, .dropout = 0.1};
template <int ImageSize = 256, backend::backend_type B = backend::cpu, class T = float>
using residual_multitask_unet = multitask_unet<residual_multitask_cfg, ImageSize, 64, B, T>;

/// The same body and segmentation head with a pooled classification head instead of the
/// seed's flatten head: global average pool of the last decoder block (16 channels) -> 64 -> 1
/// (1,153 parameters instead of 16 * ImageSize^2 * 64 + 129: 4,194,433 at 64 x 64), so the
/// parameter count no longer depends on the image size. docs/RESULTS.md (BUSI multi-task)
/// compares the heads.
template <int ImageSize = 256, backend::backend_type B = backend::cpu, class T = float>
using residual_multitask_unet_gap =
    multitask_unet<residual_multitask_cfg, ImageSize, 64, B, T, residual_multitask_policies, cls_head_kind::gap>;
/// Pooled head on the deepest decoder block instead (128 channels at 1/8 of the side): 8,321
/// parameters in the head.
template <int ImageSize = 256, backend::backend_type B = backend::cpu, class T = float>
using residual_multitask_unet_gap_deep =
    multitask_unet<residual_multitask_cfg, ImageSize, 64, B, T, residual_multitask_policies, cls_head_kind::gap_deep>;

static_assert(residual_multitask_unet<64>::parameter_count == 6'564'338,
              "residual_multitask_unet<64>: 2,369,905 in the body and segmentation head + 4,194,433 in the flatten "
              "head");
static_assert(residual_multitask_unet<64>::cls_head_t::parameter_count == 4'194'433,
              "the flatten head at 64 x 64: 16 * 64 * 64 * 64 + 64 + 64 + 1");
static_assert(residual_multitask_unet_gap<64>::parameter_count == 2'369'905 + 1'153 &&
                  residual_multitask_unet_gap<256>::parameter_count == 2'371'058,
              "residual_multitask_unet_gap: the body and segmentation head + 16 * 64 + 64 + 64 + 1, at any image size");
static_assert(residual_multitask_unet_gap_deep<64>::parameter_count == 2'369'905 + 8'321,
              "residual_multitask_unet_gap_deep: the body and segmentation head + 128 * 64 + 64 + 64 + 1");

/// The pooled classification head (global average pool of the last decoder block -> 64 -> 1)
/// on unet_bn<Base, Depth>'s body instead of seed 002's residual one: two conv 3x3 -> BN ->
/// ReLU per level, no dropout, a plain bottleneck. Its segmentation path (body + 1x1 head) is
/// unet_bn<Base, Depth, 1, 1> layer for layer, so it can be held against the plain U-Net at the
/// same budget (docs/RESULTS.md, BUSI multi-task). Base * 64 + 64 + 64 + 1 head parameters.
template <int ImageSize = 256, int Base = 16, int Depth = 4, backend::backend_type B = backend::cpu, class T = float>
using unet_bn_multitask_gap =
    multitask_unet<unet_cfg{.in_channels = 1, .classes = 1, .base = Base, .depth = Depth, .kernel = 3,
                            .pad = padding::same, .norm = norm_kind::batch},
                   ImageSize, 64, B, T, plain_multitask_policies, cls_head_kind::gap>;

static_assert(unet_bn_multitask_gap<64>::parameter_count == unet_bn<16, 4>::parameter_count + 16 * 64 + 64 + 64 + 1 &&
                  unet_bn_multitask_gap<128>::parameter_count == unet_bn_multitask_gap<64>::parameter_count,
              "unet_bn_multitask_gap: unet_bn<16, 4>'s parameters (its 1x1 head is the segmentation head) + the "
              "pooled head's, at any image size");
static_assert(unet_bn_multitask_gap<64>::buffer_count == unet_bn<16, 4>::buffer_count,
              "unet_bn_multitask_gap: the same batch-norm statistics as unet_bn<16, 4>");

// --- Encoder classifier of the BUSI hierarchy (models/classifier.hpp) ------------------------

/// The hierarchy's stage network used by examples/busi_hierarchical.cpp: base 16, depth 4
/// (16, 32, 64, 128 channels), hidden 64.
inline constexpr classifier_cfg busi_stage_cfg{.in_channels = 1, .base = 16, .depth = 4, .hidden = 64};
template <backend::backend_type B = backend::cpu, class T = float>
using busi_stage_classifier = encoder_classifier<busi_stage_cfg, B, T>;
// Counts, by hand: double convs 1->16 (144 + 2*16 + 2304 + 2*16), 16->32, 32->64, 64->128
// without conv biases (each followed by batch norm); fc1 128*64 + 64; fc2 64 + 1.
static_assert(busi_stage_classifier<>::parameter_count ==
                  (9 * 1 * 16 + 9 * 16 * 16 + 4 * 16) + (9 * 16 * 32 + 9 * 32 * 32 + 4 * 32) +
                      (9 * 32 * 64 + 9 * 64 * 64 + 4 * 64) + (9 * 64 * 128 + 9 * 128 * 128 + 4 * 128) +
                      (128 * 64 + 64) + (64 + 1),
              "busi_stage_classifier: parameter count changed");
static_assert(busi_stage_classifier<>::parameter_count == 302'033);
static_assert(busi_stage_classifier<>::buffer_count == 2 * 2 * (16 + 32 + 64 + 128));

/// The flat 3-class control of the hierarchy (examples/busi_hierarchical.cpp --mode flat): the
/// stage network's body and head with 3 logits (normal, benign, malignant: tri_class order).
inline constexpr classifier_cfg busi_flat_cfg{.in_channels = busi_stage_cfg.in_channels, .base = busi_stage_cfg.base,
                                             .depth = busi_stage_cfg.depth, .hidden = busi_stage_cfg.hidden,
                                             .outputs = 3, .kernel = busi_stage_cfg.kernel,
                                             .batch_norm = busi_stage_cfg.batch_norm, .dropout = busi_stage_cfg.dropout};
template <backend::backend_type B = backend::cpu, class T = float>
using busi_flat_classifier = encoder_classifier<busi_flat_cfg, B, T>;
// Only fc2 differs: 64 x 3 weights and 3 biases instead of 64 + 1.
static_assert(busi_flat_classifier<>::parameter_count == busi_stage_classifier<>::parameter_count + 2 * (64 + 1));
static_assert(busi_flat_classifier<>::buffer_count == busi_stage_classifier<>::buffer_count);
static_assert(busi_flat_classifier<>::try_output_shape(shape4{2, 1, 96, 96}) == shape4{2, 3, 1, 1});

}  // namespace unetpp::presets
