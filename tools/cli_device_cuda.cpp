// cli_device.hpp's device check, compiled into unetpp-train, -predict and -evaluate only in a
// build with UNETPP_WITH_CUDA=ON (tools/CMakeLists.txt).
#include <unetpp/backend/cuda.hpp>

#include "cli_device.hpp"

namespace cli {

void require_cuda_device() {
    const unetpp::cuda_runtime::device_status d = unetpp::cuda_runtime::probe_device();
    if (!d.usable) throw usage_error("no usable CUDA device: " + d.reason + "; use --device cpu");
}

}  // namespace cli
