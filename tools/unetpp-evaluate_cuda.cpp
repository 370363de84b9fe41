// unetpp-evaluate --device cuda: load_member<Net> (ensemble_members.hpp) for the backend::cuda
// variants of the model set, one per --checkpoint. Compiled only with UNETPP_WITH_CUDA=ON
// (tools/CMakeLists.txt), so that the CPU build's compile time does not change.
#include <unetpp/backend/cuda.hpp>

#include "evaluate_run.hpp"

namespace cli {

member_net load_member_on_cuda(const member_spec& m) {
    member_net out;
    with_model<backend::cuda>(m.model, m.base, m.depth, [&]<class Net>() -> int {
        out = load_member<Net>(m);
        return 0;
    });
    return out;
}

}  // namespace cli
