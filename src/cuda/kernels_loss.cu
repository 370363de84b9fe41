// Launchers of the loss operations (include/unetpp/backend/cuda/kernels.hpp): bodies/loss.hpp's
// sequences (a per-group reduction, one thread for the totals, the gradient) run on the stream,
// then one read-back of the value. bodies/emulate_loss.hpp runs the same sequences on the host.

#include "unetpp/backend/cuda/bodies/loss.hpp"
#include "unetpp/backend/cuda/kernels.hpp"

#include "kernels_launch.cuh"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

namespace {

/// One thread: body() (the groups' totals, in group order).
template <class Body>
__global__ void single_thread_kernel(Body body) {
    body();
}

/// The executor of bodies/loss.hpp on a stream.
struct stream_executor {
    cudaStream_t stream;
    const char* what;
    template <class Body>
    void reduce(int blocks, const Body& body) {
        detail::launch_channel_reduce(stream, blocks, body, what);
    }
    template <class Body>
    void single(const Body& body) {
        single_thread_kernel<<<1, 1, 0, stream>>>(body);
        detail::check_launch(what);
    }
    template <class Body>
    void each(std::ptrdiff_t n, const Body& body) {
        detail::launch_elementwise(stream, n, body, what);
    }
    /// Waits for the stream and returns the value at p.
    double read(const double* p) {
        double host = 0;
        detail::check(cudaMemcpyAsync(&host, p, sizeof host, cudaMemcpyDeviceToHost, stream), what);
        detail::check(cudaStreamSynchronize(stream), what);
        return host;
    }
};

}  // namespace

std::size_t loss_scratch_bytes(const backend::loss_geometry& g) {
    return static_cast<std::size_t>(bodies::loss_scratch_doubles(g)) * sizeof(double);
}

double bce_with_logits_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                            const float* w, float* grad, void* scratch) {
    stream_executor ex{stream, "bce_with_logits_loss"};
    return bodies::run_bce_with_logits(ex, g, x, t, w, grad, static_cast<double*>(scratch));
}

double region_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                   const float* w, float* grad, const backend::region_loss_params& r, void* scratch) {
    stream_executor ex{stream, "region_loss"};
    return bodies::run_region(ex, g, x, t, w, grad, r, static_cast<double*>(scratch));
}

double cross_entropy_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                          const float* w, const float* class_weights, float* grad,
                          const backend::multiclass_loss_params& mp, void* scratch) {
    stream_executor ex{stream, "cross_entropy_loss"};
    return bodies::run_cross_entropy(ex, g, x, t, w, class_weights, grad, mp, static_cast<double*>(scratch));
}

double softmax_dice_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                         const float* w, float* grad, const backend::multiclass_loss_params& mp, void* scratch) {
    stream_executor ex{stream, "softmax_dice_loss"};
    return bodies::run_softmax_dice(ex, g, x, t, w, grad, mp, static_cast<double*>(scratch));
}

double pointwise_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                      const float* w, float* grad, const backend::pointwise_loss_params& p, void* scratch) {
    stream_executor ex{stream, "pointwise_loss"};
    return bodies::run_pointwise(ex, g, x, t, w, grad, p, static_cast<double*>(scratch));
}

}  // namespace unetpp::cuda_kernels
