// Finite-difference gradient checks (double precision) for every trainable layer and for whole
// small U-Nets. The reference backend is used explicitly; double always runs the reference
// loops anyway.

#include <doctest/doctest.h>

#include <unetpp/unet.hpp>

#include "../../support/gradcheck.hpp"

using namespace unetpp;
using test::check_layer_gradients;
using B = backend::cpu_reference;
using D = double;

TEST_CASE("conv2d gradients") {
    SUBCASE("3x3 same with bias") {
        conv2d<conv2d_cfg{.in = 3, .out = 4, .kernel = 3, .pad = padding::same}, B, D> l;
        check_layer_gradients(l, {2, 3, 6, 7});
    }
    SUBCASE("3x3 valid without bias") {
        conv2d<conv2d_cfg{.in = 2, .out = 3, .kernel = 3, .pad = padding::valid, .bias = false}, B, D> l;
        check_layer_gradients(l, {1, 2, 7, 6});
    }
    SUBCASE("3x3 reflect") {
        conv2d<conv2d_cfg{.in = 2, .out = 2, .kernel = 3, .pad = padding::reflect}, B, D> l;
        check_layer_gradients(l, {2, 2, 5, 6});
    }
    SUBCASE("5x5 reflect") {
        conv2d<conv2d_cfg{.in = 1, .out = 2, .kernel = 5, .pad = padding::reflect}, B, D> l;
        check_layer_gradients(l, {1, 1, 6, 7});
    }
    SUBCASE("3x3 stride 2 same") {
        conv2d<conv2d_cfg{.in = 2, .out = 3, .kernel = 3, .stride = 2, .pad = padding::same}, B, D> l;
        check_layer_gradients(l, {2, 2, 7, 8});
    }
    SUBCASE("1x1") {
        conv2d<conv2d_cfg{.in = 4, .out = 2, .kernel = 1, .pad = padding::valid}, B, D> l;
        check_layer_gradients(l, {2, 4, 3, 3});
    }
}

TEST_CASE("conv_transpose2d gradients") {
    SUBCASE("k2 s2") {
        conv_transpose2d<conv_transpose2d_cfg{.in = 3, .out = 2, .kernel = 2, .stride = 2}, B, D> l;
        check_layer_gradients(l, {2, 3, 3, 4});
    }
    SUBCASE("k3 s2 p1") {
        conv_transpose2d<conv_transpose2d_cfg{.in = 2, .out = 3, .kernel = 3, .stride = 2, .padding = 1}, B, D> l;
        check_layer_gradients(l, {1, 2, 4, 3});
    }
}

TEST_CASE("batch_norm2d gradients") {
    batch_norm2d<batch_norm2d_cfg{.channels = 3}, B, D> l;
    rng r(3);
    test::fill_normal(l.weight(), r);
    test::fill_normal(l.bias(), r);
    SUBCASE("train mode (batch statistics)") { check_layer_gradients(l, {3, 3, 4, 5}); }
    SUBCASE("train mode with the fused ReLU") {
        batch_norm2d<batch_norm2d_cfg{.channels = 3, .relu = true}, B, D> fused;
        test::fill_normal(fused.weight(), r);
        test::fill_normal(fused.bias(), r);
        check_layer_gradients(fused, {2, 3, 4, 5});
        fused.train(false);
        check_layer_gradients(fused, {2, 3, 4, 5});
    }
    SUBCASE("eval mode (running statistics)") {
        test::fill_normal(l.running_mean(), r);
        for (auto& v : l.running_var()) v = 0.5 + r.uniform();
        l.train(false);
        check_layer_gradients(l, {2, 3, 4, 4});
    }
}

TEST_CASE("dense, depthwise and separable gradients") {
    SUBCASE("dense") {
        dense<dense_cfg{.in = 12, .out = 5}, B, D> l;
        check_layer_gradients(l, {3, 3, 2, 2});
    }
    SUBCASE("depthwise 3x3 same") {
        depthwise_conv2d<depthwise_conv2d_cfg{.channels = 3, .kernel = 3, .bias = true}, B, D> l;
        check_layer_gradients(l, {2, 3, 5, 6});
    }
    SUBCASE("depthwise 3x3 stride 2 reflect") {
        depthwise_conv2d<depthwise_conv2d_cfg{.channels = 2, .kernel = 3, .stride = 2, .pad = padding::reflect}, B, D> l;
        check_layer_gradients(l, {1, 2, 7, 6});
    }
    SUBCASE("separable") {
        separable_conv2d<separable_conv2d_cfg{.in = 3, .out = 4, .kernel = 3}, B, D> l;
        check_layer_gradients(l, {2, 3, 5, 5});
    }
}

