#pragma once
/// \file Deterministic transforms on image tensors and samples.
///
///   data::resize(s, 256, 256);          // image bilinear, mask nearest
///   data::equalize_histogram(s.image);  // per channel, 256 levels
///   data::clahe(s.image, {.tiles_x = 8, .tiles_y = 8, .clip_limit = 2.0});
///   data::zscore(s.image);              // per image: (x - mean) / std
///   data::isolate_roi(s);               // image x mask (seed 001)
///
/// Tensors are NCHW; every function handles any N and C, one plane at a time. Pixel centres are
/// at integer coordinates and the image spans [-0.5, W - 0.5] (the "half-pixel" convention of
/// OpenCV's INTER_LINEAR and PyTorch's align_corners=False). /255 normalisation is done by
/// io::to_tensor when a reader decodes a file.
///
/// Histogram methods work on 256 levels: a value v in [0, 1] falls in bin round(255 v) (values
/// outside are clamped), and the output is that bin's mapped level / 255.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"
#include "dataset.hpp"

namespace unetpp::inline UNETPP_ABI::data {

namespace detail {
inline void check_size_arg(int h, int w, const char* what) {
    if (h < 1 || w < 1)
        throw std::invalid_argument(std::string(what) + ": target size must be positive, got " + std::to_string(h) +
                                    " x " + std::to_string(w));
}
inline int level_of(float v) {
    if (!(v > 0.0f)) return 0;  // also NaN
    if (v >= 1.0f) return 255;
    return static_cast<int>(std::floor(v * 255.0f + 0.5f));
}
}  // namespace detail

/// Bilinear resize (half-pixel centres, edge pixels repeated beyond the border).
inline tensor<float> resize_bilinear(const tensor<float>& t, int h, int w) {
    detail::check_size_arg(h, w, "resize_bilinear");
    const shape4 s = t.shape();
    tensor<float> out(shape4{s.n, s.c, h, w});
    const double sy = static_cast<double>(s.h) / h, sx = static_cast<double>(s.w) / w;
    std::vector<int> x0(w), x1(w);
    std::vector<float> fx(w);
    for (int x = 0; x < w; ++x) {
        const double u = std::clamp((x + 0.5) * sx - 0.5, 0.0, static_cast<double>(s.w - 1));
        x0[x] = static_cast<int>(u);
        x1[x] = std::min(x0[x] + 1, s.w - 1);
        fx[x] = static_cast<float>(u - x0[x]);
    }
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < h; ++y) {
                const double v = std::clamp((y + 0.5) * sy - 0.5, 0.0, static_cast<double>(s.h - 1));
                const int y0 = static_cast<int>(v), y1 = std::min(y0 + 1, s.h - 1);
                const float fy = static_cast<float>(v - y0);
                for (int x = 0; x < w; ++x) {
                    const float a = t(n, c, y0, x0[x]) + fx[x] * (t(n, c, y0, x1[x]) - t(n, c, y0, x0[x]));
                    const float b = t(n, c, y1, x0[x]) + fx[x] * (t(n, c, y1, x1[x]) - t(n, c, y1, x0[x]));
                    out(n, c, y, x) = a + fy * (b - a);
                }
            }
    return out;
}

/// Nearest-neighbour resize: output pixel x takes input pixel floor((x + 0.5) * W_in / W_out).
inline tensor<float> resize_nearest(const tensor<float>& t, int h, int w) {
    detail::check_size_arg(h, w, "resize_nearest");
    const shape4 s = t.shape();
    tensor<float> out(shape4{s.n, s.c, h, w});
    std::vector<int> xs(w);
    for (int x = 0; x < w; ++x)
        xs[x] = std::min(static_cast<int>(std::floor((x + 0.5) * s.w / static_cast<double>(w))), s.w - 1);
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < h; ++y) {
                const int ys = std::min(static_cast<int>(std::floor((y + 0.5) * s.h / static_cast<double>(h))), s.h - 1);
                for (int x = 0; x < w; ++x) out(n, c, y, x) = t(n, c, ys, xs[x]);
            }
    return out;
}

