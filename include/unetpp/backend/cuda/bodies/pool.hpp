#pragma once
/// \file Kernel bodies of max pooling and global average pooling (backend/cpu/kernels/pool.hpp's
/// arithmetic). The forwards are one item per output. The max-pooling backward gives each plane
/// one warp that walks the outputs 32 at a time in order; lanes whose argmax coincide form a
/// group whose lowest lane adds the group's gradients in lane order, so every input receives its
/// gradients in output order, as on the CPU. Global average pooling reduces each plane in one
/// block of channel_threads with the tree of hd.hpp.

#include <cstddef>
#include <cstdint>

#include "../../../config/abi.hpp"
#include "../hd.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::bodies {

/// One output of max pooling (window k, stride s): first maximum wins, NaN wins and stops.
struct max_pool2d_forward {
    const float* x;
    float* y;
    std::int32_t* argmax;  // may be null
    int h, w, k, s, oh, ow;
    UNETPP_HD void operator()(std::ptrdiff_t o) const {
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(oh) * ow;
        const std::ptrdiff_t p = o / per;
        const int r = static_cast<int>(o % per), oy = r / ow, ox = r % ow;
        const float* xp = x + p * h * w;
        float best = -__builtin_huge_valf();
        std::int32_t bi = (oy * s) * w + ox * s;
        bool stop = false;
        for (int ky = 0; ky < k && !stop; ++ky)
            for (int kx = 0; kx < k; ++kx) {
                const std::int32_t i = (oy * s + ky) * w + ox * s + kx;
                const float v = xp[i];
                if (v > best || v != v) {
                    best = v;
                    bi = i;
                    if (v != v) {
                        stop = true;
                        break;
                    }
                }
            }
        y[o] = best;
        if (argmax) argmax[o] = bi;
    }
};

/// One output of the size-keeping stride-1 max pooling: window rows i - (k-1)/2 ... clipped at the
/// border, first maximum wins (a window of NaN only gives -inf and index 0, as on the CPU).
struct max_pool2d_same_forward {
    const float* x;
    float* y;
    std::int32_t* argmax;
    int h, w, k;
    UNETPP_HD void operator()(std::ptrdiff_t o) const {
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(h) * w;
        const std::ptrdiff_t p = o / per;
        const int r0 = static_cast<int>(o % per), i = r0 / w, j = r0 % w;
        float best;
        std::int32_t at;
        numeric::same_window_max(x + p * per, h, w, k, i, j, best, at);
        y[o] = best;
        argmax[o] = at;
    }
};

/// The max-pooling backward's round of 32 outputs of one plane, for the lane that leads its group
/// (the lowest lane whose argmax is the group's target): start (dx[target]) plus the gradients of
/// the lanes of `group` (a bit per lane) in lane order. `lane_grad(l)` is lane l's gradient (a
/// shuffle on the device, so it is called for every lane, in order, by every lane).
template <class LaneGrad>
UNETPP_HD inline float pool_group_sum(float start, std::uint32_t group, LaneGrad lane_grad) {
    float v = start;
    for (int l = 0; l < warp_threads; ++l) {
        const float g = lane_grad(l);
        if ((group >> l) & 1u) v += g;
    }
    return v;
}

/// Thread t's share of plane p's sum (elements t, t + channel_threads, ...) in double: global
/// average pooling's first level, before the tree.
struct global_avg_pool_forward {
    const float* x;
    float* y;
    std::ptrdiff_t plane;
    UNETPP_HD double partial(int p, int t) const {
        const float* xp = x + static_cast<std::ptrdiff_t>(p) * plane;
        double acc = 0;
        for (std::ptrdiff_t i = t; i < plane; i += channel_threads) acc += static_cast<double>(xp[i]);
        return acc;
    }
    /// Thread 0, after the tree: y[p] = sum / plane.
    UNETPP_HD void finish(int p, double total) const {
        y[p] = static_cast<float>(total) / static_cast<float>(plane);
    }
    /// No per-element pass.
    UNETPP_HD void apply(int, int, double) const {}
};
/// dx[p, :] = dy[p] / plane, item i of planes * plane.
struct global_avg_pool_backward {
    const float* dy;
    float* dx;
    std::ptrdiff_t plane;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { dx[i] = dy[i / plane] / static_cast<float>(plane); }
};

}  // namespace unetpp::cuda_kernels::bodies
