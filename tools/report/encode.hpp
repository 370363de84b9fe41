// A report canvas as PNG bytes, through the library's PNG encoder (unetpp/io/image.hpp). Kept apart
// so that canvas.hpp, font.hpp, overlay.hpp and plot_png.hpp stay standard-library only.
#pragma once

#include <string>
#include <vector>

#include <unetpp/io/image.hpp>

#include "canvas.hpp"

namespace report {

inline std::vector<unsigned char> encode_png(const canvas& cv) {
    unetpp::io::image img(cv.width(), cv.height(), 3);
    img.pixels = cv.pixels();
    return unetpp::io::encode_png(img);
}

inline std::string as_string(const std::vector<unsigned char>& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace report