/// Area (box) resize for shrinking: each output pixel is the mean of the input pixels whose
/// centres fall in its cell (at least one). Used for the 32 x 32 image of the perceptual hash.
inline tensor<float> resize_area(const tensor<float>& t, int h, int w) {
    detail::check_size_arg(h, w, "resize_area");
    const shape4 s = t.shape();
    tensor<float> out(shape4{s.n, s.c, h, w});
    auto range = [](int i, int in, int out_n) {
        int a = static_cast<int>(static_cast<long long>(i) * in / out_n);
        int b = static_cast<int>(static_cast<long long>(i + 1) * in / out_n);
        if (b <= a) b = std::min(a + 1, in);
        if (a >= in) a = in - 1, b = in;
        return std::pair<int, int>{a, b};
    };
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < h; ++y) {
                const auto [ya, yb] = range(y, s.h, h);
                for (int x = 0; x < w; ++x) {
                    const auto [xa, xb] = range(x, s.w, w);
                    double sum = 0;
                    for (int yy = ya; yy < yb; ++yy)
                        for (int xx = xa; xx < xb; ++xx) sum += t(n, c, yy, xx);
                    out(n, c, y, x) = static_cast<float>(sum / ((yb - ya) * (xb - xa)));
                }
            }
    return out;
}

/// Resizes a sample to h x w: image bilinear, mask and region of interest nearest (so they keep
/// only the values they had: 0/1, or the class indices of a label mask).
inline void resize(sample& s, int h, int w) {
    s.image = resize_bilinear(s.image, h, w);
    s.mask = resize_nearest(s.mask, h, w);
    if (!s.roi.empty()) s.roi = resize_nearest(s.roi, h, w);
}

/// Per-image z-score: each sample's values (all channels together) -> (x - mean) / std.
/// A constant image becomes 0 (std below eps is treated as 1).
inline void zscore(tensor<float>& t, double eps = 1e-6) {
    const shape4 s = t.shape();
    const std::size_t m = s.sample_size();
    for (int n = 0; n < s.n; ++n) {
        float* p = t.data() + n * m;
        double sum = 0, sq = 0;
        for (std::size_t i = 0; i < m; ++i) sum += p[i];
        const double mean = m ? sum / m : 0.0;
        for (std::size_t i = 0; i < m; ++i) sq += (p[i] - mean) * (p[i] - mean);
        double sd = m ? std::sqrt(sq / m) : 1.0;
        if (sd < eps) sd = 1.0;
        for (std::size_t i = 0; i < m; ++i) p[i] = static_cast<float>((p[i] - mean) / sd);
    }
}

/// z-score with given statistics (e.g. the training set's): (x - mean) / std.
inline void zscore(tensor<float>& t, double mean, double stddev) {
    if (!(stddev > 0)) throw std::invalid_argument("zscore: stddev must be positive, got " + std::to_string(stddev));
    for (float& v : t) v = static_cast<float>((v - mean) / stddev);
}

/// Per-channel z-score with given statistics (one mean and std per channel).
inline void zscore(tensor<float>& t, const std::vector<double>& mean, const std::vector<double>& stddev) {
    const shape4 s = t.shape();
    if (mean.size() != static_cast<std::size_t>(s.c) || stddev.size() != static_cast<std::size_t>(s.c))
        throw std::invalid_argument("zscore: " + std::to_string(mean.size()) + " means and " +
                                    std::to_string(stddev.size()) + " stds for " + std::to_string(s.c) + " channels");
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c) {
            if (!(stddev[c] > 0)) throw std::invalid_argument("zscore: stddev must be positive");
            float* p = t.data() + (static_cast<std::size_t>(n) * s.c + c) * s.plane();
            for (std::size_t i = 0; i < s.plane(); ++i) p[i] = static_cast<float>((p[i] - mean[c]) / stddev[c]);
        }
}

/// Global histogram equalisation per plane (OpenCV's equalizeHist formula):
/// level l -> round((cdf(l) - cdf_min) * 255 / (N - cdf_min)), cdf_min the count of the lowest
/// level present. A constant plane is left unchanged.
inline void equalize_histogram(tensor<float>& t) {
    const shape4 s = t.shape();
    const std::size_t P = s.plane();
    for (int k = 0; k < s.n * s.c; ++k) {
        float* p = t.data() + static_cast<std::size_t>(k) * P;
        std::size_t hist[256] = {};
        for (std::size_t i = 0; i < P; ++i) ++hist[detail::level_of(p[i])];
        std::size_t cdf_min = 0;
        for (std::size_t b : hist)
            if (b) { cdf_min = b; break; }
        if (cdf_min == P) continue;
        float lut[256];
        std::size_t cdf = 0;
        for (int l = 0; l < 256; ++l) {
            cdf += hist[l];
            const double v = cdf <= cdf_min ? 0.0 : std::floor((cdf - cdf_min) * 255.0 / (P - cdf_min) + 0.5);
            lut[l] = static_cast<float>(v / 255.0);
        }
        for (std::size_t i = 0; i < P; ++i) p[i] = lut[detail::level_of(p[i])];
    }
}

