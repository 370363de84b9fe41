#pragma once
/// \file A built-in synthetic data set of ultrasound-like images with lesion masks, so the demo
/// and the tests run anywhere without downloading BUSI.
///
/// Each image mimics a breast ultrasound B-mode frame (seed 002, BUSI):
///  - a smooth tissue background whose echogenicity varies slowly and falls with depth;
///  - a bright skin line at the top and a few brighter, slightly wavy horizontal tissue layers;
///  - in most images one dark (hypoechoic) elliptical lesion, wider than tall, rotated a little,
///    with a soft, irregular border (radius modulated by low-order harmonics);
///  - posterior acoustic enhancement (brighter) or shadowing (darker) in a band below the lesion;
///  - multiplicative speckle: the envelope of a complex Gaussian field smoothed laterally
///    (Rayleigh distributed, mean 1), the defining texture of ultrasound.
/// The mask is 1 inside the lesion's (irregular) border and 0 elsewhere; about
/// `empty_fraction` of the images have no lesion and an all-zero mask.
///
/// Classes and channels (synthetic_ultrasound_options::classes, ::channels):
///  - classes 1 or 2 is the ultrasound frame above (mask 0/1: background and lesion). With
///    channels 3 the gray frame is written to three equal channels (as BUSI stores its PNGs); the
///    draws and values are those of channels 1.
///  - classes 3 to 5 is a scene of shapes for multi-class segmentation, mask = class index
///    0..classes-1: on a smooth background (class 0) lie one or two shapes of each class, told
///    apart by form and by shade (gray) or colour (RGB):
///      class 1 disc      dark   / red
///      class 2 square    bright / green   (rotated)
///      class 3 ring      light  / blue    (its hole is background)
///      class 4 triangle  darker / yellow  (equilateral, rotated)
///    Shape radii are lesion_min..lesion_max of the side (at least 3 pixels); shapes are placed
///    apart when 30 tries allow, otherwise a later one covers an earlier one (the mask follows the
///    image). Gaussian noise of standard deviation 0.04 x `speckle` is added per channel. About
///    `empty_fraction` of the images hold no shape.
/// The default (classes 1, channels 1) is the generator as it always was: the same draws and values.
///
/// Everything is drawn from the caller's unetpp::rng, so a seed gives the same images on every
/// platform.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/rng.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::data {

/// Settings of the synthetic ultrasound generator.
struct synthetic_ultrasound_options {
    int size = 64;               ///< images are size x size
    std::uint64_t seed = 1;      ///< used by synthetic_ultrasound; the free functions take an rng
    double empty_fraction = 0.1; ///< share of images without a lesion
    double lesion_min = 0.08;    ///< smallest lesion semi-axis, as a fraction of the side
    double lesion_max = 0.22;    ///< largest lesion semi-axis, as a fraction of the side
    double speckle = 1.0;        ///< 0 = no speckle, 1 = fully developed speckle
    int classes = 1;             ///< 1 or 2: ultrasound lesion (mask 0/1); 3 to 5: shapes (mask 0..classes-1)
    int channels = 1;            ///< 1 gray, 3 RGB (see the file comment)
};
/// The name before the naming rule; it goes away in a later release.
using synthetic_ultrasound_cfg [[deprecated("renamed synthetic_ultrasound_options: run-time option structs end in _options, "
                                 "compile-time configurations in _cfg (docs/DESIGN.md, Naming)")]] = synthetic_ultrasound_options;

/// Throws std::invalid_argument unless classes is 1 to 5 and channels 1 or 3.
inline void check_synthetic_cfg(const synthetic_ultrasound_options& cfg) {
    if (cfg.classes < 1 || cfg.classes > 5)
        throw std::invalid_argument("synthetic: classes must be 1 to 5 (1 or 2: lesion and background; 3 to 5: "
                                    "background and 2 to 4 kinds of shapes), got " + std::to_string(cfg.classes));
    if (cfg.channels != 1 && cfg.channels != 3)
        throw std::invalid_argument("synthetic: channels must be 1 (gray) or 3 (RGB), got " +
                                    std::to_string(cfg.channels));
}

