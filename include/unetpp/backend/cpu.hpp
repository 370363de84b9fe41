#pragma once
/// \file The CPU backend policy: xsimd + OpenMP kernels (`backend::cpu`) and the plain-loop
/// reference kernels kept as the test oracle (`backend::cpu_reference`).
///
/// A backend is a type with static functions, one per operation, taking raw pointers in its
/// memory space. Layers are written once against this interface; a device backend supplies the
/// same functions (see backend/cuda.hpp). There is no run-time dispatch and no silent fallback:
/// which algorithm runs is fixed by the type and reported by build_info().

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "backend.hpp"
#include "profiler.hpp"
#include "cpu/kernels/batch_norm.hpp"
#include "cpu/kernels/conv2d.hpp"
#include "cpu/kernels/conv_transpose2d.hpp"
#include "cpu/kernels/dense.hpp"
#include "cpu/kernels/depthwise_conv2d.hpp"
#include "cpu/kernels/eltwise.hpp"
#include "cpu/kernels/loss.hpp"
#include "cpu/kernels/parallel.hpp"
#include "cpu/kernels/pool.hpp"
#include "cpu/kernels/resample.hpp"
#include "cpu/kernels/update.hpp"

namespace unetpp::inline UNETPP_ABI::backend {

namespace detail {
/// Grow-only scratch buffers, one set per thread. Layers borrow them for padded copies and kernel
/// workspaces, so a pass at an already-seen shape allocates nothing.
template <class T>
class scratch_pool {
public:
    enum slot : int { padded_input = 0, padded_grad = 1, workspace = 2, count = 3 };
    static T* get(slot s, std::size_t elements) {
        auto& buf = buffers()[s];
        if (buf.size() < elements) buf.resize(shape4{1, 1, 1, static_cast<int>(elements)});
        return buf.data();
    }

private:
    static std::array<tensor<T>, count>& buffers() {
        thread_local std::array<tensor<T>, count> b;
        return b;
    }
};
}  // namespace detail

/// CPU backend. `Fast = true` selects the optimised float kernels (double always uses the
/// reference loops, which is what gradient checks want); `Fast = false` forces the reference
/// kernels for every type and is the oracle the fast path is tested against.
template <bool Fast>
struct basic_cpu {
    using memory = unetpp::memory::host;
    static constexpr bool available = true;
    static constexpr bool is_reference = !Fast;
    static constexpr std::string_view name = Fast ? "cpu" : "cpu_reference";

    template <class T>
    static constexpr bool use_fast = Fast && std::is_same_v<T, float>;

    // Arithmetic work of one call for the profiler (multiply-add = 2 flops): each of the forward,
    // backward-data and backward-weights passes does n * cout * cin * kh * kw * oh * ow
    // multiply-adds (a transposed convolution: n * cin * cout * kh * kw * h * w).
    static double conv_flops(const conv_geometry& g) noexcept {
        return 2.0 * g.n * g.cout * g.cin * g.kh * g.kw * g.oh() * g.ow();
    }
    static double conv_transpose_flops(const conv_transpose_geometry& g) noexcept {
        return 2.0 * g.n * g.cin * g.cout * g.kh * g.kw * g.h * g.w;
    }

