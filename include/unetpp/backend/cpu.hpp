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
#include <string_view>
#include <type_traits>
#include <utility>

#include "../tensor/tensor.hpp"
#include "profiler.hpp"
#include "cpu/kernels/batch_norm.hpp"
#include "cpu/kernels/conv2d.hpp"
#include "cpu/kernels/conv_transpose2d.hpp"
#include "cpu/kernels/dense.hpp"
#include "cpu/kernels/depthwise_conv2d.hpp"
#include "cpu/kernels/eltwise.hpp"
#include "cpu/kernels/parallel.hpp"
#include "cpu/kernels/pool.hpp"
#include "cpu/kernels/resample.hpp"

namespace unetpp::backend {

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

    template <class T>
    static T* scratch(typename detail::scratch_pool<T>::slot s, std::size_t n) {
        return detail::scratch_pool<T>::get(s, n);
    }

    // Arithmetic work of one call for the profiler (multiply-add = 2 flops): each of the forward,
    // backward-data and backward-weights passes does n * cout * cin * kh * kw * oh * ow
    // multiply-adds (a transposed convolution: n * cin * cout * kh * kw * h * w).
    static double conv_flops(const cpu_kernels::conv_geometry& g) noexcept {
        return 2.0 * g.n * g.cout * g.cin * g.kh * g.kw * g.oh() * g.ow();
    }
    static double conv_transpose_flops(const cpu_kernels::conv_transpose_geometry& g) noexcept {
        return 2.0 * g.n * g.cin * g.cout * g.kh * g.kw * g.h * g.w;
    }