TEST_CASE("parameter-free layers pass the same check") {
    SUBCASE("relu") {
        relu<B, D> l;
        check_layer_gradients(l, {2, 3, 4, 4});
    }
    SUBCASE("leaky_relu") {
        leaky_relu<0.1, B, D> l;
        check_layer_gradients(l, {2, 3, 4, 4});
    }
    SUBCASE("sigmoid") {
        sigmoid<B, D> l;
        check_layer_gradients(l, {2, 3, 4, 4});
    }
    SUBCASE("softmax over channels") {
        softmax<B, D> l;
        check_layer_gradients(l, {2, 4, 3, 3});
    }
    SUBCASE("max_pool2d 2/2") {
        max_pool2d<max_pool2d_cfg{.window = 2, .stride = 2}, B, D> l;
        check_layer_gradients(l, {2, 2, 6, 6});
    }
    SUBCASE("max_pool2d 3/2 overlapping") {
        max_pool2d<max_pool2d_cfg{.window = 3, .stride = 2}, B, D> l;
        check_layer_gradients(l, {1, 2, 7, 7});
    }
    SUBCASE("global average pooling") {
        global_avg_pool<B, D> l;
        check_layer_gradients(l, {2, 3, 3, 4});
    }
    SUBCASE("bilinear x2") {
        upsample_bilinear2x<B, D> l;
        check_layer_gradients(l, {1, 2, 3, 4});
    }
    SUBCASE("flatten") {
        flatten<B, D> l;
        check_layer_gradients(l, {2, 2, 2, 3});
    }
    SUBCASE("center crop") {
        center_crop<B, D> l;
        l.set_target(3, 4);
        check_layer_gradients(l, {1, 2, 6, 7});
    }
}

TEST_CASE("concat with crop: gradients of both inputs") {
    // L = sum(r * cat(crop(a), b)); dL/da is r's first channels placed in the crop window.
    concat_channels<true, B, D> cat;
    rng r(11);
    tensor<D> a(shape4{2, 2, 7, 8}), b(shape4{2, 3, 4, 4});
    test::fill_normal(a, r);
    test::fill_normal(b, r);
    const tensor<D> y = cat.forward(a, b);
    tensor<D> w(y.shape());
    test::fill_normal(w, r);
    auto [da, db] = cat.backward(w);
    const tensor<D> da_copy = da, db_copy = db;
    const double h = 1e-6;
    for (auto* t : {&a, &b}) {
        const tensor<D>& analytic = t == &a ? da_copy : db_copy;
        for (std::size_t i = 0; i < t->size(); ++i) {
            const D keep = (*t)[i];
            (*t)[i] = keep + h;
            const double lp = test::dot(cat.forward(a, b), w);
            (*t)[i] = keep - h;
            const double lm = test::dot(cat.forward(a, b), w);
            (*t)[i] = keep;
            REQUIRE(analytic[i] == doctest::Approx((lp - lm) / (2 * h)).epsilon(1e-6));
        }
    }
}

TEST_CASE("whole U-Nets: gradients of input and every parameter tensor") {
    test::gradcheck_opts o;
    o.max_checks_per_tensor = 6;
    SUBCASE("padded, batch norm, transposed up") {
        unet<unet_cfg{.in_channels = 2, .classes = 2, .base = 2, .depth = 2}, B, D> net(5);
        check_layer_gradients(net, {2, 2, 8, 8}, o);
    }
    SUBCASE("reflect padding, bilinear up, no norm") {
        unet<unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 2, .pad = padding::reflect,
                      .norm = norm_kind::none, .up = up_mode::bilinear},
             B, D>
            net(6);
        check_layer_gradients(net, {1, 1, 8, 12}, o);
    }
    SUBCASE("unpadded with crop-and-concat") {
        using net_t = unet<unet_cfg{.in_channels = 1, .classes = 2, .base = 2, .depth = 2, .pad = padding::valid,
                                    .norm = norm_kind::none},
                           B, D>;
        net_t net(7);
        const int s = net_t::min_input_size;
        check_layer_gradients(net, {1, 1, s, s + 4}, o);
    }
}
