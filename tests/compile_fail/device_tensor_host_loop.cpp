// expect: (no match for .operator\[\]|no viable overloaded operator\[\]|does not provide a subscript operator)
// A host loop over the data of a tensor in memory the host may not read does not compile: its data()
// is a device_ptr, which cannot be indexed or dereferenced.
#include <cstddef>

#include "device_space.hpp"

float sum(const unetpp::tensor<float, device_space>& t) {
    float s = 0;
    const auto p = t.data();
    for (std::size_t i = 0; i < t.size(); ++i) s += p[i];  // a host loop over device memory
    return s;
}
