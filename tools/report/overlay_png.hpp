// The overlay picture of one evaluated image (overlay.hpp; class_overlay.hpp for multi-class runs)
// from the library's tensors, as PNG bytes: what unetpp-evaluate --overlays writes as
// <image>_overlay.png.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <unetpp/io/image.hpp>

#include "encode.hpp"
#include "class_overlay.hpp"
#include "overlay.hpp"

namespace report {

/// `image` [1, C, H, W] in [0, 1] (channel 0 is drawn when C is not 1, 3 or 4); `truth` and `pred`
/// [1, 1, H, W], foreground where > 0.5 (truth may be empty: no ground truth).
inline std::vector<unsigned char> overlay_png(const unetpp::tensor<float>& image, const unetpp::tensor<float>& truth,
                                              const unetpp::tensor<float>& pred, const std::string& caption,
                                              const std::string& note) {
    const auto s = image.shape();
    const int c = s.c;
    const unetpp::io::image img = unetpp::io::from_tensor(image, 0, c == 1 || c == 3 || c == 4 ? -1 : 0);
    const std::size_t n = static_cast<std::size_t>(s.h) * s.w;
    const auto plane = [&](const unetpp::tensor<float>& t, const char* what) {
        const auto ts = t.shape();
        if (ts.h != s.h || ts.w != s.w)
            throw std::invalid_argument(std::string("overlay_png: the ") + what + " is " + std::to_string(ts.w) +
                                        " x " + std::to_string(ts.h) + ", the image " + std::to_string(s.w) + " x " +
                                        std::to_string(s.h));
        std::vector<std::uint8_t> m(n);
        for (std::size_t i = 0; i < n; ++i) m[i] = t.data()[i] > 0.5f;
        return m;
    };
    overlay_input in;
    in.width = s.w, in.height = s.h, in.channels = img.channels, in.pixels = img.pixels.data();
    if (truth.size() > 0) in.truth = plane(truth, "ground truth");
    in.pred = plane(pred, "prediction");
    in.caption = caption, in.note = note;
    return encode_png(draw_overlay(in));
}

/// The multi-class picture: `image` as above; `truth` and `pred` [1, 1, H, W] class indices
/// (truth may be empty); colour k and name k for class k.
inline std::vector<unsigned char> class_overlay_png(const unetpp::tensor<float>& image,
                                                    const unetpp::tensor<float>& truth,
                                                    const unetpp::tensor<float>& pred, std::vector<rgb> colours,
                                                    std::vector<std::string> names, const std::string& caption,
                                                    const std::string& note) {
    const auto s = image.shape();
    const int c = s.c;
    const unetpp::io::image img = unetpp::io::from_tensor(image, 0, c == 1 || c == 3 || c == 4 ? -1 : 0);
    const std::size_t n = static_cast<std::size_t>(s.h) * s.w;
    const auto plane = [&](const unetpp::tensor<float>& t, const char* what) {
        const auto ts = t.shape();
        if (ts.h != s.h || ts.w != s.w || ts.c != 1)
            throw std::invalid_argument(std::string("class_overlay_png: the ") + what + " is " + ts.str() +
                                        ", the image " + s.str() + "; give one class index per pixel");
        std::vector<std::uint8_t> m(n);
        for (std::size_t i = 0; i < n; ++i) {
            const float v = t.data()[i];
            if (!(v >= 0.0f && v < static_cast<float>(colours.size())))
                throw std::invalid_argument(std::string("class_overlay_png: the ") + what + " holds " +
                                            std::to_string(v) + ", not a class index 0 to " +
                                            std::to_string(colours.size() - 1));
            m[i] = static_cast<std::uint8_t>(v);
        }
        return m;
    };
    class_overlay_input in;
    in.width = s.w, in.height = s.h, in.channels = img.channels, in.pixels = img.pixels.data();
    if (truth.size() > 0) in.truth = plane(truth, "ground truth");
    in.pred = plane(pred, "prediction");
    in.colours = std::move(colours), in.names = std::move(names);
    in.caption = caption, in.note = note;
    return encode_png(draw_class_overlay(in));
}

}  // namespace report
