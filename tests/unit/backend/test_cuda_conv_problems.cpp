// The CUDA backend's cuDNN problem builders (backend/cuda/conv.hpp), which are pure functions: g++
// runs them here in every build, with no CUDA toolkit. Every convolution, transposed convolution
// and depthwise convolution that every preset runs (forward, backward and fused inference,
// recorded by a backend that forwards to backend::cpu) must give a problem cuDNN can describe,
// with the tensors and pass the backend hands it, and hand-made cases pin the mapping down.

#include <doctest/doctest.h>

#include <cstddef>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <unetpp/backend/cuda/conv.hpp>
#include <unetpp/unet.hpp>

#include "../../support/exercise_network.hpp"

using namespace unetpp;
using cuda_conv::describe;
using cuda_conv::pass;

namespace {

struct recorded {
    std::vector<cuda_conv::problem> problems;
    std::size_t conv = 0, transposed = 0, depthwise = 0;
};
recorded& log() {
    static recorded r;
    return r;
}

template <class G>
void record(const G& g, pass p) {
    log().problems.push_back(describe(g, p));
}

/// backend::cpu, with every convolution's geometry recorded as the cuDNN problems the CUDA backend
/// would build for it.
struct recording_cpu : backend::cpu {
    template <class T>
    static void conv2d_forward(const backend::conv_geometry& g, const T* x, const T* w, const T* b, T* y) {
        ++log().conv;
        record(g, pass::forward);
        backend::cpu::conv2d_forward(g, x, w, b, y);
    }
    template <class T>
    static void conv2d_forward_fused(const backend::conv_geometry& g, const T* x, const T* w, const T* b,
                                     const T* scale, const T* shift, bool relu, T* y) {
        ++log().conv;
        record(g, pass::forward);
        backend::cpu::conv2d_forward_fused(g, x, w, b, scale, shift, relu, y);
    }
    template <class T>
    static void conv2d_backward_data(const backend::conv_geometry& g, const T* dy, const T* w, T* dx) {
        record(g, pass::backward_data);
        backend::cpu::conv2d_backward_data(g, dy, w, dx);
    }
    template <class T>
    static void conv2d_backward_weights(const backend::conv_geometry& g, const T* x, const T* dy, T* dw, T* db) {
        record(g, pass::backward_filter);
        backend::cpu::conv2d_backward_weights(g, x, dy, dw, db);
    }
    template <class T>
    static void conv_transpose2d_forward(const backend::conv_transpose_geometry& g, const T* x, const T* w, const T* b,
                                         T* y) {
        ++log().transposed;
        record(g, pass::forward);
        backend::cpu::conv_transpose2d_forward(g, x, w, b, y);
    }
    template <class T>
    static void conv_transpose2d_backward_data(const backend::conv_transpose_geometry& g, const T* dy, const T* w,
                                               T* dx) {
        record(g, pass::backward_data);
        backend::cpu::conv_transpose2d_backward_data(g, dy, w, dx);
    }
    template <class T>
    static void conv_transpose2d_backward_weights(const backend::conv_transpose_geometry& g, const T* x, const T* dy,
                                                  T* dw, T* db) {
        record(g, pass::backward_filter);
        backend::cpu::conv_transpose2d_backward_weights(g, x, dy, dw, db);
    }
    template <class T>
    static void depthwise_conv2d_forward(const backend::depthwise_geometry& g, const T* x, const T* w, const T* b,
                                         T* y) {
        ++log().depthwise;
        record(g, pass::forward);
        backend::cpu::depthwise_conv2d_forward(g, x, w, b, y);
    }
    template <class T>
    static void depthwise_conv2d_backward(const backend::depthwise_geometry& g, const T* x, const T* w, const T* dy,
                                          T* dx, T* dw, T* db) {
        record(g, pass::backward_filter);
        record(g, pass::backward_data);
        backend::cpu::depthwise_conv2d_backward(g, x, w, dy, dx, dw, db);
    }
};

/// A training forward and backward (gradient 0.25 everywhere) and an inference pass of Net.
template <class Net>
void run(int size) {
    Net net(3);
    tensor<float> x(shape4{2, 1, size, size}, 0.5f);  // every preset takes one channel
    net.train(true);
    const auto out = net.forward(x);
    using network_exercise::ones_like;
    if constexpr (requires { out.segmentation; }) {
        net.backward(x, ones_like<tensor<float>>(out.segmentation.shape()),
                     ones_like<tensor<float>>(out.classification.shape()));
    } else if constexpr (requires { out.aux; }) {
        std::vector<tensor<float>> daux;
        for (const auto& a : out.aux) daux.push_back(ones_like<tensor<float>>(a.shape()));
        net.backward(x, ones_like<tensor<float>>(out.main.shape()), daux);
    } else {
        net.backward(x, ones_like<tensor<float>>(network_exercise::main_logits(out).shape()));
    }
    net.eval();
    inference_mode guard;
    (void)net.forward(x);
}

}  // namespace

