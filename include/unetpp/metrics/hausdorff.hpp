#pragma once
/// \file Hausdorff distance (and its 95th percentile, HD95) between two binary masks.
///
/// Definition. The boundary of a mask is its foreground pixels with at least one 4-neighbour in
/// the background or outside the image (the foreground minus its erosion by a 3 x 3 cross with
/// zero padding, as scipy / medpy compute it). For every boundary pixel of A the Euclidean
/// distance to the nearest pixel of B's boundary is taken, and for every boundary pixel of B the
/// distance to A's boundary; the two lists are pooled and
///   HD   = their maximum                      (percentile 100, the classical Hausdorff distance)
///   HD95 = their 95th percentile, linearly interpolated between order statistics
///          (numpy.percentile's default: position q / 100 (m - 1) in the sorted list of m values),
/// which is medpy.metric.binary.hd95's definition. Option `to = surface_to::set` measures from each
/// boundary pixel to the nearest pixel of the other *mask* instead of its boundary (a boundary
/// pixel of A inside B then counts 0).
/// Distances are in pixels, scaled by `spacing_y` / `spacing_x` (e.g. mm per pixel) when given.
///
/// Empty masks: both empty -> 0 (identical); exactly one empty -> +infinity
/// (std::numeric_limits<double>::infinity(): no finite distance exists; callers averaging over
/// images should count or skip these cases explicitly).
///
/// Distances come from an exact Euclidean distance transform (Felzenszwalb and Huttenlocher,
/// "Distance Transforms of Sampled Functions", 2012): the 1-D lower envelope of parabolas along
/// every column, then along every row, O(H W).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::metrics {

enum class surface_to { boundary, set };

struct hausdorff_options {
    double percentile = 95.0;  ///< 100 for the classical Hausdorff distance
    double spacing_y = 1.0;    ///< physical size of a pixel along rows (H)
    double spacing_x = 1.0;    ///< physical size of a pixel along columns (W)
    surface_to to = surface_to::boundary;
    double threshold = 0.5;  ///< a tensor value is foreground when > threshold
};

namespace detail {

/// 1-D squared distance transform of f (f[q] = 0 at features, +inf elsewhere, or any finite
/// sampled function), positions q * spacing: d[p] = min_q (spacing (p - q))^2 + f[q].
inline void edt_1d(const double* f, double* d, int n, std::ptrdiff_t stride, double spacing, std::vector<int>& v,
                   std::vector<double>& z) {
    const double inf = std::numeric_limits<double>::infinity();
    v.resize(static_cast<std::size_t>(n));
    z.resize(static_cast<std::size_t>(n) + 1);
    int k = -1;
    for (int q = 0; q < n; ++q) {
        const double fq = f[q * stride];
        if (fq == inf) continue;  // no parabola
        const double pq = q * spacing;
        while (k >= 0) {
            const double pv = v[k] * spacing, fv = f[v[k] * stride];
            const double s = ((fq + pq * pq) - (fv + pv * pv)) / (2.0 * (pq - pv));
            if (s <= z[k]) {
                --k;
                continue;
            }
            ++k;
            v[k] = q;
            z[k] = s;
            z[k + 1] = inf;
            break;
        }
        if (k < 0) {
            k = 0;
            v[0] = q;
            z[0] = -inf;
            z[1] = inf;
        }
    }
    if (k < 0) {
        for (int p = 0; p < n; ++p) d[p * stride] = inf;
        return;
    }
    int j = 0;
    for (int p = 0; p < n; ++p) {
        const double pp = p * spacing;
        while (z[j + 1] < pp) ++j;
        const double dv = pp - v[j] * spacing;
        d[p * stride] = dv * dv + f[v[j] * stride];
    }
}

}  // namespace detail

/// Squared Euclidean distance from every pixel of an h x w grid to the nearest `feature` pixel
/// (+inf everywhere when there is none). Row-major, index y * w + x.
[[nodiscard]] inline std::vector<double> squared_distance_transform(const std::vector<char>& feature, int h, int w,
                                                                    double spacing_y = 1.0, double spacing_x = 1.0) {
    if (h < 0 || w < 0 || feature.size() != static_cast<std::size_t>(h) * static_cast<std::size_t>(w))
        throw std::invalid_argument("squared_distance_transform: mask size does not match " + std::to_string(h) + " x " +
                                    std::to_string(w));
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> f(feature.size()), g(feature.size());
    for (std::size_t i = 0; i < feature.size(); ++i) f[i] = feature[i] ? 0.0 : inf;
    std::vector<int> v;
    std::vector<double> z;
    for (int x = 0; x < w; ++x) detail::edt_1d(f.data() + x, g.data() + x, h, w, spacing_y, v, z);  // columns
    for (int y = 0; y < h; ++y)
        detail::edt_1d(g.data() + static_cast<std::size_t>(y) * w, f.data() + static_cast<std::size_t>(y) * w, w, 1,
                       spacing_x, v, z);  // rows
    return f;
}

/// Boundary of a mask (see the file comment).
[[nodiscard]] inline std::vector<char> mask_boundary(const std::vector<char>& mask, int h, int w) {
    std::vector<char> b(mask.size(), 0);
    auto at = [&](int y, int x) { return y >= 0 && y < h && x >= 0 && x < w && mask[static_cast<std::size_t>(y) * w + x]; };
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (at(y, x) && !(at(y - 1, x) && at(y + 1, x) && at(y, x - 1) && at(y, x + 1)))
                b[static_cast<std::size_t>(y) * w + x] = 1;
    return b;
}

