#pragma once
/// \file Mean and sample standard deviation over folds (k-fold cross-validation, seeds 002 and
/// 003 report "mean +- std"), and the "0.812 ± 0.034" formatter.
///   mean = sum x_i / n,   std = sqrt(sum (x_i - mean)^2 / (n - 1))   (sample, Bessel-corrected)
/// With one value the sample std is undefined: std is NaN and str() prints "0.812 ± n/a".

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

struct mean_std {
    double mean = 0;
    double std = 0;
    std::size_t n = 0;

    /// "0.812 ± 0.034" with `digits` decimals (UTF-8 plus-minus sign).
    [[nodiscard]] std::string str(int digits = 3) const {
        if (digits < 0 || digits > 17) throw std::invalid_argument("mean_std::str: digits must be 0..17");
        char a[64], b[64];
        std::snprintf(a, sizeof a, "%.*f", digits, mean);
        if (std::isnan(std) && n < 2) return std::string(a) + " \u00b1 n/a";
        std::snprintf(b, sizeof b, "%.*f", digits, std);
        return std::string(a) + " \u00b1 " + b;
    }
};

/// Mean and sample std of `values` (any container of numbers); throws on an empty one.
template <class C>
[[nodiscard]] mean_std summarize(const C& values) {
    const std::size_t n = std::size(values);
    if (n == 0) throw std::invalid_argument("summarize: no values");
    double s = 0;
    for (const auto& v : values) s += static_cast<double>(v);
    const double mean = s / static_cast<double>(n);
    if (n < 2) return {mean, std::numeric_limits<double>::quiet_NaN(), n};
    double ss = 0;
    for (const auto& v : values) ss += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
    return {mean, std::sqrt(ss / static_cast<double>(n - 1)), n};
}

[[nodiscard]] inline mean_std summarize(std::initializer_list<double> values) {
    return summarize(std::vector<double>(values));
}

/// summarize(values).str(digits).
template <class C>
[[nodiscard]] std::string format_mean_std(const C& values, int digits = 3) {
    return summarize(values).str(digits);
}

}  // namespace unetpp::metrics