TEST_CASE("every convolution of every preset is a problem cuDNN can describe") {
    using R = recording_cpu;
    run<presets::ronneberger2015_t<R>>(presets::ronneberger2015_t<R>::min_input_size);
    run<presets::unet_bn<64, 4, 1, 1, R>>(16);
    run<presets::unet_cbr<64, 4, 1, 1, R>>(16);
    run<presets::bcir_unet_t<R>>(16);
    run<presets::attention_unet_t<R>>(16);
    run<presets::residual_multitask_unet<32, R>>(32);
    run<presets::unet_plusplus<32, 4, 1, 1, R>>(16);
    run<presets::unet_plusplus_ds<32, 4, 1, 1, R>>(16);
    run<presets::busi_stage_classifier<R>>(16);
    const recorded& r = log();
    CHECK(r.conv > 0);
    CHECK(r.transposed > 0);
    std::set<std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>> kinds;
    for (const auto& p : r.problems) {
        CAPTURE(p.x.dims[1]);
        CAPTURE(p.w.dims[0]);
        CAPTURE(p.w.dims[2]);
        CAPTURE(p.stride);
        CAPTURE(p.pad);
        CHECK(cuda_conv::consistent(p));
        CHECK(p.beta == (p.kind == pass::backward_filter ? 1.0f : 0.0f));
        kinds.emplace(static_cast<int>(p.kind), p.x.dims[1], p.w.dims[0], p.w.dims[2], p.stride, p.pad);
    }
    MESSAGE(r.problems.size() << " problems recorded, " << kinds.size() << " distinct by pass, channels, kernel, "
                              << "stride and padding; depthwise calls: " << r.depthwise);
}

TEST_CASE("a convolution's problems: zero padding is cuDNN's, a reflect border is copied into the input") {
    const backend::conv_geometry zero{.n = 2, .cin = 3, .h = 10, .w = 12, .cout = 5, .kh = 3, .kw = 3, .pad = 1};
    const auto f = describe(zero, pass::forward);
    CHECK(f.x == cuda_conv::packed(2, 3, 10, 12));
    CHECK(f.w == cuda_conv::packed(5, 3, 3, 3));
    CHECK(f.y == cuda_conv::packed(2, 5, 10, 12));
    CHECK(f.pad == 1);
    CHECK(f.beta == 0.0f);
    CHECK(cuda_conv::consistent(f));
    CHECK(describe(zero, pass::backward_filter).beta == 1.0f);  // the contract adds to dw

    backend::conv_geometry reflect = zero;
    reflect.padding = backend::pad_kind::reflect;
    const auto r = describe(reflect, pass::backward_data);
    CHECK(r.kind == pass::backward_data);
    CHECK(r.x == cuda_conv::packed(2, 3, 12, 14));  // the padded copy
    CHECK(r.pad == 0);
    CHECK(r.y == f.y);
    CHECK(cuda_conv::consistent(r));

    const backend::conv_geometry strided{.n = 1, .cin = 4, .h = 9, .w = 9, .cout = 8, .kh = 3, .kw = 3, .stride = 2};
    CHECK(describe(strided, pass::forward).y == cuda_conv::packed(1, 8, 4, 4));
    CHECK(cuda_conv::consistent(describe(strided, pass::forward)));
}

