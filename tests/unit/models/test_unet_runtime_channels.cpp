// A U-Net whose input channels and classes are chosen at run time (unet_cfg::in_channels /
// classes = runtime_channels): the same network, bit for bit, as the type with the counts fixed
// at compile time (forward, backward, parameter names and shapes, weight files both ways), with
// the counts checked when the object is built and when an image arrives.

#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>
#include <stdexcept>
#include <string>
#include <vector>

#include <unetpp/infer.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;

namespace {

template <int In, int Classes, padding Pad = padding::same, norm_kind Norm = norm_kind::batch>
using fixed_net = unet<unet_cfg{.in_channels = In, .classes = Classes, .base = 4, .depth = 2, .pad = Pad, .norm = Norm}>;
template <padding Pad = padding::same, norm_kind Norm = norm_kind::batch>
using runtime_net = unet<unet_cfg{.in_channels = runtime_channels, .classes = runtime_channels, .base = 4, .depth = 2,
                                  .pad = Pad, .norm = Norm}>;

tensor<float> ramp(shape4 s, float step) {
    tensor<float> x(s);
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>((i * 37) % 101) * step - 0.4f;
    return x;
}

struct named_tensor {
    std::string name;
    std::vector<float> value, grad;
    shape4 shape;
};
template <class Net>
std::vector<named_tensor> parameters_of(Net& net) {
    std::vector<named_tensor> out;
    net.visit_parameters([&](std::string_view n, tensor<float>& v, tensor<float>& g) {
        out.push_back({std::string(n), std::vector<float>(v.data(), v.data() + v.size()),
                       std::vector<float>(g.data(), g.data() + g.size()), v.shape()});
    });
    return out;
}

/// Forward, backward and the parameters of a fixed and a run-time network built from one seed
/// must agree exactly (the same layers, visited in the same order, drawing the same numbers).
template <class Fixed, class Runtime>
void check_same_network(int in, int classes, int side) {
    Fixed a(11);
    Runtime b(11, {.in_channels = in, .classes = classes});
    CHECK(b.channels() == io_channels{in, classes});
    CHECK(b.count_parameters() == Fixed::parameter_count);
    const tensor<float> x = ramp(shape4{2, in, side, side}, 0.01f);
    const tensor<float> ya = a.forward(x);
    const tensor<float>& yb = b.forward(x);
    REQUIRE(yb.shape() == ya.shape());
    CHECK(yb.shape().c == classes);
    CHECK(b.output_shape(x.shape()) == ya.shape());
    for (std::size_t i = 0; i < ya.size(); ++i) REQUIRE(yb.data()[i] == ya.data()[i]);
    const tensor<float> dy = ramp(ya.shape(), 0.003f);
    a.zero_grad();
    b.zero_grad();
    a.backward(x, dy);
    b.backward(x, dy);
    const auto pa = parameters_of(a), pb = parameters_of(b);
    REQUIRE(pa.size() == pb.size());
    for (std::size_t k = 0; k < pa.size(); ++k) {
        CAPTURE(pa[k].name);
        CHECK(pb[k].name == pa[k].name);
        CHECK(pb[k].shape == pa[k].shape);
        CHECK(pb[k].value == pa[k].value);
        CHECK(pb[k].grad == pa[k].grad);
    }
}

}  // namespace

TEST_CASE("runtime channels: the same network as the fixed type, forward and backward") {
    check_same_network<fixed_net<3, 4>, runtime_net<>>(3, 4, 16);
    check_same_network<fixed_net<1, 1>, runtime_net<>>(1, 1, 16);
    check_same_network<fixed_net<2, 3, padding::valid, norm_kind::none>, runtime_net<padding::valid, norm_kind::none>>(
        2, 3, 44);
}

