// The CUDA loss operations' bodies (include/unetpp/backend/cuda/bodies/loss.hpp) run on the host in
// the device's launch order (bodies/emulate_loss.hpp) against the host losses (which run
// backend::cpu's loss kernels): binary cross-entropy, Dice, IoU and Tversky on sigmoids (per batch
// and per image), cross-entropy and softmax Dice (index and one-hot targets, ignore_index, class
// weights, without class 0), the pointwise losses (weighted and balanced BCE, focal, MAE), each without weights, with weights shared by the channels and, for
// the binary losses, with one weight per logit. Random shapes: batch 1 to 4, 1 to 3 channels (2
// to 3 for the softmax losses), odd sizes, some planes larger than a reduction block.
//
// Tolerance: the value and every gradient element within 1e-6 relative (of the value, and of the
// gradient's largest magnitude). Both sides sum in double in different orders (the device per
// thread and by a tree, the CPU in chunks or pixel by pixel), so they differ by rounding only.
// Compiled by g++ in every build; no CUDA needed.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <unetpp/backend/cuda/bodies/emulate_loss.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/tensor/rng.hpp>
#include <unetpp/tensor/tensor.hpp>

using namespace unetpp;
namespace emulate = unetpp::cuda_kernels::emulate;

namespace {

struct sizes {
    int n, c, h, w;
};

/// Shapes: batch 1-4, c in [c_lo, c_hi], odd sizes (a few planes above channel_threads).
std::vector<sizes> shapes(int c_lo, int c_hi, std::uint64_t seed) {
    rng r(seed);
    std::vector<sizes> out;
    for (int i = 0; i < 8; ++i) {
        const int n = 1 + static_cast<int>(r.below(4));
        const int c = c_lo + static_cast<int>(r.below(static_cast<std::uint64_t>(c_hi - c_lo + 1)));
        const int h = 1 + 2 * static_cast<int>(r.below(i < 6 ? 9 : 24));
        const int w = 1 + 2 * static_cast<int>(r.below(i < 6 ? 9 : 24));
        out.push_back({n, c, h, w});
    }
    out.push_back({3, c_hi, 45, 47});  // 2115 pixels per plane: every thread of a block loops
    return out;
}

tensor<float> logits(shape4 s, rng& r) {
    tensor<float> x(s);
    for (auto& v : x) v = static_cast<float>(r.normal() * 3.0);
    return x;
}
tensor<float> binary_target(shape4 s, rng& r, bool soft) {
    tensor<float> t(s);
    for (auto& v : t) v = soft ? static_cast<float>(r.uniform(0, 1)) : static_cast<float>(r.below(2));
    return t;
}
/// Weights in [0, 2) with about a fifth exactly 0.
tensor<float> weights(shape4 s, rng& r) {
    tensor<float> w(s);
    for (auto& v : w) v = r.below(5) == 0 ? 0.0f : static_cast<float>(r.uniform(0, 2));
    return w;
}
/// Class indices 0..c-1, about a tenth ignore_index.
tensor<float> index_target(shape4 s, rng& r, int ignore) {
    tensor<float> t(shape4{s.n, 1, s.h, s.w});
    for (auto& v : t)
        v = r.below(10) == 0 ? static_cast<float>(ignore) : static_cast<float>(r.below(static_cast<std::uint64_t>(s.c)));
    return t;
}
tensor<float> one_hot(shape4 s, rng& r) {
    tensor<float> t(s);
    const std::size_t plane = s.plane();
    for (int n = 0; n < s.n; ++n)
        for (std::size_t p = 0; p < plane; ++p) {
            const int y = static_cast<int>(r.below(static_cast<std::uint64_t>(s.c)));
            for (int k = 0; k < s.c; ++k)
                t[(static_cast<std::size_t>(n) * s.c + k) * plane + p] = k == y ? 1.0f : 0.0f;
        }
    return t;
}

void check_close(double host, double device, const tensor<float>& g_host, const tensor<float>& g_device) {
    CHECK(std::abs(host - device) <= 1e-6 * std::max(std::abs(host), 1e-30));
    REQUIRE(g_host.shape() == g_device.shape());
    double big = 0, worst = 0;
    for (std::size_t i = 0; i < g_host.size(); ++i) {
        big = std::max(big, std::abs(static_cast<double>(g_host[i])));
        worst = std::max(worst, std::abs(static_cast<double>(g_host[i]) - static_cast<double>(g_device[i])));
    }
    CHECK(worst <= 1e-6 * big);
    CHECK(std::all_of(g_device.begin(), g_device.end(), [](float v) { return std::isfinite(v); }));  // all written
}

/// A gradient buffer of NaNs, so that an element the bodies do not write fails the comparison.
tensor<float> unwritten(shape4 s) {
    tensor<float> g(s);
    for (auto& v : g) v = std::nanf("");
    return g;
}

backend::loss_geometry geometry(shape4 s, const tensor<float>* w) {
    return {s.n, s.c, static_cast<std::ptrdiff_t>(s.plane()), w && w->shape() != s};
}

/// Calls f(shape, logits, soft targets, weights) for every shape of shapes(1, 3, shape_seed), with
/// no weights, weights shared by the channels and one weight per logit (null, [n,1,h,w], full).
template <class F>
void for_binary_cases(std::uint64_t seed, std::uint64_t shape_seed, F&& f) {
    rng r(seed);
    for (const sizes z : shapes(1, 3, shape_seed)) {
        const shape4 s{z.n, z.c, z.h, z.w};
        const tensor<float> x = logits(s, r), t = binary_target(s, r, true);
        const tensor<float> shared = weights(shape4{z.n, 1, z.h, z.w}, r), full = weights(s, r);
        for (const tensor<float>* w : {static_cast<const tensor<float>*>(nullptr), &shared, &full}) {
            CAPTURE(s.str());
            CAPTURE(w ? w->shape().str() : std::string("no weights"));
            f(s, x, t, w);
        }
    }
}

}  // namespace

