#pragma once
/// \file Kernel bodies of the element-wise operations: activations, arithmetic, plane gating,
/// dropout masks, fills and the per-channel bias / epilogue of the convolutions. Each body is a
/// struct of pointers and sizes whose `operator()(i)` does item i; the device runs it over every
/// i in a grid-stride loop (src/cuda/kernels_eltwise.cu), a host test over every i in a plain loop.
/// The arithmetic is backend::cpu's (backend/cpu/kernels/eltwise.hpp), expression for expression.

#include <cstddef>
#include <cstdint>

#include "../../../config/abi.hpp"
#include "../hd.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::bodies {

/// The channel of flat index i of an [n, c, plane] tensor.
UNETPP_HD inline int channel_of(std::ptrdiff_t i, int c, std::ptrdiff_t plane) {
    return static_cast<int>((i / plane) % c);
}

template <class T>
struct fill {
    T* p;
    T v;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { p[i] = v; }
};

struct relu_forward {
    const float* x;
    float* y;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] = x[i] > 0.0f ? x[i] : 0.0f; }
};
struct relu_backward {
    const float *x, *dy;
    float* dx;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; }
};
struct leaky_relu_forward {
    const float* x;
    float* y;
    float slope;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] = x[i] > 0.0f ? x[i] : slope * x[i]; }
};
struct leaky_relu_backward {
    const float *x, *dy;
    float* dx;
    float slope;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i]; }
};

/// 1 / (1 + e^-v) for v >= 0, e^v / (1 + e^v) below: exp never overflows (numeric::stable_sigmoid).
UNETPP_HD inline float stable_sigmoid(float v) {
    if (v >= 0.0f) return 1.0f / (1.0f + hd_exp(-v));
    const float e = hd_exp(v);
    return e / (1.0f + e);
}
struct sigmoid_forward {
    const float* x;
    float* y;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] = stable_sigmoid(x[i]); }
};
struct sigmoid_backward {
    const float *y, *dy;
    float* dx;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { dx[i] = dy[i] * y[i] * (1.0f - y[i]); }
};

/// Softmax over the channels at one pixel: item j of n * plane is sample j / plane, pixel j % plane.
struct softmax_channels_forward {
    const float* x;
    float* y;
    int c;
    std::ptrdiff_t plane;
    UNETPP_HD void operator()(std::ptrdiff_t j) const {
        const std::ptrdiff_t s = j / plane, p = j % plane;
        const float* xs = x + s * c * plane + p;
        float* ys = y + s * c * plane + p;
        float m = xs[0];
        for (int k = 1; k < c; ++k) m = m < xs[k * plane] ? xs[k * plane] : m;  // std::max(m, v)
        float sum = 0.0f;
        for (int k = 0; k < c; ++k) {
            const float e = hd_exp(xs[k * plane] - m);
            ys[k * plane] = e;
            sum += e;
        }
        const float inv = 1.0f / sum;
        for (int k = 0; k < c; ++k) ys[k * plane] *= inv;
    }
};
struct softmax_channels_backward {
    const float *y, *dy;
    float* dx;
    int c;
    std::ptrdiff_t plane;
    UNETPP_HD void operator()(std::ptrdiff_t j) const {
        const std::ptrdiff_t base = (j / plane) * c * plane + j % plane;
        float dot = 0.0f;
        for (int k = 0; k < c; ++k) dot += dy[base + k * plane] * y[base + k * plane];
        for (int k = 0; k < c; ++k) dx[base + k * plane] = y[base + k * plane] * (dy[base + k * plane] - dot);
    }
};

struct multiply {
    const float *a, *b;
    float* y;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] = a[i] * b[i]; }
};
struct add {
    const float *a, *b;
    float* y;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] = a[i] + b[i]; }
};
struct accumulate {
    const float* x;
    float* y;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] += x[i]; }
};
struct scale {
    float* x;
    float s;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { x[i] *= s; }
};
/// std::clamp's comparisons: lo if v < lo, hi if hi < v, else v (NaN stays NaN).
struct clamp {
    float* x;
    float lo, hi;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const float v = x[i];
        x[i] = v < lo ? lo : (hi < v ? hi : v);
    }
};

/// y[s, k, :] = x[s, k, :] * g[s, 0, :], item i of n * c * plane.
struct multiply_planes {
    const float *x, *g;
    float* y;
    int c;
    std::ptrdiff_t plane;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const std::ptrdiff_t s = i / (static_cast<std::ptrdiff_t>(c) * plane), p = i % plane;
        y[i] = x[i] * g[s * plane + p];
    }
};
/// Item j of n * plane (one gate pixel): dx over the c channels, and dg[j] += dy * x added channel
/// by channel in order, as the CPU does.
struct multiply_planes_backward {
    const float *x, *g, *dy;
    float *dx, *dg;
    int c;
    std::ptrdiff_t plane;
    UNETPP_HD void operator()(std::ptrdiff_t j) const {
        const std::ptrdiff_t s = j / plane, p = j % plane;
        const float gv = g[j];
        float acc = dg[j];
        for (int k = 0; k < c; ++k) {
            const std::ptrdiff_t o = (s * c + k) * plane + p;
            acc += dy[o] * x[o];
            dx[o] = dy[o] * gv;
        }
        dg[j] = acc;
    }
};

/// Inverted-dropout mask from SplitMix64's finaliser of seed + golden * (i + 1): the CPU's draw.
struct dropout_mask {
    float* mask;
    double p;
    float keep;  // float(1 / (1 - p))
    std::uint64_t seed;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const std::uint64_t z = numeric::mix64(seed + 0x9e3779b97f4a7c15ull * (static_cast<std::uint64_t>(i) + 1));
        const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // uniform in [0, 1)
        mask[i] = u < p ? 0.0f : keep;
    }
};

/// y[s, k, :] += bias[k].
struct add_channel_bias {
    float* y;
    const float* bias;
    int c;
    std::ptrdiff_t plane;
    UNETPP_HD void operator()(std::ptrdiff_t i) const { y[i] += bias[channel_of(i, c, plane)]; }
};
/// The fused convolution's epilogue: y = act((y + bias[k]) * scale[k] + shift[k]) with null
/// pointers meaning 0, 1, 0 (cpu_kernels::conv_epilogue after the bias).
struct channel_affine {
    float* y;
    int c;
    std::ptrdiff_t plane;
    const float *bias, *scale_, *shift;
    bool relu;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const int k = channel_of(i, c, plane);
        float v = y[i];
        if (bias) v += bias[k];
        v = v * (scale_ ? scale_[k] : 1.0f) + (shift ? shift[k] : 0.0f);
        y[i] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
};

}  // namespace unetpp::cuda_kernels::bodies
