#pragma once
/// \file Attention U-Net (Oktay et al. 2018): the standard U-Net whose skips pass through
/// additive attention gates (blocks/attention_gate.hpp), gated by the upsampled decoder map.
/// `attention_policies<Base>` swaps only the skip slot, so it composes with other policies
/// (see docs/ARCHITECTURES.md for a residual, reflect-padded variant).

#include "../blocks/attention_gate.hpp"
#include "unet.hpp"

namespace unetpp {

/// Skip slot = attention_skip with F_int = half the skip's channels (at least 1).
template <class Base = default_policies>
struct attention_policies : Base {
    template <unet_cfg C, int SkipChannels, int UpChannels, class T, class B>
    using skip = attention_skip<SkipChannels, UpChannels, (SkipChannels / 2 > 0 ? SkipChannels / 2 : 1),
                                C.norm == norm_kind::batch, T, B>;
};

namespace presets {

/// Attention U-Net: base 64, depth 4, padded 3x3 Conv-BN-ReLU x 2 blocks, transposed-conv up,
/// attention-gated skips, one input channel and one output map.
inline constexpr unet_cfg attention_unet_cfg{.in_channels = 1, .classes = 1, .base = 64, .depth = 4, .kernel = 3,
                                             .pad = padding::same, .norm = norm_kind::batch};
template <class B = backend::cpu, class T = float>
using attention_unet_t = unet<attention_unet_cfg, B, T, attention_policies<>>;
using attention_unet = attention_unet_t<>;

}  // namespace presets
}  // namespace unetpp
