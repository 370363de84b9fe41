// unetpp-train --precision bf16: the backend::cpu_bf16 variants of UNETPP_CLI_MODELS_B
// (model_set.hpp), instantiated here once (train_networks_bf16_a.cpp has the other half and the
// dispatch).
#include <unetpp/backend/cpu_bf16.hpp>

#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_BACKEND backend::cpu_bf16
UNETPP_CLI_MODELS_B(UNETPP_CLI_TRAIN_ON_BACKEND)

}  // namespace cli
