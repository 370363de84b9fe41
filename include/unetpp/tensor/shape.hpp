#pragma once
/// \file Four-dimensional NCHW shape used by every tensor and layer.

#include <cstddef>
#include <sstream>
#include <string>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Shape of a batch of feature maps: N samples, C channels, H rows, W columns.
/// Dense (fully connected) activations use H = W = 1, so every tensor is 4-D.
struct shape4 {
    int n = 1;
    int c = 1;
    int h = 1;
    int w = 1;

    [[nodiscard]] constexpr std::size_t size() const noexcept {
        return static_cast<std::size_t>(n) * static_cast<std::size_t>(c) *
               static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
    }
    /// Elements in one sample (C*H*W).
    [[nodiscard]] constexpr std::size_t sample_size() const noexcept {
        return static_cast<std::size_t>(c) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
    }
    /// Elements in one channel plane (H*W).
    [[nodiscard]] constexpr std::size_t plane() const noexcept {
        return static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
    }
    [[nodiscard]] constexpr bool valid() const noexcept { return n > 0 && c > 0 && h > 0 && w > 0; }
    friend constexpr bool operator==(const shape4&, const shape4&) = default;

    [[nodiscard]] std::string str() const {
        // Appended piece by piece: g++ 12 -O3 reports a false -Wrestrict for "[" + std::string.
        std::string s(1, '[');
        for (const int v : {n, c, h}) (s += std::to_string(v)) += ", ";
        return (s += std::to_string(w)) += ']';
    }
    /// "[n, c, h, w]": where flat index i (NCHW order) lies, for messages.
    [[nodiscard]] std::string position_str(std::size_t i) const {
        const auto W = static_cast<std::size_t>(w), H = static_cast<std::size_t>(h), C = static_cast<std::size_t>(c);
        return shape4{static_cast<int>(i / (C * H * W)), static_cast<int>((i / (H * W)) % C),
                      static_cast<int>((i / W) % H), static_cast<int>(i % W)}
            .str();
    }
};

namespace detail {
/// A value in a message: up to 9 significant digits ("0.1", "1e+30", "nan").
inline std::string message_number(double v) {
    std::ostringstream o;
    o.precision(9);
    o << v;
    return o.str();
}
}  // namespace detail

}  // namespace unetpp
