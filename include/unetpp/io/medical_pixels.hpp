#pragma once
/// \file Stored medical values -> 8-bit pixels: the VOI window functions of DICOM PS3.3 C.11.2.1.2
/// and the value-range fallback, shared by the DICOM and NIfTI readers (src/medical_*.cpp).
/// Header-only and free of third-party code; see io/medical.hpp for the rules it implements.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io::detail::medical {

enum class voi_function { linear, linear_exact, sigmoid };

/// DICOM's VOI LUT Function name (0028,1056) -> the function; empty means LINEAR. false for a
/// name DICOM does not define.
inline bool parse_voi_function(std::string_view s, voi_function& out) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty() || s == "LINEAR") out = voi_function::linear;
    else if (s == "LINEAR_EXACT") out = voi_function::linear_exact;
    else if (s == "SIGMOID") out = voi_function::sigmoid;
    else return false;
    return true;
}

/// One value -> 0..255. `constant` handles a file whose values are all equal (range fallback with
/// lo == hi): 0 where the value is <= 0, 255 otherwise, so an all-foreground mask stays foreground.
struct intensity_map {
    voi_function fn = voi_function::linear_exact;
    double center = 0.0;
    double width = 1.0;
    bool constant = false;
    bool invert = false;  ///< MONOCHROME1: 0 is white

    [[nodiscard]] std::uint8_t operator()(double v) const noexcept {
        double y = 0.0;  // in [0, 1]
        if (std::isnan(v)) {
            y = 0.0;
        } else if (constant) {
            y = v > 0.0 ? 1.0 : 0.0;
        } else if (fn == voi_function::linear) {
            const double lo = center - 0.5 - (width - 1.0) / 2.0, hi = center - 0.5 + (width - 1.0) / 2.0;
            y = v <= lo ? 0.0 : v > hi ? 1.0 : (v - (center - 0.5)) / (width - 1.0) + 0.5;
        } else if (fn == voi_function::linear_exact) {
            const double lo = center - width / 2.0, hi = center + width / 2.0;
            y = v <= lo ? 0.0 : v > hi ? 1.0 : (v - center) / width + 0.5;
        } else {
            y = 1.0 / (1.0 + std::exp(-4.0 * (v - center) / width));
        }
        double q = std::floor(std::clamp(y, 0.0, 1.0) * 255.0 + 0.5);
        if (invert) q = 255.0 - q;
        return static_cast<std::uint8_t>(q);
    }
};

/// The map for a window (the file's or the caller's). LINEAR needs width >= 1, the others > 0.
inline bool window_map(voi_function fn, double center, double width, bool invert, intensity_map& out) {
    if (!std::isfinite(center) || !std::isfinite(width)) return false;
    if (fn == voi_function::linear ? width < 1.0 : width <= 0.0) return false;
    out = intensity_map{fn, center, width, false, invert};
    return true;
}

/// The map for the value range [lo, hi] of the whole file: lo -> 0, hi -> 255 (linear).
inline intensity_map range_map(double lo, double hi, bool invert) {
    if (!(hi > lo)) return intensity_map{voi_function::linear_exact, lo, 1.0, true, invert};
    return intensity_map{voi_function::linear_exact, lo / 2.0 + hi / 2.0, hi - lo, false, invert};
}

/// Running minimum and maximum of the finite values seen.
struct value_range {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    void add(double v) noexcept {
        if (!std::isfinite(v)) return;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    [[nodiscard]] bool empty() const noexcept { return lo > hi; }
};

}  // namespace unetpp::io::detail::medical