namespace detail {

inline float smoothstep01(float t) noexcept {
    t = std::clamp(t, 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}

}  // namespace detail

namespace detail {

/// The ultrasound frame (one gray plane) and its lesion mask; see the file comment.
inline void make_ultrasound_plane(rng& r, int size, float* image, float* mask, const synthetic_ultrasound_options& cfg) {
    constexpr double pi = std::numbers::pi;
    const int S = size;
    const std::size_t n = static_cast<std::size_t>(S) * S;
    const float inv = 1.0f / static_cast<float>(S);

    // Background: base echogenicity, a few broad blobs, attenuation with depth.
    const double base = r.uniform(0.38, 0.52);
    const double atten = r.uniform(0.15, 0.40);
    struct blob { double x, y, s, a; };
    blob blobs[4];
    for (auto& b : blobs) b = {r.uniform(), r.uniform(), r.uniform(0.15, 0.35), r.uniform(-0.10, 0.10)};
    // Bright layers (fascia, Cooper's ligaments): depth, thickness, strength, waviness.
    struct layer { double y, t, a, amp, freq, phase; };
    const int nlayers = 2 + static_cast<int>(r.below(3));
    layer layers[4];
    for (int i = 0; i < nlayers; ++i)
        layers[i] = {r.uniform(0.12, 0.95), r.uniform(0.010, 0.030), r.uniform(0.20, 0.40), r.uniform(0.0, 0.03),
                     r.uniform(0.5, 2.0), r.uniform(0.0, 2 * pi)};
    const double skin = r.uniform(0.03, 0.07);

    // Lesion geometry.
    const bool lesion = !r.bernoulli(cfg.empty_fraction);
    const double cx = r.uniform(0.28, 0.72), cy = r.uniform(0.30, 0.65);
    const double ax = r.uniform(cfg.lesion_min * 1.2, cfg.lesion_max);           // wider...
    const double ay = ax * r.uniform(0.50, 0.90);                                  // ...than tall
    const double theta = r.uniform(-0.35, 0.35);
    double harm_a[4], harm_p[4];
    for (int k = 0; k < 4; ++k) harm_a[k] = r.uniform(0.0, 0.07), harm_p[k] = r.uniform(0.0, 2 * pi);
    const double inside_level = r.uniform(0.08, 0.30);   // relative echogenicity inside
    const double border_soft = r.uniform(0.04, 0.10);    // width of the soft edge (in radius units)
    const double posterior = r.bernoulli(0.6) ? r.uniform(1.25, 1.6) : r.uniform(0.45, 0.7);
    const double post_len = r.uniform(0.2, 0.45);
    const double ct = std::cos(theta), st = std::sin(theta);

    for (int y = 0; y < S; ++y) {
        const double v = (y + 0.5) * inv;
        for (int x = 0; x < S; ++x) {
            const double u = (x + 0.5) * inv;
            double e = base;
            for (const auto& b : blobs) {
                const double dx = u - b.x, dy = v - b.y;
                e += b.a * std::exp(-(dx * dx + dy * dy) / (2 * b.s * b.s));
            }
            e *= 1.0 - atten * v;
            for (int i = 0; i < nlayers; ++i) {
                const auto& L = layers[i];
                const double d = v - (L.y + L.amp * std::sin(2 * pi * L.freq * u + L.phase));
                e += L.a * std::exp(-d * d / (2 * L.t * L.t));
            }
            if (v < skin) e += 0.35 * (1.0 - v / skin);

            float m = 0.0f;
            if (lesion) {
                // Lesion frame: rotate, scale to the unit ellipse, modulate the radius.
                const double dx = u - cx, dy = v - cy;
                const double lx = (ct * dx + st * dy) / ax, ly = (-st * dx + ct * dy) / ay;
                const double rho = std::sqrt(lx * lx + ly * ly);
                const double phi = std::atan2(ly, lx);
                double rad = 1.0;
                for (int k = 0; k < 4; ++k) rad += harm_a[k] * std::cos((k + 2) * phi + harm_p[k]);
                const double d = rho / rad;  // < 1 inside
                m = d < 1.0 ? 1.0f : 0.0f;
                const double w = 1.0 - detail::smoothstep01(static_cast<float>((d - (1.0 - border_soft)) / (2 * border_soft)));
                e = e * (1.0 - w) + e * inside_level * w;
                // Posterior enhancement / shadow: columns under the lesion, below its centre.
                const double half = ax * 0.9;
                const double lateral = 1.0 - detail::smoothstep01(static_cast<float>((std::abs(dx) - half) / (0.3 * half) + 0.5));
                const double below = v - (cy + ay * 0.6);
                if (below > 0 && lateral > 0) {
                    const double fade = std::exp(-below / post_len);
                    const double start = detail::smoothstep01(static_cast<float>(below / 0.05));
                    e *= 1.0 + (posterior - 1.0) * lateral * fade * start * (1.0 - w);
                }
            }
            image[static_cast<std::size_t>(y) * S + x] = static_cast<float>(std::max(e, 0.0));
            mask[static_cast<std::size_t>(y) * S + x] = m;
        }
    }

    // Speckle: Rayleigh envelope of a complex Gaussian field smoothed along x (the lateral
    // resolution of a transducer is coarser than the axial one), normalised to mean 1.
    if (cfg.speckle > 0) {
        std::vector<float> re(n), im(n);
        for (std::size_t i = 0; i < n; ++i) re[i] = static_cast<float>(r.normal()), im[i] = static_cast<float>(r.normal());
        // Kernel [1 2 3 2 1] along x and [1 2 1] along y; the normalisation keeps unit variance.
        const float kx[5] = {1, 2, 3, 2, 1}, ky[3] = {1, 2, 1};
        float norm = 0;
        for (float a : kx)
            for (float b : ky) norm += a * a * b * b;
        norm = 1.0f / std::sqrt(norm);
        const float rayleigh_mean = static_cast<float>(std::sqrt(pi / 4.0) * std::sqrt(2.0));  // E|z|, z ~ CN(0, 2)
        const float amount = static_cast<float>(cfg.speckle);
        for (int y = 0; y < S; ++y)
            for (int x = 0; x < S; ++x) {
                float a = 0, b = 0;
                for (int j = -1; j <= 1; ++j)
                    for (int i = -2; i <= 2; ++i) {
                        const int yy = std::clamp(y + j, 0, S - 1), xx = std::clamp(x + i, 0, S - 1);
                        const float k = kx[i + 2] * ky[j + 1];
                        a += k * re[static_cast<std::size_t>(yy) * S + xx];
                        b += k * im[static_cast<std::size_t>(yy) * S + xx];
                    }
                a *= norm, b *= norm;
                const float env = std::sqrt(a * a + b * b) / rayleigh_mean;
                float& p = image[static_cast<std::size_t>(y) * S + x];
                p *= 1.0f + amount * (env - 1.0f);
            }
    }
    // Display mapping: a gain that leaves headroom for the bright speckle tail (Rayleigh peaks
    // reach 3x the mean), then clipping to [0, 1] as a scanner's grey map would.
    for (std::size_t i = 0; i < n; ++i) image[i] = std::clamp(0.75f * image[i], 0.0f, 1.0f);
}

/// Shade (gray) and colour (RGB) of each class of the shapes scene; class 0 is the background's
/// mean, which each image varies.
struct shape_style {
    float gray, r, g, b;
};
inline constexpr shape_style shape_styles[5] = {
    {0.47f, 0.52f, 0.47f, 0.40f},  // 0 background
    {0.10f, 0.85f, 0.18f, 0.15f},  // 1 disc: dark / red
    {0.90f, 0.18f, 0.80f, 0.22f},  // 2 square: bright / green
    {0.72f, 0.20f, 0.35f, 0.90f},  // 3 ring: light / blue
    {0.25f, 0.90f, 0.82f, 0.12f},  // 4 triangle: darker / yellow
};

/// True when pixel offset (dx, dy) from a shape's centre lies inside a shape of `kind` (1 disc,
/// 2 square, 3 ring, 4 triangle) of radius `rad` turned by `angle`.
inline bool inside_shape(int kind, double dx, double dy, double rad, double angle) noexcept {
    const double d2 = dx * dx + dy * dy;
    if (kind == 1) return d2 < rad * rad;
    if (kind == 3) return d2 < rad * rad && d2 > 0.55 * 0.55 * rad * rad;
    const double c = std::cos(angle), s = std::sin(angle);
    if (kind == 2) {
        const double lx = c * dx + s * dy, ly = -s * dx + c * dy;
        return std::abs(lx) < 0.8 * rad && std::abs(ly) < 0.8 * rad;
    }
    for (int k = 0; k < 3; ++k) {  // triangle: inside all three edges, each at half the radius
        const double a = angle + k * 2.0 * std::numbers::pi / 3.0;
        if (dx * std::cos(a) + dy * std::sin(a) > 0.5 * rad) return false;
    }
    return true;
}

/// The shapes scene (cfg.channels planes of size * size) and its class-index mask; see the file
/// comment.
inline void make_shapes_planes(rng& r, int size, float* image, float* mask, const synthetic_ultrasound_options& cfg) {
    const int S = size, C = cfg.channels;
    const std::size_t n = static_cast<std::size_t>(S) * S;
    const double base = r.uniform(0.42, 0.52);
    struct blob { double x, y, s, a; };
    blob blobs[3];
    for (auto& b : blobs) b = {r.uniform() * S, r.uniform() * S, r.uniform(0.15, 0.35) * S, r.uniform(-0.04, 0.04)};
    struct shape { int kind; double cx, cy, rad, angle, shade; };
    std::vector<shape> shapes;
    if (!r.bernoulli(cfg.empty_fraction))
        for (int kind = 1; kind < cfg.classes; ++kind) {
            const int count = 1 + static_cast<int>(r.below(2));
            for (int k = 0; k < count; ++k) {
                shape sh{kind, 0, 0, std::max(3.0, r.uniform(cfg.lesion_min, cfg.lesion_max) * S),
                         r.uniform(0.0, 2.0 * std::numbers::pi), r.uniform(-0.03, 0.03)};
                const double lo = std::min(sh.rad, S / 2.0), hi = std::max(S - sh.rad, S / 2.0);
                for (int attempt = 0; attempt < 30; ++attempt) {
                    sh.cx = r.uniform(lo, hi), sh.cy = r.uniform(lo, hi);
                    bool apart = true;
                    for (const shape& o : shapes)
                        apart = apart && std::hypot(sh.cx - o.cx, sh.cy - o.cy) > sh.rad + o.rad + 1.0;
                    if (apart) break;
                }
                shapes.push_back(sh);
            }
        }
    const float bg_tint[3] = {shape_styles[0].r / shape_styles[0].gray, shape_styles[0].g / shape_styles[0].gray,
                              shape_styles[0].b / shape_styles[0].gray};
    for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
            const double u = x + 0.5, v = y + 0.5;
            int owner = -1;
            for (std::size_t k = 0; k < shapes.size(); ++k)
                if (inside_shape(shapes[k].kind, u - shapes[k].cx, v - shapes[k].cy, shapes[k].rad, shapes[k].angle))
                    owner = static_cast<int>(k);
            const std::size_t i = static_cast<std::size_t>(y) * S + x;
            if (owner < 0) {
                double e = base;
                for (const auto& b : blobs)
                    e += b.a * std::exp(-((u - b.x) * (u - b.x) + (v - b.y) * (v - b.y)) / (2 * b.s * b.s));
                mask[i] = 0.0f;
                if (C == 1) image[i] = static_cast<float>(e);
                else
                    for (int c = 0; c < 3; ++c) image[c * n + i] = static_cast<float>(e) * bg_tint[c];
            } else {
                const shape& sh = shapes[static_cast<std::size_t>(owner)];
                const shape_style& st = shape_styles[sh.kind];
                const float j = static_cast<float>(sh.shade);
                mask[i] = static_cast<float>(sh.kind);
                if (C == 1) image[i] = st.gray + j;
                else image[i] = st.r + j, image[n + i] = st.g + j, image[2 * n + i] = st.b + j;
            }
        }
    const double sigma = 0.04 * cfg.speckle;
    for (std::size_t i = 0; i < n * static_cast<std::size_t>(C); ++i) {
        if (sigma > 0) image[i] += static_cast<float>(r.normal(0.0, sigma));
        image[i] = std::clamp(image[i], 0.0f, 1.0f);
    }
}

}  // namespace detail

