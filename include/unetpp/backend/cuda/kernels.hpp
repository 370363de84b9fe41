#pragma once
/// \file The CUDA backend's own kernels: one launcher per operation of the backend contract
/// (backend/backend.hpp) except the convolutions and dense layers (cuDNN and cuBLAS do those),
/// plus the helpers the convolutions and the device memory space need.
///
/// Every launcher takes the stream first and raw device pointers, has the contract operation's
/// name and arguments, enqueues its kernel(s) on the stream and returns without waiting; only the
/// two reductions wait, for their one scalar. A launch failure throws std::runtime_error with
/// cudaGetErrorString's text. Element counts of 0 launch nothing. Only float is supported.
/// The per-element work lives in bodies/*.hpp (`UNETPP_HD` functions), which a g++ test runs on
/// the host against backend::cpu; the kernels in src/cuda/kernels_*.cu call them. The loss
/// operations also wait, for their value (bodies/loss.hpp).
///
/// Determinism: no kernel adds floats with atomics, so every result is the same from run to run.
/// Per-channel and per-plane sums use one block of channel_threads per channel (plane) and a
/// fixed tree (hd.hpp), in double; they agree with the CPU's float-then-double sums to
/// rounding. Everything else, the gradients of pooling, padding and upsampling included (gathers
/// here, in the CPU's order), is the CPU's arithmetic in the CPU's order: bit-identical when
/// neither compiler fuses a * b + c (nvcc does by default, --fmad=true; so does GCC at
/// -march=native with -ffp-contract=fast), otherwise within the rounding of those fused steps.
/// max_pool2d_backward needs sm_70 or newer (__match_any_sync).

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../../config/abi.hpp"
#include "../backend.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

// --- helpers for the convolutions and the memory space ----------------------------------------
/// p[0..n) = v.
void fill(cudaStream_t stream, float* p, std::ptrdiff_t n, float v);
/// p[0..n) = v (int32).
void fill(cudaStream_t stream, std::int32_t* p, std::ptrdiff_t n, std::int32_t v);
/// y[s, k, :] += bias[k] for n samples of c channels of `plane` pixels.
void add_channel_bias(cudaStream_t stream, float* y, const float* bias, int n, int c, std::ptrdiff_t plane);
/// db[k] += sum over samples and pixels of dy[s, k, :] (a bias gradient), one fixed tree per channel.
void channel_sum_accumulate(cudaStream_t stream, const float* dy, float* db, int n, int c, std::ptrdiff_t plane);
/// y = act((y + bias[k]) * scale[k] + shift[k]), act = ReLU if relu; null bias/scale/shift mean 0/1/0.
void channel_affine(cudaStream_t stream, float* y, int n, int c, std::ptrdiff_t plane, const float* bias,
                    const float* scale, const float* shift, bool relu);

// --- activations and element-wise arithmetic (kernels_eltwise.cu) -----------------------------
/// y = max(x, 0).
void relu_forward(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n);
/// dx = dy where x > 0, else 0.
void relu_backward(cudaStream_t stream, const float* x, const float* dy, float* dx, std::ptrdiff_t n);
/// y = x > 0 ? x : slope * x.
void leaky_relu_forward(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n, float slope);
/// dx = x > 0 ? dy : slope * dy.
void leaky_relu_backward(cudaStream_t stream, const float* x, const float* dy, float* dx, std::ptrdiff_t n,
                         float slope);
/// y = 1 / (1 + e^-x), computed without overflow.
void sigmoid_forward(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n);
/// dx = dy * y * (1 - y) from the forward output y.
void sigmoid_backward(cudaStream_t stream, const float* y, const float* dy, float* dx, std::ptrdiff_t n);
/// Softmax over the channels of an NCHW tensor (n samples, c channels, plane pixels), one thread per pixel.
void softmax_channels_forward(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane);
/// dx_k = y_k * (dy_k - sum_j dy_j y_j) per pixel.
void softmax_channels_backward(cudaStream_t stream, const float* y, const float* dy, float* dx, int n, int c,
                               std::ptrdiff_t plane);
