#pragma once
// The launch shapes shared by src/cuda/kernels_*.cu: a grid-stride element-wise kernel, the block
// tree of hd.hpp, and a one-block-per-channel reduction kernel, each taking a body from
// include/unetpp/backend/cuda/bodies/. include/unetpp/backend/cuda/bodies/emulate.hpp mirrors
// every one of them on the host for the tests; a change here must be made there too.

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "unetpp/backend/cuda/hd.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::detail {

/// Throws when the last launch failed (bad configuration, no device, a sticky error).
inline void check_launch(const char* what) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        throw std::runtime_error(std::string("unetpp CUDA kernel ") + what + ": " + cudaGetErrorString(e));
}
inline void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string("unetpp CUDA ") + what + ": " + cudaGetErrorString(e));
}

/// body(i) for every i in [0, n), grid-stride (emulate::for_each_index).
template <class Body>
__global__ void __launch_bounds__(block_threads) elementwise_kernel(std::ptrdiff_t n, Body body) {
    const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(gridDim.x) * blockDim.x;
    for (std::ptrdiff_t i = static_cast<std::ptrdiff_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        body(i);
}
template <class Body>
void launch_elementwise(cudaStream_t stream, std::ptrdiff_t n, const Body& body, const char* what) {
    if (n <= 0) return;
    elementwise_kernel<<<grid_blocks(n), block_threads, 0, stream>>>(n, body);
    check_launch(what);
}

/// The values v of a block of Width threads (one per thread) added with hd.hpp's tree
/// (emulate::block_tree); every thread gets the total. sh holds Width values and may be reused
/// after the call.
template <int Width, class A>
__device__ A block_tree(A* sh, A v) {
    const int t = static_cast<int>(threadIdx.x);
    sh[t] = v;
    __syncthreads();
    for (int stride = Width / 2; stride > 0; stride /= 2) {
        tree_level(sh, t, stride);
        __syncthreads();
    }
    const A total = sh[0];
    __syncthreads();
    return total;
}

/// One block of channel_threads per channel (plane): partial, tree, finish by thread 0, apply
/// (emulate::channel_reduce).
template <class Body>
__global__ void __launch_bounds__(channel_threads, 1) channel_reduce_kernel(Body body) {
    using A = decltype(body.partial(0, 0));
    __shared__ A sh[channel_threads];
    const int ch = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
    const A total = block_tree<channel_threads>(sh, body.partial(ch, t));
    if (t == 0) body.finish(ch, total);
    body.apply(ch, t, total);
}
template <class Body>
void launch_channel_reduce(cudaStream_t stream, int blocks, const Body& body, const char* what) {
    if (blocks <= 0) return;
    channel_reduce_kernel<<<blocks, channel_threads, 0, stream>>>(body);
    check_launch(what);
}

}  // namespace unetpp::cuda_kernels::detail
