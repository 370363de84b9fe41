// unetpp-train --precision bf16: the backend::cpu_bf16 variants of UNETPP_CLI_MODELS_A
// (model_set.hpp), instantiated here once, and the dispatch to all of them (train_on_bf16,
// cli_device.hpp). The forward convolutions multiply in bf16 and sum in fp32; the backward passes,
// the optimiser and the master weights stay fp32 (docs/PERFORMANCE.md, "bf16 compute").
#include <unetpp/backend/cpu_bf16.hpp>

#include "cli_device.hpp"
#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_INSTANTIATE(Type, Name, Base, Depth) \
    template int train_network<Type<Base, Depth, backend::cpu_bf16>>(const train_job&);
UNETPP_CLI_MODELS_A(UNETPP_CLI_INSTANTIATE)
#undef UNETPP_CLI_INSTANTIATE
#define UNETPP_CLI_EXTERN(Type, Name, Base, Depth) \
    extern template int train_network<Type<Base, Depth, backend::cpu_bf16>>(const train_job&);
UNETPP_CLI_MODELS_B(UNETPP_CLI_EXTERN)  // train_networks_bf16_b.cpp
#undef UNETPP_CLI_EXTERN

int train_on_bf16(const std::string& model, int base, int depth, const train_job& job) {
    return with_model<backend::cpu_bf16>(model, base, depth,
                                         [&]<class Net>() -> int { return train_network<Net>(job); });
}

}  // namespace cli
