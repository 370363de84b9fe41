#pragma once
/// \file The buffers a U-Net lends its levels under inference_mode and in backward (see
/// unet::forward_level and backward_level in models/unet.hpp).

#include <array>
#include <cstddef>

namespace unetpp {

namespace detail {
/// Buffers that a U-Net lends its levels for results that die young, shared by every level and
/// every network on the thread (per tensor type). The levels run one after another, so one
/// buffer of the largest level's size replaces one buffer per level:
///   pool_up    under inference_mode: each pooling result (dead once the level below has read it)
///              and each up-sampled map (dead once concatenated)
///   merged     under inference_mode: each concatenation (dead once the decoder has read it)
///   level_out  under inference_mode: the bottleneck's output and each decoder's output below
///              level 0 (dead once the level above has up-sampled it); not when the network
///              keeps its decoder outputs (keep_decoder_outputs, for deep supervision)
///   dec_grad   in backward: the gradient of each decoder's input (dead once the skip split it)
///   up_grad    the gradient of each up-sampled map (dead once the up-sampling's backward ran)
///   below_grad the gradient of each level's input from above (dead once the level below used it)
///   pool_grad  the gradient of each pooling input, then that plus the skip's (dead once the
///              encoder's backward ran)
///   enc_grad   the gradient of each encoder's input below level 0 (dead once pooled back)
/// A buffer's content stays valid until the next level writes it; unet::forward_level and
/// backward_level order their calls so that this never happens early.
enum class unet_buffer : std::size_t { pool_up, merged, level_out, dec_grad, up_grad, below_grad, pool_grad, enc_grad, count };
template <class Tensor>
Tensor& unet_level_buffer(unet_buffer b) noexcept {
    thread_local std::array<Tensor, static_cast<std::size_t>(unet_buffer::count)> buffers;
    return buffers[static_cast<std::size_t>(b)];
}
}  // namespace detail

}  // namespace unetpp
