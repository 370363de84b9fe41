// expect: unet_cfg\.base \(Base of presets::unet_plusplus, the channels of level 0\) must be at least 1
#include <unetpp/unet.hpp>
using namespace unetpp;
// A UNet++ whose first level has no channels.
presets::unet_plusplus<0, 4> model;
