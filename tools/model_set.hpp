// The compiled model set of unetpp-train, unetpp-predict and unetpp-evaluate: one list, so that
// every network train offers loads in predict and evaluate. Light: the model headers and
// cli_args.hpp only.
#pragma once

#include <string>

#include <unetpp/models/presets.hpp>

#include "cli_args.hpp"

namespace cli {

using namespace unetpp;

// --- models ----------------------------------------------------------------------------------

/// ronneberger2015-style network with one logit channel: unpadded 3x3 convolutions, no batch
/// norm, crop-and-concat skips, 2x2 up-convolutions (the paper's preset has two classes).
template <int Base, int Depth>
using ronneberger_binary = unet<unet_cfg{.in_channels = 1, .classes = 1, .base = Base, .depth = Depth, .kernel = 3,
                                         .pad = padding::valid, .norm = norm_kind::none}>;

inline const char* supported_models =
    "unet_bn with --base 8|16|32|64 and --depth 3|4; ronneberger2015 with --base 64 --depth 4 or --base 16 --depth 3";

/// Calls f.template operator()<Net>() for the compiled network the options name.
template <class F>
int with_model(const std::string& model, int base, int depth, F&& f) {
    if (model == "unet_bn") {
#define UNETPP_CLI_BN(B, D) \
    if (base == B && depth == D) return f.template operator()<presets::unet_bn<B, D>>();
        UNETPP_CLI_BN(8, 3) UNETPP_CLI_BN(8, 4) UNETPP_CLI_BN(16, 3) UNETPP_CLI_BN(16, 4)
        UNETPP_CLI_BN(32, 3) UNETPP_CLI_BN(32, 4) UNETPP_CLI_BN(64, 3) UNETPP_CLI_BN(64, 4)
#undef UNETPP_CLI_BN
    } else if (model == "ronneberger2015") {
        if (base == 64 && depth == 4) return f.template operator()<ronneberger_binary<64, 4>>();
        if (base == 16 && depth == 3) return f.template operator()<ronneberger_binary<16, 3>>();
    } else {
        throw usage_error("--model '" + model + "' is not compiled in; supported: " + supported_models);
    }
    throw usage_error("--model " + model + " --base " + std::to_string(base) + " --depth " + std::to_string(depth) +
                      " is not compiled in; supported: " + supported_models);
}

template <class Net>
void check_size(int size) {
    if (!Net::is_valid_size(size))
        throw usage_error("--size " + std::to_string(size) + " does not fit " + Net::describe() + "; nearest valid sizes: " +
                          std::to_string(Net::previous_valid_size(size)) + " and " +
                          std::to_string(Net::next_valid_size(size)));
}

}  // namespace cli
