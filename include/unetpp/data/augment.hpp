#pragma once
/// \file Seeded augmentation applied identically to image and mask.
///
///   data::augment_pipeline aug;
///   aug.add(data::aug::hflip(), 0.5)
///      .add(data::aug::rotate(15.0), 0.5)
///      .add(data::aug::elastic(), 0.3)
///      .add(data::aug::gaussian_noise(0.02), 0.2);
///   aug.apply(sample, seed, epoch, index);   // same (seed, epoch, index) -> same result
///
/// Reproducibility: apply(s, seed, epoch, index) draws everything from an rng seeded with
/// derive_seed(seed, epoch, index), so a sample's augmentation does not depend on which thread
/// or in which order it is processed. Each step takes its own generator split from that one
/// (one draw per step, whether the step runs or not), so changing one step's probability does
/// not change the random numbers of the others.
///
/// Geometry: every geometric step moves image and mask by the same mapping. Flips and 90-degree
/// rotations permute pixels exactly. Rotation, affine and elastic steps compute, for every output
/// pixel, a source position; the image is sampled there bilinearly and the mask by nearest
/// neighbour, so the mask keeps only values it had (0/1, or the class indices of a label mask;
/// nothing is thresholded). Outside the source the border rule applies: `reflect` mirrors the
/// image without repeating the edge pixel (like numpy's 'reflect'), `zero` gives 0 in image and
/// mask (background). Pixel centres are at integer coordinates; rotation and scale are about the centre
/// ((W - 1) / 2, (H - 1) / 2).
///
/// Elastic deformation (U-Net paper, Ronneberger et al. 2015): a coarse grid x grid lattice of
/// control points (default 3 x 3) spread evenly from corner to corner gets random displacement
/// vectors, each component drawn from N(0, sigma^2) with sigma = 10 pixels; the per-pixel
/// displacement is interpolated from the lattice bicubically (Catmull-Rom cubic convolution,
/// a = -0.5, lattice indices clamped at its edges); then output(x, y) = input((x, y) + d(x, y)).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/numeric.hpp"
#include "../tensor/rng.hpp"
#include "../tensor/tensor.hpp"
#include "dataset.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// What geometric steps read outside the image.
enum class border {
    reflect,  ///< mirror without repeating the edge pixel
    zero,     ///< 0 in image and mask
};

/// Seed of sample `index`'s augmentation in `epoch` (splitmix64 mixing of the three).
[[nodiscard]] inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) noexcept {
    auto mix = [](std::uint64_t z) { return numeric::mix64(z + 0x9e3779b97f4a7c15ULL); };
    return mix(mix(mix(seed) ^ epoch) ^ index);
}

