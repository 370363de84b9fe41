#pragma once
/// \file The CUDA backend: `unet<cfg, backend::cuda>` trains and predicts on a GPU.
///
/// `backend::cuda` is a backend (backend/backend.hpp) over `memory::cuda_device`: tensors live in
/// device memory (the host cannot index them; to_host copies), every operation runs on the calling
/// thread's CUDA context (backend/cuda/context.hpp: one stream, the cuDNN and cuBLAS handles,
/// scratch memory, the convolution plan cache). Convolutions run through cuDNN's graph API
/// (backend/cuda/conv.hpp), dense layers through cuBLAS (backend/cuda/dense.hpp), everything else
/// through unetpp's own kernels (backend/cuda/kernels.hpp). Only float is supported; double stays
/// on backend::cpu. docs/CUDA.md has the details and what has been verified where.
///
/// The functions are compiled once into the library unetpp::cuda (CMake option UNETPP_WITH_CUDA),
/// which defines UNETPP_WITH_CUDA=1 for the programs that link it. Without it, `backend::cuda`
/// is a type that says, when a network is asked to use it, how to get the real one. This header
/// is read by g++ as well as nvcc: it needs only <cuda_runtime_api.h>.

#if defined(UNETPP_WITH_CUDA) && UNETPP_WITH_CUDA

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../config/abi.hpp"
#include "backend.hpp"
#include "cuda/context.hpp"
#include "cuda/conv.hpp"
#include "cuda/dense.hpp"
#include "cuda/kernels.hpp"

namespace unetpp::inline UNETPP_ABI::memory {

namespace detail {
/// device_ptr<T> for the element types the CUDA backend has kernels for; any other is an error
/// that says so where the tensor type is formed.
template <class T>
struct cuda_pointer {
    static_assert(std::is_same_v<std::remove_const_t<T>, float> || std::is_same_v<std::remove_const_t<T>, std::int32_t>,
                  "backend::cuda supports float tensors only (and int32 indices): use unet<cfg, backend::cuda, float>, "
                  "or backend::cpu for double");
    using type = device_ptr<T>;
};
}  // namespace detail

/// Device memory of the calling thread's CUDA device (tensor/memory.hpp's contract). Allocations
/// come from the caching allocator (cuda_runtime::device_allocator); copies and fills are enqueued
/// on the thread's stream in order with the backend's kernels, and copy_to_host waits for its
/// result.
struct cuda_device {
    static constexpr bool host_accessible = false;
    template <class T>
    using pointer = typename detail::cuda_pointer<T>::type;

    static void* allocate(std::size_t bytes);
    static void deallocate(void* p) noexcept;
    static void copy(void* dst, const void* src, std::size_t bytes);
    static void copy_from_host(void* dst, const void* host_src, std::size_t bytes);
    static void copy_to_host(void* host_dst, const void* src, std::size_t bytes);
    static void zero(void* p, std::size_t bytes);
    template <class T>
    static void fill(T* p, std::size_t n, T value) {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::int32_t>,
                      "memory::cuda_device fills float and int32 tensors only");
        if constexpr (std::is_same_v<T, float>)
            fill_floats(p, n, value);
        else
            fill_int32(p, n, value);
    }

    /// Tensor allocations so far (served from the cache or the device).
    static std::size_t allocation_count() noexcept;
    /// cudaMalloc calls so far: constant in a training loop after its first step.
    static std::size_t device_allocation_count() noexcept;

private:
    static void fill_floats(float* p, std::size_t n, float v);
    static void fill_int32(std::int32_t* p, std::size_t n, std::int32_t v);
};

static_assert(MemorySpace<cuda_device>);

}  // namespace unetpp::memory

namespace unetpp::inline UNETPP_ABI::backend {

/// The CUDA backend (this file's comment). Every function enqueues work on the calling thread's
/// stream and returns; sum_squares, all_finite and the loss operations wait for their one value.
struct cuda {
    using memory = unetpp::memory::cuda_device;
    static constexpr bool available = true;
    static constexpr bool is_reference = false;
    static constexpr std::string_view name = "cuda";

    using P = unetpp::memory::device_ptr<float>;
    using C = unetpp::memory::device_ptr<const float>;
    using I = unetpp::memory::device_ptr<std::int32_t>;
    using CI = unetpp::memory::device_ptr<const std::int32_t>;

