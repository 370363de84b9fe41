#pragma once
/// \file B-Cir U-Net (seed 003, "B-Cir U-Net", Table 1), expressed through unet's policy slots:
///
///   block  conv 3x3 (with bias) -> BN -> ReLU          (one convolution per level, Table 1)
///   down   max-pool 2x2 -> dropout 0.1                   (dropout after every pooling)
///   up     transposed conv 3x3, stride 2, Keras "same"   (out = 2 * in)
///   skip   bcir_skip: dropout(cat([up, separable_block(skip)]))
///   head   conv 1x1 -> 1 logit map (the paper's sigmoid is applied by the loss / at inference)
///
/// With base 16 and depth 4 this is Table 1 layer for layer: 1,274,289 trainable parameters
/// plus 2,432 batch-norm moving statistics = 1,276,721. docs/ARCHITECTURES.md maps every row.

#include <optional>
#include <string>

#include "../config/abi.hpp"
#include "../blocks/separable_block.hpp"
#include "../blocks/skip.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/sequential.hpp"
#include "unet.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Configuration of the B-Cir U-Net family (the preset is bcir_unet_cfg{}).
struct bcir_cfg {
    int kernel = 3;          ///< level convolutions
    int up_kernel = 3;       ///< transposed convolutions
    int skip_kernel = 3;     ///< separable convolutions in the skip path (Table 1's counts: 3)
    int skip_pool = 2;       ///< stride-1 pooling window at the end of the skip path
    double bn_eps = 1e-3;    ///< Keras BatchNormalization defaults (momentum 0.99 = PyTorch 0.01)
    double bn_momentum = 0.01;
};

/// Policies that turn `unet` into the B-Cir U-Net. `unet_cfg::dropout` is the dropout after
/// each pooling and after each skip concatenation (0.1 in the paper).
template <bcir_cfg K = bcir_cfg{}>
struct bcir_policies {
    template <unet_cfg C, int In, int Out, class B, class T>
    using block = sequential<
        named<"conv", conv2d<conv2d_cfg{.in = In, .out = Out, .kernel = K.kernel, .stride = 1, .pad = C.pad, .bias = true}, B, T>>,
        named<"bn", batch_norm2d<batch_norm2d_cfg{.channels = Out, .momentum = K.bn_momentum, .eps = K.bn_eps, .relu = true}, B, T>>>;
    template <unet_cfg C, int Channels, class B, class T>
    using down = sequential_of<named<"pool", max_pool2d<max_pool2d_cfg{.window = 2, .stride = 2}, B, T>>,
                               optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, B, T>>>;
    template <unet_cfg C, int In, int Out, class B, class T>
    using up = conv_transpose2d_same<conv_transpose2d_cfg{.in = In, .out = Out, .kernel = K.up_kernel, .stride = 2, .padding = 0}, B, T>;
    template <unet_cfg C, int SkipChannels, int UpChannels, class B, class T>
    using skip = bcir_skip<SkipChannels, UpChannels,
                           separable_block_cfg{.channels = SkipChannels, .kernel = K.skip_kernel, .pool = K.skip_pool,
                                               .bn_eps = K.bn_eps, .bn_momentum = K.bn_momentum},
                           C.dropout, B, T>;
    template <unet_cfg C, int In, class B, class T>
    using head = conv2d<conv2d_cfg{.in = In, .out = C.classes, .kernel = 1, .pad = padding::valid}, B, T>;
};

}  // namespace unetpp
