// unetpp-train --device cuda: the backend::cuda variants of UNETPP_CLI_MODELS_B (model_set.hpp),
// instantiated here once (train_networks_cuda_a.cpp dispatches to them). Compiled only with
// UNETPP_WITH_CUDA=ON.
#include <unetpp/backend/cuda.hpp>

#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_BACKEND backend::cuda
UNETPP_CLI_MODELS_B(UNETPP_CLI_TRAIN_ON_BACKEND)

}  // namespace cli
