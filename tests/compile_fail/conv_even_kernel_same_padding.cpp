// expect: need an odd kernel size
// errors: 1
#include <unetpp/unet.hpp>
unetpp::conv2d<unetpp::conv2d_cfg{.in = 1, .out = 4, .kernel = 2, .pad = unetpp::padding::same}> conv;