TEST_CASE("runtime channels: only one side chosen at run time") {
    using classes_only = unet<unet_cfg{.in_channels = 1, .classes = runtime_channels, .base = 4, .depth = 2}>;
    check_same_network<fixed_net<1, 5>, classes_only>(1, 5, 16);
    classes_only zero_means_fixed(3, {.in_channels = 0, .classes = 2});
    CHECK(zero_means_fixed.in_channels() == 1);
    CHECK_THROWS_WITH_AS(classes_only(3, {.in_channels = 3, .classes = 2}),
                         doctest::Contains("in_channels is fixed at 1 by the configuration, but 3 was given"),
                         std::invalid_argument);
    // a fixed network takes io_channels that agree with it
    fixed_net<3, 4> f(2, {.in_channels = 3, .classes = 4});
    CHECK(f.classes() == 4);
}

TEST_CASE("runtime channels: counts are checked when the network is built and when an image arrives") {
    CHECK_THROWS_WITH_AS(runtime_net<>(1, {.in_channels = 0, .classes = 2}),
                         doctest::Contains("in_channels: 0 is not a channel count; give 1 to 4096"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(runtime_net<>(1, {.in_channels = 3, .classes = 5000}),
                         doctest::Contains("classes: 5000 is not a channel count"), std::invalid_argument);
    runtime_net<> net(1, {.in_channels = 3, .classes = 2});
    const tensor<float> grey(shape4{1, 1, 16, 16});
    CHECK_THROWS_WITH_AS(net.forward(grey), doctest::Contains("input has 1 channels, the network expects 3"),
                         shape_error);
    CHECK_THROWS_AS((void)net.output_shape(shape4{1, 3, 15, 16}), shape_error);
    // the static size rules do not depend on the channels
    CHECK(runtime_net<>::is_valid_size(16));
    CHECK_FALSE(runtime_net<>::is_valid_size(15));
    CHECK(runtime_net<>::describe() == "unet<in=run-time, classes=run-time, base=4, depth=2, kernel=3, zero-padded>");
    CHECK(runtime_net<>::describe(net.channels()) == "unet<in=3, classes=2, base=4, depth=2, kernel=3, zero-padded>");
}

TEST_CASE("runtime channels: weight files load into the fixed type and back") {
    const auto file = std::filesystem::temp_directory_path() /
                      ("unetpp_test_runtime_channels_" + std::to_string(::getpid()) + ".safetensors");
    struct remove_after {
        std::filesystem::path p;
        ~remove_after() { std::filesystem::remove(p); }
    } cleanup{file};
    runtime_net<> b(5, {.in_channels = 3, .classes = 4});
    io::save_weights(b, file);
    fixed_net<3, 4> a(99);
    io::load_weights(a, file);
    CHECK(parameters_of(a).front().value == parameters_of(b).front().value);
    CHECK(parameters_of(a).back().value == parameters_of(b).back().value);
    // a network built with other counts refuses the file (shapes differ)
    runtime_net<> other(5, {.in_channels = 1, .classes = 4});
    CHECK_THROWS(io::load_weights(other, file));
}

TEST_CASE("runtime channels: overlap-tile inference uses the object's counts") {
    runtime_net<> b(7, {.in_channels = 3, .classes = 4});
    fixed_net<3, 4> a(7);
    const tensor<float> x = ramp(shape4{1, 3, 100, 124}, 0.02f);
    const tensor<float> yb = infer::predict_logits_tiled(b, x, {.tile = 64});  // several tiles per axis
    const tensor<float> ya = infer::predict_logits_tiled(a, x, {.tile = 64});
    REQUIRE(yb.shape() == shape4{1, 4, 100, 124});
    for (std::size_t i = 0; i < ya.size(); ++i) REQUIRE(yb.data()[i] == ya.data()[i]);
    CHECK_THROWS_WITH_AS(infer::predict_logits_tiled(b, tensor<float>(shape4{1, 1, 40, 52})),
                         doctest::Contains("image has 1 channels, the network expects 3"), std::invalid_argument);
}