/// CLAHE parameters. The plane is cut into tiles_y x tiles_x tiles; each tile's histogram is
/// clipped at clip_limit x (tile pixels / 256) (clip_limit <= 0: no clipping), the excess is
/// spread evenly over all 256 bins, and the tile's mapping is l -> round(cdf(l) * 255 / tile
/// pixels). Each pixel blends the mappings of the four nearest tile centres bilinearly (the
/// nearest tile only, at the image border). This is OpenCV's createCLAHE scheme.
struct clahe_options {
    int tiles_x = 8;
    int tiles_y = 8;
    double clip_limit = 2.0;
};

/// Contrast-limited adaptive histogram equalisation, per plane (see clahe_options).
inline void clahe(tensor<float>& t, const clahe_options& o = {}) {
    const shape4 s = t.shape();
    if (o.tiles_x < 1 || o.tiles_y < 1 || o.tiles_x > s.w || o.tiles_y > s.h)
        throw std::invalid_argument("clahe: " + std::to_string(o.tiles_y) + " x " + std::to_string(o.tiles_x) +
                                    " tiles do not fit a " + std::to_string(s.h) + " x " + std::to_string(s.w) +
                                    " image (need 1 <= tiles <= side)");
    const int TX = o.tiles_x, TY = o.tiles_y;
    const std::size_t P = s.plane();
    std::vector<int> level(P);
    std::vector<float> luts(static_cast<std::size_t>(TX) * TY * 256);
    auto bound = [](int t, int n, int tiles) { return static_cast<int>(static_cast<long long>(t) * n / tiles); };
    for (int k = 0; k < s.n * s.c; ++k) {
        float* p = t.data() + static_cast<std::size_t>(k) * P;
        for (std::size_t i = 0; i < P; ++i) level[i] = detail::level_of(p[i]);
        for (int ty = 0; ty < TY; ++ty)
            for (int tx = 0; tx < TX; ++tx) {
                const int y0 = bound(ty, s.h, TY), y1 = bound(ty + 1, s.h, TY);
                const int x0 = bound(tx, s.w, TX), x1 = bound(tx + 1, s.w, TX);
                const double area = static_cast<double>(y1 - y0) * (x1 - x0);
                double hist[256] = {};
                for (int y = y0; y < y1; ++y)
                    for (int x = x0; x < x1; ++x) hist[level[static_cast<std::size_t>(y) * s.w + x]] += 1;
                if (o.clip_limit > 0) {
                    const double limit = std::max(1.0, o.clip_limit * area / 256.0);
                    double excess = 0;
                    for (double& b : hist)
                        if (b > limit) excess += b - limit, b = limit;
                    for (double& b : hist) b += excess / 256.0;
                }
                float* lut = luts.data() + (static_cast<std::size_t>(ty) * TX + tx) * 256;
                double cdf = 0;
                for (int l = 0; l < 256; ++l) {
                    cdf += hist[l];
                    lut[l] = static_cast<float>(std::min(255.0, std::floor(cdf * 255.0 / area + 0.5)) / 255.0);
                }
            }
        const double tw = static_cast<double>(s.w) / TX, th = static_cast<double>(s.h) / TY;
        for (int y = 0; y < s.h; ++y) {
            const double gy = (y + 0.5) / th - 0.5;
            const int ty0 = std::clamp(static_cast<int>(std::floor(gy)), 0, TY - 1), ty1 = std::min(ty0 + 1, TY - 1);
            const float wy = static_cast<float>(std::clamp(gy - ty0, 0.0, 1.0));
            for (int x = 0; x < s.w; ++x) {
                const double gx = (x + 0.5) / tw - 0.5;
                const int tx0 = std::clamp(static_cast<int>(std::floor(gx)), 0, TX - 1), tx1 = std::min(tx0 + 1, TX - 1);
                const float wx = static_cast<float>(std::clamp(gx - tx0, 0.0, 1.0));
                const int l = level[static_cast<std::size_t>(y) * s.w + x];
                auto L = [&](int ty, int tx) { return luts[(static_cast<std::size_t>(ty) * TX + tx) * 256 + l]; };
                const float a = L(ty0, tx0) + wx * (L(ty0, tx1) - L(ty0, tx0));
                const float b = L(ty1, tx0) + wx * (L(ty1, tx1) - L(ty1, tx0));
                p[static_cast<std::size_t>(y) * s.w + x] = a + wy * (b - a);
            }
        }
    }
}

