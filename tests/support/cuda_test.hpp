#pragma once
// Helpers of the CUDA backend's device tests (label cuda): the skip without a device and the
// comparison with backend::cpu. Test support only; not installed.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

#include <unetpp/backend/cuda.hpp>
#include <unetpp/tensor/tensor.hpp>

#include "skip.hpp"

namespace unetpp::test {

/// True (and the skip recorded: "no CUDA device: <cudaGetDeviceCount's error>") when this process
/// has no usable CUDA device.
inline bool no_cuda_device() {
    const auto d = cuda_runtime::probe_device();
    if (d.usable) return false;
    skip_not_available("no CUDA device: " + d.reason);
    return true;
}

/// The largest difference of a and b relative to the largest magnitude in a (absolute when a is
/// all zeros); infinity when the shapes differ or a NaN is in one and not the other.
inline double relative_gap(const tensor<float>& a, const tensor<float>& b) {
    if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
    double gap = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) != std::isnan(b[i])) return std::numeric_limits<double>::infinity();
        if (std::isnan(a[i])) continue;
        gap = std::max(gap, std::abs(static_cast<double>(a[i]) - b[i]));
        scale = std::max(scale, std::abs(static_cast<double>(a[i])));
    }
    return scale > 0 ? gap / scale : gap;
}

}  // namespace unetpp::test
