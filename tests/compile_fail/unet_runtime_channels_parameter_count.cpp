// expect: depends on channel counts chosen at run time
// A network whose classes are chosen at run time has no compile-time parameter count.
#include <cstddef>
#include <unetpp/unet.hpp>
using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = unetpp::runtime_channels, .base = 8,
                                            .depth = 2}>;
constexpr std::size_t n = net_t::parameter_count;
