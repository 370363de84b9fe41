// Every operation of backend::cuda against backend::cpu on the same random inputs (label cuda;
// needs a GPU, exits 77 without one; the first case runs without one). Data movement, pooling (with its argmax),
// dropout masks and the finite check must match exactly; arithmetic to 1e-4 of each result's largest magnitude (cuDNN
// and cuBLAS sum in other orders than the CPU; TF32 is off).

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/backend/cuda.hpp>
#include <unetpp/build_info.hpp>
#include <unetpp/tensor/rng.hpp>

#include "../../support/cuda_test.hpp"

using namespace unetpp;
using cpu = backend::cpu;
using gpu = backend::cuda;
using memory::cuda_device;

namespace {

constexpr double tol = 1e-4;

/// The same values on the host and on the device.
struct buf {
    tensor<float> h;
    tensor<float, cuda_device> d;

    buf(shape4 s, std::uint64_t seed, float lo = -1, float hi = 1) : h(s) {
        rng r(seed);
        for (auto& v : h) v = static_cast<float>(r.uniform(lo, hi));
        d.assign(h);
    }
    explicit buf(shape4 s) : h(s) { d.assign(h); }
    float* hp() { return h.data(); }
    memory::device_ptr<float> dp() { return d.data(); }
};

void same(buf& b, double tolerance, const char* what) {
    CAPTURE(what);
    CHECK(test::relative_gap(b.h, to_host(b.d)) <= tolerance);
}

void conv_case(const backend::conv_geometry& g) {
    CAPTURE(g.kh);
    CAPTURE(g.stride);
    CAPTURE(g.pad);
    CAPTURE(static_cast<int>(g.padding));
    buf x({g.n, g.cin, g.h, g.w}, 1), w({g.cout, g.cin, g.kh, g.kw}, 2), b({1, 1, 1, g.cout}, 3);
    buf y({g.n, g.cout, g.oh(), g.ow()}), dy({g.n, g.cout, g.oh(), g.ow()}, 4), dx({g.n, g.cin, g.h, g.w}, 5);
    buf dw({g.cout, g.cin, g.kh, g.kw}, 6), db({1, 1, 1, g.cout}, 7);
    cpu::conv2d_forward(g, x.hp(), w.hp(), b.hp(), y.hp());
    gpu::conv2d_forward(g, x.dp(), w.dp(), b.dp(), y.dp());
    same(y, tol, "conv2d_forward");
    buf scale({1, 1, 1, g.cout}, 8, 0.5f, 1.5f), shift({1, 1, 1, g.cout}, 9);
    cpu::conv2d_forward_fused(g, x.hp(), w.hp(), b.hp(), scale.hp(), shift.hp(), true, y.hp());
    gpu::conv2d_forward_fused(g, x.dp(), w.dp(), b.dp(), scale.dp(), shift.dp(), true, y.dp());
    same(y, tol, "conv2d_forward_fused");
    cpu::conv2d_backward_data(g, dy.hp(), w.hp(), dx.hp());
    gpu::conv2d_backward_data(g, dy.dp(), w.dp(), dx.dp());
    same(dx, tol, "conv2d_backward_data");
    cpu::conv2d_backward_weights(g, x.hp(), dy.hp(), dw.hp(), db.hp());
    gpu::conv2d_backward_weights(g, x.dp(), dy.dp(), dw.dp(), db.dp());
    same(dw, tol, "conv2d_backward_weights (added to)");
    same(db, tol, "conv2d bias gradient (added to)");
}

}  // namespace

TEST_CASE("build_info names the compiled architectures and the device, or why none is usable") {
    const std::string info = build_info();
    CHECK(info.find("CUDA backend:  compiled for sm_") != std::string::npos);
    const auto d = cuda_runtime::probe_device();
    if (d.usable) {
        CHECK(info.find("device 0: ") != std::string::npos);
    } else {
        CHECK(info.find("no usable device: " + d.reason) != std::string::npos);
        // Device memory is refused with the reason, not a crash.
        const auto allocate = [] { return tensor<float, cuda_device>(shape4{1, 1, 2, 2}); };
        const std::string expected = "unetpp cuda: no usable CUDA device: " + d.reason;
        CHECK_THROWS_WITH_AS(allocate(), expected.c_str(), std::runtime_error);
    }
}

