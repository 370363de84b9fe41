// unetpp-train: the networks of UNETPP_CLI_MODELS_B (model_set.hpp), instantiated here once
// (train_run.hpp explains the split).
#include "train_run.hpp"

namespace cli {
#define UNETPP_CLI_INSTANTIATE(Type, Name, Base, Depth) template int train_network<Type<Base, Depth>>(const train_job&);
UNETPP_CLI_MODELS_B(UNETPP_CLI_INSTANTIATE)
#undef UNETPP_CLI_INSTANTIATE
}  // namespace cli
