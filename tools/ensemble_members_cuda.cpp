// load_member_on_cuda (ensemble_members.hpp): load_member<Net> for the backend::cuda variants of
// the model set, one per --checkpoint of unetpp-predict and unetpp-evaluate --device cuda. Both
// programs compile this one file, only with UNETPP_WITH_CUDA=ON (tools/CMakeLists.txt,
// tools/predict.cmake), so that the CPU build's compile time does not change.
#include <unetpp/backend/cuda.hpp>

#include "ensemble_members.hpp"

namespace cli {

member_net load_member_on_cuda(const member_spec& m) { return load_member_on<backend::cuda>(m); }

}  // namespace cli