TEST_CASE("convolutions: every kernel size, stride and padding kind the layers use") {
    if (test::no_cuda_device()) return;
    for (const int k : {1, 3})
        for (const int stride : {1, 2})
            for (const auto kind : {backend::pad_kind::zero, backend::pad_kind::reflect})
                conv_case({.n = 2,
                           .cin = 3,
                           .h = 9,
                           .w = 11,
                           .cout = 5,
                           .kh = k,
                           .kw = k,
                           .stride = stride,
                           .pad = k / 2,
                           .padding = kind});
    conv_case({.n = 1, .cin = 16, .h = 20, .w = 20, .cout = 8, .kh = 3, .kw = 3});  // valid
}

TEST_CASE("transposed and depthwise convolutions") {
    if (test::no_cuda_device()) return;
    for (const auto& g :
         {backend::conv_transpose_geometry{.n = 2, .cin = 6, .h = 5, .w = 7, .cout = 3, .kh = 2, .kw = 2},
          backend::conv_transpose_geometry{
              .n = 1, .cin = 4, .h = 6, .w = 6, .cout = 5, .kh = 3, .kw = 3, .stride = 2, .pad = 1}}) {
        buf x({g.n, g.cin, g.h, g.w}, 11), w({g.cin, g.cout, g.kh, g.kw}, 12), b({1, 1, 1, g.cout}, 13);
        buf y({g.n, g.cout, g.oh(), g.ow()}), dy({g.n, g.cout, g.oh(), g.ow()}, 14), dx({g.n, g.cin, g.h, g.w});
        buf dw({g.cin, g.cout, g.kh, g.kw}, 15), db({1, 1, 1, g.cout}, 16);
        cpu::conv_transpose2d_forward(g, x.hp(), w.hp(), b.hp(), y.hp());
        gpu::conv_transpose2d_forward(g, x.dp(), w.dp(), b.dp(), y.dp());
        same(y, tol, "conv_transpose2d_forward");
        cpu::conv_transpose2d_backward_data(g, dy.hp(), w.hp(), dx.hp());
        gpu::conv_transpose2d_backward_data(g, dy.dp(), w.dp(), dx.dp());
        same(dx, tol, "conv_transpose2d_backward_data");
        cpu::conv_transpose2d_backward_weights(g, x.hp(), dy.hp(), dw.hp(), db.hp());
        gpu::conv_transpose2d_backward_weights(g, x.dp(), dy.dp(), dw.dp(), db.dp());
        same(dw, tol, "conv_transpose2d_backward_weights");
        same(db, tol, "conv_transpose2d bias gradient");
    }
    for (const auto kind : {backend::pad_kind::zero, backend::pad_kind::reflect})
        for (const int stride : {1, 2}) {
            const backend::depthwise_geometry g{
                .n = 2, .c = 6, .h = 9, .w = 10, .k = 3, .stride = stride, .pad = 1, .padding = kind};
            buf x({g.n, g.c, g.h, g.w}, 21), w({g.c, 1, g.k, g.k}, 22), b({1, 1, 1, g.c}, 23);
            buf y({g.n, g.c, g.oh(), g.ow()}), dy({g.n, g.c, g.oh(), g.ow()}, 24), dx({g.n, g.c, g.h, g.w});
            buf dw({g.c, 1, g.k, g.k}, 25), db({1, 1, 1, g.c}, 26);
            cpu::depthwise_conv2d_forward(g, x.hp(), w.hp(), b.hp(), y.hp());
            gpu::depthwise_conv2d_forward(g, x.dp(), w.dp(), b.dp(), y.dp());
            same(y, tol, "depthwise_conv2d_forward");
            cpu::depthwise_conv2d_backward(g, x.hp(), w.hp(), dy.hp(), dx.hp(), dw.hp(), db.hp());
            gpu::depthwise_conv2d_backward(g, x.dp(), w.dp(), dy.dp(), dx.dp(), dw.dp(), db.dp());
            same(dx, tol, "depthwise dx");
            same(dw, tol, "depthwise dw");
            same(db, tol, "depthwise db");
        }
}

