#pragma once
/// \file The CUDA backend's convolutions: cuDNN graph-API problems built from the backend's
/// geometries, and the operations (defined in src/cuda/conv.cpp, compiled into unetpp::cuda).
///
/// Every convolution of the contract is one cuDNN convolution pass on NCHW float tensors:
///   - conv2d:            forward, backward data, backward filter of the convolution itself;
///   - conv_transpose2d:  a transposed convolution is the backward-data pass of the convolution
///                        that maps its output back to its input (weight [in, out, k, k] is that
///                        convolution's OIHW weight with O = in), so its forward is that
///                        convolution's backward data, its backward data that convolution's
///                        forward, and its weight gradient that convolution's backward filter
///                        with x and dy exchanged;
///   - depthwise:         a grouped convolution with groups = channels (weight [c, 1, k, k]).
/// Zero padding is cuDNN's; a reflect-padded border is copied into scratch memory by the pad
/// kernel first (and its gradient folded back), so cuDNN sees the padded size and no padding.
/// Bias, folded batch norm and ReLU are applied by the channel kernels after the convolution.
///
/// The `problem` builders below are pure functions (no CUDA, no cuDNN), tested by g++ over every
/// convolution geometry of every preset (tests/unit/backend/test_cuda_conv_problems.cpp).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../../config/abi.hpp"
#include "../backend.hpp"

