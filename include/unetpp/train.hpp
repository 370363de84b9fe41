#pragma once
/// \file Umbrella header of the training workflow: optimisers, schedules, clipping, the trainer,
/// callbacks and checkpoints. See docs/TRAINING.md.
#include "backend/cpu.hpp"
#include "optim.hpp"
#include "train/atomic_file.hpp"
#include "train/callbacks.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"
