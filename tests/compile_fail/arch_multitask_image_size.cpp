// expect: multitask_unet: ImageSize is not an input size the U-Net body can take
#include <unetpp/unet.hpp>
using namespace unetpp;
// 250 is not a multiple of 2^4, so the flatten head's size cannot be derived.
presets::residual_multitask_unet<250> model;