namespace unetpp::inline UNETPP_ABI::cuda_conv {

/// Which cuDNN operation a problem is.
enum class pass : int { forward = 0, backward_data = 1, backward_filter = 2 };

/// A packed NCHW (or KCRS) float tensor: dimensions and strides as cuDNN takes them.
struct tensor_desc {
    std::array<std::int64_t, 4> dims{}, strides{};
    constexpr bool operator==(const tensor_desc&) const = default;
};

constexpr tensor_desc packed(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) noexcept {
    return {{n, c, h, w}, {c * h * w, h * w, w, 1}};
}

/// One cuDNN convolution pass, in the terms of the forward convolution y = conv(x, w): x, w and y
/// are that convolution's tensors whichever pass runs (backward data writes x's gradient,
/// backward filter w's). beta is 1 where the contract adds to the output (weight gradients).
struct problem {
    pass kind = pass::forward;
    tensor_desc x, w, y;
    std::int64_t pad = 0, stride = 1;
    float beta = 0;
    constexpr bool operator==(const problem&) const = default;
};

/// Whether p is a convolution cuDNN can describe: positive sizes, y's spatial size the forward
/// convolution's, channels that divide into groups (x's channels = groups * w's input channels,
/// w's output channels a multiple of groups and equal to y's), and the same batch in x and y.
constexpr bool consistent(const problem& p) noexcept {
    for (int i = 0; i < 4; ++i)
        if (p.x.dims[i] <= 0 || p.w.dims[i] <= 0 || p.y.dims[i] <= 0) return false;
    if (p.stride <= 0 || p.pad < 0) return false;
    if (p.x.dims[0] != p.y.dims[0] || p.w.dims[0] != p.y.dims[1]) return false;
    if (p.x.dims[1] % p.w.dims[1] != 0) return false;
    const std::int64_t groups = p.x.dims[1] / p.w.dims[1];
    if (p.w.dims[0] % groups != 0) return false;
    for (int d = 2; d < 4; ++d) {
        const std::int64_t span = p.x.dims[d] + 2 * p.pad - p.w.dims[d];
        if (span < 0 || span / p.stride + 1 != p.y.dims[d]) return false;
    }
    return p.x == packed(p.x.dims[0], p.x.dims[1], p.x.dims[2], p.x.dims[3]) &&
           p.w == packed(p.w.dims[0], p.w.dims[1], p.w.dims[2], p.w.dims[3]) &&
           p.y == packed(p.y.dims[0], p.y.dims[1], p.y.dims[2], p.y.dims[3]);
}

/// The input size cuDNN sees: a reflect border is copied in, so it is part of the input.
constexpr bool copies_border(backend::pad_kind kind, int pad) noexcept {
    return kind == backend::pad_kind::reflect && pad > 0;
}

/// A 2-D convolution's pass. Dense (groups 1), square kernels only as the contract has.
constexpr problem describe(const backend::conv_geometry& g, pass kind) noexcept {
    const bool copied = copies_border(g.padding, g.pad);
    const int h = copied ? g.h + 2 * g.pad : g.h, w = copied ? g.w + 2 * g.pad : g.w;
    problem p;
    p.kind = kind;
    p.x = packed(g.n, g.cin, h, w);
    p.w = packed(g.cout, g.cin, g.kh, g.kw);
    p.y = packed(g.n, g.cout, g.oh(), g.ow());
    p.pad = copied ? 0 : g.pad;
    p.stride = g.stride;
    p.beta = kind == pass::backward_filter ? 1.0f : 0.0f;
    return p;
}

/// A transposed convolution's pass `kind` (of the transposed convolution), as the pass of the
/// convolution it is the transpose of (this file's comment): forward -> backward data,
/// backward data -> forward, backward filter -> backward filter.
constexpr problem describe(const backend::conv_transpose_geometry& g, pass kind) noexcept {
    problem p;
    p.kind = kind == pass::forward ? pass::backward_data : kind == pass::backward_data ? pass::forward : kind;
    p.x = packed(g.n, g.cout, g.oh(), g.ow());  // the dual convolution's input: this one's output
    p.w = packed(g.cin, g.cout, g.kh, g.kw);    // [in, out, k, k] is its OIHW weight
    p.y = packed(g.n, g.cin, g.h, g.w);
    p.pad = g.pad;
    p.stride = g.stride;
    p.beta = kind == pass::backward_filter ? 1.0f : 0.0f;
    return p;
}

/// A depthwise convolution's pass: groups = channels, weight [c, 1, k, k].
constexpr problem describe(const backend::depthwise_geometry& g, pass kind) noexcept {
    const bool copied = g.pad > 0 && g.padding == backend::pad_kind::reflect;
    const int h = copied ? g.h + 2 * g.pad : g.h, w = copied ? g.w + 2 * g.pad : g.w;
    problem p;
    p.kind = kind;
    p.x = packed(g.n, g.c, h, w);
    p.w = packed(g.c, 1, g.k, g.k);
    p.y = packed(g.n, g.c, g.oh(), g.ow());
    p.pad = copied ? 0 : g.pad;
    p.stride = g.stride;
    p.beta = kind == pass::backward_filter ? 1.0f : 0.0f;
    return p;
}

/// A hash of a problem, for the plan cache.
constexpr std::size_t hash(const problem& p) noexcept {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
    const auto mix = [&h](std::int64_t v) {
        h ^= static_cast<std::uint64_t>(v);
        h *= 1099511628211ull;
    };
    mix(static_cast<int>(p.kind));
    for (const auto* t : {&p.x, &p.w, &p.y})
        for (int i = 0; i < 4; ++i) mix(t->dims[i]);
    mix(p.pad);
    mix(p.stride);
    mix(p.beta != 0);
    return static_cast<std::size_t>(h);
}

// The operations, with the contract's meaning (backend/backend.hpp) on raw device pointers, on the
// calling thread's context. conv2d_forward applies y = act(scale * (conv + b) + shift) per output
// channel when `fused` (b, scale, shift may be null), else y = conv + b.
void conv2d_forward(const backend::conv_geometry& g, const float* x, const float* w, const float* b, const float* scale,
                    const float* shift, bool relu, bool fused, float* y);
void conv2d_backward_data(const backend::conv_geometry& g, const float* dy, const float* w, float* dx);
void conv2d_backward_weights(const backend::conv_geometry& g, const float* x, const float* dy, float* dw, float* db);
void conv_transpose2d_forward(const backend::conv_transpose_geometry& g, const float* x, const float* w, const float* b,
                              float* y);
void conv_transpose2d_backward_data(const backend::conv_transpose_geometry& g, const float* dy, const float* w,
                                    float* dx);
void conv_transpose2d_backward_weights(const backend::conv_transpose_geometry& g, const float* x, const float* dy,
                                       float* dw, float* db);
void depthwise_conv2d_forward(const backend::depthwise_geometry& g, const float* x, const float* w, const float* b,
                              float* y);
void depthwise_conv2d_backward(const backend::depthwise_geometry& g, const float* x, const float* w, const float* dy,
                               float* dx, float* dw, float* db);

/// What runs a convolution: cuDNN's graph API with heuristics mode A.
constexpr std::string_view algorithm_name = "cuDNN graph API (heuristics mode A, deterministic engines)";

}  // namespace unetpp::cuda_conv