TEST_CASE("dense layers through cuBLAS use backend::cpu's layouts") {
    if (test::no_cuda_device()) return;
    const int n = 3, in = 7, out = 5;
    buf x({1, 1, n, in}, 31), w({1, 1, out, in}, 32), b({1, 1, 1, out}, 33), y({1, 1, n, out});
    buf dy({1, 1, n, out}, 34), dx({1, 1, n, in}, 35), dw({1, 1, out, in}, 36), db({1, 1, 1, out}, 37);
    cpu::dense_forward(x.hp(), w.hp(), b.hp(), y.hp(), n, in, out);
    gpu::dense_forward(x.dp(), w.dp(), b.dp(), y.dp(), n, in, out);
    same(y, tol, "dense_forward");
    cpu::dense_backward(x.hp(), w.hp(), dy.hp(), dx.hp(), dw.hp(), db.hp(), n, in, out);
    gpu::dense_backward(x.dp(), w.dp(), dy.dp(), dx.dp(), dw.dp(), db.dp(), n, in, out);
    same(dx, tol, "dense dx");
    same(dw, tol, "dense dw (added to)");
    same(db, tol, "dense db (added to)");
}

TEST_CASE("element-wise operations, softmax and gating") {
    if (test::no_cuda_device()) return;
    const shape4 s{2, 3, 5, 7};
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(s.size());
    const std::ptrdiff_t plane = 35;
    buf x(s, 41), g({2, 1, 5, 7}, 42, 0, 1), dy(s, 43), y(s), dx(s), dg({2, 1, 5, 7}, 44);
    cpu::relu_forward(x.hp(), y.hp(), n), gpu::relu_forward(x.dp(), y.dp(), n), same(y, 0, "relu");
    cpu::relu_backward(x.hp(), dy.hp(), dx.hp(), n), gpu::relu_backward(x.dp(), dy.dp(), dx.dp(), n);
    same(dx, 0, "relu_backward");
    cpu::leaky_relu_forward(x.hp(), y.hp(), n, 0.1f), gpu::leaky_relu_forward(x.dp(), y.dp(), n, 0.1f);
    same(y, 0, "leaky_relu");
    cpu::leaky_relu_backward(x.hp(), dy.hp(), dx.hp(), n, 0.1f);
    gpu::leaky_relu_backward(x.dp(), dy.dp(), dx.dp(), n, 0.1f);
    same(dx, 0, "leaky_relu_backward");
    cpu::sigmoid_forward(x.hp(), y.hp(), n), gpu::sigmoid_forward(x.dp(), y.dp(), n), same(y, 1e-6, "sigmoid");
    cpu::sigmoid_backward(y.hp(), dy.hp(), dx.hp(), n), gpu::sigmoid_backward(y.dp(), dy.dp(), dx.dp(), n);
    same(dx, 1e-6, "sigmoid_backward");
    cpu::softmax_channels_forward(x.hp(), y.hp(), 2, 3, plane),
        gpu::softmax_channels_forward(x.dp(), y.dp(), 2, 3, plane);
    same(y, 1e-6, "softmax");
    cpu::softmax_channels_backward(y.hp(), dy.hp(), dx.hp(), 2, 3, plane);
    gpu::softmax_channels_backward(y.dp(), dy.dp(), dx.dp(), 2, 3, plane);
    same(dx, 1e-6, "softmax_backward");
    cpu::multiply(x.hp(), dy.hp(), y.hp(), n), gpu::multiply(x.dp(), dy.dp(), y.dp(), n), same(y, 0, "multiply");
    cpu::add(x.hp(), dy.hp(), y.hp(), n), gpu::add(x.dp(), dy.dp(), y.dp(), n), same(y, 0, "add");
    cpu::accumulate(x.hp(), y.hp(), n), gpu::accumulate(x.dp(), y.dp(), n), same(y, 0, "accumulate");
    cpu::scale(y.hp(), n, 0.5f), gpu::scale(y.dp(), n, 0.5f), same(y, 0, "scale");
    cpu::clamp(y.hp(), n, -0.3f, 0.4f), gpu::clamp(y.dp(), n, -0.3f, 0.4f), same(y, 0, "clamp");
    cpu::multiply_planes(x.hp(), g.hp(), y.hp(), 2, 3, plane),
        gpu::multiply_planes(x.dp(), g.dp(), y.dp(), 2, 3, plane);
    same(y, 0, "multiply_planes");
    cpu::multiply_planes_backward(x.hp(), g.hp(), dy.hp(), dx.hp(), dg.hp(), 2, 3, plane);
    gpu::multiply_planes_backward(x.dp(), g.dp(), dy.dp(), dx.dp(), dg.dp(), 2, 3, plane);
    same(dx, 0, "multiply_planes_backward dx");
    same(dg, 1e-6, "multiply_planes_backward dg");
    buf mask(s);
    cpu::dropout_mask(mask.hp(), n, 0.3, 99), gpu::dropout_mask(mask.dp(), n, 0.3, 99), same(mask, 0, "dropout_mask");
}

