#pragma once
/// \file Umbrella header: everything a unetpp user needs to define, train and run a U-Net.
///
///   #include <unetpp/unet.hpp>
///   using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 64, .depth = 4}>;
///
/// Reading and writing image files is in <unetpp/io/image.hpp> (kept out of the umbrella so that
/// only the translation units that decode images compile the decoder).

#include "tensor/rng.hpp"
#include "tensor/shape.hpp"
#include "tensor/tensor.hpp"

#include "backend/cpu.hpp"
#include "backend/cuda.hpp"
#include "backend/profiler.hpp"
#include "build_info.hpp"
#include "threads.hpp"

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
#include "layers/upsample.hpp"
#include "layers/sequential.hpp"

#include "blocks/double_conv.hpp"
#include "blocks/skip.hpp"
#include "models/presets.hpp"
#include "models/unet.hpp"

#include "losses.hpp"
#include "metrics.hpp"
#include "optim/adam.hpp"

#include "data/synthetic.hpp"

#include "blocks/attention_gate.hpp"
#include "blocks/residual_block.hpp"
#include "blocks/separable_block.hpp"
#include "models/attention_unet.hpp"
#include "models/bcir_unet.hpp"
#include "models/deep_supervision.hpp"
#include "heads/heads.hpp"
#include "heads/outputs.hpp"
#include "models/multitask_unet.hpp"
#include "models/nested_unet.hpp"
#include "models/classifier.hpp"