    static void conv2d_forward(const conv_geometry& g, C x, C w, C b, P y) {
        cuda_conv::conv2d_forward(g, raw(x), raw(w), raw(b), nullptr, nullptr, false, false, raw(y));
    }
    static void conv2d_forward_fused(const conv_geometry& g, C x, C w, C b, C scale, C shift, bool relu, P y) {
        cuda_conv::conv2d_forward(g, raw(x), raw(w), raw(b), raw(scale), raw(shift), relu, true, raw(y));
    }
    static void conv2d_backward_data(const conv_geometry& g, C dy, C w, P dx) {
        cuda_conv::conv2d_backward_data(g, raw(dy), raw(w), raw(dx));
    }
    static void conv2d_backward_weights(const conv_geometry& g, C x, C dy, P dw, P db) {
        cuda_conv::conv2d_backward_weights(g, raw(x), raw(dy), raw(dw), raw(db));
    }
    static std::string_view conv2d_algorithm(const conv_geometry&) { return cuda_conv::algorithm_name; }
    static void conv_transpose2d_forward(const conv_transpose_geometry& g, C x, C w, C b, P y) {
        cuda_conv::conv_transpose2d_forward(g, raw(x), raw(w), raw(b), raw(y));
    }
    static void conv_transpose2d_backward_data(const conv_transpose_geometry& g, C dy, C w, P dx) {
        cuda_conv::conv_transpose2d_backward_data(g, raw(dy), raw(w), raw(dx));
    }
    static void conv_transpose2d_backward_weights(const conv_transpose_geometry& g, C x, C dy, P dw, P db) {
        cuda_conv::conv_transpose2d_backward_weights(g, raw(x), raw(dy), raw(dw), raw(db));
    }
    static void depthwise_conv2d_forward(const depthwise_geometry& g, C x, C w, C b, P y) {
        cuda_conv::depthwise_conv2d_forward(g, raw(x), raw(w), raw(b), raw(y));
    }
    static void depthwise_conv2d_backward(const depthwise_geometry& g, C x, C w, C dy, P dx, P dw, P db) {
        cuda_conv::depthwise_conv2d_backward(g, raw(x), raw(w), raw(dy), raw(dx), raw(dw), raw(db));
    }
    static void dense_forward(C x, C w, C b, P y, int n, int in, int out) {
        cuda_dense::dense_forward(raw(x), raw(w), raw(b), raw(y), n, in, out);
    }
    static void dense_backward(C x, C w, C dy, P dx, P dw, P db, int n, int in, int out) {
        cuda_dense::dense_backward(raw(x), raw(w), raw(dy), raw(dx), raw(dw), raw(db), n, in, out);
    }

