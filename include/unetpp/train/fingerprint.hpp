#pragma once
/// \file The data set fingerprint and the measured speed of the machine: the two inputs of the
/// automatic training plan (plan.hpp).
///
///   auto ds = unetpp::data::busi("/data/busi");                      // images at their own size
///   double read_s = 0;
///   auto fp = unetpp::train::fingerprint_of(ds, {.classes = 1}, &read_s);
///   // fp.height.median, fp.all.p99_5, fp.foreground_fraction, fp.empty_mask_fraction, ...
///
///   unetpp::presets::unet_bn<16, 4> net(1);
///   double s = unetpp::train::seconds_per_training_image(net, 1, 64, 2);  // a few timed steps
///
/// The fingerprint reads at most `fingerprint_options::max_images` samples, spread evenly over
/// the data set (sample k of m is image floor(k * n / m)), and pools at most
/// `max_pixels_per_image` pixel values of each into the intensity statistics (a regular grid of
/// pixels), so it costs a bounded number of decodes on a data set of any size. Everything in it is
/// a function of the data set alone: the same data gives the same fingerprint. The time one read
/// takes is the machine's, not the data's, and is returned apart from it.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../config/abi.hpp"
#include "../data/dataset.hpp"
#include "../optim/adam.hpp"
#include "../tensor/rng.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI::train {

/// The median, smallest and largest of one image dimension, in pixels.
struct size_stats {
    int median = 0, min = 0, max = 0;
};

/// Intensity statistics of image values (decoded as pixel / 255, so in [0, 1]).
struct intensity_stats {
    double mean = 0, std = 0;
    double p00_5 = 0, p99_5 = 0;  ///< the 0.5th and 99.5th percentiles
    std::size_t values = 0;       ///< how many pixel values were pooled (0: none, statistics 0)
};

/// What the planner needs to know about a data set (see the file comment).
struct data_fingerprint {
    std::size_t images = 0;   ///< samples in the data set
    std::size_t sampled = 0;  ///< samples read for the statistics below
    size_stats height, width;
    int channels = 0;
    /// Classes as the training sees them: 1 = one foreground class (sigmoid), N >= 2 = N classes
    /// with background as class 0 (softmax). Given by the caller (fingerprint_options::classes)
    /// or, when 0 there, counted from the masks (largest value + 1; 0/1 masks count as 1).
    int classes = 0;
    intensity_stats all;         ///< over every pooled pixel
    intensity_stats foreground;  ///< over the pooled pixels whose mask is not background
    double foreground_fraction = 0;         ///< foreground pixels / pixels, over the sampled images
    double foreground_fraction_median = 0;  ///< the median over images of each image's fraction
    double foreground_fraction_min = 0, foreground_fraction_max = 0;
    double empty_mask_fraction = 0;  ///< share of the sampled images whose mask is all background
};

struct fingerprint_options {
    std::size_t max_images = 256;             ///< samples read (spread evenly); 0 is refused
    std::size_t max_pixels_per_image = 4096;  ///< pixel values pooled per image (a regular grid)
    int classes = 0;                          ///< the training's classes (0: count them from the masks)
};