/// y = a * b.
void multiply(cudaStream_t stream, const float* a, const float* b, float* y, std::ptrdiff_t n);
/// y = a + b.
void add(cudaStream_t stream, const float* a, const float* b, float* y, std::ptrdiff_t n);
/// y += x.
void accumulate(cudaStream_t stream, const float* x, float* y, std::ptrdiff_t n);
/// x *= s.
void scale(cudaStream_t stream, float* x, std::ptrdiff_t n, float s);
/// x = min(max(x, lo), hi).
void clamp(cudaStream_t stream, float* x, std::ptrdiff_t n, float lo, float hi);
/// y[s, k, :] = x[s, k, :] * g[s, 0, :].
void multiply_planes(cudaStream_t stream, const float* x, const float* g, float* y, int n, int c,
                     std::ptrdiff_t plane);
/// dx = dy * g; dg[s, 0, :] += sum over k (in order) of dy * x.
void multiply_planes_backward(cudaStream_t stream, const float* x, const float* g, const float* dy, float* dx,
                              float* dg, int n, int c, std::ptrdiff_t plane);
/// mask[i] = 0 with probability p, else 1 / (1 - p): the CPU's SplitMix64 hash of (seed, i).
void dropout_mask(cudaStream_t stream, float* mask, std::ptrdiff_t n, double p, std::uint64_t seed);

// --- pooling (kernels_pool.cu) -----------------------------------------------------------------
/// Max pooling, window k, stride s; argmax (may be null) gets the winner's index in its plane (first max, NaN wins).
void max_pool2d_forward(cudaStream_t stream, const float* x, float* y, std::int32_t* argmax, int planes, int h,
                        int w, int k, int s);
/// dx = 0, then dy routed to argmax; one warp per plane adds in output order (the CPU's bits).
void max_pool2d_backward(cudaStream_t stream, const float* dy, const std::int32_t* argmax, float* dx, int planes,
                         int h, int w, int oh, int ow);
/// Size-keeping stride-1 max pooling with window k clipped at the border (argmax required).
void max_pool2d_same_forward(cudaStream_t stream, const float* x, float* y, std::int32_t* argmax, int planes,
                             int h, int w, int k);
/// y[p] = mean of plane p (one block per plane, fixed tree).
void global_avg_pool_forward(cudaStream_t stream, const float* x, float* y, int planes, std::ptrdiff_t plane);
/// dx[p, :] = dy[p] / plane.
void global_avg_pool_backward(cudaStream_t stream, const float* dy, float* dx, int planes, std::ptrdiff_t plane);

// --- batch norm (kernels_batch_norm.cu); one block per channel for the statistics -------------
/// Training forward: batch mean and biased variance (two passes in double), saved mean and invstd,
/// running stats updated with the unbiased variance, y = act(x * scale + shift).
void batch_norm_forward_train(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane,
                              const float* gamma, const float* beta, float eps, float momentum, float* running_mean,
                              float* running_var, float* save_mean, float* save_invstd, bool relu);
/// y = act(x * scale + shift) from the saved statistics (the training forward's bits).
void batch_norm_apply_saved(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane,
                            const float* gamma, const float* beta, const float* save_mean, const float* save_invstd,
                            bool relu);
/// Eval forward: y = act(x * scale + shift), scale = gamma / sqrt(var + eps), shift = beta - mean * scale.
void batch_norm_forward_eval(cudaStream_t stream, const float* x, float* y, int n, int c, std::ptrdiff_t plane,
                             const float* gamma, const float* beta, float eps, const float* running_mean,
                             const float* running_var, bool relu);
/// Training backward (dgamma, dbeta added to; dy masked by relu_out > 0 when relu_out is not null).
void batch_norm_backward_train(cudaStream_t stream, const float* x, const float* dy, float* dx, int n, int c,
                               std::ptrdiff_t plane, const float* gamma, const float* save_mean,
                               const float* save_invstd, float* dgamma, float* dbeta, const float* relu_out);
/// Eval backward: dx = dy * gamma * invstd (dgamma, dbeta added to; relu_out as above).
void batch_norm_backward_eval(cudaStream_t stream, const float* x, const float* dy, float* dx, int n, int c,
                              std::ptrdiff_t plane, const float* gamma, float eps, const float* running_mean,
                              const float* running_var, float* dgamma, float* dbeta, const float* relu_out);
