#pragma once
// Buffers for the kernel tests: a 64-byte aligned workspace (the fast kernels require it) and
// uniform random floats in [-1, 1). Test support only; not installed.

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <random>
#include <vector>

namespace unetpp::test {

/// 64-byte aligned scratch memory of at least `floats` floats (64 bytes at the least).
struct workspace {
    float* p = nullptr;
    explicit workspace(std::size_t floats) {
        const std::size_t bytes = std::max<std::size_t>(64, (floats * sizeof(float) + 63) / 64 * 64);
        p = static_cast<float*>(std::aligned_alloc(64, bytes));
    }
    workspace(const workspace&) = delete;
    workspace& operator=(const workspace&) = delete;
    ~workspace() { std::free(p); }
};

/// n floats drawn uniformly from [-1, 1) with a float distribution.
inline std::vector<float> random_floats(std::size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& e : v) e = u(rng);
    return v;
}

}  // namespace unetpp::test
