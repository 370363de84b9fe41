#pragma once
// Helpers for model tests: what a model's parameter visitor reports.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace unetpp::test {

/// Name -> number of scalars, for every trainable parameter of `net`.
std::map<std::string, std::size_t> parameter_sizes(auto& net) {
    std::map<std::string, std::size_t> m;
    net.visit_parameters([&](std::string_view name, auto& v, auto&) { m[std::string(name)] = v.size(); });
    return m;
}

/// Trainable scalars of `net` as its visitor counts them (to compare with parameter_count).
std::size_t counted_parameters(auto& net) {
    std::size_t n = 0;
    net.visit_parameters([&](std::string_view, auto& v, auto&) { n += v.size(); });
    return n;
}

}  // namespace unetpp::test