    // Dense convolution. Zero padding is implicit in the kernels; a reflect-padded border is
    // copied into scratch memory first (kernel_geometry) and its gradient folded back.
    template <class T>
    static void conv2d_forward(const conv_geometry& g, const T* x, const T* w, const T* b, T* y) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other", conv_flops(g));
        const conv_geometry k = kernel_geometry(g);
        x = reflect_padded(g, x);
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_forward(k, x, w, b, y, ws<T>(cpu_kernels::conv2d_forward_workspace_floats(k)));
        else
            cpu_kernels::conv2d_forward_ref(k, x, w, b, y);
    }
    // Fused inference convolution: y = act(scale * (conv(x, w) + b) + shift) per output channel,
    // act = ReLU when `relu` is set (scale, shift and b may be null). An eval-mode Conv ->
    // BatchNorm -> ReLU or Conv -> ReLU chain in one pass over the output.
    template <class T>
    static void conv2d_forward_fused(const conv_geometry& g, const T* x, const T* w, const T* b, const T* scale,
                                     const T* shift, bool relu, T* y) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other", conv_flops(g));
        const conv_geometry k = kernel_geometry(g);
        x = reflect_padded(g, x);
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_forward_fused(k, x, w, b, scale, shift, relu, y,
                                              ws<T>(cpu_kernels::conv2d_forward_fused_workspace_floats(k)));
        else
            cpu_kernels::conv2d_forward_fused_ref(k, x, w, b, scale, shift, relu, y);
    }
    // Optional member of the contract: the fused forward of a convolution whose first c0 input
    // channels are tensor x0, of h0 x w0 maps read centre-cropped to g.h x g.w, and the rest x1 (a
    // decoder's skip and up-sampled map), bit for bit what conv2d_forward_fused gives on their
    // concatenation, which is never written. A network asks conv2d_forward_fused_two_supported
    // first and concatenates where it says no.
    template <class T>
    static bool conv2d_forward_fused_two_supported(const conv_geometry& g, int c0, int h0, int w0) {
        if constexpr (use_fast<T>)
            return cpu_kernels::conv2d_forward_fused_two_supported(g, c0, h0, w0);  // zero padding only
        else
            return false;
    }
    template <class T>
    static void conv2d_forward_fused_two(const conv_geometry& g, const T* x0, int h0, int w0, const T* x1, int c0,
                                         const T* w, const T* b, const T* scale, const T* shift, bool relu, T* y) {
        if constexpr (use_fast<T>) {
            profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other",
                                  conv_flops(g));
            cpu_kernels::conv2d_forward_fused_two(g, x0, h0, w0, x1, c0, w, b, scale, shift, relu, y,
                                                  ws<T>(cpu_kernels::conv2d_forward_fused_workspace_floats(g)));
        } else {
            (void)g, (void)x0, (void)h0, (void)w0, (void)x1, (void)c0, (void)w, (void)b, (void)scale, (void)shift,
                (void)relu, (void)y;
            throw_one_input("conv2d_forward_fused_two");
        }
    }
    template <class T>
    static void conv2d_backward_data(const conv_geometry& g, const T* dy, const T* w, T* dx) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_backward_data 3x3" : "conv2d_backward_data other",
                              conv_flops(g));
        const conv_geometry k = kernel_geometry(g);
        const bool reflect = k.h != g.h;
        T* d = reflect ? scratch<T>(detail::scratch_pool<T>::padded_grad, static_cast<std::size_t>(k.n) * k.cin * k.h * k.w)
                       : dx;
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_backward_data(k, dy, w, d, ws<T>(cpu_kernels::conv2d_backward_data_workspace_floats(k)));
        else
            cpu_kernels::conv2d_backward_data_ref(k, dy, w, d);
        if (reflect) cpu_kernels::pad_backward(d, dx, g.n * g.cin, g.h, g.w, g.pad, pad_kind::reflect);
    }
    template <class T>
    static void conv2d_backward_weights(const conv_geometry& g, const T* x, const T* dy, T* dw, T* db) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_backward_weights 3x3" : "conv2d_backward_weights other",
                              conv_flops(g));
        const conv_geometry k = kernel_geometry(g);
        x = reflect_padded(g, x);
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_backward_weights(k, x, dy, dw, db,
                                                  ws<T>(cpu_kernels::conv2d_backward_weights_workspace_floats(k)));
        else
            cpu_kernels::conv2d_backward_weights_ref(k, x, dy, dw, db);
    }
    // Optional members of the contract: the forward, backward-data and backward-weights passes of
    // a convolution whose first c0 input channels are tensor x0 and the rest x1, both of g's input
    // size (a decoder's skip and up-sampled map in training): the results of the one-input passes
    // on their concatenation, which is never written, nor its gradient (the two inputs' gradients
    // go to dx0 and dx1). Only where conv2d_two_inputs_supported; a network concatenates elsewhere.
    template <class T>
    static bool conv2d_two_inputs_supported(const conv_geometry& g, int c0) {
        if constexpr (use_fast<T>)
            return cpu_kernels::conv2d_two_inputs_supported(g, c0);  // zero padding only
        else
            return false;
    }
    template <class T>
    static void conv2d_forward_two(const conv_geometry& g, const T* x0, const T* x1, int c0, const T* w, const T* b,
                                   T* y) {
        if constexpr (use_fast<T>) {
            profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other",
                                  conv_flops(g));
            cpu_kernels::conv2d_forward_two(g, x0, x1, c0, w, b, y,
                                            ws<T>(cpu_kernels::conv2d_forward_workspace_floats(g)));
        } else {
            (void)g, (void)x0, (void)x1, (void)c0, (void)w, (void)b, (void)y;
            throw_one_input("conv2d_forward_two");
        }
    }
    template <class T>
    static void conv2d_backward_data_two(const conv_geometry& g, const T* dy, const T* w, T* dx0, T* dx1, int c0) {
        if constexpr (use_fast<T>) {
            profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_backward_data 3x3" : "conv2d_backward_data other",
                                  conv_flops(g));
            cpu_kernels::conv2d_backward_data_two(g, dy, w, dx0, dx1, c0,
                                                  ws<T>(cpu_kernels::conv2d_backward_data_workspace_floats(g)));
        } else {
            (void)g, (void)dy, (void)w, (void)dx0, (void)dx1, (void)c0;
            throw_one_input("conv2d_backward_data_two");
        }
    }
    template <class T>
    static void conv2d_backward_weights_two(const conv_geometry& g, const T* x0, const T* x1, int c0, const T* dy,
                                            T* dw, T* db) {
        if constexpr (use_fast<T>) {
            profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_backward_weights 3x3" : "conv2d_backward_weights other",
                                  conv_flops(g));
            cpu_kernels::conv2d_backward_weights_two(
                g, x0, x1, c0, dy, dw, db, ws<T>(cpu_kernels::conv2d_backward_weights_two_workspace_floats(g, c0)));
        } else {
            (void)g, (void)x0, (void)x1, (void)c0, (void)dy, (void)dw, (void)db;
            throw_one_input("conv2d_backward_weights_two");
        }
    }
    static std::string_view conv2d_algorithm(const conv_geometry& g) {
        if constexpr (Fast) return cpu_kernels::conv2d_forward_algorithm(kernel_geometry(g));
        return "reference loops";
    }

    // Transposed convolution (weight [in, out, k, k]).
    template <class T>
    static void conv_transpose2d_forward(const conv_transpose_geometry& g, const T* x, const T* w,
                                         const T* b, T* y) {
        profiler::scope timer("conv_transpose2d_forward", conv_transpose_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv_transpose2d_forward(g, x, w, b, y,
                                                   ws<T>(cpu_kernels::conv_transpose2d_workspace_floats(g)));
        else
            cpu_kernels::conv_transpose2d_forward_ref(g, x, w, b, y);
    }
    template <class T>
    static void conv_transpose2d_backward_data(const conv_transpose_geometry& g, const T* dy,
                                               const T* w, T* dx) {
        profiler::scope timer("conv_transpose2d_backward_data", conv_transpose_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv_transpose2d_backward_data(g, dy, w, dx,
                                                         ws<T>(cpu_kernels::conv_transpose2d_workspace_floats(g)));
        else
            cpu_kernels::conv_transpose2d_backward_data_ref(g, dy, w, dx);
    }
    template <class T>
    static void conv_transpose2d_backward_weights(const conv_transpose_geometry& g, const T* x,
                                                  const T* dy, T* dw, T* db) {
        profiler::scope timer("conv_transpose2d_backward_weights", conv_transpose_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv_transpose2d_backward_weights(
                g, x, dy, dw, db, ws<T>(cpu_kernels::conv_transpose2d_workspace_floats(g)));
        else
            cpu_kernels::conv_transpose2d_backward_weights_ref(g, x, dy, dw, db);
    }

    // Depthwise convolution: the kernels take an already padded input, so a padded border is
    // copied into scratch memory first (and the gradient folded back).
    template <class T>
    static void depthwise_conv2d_forward(const depthwise_geometry& g, const T* x, const T* w, const T* b, T* y) {
        profiler::scope timer("depthwise_conv2d_forward");
        const T* src = padded_copy(x, g.n * g.c, g.h, g.w, g.pad, g.padding);
        cpu_kernels::depthwise_conv2d_forward(src, w, b, y, g.n, g.c, g.h + 2 * g.pad, g.w + 2 * g.pad, g.k, g.stride);
    }
    template <class T>
    static void depthwise_conv2d_backward(const depthwise_geometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw,
                                          T* db) {
        profiler::scope timer("depthwise_conv2d_backward");
        const T* src = padded_copy(x, g.n * g.c, g.h, g.w, g.pad, g.padding);
        const int hp = g.h + 2 * g.pad, wp = g.w + 2 * g.pad;
        T* dpad = g.pad == 0 ? dx
                             : scratch<T>(detail::scratch_pool<T>::padded_grad,
                                          static_cast<std::size_t>(g.n) * g.c * hp * wp);
        cpu_kernels::depthwise_conv2d_backward(src, w, dy, dpad, dw, db, g.n, g.c, hp, wp, g.k, g.stride);
        if (g.pad != 0) cpu_kernels::pad_backward(dpad, dx, g.n * g.c, g.h, g.w, g.pad, g.padding);
    }

    // Memory-bound operations: one implementation in both modes.
    template <class T>
    static void dense_forward(const T* x, const T* w, const T* b, T* y, int n, int in, int out) {
        profiler::scope timer("dense_forward");
        cpu_kernels::dense_forward(x, w, b, y, n, in, out);
    }
    template <class T>
    static void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int n, int in, int out) {
        profiler::scope timer("dense_backward");
        cpu_kernels::dense_backward(x, w, dy, dx, dw, db, n, in, out);
    }
    template <class T>
    static void relu_forward(const T* x, T* y, std::ptrdiff_t n) {
        profiler::scope timer("relu_forward");
        cpu_kernels::relu_forward(x, y, n);
    }
    template <class T>
    static void relu_backward(const T* x, const T* dy, T* dx, std::ptrdiff_t n) {
        profiler::scope timer("relu_backward");
        cpu_kernels::relu_backward(x, dy, dx, n);
    }
    template <class T>
    static void leaky_relu_forward(const T* x, T* y, std::ptrdiff_t n, std::type_identity_t<T> slope) {
        profiler::scope timer("leaky_relu_forward");
        cpu_kernels::leaky_relu_forward(x, y, n, slope);
    }
    template <class T>
    static void leaky_relu_backward(const T* x, const T* dy, T* dx, std::ptrdiff_t n, std::type_identity_t<T> slope) {
        profiler::scope timer("leaky_relu_backward");
        cpu_kernels::leaky_relu_backward(x, dy, dx, n, slope);
    }
    template <class T>
    static void sigmoid_forward(const T* x, T* y, std::ptrdiff_t n) {
        profiler::scope timer("sigmoid_forward");
        cpu_kernels::sigmoid_forward(x, y, n);
    }
    template <class T>
    static void sigmoid_backward(const T* y, const T* dy, T* dx, std::ptrdiff_t n) {
        profiler::scope timer("sigmoid_backward");
        cpu_kernels::sigmoid_backward(y, dy, dx, n);
    }
    template <class T>
    static void softmax_channels_forward(const T* x, T* y, int n, int c, std::ptrdiff_t plane) {
        profiler::scope timer("softmax_channels_forward");
        cpu_kernels::softmax_channels_forward(x, y, n, c, plane);
    }
    template <class T>
    static void softmax_channels_backward(const T* y, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane) {
        profiler::scope timer("softmax_channels_backward");
        cpu_kernels::softmax_channels_backward(y, dy, dx, n, c, plane);
    }
    template <class T>
    static void multiply(const T* a, const T* b, T* y, std::ptrdiff_t n) {
        profiler::scope timer("multiply");
        cpu_kernels::multiply(a, b, y, n);
    }
    template <class T>
    static void add(const T* a, const T* b, T* y, std::ptrdiff_t n) {
        profiler::scope timer("add");
        cpu_kernels::add(a, b, y, n);
    }
    template <class T>
    static void accumulate(const T* x, T* y, std::ptrdiff_t n) {
        profiler::scope timer("accumulate");
        cpu_kernels::accumulate(x, y, n);
    }
    template <class T>
    static void scale(T* x, std::ptrdiff_t n, std::type_identity_t<T> s) {
        cpu_kernels::scale(x, n, s);
    }
    template <class T>
    static void clamp(T* x, std::ptrdiff_t n, std::type_identity_t<T> lo, std::type_identity_t<T> hi) {
        cpu_kernels::clamp(x, n, lo, hi);
    }
    template <class T>
    static void multiply_planes(const T* x, const T* g, T* y, int n, int c, std::ptrdiff_t plane) {
        profiler::scope timer("multiply_planes");
        cpu_kernels::multiply_planes(x, g, y, n, c, plane);
    }
    template <class T>
    static void multiply_planes_backward(const T* x, const T* g, const T* dy, T* dx, T* dg, int n, int c,
                                         std::ptrdiff_t plane) {
        profiler::scope timer("multiply_planes_backward");
        cpu_kernels::multiply_planes_backward(x, g, dy, dx, dg, n, c, plane);
    }
    template <class T>
    static void max_pool2d_forward(const T* x, T* y, std::int32_t* argmax, int planes, int h, int w, int k, int s) {
        profiler::scope timer("max_pool2d_forward");
        cpu_kernels::max_pool2d_forward(x, y, argmax, planes, h, w, k, s);
    }
    template <class T>
    static void max_pool2d_backward(const T* dy, const std::int32_t* argmax, T* dx, int planes, int h, int w, int oh,
                                    int ow) {
        profiler::scope timer("max_pool2d_backward");
        cpu_kernels::max_pool2d_backward(dy, argmax, dx, planes, h, w, oh, ow);
    }
    template <class T>
    static void max_pool2d_same_forward(const T* x, T* y, std::int32_t* argmax, int planes, int h, int w, int k) {
        profiler::scope timer("max_pool2d_same_forward");
        cpu_kernels::max_pool2d_same_forward(x, y, argmax, planes, h, w, k);
    }
    template <class T>
    static void global_avg_pool_forward(const T* x, T* y, int planes, std::ptrdiff_t plane) {
        profiler::scope timer("global_avg_pool_forward");
        cpu_kernels::global_avg_pool_forward(x, y, planes, plane);
    }
    template <class T>
    static void global_avg_pool_backward(const T* dy, T* dx, int planes, std::ptrdiff_t plane) {
        profiler::scope timer("global_avg_pool_backward");
        cpu_kernels::global_avg_pool_backward(dy, dx, planes, plane);
    }
    template <class T>
    static void batch_norm_forward_train(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma,
                                         const T* beta, std::type_identity_t<T> eps, std::type_identity_t<T> momentum,
                                         T* running_mean, T* running_var, T* save_mean, T* save_invstd, bool relu) {
        profiler::scope timer("batch_norm_forward_train");
        cpu_kernels::batch_norm_forward_train(x, y, n, c, plane, gamma, beta, eps, momentum, running_mean, running_var,
                                              save_mean, save_invstd, relu);
    }
    template <class T>
    static void batch_norm_apply_saved(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma,
                                       const T* beta, const T* save_mean, const T* save_invstd, bool relu) {
        profiler::scope timer("batch_norm_apply_saved");
        cpu_kernels::batch_norm_apply_saved(x, y, n, c, plane, gamma, beta, save_mean, save_invstd, relu);
    }
    template <class T>
    static void batch_norm_forward_eval(const T* x, T* y, int n, int c, std::ptrdiff_t plane, const T* gamma,
                                        const T* beta, std::type_identity_t<T> eps, const T* running_mean,
                                        const T* running_var, bool relu) {
        profiler::scope timer("batch_norm_forward_eval");
        cpu_kernels::batch_norm_forward_eval(x, y, n, c, plane, gamma, beta, eps, running_mean, running_var, relu);
    }
    template <class T>
    static void batch_norm_backward_train(const T* x, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane,
                                          const T* gamma, const T* save_mean, const T* save_invstd, T* dgamma,
                                          T* dbeta, const T* relu_out) {
        profiler::scope timer("batch_norm_backward_train");
        cpu_kernels::batch_norm_backward_train(x, dy, dx, n, c, plane, gamma, save_mean, save_invstd, dgamma, dbeta,
                                               relu_out);
    }
    template <class T>
    static void batch_norm_backward_eval(const T* x, const T* dy, T* dx, int n, int c, std::ptrdiff_t plane,
                                         const T* gamma, std::type_identity_t<T> eps, const T* running_mean,
                                         const T* running_var, T* dgamma, T* dbeta, const T* relu_out) {
        profiler::scope timer("batch_norm_backward_eval");
        cpu_kernels::batch_norm_backward_eval(x, dy, dx, n, c, plane, gamma, eps, running_mean, running_var, dgamma,
                                              dbeta, relu_out);
    }
    template <class T>
    static void batch_norm_fold(const T* gamma, const T* beta, std::type_identity_t<T> eps, const T* running_mean,
                                const T* running_var, int c, T* scale, T* shift) {
        cpu_kernels::batch_norm_fold(gamma, beta, eps, running_mean, running_var, c, scale, shift);
    }
    template <class T>
    static void pad_forward(const T* x, T* y, int planes, int h, int w, int p, pad_kind kind) {
        profiler::scope timer("pad_forward");
        cpu_kernels::pad_forward(x, y, planes, h, w, p, kind);
    }
    template <class T>
    static void pad_backward(const T* dy, T* dx, int planes, int h, int w, int p, pad_kind kind) {
        profiler::scope timer("pad_backward");
        cpu_kernels::pad_backward(dy, dx, planes, h, w, p, kind);
    }
    template <class T>
    static void copy_window_to_channels(const T* src, int n, int c, int h, int w, int oy, int ox, int th, int tw,
                                        T* dst, int c_total, int c_offset) {
        profiler::scope timer("copy_window_to_channels");
        cpu_kernels::copy_window_to_channels(src, n, c, h, w, oy, ox, th, tw, dst, c_total, c_offset);
    }
    template <class T>
    static void copy_channels_to_window(const T* dst_grad, int c_total, int c_offset, int n, int c, int h, int w,
                                        int oy, int ox, int th, int tw, T* src_grad) {
        profiler::scope timer("copy_channels_to_window");
        cpu_kernels::copy_channels_to_window(dst_grad, c_total, c_offset, n, c, h, w, oy, ox, th, tw, src_grad);
    }
    template <class T>
    static void upsample_bilinear2x_forward(const T* x, T* y, int planes, int h, int w) {
        profiler::scope timer("upsample_bilinear2x_forward");
        cpu_kernels::upsample_bilinear2x_forward(x, y, planes, h, w);
    }
    template <class T>
    static void upsample_bilinear2x_backward(const T* dy, T* dx, int planes, int h, int w) {
        profiler::scope timer("upsample_bilinear2x_backward");
        cpu_kernels::upsample_bilinear2x_backward(dy, dx, planes, h, w);
    }
    template <class T>
    static void dropout_mask(T* mask, std::ptrdiff_t n, double p, std::uint64_t seed) {
        cpu_kernels::dropout_mask(mask, n, p, seed);
    }

    // Optimiser steps and gradient reductions.
    template <class T>
    static void sgd_update(T* p, const T* g, T* momentum, std::ptrdiff_t n, const sgd_step& st) {
        cpu_kernels::sgd_update(p, g, momentum, n, st);
    }
    template <class T>
    static void adam_update(T* p, const T* g, T* m, T* v, std::ptrdiff_t n, const adam_step& st) {
        cpu_kernels::adam_update(p, g, m, v, n, st);
    }
    template <class T>
    static double sum_squares(const T* x, std::ptrdiff_t n) {
        return cpu_kernels::sum_squares(x, n);
    }
    template <class T>
    static bool all_finite(const T* x, std::ptrdiff_t n) {
        return cpu_kernels::all_finite(x, n);
    }

    // Losses (the host losses of include/unetpp/losses/ run these).
    template <class T>
    static double bce_with_logits_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad) {
        return cpu_kernels::bce_with_logits_loss(g, x, t, w, grad);
    }
    template <class T>
    static double region_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad,
                              const region_loss_params& r) {
        return cpu_kernels::region_loss(g, x, t, w, grad, r);
    }
    template <class T>
    static double cross_entropy_loss(const loss_geometry& g, const T* x, const T* t, const T* w, const T* cw, T* grad,
                                     const multiclass_loss_params& mp) {
        return cpu_kernels::cross_entropy_loss(g, x, t, w, cw, grad, mp);
    }
    template <class T>
    static double softmax_dice_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad,
                                    const multiclass_loss_params& mp) {
        return cpu_kernels::softmax_dice_loss(g, x, t, w, grad, mp);
    }
    template <class T>
    static double pointwise_loss(const loss_geometry& g, const T* x, const T* t, const T* w, T* grad,
                                 const pointwise_loss_params& p) {
        return cpu_kernels::pointwise_loss(g, x, t, w, grad, p);
    }