    static void relu_forward(C x, P y, std::ptrdiff_t n) { cuda_kernels::relu_forward(s(), raw(x), raw(y), n); }
    static void relu_backward(C x, C dy, P dx, std::ptrdiff_t n) {
        cuda_kernels::relu_backward(s(), raw(x), raw(dy), raw(dx), n);
    }
    static void leaky_relu_forward(C x, P y, std::ptrdiff_t n, float slope) {
        cuda_kernels::leaky_relu_forward(s(), raw(x), raw(y), n, slope);
    }
    static void leaky_relu_backward(C x, C dy, P dx, std::ptrdiff_t n, float slope) {
        cuda_kernels::leaky_relu_backward(s(), raw(x), raw(dy), raw(dx), n, slope);
    }
    static void sigmoid_forward(C x, P y, std::ptrdiff_t n) { cuda_kernels::sigmoid_forward(s(), raw(x), raw(y), n); }
    static void sigmoid_backward(C y, C dy, P dx, std::ptrdiff_t n) {
        cuda_kernels::sigmoid_backward(s(), raw(y), raw(dy), raw(dx), n);
    }
    static void softmax_channels_forward(C x, P y, int n, int c, std::ptrdiff_t plane) {
        cuda_kernels::softmax_channels_forward(s(), raw(x), raw(y), n, c, plane);
    }
    static void softmax_channels_backward(C y, C dy, P dx, int n, int c, std::ptrdiff_t plane) {
        cuda_kernels::softmax_channels_backward(s(), raw(y), raw(dy), raw(dx), n, c, plane);
    }
    static void multiply(C a, C b, P y, std::ptrdiff_t n) { cuda_kernels::multiply(s(), raw(a), raw(b), raw(y), n); }
    static void add(C a, C b, P y, std::ptrdiff_t n) { cuda_kernels::add(s(), raw(a), raw(b), raw(y), n); }
    static void accumulate(C x, P y, std::ptrdiff_t n) { cuda_kernels::accumulate(s(), raw(x), raw(y), n); }
    static void scale(P x, std::ptrdiff_t n, float k) { cuda_kernels::scale(s(), raw(x), n, k); }
    static void clamp(P x, std::ptrdiff_t n, float lo, float hi) { cuda_kernels::clamp(s(), raw(x), n, lo, hi); }
    static void multiply_planes(C x, C g, P y, int n, int c, std::ptrdiff_t plane) {
        cuda_kernels::multiply_planes(s(), raw(x), raw(g), raw(y), n, c, plane);
    }
    static void multiply_planes_backward(C x, C g, C dy, P dx, P dg, int n, int c, std::ptrdiff_t plane) {
        cuda_kernels::multiply_planes_backward(s(), raw(x), raw(g), raw(dy), raw(dx), raw(dg), n, c, plane);
    }
    static void max_pool2d_forward(C x, P y, I argmax, int planes, int h, int w, int k, int stride) {
        cuda_kernels::max_pool2d_forward(s(), raw(x), raw(y), raw(argmax), planes, h, w, k, stride);
    }
    static void max_pool2d_backward(C dy, CI argmax, P dx, int planes, int h, int w, int oh, int ow) {
        cuda_kernels::max_pool2d_backward(s(), raw(dy), raw(argmax), raw(dx), planes, h, w, oh, ow);
    }
    static void max_pool2d_same_forward(C x, P y, I argmax, int planes, int h, int w, int k) {
        cuda_kernels::max_pool2d_same_forward(s(), raw(x), raw(y), raw(argmax), planes, h, w, k);
    }
    static void global_avg_pool_forward(C x, P y, int planes, std::ptrdiff_t plane) {
        cuda_kernels::global_avg_pool_forward(s(), raw(x), raw(y), planes, plane);
    }
    static void global_avg_pool_backward(C dy, P dx, int planes, std::ptrdiff_t plane) {
        cuda_kernels::global_avg_pool_backward(s(), raw(dy), raw(dx), planes, plane);
    }
    static void batch_norm_forward_train(C x, P y, int n, int c, std::ptrdiff_t plane, C gamma, C beta, float eps,
                                         float momentum, P running_mean, P running_var, P save_mean, P save_invstd,
                                         bool relu) {
        cuda_kernels::batch_norm_forward_train(s(), raw(x), raw(y), n, c, plane, raw(gamma), raw(beta), eps, momentum,
                                               raw(running_mean), raw(running_var), raw(save_mean), raw(save_invstd),
                                               relu);
    }
    static void batch_norm_apply_saved(C x, P y, int n, int c, std::ptrdiff_t plane, C gamma, C beta, C save_mean,
                                       C save_invstd, bool relu) {
        cuda_kernels::batch_norm_apply_saved(s(), raw(x), raw(y), n, c, plane, raw(gamma), raw(beta), raw(save_mean),
                                             raw(save_invstd), relu);
    }
    static void batch_norm_forward_eval(C x, P y, int n, int c, std::ptrdiff_t plane, C gamma, C beta, float eps,
                                        C running_mean, C running_var, bool relu) {
        cuda_kernels::batch_norm_forward_eval(s(), raw(x), raw(y), n, c, plane, raw(gamma), raw(beta), eps,
                                              raw(running_mean), raw(running_var), relu);
    }
    static void batch_norm_backward_train(C x, C dy, P dx, int n, int c, std::ptrdiff_t plane, C gamma, C save_mean,
                                          C save_invstd, P dgamma, P dbeta, C relu_out) {
        cuda_kernels::batch_norm_backward_train(s(), raw(x), raw(dy), raw(dx), n, c, plane, raw(gamma), raw(save_mean),
                                                raw(save_invstd), raw(dgamma), raw(dbeta), raw(relu_out));
    }
    static void batch_norm_backward_eval(C x, C dy, P dx, int n, int c, std::ptrdiff_t plane, C gamma, float eps,
                                         C running_mean, C running_var, P dgamma, P dbeta, C relu_out) {
        cuda_kernels::batch_norm_backward_eval(s(), raw(x), raw(dy), raw(dx), n, c, plane, raw(gamma), eps,
                                               raw(running_mean), raw(running_var), raw(dgamma), raw(dbeta),
                                               raw(relu_out));
    }
    static void batch_norm_fold(C gamma, C beta, float eps, C running_mean, C running_var, int c, P scale, P shift) {
        cuda_kernels::batch_norm_fold(s(), raw(gamma), raw(beta), eps, raw(running_mean), raw(running_var), c,
                                      raw(scale), raw(shift));
    }
    static void pad_forward(C x, P y, int planes, int h, int w, int p, pad_kind kind) {
        cuda_kernels::pad_forward(s(), raw(x), raw(y), planes, h, w, p, kind);
    }
    static void pad_backward(C dy, P dx, int planes, int h, int w, int p, pad_kind kind) {
        cuda_kernels::pad_backward(s(), raw(dy), raw(dx), planes, h, w, p, kind);
    }
    static void copy_window_to_channels(C src, int n, int c, int h, int w, int oy, int ox, int th, int tw, P dst,
                                        int c_total, int c_offset) {
        cuda_kernels::copy_window_to_channels(s(), raw(src), n, c, h, w, oy, ox, th, tw, raw(dst), c_total, c_offset);
    }
    static void copy_channels_to_window(C dst_grad, int c_total, int c_offset, int n, int c, int h, int w, int oy,
                                        int ox, int th, int tw, P src_grad) {
        cuda_kernels::copy_channels_to_window(s(), raw(dst_grad), c_total, c_offset, n, c, h, w, oy, ox, th, tw,
                                              raw(src_grad));
    }
    static void upsample_bilinear2x_forward(C x, P y, int planes, int h, int w) {
        cuda_kernels::upsample_bilinear2x_forward(s(), raw(x), raw(y), planes, h, w);
    }
    static void upsample_bilinear2x_backward(C dy, P dx, int planes, int h, int w) {
        cuda_kernels::upsample_bilinear2x_backward(s(), raw(dy), raw(dx), planes, h, w);
    }
    static void dropout_mask(P mask, std::ptrdiff_t n, double p, std::uint64_t seed) {
        cuda_kernels::dropout_mask(s(), raw(mask), n, p, seed);
    }
    static void sgd_update(P param, C grad, P momentum, std::ptrdiff_t n, const sgd_step& step) {
        cuda_kernels::sgd_update(s(), raw(param), raw(grad), raw(momentum), n, step);
    }
    static void adam_update(P param, C grad, P m, P v, std::ptrdiff_t n, const adam_step& step) {
        cuda_kernels::adam_update(s(), raw(param), raw(grad), raw(m), raw(v), n, step);
    }
    static double sum_squares(C x, std::ptrdiff_t n) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::sum_squares(ctx.stream(), raw(x), n, reduction_scratch(ctx, n));
    }
    static bool all_finite(C x, std::ptrdiff_t n) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::all_finite(ctx.stream(), raw(x), n, reduction_scratch(ctx, n));
    }

    static double bce_with_logits_loss(const loss_geometry& g, C x, C t, C w, P grad) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::bce_with_logits_loss(ctx.stream(), g, raw(x), raw(t), raw(w), raw(grad), loss_scratch(ctx, g));
    }
    static double region_loss(const loss_geometry& g, C x, C t, C w, P grad, const region_loss_params& r) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::region_loss(ctx.stream(), g, raw(x), raw(t), raw(w), raw(grad), r, loss_scratch(ctx, g));
    }
    static double cross_entropy_loss(const loss_geometry& g, C x, C t, C w, C class_weights, P grad,
                                     const multiclass_loss_params& mp) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::cross_entropy_loss(ctx.stream(), g, raw(x), raw(t), raw(w), raw(class_weights), raw(grad),
                                                mp, loss_scratch(ctx, g));
    }
    static double softmax_dice_loss(const loss_geometry& g, C x, C t, C w, P grad, const multiclass_loss_params& mp) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::softmax_dice_loss(ctx.stream(), g, raw(x), raw(t), raw(w), raw(grad), mp,
                                               loss_scratch(ctx, g));
    }
    static double pointwise_loss(const loss_geometry& g, C x, C t, C w, P grad, const pointwise_loss_params& p) {
        auto& ctx = cuda_runtime::context::current();
        return cuda_kernels::pointwise_loss(ctx.stream(), g, raw(x), raw(t), raw(w), raw(grad), p, loss_scratch(ctx, g));
    }