namespace fingerprint_detail {

inline int median_of(std::vector<int> v) {
    if (v.empty()) return 0;
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

inline double median_of(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// The q-quantile (0..1) of v by the nearest-rank rule on the sorted values.
inline double quantile(std::vector<float>& sorted, double q) {
    if (sorted.empty()) return 0;
    const auto k = static_cast<std::size_t>(std::llround(q * static_cast<double>(sorted.size() - 1)));
    return static_cast<double>(sorted[std::min(k, sorted.size() - 1)]);
}

inline intensity_stats stats_of(std::vector<float> v) {
    intensity_stats s;
    s.values = v.size();
    if (v.empty()) return s;
    double sum = 0, sq = 0;
    for (const float x : v) sum += x;
    s.mean = sum / static_cast<double>(v.size());
    for (const float x : v) sq += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(sq / static_cast<double>(v.size()));
    std::sort(v.begin(), v.end());
    s.p00_5 = quantile(v, 0.005);
    s.p99_5 = quantile(v, 0.995);
    return s;
}

}  // namespace fingerprint_detail

/// The fingerprint of `ds` (see the file comment). `seconds_per_read`, when given, receives the
/// mean wall time of one `ds.get(i)` (the machine's cost of reading a sample, which the planner
/// adds to every epoch). Throws std::invalid_argument for an empty data set, max_images 0, or a
/// sample whose mask and image differ in size.
template <data::Dataset D>
data_fingerprint fingerprint_of(const D& ds, const fingerprint_options& o = {}, double* seconds_per_read = nullptr) {
    using namespace fingerprint_detail;
    const std::size_t n = ds.size();
    if (n == 0) throw std::invalid_argument("fingerprint_of: the data set is empty");
    if (o.max_images == 0 || o.max_pixels_per_image == 0)
        throw std::invalid_argument("fingerprint_of: max_images and max_pixels_per_image must be at least 1");
    const std::size_t m = std::min(n, o.max_images);
    data_fingerprint fp;
    fp.images = n;
    fp.sampled = m;
    std::vector<int> hs, ws;
    std::vector<double> fractions;
    std::vector<float> all, fg;
    double fg_pixels = 0, pixels = 0;
    std::size_t empty = 0;
    float largest_label = 0;
    double read_seconds = 0;
    for (std::size_t k = 0; k < m; ++k) {
        const std::size_t i = static_cast<std::size_t>((static_cast<unsigned long long>(k) * n) / m);
        const auto t0 = std::chrono::steady_clock::now();
        const data::sample s = ds.get(i);
        read_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const shape4 is = s.image.shape(), ms = s.mask.shape();
        if (ms.h != is.h || ms.w != is.w)
            throw std::invalid_argument("fingerprint_of: sample " + std::to_string(i) + " has a " + ms.str() +
                                        " mask for a " + is.str() + " image");
        hs.push_back(is.h);
        ws.push_back(is.w);
        fp.channels = std::max(fp.channels, is.c);
        const std::size_t plane = static_cast<std::size_t>(is.h) * static_cast<std::size_t>(is.w);
        std::size_t on = 0;
        for (std::size_t p = 0; p < plane; ++p) {
            const float v = s.mask.data()[p];
            if (v > 0.5f) ++on;
            largest_label = std::max(largest_label, v);
        }
        const double f = plane ? static_cast<double>(on) / static_cast<double>(plane) : 0.0;
        fractions.push_back(f);
        if (on == 0) ++empty;
        fg_pixels += static_cast<double>(on);
        pixels += static_cast<double>(plane);
        // a regular grid of at most max_pixels_per_image pixels, every channel of each
        const std::size_t stride = std::max<std::size_t>(1, (plane + o.max_pixels_per_image - 1) / o.max_pixels_per_image);
        for (std::size_t p = 0; p < plane; p += stride) {
            const bool is_fg = s.mask.data()[p] > 0.5f;
            for (int c = 0; c < is.c; ++c) {
                const float v = s.image.data()[static_cast<std::size_t>(c) * plane + p];
                all.push_back(v);
                if (is_fg) fg.push_back(v);
            }
        }
    }
    fp.height = {median_of(hs), *std::min_element(hs.begin(), hs.end()), *std::max_element(hs.begin(), hs.end())};
    fp.width = {median_of(ws), *std::min_element(ws.begin(), ws.end()), *std::max_element(ws.begin(), ws.end())};
    fp.all = stats_of(std::move(all));
    fp.foreground = stats_of(std::move(fg));
    fp.foreground_fraction = pixels > 0 ? fg_pixels / pixels : 0.0;
    fp.foreground_fraction_median = median_of(fractions);
    fp.foreground_fraction_min = *std::min_element(fractions.begin(), fractions.end());
    fp.foreground_fraction_max = *std::max_element(fractions.begin(), fractions.end());
    fp.empty_mask_fraction = static_cast<double>(empty) / static_cast<double>(m);
    const int counted = largest_label > 1.5f ? static_cast<int>(std::lround(largest_label)) + 1 : 1;
    fp.classes = o.classes > 0 ? o.classes : counted;
    if (seconds_per_read) *seconds_per_read = read_seconds / static_cast<double>(m);
    return fp;
}

/// Wall seconds per image of one training step of `net` (forward, a gradient of the size of the
/// output, backward, an Adam step) on random `channels` x `size` x `size` inputs in batches of
/// `batch`: one untimed warm-up step, then the fastest of `steps` timed ones (the fastest, since
/// other work on the machine only ever adds time). The network's weights change; measure on a
/// network made for measuring. Host networks (tensor<float> in and out).
template <class Net>
double seconds_per_training_image(Net& net, int channels, int size, int batch, int steps = 2) {
    if (channels < 1 || size < 1 || batch < 1 || steps < 1)
        throw std::invalid_argument("seconds_per_training_image: channels, size, batch and steps must be positive");
    tensor<float> x(shape4{batch, channels, size, size});
    rng r(12345);
    for (auto& v : x) v = static_cast<float>(r.uniform());
    static_assert(std::is_same_v<typename Net::tensor_type, tensor<float>>,
                  "seconds_per_training_image times host networks");
    optim::adam opt(net, {.lr = 1e-4});
    net.train(true);
    double best = 0;
    for (int k = 0; k <= steps; ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        net.zero_grad();
        const tensor<float>& out = net.forward(x);
        tensor<float> g(out.shape());
        const float scale = 1.0f / static_cast<float>(out.size());
        for (std::size_t i = 0; i < out.size(); ++i) g.data()[i] = out.data()[i] * scale;
        net.backward(x, g);
        opt.step();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (k == 1 || (k > 1 && s < best)) best = s;  // step 0 is the warm-up
    }
    return best / static_cast<double>(batch);
}

}  // namespace unetpp::train
