// load_member_on_bf16 (ensemble_members.hpp): load_member<Net> for the backend::cpu_bf16 variants
// of the model set, one per --checkpoint of unetpp-predict and unetpp-evaluate --precision bf16.
// Compiled once for both programs (tools/CMakeLists.txt, the object library unetpp_cli_bf16).
#include <unetpp/backend/cpu_bf16.hpp>

#include "ensemble_members.hpp"

namespace cli {

member_net load_member_on_bf16(const member_spec& m) {
    member_net out = load_member_on<backend::cpu_bf16>(m);
    out.compute = "bf16 convolutions, fp32 sums (backend::cpu_bf16, --precision bf16)";
    return out;
}

}  // namespace cli