/// scale[k] = gamma[k] / sqrt(var[k] + eps), shift[k] = beta[k] - mean[k] * scale[k].
void batch_norm_fold(cudaStream_t stream, const float* gamma, const float* beta, float eps, const float* mean,
                     const float* var, int c, float* scale, float* shift);

// --- data movement (kernels_resample.cu) --------------------------------------------------------
/// y (planes x (h+2p) x (w+2p)) = x padded by p, zeros or mirrored (PyTorch reflect).
void pad_forward(cudaStream_t stream, const float* x, float* y, int planes, int h, int w, int p,
                 backend::pad_kind kind);
/// The adjoint of pad_forward (a gather: each pixel adds its mirrors in the CPU's order).
void pad_backward(cudaStream_t stream, const float* dy, float* dx, int planes, int h, int w, int p,
                  backend::pad_kind kind);
/// Window (oy, ox, th x tw) of each src plane into channels [c_offset, c_offset + c) of dst (c_total channels).
void copy_window_to_channels(cudaStream_t stream, const float* src, int n, int c, int h, int w, int oy, int ox,
                             int th, int tw, float* dst, int c_total, int c_offset);
/// The adjoint: the window's gradient into a src-shaped gradient, zero outside the window.
void copy_channels_to_window(cudaStream_t stream, const float* dst_grad, int c_total, int c_offset, int n, int c,
                             int h, int w, int oy, int ox, int th, int tw, float* src_grad);
/// Bilinear x2 upsampling, align_corners=False (y is planes x 2h x 2w).
void upsample_bilinear2x_forward(cudaStream_t stream, const float* x, float* y, int planes, int h, int w);
/// Its adjoint (a gather over the outputs that touch each input, in the CPU's order); h, w of x.
void upsample_bilinear2x_backward(cudaStream_t stream, const float* dy, float* dx, int planes, int h, int w);

// --- optimiser steps and reductions (kernels_update.cu) ----------------------------------------
/// One SGD step (optim/sgd.hpp; momentum buffer used when step.momentum != 0).
void sgd_update(cudaStream_t stream, float* param, const float* grad, float* momentum, std::ptrdiff_t n,
                const backend::sgd_step& step);
/// One Adam / AdamW step (optim/adam.hpp).
void adam_update(cudaStream_t stream, float* param, const float* grad, float* m, float* v, std::ptrdiff_t n,
                 const backend::adam_step& step);
/// Bytes of device scratch sum_squares and all_finite need for n elements.
std::size_t reduction_scratch_bytes(std::ptrdiff_t n);
/// Sum of x[i]^2 in double (two fixed trees); waits for the stream and reads back one double.
double sum_squares(cudaStream_t stream, const float* x, std::ptrdiff_t n, void* scratch);
/// Whether no element is NaN or infinite; waits for the stream and reads back one int.
bool all_finite(cudaStream_t stream, const float* x, std::ptrdiff_t n, void* scratch);

// --- losses (kernels_loss.cu; bodies/loss.hpp): value and gradient, one double read back -------
/// Bytes of device scratch the loss operations need for g.
std::size_t loss_scratch_bytes(const backend::loss_geometry& g);
/// Mean (or weighted mean) binary cross-entropy on logits; grad (may be null) overwritten.
double bce_with_logits_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                            const float* w, float* grad, void* scratch);
/// Dice, IoU or Tversky on sigmoids, per batch or per image; NaN for 0/0.
double region_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                   const float* w, float* grad, const backend::region_loss_params& r, void* scratch);
/// Cross-entropy over the channels' softmax (class weights may be null).
double cross_entropy_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                          const float* w, const float* class_weights, float* grad,
                          const backend::multiclass_loss_params& mp, void* scratch);
/// Soft Dice over the channels' softmax.
double softmax_dice_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                         const float* w, float* grad, const backend::multiclass_loss_params& mp, void* scratch);
/// The (weighted) mean of a pointwise loss's terms: weighted or balanced BCE, focal, MAE.
double pointwise_loss(cudaStream_t stream, const backend::loss_geometry& g, const float* x, const float* t,
                      const float* w, float* grad, const backend::pointwise_loss_params& p, void* scratch);

}  // namespace unetpp::cuda_kernels
