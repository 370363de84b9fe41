// expect: unet_cfg.depth must be at least 1
// errors: 1
#include <unetpp/unet.hpp>
unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 0}> net;
