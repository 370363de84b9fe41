#pragma once
/// \file The U-Net level block: (Conv k x k -> [BatchNorm] -> ReLU) x 2 -> [Dropout].
/// Parameter names: conv1.*, bn1.*, conv2.*, bn2.* (the convolutions drop their bias when a batch
/// norm follows, since the norm's shift makes it redundant). With batch norm, the ReLU runs inside
/// the norm's pass over memory (batch_norm2d_cfg::relu).

#include "../config/abi.hpp"
#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/sequential.hpp"

namespace unetpp::inline UNETPP_ABI {

struct double_conv_cfg {
    int in = 1;
    int out = 1;
    int kernel = 3;
    padding pad = padding::same;
    bool batch_norm = true;
    double dropout = 0.0;
};

template <double_conv_cfg C, backend::backend_type B = backend::cpu, class T = float>
using double_conv = sequential_of<
    named<"conv1", conv2d<conv2d_cfg{.in = C.in, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = !C.batch_norm}, B, T>>,
    optional_layer<C.batch_norm, "bn1", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, B, T>>,
    optional_layer<!C.batch_norm, "relu1", relu<B, T>>,
    named<"conv2", conv2d<conv2d_cfg{.in = C.out, .out = C.out, .kernel = C.kernel, .stride = 1, .pad = C.pad, .bias = !C.batch_norm}, B, T>>,
    optional_layer<C.batch_norm, "bn2", batch_norm2d<batch_norm2d_cfg{.channels = C.out, .relu = true}, B, T>>,
    optional_layer<!C.batch_norm, "relu2", relu<B, T>>,
    optional_layer<(C.dropout > 0.0), "drop", dropout<C.dropout, B, T>>>;

}  // namespace unetpp
