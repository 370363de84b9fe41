// An 8-bit RGB raster to draw report pictures on (overlays, PNG curves): clipped rectangles, lines,
// dots and translucent blending. Standard library only; the programs encode it as PNG with
// unetpp::io::encode_png (to_image in the tools). Tests: tests/unit/report/test_report_pictures.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace report {

struct rgb {
    std::uint8_t r = 0, g = 0, b = 0;
    friend bool operator==(const rgb&, const rgb&) = default;
};

/// The colours of the report pictures (chosen to stay apart for red-green colour blindness:
/// blue / orange / magenta rather than red / green alone).
namespace colors {
inline constexpr rgb white{255, 255, 255}, black{0, 0, 0}, grid{225, 225, 225}, frame{90, 90, 90};
inline constexpr rgb true_positive{255, 200, 0};    ///< predicted and true: yellow
inline constexpr rgb false_positive{230, 40, 200};  ///< predicted, not true: magenta
inline constexpr rgb false_negative{0, 170, 255};   ///< true, not predicted: cyan
inline constexpr rgb truth_contour{0, 230, 80};     ///< ground-truth outline: green
inline constexpr rgb prediction{255, 140, 0};       ///< prediction panel fill: orange
}  // namespace colors

class canvas {
public:
    static constexpr int max_side = 16384;

    canvas(int w, int h, rgb background = colors::white) : w_(w), h_(h) {
        if (w < 1 || h < 1 || w > max_side || h > max_side)
            throw std::invalid_argument("canvas: size " + std::to_string(w) + " x " + std::to_string(h) +
                                        " is outside 1 to " + std::to_string(max_side) + " per side");
        px_.resize(static_cast<std::size_t>(w) * h * 3);
        for (std::size_t i = 0; i < px_.size(); i += 3)
            px_[i] = background.r, px_[i + 1] = background.g, px_[i + 2] = background.b;
    }

    [[nodiscard]] int width() const noexcept { return w_; }
    [[nodiscard]] int height() const noexcept { return h_; }
    /// Row-major RGB bytes, 3 per pixel.
    [[nodiscard]] const std::vector<std::uint8_t>& pixels() const noexcept { return px_; }
    [[nodiscard]] bool inside(int x, int y) const noexcept { return x >= 0 && y >= 0 && x < w_ && y < h_; }

    [[nodiscard]] rgb get(int x, int y) const {
        const std::size_t i = index(x, y);
        return {px_[i], px_[i + 1], px_[i + 2]};
    }
    /// Sets one pixel; outside the canvas nothing happens.
    void set(int x, int y, rgb c) noexcept {
        if (!inside(x, y)) return;
        const std::size_t i = index(x, y);
        px_[i] = c.r, px_[i + 1] = c.g, px_[i + 2] = c.b;
    }
    /// Mixes `c` into one pixel with weight alpha in [0, 1] (rounded to the nearest byte).
    void blend(int x, int y, rgb c, double alpha) noexcept {
        if (!inside(x, y)) return;
        const std::size_t i = index(x, y);
        const double a = std::clamp(alpha, 0.0, 1.0);
        const auto mix = [a](std::uint8_t old, std::uint8_t v) {
            return static_cast<std::uint8_t>(std::lround(old * (1.0 - a) + v * a));
        };
        px_[i] = mix(px_[i], c.r), px_[i + 1] = mix(px_[i + 1], c.g), px_[i + 2] = mix(px_[i + 2], c.b);
    }
    /// A filled rectangle, clipped to the canvas.
    void fill_rect(int x, int y, int w, int h, rgb c) noexcept {
        const int x0 = std::max(x, 0), y0 = std::max(y, 0);
        const int x1 = static_cast<int>(std::min<long>(static_cast<long>(x) + w, w_));
        const int y1 = static_cast<int>(std::min<long>(static_cast<long>(y) + h, h_));
        for (int yy = y0; yy < y1; ++yy)
            for (int xx = x0; xx < x1; ++xx) set(xx, yy, c);
    }
    /// A one-pixel rectangle outline.
    void stroke_rect(int x, int y, int w, int h, rgb c) noexcept {
        fill_rect(x, y, w, 1, c), fill_rect(x, y + h - 1, w, 1, c);
        fill_rect(x, y, 1, h, c), fill_rect(x + w - 1, y, 1, h, c);
    }
    /// A straight line of `width` pixels (Bresenham, each point stamped as a width x width square);
    /// `dash` > 0 draws dashes of that many steps with equal gaps.
    void line(double fx0, double fy0, double fx1, double fy1, rgb c, int width = 1, int dash = 0) noexcept {
        if (!std::isfinite(fx0) || !std::isfinite(fy0) || !std::isfinite(fx1) || !std::isfinite(fy1)) return;
        const auto clampc = [](double v) { return static_cast<int>(std::lround(std::clamp(v, -1e6, 1e6))); };
        int x0 = clampc(fx0), y0 = clampc(fy0);
        const int x1 = clampc(fx1), y1 = clampc(fy1);
        const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
        int err = dx + dy;
        const int off = (width - 1) / 2;
        for (long step = 0;; ++step) {
            if (dash <= 0 || (step / dash) % 2 == 0) fill_rect(x0 - off, y0 - off, width, width, c);
            if (x0 == x1 && y0 == y1) break;
            const int e2 = 2 * err;
            if (e2 >= dy) err += dy, x0 += sx;
            if (e2 <= dx) err += dx, y0 += sy;
        }
    }
    /// A filled disc of radius r around (cx, cy).
    void dot(double cx, double cy, double r, rgb c) noexcept {
        if (!std::isfinite(cx) || !std::isfinite(cy)) return;
        const int x0 = static_cast<int>(std::floor(cx - r)), x1 = static_cast<int>(std::ceil(cx + r));
        const int y0 = static_cast<int>(std::floor(cy - r)), y1 = static_cast<int>(std::ceil(cy + r));
        for (int y = y0; y <= y1; ++y)
            for (int x = x0; x <= x1; ++x)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) set(x, y, c);
    }
    /// Copies another canvas with its top-left corner at (x, y), clipped.
    void paste(const canvas& o, int x, int y) noexcept {
        for (int yy = 0; yy < o.height(); ++yy)
            for (int xx = 0; xx < o.width(); ++xx) set(x + xx, y + yy, o.get(xx, yy));
    }

private:
    [[nodiscard]] std::size_t index(int x, int y) const noexcept {
        return (static_cast<std::size_t>(y) * static_cast<std::size_t>(w_) + static_cast<std::size_t>(x)) * 3;
    }
    int w_, h_;
    std::vector<std::uint8_t> px_;
};

}  // namespace report
