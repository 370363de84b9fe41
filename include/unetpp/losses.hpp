#pragma once
/// \file Umbrella header for every unetpp loss (see docs/LOSSES_AND_METRICS.md and the `Loss`
/// concept in losses/common.hpp).

#include "config/abi.hpp"
#include "losses/common.hpp"
#include "losses/bce.hpp"
#include "losses/bce_with_logits.hpp"
#include "losses/weighted_bce.hpp"
#include "losses/cross_entropy.hpp"
#include "losses/softmax_dice.hpp"
#include "losses/mae.hpp"
#include "losses/region.hpp"
#include "losses/focal.hpp"
#include "losses/combine.hpp"
#include "losses/deep_supervision.hpp"
#include "losses/multitask.hpp"

namespace unetpp::inline UNETPP_ABI::losses {
static_assert(Loss<bce> && Loss<bce_with_logits> && Loss<weighted_bce> && Loss<balanced_bce> &&
              Loss<cross_entropy> && Loss<softmax_dice> && Loss<dice_ce> && Loss<mae> && Loss<dice_loss> &&
              Loss<iou_loss> && Loss<tversky_loss> &&
              Loss<dice_bce> && Loss<focal_loss> && Loss<weighted_sum<dice_loss, bce_with_logits>>);
static_assert(Loss<dice_loss, double> && Loss<focal_loss, double> && Loss<cross_entropy, double> &&
              Loss<softmax_dice, double> && Loss<dice_ce, double>);
// every loss takes per-pixel weights (regions of interest)
static_assert(WeightedLoss<bce> && WeightedLoss<bce_with_logits> && WeightedLoss<weighted_bce> &&
              WeightedLoss<balanced_bce> && WeightedLoss<cross_entropy> && WeightedLoss<softmax_dice> &&
              WeightedLoss<dice_ce> && WeightedLoss<mae> &&
              WeightedLoss<dice_loss> && WeightedLoss<iou_loss> && WeightedLoss<tversky_loss> &&
              WeightedLoss<dice_bce> && WeightedLoss<focal_loss> &&
              WeightedLoss<weighted_sum<dice_loss, bce_with_logits>> && WeightedLoss<dice_loss, double>);
}  // namespace unetpp::losses
