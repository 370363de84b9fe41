#pragma once
/// \file Umbrella header of the optimisers (SGD, Adam, AdamW), learning-rate schedules and
/// gradient clipping. See docs/TRAINING.md.
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