namespace detail {

using numeric::reflect_index;

inline void check_sample(const sample& s, const char* what) {
    const shape4 is = s.image.shape(), ms = s.mask.shape();
    if (is.n != 1 || ms.n != 1 || ms.c != 1 || is.h != ms.h || is.w != ms.w || is.h < 1 || is.w < 1)
        throw std::invalid_argument(std::string(what) + ": image " + is.str() + " and mask " + ms.str() +
                                    " are not one sample of equal size");
    if (!s.roi.empty() && s.roi.shape() != ms)
        throw std::invalid_argument(std::string(what) + ": region-of-interest mask " + s.roi.shape().str() +
                                    " and mask " + ms.str() + " differ in size");
}

/// The tensors a geometric step moves: image, mask and (when present) the ROI.
inline std::vector<tensor<float>*> planes_of(sample& s) {
    std::vector<tensor<float>*> t{&s.image, &s.mask};
    if (!s.roi.empty()) t.push_back(&s.roi);
    return t;
}

/// Resamples image (bilinear) and mask (nearest) at source positions (sx, sy), one per output
/// pixel of an out_h x out_w result.
inline void warp(sample& s, const std::vector<float>& sx, const std::vector<float>& sy, int out_h, int out_w, border b) {
    const shape4 is = s.image.shape();
    const int H = is.h, W = is.w, C = is.c;
    tensor<float> img(shape4{1, C, out_h, out_w}), msk(shape4{1, 1, out_h, out_w});
    const bool has_roi = !s.roi.empty();
    tensor<float> roi;
    if (has_roi) roi = tensor<float>(shape4{1, 1, out_h, out_w});
    const bool zero = b == border::zero;
    auto fetch = [&](const tensor<float>& t, int c, int y, int x) -> float {
        if (zero) {
            if (x < 0 || y < 0 || x >= W || y >= H) return 0.0f;
        } else {
            x = reflect_index(x, W);
            y = reflect_index(y, H);
        }
        return t(0, c, y, x);
    };
    for (int y = 0; y < out_h; ++y)
        for (int x = 0; x < out_w; ++x) {
            const std::size_t k = static_cast<std::size_t>(y) * out_w + x;
            const float u = sx[k], v = sy[k];
            const float fu = std::floor(u), fv = std::floor(v);
            const int x0 = static_cast<int>(fu), y0 = static_cast<int>(fv);
            const float ax = u - fu, ay = v - fv;
            for (int c = 0; c < C; ++c) {
                const float p00 = fetch(s.image, c, y0, x0), p01 = fetch(s.image, c, y0, x0 + 1);
                const float p10 = fetch(s.image, c, y0 + 1, x0), p11 = fetch(s.image, c, y0 + 1, x0 + 1);
                const float top = p00 + ax * (p01 - p00), bot = p10 + ax * (p11 - p10);
                img(0, c, y, x) = top + ay * (bot - top);
            }
            const int ny = static_cast<int>(std::floor(v + 0.5f)), nx = static_cast<int>(std::floor(u + 0.5f));
            msk(0, 0, y, x) = fetch(s.mask, 0, ny, nx);
            if (has_roi) roi(0, 0, y, x) = fetch(s.roi, 0, ny, nx);
        }
    s.image = std::move(img);
    s.mask = std::move(msk);
    if (has_roi) s.roi = std::move(roi);
}

/// Inverse affine warp: output p -> source c + A^-1 (p - c - t), with A = scale * R(angle).
inline void affine_warp(sample& s, double angle_rad, double scale, double tx, double ty, border b) {
    const int H = s.image.shape().h, W = s.image.shape().w;
    const double cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
    const double ca = std::cos(angle_rad) / scale, sa = std::sin(angle_rad) / scale;
    std::vector<float> sx(static_cast<std::size_t>(H) * W), sy(sx.size());
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            const double dx = x - cx - tx, dy = y - cy - ty;
            const std::size_t k = static_cast<std::size_t>(y) * W + x;
            sx[k] = static_cast<float>(cx + ca * dx + sa * dy);   // R(-angle) / scale
            sy[k] = static_cast<float>(cy - sa * dx + ca * dy);
        }
    warp(s, sx, sy, H, W, b);
}

/// Catmull-Rom cubic-convolution weights for fractional offset t in [0, 1).
inline void cubic_weights(double t, double w[4]) noexcept {
    const double a = -0.5;
    auto k = [a](double d) {
        d = std::abs(d);
        if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
        if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
        return 0.0;
    };
    w[0] = k(1 + t), w[1] = k(t), w[2] = k(1 - t), w[3] = k(2 - t);
}

}  // namespace detail

/// Exact horizontal flip (mirror left-right) of image and mask.
inline void hflip(sample& s) {
    for (tensor<float>* t : detail::planes_of(s)) {
        const shape4 sh = t->shape();
        for (int n = 0; n < sh.n; ++n)
            for (int c = 0; c < sh.c; ++c)
                for (int y = 0; y < sh.h; ++y)
                    for (int x = 0; x < sh.w / 2; ++x) std::swap((*t)(n, c, y, x), (*t)(n, c, y, sh.w - 1 - x));
    }
}

/// Exact vertical flip (mirror top-bottom) of image and mask.
inline void vflip(sample& s) {
    for (tensor<float>* t : detail::planes_of(s)) {
        const shape4 sh = t->shape();
        for (int n = 0; n < sh.n; ++n)
            for (int c = 0; c < sh.c; ++c)
                for (int y = 0; y < sh.h / 2; ++y)
                    for (int x = 0; x < sh.w; ++x) std::swap((*t)(n, c, y, x), (*t)(n, c, sh.h - 1 - y, x));
    }
}

