#pragma once
/// \file Seeded, platform-independent random numbers (xoshiro256** seeded by splitmix64).
///
/// std::normal_distribution differs between standard libraries, so unetpp draws its own
/// uniform and normal numbers: the same seed gives the same weights, dropout masks and
/// augmentations with g++, clang and MSVC.

#include <cmath>
#include <cstdint>
#include <numbers>

#include "../config/abi.hpp"
#include "numeric.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Seeded random number generator (xoshiro256**, Blackman & Vigna 2018).
class rng {
public:
    explicit rng(std::uint64_t seed = 0x5eedULL) noexcept { reseed(seed); }

    void reseed(std::uint64_t seed) noexcept {
        std::uint64_t z = seed;
        for (auto& s : s_) s = splitmix64(z);
        has_spare_ = false;
    }

    /// Next raw 64-bit value.
    std::uint64_t next_u64() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Uniform double in [0, 1) with 53 random bits.
    double uniform() noexcept { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    /// Uniform double in [lo, hi).
    double uniform(double lo, double hi) noexcept { return lo + (hi - lo) * uniform(); }
    /// Uniform integer in [0, n) for n > 0 (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
    std::uint64_t below(std::uint64_t n) noexcept {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
    }
    /// Standard normal via the Box-Muller transform (the spare value is kept).
    double normal() noexcept {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
        has_spare_ = true;
        return r * std::cos(2.0 * std::numbers::pi * u2);
    }
    double normal(double mean, double stddev) noexcept { return mean + stddev * normal(); }
    bool bernoulli(double p) noexcept { return uniform() < p; }

    /// A generator derived from this one for an independent stream (e.g. per layer).
    rng split() noexcept { return rng(next_u64()); }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& x) noexcept {
        return numeric::mix64(x += 0x9e3779b97f4a7c15ULL);
    }

    std::uint64_t s_[4]{};
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace unetpp
