#pragma once
/// \file Umbrella header of the data pipeline: data sets (BUSI, ISBI 2012, paired folders,
/// synthetic), transforms, augmentation, splits, near-duplicate grouping and the loader.
/// It includes the image decoder (io/image.hpp). See docs/DATA.md.

#include "data/augment.hpp"
#include "data/augment_spec.hpp"
#include "data/busi.hpp"
#include "data/dataset.hpp"
#include "data/folder.hpp"
#include "data/isbi2012.hpp"
#include "data/loader.hpp"
#include "data/patch.hpp"
#include "data/phash.hpp"
#include "data/split.hpp"
#include "data/synthetic.hpp"
#include "data/synthetic_dataset.hpp"
#include "data/transforms.hpp"