TEST_CASE("a transposed convolution is the dual convolution's passes, with its weight as that one's OIHW weight") {
    const backend::conv_transpose_geometry g{.n = 2, .cin = 8, .h = 5, .w = 6, .cout = 4, .kh = 2, .kw = 2};
    REQUIRE(g.oh() == 10);
    const auto f = describe(g, pass::forward);
    CHECK(f.kind == pass::backward_data);
    CHECK(f.x == cuda_conv::packed(2, 4, 10, 12));  // written: the transposed convolution's output
    CHECK(f.w == cuda_conv::packed(8, 4, 2, 2));    // [in, out, k, k]
    CHECK(f.y == cuda_conv::packed(2, 8, 5, 6));    // read: its input
    CHECK(f.stride == 2);
    CHECK(cuda_conv::consistent(f));
    CHECK(describe(g, pass::backward_data).kind == pass::forward);
    CHECK(describe(g, pass::backward_filter).kind == pass::backward_filter);
    CHECK(describe(g, pass::backward_filter).beta == 1.0f);

    const backend::conv_transpose_geometry padded{
        .n = 1, .cin = 3, .h = 7, .w = 7, .cout = 2, .kh = 4, .kw = 4, .stride = 2, .pad = 1};
    CHECK(cuda_conv::consistent(describe(padded, pass::forward)));
}

TEST_CASE("a depthwise convolution is grouped, one group per channel") {
    const backend::depthwise_geometry g{
        .n = 2, .c = 6, .h = 8, .w = 8, .k = 3, .pad = 1, .padding = backend::pad_kind::reflect};
    const auto p = describe(g, pass::forward);
    CHECK(p.x == cuda_conv::packed(2, 6, 10, 10));
    CHECK(p.w == cuda_conv::packed(6, 1, 3, 3));
    CHECK(p.y == cuda_conv::packed(2, 6, 8, 8));
    CHECK(p.pad == 0);
    CHECK(cuda_conv::consistent(p));
    backend::depthwise_geometry zero = g;
    zero.padding = backend::pad_kind::zero;
    CHECK(describe(zero, pass::forward).pad == 1);
    CHECK(describe(zero, pass::forward).x == cuda_conv::packed(2, 6, 8, 8));
}

TEST_CASE("inconsistent problems are refused, and equal problems hash equally") {
    const backend::conv_geometry g{.n = 1, .cin = 4, .h = 8, .w = 8, .cout = 4, .kh = 3, .kw = 3, .pad = 1};
    auto p = describe(g, pass::forward);
    REQUIRE(cuda_conv::consistent(p));
    auto wrong_size = p;
    wrong_size.y = cuda_conv::packed(1, 4, 7, 8);
    CHECK_FALSE(cuda_conv::consistent(wrong_size));
    auto wrong_groups = p;
    wrong_groups.w = cuda_conv::packed(4, 3, 3, 3);  // 4 input channels do not split into groups of 3
    CHECK_FALSE(cuda_conv::consistent(wrong_groups));
    auto wrong_batch = p;
    wrong_batch.y = cuda_conv::packed(2, 4, 8, 8);
    CHECK_FALSE(cuda_conv::consistent(wrong_batch));
    auto strided_tensor = p;
    strided_tensor.x.strides[0] += 1;
    CHECK_FALSE(cuda_conv::consistent(strided_tensor));
    CHECK(cuda_conv::hash(p) == cuda_conv::hash(describe(g, pass::forward)));
    CHECK(cuda_conv::hash(p) != cuda_conv::hash(describe(g, pass::backward_data)));
}