/// Exact rotation by k x 90 degrees counter-clockwise (k taken mod 4). k = 1, 3 swap H and W.
inline void rot90(sample& s, int k) {
    k = ((k % 4) + 4) % 4;
    if (k == 0) return;
    for (tensor<float>* t : detail::planes_of(s)) {
        const shape4 sh = t->shape();
        const int oh = (k == 2) ? sh.h : sh.w, ow = (k == 2) ? sh.w : sh.h;
        tensor<float> out(shape4{sh.n, sh.c, oh, ow});
        for (int n = 0; n < sh.n; ++n)
            for (int c = 0; c < sh.c; ++c)
                for (int y = 0; y < oh; ++y)
                    for (int x = 0; x < ow; ++x) {
                        int sy = 0, sx = 0;  // counter-clockwise as displayed (y down)
                        if (k == 1) sy = x, sx = sh.w - 1 - y;
                        else if (k == 2) sy = sh.h - 1 - y, sx = sh.w - 1 - x;
                        else sy = sh.h - 1 - x, sx = y;
                        out(n, c, y, x) = (*t)(n, c, sy, sx);
                    }
        *t = std::move(out);
    }
}

/// Crop of h x w pixels at (top, left) from image and mask.
inline void crop(sample& s, int top, int left, int h, int w) {
    const shape4 sh = s.image.shape();
    if (top < 0 || left < 0 || h < 1 || w < 1 || top + h > sh.h || left + w > sh.w)
        throw std::invalid_argument("crop: " + std::to_string(h) + " x " + std::to_string(w) + " at (" +
                                    std::to_string(top) + ", " + std::to_string(left) + ") does not fit a " +
                                    std::to_string(sh.h) + " x " + std::to_string(sh.w) + " image");
    for (tensor<float>* t : detail::planes_of(s)) {
        const shape4 ts = t->shape();
        tensor<float> out(shape4{ts.n, ts.c, h, w});
        for (int n = 0; n < ts.n; ++n)
            for (int c = 0; c < ts.c; ++c)
                for (int y = 0; y < h; ++y)
                    for (int x = 0; x < w; ++x) out(n, c, y, x) = (*t)(n, c, top + y, left + x);
        *t = std::move(out);
    }
}

/// Rotation by `degrees` counter-clockwise about the centre (bilinear image, nearest mask).
inline void rotate(sample& s, double degrees, border b = border::reflect) {
    detail::check_sample(s, "rotate");
    detail::affine_warp(s, -degrees * std::numbers::pi / 180.0, 1.0, 0.0, 0.0, b);
}

/// Affine warp: rotation (degrees, counter-clockwise), isotropic scale, translation (pixels).
inline void affine(sample& s, double degrees, double scale, double tx, double ty, border b = border::reflect) {
    detail::check_sample(s, "affine");
    if (!(scale > 0)) throw std::invalid_argument("affine: scale must be positive, got " + std::to_string(scale));
    detail::affine_warp(s, -degrees * std::numbers::pi / 180.0, scale, tx, ty, b);
}

/// Elastic deformation parameters (see the file comment).
struct elastic_options {
    int grid = 3;          ///< control points per side (>= 2)
    double sigma = 10.0;   ///< standard deviation of each displacement component, pixels
    border mode = border::reflect;
};

