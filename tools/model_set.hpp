// The compiled model set of unetpp-train, unetpp-predict and unetpp-evaluate: one list, so that
// every network train offers loads in predict and evaluate. Light: the model headers and
// cli_args.hpp only.
#pragma once

#include <cstdint>
#include <string>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/models/presets.hpp>

#include "cli_args.hpp"

namespace cli {

using namespace unetpp;

// --- models ----------------------------------------------------------------------------------

/// The programs' networks take their input channels (grey 1, RGB 3) and classes (1: one logit,
/// sigmoid; N >= 2: N logits, softmax) at run time (unet_cfg = runtime_channels): one compiled
/// type per architecture serves every --in-channels / --classes, which keeps each program's
/// compile time bounded (docs/TRAINING.md). Build one with make_net<Net>(seed, channels, classes).
///
/// unet_bn: padded 3x3 convolutions, batch norm, transposed-conv up, 1x1 head
/// (presets::unet_bn with the boundary channels chosen at run time).
template <int Base, int Depth, class Backend = backend::cpu>
using unet_bn_any = unet<unet_cfg{.in_channels = runtime_channels, .classes = runtime_channels, .base = Base,
                                  .depth = Depth, .kernel = 3, .pad = padding::same, .norm = norm_kind::batch},
                         Backend>;
/// ronneberger2015-style network: unpadded 3x3 convolutions, no batch norm, crop-and-concat skips,
/// 2x2 up-convolutions (the paper's preset has one input channel and two classes).
template <int Base, int Depth, class Backend = backend::cpu>
using ronneberger_any = unet<unet_cfg{.in_channels = runtime_channels, .classes = runtime_channels, .base = Base,
                                      .depth = Depth, .kernel = 3, .pad = padding::valid, .norm = norm_kind::none},
                             Backend>;

inline const char* supported_models =
    "unet_bn with --base 8|16|32|64 and --depth 3|4; ronneberger2015 with --base 64 --depth 4 or --base 16 --depth 3";

/// The compiled set, as X(type template, --model name, --base, --depth), in two halves (the
/// programs may instantiate each half in a translation unit of its own, see train_run.hpp).
#define UNETPP_CLI_MODELS_A(X)                                                                 \
    X(unet_bn_any, "unet_bn", 8, 3) X(unet_bn_any, "unet_bn", 8, 4) X(unet_bn_any, "unet_bn", 16, 3) \
    X(unet_bn_any, "unet_bn", 16, 4) X(unet_bn_any, "unet_bn", 32, 3)
#define UNETPP_CLI_MODELS_B(X)                                                                      \
    X(unet_bn_any, "unet_bn", 32, 4) X(unet_bn_any, "unet_bn", 64, 3) X(unet_bn_any, "unet_bn", 64, 4) \
    X(ronneberger_any, "ronneberger2015", 64, 4) X(ronneberger_any, "ronneberger2015", 16, 3)
#define UNETPP_CLI_MODELS(X) UNETPP_CLI_MODELS_A(X) UNETPP_CLI_MODELS_B(X)

/// Calls f.template operator()<Net>() for the compiled network the options name, on `Backend`
/// (backend::cuda only in the programs' *_cuda.cpp files, cli_device.hpp).
template <class Backend = backend::cpu, class F>
int with_model(const std::string& model, int base, int depth, F&& f) {
#define UNETPP_CLI_DISPATCH(Type, Name, Base, Depth) \
    if (model == Name && base == Base && depth == Depth) return f.template operator()<Type<Base, Depth, Backend>>();
    UNETPP_CLI_MODELS(UNETPP_CLI_DISPATCH)
#undef UNETPP_CLI_DISPATCH
    if (model != "unet_bn" && model != "ronneberger2015")
        throw usage_error("--model '" + model + "' is not compiled in; supported: " + supported_models);
    throw usage_error("--model " + model + " --base " + std::to_string(base) + " --depth " + std::to_string(depth) +
                      " is not compiled in; supported: " + supported_models);
}

/// The network with `channels` input channels and `classes` logit channels, from `seed`.
template <class Net>
Net make_net(std::uint64_t seed, int channels, int classes) {
    return Net(seed, io_channels{.in_channels = channels, .classes = classes});
}

template <class Net>
void check_size(int size) {
    if (!Net::is_valid_size(size))
        throw usage_error("--size " + std::to_string(size) + " does not fit " + Net::describe() + "; nearest valid sizes: " +
                          std::to_string(Net::previous_valid_size(size)) + " and " +
                          std::to_string(Net::next_valid_size(size)));
}

}  // namespace cli