/// ROI isolation (seed 001): every image channel multiplied by the mask, so only the lesion
/// remains and the rest is black. Mask values above 1 (class indices of label masks) count as 1,
/// so every foreground class is kept.
inline void isolate_roi(sample& s) {
    const shape4 is = s.image.shape(), ms = s.mask.shape();
    if (is.n != ms.n || is.h != ms.h || is.w != ms.w || ms.c != 1)
        throw std::invalid_argument("isolate_roi: image " + is.str() + " and mask " + ms.str() + " do not match");
    for (int n = 0; n < is.n; ++n)
        for (int c = 0; c < is.c; ++c)
            for (int y = 0; y < is.h; ++y)
                for (int x = 0; x < is.w; ++x) s.image(n, c, y, x) *= std::min(s.mask(n, 0, y, x), 1.0f);
}

/// Channel conversion: 1 -> 3 replicates; 3 or 4 -> 1 is BT.601 luma (0.299 R + 0.587 G + 0.114 B,
/// as io::read_image); 4 -> 3 drops alpha; equal counts copy.
inline tensor<float> convert_channels(const tensor<float>& t, int channels) {
    const shape4 s = t.shape();
    if (channels == s.c) return t;
    if (channels != 1 && channels != 3)
        throw std::invalid_argument("convert_channels: target must be 1 or 3 channels, got " + std::to_string(channels));
    if (s.c != 1 && s.c != 3 && s.c != 4)
        throw std::invalid_argument("convert_channels: cannot convert " + std::to_string(s.c) + " channels");
    tensor<float> out(shape4{s.n, channels, s.h, s.w});
    const std::size_t P = s.plane();
    for (int n = 0; n < s.n; ++n) {
        const float* src = t.data() + static_cast<std::size_t>(n) * s.c * P;
        float* dst = out.data() + static_cast<std::size_t>(n) * channels * P;
        for (std::size_t i = 0; i < P; ++i) {
            if (channels == 3 && s.c == 1) {
                dst[i] = dst[P + i] = dst[2 * P + i] = src[i];
            } else if (channels == 3) {
                dst[i] = src[i], dst[P + i] = src[P + i], dst[2 * P + i] = src[2 * P + i];
            } else {
                dst[i] = 0.299f * src[i] + 0.587f * src[P + i] + 0.114f * src[2 * P + i];
            }
        }
    }
    return out;
}
inline tensor<float> to_gray(const tensor<float>& t) { return convert_channels(t, 1); }
inline tensor<float> to_rgb(const tensor<float>& t) { return convert_channels(t, 3); }

/// Ready-made sample functions for reader_options::preprocess or mapped_dataset, composable:
///   opts.preprocess = tf::compose({tf::resize(256, 256), tf::equalize_histogram()});
namespace tf {
using fn = std::function<void(sample&)>;
inline fn compose(std::vector<fn> fns) {
    return [fns = std::move(fns)](sample& s) {
        for (const auto& f : fns)
            if (f) f(s);
    };
}
inline fn resize(int h, int w) {
    detail::check_size_arg(h, w, "tf::resize");
    return [h, w](sample& s) { data::resize(s, h, w); };
}
inline fn equalize_histogram() { return [](sample& s) { data::equalize_histogram(s.image); }; }
inline fn clahe(clahe_options o = {}) { return [o](sample& s) { data::clahe(s.image, o); }; }
inline fn zscore() { return [](sample& s) { data::zscore(s.image); }; }
inline fn zscore(double mean, double stddev) { return [=](sample& s) { data::zscore(s.image, mean, stddev); }; }
inline fn isolate_roi() { return [](sample& s) { data::isolate_roi(s); }; }
inline fn channels(int c) { return [c](sample& s) { s.image = convert_channels(s.image, c); }; }
}  // namespace tf

}  // namespace unetpp::data
