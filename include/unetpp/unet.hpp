#pragma once
/// \file Umbrella header: everything a unetpp user needs.
///
///   #include <unetpp/unet.hpp>
///   using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 64, .depth = 4}>;

#include "backend/cpu.hpp"
#include "blocks/double_conv.hpp"
#include "blocks/skip.hpp"
#include "layers/activations.hpp"
#include "layers/batch_norm2d.hpp"
#include "layers/conv2d.hpp"
#include "layers/conv_transpose2d.hpp"
#include "layers/dense.hpp"
#include "layers/depthwise_conv2d.hpp"
#include "layers/dropout.hpp"
#include "layers/layer.hpp"
#include "layers/max_pool2d.hpp"
#include "layers/merge.hpp"
#include "layers/reshape.hpp"
#include "layers/sequential.hpp"
#include "models/presets.hpp"
#include "models/unet.hpp"
#include "tensor/rng.hpp"
#include "tensor/shape.hpp"
#include "tensor/tensor.hpp"
#include "losses/bce_with_logits.hpp"
#include "optim/adam.hpp"
#include "build_info.hpp"
#include "backend/cuda.hpp"
