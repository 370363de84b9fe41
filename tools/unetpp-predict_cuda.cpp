// unetpp-predict --device cuda: run_with<Net> (predict_run.hpp) for the backend::cuda variants of
// the model set. Compiled only with UNETPP_WITH_CUDA=ON (tools/predict.cmake), so that the CPU
// build's compile time does not change.
#include <unetpp/backend/cuda.hpp>

#include "predict_run.hpp"

namespace predict_cli {

int run_on_cuda(const arch& a, const options& o) {
    return cli::with_model<backend::cuda>(a.model, a.base, a.depth, [&]<class Net>() { return run_with<Net>(a, o); });
}

}  // namespace predict_cli
