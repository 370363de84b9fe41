#pragma once
/// \file Train/validation/test splits and k-fold cross-validation: stratified, grouped, seeded.
///
///   auto p = data::split_ratio(ds.size(), {.seed = 1, .labels = data::labels_of(ds),
///                                          .groups = data::groups_of(ds)});   // 80:10:10
///   auto folds = data::kfold(ds.size(), 5, {.seed = 1, .labels = ..., .groups = ...});
///
/// Units: samples sharing a group id form one unit that always lands in a single part (no
/// group in two parts: duplicates cannot leak from train to test). Without group ids every
/// sample is its own unit. A unit's class, for stratification, is the most frequent label of
/// its members (the smallest label on a tie). Without labels every unit has class 0.
///
/// Assignment (deterministic for a seed): the units of each class are shuffled with the seed,
/// then stably ordered by size, largest first. split_ratio gives each unit to the part whose
/// target for that class (ratio x class samples) is furthest from being met; kfold gives it to
/// the fold with the fewest samples of that class (then the fewest samples, then the lowest
/// index). Parts are therefore stratified to within about one unit per class. A part with a
/// positive ratio, or a fold, that ends up empty is an error.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/rng.hpp"

namespace unetpp::inline UNETPP_ABI::data {

struct split_options {
    std::uint64_t seed = 0;
    std::vector<int> labels{};  ///< one per sample for stratification; empty: not stratified
    std::vector<int> groups{};  ///< one per sample; empty: every sample its own group
};

struct split_ratios {
    double train = 0.8, val = 0.1, test = 0.1;
};

struct split_parts {
    std::vector<std::size_t> train, val, test;
};

struct fold {
    std::vector<std::size_t> train, test;
};

namespace detail {

struct split_unit {
    std::vector<std::size_t> members;
    int cls = 0;
};

/// Units grouped by class, each class's units shuffled with `seed` and ordered largest first.
inline std::vector<std::vector<split_unit>> split_units(std::size_t n, const split_options& o, const char* what) {
    if (n == 0) throw std::invalid_argument(std::string(what) + ": the data set is empty");
    if (!o.labels.empty() && o.labels.size() != n)
        throw std::invalid_argument(std::string(what) + ": " + std::to_string(o.labels.size()) + " labels for " +
                                    std::to_string(n) + " samples");
    if (!o.groups.empty() && o.groups.size() != n)
        throw std::invalid_argument(std::string(what) + ": " + std::to_string(o.groups.size()) + " group ids for " +
                                    std::to_string(n) + " samples");
    std::vector<split_unit> units;
    if (o.groups.empty()) {
        units.resize(n);
        for (std::size_t i = 0; i < n; ++i) units[i].members = {i};
    } else {
        std::map<int, std::size_t> where;
        for (std::size_t i = 0; i < n; ++i) {
            auto [it, fresh] = where.emplace(o.groups[i], units.size());
            if (fresh) units.emplace_back();
            units[it->second].members.push_back(i);
        }
    }
    std::map<int, std::vector<split_unit>> by_class;
    for (auto& u : units) {
        if (!o.labels.empty()) {
            std::map<int, int> votes;
            for (std::size_t m : u.members) ++votes[o.labels[m]];
            int best = 0, cls = 0;
            for (auto [label, c] : votes)
                if (c > best) best = c, cls = label;  // map order: smallest label wins a tie
            u.cls = cls;
        }
        by_class[u.cls].push_back(std::move(u));
    }
    rng r(o.seed);
    std::vector<std::vector<split_unit>> out;
    for (auto& [cls, list] : by_class) {
        for (std::size_t i = list.size(); i > 1; --i) std::swap(list[i - 1], list[r.below(i)]);
        std::stable_sort(list.begin(), list.end(),
                         [](const split_unit& a, const split_unit& b) { return a.members.size() > b.members.size(); });
        out.push_back(std::move(list));
    }
    return out;
}

}  // namespace detail

/// Train/validation/test split of samples 0..n-1 by ratio (see the file comment).
[[nodiscard]] inline split_parts split_ratio(std::size_t n, const split_options& o = {}, split_ratios ratios = {}) {
    const double rs[3] = {ratios.train, ratios.val, ratios.test};
    const double total = rs[0] + rs[1] + rs[2];
    for (double r : rs)
        if (!(r >= 0) || !(total > 0))
            throw std::invalid_argument("split_ratio: ratios must be non-negative with a positive sum");
    const auto classes = detail::split_units(n, o, "split_ratio");
    split_parts out;
    std::vector<std::size_t>* parts[3] = {&out.train, &out.val, &out.test};
    for (const auto& units : classes) {
        std::size_t class_n = 0;
        for (const auto& u : units) class_n += u.members.size();
        double got[3] = {0, 0, 0};
        for (const auto& u : units) {
            int best = 0;
            double best_need = -1e300;
            for (int p = 0; p < 3; ++p) {
                if (rs[p] <= 0) continue;
                const double need = rs[p] / total * class_n - got[p];
                if (need > best_need + 1e-9) best_need = need, best = p;
            }
            got[best] += static_cast<double>(u.members.size());
            parts[best]->insert(parts[best]->end(), u.members.begin(), u.members.end());
        }
    }
    const char* names[3] = {"train", "validation", "test"};
    for (int p = 0; p < 3; ++p) {
        if (rs[p] > 0 && parts[p]->empty())
            throw std::runtime_error(std::string("split_ratio: the ") + names[p] + " part is empty (" +
                                     std::to_string(n) + " samples; ratios " + std::to_string(rs[0]) + ":" +
                                     std::to_string(rs[1]) + ":" + std::to_string(rs[2]) +
                                     "); use more data, fewer/smaller groups or other ratios");
        std::sort(parts[p]->begin(), parts[p]->end());
    }
    return out;
}

/// k-fold cross-validation of samples 0..n-1: fold f's test part is its share, its train part
/// the rest; every sample is in exactly one test part (see the file comment).
[[nodiscard]] inline std::vector<fold> kfold(std::size_t n, int k, const split_options& o = {}) {
    if (k < 2) throw std::invalid_argument("kfold: k must be at least 2, got " + std::to_string(k));
    const auto classes = detail::split_units(n, o, "kfold");
    std::vector<std::vector<std::size_t>> tests(k);
    std::vector<std::size_t> total(k, 0);
    for (const auto& units : classes) {
        std::vector<std::size_t> cls(k, 0);
        for (const auto& u : units) {
            int best = 0;
            for (int f = 1; f < k; ++f)
                if (cls[f] < cls[best] || (cls[f] == cls[best] && total[f] < total[best])) best = f;
            cls[best] += u.members.size();
            total[best] += u.members.size();
            tests[best].insert(tests[best].end(), u.members.begin(), u.members.end());
        }
    }
    std::vector<fold> out(k);
    std::vector<int> owner(n, -1);
    for (int f = 0; f < k; ++f) {
        if (tests[f].empty())
            throw std::runtime_error("kfold: fold " + std::to_string(f) + " of " + std::to_string(k) +
                                     " is empty (" + std::to_string(n) +
                                     " samples in fewer groups than folds); use fewer folds");
        std::sort(tests[f].begin(), tests[f].end());
        for (std::size_t i : tests[f]) owner[i] = f;
        out[f].test = tests[f];
    }
    for (int f = 0; f < k; ++f)
        for (std::size_t i = 0; i < n; ++i)
            if (owner[i] != f) out[f].train.push_back(i);
    return out;
}

/// Elements of `v` at positions `idx` (e.g. the labels of a part, to split it again).
template <class T>
[[nodiscard]] std::vector<T> pick(const std::vector<T>& v, const std::vector<std::size_t>& idx) {
    std::vector<T> out;
    if (v.empty()) return out;
    out.reserve(idx.size());
    for (std::size_t i : idx) out.push_back(v.at(i));
    return out;
}

}  // namespace unetpp::data
