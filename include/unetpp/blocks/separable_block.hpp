#pragma once
/// \file The B-Cir U-Net skip path (seed 003, Table 1): each skip connection runs the encoder's
/// feature map through a block of depthwise-separable convolutions before it is concatenated
/// with the upsampled map.
///
///   sep1 -> bn1 -> ReLU -> sep2 -> bn2 -> ReLU -> sep3 -> ReLU -> sep4 -> pool (2x2, stride 1)
///
/// Every separable convolution keeps the channel count and has no bias (Table 1's counts:
/// C*k*k + C*C per layer), the pooling keeps the size (Keras MaxPooling2D(2, strides=1,
/// padding="same")). `bcir_skip` (blocks/skip.hpp, with the other skip policies) wraps the block for `unet`:
/// y = dropout(cat([up, block(skip)])), concatenating in Keras's order (upsampled map first).
///
/// Parameter names: skip{L}.path.sep1.depthwise.weight, skip{L}.path.bn1.weight, ...

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/depthwise_conv2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/merge.hpp"
#include "../layers/sequential.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Configuration of the B-Cir separable skip block.
struct separable_block_cfg {
    int channels = 16;
    int kernel = 3;       ///< separable kernel (Table 1's counts imply 3; see docs/ARCHITECTURES.md)
    int pool = 2;         ///< stride-1 "same" max-pool window at the end of the path
    double bn_eps = 1e-3;         ///< Keras BatchNormalization defaults
    double bn_momentum = 0.01;    ///< PyTorch convention (Keras momentum 0.99)
};

template <separable_block_cfg C, backend::backend_type B = backend::cpu, class T = float>
using separable_block = sequential<
    named<"sep1", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, B, T>>,
    named<"bn1", batch_norm2d<batch_norm2d_cfg{.channels = C.channels, .momentum = C.bn_momentum, .eps = C.bn_eps, .relu = true}, B, T>>,
    named<"sep2", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, B, T>>,
    named<"bn2", batch_norm2d<batch_norm2d_cfg{.channels = C.channels, .momentum = C.bn_momentum, .eps = C.bn_eps, .relu = true}, B, T>>,
    named<"sep3", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, B, T>>,
    named<"relu3", relu<B, T>>,
    named<"sep4", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, B, T>>,
    named<"pool", max_pool2d_same<C.pool, B, T>>>;

}  // namespace unetpp
