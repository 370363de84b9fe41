#pragma once
/// \file The CUDA kernels' launch shapes run on the host (g++ only): what src/cuda/kernels_*.cu
/// do with a body, in the same order, so that a test can run every body over every index and
/// compare with backend::cpu without a GPU. Each function names the device kernel it mirrors.
/// Sequential: a thread's work runs to completion before the next thread's, which is a valid
/// schedule of every kernel here (no kernel reads what another thread of the same phase writes).

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../../../config/abi.hpp"
#include "../hd.hpp"
#include "batch_norm.hpp"
#include "pool.hpp"
#include "update.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::emulate {

/// elementwise_kernel: body(i) for every i in [0, n) (the grid-stride loop's set of indices).
template <class Body>
void for_each_index(std::ptrdiff_t n, const Body& body) {
    for (std::ptrdiff_t i = 0; i < n; ++i) body(i);
}

/// block_tree: the shared-memory tree over the values of a block (a.size() threads), level by level.
template <class A>
A block_tree(std::vector<A>& a) {
    for (int stride = static_cast<int>(a.size()) / 2; stride > 0; stride /= 2)
        for (int t = 0; t < stride; ++t) tree_level(a.data(), t, stride);
    return a[0];
}

/// channel_reduce_kernel: per block ch of channel_threads, the threads' partials, the tree,
/// finish by thread 0, then every thread's apply.
template <class Body>
void channel_reduce(int blocks, const Body& body) {
    using A = decltype(body.partial(0, 0));
    std::vector<A> a(channel_threads);
    for (int ch = 0; ch < blocks; ++ch) {
        for (int t = 0; t < channel_threads; ++t) a[static_cast<std::size_t>(t)] = body.partial(ch, t);
        const A total = block_tree(a);
        body.finish(ch, total);
        for (int t = 0; t < channel_threads; ++t) body.apply(ch, t, total);
    }
}

/// batch_norm_train_kernel: per channel (a block of channel_threads), the sums' tree, the centred
/// squares' tree, finish, apply.
inline void batch_norm_forward_train(const bodies::batch_norm_forward_train& body) {
    std::vector<double> a(channel_threads);
    for (int ch = 0; ch < body.c; ++ch) {
        for (int t = 0; t < channel_threads; ++t) a[static_cast<std::size_t>(t)] = body.partial_sum(ch, t);
        const double sum = block_tree(a);
        for (int t = 0; t < channel_threads; ++t) a[static_cast<std::size_t>(t)] = body.partial_sq(ch, t, sum);
        const double sq = block_tree(a);
        body.finish(ch, sum, sq);
        for (int t = 0; t < channel_threads; ++t) body.apply(ch, t, sum, sq);
    }
}

/// reduction_stage1_kernel then reduction_stage2_kernel: the two-stage sum of term(i), i < n,
/// through a partials array as the device's scratch holds it.
template <class Terms>
double two_stage_sum(const Terms& term, std::ptrdiff_t n) {
    const int blocks = reduction_blocks(n);
    std::vector<double> partials(static_cast<std::size_t>(blocks));
    std::vector<double> a(block_threads);
    for (int b = 0; b < blocks; ++b) {
        for (int t = 0; t < block_threads; ++t)
            a[static_cast<std::size_t>(t)] = bodies::reduction_partial(term, n, blocks, b, t);
        partials[static_cast<std::size_t>(b)] = block_tree(a);
    }
    for (int t = 0; t < block_threads; ++t)
        a[static_cast<std::size_t>(t)] = bodies::partials_share(partials.data(), blocks, t);
    return block_tree(a);
}

/// max_pool2d_backward_kernel: one warp per plane zeroes the plane's dx, then takes the outputs
/// 32 at a time; in each round the lanes with equal argmax form a group (__match_any_sync) whose
/// lowest lane adds the group's gradients in lane order.
inline void max_pool2d_backward(const float* dy, const std::int32_t* argmax, float* dx, int planes, int h, int w,
                                int oh, int ow) {
    const std::ptrdiff_t hw = static_cast<std::ptrdiff_t>(h) * w, ohw = static_cast<std::ptrdiff_t>(oh) * ow;
    for (int p = 0; p < planes; ++p) {
        float* dxp = dx + p * hw;
        const float* dyp = dy + p * ohw;
        const std::int32_t* ap = argmax + p * ohw;
        for (std::ptrdiff_t i = 0; i < hw; ++i) dxp[i] = 0.0f;
        for (std::ptrdiff_t base = 0; base < ohw; base += warp_threads) {
            std::array<std::int32_t, warp_threads> target{};
            std::array<float, warp_threads> grad{};
            for (int l = 0; l < warp_threads; ++l) {
                const bool active = base + l < ohw;
                target[static_cast<std::size_t>(l)] = active ? ap[base + l] : -1 - l;
                grad[static_cast<std::size_t>(l)] = active ? dyp[base + l] : 0.0f;
            }
            for (int l = 0; l < warp_threads; ++l) {
                std::uint32_t group = 0;
                for (int m = 0; m < warp_threads; ++m)
                    if (target[static_cast<std::size_t>(m)] == target[static_cast<std::size_t>(l)]) group |= 1u << m;
                const bool leader = base + l < ohw && (group & ((1u << l) - 1u)) == 0;
                if (!leader) continue;
                const std::int32_t a = target[static_cast<std::size_t>(l)];
                dxp[a] = bodies::pool_group_sum(dxp[a], group,
                                                [&](int m) { return grad[static_cast<std::size_t>(m)]; });
            }
        }
    }
}

}  // namespace unetpp::cuda_kernels::emulate