TEST_CASE("pooling, with the same argmax as the CPU, and global average pooling") {
    if (test::no_cuda_device()) return;
    const int planes = 6, h = 8, w = 10;
    buf x({1, planes, h, w}, 51), y({1, planes, h / 2, w / 2}), dy({1, planes, h / 2, w / 2}, 52),
        dx({1, planes, h, w});
    x.h[1] = x.h[0];  // a tie inside the first window
    x.d.assign(x.h);
    tensor<std::int32_t> ah(shape4{1, planes, h / 2, w / 2});
    tensor<std::int32_t, cuda_device> ad(shape4{1, planes, h / 2, w / 2});
    cpu::max_pool2d_forward(x.hp(), y.hp(), ah.data(), planes, h, w, 2, 2);
    gpu::max_pool2d_forward(x.dp(), y.dp(), ad.data(), planes, h, w, 2, 2);
    same(y, 0, "max_pool2d_forward");
    const tensor<std::int32_t> ad_host = to_host(ad);
    bool argmax_equal = true;
    for (std::size_t i = 0; i < ah.size(); ++i) argmax_equal = argmax_equal && ah[i] == ad_host[i];
    CHECK(argmax_equal);
    cpu::max_pool2d_backward(dy.hp(), ah.data(), dx.hp(), planes, h, w, h / 2, w / 2);
    gpu::max_pool2d_backward(dy.dp(), ad.data(), dx.dp(), planes, h, w, h / 2, w / 2);
    same(dx, 0, "max_pool2d_backward");
    buf ys({1, planes, h, w});
    tensor<std::int32_t> sh(shape4{1, planes, h, w});
    tensor<std::int32_t, cuda_device> sd(shape4{1, planes, h, w});
    cpu::max_pool2d_same_forward(x.hp(), ys.hp(), sh.data(), planes, h, w, 3);
    gpu::max_pool2d_same_forward(x.dp(), ys.dp(), sd.data(), planes, h, w, 3);
    same(ys, 0, "max_pool2d_same_forward");
    buf gy({1, 1, 1, planes}), gdy({1, 1, 1, planes}, 53);
    cpu::global_avg_pool_forward(x.hp(), gy.hp(), planes, h * w),
        gpu::global_avg_pool_forward(x.dp(), gy.dp(), planes, h * w);
    same(gy, 1e-6, "global_avg_pool_forward");
    cpu::global_avg_pool_backward(gdy.hp(), dx.hp(), planes, h * w);
    gpu::global_avg_pool_backward(gdy.dp(), dx.dp(), planes, h * w);
    same(dx, 0, "global_avg_pool_backward");
}