/// Elastic deformation with displacements drawn from r (see the file comment).
inline void elastic(sample& s, rng& r, const elastic_options& o = {}) {
    detail::check_sample(s, "elastic");
    if (o.grid < 2) throw std::invalid_argument("elastic: grid must be at least 2, got " + std::to_string(o.grid));
    const int H = s.image.shape().h, W = s.image.shape().w, G = o.grid;
    std::vector<double> dx(static_cast<std::size_t>(G) * G), dy(dx.size());
    for (std::size_t i = 0; i < dx.size(); ++i) dx[i] = r.normal(0.0, o.sigma), dy[i] = r.normal(0.0, o.sigma);
    struct tap {
        int i[4];
        double w[4];
    };
    auto taps = [G](int p, int n) {
        const double g = n > 1 ? p * (G - 1.0) / (n - 1.0) : 0.0;  // lattice coordinate
        const int i0 = std::min(static_cast<int>(std::floor(g)), G - 1);
        tap t{};
        detail::cubic_weights(g - i0, t.w);
        for (int k = 0; k < 4; ++k) t.i[k] = std::clamp(i0 - 1 + k, 0, G - 1);
        return t;
    };
    std::vector<tap> tx(W), ty(H);
    for (int x = 0; x < W; ++x) tx[x] = taps(x, W);
    for (int y = 0; y < H; ++y) ty[y] = taps(y, H);
    std::vector<float> sx(static_cast<std::size_t>(H) * W), sy(sx.size());
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) {
            double ux = 0, uy = 0;
            for (int a = 0; a < 4; ++a)
                for (int b = 0; b < 4; ++b) {
                    const double w = ty[y].w[a] * tx[x].w[b];
                    const std::size_t k = static_cast<std::size_t>(ty[y].i[a]) * G + tx[x].i[b];
                    ux += w * dx[k], uy += w * dy[k];
                }
            const std::size_t k = static_cast<std::size_t>(y) * W + x;
            sx[k] = static_cast<float>(x + ux);
            sy[k] = static_cast<float>(y + uy);
        }
    detail::warp(s, sx, sy, H, W, o.mode);
}

/// One step of a pipeline: runs with `probability`, drawing its parameters from the rng it gets.
struct augment_step {
    std::string name;
    std::function<void(sample&, rng&)> fn;
    double probability = 1.0;
};

/// Steps applied in order, each with its probability (see the file comment for the seeding).
class augment_pipeline {
public:
    /// Appends a step; `probability` in [0, 1] replaces the step's own.
    augment_pipeline& add(augment_step step, double probability) {
        if (!(probability >= 0.0 && probability <= 1.0))
            throw std::invalid_argument("augment_pipeline: probability of '" + step.name + "' must be in [0, 1], got " +
                                        std::to_string(probability));
        step.probability = probability;
        steps_.push_back(std::move(step));
        return *this;
    }
    augment_pipeline& add(augment_step step) {
        const double p = step.probability;
        return add(std::move(step), p);
    }

    [[nodiscard]] bool empty() const noexcept { return steps_.empty(); }
    [[nodiscard]] const std::vector<augment_step>& steps() const noexcept { return steps_; }

    void apply(sample& s, rng& r) const {
        for (const auto& st : steps_) {
            rng step_rng = r.split();  // one draw from r per step, whether it runs or not
            if (st.probability >= 1.0 || step_rng.bernoulli(st.probability)) st.fn(s, step_rng);
        }
    }
    void apply(sample& s, std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) const {
        rng r(derive_seed(seed, epoch, index));
        apply(s, r);
    }

private:
    std::vector<augment_step> steps_;
};

