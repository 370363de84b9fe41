// Tests for unetpp/data/split.hpp: ratios, stratification, groups never straddling parts,
// k-fold coverage, determinism and empty-part errors.

#include <doctest/doctest.h>

#include <unetpp/data/split.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace data = unetpp::data;

namespace {
std::map<int, int> count_labels(const std::vector<std::size_t>& idx, const std::vector<int>& labels) {
    std::map<int, int> c;
    for (std::size_t i : idx) ++c[labels[i]];
    return c;
}
std::vector<int> busi_like_labels() {  // 437 benign, 210 malignant, 133 normal
    std::vector<int> l;
    l.insert(l.end(), 437, 0);
    l.insert(l.end(), 210, 1);
    l.insert(l.end(), 133, 2);
    return l;
}
}  // namespace

TEST_CASE("80:10:10 split: sizes, disjoint, complete, deterministic") {
    const auto p = data::split_ratio(780, {.seed = 3});
    CHECK(p.train.size() == 624);
    CHECK(p.val.size() == 78);
    CHECK(p.test.size() == 78);
    std::set<std::size_t> all(p.train.begin(), p.train.end());
    all.insert(p.val.begin(), p.val.end());
    all.insert(p.test.begin(), p.test.end());
    CHECK(all.size() == 780);
    const auto q = data::split_ratio(780, {.seed = 3});
    CHECK(q.test == p.test);
    const auto r = data::split_ratio(780, {.seed = 4});
    CHECK(r.test != p.test);
    const auto odd = data::split_ratio(10, {.seed = 1}, {.train = 0.7, .val = 0.0, .test = 0.3});
    CHECK(odd.train.size() == 7);
    CHECK(odd.val.empty());
    CHECK(odd.test.size() == 3);
}

TEST_CASE("stratified split keeps class proportions in every part") {
    const auto labels = busi_like_labels();
    const auto p = data::split_ratio(labels.size(), {.seed = 9, .labels = labels});
    const auto tr = count_labels(p.train, labels), va = count_labels(p.val, labels), te = count_labels(p.test, labels);
    // targets: benign 349.6 / 43.7 / 43.7, malignant 168 / 21 / 21, normal 106.4 / 13.3 / 13.3
    CHECK(std::abs(tr.at(0) - 349.6) <= 1);
    CHECK(std::abs(va.at(0) - 43.7) <= 1);
    CHECK(std::abs(te.at(1) - 21) <= 1);
    CHECK(std::abs(te.at(2) - 13.3) <= 1);
    CHECK(std::abs(va.at(2) - 13.3) <= 1);
}

TEST_CASE("grouped split: no group in two parts, still close to the ratios") {
    const auto labels = busi_like_labels();
    std::vector<int> groups(labels.size());
    for (std::size_t i = 0; i < groups.size(); ++i) groups[i] = static_cast<int>(i % 300);  // groups of 2 or 3, mixed classes
    const auto p = data::split_ratio(labels.size(), {.seed = 5, .labels = labels, .groups = groups});
    std::map<int, int> part_of;
    const std::vector<std::size_t>* parts[3] = {&p.train, &p.val, &p.test};
    int straddle = 0;
    for (int k = 0; k < 3; ++k)
        for (std::size_t i : *parts[k]) {
            auto [it, fresh] = part_of.emplace(groups[i], k);
            straddle += !fresh && it->second != k;
        }
    CHECK(straddle == 0);
    CHECK(std::abs(static_cast<double>(p.test.size()) - 78) <= 6);
    CHECK(p.train.size() + p.val.size() + p.test.size() == 780);
}

TEST_CASE("k-fold: every sample in exactly one test fold, stratified, grouped") {
    const auto labels = busi_like_labels();
    std::vector<int> groups(labels.size());
    for (std::size_t i = 0; i < groups.size(); ++i) groups[i] = static_cast<int>(i / 2);
    for (const bool grouped : {false, true}) {
        data::split_options o{.seed = 2, .labels = labels};
        if (grouped) o.groups = groups;
        const auto folds = data::kfold(labels.size(), 5, o);
        REQUIRE(folds.size() == 5);
        std::vector<int> seen(labels.size(), 0);
        for (const auto& f : folds) {
            CHECK(f.train.size() + f.test.size() == labels.size());
            for (std::size_t i : f.test) ++seen[i];
            const auto c = count_labels(f.test, labels);
            CHECK(std::abs(c.at(0) - 87.4) <= 2);
            CHECK(std::abs(c.at(2) - 26.6) <= 2);
            if (grouped) {
                std::set<int> tg;
                for (std::size_t i : f.test) tg.insert(groups[i]);
                for (std::size_t i : f.train) CHECK(tg.count(groups[i]) == 0);
            }
        }
        CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<long>(labels.size()));
    }
    CHECK(data::kfold(780, 10, {.seed = 1})[3].test == data::kfold(780, 10, {.seed = 1})[3].test);
}

TEST_CASE("splits that leave a part or fold empty are errors") {
    std::string msg;
    try {
        (void)data::split_ratio(2, {.seed = 1});
    } catch (const std::runtime_error& e) {
        msg = e.what();
    }
    CHECK(msg.find("part is empty") != std::string::npos);
    try {
        (void)data::kfold(10, 5, {.groups = std::vector<int>(10, 0)});
        msg.clear();
    } catch (const std::runtime_error& e) {
        msg = e.what();
    }
    CHECK(msg.find("fold 1 of 5 is empty") != std::string::npos);
    CHECK_THROWS_AS((void)data::kfold(10, 1), std::invalid_argument);
    CHECK_THROWS_AS((void)data::split_ratio(10, {.labels = {1, 2}}), std::invalid_argument);
    CHECK_THROWS_AS((void)data::split_ratio(0), std::invalid_argument);
}
