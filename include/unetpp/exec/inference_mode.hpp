#pragma once
/// \file inference_mode: the scope in which forward passes keep no intermediate results, so that
/// networks fuse layers (exec/fusion.hpp) and lend short-lived results workspace slots
/// (exec/workspace.hpp).

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Inference-only forward passes on the calling thread while an object of this type lives (the
/// counterpart of torch.inference_mode). Under it, a block that chains an eval-mode Conv2d into a
/// BatchNorm2d (with or without its fused ReLU), or a Conv2d into a ReLU, runs the pair as one
/// convolution with the norm folded into the weights and the ReLU applied before the store: the
/// intermediate output is never written, which saves a pass over memory and its buffer. A forward
/// run this way keeps no intermediate results, so calling backward on it throws.
///
///   net.eval();
///   { unetpp::inference_mode guard; const auto& logits = net.forward(x); ... }
///
/// Guards nest; the previous state comes back when a guard is destroyed. infer::predict_tiled and
/// the trainer's validation pass enable it themselves.
class inference_mode {
public:
    inference_mode() noexcept : previous_(flag()) { flag() = true; }
    ~inference_mode() { flag() = previous_; }
    inference_mode(const inference_mode&) = delete;
    inference_mode& operator=(const inference_mode&) = delete;
    /// Whether a guard is alive on this thread.
    [[nodiscard]] static bool enabled() noexcept { return flag(); }

private:
    static bool& flag() noexcept {
        thread_local bool on = false;
        return on;
    }
    bool previous_;
};

}  // namespace unetpp