    // Dense convolution on an already padded input (kernels::conv_geometry).
    template <class T>
    static void conv2d_forward(const cpu_kernels::conv_geometry& g, const T* x, const T* w, const T* b, T* y) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other", conv_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_forward(g, x, w, b, y, ws<T>(cpu_kernels::conv2d_forward_workspace_floats(g)));
        else
            cpu_kernels::conv2d_forward_ref(g, x, w, b, y);
    }
    // Fused inference convolution: y = act(scale * (conv(x, w) + b) + shift) per output channel,
    // act = ReLU when `relu` is set (scale, shift and b may be null). An eval-mode Conv ->
    // BatchNorm -> ReLU or Conv -> ReLU chain in one pass over the output.
    template <class T>
    static void conv2d_forward_fused(const cpu_kernels::conv_geometry& g, const T* x, const T* w, const T* b,
                                     const T* scale, const T* shift, bool relu, T* y) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_forward 3x3" : "conv2d_forward other", conv_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_forward_fused(g, x, w, b, scale, shift, relu, y,
                                              ws<T>(cpu_kernels::conv2d_forward_fused_workspace_floats(g)));
        else
            cpu_kernels::conv2d_forward_fused_ref(g, x, w, b, scale, shift, relu, y);
    }
    template <class T>
    static void conv2d_backward_data(const cpu_kernels::conv_geometry& g, const T* dy, const T* w, T* dx) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_backward_data 3x3" : "conv2d_backward_data other",
                              conv_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_backward_data(g, dy, w, dx,
                                               ws<T>(cpu_kernels::conv2d_backward_data_workspace_floats(g)));
        else
            cpu_kernels::conv2d_backward_data_ref(g, dy, w, dx);
    }
    template <class T>
    static void conv2d_backward_weights(const cpu_kernels::conv_geometry& g, const T* x, const T* dy, T* dw, T* db) {
        profiler::scope timer(g.kh == 3 && g.kw == 3 ? "conv2d_backward_weights 3x3" : "conv2d_backward_weights other",
                              conv_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv2d_backward_weights(g, x, dy, dw, db,
                                                  ws<T>(cpu_kernels::conv2d_backward_weights_workspace_floats(g)));
        else
            cpu_kernels::conv2d_backward_weights_ref(g, x, dy, dw, db);
    }
    static std::string_view conv2d_algorithm(const cpu_kernels::conv_geometry& g) {
        if constexpr (Fast) return cpu_kernels::conv2d_forward_algorithm(g);
        return "reference loops";
    }

    // Transposed convolution (weight [in, out, k, k]).
    template <class T>
    static void conv_transpose2d_forward(const cpu_kernels::conv_transpose_geometry& g, const T* x, const T* w,
                                         const T* b, T* y) {
        profiler::scope timer("conv_transpose2d_forward", conv_transpose_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv_transpose2d_forward(g, x, w, b, y,
                                                   ws<T>(cpu_kernels::conv_transpose2d_workspace_floats(g)));
        else
            cpu_kernels::conv_transpose2d_forward_ref(g, x, w, b, y);
    }
    template <class T>
    static void conv_transpose2d_backward_data(const cpu_kernels::conv_transpose_geometry& g, const T* dy,
                                               const T* w, T* dx) {
        profiler::scope timer("conv_transpose2d_backward_data", conv_transpose_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv_transpose2d_backward_data(g, dy, w, dx,
                                                         ws<T>(cpu_kernels::conv_transpose2d_workspace_floats(g)));
        else
            cpu_kernels::conv_transpose2d_backward_data_ref(g, dy, w, dx);
    }
    template <class T>
    static void conv_transpose2d_backward_weights(const cpu_kernels::conv_transpose_geometry& g, const T* x,
                                                  const T* dy, T* dw, T* db) {
        profiler::scope timer("conv_transpose2d_backward_weights", conv_transpose_flops(g));
        if constexpr (use_fast<T>)
            cpu_kernels::conv_transpose2d_backward_weights(
                g, x, dy, dw, db, ws<T>(cpu_kernels::conv_transpose2d_workspace_floats(g)));
        else
            cpu_kernels::conv_transpose2d_backward_weights_ref(g, x, dy, dw, db);
    }

// Memory-bound operations share one implementation in both modes.
#define UNETPP_CPU_FORWARD(fn)                   \
    template <class... A>                        \
    static void fn(A&&... a) {                   \
        profiler::scope timer(#fn);              \
        cpu_kernels::fn(std::forward<A>(a)...);  \
    }
    UNETPP_CPU_FORWARD(dense_forward)
    UNETPP_CPU_FORWARD(dense_backward)
    UNETPP_CPU_FORWARD(depthwise_conv2d_forward)
    UNETPP_CPU_FORWARD(depthwise_conv2d_backward)
    UNETPP_CPU_FORWARD(relu_forward)
    UNETPP_CPU_FORWARD(relu_backward)
    UNETPP_CPU_FORWARD(leaky_relu_forward)
    UNETPP_CPU_FORWARD(leaky_relu_backward)
    UNETPP_CPU_FORWARD(sigmoid_forward)
    UNETPP_CPU_FORWARD(sigmoid_backward)
    UNETPP_CPU_FORWARD(softmax_channels_forward)
    UNETPP_CPU_FORWARD(softmax_channels_backward)
    UNETPP_CPU_FORWARD(multiply)
    UNETPP_CPU_FORWARD(add)
    UNETPP_CPU_FORWARD(accumulate)
    UNETPP_CPU_FORWARD(max_pool2d_forward)
    UNETPP_CPU_FORWARD(max_pool2d_backward)
    UNETPP_CPU_FORWARD(global_avg_pool_forward)
    UNETPP_CPU_FORWARD(global_avg_pool_backward)
    UNETPP_CPU_FORWARD(batch_norm_forward_train)
    UNETPP_CPU_FORWARD(batch_norm_forward_eval)
    UNETPP_CPU_FORWARD(batch_norm_apply_saved)
    UNETPP_CPU_FORWARD(batch_norm_backward_train)
    UNETPP_CPU_FORWARD(batch_norm_backward_eval)
    UNETPP_CPU_FORWARD(pad_forward)
    UNETPP_CPU_FORWARD(pad_backward)
    UNETPP_CPU_FORWARD(copy_window_to_channels)
    UNETPP_CPU_FORWARD(copy_channels_to_window)
    UNETPP_CPU_FORWARD(upsample_bilinear2x_forward)
    UNETPP_CPU_FORWARD(upsample_bilinear2x_backward)
#undef UNETPP_CPU_FORWARD

private:
    template <class T>
    static float* ws(std::size_t floats) {
        return scratch<float>(detail::scratch_pool<float>::workspace, floats);
    }
};

/// The default backend: optimised CPU kernels.
using cpu = basic_cpu<true>;
/// Reference CPU kernels (plain loops) for every type: the oracle for tests.
using cpu_reference = basic_cpu<false>;

using cpu_kernels::pad_kind;

}  // namespace unetpp::backend
