// unetpp-evaluate --device cuda: evaluate_network<Net> (evaluate_run.hpp) for the backend::cuda
// variants of the model set. Compiled only with UNETPP_WITH_CUDA=ON (tools/CMakeLists.txt), so that
// the CPU build's compile time does not change.
#include <unetpp/backend/cuda.hpp>

#include "evaluate_run.hpp"

namespace cli {

int evaluate_on_cuda(const std::string& model, int base, int depth, const evaluate_job& job) {
    return with_model<backend::cuda>(model, base, depth,
                                     [&]<class Net>() -> int { return evaluate_network<Net>(job); });
}

}  // namespace cli
