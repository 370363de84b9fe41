// expect: unet_cfg.kernel must be odd with padding::same
// errors: 1
#include <unetpp/unet.hpp>
unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 2, .kernel = 4}> net;