TEST_CASE("binary cross-entropy on logits: device bodies against the host loss") {
    for_binary_cases(1, 11, [](shape4 s, const tensor<float>& x, const tensor<float>& t, const tensor<float>* w) {
        tensor<float> gh, gd = unwritten(s);
        const double vh = w ? losses::bce_with_logits{}(x, t, *w, &gh) : losses::bce_with_logits{}(x, t, &gh);
        const double vd =
            emulate::bce_with_logits_loss(geometry(s, w), x.data(), t.data(), w ? w->data() : nullptr, gd.data());
        check_close(vh, static_cast<float>(vd), gh, gd);
    });
}

TEST_CASE("weighted and balanced BCE, focal loss and MAE: device bodies against the host losses") {
    for_binary_cases(6, 16, [](shape4 s, const tensor<float>& x, const tensor<float>& t, const tensor<float>* w) {
        // balanced_bce's beta, the share of negatives (weighted by w), as the loss computes it on the host
        const backend::loss_geometry g = geometry(s, w);
        double pos = 0, total = 0;
        for (std::size_t i = 0; i < t.size(); ++i) {
            const double wi = backend::loss_math::weight_at(g, w ? w->data() : nullptr, static_cast<std::ptrdiff_t>(i));
            pos += wi * t[i];
            total += wi;
        }
        const auto check = [&](const auto& loss, backend::pointwise_loss_params p) {
            CAPTURE(std::string(loss.name));
            CAPTURE(p.a);
            CAPTURE(p.b);
            tensor<float> gh, gd = unwritten(s);
            const double vh = w ? loss(x, t, *w, &gh) : loss(x, t, &gh);
            const double vd = emulate::pointwise_loss(g, x.data(), t.data(), w ? w->data() : nullptr, gd.data(), p);
            check_close(vh, static_cast<float>(vd), gh, gd);
        };
        using backend::pointwise_kind;
        check(losses::weighted_bce{.pos_weight = 2.5}, {pointwise_kind::weighted_bce, 2.5, 0.0});
        check(losses::balanced_bce{}, {pointwise_kind::balanced_bce, 1.0 - pos / total, 0.0});
        check(losses::focal_loss{}, {pointwise_kind::focal, 0.8, 2.0});
        check(losses::focal_loss{.alpha = -1.0, .gamma = 0.5}, {pointwise_kind::focal, -1.0, 0.5});
        check(losses::mae{}, {pointwise_kind::mae, 0.0, 0.0});
    });
}

TEST_CASE("Dice, IoU and Tversky on sigmoids: device bodies against the host losses") {
    rng r(2);
    for (const sizes z : shapes(1, 3, 12))
        for (const bool per_image : {false, true})
            for (const backend::region_kind kind :
                 {backend::region_kind::dice, backend::region_kind::iou, backend::region_kind::tversky}) {
                const shape4 s{z.n, z.c, z.h, z.w};
                const tensor<float> x = logits(s, r), t = binary_target(s, r, false);
                const tensor<float> shared = weights(shape4{z.n, 1, z.h, z.w}, r), full = weights(s, r);
                const auto red = per_image ? losses::region_reduction::per_image : losses::region_reduction::per_batch;
                const auto host = [&](const tensor<float>* w, tensor<float>* g) -> double {
                    const auto call = [&](const auto& l) { return w ? l(x, t, *w, g) : l(x, t, g); };
                    if (kind == backend::region_kind::dice) return call(losses::dice_loss{.smooth = 1.0, .reduction = red});
                    if (kind == backend::region_kind::iou) return call(losses::iou_loss{.smooth = 0.5, .reduction = red});
                    return call(losses::tversky_loss{.alpha = 0.3, .beta = 0.7, .smooth = 1.0, .reduction = red});
                };
                const backend::region_loss_params params{kind,
                                                         kind == backend::region_kind::iou ? 0.5 : 1.0,
                                                         kind == backend::region_kind::tversky ? 0.3 : 0.0,
                                                         kind == backend::region_kind::tversky ? 0.7 : 0.0, per_image};
                for (const tensor<float>* w : {static_cast<const tensor<float>*>(nullptr), &shared, &full}) {
                    CAPTURE(s.str());
                    CAPTURE(static_cast<int>(kind));
                    CAPTURE(per_image);
                    CAPTURE(w != nullptr);
                    tensor<float> gh, gd = unwritten(s);
                    const double vh = host(w, &gh);
                    const double vd = emulate::region_loss(geometry(s, w), x.data(), t.data(), w ? w->data() : nullptr,
                                                           gd.data(), params);
                    check_close(vh, static_cast<float>(vd), gh, gd);
                }
            }
}

