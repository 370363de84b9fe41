// Whole networks on backend::cpu_bf16 against the same networks on backend::cpu (fp32), the
// oracle: unet_bn<16, 4>, unet_bn<32, 4> (padded, Conv-BN-ReLU fused at inference) and a
// Ronneberger-style unpadded network (valid 3x3 convolutions, no BatchNorm, crop-and-concat) of
// base 16, eval mode under unetpp::inference_mode and without it. The bf16 network loads the
// weight file the fp32 one saved, so both compute with the same weights; the BatchNorm statistics
// are randomised first so that the folded scale and shift are not the identity.
//
// The bound. One bf16 convolution is within 2u = 2^-7 of the sum of |products| of each output
// (test_bf16_conv.cpp). To first order the relative errors of the L convolutions in a chain add
// up, each scaled by how much the layers after it amplify a relative perturbation; in these
// networks (BatchNorm or He-initialised weights, ReLU) that factor stays near 1, so the output's
// relative error (L2 norm, and largest difference over largest |output|) is bounded by L * 2^-7,
// L = the number of convolutions on the longest path. The measured errors are printed: about 10x
// below the bound. A dropped tap, channel or tile in any layer gives an error of order 1.
#include <doctest/doctest.h>

#include <unetpp/backend/cpu_bf16.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

#include "../../support/gradcheck.hpp"
#include "../../support/model_inspect.hpp"
#include "../../support/skip.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace unetpp;
using backend::cpu;
using backend::cpu_bf16;

using test::randomise_norms;

struct errors {
    double rel_l2 = 0, max_rel = 0;
};

errors compare(const tensor<float>& y16, const tensor<float>& y32) {
    double se = 0, sr = 0, max_d = 0, max_y = 0;
    for (std::size_t i = 0; i < y32.size(); ++i) {
        const double d = double(y16.data()[i]) - double(y32.data()[i]);
        se += d * d;
        sr += double(y32.data()[i]) * y32.data()[i];
        max_d = std::max(max_d, std::abs(d));
        max_y = std::max(max_y, std::abs(double(y32.data()[i])));
    }
    return {std::sqrt(se / std::max(sr, 1e-300)), max_d / std::max(max_y, 1e-30)};
}

template <unet_cfg C>
void check_network(const char* label, int size, int batch, int convs_on_path) {
    unet<C, cpu> net32(11);
    unet<C, cpu_bf16> net16(12);  // other initial weights: the file must replace them all
    randomise_norms(net32, 5);
    const auto file = std::filesystem::temp_directory_path() /
                      ("unetpp_test_bf16_" + std::to_string(std::random_device{}()) + ".safetensors");
    io::save_weights(net32, file);
    io::load_weights(net16, file);
    std::filesystem::remove(file);
    net32.eval();
    net16.eval();

    rng r(3);
    tensor<float> x(shape4{batch, C.in_channels, size, size});
    testing::fill_normal(x, r);
    const double bound = convs_on_path * (2.0 / 256);
    for (const bool fused : {true, false}) {
        tensor<float> y32, y16;
        if (fused) {
            inference_mode guard;
            y32 = net32.forward(x);
            y16 = net16.forward(x);
        } else {
            y32 = net32.forward(x);
            y16 = net16.forward(x);
        }
        REQUIRE(y16.shape() == y32.shape());
        const errors e = compare(y16, y32);
        const std::string what = std::string(label) + (fused ? " (inference_mode) " : " (eval) ") +
                                 std::to_string(size) + "x" + std::to_string(size) + " batch " + std::to_string(batch);
        MESSAGE(what, ": relative L2 error ", e.rel_l2, ", max |diff| / max |y| ", e.max_rel, ", bound ", bound);
        CHECK(e.rel_l2 <= bound);
        CHECK(e.max_rel <= bound);
        CHECK(e.rel_l2 > 0);  // bf16 did run: an fp32 result would match the oracle exactly
    }
}

constexpr unet_cfg valid_cfg() {
    unet_cfg c = presets::ronneberger2015_cfg;
    c.base = 16;
    return c;
}

}  // namespace

TEST_CASE("cpu_bf16 networks stay within the bf16 bound of fp32") {
    if (!cpu_bf16::supported()) {
        unetpp::test::skip_not_available("no AVX512-BF16 in this build or on this processor");
        return;
    }
    // Longest conv path of a depth-4 U-Net: 2 per encoder level, 2 in the bottleneck, 2 per
    // decoder level, the 1x1 head (the transposed convolutions are fp32 and not counted).
    constexpr int depth4_convs = 2 * 4 + 2 + 2 * 4 + 1;
    check_network<presets::unet_bn<16, 4>::cfg>("unet_bn<16,4>", 64, 2, depth4_convs);
    check_network<presets::unet_bn<32, 4>::cfg>("unet_bn<32,4>", 48, 1, depth4_convs);
    using valid_net = unet<valid_cfg()>;
    check_network<valid_cfg()>("ronneberger2015 base 16", valid_net::next_valid_size(188), 1, depth4_convs);
}

TEST_CASE("cpu_bf16 runs every operation but the forward convolutions in fp32") {
    // Inherited from backend::cpu: bit-identical results, bf16 or not on this machine.
    const backend::conv_geometry g{2, 5, 9, 11, 7, 3, 3, 1, 1};
    std::mt19937 gen(4);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> dy(std::size_t(2) * 7 * 9 * 11), w(7 * 5 * 9), dx32(2 * 5 * 9 * 11), dx16(dx32.size());
    for (auto& v : dy) v = u(gen);
    for (auto& v : w) v = u(gen);
    cpu::conv2d_backward_data(g, dy.data(), w.data(), dx32.data());
    cpu_bf16::conv2d_backward_data(g, dy.data(), w.data(), dx16.data());
    CHECK(dx16 == dx32);
    const backend::conv_transpose_geometry t{1, 6, 5, 7, 3, 2, 2, 2, 0};
    std::vector<float> xt(6 * 5 * 7), wt(6 * 3 * 4), bt(3), yt32(3 * 10 * 14), yt16(yt32.size());
    for (auto& v : xt) v = u(gen);
    for (auto& v : wt) v = u(gen);
    for (auto& v : bt) v = u(gen);
    cpu::conv_transpose2d_forward(t, xt.data(), wt.data(), bt.data(), yt32.data());
    cpu_bf16::conv_transpose2d_forward(t, xt.data(), wt.data(), bt.data(), yt16.data());
    CHECK(yt16 == yt32);
    CHECK(cpu_bf16::name == "cpu_bf16");
}
