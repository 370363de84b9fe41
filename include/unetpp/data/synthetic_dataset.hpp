#pragma once
/// \file The built-in synthetic ultrasound generator as a `Dataset` of fixed size.
///
///   data::synthetic_dataset ds(100, {.size = 64, .seed = 3});
///   data::sample s = ds.get(7);   // the same image for the same (cfg.seed, 7), in any order
///
///   data::synthetic_dataset shapes(100, {.size = 64, .classes = 3, .channels = 3});  // RGB, masks 0..2
///
/// Sample i is drawn with rng(derive_seed(cfg.seed, 0, i)); image [1, cfg.channels, size, size],
/// mask [1, 1, size, size] (0/1, or class indices 0..classes-1 for the shapes scene, see
/// synthetic.hpp); label = 1 when the mask is not all background (a lesion or a shape), else 0;
/// group = i.

#include <cstddef>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "augment.hpp"
#include "dataset.hpp"
#include "synthetic.hpp"

namespace unetpp::inline UNETPP_ABI::data {

class synthetic_dataset {
public:
    explicit synthetic_dataset(std::size_t n, synthetic_ultrasound_options cfg = {}) : n_(n), cfg_(cfg) {
        if (n == 0) throw std::invalid_argument("synthetic_dataset: size must be at least 1");
        check_synthetic_cfg(cfg_);
    }
    [[nodiscard]] std::size_t size() const noexcept { return n_; }
    [[nodiscard]] sample get(std::size_t i) const {
        if (i >= n_)
            throw std::out_of_range("synthetic_dataset: sample " + std::to_string(i) + " outside a data set of " +
                                    std::to_string(n_));
        sample s;
        s.image = tensor<float>(shape4{1, cfg_.channels, cfg_.size, cfg_.size});
        s.mask = tensor<float>(shape4{1, 1, cfg_.size, cfg_.size});
        rng r(derive_seed(cfg_.seed, 0, i));
        make_sample(r, cfg_.size, s.image.data(), s.mask.data(), cfg_);
        s.label = 0;
        for (float v : s.mask)
            if (v > 0.5f) { s.label = 1; break; }
        s.group = static_cast<int>(i);
        return s;
    }
    [[nodiscard]] std::string source(std::size_t i) const { return "synthetic sample " + std::to_string(i); }
    [[nodiscard]] const synthetic_ultrasound_options& cfg() const noexcept { return cfg_; }

private:
    std::size_t n_;
    synthetic_ultrasound_options cfg_;
};

}  // namespace unetpp::data