/// Hausdorff distance at `o.percentile` between masks a and b (h x w, row-major, non-zero =
/// foreground).
[[nodiscard]] inline double hausdorff_distance(const std::vector<char>& a, const std::vector<char>& b, int h, int w,
                                               const hausdorff_options& o = {}) {
    if (a.size() != b.size() || a.size() != static_cast<std::size_t>(h) * static_cast<std::size_t>(w))
        throw std::invalid_argument("hausdorff_distance: masks of " + std::to_string(a.size()) + " and " +
                                    std::to_string(b.size()) + " pixels for a " + std::to_string(h) + " x " +
                                    std::to_string(w) + " grid");
    if (!(o.percentile >= 0.0 && o.percentile <= 100.0))
        throw std::invalid_argument("hausdorff_distance: percentile " + std::to_string(o.percentile) +
                                    " outside [0, 100]");
    if (!(o.spacing_x > 0.0 && o.spacing_y > 0.0))
        throw std::invalid_argument("hausdorff_distance: pixel spacing must be > 0");
    const bool ea = std::none_of(a.begin(), a.end(), [](char c) { return c != 0; });
    const bool eb = std::none_of(b.begin(), b.end(), [](char c) { return c != 0; });
    if (ea && eb) return 0.0;
    if (ea || eb) return std::numeric_limits<double>::infinity();
    const auto ba = mask_boundary(a, h, w), bb = mask_boundary(b, h, w);
    const bool to_set = o.to == surface_to::set;
    const auto da = squared_distance_transform(to_set ? a : ba, h, w, o.spacing_y, o.spacing_x);  // to A
    const auto db = squared_distance_transform(to_set ? b : bb, h, w, o.spacing_y, o.spacing_x);  // to B
    std::vector<double> d;
    for (std::size_t i = 0; i < ba.size(); ++i) {
        if (ba[i]) d.push_back(std::sqrt(db[i]));
        if (bb[i]) d.push_back(std::sqrt(da[i]));
    }
    std::sort(d.begin(), d.end());
    const double pos = o.percentile / 100.0 * static_cast<double>(d.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, d.size() - 1);
    return d[lo] + (pos - static_cast<double>(lo)) * (d[hi] - d[lo]);
}

/// Hausdorff distance between two single masks stored as tensors of shape [1, 1, H, W]
/// (foreground: value > o.threshold).
template <class T>
[[nodiscard]] double hausdorff_distance(const tensor<T>& a, const tensor<T>& b, const hausdorff_options& o = {}) {
    const shape4 s = a.shape();
    if (b.shape() != s)
        throw std::invalid_argument("hausdorff_distance: masks " + s.str() + " and " + b.shape().str() +
                                    " differ in shape");
    if (s.n != 1 || s.c != 1)
        throw std::invalid_argument("hausdorff_distance: mask " + s.str() +
                                    " is not a single [1, 1, H, W] mask; use hausdorff_per_image for batches");
    std::vector<char> ma(s.size()), mb(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        ma[i] = static_cast<double>(a[i]) > o.threshold;
        mb[i] = static_cast<double>(b[i]) > o.threshold;
    }
    return hausdorff_distance(ma, mb, s.h, s.w, o);
}

/// Hausdorff distance inside a region: pixels of a and b where roi <= o.threshold are set to
/// background first (a region / field-of-view mask; a structure cut by the region's edge gets a
/// boundary along the cut in both masks, at distance 0 where both are cut). Shapes as above.
template <class T>
[[nodiscard]] double hausdorff_distance_in(const tensor<T>& a, const tensor<T>& b, const tensor<T>& roi,
                                           const hausdorff_options& o = {}) {
    if (roi.shape() != a.shape() || b.shape() != a.shape())
        throw std::invalid_argument("hausdorff_distance_in: masks " + a.shape().str() + ", " + b.shape().str() +
                                    " and region mask " + roi.shape().str() + " must have one shape");
    tensor<T> ra = a, rb = b;
    for (std::size_t i = 0; i < roi.size(); ++i)
        if (!(static_cast<double>(roi[i]) > o.threshold)) ra[i] = T(0), rb[i] = T(0);
    return hausdorff_distance(ra, rb, o);
}

/// HD95 of two single masks (percentile 95, other options default).
template <class T>
[[nodiscard]] double hausdorff95(const tensor<T>& a, const tensor<T>& b, double threshold = 0.5) {
    hausdorff_options o;
    o.threshold = threshold;
    return hausdorff_distance(a, b, o);
}

/// One distance per image of two [N, 1, H, W] batches (prediction and target masks or
/// probabilities, binarised at o.threshold).
template <class T>
[[nodiscard]] std::vector<double> hausdorff_per_image(const tensor<T>& a, const tensor<T>& b,
                                                      const hausdorff_options& o = {}) {
    const shape4 s = a.shape();
    if (b.shape() != s)
        throw std::invalid_argument("hausdorff_per_image: masks " + s.str() + " and " + b.shape().str() +
                                    " differ in shape");
    if (s.c != 1) throw std::invalid_argument("hausdorff_per_image: masks " + s.str() + " must have one channel");
    std::vector<double> out;
    const std::size_t per = s.plane();
    std::vector<char> ma(per), mb(per);
    for (int n = 0; n < s.n; ++n) {
        for (std::size_t i = 0; i < per; ++i) {
            ma[i] = static_cast<double>(a[n * per + i]) > o.threshold;
            mb[i] = static_cast<double>(b[n * per + i]) > o.threshold;
        }
        out.push_back(hausdorff_distance(ma, mb, s.h, s.w, o));
    }
    return out;
}

}  // namespace unetpp::metrics
