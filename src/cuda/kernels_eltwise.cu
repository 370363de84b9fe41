// Launchers of the element-wise kernels (include/unetpp/backend/cuda/kernels.hpp): activations,
// arithmetic, plane gating, dropout masks, fills and the convolutions' bias and epilogue helpers.
// The per-element work is in include/unetpp/backend/cuda/bodies/eltwise.hpp.

#include "unetpp/backend/cuda/bodies/batch_norm.hpp"
#include "unetpp/backend/cuda/bodies/eltwise.hpp"
#include "unetpp/backend/cuda/kernels.hpp"

#include "kernels_launch.cuh"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

using detail::launch_elementwise;

void fill(cudaStream_t stream, float* p, std::ptrdiff_t n, float v) {
    launch_elementwise(stream, n, bodies::fill<float>{p, v}, "fill");
}
void fill(cudaStream_t stream, std::int32_t* p, std::ptrdiff_t n, std::int32_t v) {
    launch_elementwise(stream, n, bodies::fill<std::int32_t>{p, v}, "fill (int32)");
}
void add_channel_bias(cudaStream_t stream, float* y, const float* bias, int n, int c, std::ptrdiff_t plane) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * c * plane, bodies::add_channel_bias{y, bias, c, plane},
                       "add_channel_bias");
}
void channel_sum_accumulate(cudaStream_t stream, const float* dy, float* db, int n, int c, std::ptrdiff_t plane) {
    detail::launch_channel_reduce(stream, c, bodies::channel_sum_accumulate{dy, db, n, c, plane},
                                  "channel_sum_accumulate");
}
void channel_affine(cudaStream_t stream, float* y, int n, int c, std::ptrdiff_t plane, const float* bias,
                    const float* scale, const float* shift, bool relu) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * c * plane,
                       bodies::channel_affine{y, c, plane, bias, scale, shift, relu}, "channel_affine");
}

void relu_forward(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::relu_forward{x, y}, "relu_forward");
}
void relu_backward(cudaStream_t stream, const float* x, const float* dy, float* dx, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::relu_backward{x, dy, dx}, "relu_backward");
}
void leaky_relu_forward(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n, float slope) {
    launch_elementwise(stream, n, bodies::leaky_relu_forward{x, y, slope}, "leaky_relu_forward");
}
void leaky_relu_backward(cudaStream_t stream, const float* x, const float* dy, float* dx, std::ptrdiff_t n,
                         float slope) {
    launch_elementwise(stream, n, bodies::leaky_relu_backward{x, dy, dx, slope}, "leaky_relu_backward");
}
void sigmoid_forward(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::sigmoid_forward{x, y}, "sigmoid_forward");
}
void sigmoid_backward(cudaStream_t stream, const float* y, const float* dy, float* dx, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::sigmoid_backward{y, dy, dx}, "sigmoid_backward");
}
void softmax_channels_forward(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * plane, bodies::softmax_channels_forward{x, y, c, plane},
                       "softmax_channels_forward");
}
void softmax_channels_backward(cudaStream_t stream, const float* y, const float* dy, float* dx, int n, int c,
                               std::ptrdiff_t plane) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * plane,
                       bodies::softmax_channels_backward{y, dy, dx, c, plane}, "softmax_channels_backward");
}
void multiply(cudaStream_t stream, const float* a, const float* b, float* y, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::multiply{a, b, y}, "multiply");
}
void add(cudaStream_t stream, const float* a, const float* b, float* y, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::add{a, b, y}, "add");
}
void accumulate(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n) {
    launch_elementwise(stream, n, bodies::accumulate{x, y}, "accumulate");
}
void scale(cudaStream_t stream, float* x, std::ptrdiff_t n, float s) {
    launch_elementwise(stream, n, bodies::scale{x, s}, "scale");
}
void clamp(cudaStream_t stream, float* x, std::ptrdiff_t n, float lo, float hi) {
    launch_elementwise(stream, n, bodies::clamp{x, lo, hi}, "clamp");
}
void multiply_planes(cudaStream_t stream, const float* x, const float* g, float* y, int n, int c,
                     std::ptrdiff_t plane) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * c * plane, bodies::multiply_planes{x, g, y, c, plane},
                       "multiply_planes");
}
void multiply_planes_backward(cudaStream_t stream, const float* x, const float* g, const float* dy, float* dx,
                              float* dg, int n, int c, std::ptrdiff_t plane) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * plane,
                       bodies::multiply_planes_backward{x, g, dy, dx, dg, c, plane}, "multiply_planes_backward");
}
void dropout_mask(cudaStream_t stream, float* mask, std::ptrdiff_t n, double p, std::uint64_t seed) {
    launch_elementwise(stream, n, bodies::dropout_mask{mask, p, static_cast<float>(1.0 / (1.0 - p)), seed},
                       "dropout_mask");
}

}  // namespace unetpp::cuda_kernels
