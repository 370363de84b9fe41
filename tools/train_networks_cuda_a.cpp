// unetpp-train --device cuda: the backend::cuda variants of UNETPP_CLI_MODELS_A (model_set.hpp),
// instantiated here once, and the dispatch to all of them (train_on_cuda, cli_device.hpp).
// Compiled only with UNETPP_WITH_CUDA=ON (tools/CMakeLists.txt), so that the CPU build's compile
// time does not change.
#include <unetpp/backend/cuda.hpp>

#include "cli_device.hpp"
#include "train_run.hpp"

namespace cli {

#define UNETPP_CLI_INSTANTIATE(Type, Name, Base, Depth) \
    template int train_network<Type<Base, Depth, backend::cuda>>(const train_job&);
UNETPP_CLI_MODELS_A(UNETPP_CLI_INSTANTIATE)
#undef UNETPP_CLI_INSTANTIATE
#define UNETPP_CLI_EXTERN(Type, Name, Base, Depth) \
    extern template int train_network<Type<Base, Depth, backend::cuda>>(const train_job&);
UNETPP_CLI_MODELS_B(UNETPP_CLI_EXTERN)  // train_networks_cuda_b.cpp
#undef UNETPP_CLI_EXTERN

int train_on_cuda(const std::string& model, int base, int depth, const train_job& job) {
    return with_model<backend::cuda>(model, base, depth, [&]<class Net>() -> int { return train_network<Net>(job); });
}

}  // namespace cli