/// Draws one image and its mask into the given buffers: `image` gets cfg.channels planes of
/// size * size floats in [0, 1] (channel after channel), `mask` one plane of class indices (0 or 1
/// for classes 1 and 2, 0..classes-1 for the shapes scene).
inline void make_sample(rng& r, int size, float* image, float* mask, const synthetic_ultrasound_options& cfg = {}) {
    if (size < 8) throw std::invalid_argument("synthetic_ultrasound: size must be at least 8, got " + std::to_string(size));
    if (!image || !mask) throw std::invalid_argument("synthetic_ultrasound: null output buffer");
    check_synthetic_cfg(cfg);
    if (cfg.classes >= 3) {
        detail::make_shapes_planes(r, size, image, mask, cfg);
        return;
    }
    detail::make_ultrasound_plane(r, size, image, mask, cfg);
    if (cfg.channels == 3) {
        const std::size_t n = static_cast<std::size_t>(size) * size;
        std::copy(image, image + n, image + n);
        std::copy(image, image + n, image + 2 * n);
    }
}

/// A batch of n images [n, cfg.channels, size, size] in [0, 1] and their masks [n, 1, size, size]
/// (see make_sample), drawn in order.
inline std::pair<tensor<float>, tensor<float>> make_batch(rng& r, int n, int size, const synthetic_ultrasound_options& cfg = {}) {
    if (n < 1) throw std::invalid_argument("synthetic_ultrasound: batch size must be at least 1, got " + std::to_string(n));
    check_synthetic_cfg(cfg);
    if (size < 8) throw std::invalid_argument("synthetic_ultrasound: size must be at least 8, got " + std::to_string(size));
    const int C = cfg.channels;
    tensor<float> images(shape4{n, C, size, size}), masks(shape4{n, 1, size, size});
    const std::size_t plane = static_cast<std::size_t>(size) * size;
    for (int i = 0; i < n; ++i)
        make_sample(r, size, images.data() + i * C * plane, masks.data() + i * plane, cfg);
    return {std::move(images), std::move(masks)};
}

/// The generator as an endless data set: seeded once from cfg.seed, each call to next() gives
/// a fresh batch; the sequence is the same for the same cfg.
class synthetic_ultrasound {
public:
    explicit synthetic_ultrasound(synthetic_ultrasound_options cfg = {}) : cfg_(cfg), rng_(cfg.seed) {}
    std::pair<tensor<float>, tensor<float>> next(int n) { return make_batch(rng_, n, cfg_.size, cfg_); }
    [[nodiscard]] const synthetic_ultrasound_options& cfg() const noexcept { return cfg_; }

private:
    synthetic_ultrasound_options cfg_;
    rng rng_;
};

}  // namespace unetpp::data
