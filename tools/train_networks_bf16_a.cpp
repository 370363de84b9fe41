// unetpp-train --precision bf16: the backend::cpu_bf16 variants of UNETPP_CLI_MODELS_A
// (model_set.hpp), instantiated here once, and the dispatch to all of them (train_on_bf16,
// cli_device.hpp). The forward convolutions multiply in bf16 and sum in fp32; the backward passes,
// the optimiser and the master weights stay fp32 (docs/PERFORMANCE.md, "bf16 compute").
#include <unetpp/backend/cpu_bf16.hpp>

#include "cli_device.hpp"
#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_BACKEND backend::cpu_bf16
UNETPP_CLI_MODELS_A(UNETPP_CLI_TRAIN_ON_BACKEND)
UNETPP_CLI_MODELS_B(UNETPP_CLI_TRAIN_ON_BACKEND_EXTERN)  // train_networks_bf16_b.cpp

int train_on_bf16(const std::string& model, int base, int depth, const train_job& job) {
    return train_on<backend::cpu_bf16>(model, base, depth, job);
}

}  // namespace cli
