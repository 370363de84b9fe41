// Launchers of the batch-norm kernels (include/unetpp/backend/cuda/kernels.hpp); the arithmetic
// is in include/unetpp/backend/cuda/bodies/batch_norm.hpp. Statistics: one block per channel.

#include "unetpp/backend/cuda/bodies/batch_norm.hpp"
#include "unetpp/backend/cuda/kernels.hpp"

#include "kernels_launch.cuh"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

namespace {

/// The training forward of one channel per block (emulate::batch_norm_forward_train): the sums'
/// tree, the centred squares' tree about the mean, the statistics by thread 0, then y.
__global__ void __launch_bounds__(channel_threads, 1) batch_norm_train_kernel(bodies::batch_norm_forward_train body) {
    __shared__ double sh[channel_threads];
    const int ch = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
    const double sum = detail::block_tree<channel_threads>(sh, body.partial_sum(ch, t));
    const double sq = detail::block_tree<channel_threads>(sh, body.partial_sq(ch, t, sum));
    if (t == 0) body.finish(ch, sum, sq);
    body.apply(ch, t, sum, sq);
}

}  // namespace

void batch_norm_forward_train(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane,
                              const float* gamma, const float* beta, float eps, float momentum, float* running_mean,
                              float* running_var, float* save_mean, float* save_invstd, bool relu) {
    if (c <= 0) return;
    const bodies::batch_norm_forward_train body{x,         y,           n,           c,         plane,
                                                gamma,     beta,        eps,         momentum,  running_mean,
                                                running_var, save_mean, save_invstd, relu};
    batch_norm_train_kernel<<<c, channel_threads, 0, stream>>>(body);
    detail::check_launch("batch_norm_forward_train");
}

void batch_norm_apply_saved(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane,
                            const float* gamma, const float* beta, const float* save_mean, const float* save_invstd,
                            bool relu) {
    detail::launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * c * plane,
                               bodies::batch_norm_apply_saved{x, y, c, plane, gamma, beta, save_mean, save_invstd, relu},
                               "batch_norm_apply_saved");
}

void batch_norm_forward_eval(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane,
                             const float* gamma, const float* beta, float eps, const float* running_mean,
                             const float* running_var, bool relu) {
    detail::launch_elementwise(
        stream, static_cast<std::ptrdiff_t>(n) * c * plane,
        bodies::batch_norm_forward_eval{x, y, c, plane, gamma, beta, eps, running_mean, running_var, relu},
        "batch_norm_forward_eval");
}

void batch_norm_backward_train(cudaStream_t stream, const float* x, const float* dy, float* dx, int n, int c,
                               std::ptrdiff_t plane, const float* gamma, const float* save_mean,
                               const float* save_invstd, float* dgamma, float* dbeta, const float* relu_out) {
    detail::launch_channel_reduce(
        stream, c,
        bodies::batch_norm_backward_train{x, dy, dx, n, c, plane, gamma, save_mean, save_invstd, dgamma, dbeta,
                                          relu_out},
        "batch_norm_backward_train");
}

void batch_norm_backward_eval(cudaStream_t stream, const float* x, const float* dy, float* dx, int n, int c,
                              std::ptrdiff_t plane, const float* gamma, float eps, const float* running_mean,
                              const float* running_var, float* dgamma, float* dbeta, const float* relu_out) {
    detail::launch_channel_reduce(stream, c,
                                  bodies::batch_norm_backward_eval{x, dy, dx, n, c, plane, gamma, eps, running_mean,
                                                                   running_var, dgamma, dbeta, relu_out},
                                  "batch_norm_backward_eval");
}

void batch_norm_fold(cudaStream_t stream, const float* gamma, const float* beta, float eps, const float* mean,
                     const float* var, int c, float* scale, float* shift) {
    detail::launch_elementwise(stream, c, bodies::batch_norm_fold{gamma, beta, eps, mean, var, scale, shift},
                               "batch_norm_fold");
}

}  // namespace unetpp::cuda_kernels
