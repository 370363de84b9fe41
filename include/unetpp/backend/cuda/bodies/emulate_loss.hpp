#pragma once
/// \file The CUDA loss operations run on the host (g++ only): bodies/loss.hpp's sequences with an
/// executor that runs each launch as emulate.hpp does (every block's threads, the tree, finish,
/// apply; the single thread; every index), so that a test can compare them with backend::cpu
/// without a GPU. src/cuda/kernels_loss.cu runs the same sequences on a stream.

#include <cstddef>
#include <vector>

#include "../../../config/abi.hpp"
#include "emulate.hpp"
#include "loss.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::emulate {

/// The executor of bodies/loss.hpp on the host.
struct loss_executor {
    template <class Body>
    void reduce(int blocks, const Body& body) {
        channel_reduce(blocks, body);
    }
    template <class Body>
    void single(const Body& body) {
        body();
    }
    template <class Body>
    void each(std::ptrdiff_t n, const Body& body) {
        for_each_index(n, body);
    }
    double read(const double* p) { return *p; }
};

/// Scratch as the device's: loss_scratch_doubles(g) doubles.
inline std::vector<double> loss_scratch(const backend::loss_geometry& g) {
    return std::vector<double>(static_cast<std::size_t>(bodies::loss_scratch_doubles(g)), 0.0);
}

inline double bce_with_logits_loss(const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                                   float* grad) {
    loss_executor ex;
    auto s = loss_scratch(g);
    return bodies::run_bce_with_logits(ex, g, x, t, w, grad, s.data());
}
inline double region_loss(const backend::loss_geometry& g, const float* x, const float* t, const float* w, float* grad,
                          const backend::region_loss_params& r) {
    loss_executor ex;
    auto s = loss_scratch(g);
    return bodies::run_region(ex, g, x, t, w, grad, r, s.data());
}
inline double cross_entropy_loss(const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                                 const float* cw, float* grad, const backend::multiclass_loss_params& mp) {
    loss_executor ex;
    auto s = loss_scratch(g);
    return bodies::run_cross_entropy(ex, g, x, t, w, cw, grad, mp, s.data());
}
inline double softmax_dice_loss(const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                                float* grad, const backend::multiclass_loss_params& mp) {
    loss_executor ex;
    auto s = loss_scratch(g);
    return bodies::run_softmax_dice(ex, g, x, t, w, grad, mp, s.data());
}

inline double pointwise_loss(const backend::loss_geometry& g, const float* x, const float* t, const float* w,
                             float* grad, const backend::pointwise_loss_params& p) {
    loss_executor ex;
    auto s = loss_scratch(g);
    return bodies::run_pointwise(ex, g, x, t, w, grad, p, s.data());
}

}  // namespace unetpp::cuda_kernels::emulate
