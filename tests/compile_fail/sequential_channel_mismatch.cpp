// expect: channel_check<.*layer_named<.*"conv2".*takes_channels<16>.*receives_channels<8>
// errors: 1
#include <unetpp/unet.hpp>
using namespace unetpp;
// conv1 produces 8 channels, conv2 expects 16.
using block = sequential<named<"conv1", conv2d<conv2d_cfg{.in = 1, .out = 8}>>, named<"relu", relu<>>,
                         named<"conv2", conv2d<conv2d_cfg{.in = 16, .out = 16}>>>;
block b;