TEST_CASE("cross-entropy over a softmax: device bodies against the host loss") {
    rng r(3);
    for (const sizes z : shapes(2, 3, 13))
        for (const bool indices : {true, false})
            for (const bool class_weighted : {false, true}) {
                const shape4 s{z.n, z.c, z.h, z.w};
                const tensor<float> x = logits(s, r);
                const tensor<float> t = indices ? index_target(s, r, -100) : one_hot(s, r);
                const tensor<float> pw = weights(shape4{z.n, 1, z.h, z.w}, r);
                losses::cross_entropy ce;
                tensor<float> cw;
                if (class_weighted) {
                    cw.resize(shape4{1, 1, 1, z.c});
                    for (int k = 0; k < z.c; ++k) {
                        cw[static_cast<std::size_t>(k)] = static_cast<float>(0.25 + 0.5 * k);
                        ce.class_weights.push_back(static_cast<double>(cw[static_cast<std::size_t>(k)]));
                    }
                }
                const backend::multiclass_loss_params mp{.index_target = indices, .ignore_index = -100};
                for (const tensor<float>* w : {static_cast<const tensor<float>*>(nullptr), &pw}) {
                    CAPTURE(s.str());
                    CAPTURE(indices);
                    CAPTURE(class_weighted);
                    CAPTURE(w != nullptr);
                    tensor<float> gh, gd = unwritten(s);
                    const double vh = w ? ce(x, t, *w, &gh) : ce(x, t, &gh);
                    const double vd =
                        emulate::cross_entropy_loss(geometry(s, nullptr), x.data(), t.data(), w ? w->data() : nullptr,
                                                    class_weighted ? cw.data() : nullptr, gd.data(), mp);
                    check_close(vh, static_cast<float>(vd), gh, gd);
                }
            }
}

TEST_CASE("softmax Dice: device bodies against the host loss") {
    rng r(4);
    for (const sizes z : shapes(2, 3, 14))
        for (const bool indices : {true, false})
            for (const bool per_image : {true, false})
                for (const bool background : {true, false}) {
                    const shape4 s{z.n, z.c, z.h, z.w};
                    const tensor<float> x = logits(s, r);
                    const tensor<float> t = indices ? index_target(s, r, 255) : one_hot(s, r);
                    const tensor<float> pw = weights(shape4{z.n, 1, z.h, z.w}, r);
                    const losses::softmax_dice sd{
                        .include_background = background,
                        .smooth = 1e-5,
                        .ignore_index = 255,
                        .reduction = per_image ? losses::region_reduction::per_image : losses::region_reduction::per_batch};
                    const backend::multiclass_loss_params mp{.index_target = indices,
                                                             .ignore_index = 255,
                                                             .include_background = background,
                                                             .smooth = 1e-5,
                                                             .per_image = per_image};
                    for (const tensor<float>* w : {static_cast<const tensor<float>*>(nullptr), &pw}) {
                        CAPTURE(s.str());
                        CAPTURE(indices);
                        CAPTURE(per_image);
                        CAPTURE(background);
                        CAPTURE(w != nullptr);
                        tensor<float> gh, gd = unwritten(s);
                        const double vh = w ? sd(x, t, *w, &gh) : sd(x, t, &gh);
                        const double vd = emulate::softmax_dice_loss(geometry(s, nullptr), x.data(), t.data(),
                                                                     w ? w->data() : nullptr, gd.data(), mp);
                        check_close(vh, static_cast<float>(vd), gh, gd);
                    }
                }
}

TEST_CASE("the device bodies' value alone (no gradient) is the value with one") {
    rng r(5);
    const shape4 s{2, 3, 9, 11};
    const tensor<float> x = logits(s, r), t = binary_target(s, r, false), ti = index_target(s, r, -100);
    tensor<float> g(s);
    const backend::loss_geometry geo = geometry(s, nullptr);
    CHECK(emulate::bce_with_logits_loss(geo, x.data(), t.data(), nullptr, nullptr) ==
          emulate::bce_with_logits_loss(geo, x.data(), t.data(), nullptr, g.data()));
    CHECK(emulate::region_loss(geo, x.data(), t.data(), nullptr, nullptr, {}) ==
          emulate::region_loss(geo, x.data(), t.data(), nullptr, g.data(), {}));
    CHECK(emulate::cross_entropy_loss(geo, x.data(), ti.data(), nullptr, nullptr, nullptr, {}) ==
          emulate::cross_entropy_loss(geo, x.data(), ti.data(), nullptr, nullptr, g.data(), {}));
    CHECK(emulate::softmax_dice_loss(geo, x.data(), ti.data(), nullptr, nullptr, {}) ==
          emulate::softmax_dice_loss(geo, x.data(), ti.data(), nullptr, g.data(), {}));
}
