// Tests on the real data sets in ../shared/data (label `data`): BUSI counts per class, masks,
// near-duplicate groups and a grouped split; ISBI 2012 pairs and label polarity. A test whose
// data are absent skips (exit 77, tests/support/skip.hpp) naming the folder it looked in; the
// install script cannot provide the data, so this stays a skip under CI=true. UNETPP_DATA_DIR
// points elsewhere.

#include <doctest/doctest.h>

#include <unetpp/data.hpp>

#include "../../support/skip.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace fs = std::filesystem;
namespace data = unetpp::data;

namespace {
fs::path data_dir() {
    if (const char* e = std::getenv("UNETPP_DATA_DIR"); e && *e) return e;
    return fs::path(UNETPP_SOURCE_DIR) / ".." / "shared" / "data";
}
}  // namespace

TEST_CASE("BUSI: 437 benign, 210 malignant, 133 normal; 798 masks; normal masks empty; near-duplicate groups") {
    const fs::path root = data_dir() / "busi";
    if (!fs::is_directory(root / "Dataset_BUSI_with_GT")) {
        unetpp::test::skip_not_available("BUSI not found: no folder " + (root / "Dataset_BUSI_with_GT").string() +
                                         " (set UNETPP_DATA_DIR to the folder holding busi/)");
        return;
    }
    const auto ds = data::busi(root);
    REQUIRE(ds.size() == 780);
    std::map<int, int> per_class;
    std::size_t masks = 0, multi = 0;
    for (const auto& e : ds.entries()) {
        ++per_class[e.label];
        masks += e.masks.size();
        multi += e.masks.size() > 1;
    }
    CHECK(per_class[0] == 437);
    CHECK(per_class[1] == 210);
    CHECK(per_class[2] == 133);
    CHECK(masks == 798);
    CHECK(multi == 17);

    // Decode everything: sizes match, normal masks are empty, the others are not.
    int empty_lesion = 0, nonempty_normal = 0;
    for (std::size_t i = 0; i < ds.size(); ++i) {
        const data::sample s = ds.get(i);
        REQUIRE(s.image.shape().c == 1);
        double sum = 0;
        for (float v : s.mask) sum += v;
        if (s.label == 2) nonempty_normal += sum > 0;
        else empty_lesion += sum == 0;
    }
    CHECK(nonempty_normal == 0);
    CHECK(empty_lesion == 0);

    const auto groups = data::near_duplicate_groups(data::phashes(ds), 8);
    const auto st = data::near_duplicate_stats(groups);
    MESSAGE("BUSI near-duplicate groups at distance <= 8: " << st.duplicate_groups << " groups holding "
            << st.in_duplicates << " images (largest " << st.largest << "); " << st.groups << " groups in all");
    CHECK(st.duplicate_groups > 0);
    const auto p = data::split_ratio(ds.size(), {.seed = 1, .labels = data::labels_of(ds), .groups = groups});
    std::set<int> train_groups;
    for (std::size_t i : p.train) train_groups.insert(groups[i]);
    int leaked = 0;
    for (std::size_t i : p.test) leaked += train_groups.count(groups[i]) != 0;
    for (std::size_t i : p.val) leaked += train_groups.count(groups[i]) != 0;
    CHECK(leaked == 0);
}

TEST_CASE("ISBI 2012: 30 image/label pairs of 512 x 512; membranes are the minority class") {
    const fs::path root = data_dir() / "isbi2012";
    if (!fs::is_directory(root / "images")) {
        unetpp::test::skip_not_available("ISBI 2012 not found: no folder " + (root / "images").string() +
                                         " (set UNETPP_DATA_DIR to the folder holding isbi2012/)");
        return;
    }
    const auto ds = data::isbi2012(root);
    REQUIRE(ds.size() == 30);
    CHECK(ds.image_path(29).filename() == "29.png");
    double membrane = 0;
    for (std::size_t i = 0; i < ds.size(); ++i) {
        const auto s = ds.get(i);
        REQUIRE(s.image.shape() == unetpp::shape4{1, 1, 512, 512});
        for (float v : s.mask) membrane += v;
    }
    membrane /= 30.0 * 512 * 512;
    MESSAGE("ISBI 2012 membrane fraction: " << membrane);
    CHECK(membrane > 0.05);
    CHECK(membrane < 0.5);
}
