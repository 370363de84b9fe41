// expect: unet_cfg\.depth \(Depth of presets::unet_plusplus\) above 10 is not supported
#include <unetpp/unet.hpp>
using namespace unetpp;
// Eleven down-samplings would need inputs in multiples of 2048 pixels.
presets::unet_plusplus<32, 11> model;