private:
    template <class T>
    static T* raw(unetpp::memory::device_ptr<T> p) noexcept {
        return p.device_address();
    }
    static cudaStream_t s() { return cuda_runtime::context::current().stream(); }
    static void* reduction_scratch(cuda_runtime::context& ctx, std::ptrdiff_t n) {
        return ctx.scratch(cuda_runtime::scratch_slot::reduction, cuda_kernels::reduction_scratch_bytes(n));
    }
    // The loss operations share the reductions' slot: each waits for its value before returning.
    static void* loss_scratch(cuda_runtime::context& ctx, const loss_geometry& g) {
        return ctx.scratch(cuda_runtime::scratch_slot::reduction, cuda_kernels::loss_scratch_bytes(g));
    }
};

static_assert(Backend<cuda>, "backend::cuda must provide every operation of the contract for float");
static_assert(!host_backend<cuda>);

}  // namespace unetpp::backend

#else

namespace unetpp::inline UNETPP_ABI::backend {

/// Stands in for the CUDA backend in programs built without it (they do not link unetpp::cuda,
/// or unetpp was configured without UNETPP_WITH_CUDA): `unet<cfg, backend::cuda>` fails to compile
/// with a message saying how to get the real one. A class of its own name, so that a program
/// whose objects disagree on UNETPP_WITH_CUDA never has two classes called backend::cuda.
struct cuda_unavailable {
    static constexpr bool available = false;
    static constexpr const char* name = "cuda";
    static constexpr const char* unavailable_reason =
        "this program was built without the CUDA backend: configure unetpp with -DUNETPP_WITH_CUDA=ON and link "
        "unetpp::cuda";
};
using cuda = cuda_unavailable;

}  // namespace unetpp::backend

#endif
