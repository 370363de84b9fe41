// unetpp-train --device cuda: the backend::cuda variants of UNETPP_CLI_MODELS_A (model_set.hpp),
// instantiated here once, and the dispatch to all of them (train_on_cuda, cli_device.hpp).
// Compiled only with UNETPP_WITH_CUDA=ON (tools/CMakeLists.txt), so that the CPU build's compile
// time does not change.
#include <unetpp/backend/cuda.hpp>

#include "cli_device.hpp"
#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_BACKEND backend::cuda
UNETPP_CLI_MODELS_A(UNETPP_CLI_TRAIN_ON_BACKEND)
UNETPP_CLI_MODELS_B(UNETPP_CLI_TRAIN_ON_BACKEND_EXTERN)  // train_networks_cuda_b.cpp

int train_on_cuda(const std::string& model, int base, int depth, const train_job& job) {
    return train_on<backend::cuda>(model, base, depth, job);
}

}  // namespace cli