TEST_CASE("batch norm: training, saved statistics, evaluation, backward, folding") {
    if (test::no_cuda_device()) return;
    const int n = 3, c = 4;
    const std::ptrdiff_t plane = 30;
    const shape4 s{n, c, 5, 6}, v{1, 1, 1, c};
    buf x(s, 61, -2, 3), y(s), dy(s, 62), dx(s), gamma(v, 63, 0.5f, 1.5f), beta(v, 64);
    buf rm(v, 65), rv(v, 66, 0.5f, 2), sm(v), sis(v), dgamma(v, 67), dbeta(v, 68);
    for (const bool relu : {false, true}) {
        cpu::batch_norm_forward_train(x.hp(), y.hp(), n, c, plane, gamma.hp(), beta.hp(), 1e-5f, 0.1f, rm.hp(), rv.hp(),
                                      sm.hp(), sis.hp(), relu);
        gpu::batch_norm_forward_train(x.dp(), y.dp(), n, c, plane, gamma.dp(), beta.dp(), 1e-5f, 0.1f, rm.dp(), rv.dp(),
                                      sm.dp(), sis.dp(), relu);
        same(y, 1e-5, "batch_norm_forward_train");
        same(rm, 1e-6, "running mean"), same(rv, 1e-6, "running var"), same(sm, 1e-6, "saved mean");
        same(sis, 1e-6, "saved invstd");
        cpu::batch_norm_apply_saved(x.hp(), y.hp(), n, c, plane, gamma.hp(), beta.hp(), sm.hp(), sis.hp(), relu);
        gpu::batch_norm_apply_saved(x.dp(), y.dp(), n, c, plane, gamma.dp(), beta.dp(), sm.dp(), sis.dp(), relu);
        same(y, 1e-6, "batch_norm_apply_saved");
        cpu::batch_norm_backward_train(x.hp(), dy.hp(), dx.hp(), n, c, plane, gamma.hp(), sm.hp(), sis.hp(),
                                       dgamma.hp(), dbeta.hp(), relu ? y.hp() : nullptr);
        gpu::batch_norm_backward_train(x.dp(), dy.dp(), dx.dp(), n, c, plane, gamma.dp(), sm.dp(), sis.dp(),
                                       dgamma.dp(), dbeta.dp(), relu ? y.dp() : nullptr);
        same(dx, 1e-5, "batch_norm_backward_train"), same(dgamma, 1e-5, "dgamma"), same(dbeta, 1e-5, "dbeta");
        cpu::batch_norm_forward_eval(x.hp(), y.hp(), n, c, plane, gamma.hp(), beta.hp(), 1e-5f, rm.hp(), rv.hp(), relu);
        gpu::batch_norm_forward_eval(x.dp(), y.dp(), n, c, plane, gamma.dp(), beta.dp(), 1e-5f, rm.dp(), rv.dp(), relu);
        same(y, 1e-6, "batch_norm_forward_eval");
        cpu::batch_norm_backward_eval(x.hp(), dy.hp(), dx.hp(), n, c, plane, gamma.hp(), 1e-5f, rm.hp(), rv.hp(),
                                      dgamma.hp(), dbeta.hp(), relu ? y.hp() : nullptr);
        gpu::batch_norm_backward_eval(x.dp(), dy.dp(), dx.dp(), n, c, plane, gamma.dp(), 1e-5f, rm.dp(), rv.dp(),
                                      dgamma.dp(), dbeta.dp(), relu ? y.dp() : nullptr);
        same(dx, 1e-6, "batch_norm_backward_eval"), same(dgamma, 1e-5, "dgamma"), same(dbeta, 1e-5, "dbeta");
    }
    buf scale(v), shift(v);
    cpu::batch_norm_fold(gamma.hp(), beta.hp(), 1e-5f, rm.hp(), rv.hp(), c, scale.hp(), shift.hp());
    gpu::batch_norm_fold(gamma.dp(), beta.dp(), 1e-5f, rm.dp(), rv.dp(), c, scale.dp(), shift.dp());
    same(scale, 1e-6, "fold scale"), same(shift, 1e-6, "fold shift");
}

