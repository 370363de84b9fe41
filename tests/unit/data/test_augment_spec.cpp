// Tests for unetpp/data/augment_spec.hpp: the command-line augmentation lists, their normalised
// text, their errors, and that every geometric step moves image, mask and ROI together.

#include <doctest/doctest.h>

#include <unetpp/data/augment_spec.hpp>

#include <string>

#include "../../support/error_of.hpp"

namespace data = unetpp::data;
using unetpp::shape4;
using unetpp::tensor;
using unetpp::test::contains;
using unetpp::test::error_of;

namespace {

// The image equals the mask (a disc and a bar), the ROI is its complement: after any geometric
// step the nearest-neighbour mask must still agree with a thresholded image, and ROI = 1 - mask.
data::sample shapes(int n) {
    data::sample s;
    s.image = tensor<float>(shape4{1, 1, n, n});
    s.mask = tensor<float>(shape4{1, 1, n, n});
    s.roi = tensor<float>(shape4{1, 1, n, n});
    for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
            const double u = (x - 0.4 * n) / (0.22 * n), v = (y - 0.45 * n) / (0.18 * n);
            const bool in = u * u + v * v < 1 || (x > n / 8 && x < n / 3 && y > n * 3 / 4);
            s.mask(0, 0, y, x) = s.image(0, 0, y, x) = in ? 1.0f : 0.0f;
            s.roi(0, 0, y, x) = in ? 0.0f : 1.0f;
        }
    return s;
}

}  // namespace

TEST_CASE("augmentation lists parse into steps with their probabilities and a normalised text") {
    const auto s = data::parse_augment("flip,rot90,rotate=15,scale=0.9:1.1,gamma=0.8:1.25,elastic,noise=0.02@0.1");
    REQUIRE(s.pipeline.steps().size() == 8);
    CHECK(s.pipeline.steps()[0].name == "hflip");
    CHECK(s.pipeline.steps()[1].name == "vflip");
    CHECK(s.pipeline.steps()[2].name == "rot90");
    CHECK(s.pipeline.steps()[2].probability == 0.75);
    CHECK(s.pipeline.steps()[7].probability == 0.1);
    CHECK(s.text == "flip@0.5,rot90@0.75,rotate=15@0.5,scale=0.9:1.1@0.5,gamma=0.8:1.25@0.5,elastic=10@0.3,noise=0.02@0.1");
    // two spellings of one list normalise alike
    CHECK(data::parse_augment("rotate=15.0,scale=0.90:1.10").text == data::parse_augment("rotate=15,scale=0.9:1.1@0.5").text);
    CHECK(data::parse_augment("off").pipeline.empty());
    CHECK(data::parse_augment("").text == "off");
    // "on" is the old preset: hflip, vflip, rotate 15, each with probability 0.5
    const auto on = data::parse_augment("on");
    REQUIRE(on.pipeline.steps().size() == 3);
    CHECK(on.text == "on");
    for (const auto& st : on.pipeline.steps()) CHECK(st.probability == 0.5);
}

TEST_CASE("bad augmentation lists name the step, the value and what is accepted") {
    const auto err = [](const char* t) { return error_of<std::invalid_argument>([&] { (void)data::parse_augment(t); }); };
    CHECK(contains(err("flip,twirl"), "augment step 'twirl' is unknown; use flip, hflip"));
    CHECK(contains(err("rotate=200"), "augment step 'rotate=200': 200 is out of range; use a number > 0 and <= 180"));
    CHECK(contains(err("rotate"), "augment step 'rotate' needs a value"));
    CHECK(contains(err("scale=1.1:0.9"), "write the smaller bound first"));
    CHECK(contains(err("gamma=0.8"), "needs a range A:B"));
    CHECK(contains(err("flip=1"), "takes no value"));
    CHECK(contains(err("flip@2"), "2 is out of range; use a number >= 0 and <= 1"));
    CHECK(contains(err("flip,,rot90"), "has an empty step"));
    CHECK(contains(err("brightness=x"), "'x' is not a number"));
}

TEST_CASE("every geometric step moves image, mask and ROI together; intensity steps leave mask and ROI alone") {
    const char* lists[] = {"hflip@1", "vflip@1", "rot90@1", "rotate=25@1", "scale=0.7:1.3@1", "elastic=4@1",
                           "gamma=0.5:2@1", "brightness=0.3@1", "contrast=0.5@1", "noise=0.1@1"};
    for (const char* l : lists) {
        CAPTURE(l);
        const auto spec = data::parse_augment(l);
        const bool intensity = std::string(l).starts_with("gamma") || std::string(l).starts_with("brightness") ||
                               std::string(l).starts_with("contrast") || std::string(l).starts_with("noise");
        for (std::uint64_t i = 0; i < 4; ++i) {
            data::sample s = shapes(40);
            const data::sample before = s;
            spec.pipeline.apply(s, 11, 0, i);
            REQUIRE(s.mask.shape() == s.image.shape());
            REQUIRE(s.roi.shape() == s.mask.shape());
            int disagree = 0;
            for (std::size_t k = 0; k < s.mask.size(); ++k) {
                CHECK(s.roi[k] == 1.0f - s.mask[k]);  // both nearest, from the same source pixel
                if (!intensity) disagree += (s.image[k] > 0.5f) != (s.mask[k] > 0.5f) ? 1 : 0;
            }
            if (intensity) {
                for (std::size_t k = 0; k < s.mask.size(); ++k) CHECK(s.mask[k] == before.mask[k]);
            } else {
                // bilinear image against nearest mask: they may differ only along edges
                CHECK(disagree <= static_cast<int>(s.mask.size() / 25));
            }
        }
    }
}
