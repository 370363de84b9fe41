#pragma once
// Shared by the trainer tests (test_trainer.cpp, test_trainer_interrupt.cpp): a temporary folder,
// file and weight readers, a loss that turns NaN at step k, and the tiny network on the built-in
// synthetic data set. Test support only.
#include <doctest/doctest.h>

#include "../../support/error_of.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unistd.h>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/train.hpp>

namespace trainer_test {
using namespace unetpp;
namespace fs = std::filesystem;

using tiny = presets::unet_bn<4, 2>;
using other = presets::unet_bn<8, 2>;

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> k{0};
        path = fs::temp_directory_path() / ("unetpp_test_train_" + std::to_string(::getpid()) + "_" + std::to_string(k++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

inline std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

template <class Net>
inline std::vector<float> weights_of(Net& net) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, tensor<float>& p, tensor<float>&) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    net.visit_buffers([&](std::string_view, tensor<float>& p) { v.insert(v.end(), p.data(), p.data() + p.size()); });
    return v;
}

/// A loss that behaves like dice_bce but returns NaN at the k-th call with a gradient.
struct nan_at_step {
    const char* name = "nan_at_step";
    long k = 3;
    std::shared_ptr<long> calls = std::make_shared<long>(0);
    template <class T>
    T operator()(const tensor<T>& x, const tensor<T>& t, tensor<T>* g = nullptr) const {
        const T l = losses::dice_bce{}(x, t, g);
        if (g && ++*calls == k) return std::numeric_limits<T>::quiet_NaN();
        return l;
    }
};

struct fixture {
    data::synthetic_dataset ds{12, {.size = 16, .seed = 5}};
    std::vector<std::size_t> train_idx{0, 1, 2, 3, 4, 5, 6, 7}, val_idx{8, 9, 10, 11};
    data::loader<data::synthetic_dataset> train{ds, {.batch_size = 4, .seed = 9}, train_idx};
    data::loader<data::synthetic_dataset> val{ds, {.batch_size = 4, .shuffle = false}, val_idx};
};

}  // namespace trainer_test