/// Step factories (probability 1 unless given to augment_pipeline::add).
namespace aug {

/// Random h x w crop (uniform position). Smaller images are an error naming the sizes.
inline augment_step random_crop(int h, int w) {
    return {"random_crop", [h, w](sample& s, rng& r) {
                const shape4 sh = s.image.shape();
                if (sh.h < h || sh.w < w)
                    throw std::invalid_argument("random_crop: a " + std::to_string(h) + " x " + std::to_string(w) +
                                                " crop does not fit a " + std::to_string(sh.h) + " x " +
                                                std::to_string(sh.w) + " image; resize first");
                const int top = static_cast<int>(r.below(static_cast<std::uint64_t>(sh.h - h + 1)));
                const int left = static_cast<int>(r.below(static_cast<std::uint64_t>(sh.w - w + 1)));
                crop(s, top, left, h, w);
            }};
}
inline augment_step hflip() { return {"hflip", [](sample& s, rng&) { data::hflip(s); }}; }
inline augment_step vflip() { return {"vflip", [](sample& s, rng&) { data::vflip(s); }}; }
/// Rotation by 90, 180 or 270 degrees (uniform). On non-square images 90 and 270 swap H and W,
/// so use it on square images when batches need equal sizes.
inline augment_step rot90() {
    return {"rot90", [](sample& s, rng& r) { data::rot90(s, 1 + static_cast<int>(r.below(3))); }};
}
/// Rotation by an angle uniform in [-max_degrees, max_degrees].
inline augment_step rotate(double max_degrees, border b = border::reflect) {
    return {"rotate", [=](sample& s, rng& r) { data::rotate(s, r.uniform(-max_degrees, max_degrees), b); }};
}
/// Ranges of a random affine warp.
struct affine_range {
    double degrees = 0.0;                ///< angle uniform in [-degrees, degrees]
    double translate = 0.1;              ///< shift uniform in [-translate, translate] x side, per axis
    double scale_min = 0.9, scale_max = 1.1;  ///< scale uniform in [scale_min, scale_max]
    border mode = border::reflect;
};
inline augment_step affine(affine_range a = {}) {
    if (!(a.scale_min > 0 && a.scale_max >= a.scale_min))
        throw std::invalid_argument("aug::affine: need 0 < scale_min <= scale_max");
    return {"affine", [=](sample& s, rng& r) {
                const shape4 sh = s.image.shape();
                const double deg = r.uniform(-a.degrees, a.degrees);
                const double sc = r.uniform(a.scale_min, a.scale_max);
                const double tx = r.uniform(-a.translate, a.translate) * sh.w;
                const double ty = r.uniform(-a.translate, a.translate) * sh.h;
                data::affine(s, deg, sc, tx, ty, a.mode);
            }};
}
/// Additive Gaussian noise N(0, sigma^2) on the image only; clamped to [0, 1] when `clamp`.
inline augment_step gaussian_noise(double sigma, bool clamp = true) {
    return {"gaussian_noise", [=](sample& s, rng& r) {
                for (float& v : s.image) {
                    v += static_cast<float>(r.normal(0.0, sigma));
                    if (clamp) v = std::clamp(v, 0.0f, 1.0f);
                }
            }};
}
/// Image only: x -> (x - mean) * c + mean + b with c uniform in [1 - contrast, 1 + contrast] and
/// b uniform in [-brightness, brightness]; clamped to [0, 1] when `clamp`.
inline augment_step brightness_contrast(double brightness, double contrast, bool clamp = true) {
    return {"brightness_contrast", [=](sample& s, rng& r) {
                const double b = r.uniform(-brightness, brightness);
                const double c = r.uniform(1.0 - contrast, 1.0 + contrast);
                double mean = 0;
                for (float v : s.image) mean += v;
                mean /= std::max<std::size_t>(s.image.size(), 1);
                for (float& v : s.image) {
                    v = static_cast<float>((v - mean) * c + mean + b);
                    if (clamp) v = std::clamp(v, 0.0f, 1.0f);
                }
            }};
}
/// Image only: x -> x^g with g uniform in [lo, hi] (values first clamped to [0, 1]); g < 1
/// brightens the mid-tones, g > 1 darkens them (nnU-Net's gamma augmentation, without inversion).
inline augment_step gamma(double lo, double hi) {
    if (!(lo > 0 && hi >= lo) || !std::isfinite(hi))
        throw std::invalid_argument("aug::gamma: need 0 < lo <= hi, got " + std::to_string(lo) + " and " +
                                    std::to_string(hi));
    return {"gamma", [=](sample& s, rng& r) {
                const double g = r.uniform(lo, hi);
                for (float& v : s.image) v = static_cast<float>(std::pow(std::clamp(v, 0.0f, 1.0f), g));
            }};
}
/// Isotropic zoom about the centre by a factor uniform in [lo, hi] (image bilinear, mask and ROI
/// nearest; outside the source the border rule applies).
inline augment_step scale(double lo, double hi, border b = border::reflect) {
    if (!(lo > 0 && hi >= lo) || !std::isfinite(hi))
        throw std::invalid_argument("aug::scale: need 0 < lo <= hi, got " + std::to_string(lo) + " and " +
                                    std::to_string(hi));
    return {"scale", [=](sample& s, rng& r) { data::affine(s, 0.0, r.uniform(lo, hi), 0.0, 0.0, b); }};
}
inline augment_step elastic(elastic_options o = {}) {
    return {"elastic", [o](sample& s, rng& r) { data::elastic(s, r, o); }};
}

}  // namespace aug

}  // namespace unetpp::data
