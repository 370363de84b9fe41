// expect: dropout: probability P must be in \[0, 1\)
#include <unetpp/unet.hpp>
unetpp::dropout<1.0> d;
