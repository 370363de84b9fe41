#pragma once
/// \file Umbrella header for inference: overlap-tile prediction of images of any size, test-time
/// augmentation and ensembles (docs/INFERENCE.md).
///
///   #include <unetpp/infer.hpp>
///   auto p = unetpp::infer::predict_tiled(net, x);   // p.prob [1, K, H, W], p.mask [1, 1, H, W]

#include "backend/cpu.hpp"
#include "infer/ensemble.hpp"
#include "infer/probability_files.hpp"
#include "infer/tiling.hpp"
#include "infer/tta.hpp"
