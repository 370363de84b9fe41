// Compile-time facts about shapes, channels and parameter counts. Building this file is the test.
#include <unetpp/unet.hpp>

namespace {
using namespace unetpp;

// Parameter counts, computed by hand:
// conv 3->8 k3 with bias: 8*3*9 + 8 = 224.
static_assert(conv2d<conv2d_cfg{.in = 3, .out = 8, .kernel = 3}>::parameter_count == 224);
static_assert(conv2d<conv2d_cfg{.in = 3, .out = 8, .kernel = 3, .bias = false}>::parameter_count == 216);
// Transposed conv 16->8 k2: 16*8*4 + 8 = 520.
static_assert(conv_transpose2d<conv_transpose2d_cfg{.in = 16, .out = 8}>::parameter_count == 520);
static_assert(batch_norm2d<batch_norm2d_cfg{.channels = 32}>::parameter_count == 64);
static_assert(batch_norm2d<batch_norm2d_cfg{.channels = 32}>::buffer_count == 64);
// Separable 16->32 k3 (Keras counting): 16*9 + 16*32 + 32 = 688.
static_assert(separable_conv2d<separable_conv2d_cfg{.in = 16, .out = 32}>::parameter_count == 688);
static_assert(dense<dense_cfg{.in = 100, .out = 64}>::parameter_count == 6464);

// Output shapes.
static_assert(conv2d<conv2d_cfg{.in = 1, .out = 4, .pad = padding::valid}>::try_output_shape({2, 1, 10, 12}) ==
              shape4{2, 4, 8, 10});
static_assert(conv2d<conv2d_cfg{.in = 1, .out = 4, .stride = 2}>::try_output_shape({1, 1, 9, 9}) == shape4{1, 4, 5, 5});
static_assert(!conv2d<conv2d_cfg{.in = 1, .out = 4}>::try_output_shape({1, 2, 9, 9}).has_value());
static_assert(conv_transpose2d<conv_transpose2d_cfg{.in = 2, .out = 1, .kernel = 3, .stride = 2, .padding = 1}>::
                  try_output_shape({1, 2, 5, 5}) == shape4{1, 1, 9, 9});
static_assert(max_pool2d<max_pool2d_cfg{.window = 3, .stride = 2}>::try_output_shape({1, 1, 7, 8}) ==
              shape4{1, 1, 3, 3});

// Channel bookkeeping of blocks.
using block = double_conv<double_conv_cfg{.in = 3, .out = 16}>;
static_assert(block::in_channels == 3 && block::out_channels == 16);
static_assert(block::parameter_count == (16 * 3 * 9 + 32) + (16 * 16 * 9 + 32));

// The original U-Net (Ronneberger et al. 2015): 31,030,658 parameters, 572 -> 388, 23 convolutions.
using R = presets::ronneberger2015;
static_assert(R::parameter_count == 31'030'658);
static_assert(R::output_size(572) == 388);
static_assert(!R::is_valid_size(571) && !R::is_valid_size(570));
static_assert(R::next_valid_size(570) == 572);
static_assert(R::buffer_count == 0);

// Padded U-Nets take multiples of 2^depth.
using P = presets::unet_bn<64, 4>;
static_assert(P::output_size(256) == 256 && P::output_size(512) == 512);
static_assert(!P::is_valid_size(250) && P::previous_valid_size(250) == 240 && P::next_valid_size(250) == 256);
static_assert(P::min_input_size == 16);
// unet_bn<64, 4>: 31,042,369 trainable parameters (same layout as torch UNet(base=64) in
// tools/unetpp_torch.py with batch norm and bias-free convolutions).
static_assert(P::parameter_count == 31'036'481);

// Layers model the Layer concept.
static_assert(Layer<conv2d<conv2d_cfg{.in = 1, .out = 2}>>);
static_assert(Layer<batch_norm2d<batch_norm2d_cfg{.channels = 2}>>);
static_assert(Layer<block>);
static_assert(Layer<relu<>> && Layer<sigmoid<>> && Layer<softmax<>> && Layer<max_pool2d<>>);
static_assert(Layer<dense<dense_cfg{.in = 4, .out = 2}>> && Layer<flatten<>> && Layer<global_avg_pool<>>);
static_assert(SkipPolicy<concat_skip<4, 4, true>>);
}  // namespace
