// The CUDA backend's convolutions (include/unetpp/backend/cuda/conv.hpp): cuDNN graph-API plans
// for the convolution passes, the pad kernel for reflect borders, the channel kernels for bias,
// folded batch norm and ReLU, all on the calling thread's context.

#include <cstddef>
#include <cstdint>

#include <unetpp/backend/cuda/context.hpp>
#include <unetpp/backend/cuda/conv.hpp>
#include <unetpp/backend/cuda/kernels.hpp>

#include "conv_plans.hpp"

namespace unetpp::inline UNETPP_ABI::cuda_conv {

namespace {

using backend::pad_kind;
using cuda_runtime::context;
using cuda_runtime::scratch_slot;

// The byte alignment cuDNN is promised: 16 when every pointer has it (the allocator's blocks and
// whole tensors always do), else 4 (a float).
std::int64_t alignment_of(std::initializer_list<const void*> pointers) noexcept {
    for (const void* p : pointers)
        if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return 4;
    return 16;
}

// Runs problem p on pointers of its forward convolution's x, w, y (see conv_plans.hpp).
void run(context& ctx, const problem& p, const void* x, const void* w, const void* y) {
    auto& cache = ctx.plans();
    const auto& plan = cache.get(p, alignment_of({x, w, y}), ctx.tf32());
    void* workspace = plan.workspace > 0
                          ? ctx.scratch(scratch_slot::conv_workspace, static_cast<std::size_t>(plan.workspace))
                          : nullptr;
    cache.execute(plan, x, w, y, workspace);
}

std::ptrdiff_t elements(const tensor_desc& t) noexcept { return t.dims[0] * t.strides[0]; }

// x (planes of h x w) with a reflect border of `pad`, in scratch memory.
const float* reflect_padded(context& ctx, const float* x, int planes, int h, int w, int pad) {
    const std::size_t n = static_cast<std::size_t>(planes) * (h + 2 * pad) * (w + 2 * pad);
    auto* dst = static_cast<float*>(ctx.scratch(scratch_slot::padded_input, n * sizeof(float)));
    cuda_kernels::pad_forward(ctx.stream(), x, dst, planes, h, w, pad, pad_kind::reflect);
    return dst;
}

// Backward data into the (possibly padded) input gradient, then the border folded back into dx.
void backward_data_folded(context& ctx, const problem& p, const float* dy, const float* w, float* dx, int planes, int h,
                          int wd, int pad, bool copied) {
    if (!copied) {
        run(ctx, p, dx, w, dy);
        return;
    }
    auto* dpad = static_cast<float*>(
        ctx.scratch(scratch_slot::padded_grad, static_cast<std::size_t>(elements(p.x)) * sizeof(float)));
    run(ctx, p, dpad, w, dy);
    cuda_kernels::pad_backward(ctx.stream(), dpad, dx, planes, h, wd, pad, pad_kind::reflect);
}

}  // namespace

void conv2d_forward(const backend::conv_geometry& g, const float* x, const float* w, const float* b, const float* scale,
                    const float* shift, bool relu, bool fused, float* y) {
    auto& ctx = context::current();
    const problem p = describe(g, pass::forward);
    if (copies_border(g.padding, g.pad)) x = reflect_padded(ctx, x, g.n * g.cin, g.h, g.w, g.pad);
    run(ctx, p, x, w, y);
    const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(g.oh()) * g.ow();
    if (fused)
        cuda_kernels::channel_affine(ctx.stream(), y, g.n, g.cout, plane, b, scale, shift, relu);
    else if (b)
        cuda_kernels::add_channel_bias(ctx.stream(), y, b, g.n, g.cout, plane);
}

void conv2d_backward_data(const backend::conv_geometry& g, const float* dy, const float* w, float* dx) {
    auto& ctx = context::current();
    backward_data_folded(ctx, describe(g, pass::backward_data), dy, w, dx, g.n * g.cin, g.h, g.w, g.pad,
                         copies_border(g.padding, g.pad));
}

void conv2d_backward_weights(const backend::conv_geometry& g, const float* x, const float* dy, float* dw, float* db) {
    auto& ctx = context::current();
    if (copies_border(g.padding, g.pad)) x = reflect_padded(ctx, x, g.n * g.cin, g.h, g.w, g.pad);
    run(ctx, describe(g, pass::backward_filter), x, dw, dy);
    if (db)
        cuda_kernels::channel_sum_accumulate(ctx.stream(), dy, db, g.n, g.cout,
                                             static_cast<std::ptrdiff_t>(g.oh()) * g.ow());
}

// The transposed convolution's x is the dual convolution's y and its y the dual's x.
void conv_transpose2d_forward(const backend::conv_transpose_geometry& g, const float* x, const float* w, const float* b,
                              float* y) {
    auto& ctx = context::current();
    run(ctx, describe(g, pass::forward), y, w, x);
    if (b)
        cuda_kernels::add_channel_bias(ctx.stream(), y, b, g.n, g.cout, static_cast<std::ptrdiff_t>(g.oh()) * g.ow());
}

void conv_transpose2d_backward_data(const backend::conv_transpose_geometry& g, const float* dy, const float* w,
                                    float* dx) {
    auto& ctx = context::current();
    run(ctx, describe(g, pass::backward_data), dy, w, dx);
}

void conv_transpose2d_backward_weights(const backend::conv_transpose_geometry& g, const float* x, const float* dy,
                                       float* dw, float* db) {
    auto& ctx = context::current();
    run(ctx, describe(g, pass::backward_filter), dy, dw, x);
    if (db)
        cuda_kernels::channel_sum_accumulate(ctx.stream(), dy, db, g.n, g.cout,
                                             static_cast<std::ptrdiff_t>(g.oh()) * g.ow());
}

void depthwise_conv2d_forward(const backend::depthwise_geometry& g, const float* x, const float* w, const float* b,
                              float* y) {
    auto& ctx = context::current();
    if (copies_border(g.padding, g.pad)) x = reflect_padded(ctx, x, g.n * g.c, g.h, g.w, g.pad);
    run(ctx, describe(g, pass::forward), x, w, y);
    if (b) cuda_kernels::add_channel_bias(ctx.stream(), y, b, g.n, g.c, static_cast<std::ptrdiff_t>(g.oh()) * g.ow());
}

void depthwise_conv2d_backward(const backend::depthwise_geometry& g, const float* x, const float* w, const float* dy,
                               float* dx, float* dw, float* db) {
    auto& ctx = context::current();
    const bool copied = copies_border(g.padding, g.pad);
    // The weight gradient first: it reads the padded input from the padded_input slot.
    const float* xs = copied ? reflect_padded(ctx, x, g.n * g.c, g.h, g.w, g.pad) : x;
    run(ctx, describe(g, pass::backward_filter), xs, dw, dy);
    if (db)
        cuda_kernels::channel_sum_accumulate(ctx.stream(), dy, db, g.n, g.c,
                                             static_cast<std::ptrdiff_t>(g.oh()) * g.ow());
    backward_data_folded(ctx, describe(g, pass::backward_data), dy, w, dx, g.n * g.c, g.h, g.w, g.pad, copied);
}

}  // namespace unetpp::cuda_conv
