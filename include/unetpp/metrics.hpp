#pragma once
/// \file Umbrella header for every unetpp metric (see docs/LOSSES_AND_METRICS.md).

#include "metrics/classification.hpp"
#include "metrics/confusion.hpp"
#include "metrics/dice.hpp"
#include "metrics/hausdorff.hpp"
#include "metrics/multiclass.hpp"
#include "metrics/ranking.hpp"
#include "metrics/segmentation.hpp"
#include "metrics/summary.hpp"
