#pragma once
/// \file Attention U-Net (Oktay et al. 2018): the standard U-Net whose skips pass through
/// additive attention gates (blocks/attention_gate.hpp), gated by the upsampled decoder map.
/// `attention_policies<Base>` swaps only the skip slot, so it composes with other policies
/// (see docs/ARCHITECTURES.md for a residual, reflect-padded variant).

#include "../config/abi.hpp"
#include "../blocks/skip.hpp"
#include "unet.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Skip slot = attention_skip with F_int = half the skip's channels (at least 1).
template <class Base = default_policies>
struct attention_policies : Base {
    template <unet_cfg C, int SkipChannels, int UpChannels, class B, class T>
    using skip = attention_skip<SkipChannels, UpChannels, (SkipChannels / 2 > 0 ? SkipChannels / 2 : 1),
                                C.norm == norm_kind::batch, B, T>;
};

}  // namespace unetpp
