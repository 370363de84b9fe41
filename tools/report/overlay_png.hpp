// The overlay picture of one evaluated image (overlay.hpp) from the library's tensors, as PNG bytes:
// what unetpp-evaluate --overlays writes as <image>_overlay.png.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <unetpp/io/image.hpp>

#include "encode.hpp"
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

}  // namespace report
