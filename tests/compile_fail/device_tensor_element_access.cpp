// expect: (no match for .operator\[\]|no viable overloaded operator\[\]|does not provide a subscript operator)
// A tensor in memory the host may not read has no element access: t[i] does not compile.
#include <cstddef>

#include "device_space.hpp"

float first(const unetpp::tensor<float, device_space>& t) { return t[0]; }
