#pragma once
// Helpers for model tests: what a model's parameter visitor reports, and batch norms with
// non-trivial statistics.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <unetpp/tensor/rng.hpp>
#include <unetpp/tensor/tensor.hpp>

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

/// Gives every batch norm of `net` (parameters named *.bn*) non-trivial affine parameters and
/// running statistics, so that folding them into the convolutions is really exercised.
template <class Net>
void randomise_norms(Net& net, std::uint64_t seed) {
    rng r(seed);
    net.visit_parameters([&](std::string_view name, tensor<float>& v, tensor<float>&) {
        if (std::string(name).find(".bn") == std::string::npos) return;
        const bool scale = name.ends_with("weight");
        for (auto& e : v) e = static_cast<float>(scale ? r.uniform(0.5, 1.5) : r.uniform(-0.3, 0.3));
    });
    net.visit_buffers([&](std::string_view name, tensor<float>& v) {
        if (name.ends_with("running_mean"))
            for (auto& e : v) e = static_cast<float>(r.uniform(-0.5, 0.5));
        if (name.ends_with("running_var"))
            for (auto& e : v) e = static_cast<float>(r.uniform(0.3, 2.0));
    });
}

}  // namespace unetpp::test
