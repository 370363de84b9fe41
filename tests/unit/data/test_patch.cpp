// Tests for unetpp/data/patch.hpp and the loader's patch option: the draw depends on (seed,
// epoch, index) only, the foreground share is what was asked for, image, mask and ROI are cut
// together, and an image smaller than the patch is refused with its size.

#include <doctest/doctest.h>

#include <unetpp/data/loader.hpp>
#include <unetpp/data/patch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "../../support/error_of.hpp"

namespace data = unetpp::data;
using unetpp::shape4;
using unetpp::tensor;

namespace {

// h x w image whose values code their position; one small foreground square at (40..43, 50..53).
data::sample big(int h = 64, int w = 80) {
    data::sample s;
    s.image = tensor<float>(shape4{1, 1, h, w});
    s.mask = tensor<float>(shape4{1, 1, h, w});
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            s.image(0, 0, y, x) = static_cast<float>(y * w + x);
            s.mask(0, 0, y, x) = (y >= 40 && y < 44 && x >= 50 && x < 54) ? 1.0f : 0.0f;
        }
    return s;
}

bool has_foreground(const data::sample& s) {
    for (float v : s.mask)
        if (v > 0.5f) return true;
    return false;
}

struct fixed_set {
    std::vector<data::sample> s;
    std::size_t size() const { return s.size(); }
    data::sample get(std::size_t i) const { return s[i]; }
};

}  // namespace

TEST_CASE("a patch is a function of (seed, epoch, index) and cuts image and mask together") {
    const data::patch_options po{.size = 16, .foreground_share = 0.5};
    for (std::uint64_t e = 0; e < 5; ++e)
        for (std::uint64_t i = 0; i < 5; ++i) {
            data::sample a = big(), b = big();
            const auto pa = data::random_patch(a, po, 7, e, i);
            const auto pb = data::random_patch(b, po, 7, e, i);
            CHECK(pa.top == pb.top);
            CHECK(pa.left == pb.left);
            REQUIRE(a.image.shape() == shape4{1, 1, 16, 16});
            // the image values say where each pixel came from; the mask must come from the same place
            const data::sample whole = big();
            for (int y = 0; y < 16; ++y)
                for (int x = 0; x < 16; ++x) {
                    const int code = static_cast<int>(a.image(0, 0, y, x));
                    CHECK(code == (pa.top + y) * 80 + pa.left + x);
                    CHECK(a.mask(0, 0, y, x) == whole.mask(0, 0, code / 80, code % 80));
                }
        }
    // another seed or epoch moves the patches
    int moved = 0;
    for (std::uint64_t i = 0; i < 20; ++i) {
        data::sample a = big(), b = big();
        const auto pa = data::random_patch(a, {.size = 16}, 7, 0, i);
        const auto pb = data::random_patch(b, {.size = 16}, 7, 1, i);
        moved += (pa.top != pb.top || pa.left != pb.left) ? 1 : 0;
    }
    CHECK(moved >= 15);
}

TEST_CASE("the foreground share is the share of patches centred on foreground") {
    // foreground covers 16 of 5120 pixels: a uniform 16 x 16 patch rarely holds it
    for (double share : {0.0, 0.33, 1.0}) {
        int on = 0, with_fg = 0;
        const int n = 3000;
        for (int i = 0; i < n; ++i) {
            data::sample s = big();
            const auto p = data::random_patch(s, {.size = 16, .foreground_share = share}, 3, 0, static_cast<std::uint64_t>(i));
            on += p.on_foreground ? 1 : 0;
            if (p.on_foreground) CHECK(has_foreground(s));
            with_fg += has_foreground(s) ? 1 : 0;
        }
        const double got = static_cast<double>(on) / n;
        CAPTURE(share);
        CHECK(std::abs(got - share) < 0.03);  // binomial sd at most 0.009
        // uniform patches hold the square with probability about 19 * 19 / (49 * 65) = 0.11
        CHECK(static_cast<double>(with_fg) / n >= share * 0.97);
    }
    // no foreground: every patch is uniform, and none claims foreground
    data::sample s = big();
    for (float& v : s.mask) v = 0.0f;
    CHECK_FALSE(data::random_patch(s, {.size = 16, .foreground_share = 1.0}, 3, 0, 0).on_foreground);
}