private:
    template <class T>
    static T* scratch(typename detail::scratch_pool<T>::slot s, std::size_t n) {
        return detail::scratch_pool<T>::get(s, n);
    }
    /// x (planes x h x w) padded by p of `kind` into scratch memory, or x itself when p is 0.
    template <class T>
    static const T* padded_copy(const T* x, int planes, int h, int w, int p, pad_kind kind) {
        if (p == 0) return x;
        T* y = scratch<T>(detail::scratch_pool<T>::padded_input,
                          static_cast<std::size_t>(planes) * (h + 2 * p) * (w + 2 * p));
        cpu_kernels::pad_forward(x, y, planes, h, w, p, kind);
        return y;
    }
    /// The kernels' geometry for a convolution: a reflect-padded border is copied, so the kernels
    /// see the padded size and no padding.
    static conv_geometry kernel_geometry(const conv_geometry& g) noexcept {
        if (g.padding != pad_kind::reflect || g.pad == 0) return g;
        conv_geometry k = g;
        k.h += 2 * g.pad;
        k.w += 2 * g.pad;
        k.pad = 0;
        k.padding = pad_kind::zero;
        return k;
    }
    /// A reflect-padded convolution's input copied with its border, or x itself.
    template <class T>
    static const T* reflect_padded(const conv_geometry& g, const T* x) {
        return g.padding == pad_kind::reflect ? padded_copy(x, g.n * g.cin, g.h, g.w, g.pad, pad_kind::reflect) : x;
    }
    [[noreturn]] static void throw_one_input(const char* op) {
        throw std::logic_error(std::string(op) + ": the reference kernels read one input tensor (the *_supported "
                                                 "query says so: concatenate the inputs)");
    }
    template <class T>
    static float* ws(std::size_t floats) {
        return scratch<float>(detail::scratch_pool<float>::workspace, floats);
    }
};


static_assert(Backend<cpu> && Backend<cpu_reference>, "backend::cpu must provide every operation of the contract");
static_assert(backend_operations<cpu, double>, "backend::cpu must provide every operation for double too");

}  // namespace unetpp::backend
