// A program built against unetpp::kernels (UNETPP_SEPARATE_KERNELS): the fast kernels come from
// the compiled library, and whole networks still match the reference backend, whose loops are
// compiled here. Covers every kernel the library holds: convolution forward / fused / backward,
// transposed convolution and the dense kernels for float and double.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <unetpp/build_info.hpp>
#include <unetpp/unet.hpp>

#include "../support/compare.hpp"
#include "../support/gradcheck.hpp"

#ifndef UNETPP_SEPARATE_KERNELS
#error "this test is built against unetpp::kernels, which defines UNETPP_SEPARATE_KERNELS"
#endif

using namespace unetpp;

TEST_CASE("the build reports where the kernels were compiled") {
    CHECK(build_info().find("once, in the unetpp::kernels library") != std::string::npos);
}

TEST_CASE("a network on the library's kernels matches the reference backend") {
    constexpr unet_cfg cfg{.in_channels = 1, .classes = 2, .base = 8, .depth = 3};
    unet<cfg, backend::cpu> fast(3);
    unet<cfg, backend::cpu_reference> ref(3);
    fast.need_input_grad(true);
    ref.need_input_grad(true);
    rng r(9);
    tensor<float> x(shape4{2, 1, 40, 32});
    // Inputs whose ReLU kinks land on the same side in both networks (test::relu_kink_flips).
    const auto draw = [&](tensor<float>& t) { test::fill_normal(t, r); };
    const auto [yf, yr] = test::forward_without_kink_flips(fast, ref, x, draw);
    REQUIRE(yf.size() > 0);
    CHECK(test::max_rel_error(yf, yr) < 2e-4);
    tensor<float> dy(yf.shape());
    test::fill_normal(dy, r);
    const tensor<float> dxf = fast.backward(x, dy);
    const tensor<float> dxr = ref.backward(x, dy);
    CHECK(test::max_rel_error(dxf, dxr) < 2e-4);
    CHECK(test::worst_gradient_error(fast, ref) < 2e-4);

    // The fused inference convolution (Conv -> BN -> ReLU folded) is a library kernel too.
    fast.eval();
    ref.eval();
    const tensor<float> eval_ref = ref.forward(x);
    tensor<float> fused;
    {
        inference_mode guard;
        fused = fast.forward(x);
    }
    CHECK(test::max_rel_error(fused, eval_ref) < 2e-4);
}

TEST_CASE("the dense kernels are instantiated for float and double") {
    auto check = []<class T>(T tol) {
        dense<dense_cfg{.in = 5, .out = 3}, backend::cpu, T> layer;
        tensor<T> x(shape4{2, 5, 1, 1});
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(0.25 * (static_cast<double>(i) - 4));
        const tensor<T>& y = layer.forward(x);
        const tensor<T>& w = layer.weight();
        const tensor<T>& b = layer.bias();
        for (int n = 0; n < 2; ++n)
            for (int o = 0; o < 3; ++o) {
                double want = b.data()[o];
                for (int i = 0; i < 5; ++i) want += double(w.data()[o * 5 + i]) * double(x.data()[n * 5 + i]);
                CHECK(std::abs(double(y.data()[n * 3 + o]) - want) < tol);
            }
        tensor<T> dy(y.shape(), T(1));
        const tensor<T>& dx = layer.backward(x, dy);
        // dx[n, i] = sum_o w[o, i] when every output gradient is one.
        for (int i = 0; i < 5; ++i) {
            double want = 0;
            for (int o = 0; o < 3; ++o) want += w.data()[o * 5 + i];
            CHECK(std::abs(double(dx.data()[i]) - want) < tol);
        }
    };
    check(1e-5f);
    check(1e-12);
}
