// expect: configure with -DUNETPP_WITH_CUDA=ON
#include <unetpp/unet.hpp>
unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 8, .depth = 2}, unetpp::backend::cuda> net;
