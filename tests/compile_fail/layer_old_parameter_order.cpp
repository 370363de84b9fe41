// expect: backend_type
// errors: 1
// A layer spelled in the parameter order before the naming rule (<cfg, T, B>; docs/DESIGN.md,
// Naming): the element type lands in the backend's slot, and the backend_type constraint says so
// at the declaration instead of deep inside the layer.
#include <unetpp/layers/conv2d.hpp>
unetpp::conv2d<unetpp::conv2d_cfg{.in = 1, .out = 2}, double> layer;
