// Launchers of the optimiser steps and the two whole-tensor reductions
// (include/unetpp/backend/cuda/kernels.hpp); the arithmetic is in bodies/update.hpp. A reduction
// is two kernels (reduction_blocks(n) partials, then one block over them) and one read-back of
// the final double; its order depends on n only (emulate::two_stage_sum).

#include "unetpp/backend/cuda/bodies/update.hpp"
#include "unetpp/backend/cuda/kernels.hpp"

#include "kernels_launch.cuh"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

namespace {

/// Stage 1: block b's partial of the terms into partials[b].
template <class Terms>
__global__ void __launch_bounds__(block_threads)
    reduction_stage1_kernel(Terms term, std::ptrdiff_t n, double* partials) {
    __shared__ double sh[block_threads];
    const int b = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
    const double total =
        detail::block_tree<block_threads>(sh, bodies::reduction_partial(term, n, static_cast<int>(gridDim.x), b, t));
    if (t == 0) partials[b] = total;
}

/// Stage 2 (one block): the partials' sum into *result.
__global__ void __launch_bounds__(block_threads)
    reduction_stage2_kernel(const double* partials, int blocks, double* result) {
    __shared__ double sh[block_threads];
    const int t = static_cast<int>(threadIdx.x);
    const double total = detail::block_tree<block_threads>(sh, bodies::partials_share(partials, blocks, t));
    if (t == 0) *result = total;
}

/// The two stages on the stream, then the one read-back (which waits for the stream).
template <class Terms>
double two_stage_sum(cudaStream_t stream, const Terms& term, std::ptrdiff_t n, void* scratch, const char* what) {
    if (n <= 0) return 0.0;
    const int blocks = reduction_blocks(n);
    double* partials = static_cast<double*>(scratch);
    double* result = partials + blocks;
    reduction_stage1_kernel<<<blocks, block_threads, 0, stream>>>(term, n, partials);
    detail::check_launch(what);
    reduction_stage2_kernel<<<1, block_threads, 0, stream>>>(partials, blocks, result);
    detail::check_launch(what);
    double host = 0;
    detail::check(cudaMemcpyAsync(&host, result, sizeof host, cudaMemcpyDeviceToHost, stream), what);
    detail::check(cudaStreamSynchronize(stream), what);
    return host;
}

}  // namespace

void sgd_update(cudaStream_t stream, float* param, const float* grad, float* momentum, std::ptrdiff_t n,
                const backend::sgd_step& step) {
    detail::launch_elementwise(stream, n, bodies::sgd_update{param, grad, momentum, bodies::sgd_constants::from(step)},
                               "sgd_update");
}

void adam_update(cudaStream_t stream, float* param, const float* grad, float* m, float* v, std::ptrdiff_t n,
                 const backend::adam_step& step) {
    detail::launch_elementwise(stream, n, bodies::adam_update{param, grad, m, v, bodies::adam_constants::from(step)},
                               "adam_update");
}

std::size_t reduction_scratch_bytes(std::ptrdiff_t n) {
    return (static_cast<std::size_t>(reduction_blocks(n)) + 1) * sizeof(double);
}

double sum_squares(cudaStream_t stream, const float* x, std::ptrdiff_t n, void* scratch) {
    return two_stage_sum(stream, bodies::square_terms{x}, n, scratch, "sum_squares");
}

bool all_finite(cudaStream_t stream, const float* x, std::ptrdiff_t n, void* scratch) {
    return two_stage_sum(stream, bodies::nonfinite_terms{x}, n, scratch, "all_finite") == 0.0;
}

}  // namespace unetpp::cuda_kernels
