// Writes the weights of a freshly initialised network of unetpp-predict's model set for the tool
// tests that need a weights file but not a trained one (tests/tools/device_option.cmake: the same
// file predicted on backend::cpu and backend::cuda must give the same masks):
//
//   unetpp_make_weights OUT [SEED]
//
// unet_bn, base 8, depth 3, one grey input channel, one class, from SEED (default 7), saved with
// io::save_weights (so the file records its unetpp.config and nothing of a training run). Building
// it takes one network, not unetpp-train's model set.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include <unetpp/io/weights.hpp>

#include "../../tools/model_set.hpp"

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: unetpp_make_weights OUT [SEED]\n");
        return 2;
    }
    try {
        const std::uint64_t seed = argc == 3 ? std::stoull(argv[2]) : 7;
        auto net = cli::make_net<cli::unet_bn_any<8, 3>>(seed, 1, 1);
        unetpp::io::save_weights(net, argv[1]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unetpp_make_weights: %s\n", e.what());
        return 2;
    }
    return 0;
}
