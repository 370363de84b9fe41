// Launchers of the pooling kernels (include/unetpp/backend/cuda/kernels.hpp); the per-output work
// is in include/unetpp/backend/cuda/bodies/pool.hpp.

#include "unetpp/backend/cuda/bodies/pool.hpp"
#include "unetpp/backend/cuda/kernels.hpp"

#include "kernels_launch.cuh"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

namespace {

/// One warp per plane (emulate::max_pool2d_backward): the warp zeroes its plane of dx, then walks
/// the outputs 32 at a time; lanes with equal argmax form a group whose lowest lane adds the
/// group's gradients in lane order. Rounds run in output order, so every input receives its
/// gradients in output order, as on the CPU, with no atomics.
__global__ void __launch_bounds__(block_threads)
    max_pool2d_backward_kernel(const float* dy, const std::int32_t* argmax, float* dx, int planes, std::ptrdiff_t hw,
                               std::ptrdiff_t ohw) {
    const int warps_per_block = block_threads / warp_threads;
    const int p = static_cast<int>(blockIdx.x) * warps_per_block + static_cast<int>(threadIdx.x) / warp_threads;
    const int lane = static_cast<int>(threadIdx.x) % warp_threads;
    if (p >= planes) return;  // the whole warp leaves together
    float* dxp = dx + static_cast<std::ptrdiff_t>(p) * hw;
    const float* dyp = dy + static_cast<std::ptrdiff_t>(p) * ohw;
    const std::int32_t* ap = argmax + static_cast<std::ptrdiff_t>(p) * ohw;
    for (std::ptrdiff_t i = lane; i < hw; i += warp_threads) dxp[i] = 0.0f;
    __syncwarp();
    constexpr unsigned all = 0xffffffffu;
    for (std::ptrdiff_t base = 0; base < ohw; base += warp_threads) {
        const bool active = base + lane < ohw;
        const std::int32_t target = active ? ap[base + lane] : -1 - lane;  // inactive lanes: groups of one
        const float grad = active ? dyp[base + lane] : 0.0f;
        const unsigned group = __match_any_sync(all, target);
        const bool leader = active && (group & ((1u << lane) - 1u)) == 0;
        // Every lane takes part in the shuffles; only the leaders' sums are stored.
        const float v = bodies::pool_group_sum(leader ? dxp[target] : 0.0f, group,
                                               [&](int l) { return __shfl_sync(all, grad, l); });
        if (leader) dxp[target] = v;
        __syncwarp();
    }
}

}  // namespace

void max_pool2d_forward(cudaStream_t stream, const float* x, float* y, std::int32_t* argmax, int planes, int h,
                        int w, int k, int s) {
    const int oh = (h - k) / s + 1, ow = (w - k) / s + 1;
    detail::launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * oh * ow,
                               bodies::max_pool2d_forward{x, y, argmax, h, w, k, s, oh, ow}, "max_pool2d_forward");
}

void max_pool2d_backward(cudaStream_t stream, const float* dy, const std::int32_t* argmax, float* dx, int planes,
                         int h, int w, int oh, int ow) {
    if (planes <= 0 || h <= 0 || w <= 0) return;
    const int warps_per_block = block_threads / warp_threads;
    const int blocks = (planes + warps_per_block - 1) / warps_per_block;
    max_pool2d_backward_kernel<<<blocks, block_threads, 0, stream>>>(
        dy, argmax, dx, planes, static_cast<std::ptrdiff_t>(h) * w, static_cast<std::ptrdiff_t>(oh) * ow);
    detail::check_launch("max_pool2d_backward");
}

void max_pool2d_same_forward(cudaStream_t stream, const float* x, float* y, std::int32_t* argmax, int planes,
                             int h, int w, int k) {
    detail::launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * h * w,
                               bodies::max_pool2d_same_forward{x, y, argmax, h, w, k}, "max_pool2d_same_forward");
}

void global_avg_pool_forward(cudaStream_t stream, const float* x, float* y, int planes, std::ptrdiff_t plane) {
    detail::launch_channel_reduce(stream, planes, bodies::global_avg_pool_forward{x, y, plane},
                                  "global_avg_pool_forward");
}

void global_avg_pool_backward(cudaStream_t stream, const float* dy, float* dx, int planes, std::ptrdiff_t plane) {
    detail::launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * plane,
                               bodies::global_avg_pool_backward{dy, dx, plane}, "global_avg_pool_backward");
}

}  // namespace unetpp::cuda_kernels