TEST_CASE("padding, window copies and bilinear up-sampling match bit for bit") {
    if (test::no_cuda_device()) return;
    const int planes = 4, h = 6, w = 7, p = 2;
    buf x({1, planes, h, w}, 71), y({1, planes, h + 2 * p, w + 2 * p}), dy({1, planes, h + 2 * p, w + 2 * p}, 72);
    buf dx({1, planes, h, w});
    for (const auto kind : {backend::pad_kind::zero, backend::pad_kind::reflect}) {
        cpu::pad_forward(x.hp(), y.hp(), planes, h, w, p, kind),
            gpu::pad_forward(x.dp(), y.dp(), planes, h, w, p, kind);
        same(y, 0, "pad_forward");
        cpu::pad_backward(dy.hp(), dx.hp(), planes, h, w, p, kind);
        gpu::pad_backward(dy.dp(), dx.dp(), planes, h, w, p, kind);
        same(dx, 0, "pad_backward");
    }
    buf cat({2, 5, 3, 4}, 73), src({2, 2, 6, 7}, 74), sg({2, 2, 6, 7}, 75);
    cpu::copy_window_to_channels(src.hp(), 2, 2, 6, 7, 1, 2, 3, 4, cat.hp(), 5, 3);
    gpu::copy_window_to_channels(src.dp(), 2, 2, 6, 7, 1, 2, 3, 4, cat.dp(), 5, 3);
    same(cat, 0, "copy_window_to_channels");
    cpu::copy_channels_to_window(cat.hp(), 5, 3, 2, 2, 6, 7, 1, 2, 3, 4, sg.hp());
    gpu::copy_channels_to_window(cat.dp(), 5, 3, 2, 2, 6, 7, 1, 2, 3, 4, sg.dp());
    same(sg, 0, "copy_channels_to_window");
    buf up({1, planes, 2 * h, 2 * w}), dup({1, planes, 2 * h, 2 * w}, 76);
    cpu::upsample_bilinear2x_forward(x.hp(), up.hp(), planes, h, w);
    gpu::upsample_bilinear2x_forward(x.dp(), up.dp(), planes, h, w);
    same(up, 0, "upsample_bilinear2x_forward");
    cpu::upsample_bilinear2x_backward(dup.hp(), dx.hp(), planes, h, w);
    gpu::upsample_bilinear2x_backward(dup.dp(), dx.dp(), planes, h, w);
    same(dx, 0, "upsample_bilinear2x_backward");
}

TEST_CASE("optimiser steps, the gradient norm and the finite check") {
    if (test::no_cuda_device()) return;
    const shape4 s{1, 1, 33, 97};
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(s.size());
    buf p(s, 81), g(s, 82), m(s), v(s);
    const backend::sgd_step sgd{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true, .first = true};
    cpu::sgd_update(p.hp(), g.hp(), m.hp(), n, sgd), gpu::sgd_update(p.dp(), g.dp(), m.dp(), n, sgd);
    same(p, 1e-6, "sgd param"), same(m, 1e-6, "sgd momentum");
    const backend::adam_step adam{
        .lr = 1e-3, .weight_decay = 1e-2, .decoupled_weight_decay = true, .step_size = 1e-2, .inv_sqrt_c2 = 31.6};
    buf am(s), av(s);
    cpu::adam_update(p.hp(), g.hp(), am.hp(), av.hp(), n, adam),
        gpu::adam_update(p.dp(), g.dp(), am.dp(), av.dp(), n, adam);
    same(p, 1e-6, "adamw param"), same(am, 1e-6, "adam m"), same(av, 1e-6, "adam v");
    const double a = cpu::sum_squares(g.hp(), n), b = gpu::sum_squares(g.dp(), n);
    CHECK(std::abs(a - b) <= 1e-6 * a);
    CHECK(gpu::all_finite(g.dp(), n));
    g.h[n / 2] = std::numeric_limits<float>::infinity();
    g.d.assign(g.h);
    CHECK_FALSE(gpu::all_finite(g.dp(), n));
    CHECK(cpu::all_finite(g.hp(), n) == gpu::all_finite(g.dp(), n));
}
