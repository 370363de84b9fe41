// unetpp-train --precision bf16: the backend::cpu_bf16 variants of UNETPP_CLI_MODELS_B
// (model_set.hpp), instantiated here once (train_networks_bf16_a.cpp has the other half and the dispatch).
#include <unetpp/backend/cpu_bf16.hpp>

#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_INSTANTIATE(Type, Name, Base, Depth) \
    template int train_network<Type<Base, Depth, backend::cpu_bf16>>(const train_job&);
UNETPP_CLI_MODELS_B(UNETPP_CLI_INSTANTIATE)
#undef UNETPP_CLI_INSTANTIATE

}  // namespace cli
