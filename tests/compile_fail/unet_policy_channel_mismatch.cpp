// expect: unet: the block policy's decoder at this level does not produce base \* 2\^level channels
// errors: 1
#include <unetpp/unet.hpp>
using namespace unetpp;
// A custom block policy whose decoder ignores the requested output width.
struct wrong_policies : default_policies {
    template <unet_cfg C, int In, int Out, class B, class T>
    using block = double_conv<double_conv_cfg{.in = In, .out = (In > Out ? Out + 1 : Out)}, B, T>;
};
unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 4, .depth = 2}, backend::cpu, float, wrong_policies> net;
