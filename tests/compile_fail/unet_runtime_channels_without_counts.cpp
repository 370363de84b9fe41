// expect: build it with unet\(seed, \{.in_channels = ..., .classes = ...\}\)
// errors: 1
// A network whose channels are chosen at run time cannot be built without them.
#include <unetpp/unet.hpp>
using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = unetpp::runtime_channels,
                                            .classes = unetpp::runtime_channels, .base = 8, .depth = 2}>;
net_t net(1);