TEST_CASE("foreground outside the region of interest is not chosen, and the ROI is cut with the patch") {
    data::sample s = big();
    s.roi = tensor<float>(s.mask.shape(), 1.0f);
    for (int y = 40; y < 44; ++y)
        for (int x = 50; x < 54; ++x) s.roi(0, 0, y, x) = 0.0f;  // the only foreground is outside the ROI
    for (std::uint64_t i = 0; i < 50; ++i) {
        data::sample t = s;
        CHECK_FALSE(data::random_patch(t, {.size = 16, .foreground_share = 1.0}, 1, 0, i).on_foreground);
        CHECK(t.roi.shape() == shape4{1, 1, 16, 16});
    }
}

TEST_CASE("an image smaller than the patch is refused with both sizes") {
    data::sample s = big(20, 30);
    const std::string m = unetpp::test::error_of<std::invalid_argument>([&] { data::random_patch(s, {.size = 24}, 1, 0, 0); });
    CHECK(unetpp::test::contains(m, "30 x 20 pixels, smaller than the 24 x 24 patch"));
}

TEST_CASE("the loader cuts patches before augmenting and stacks the regions of interest") {
    fixed_set ds;
    for (int i = 0; i < 6; ++i) ds.s.push_back(big());
    ds.s[2].roi = tensor<float>(ds.s[2].mask.shape(), 0.0f);  // one sample with an all-outside ROI
    data::loader<fixed_set> a(ds, {.batch_size = 3, .seed = 5, .patch = {.size = 16, .foreground_share = 0.5}});
    data::loader<fixed_set> b(ds, {.batch_size = 3, .seed = 5, .patch = {.size = 16, .foreground_share = 0.5}});
    for (std::uint64_t e = 0; e < 2; ++e) {
        a.start_epoch(e);
        b.start_epoch(e);
        while (auto x = a.next()) {
            auto y = b.next();
            REQUIRE(y);
            CHECK(x->images.shape() == shape4{3, 1, 16, 16});
            for (std::size_t k = 0; k < x->images.size(); ++k) CHECK(x->images[k] == y->images[k]);
            const auto& idx = x->indices;
            const bool holds_2 = std::find(idx.begin(), idx.end(), std::size_t{2}) != idx.end();
            CHECK(x->roi.empty() == !holds_2);
            if (holds_2) {
                const std::size_t k = static_cast<std::size_t>(std::find(idx.begin(), idx.end(), std::size_t{2}) - idx.begin());
                for (std::size_t j = 0; j < 3; ++j)
                    for (std::size_t p = 0; p < 256; ++p) CHECK(x->roi[j * 256 + p] == (j == k ? 0.0f : 1.0f));
            }
        }
    }
}

TEST_CASE("label masks: any class but background is foreground, and the loader batches class indices unchanged") {
    // The only foreground is class 3 (no pixel holds 1): foreground patches are centred on it.
    data::sample s = big();
    for (float& v : s.mask) v *= 3.0f;
    for (std::uint64_t i = 0; i < 40; ++i) {
        data::sample t = s;
        const auto p = data::random_patch(t, {.size = 16, .foreground_share = 1.0}, 9, 0, i);
        CHECK(p.on_foreground);
        int threes = 0, others = 0;
        for (float v : t.mask) {
            threes += v == 3.0f;
            others += v != 0.0f && v != 3.0f;
        }
        CHECK(threes > 0);
        CHECK(others == 0);
    }
    // Classes 0..2 in bands; the batch holds them as they were, sample by sample.
    fixed_set ds;
    for (int i = 0; i < 4; ++i) {
        data::sample b = big(16, 16);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x) b.mask(0, 0, y, x) = static_cast<float>((x / 6 + i) % 3);
        ds.s.push_back(b);
    }
    data::loader<fixed_set> load(ds, {.batch_size = 4, .shuffle = false});
    load.start_epoch(0);
    const auto batch = load.next();
    REQUIRE(batch);
    REQUIRE(batch->masks.shape() == shape4{4, 1, 16, 16});
    for (std::size_t k = 0; k < 4; ++k) {
        const auto& m = ds.s[batch->indices[k]].mask;
        for (std::size_t p = 0; p < 256; ++p) CHECK(batch->masks[k * 256 + p] == m[p]);
    }
}
