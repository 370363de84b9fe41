// Labelled comparison pictures of one image of a multi-class network (unetpp-evaluate --overlays
// for a run of more than two classes, or of label or palette masks): four panels side by side,
//     image | ground truth | prediction | overlay
// with the classes filled in their colours (the run's palette, or a fixed table; class 0 is
// drawn in its colour in the mask panels and left unfilled in the overlay). The overlay panel
// shows the image with the predicted classes filled translucently, pixels whose predicted class
// is wrong hatched in white, and the ground truth's class borders in white on top. A legend names
// every class beside its colour. Sizes as in overlay.hpp (enlarged up to 8x to 160 pixels,
// reduced to 384). Standard library only. Tests: tests/unit/report/test_report_pictures.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "font.hpp"
#include "overlay.hpp"

namespace report {

/// What one multi-class comparison picture is drawn from.
struct class_overlay_input {
    int width = 0, height = 0;
    int channels = 1;                      ///< of `pixels`: 1 (grey), 3 (RGB) or 4 (RGBA, alpha ignored)
    const std::uint8_t* pixels = nullptr;  ///< width * height * channels bytes, row-major
    std::vector<std::uint8_t> truth;       ///< width * height class indices (empty: no ground truth)
    std::vector<std::uint8_t> pred;        ///< width * height class indices
    std::vector<rgb> colours;              ///< colour k of class k, 2 to 256 of them
    std::vector<std::string> names;        ///< name k of class k (the legend), as many as colours
    std::string caption, note;             ///< top line and bottom line, as in overlay_input
};

namespace class_overlay_detail {

/// Pixels with a pixel of another class (not the image border) within `t` pixels.
inline std::vector<std::uint8_t> borders(const std::vector<std::uint8_t>& m, int w, int h, int t) {
    std::vector<std::uint8_t> o(m.size(), 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const std::uint8_t k = m[static_cast<std::size_t>(y) * w + x];
            bool edge = false;
            for (int dy = -t; dy <= t && !edge; ++dy)
                for (int dx = -t; dx <= t && !edge; ++dx) {
                    const int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    edge = m[static_cast<std::size_t>(yy) * w + xx] != k;
                }
            o[static_cast<std::size_t>(y) * w + x] = edge;
        }
    return o;
}

inline void check(const class_overlay_input& in) {
    if (in.width < 1 || in.height < 1 || in.width > canvas::max_side || in.height > canvas::max_side)
        throw std::invalid_argument("draw_class_overlay: image size " + std::to_string(in.width) + " x " +
                                    std::to_string(in.height) + " is outside 1 to " + std::to_string(canvas::max_side));
    if (in.channels != 1 && in.channels != 3 && in.channels != 4)
        throw std::invalid_argument("draw_class_overlay: an image of 1, 3 or 4 channels is drawn, not " +
                                    std::to_string(in.channels));
    if (in.colours.size() < 2 || in.colours.size() > 256 || in.names.size() != in.colours.size())
        throw std::invalid_argument("draw_class_overlay: give 2 to 256 class colours and one name for each (" +
                                    std::to_string(in.colours.size()) + " colours, " + std::to_string(in.names.size()) +
                                    " names)");
    const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
    if (!in.pixels || in.pred.size() != n || (!in.truth.empty() && in.truth.size() != n))
        throw std::invalid_argument("draw_class_overlay: the masks must have one byte per image pixel (" +
                                    std::to_string(n) + ")");
    const auto bad = [&](const std::vector<std::uint8_t>& m) {
        return std::any_of(m.begin(), m.end(), [&](std::uint8_t k) { return k >= in.colours.size(); });
    };
    if (bad(in.pred) || bad(in.truth))
        throw std::invalid_argument("draw_class_overlay: a mask holds a class without a colour (" +
                                    std::to_string(in.colours.size()) + " classes)");
}

}  // namespace class_overlay_detail

/// The four-panel picture (see the file comment).
inline canvas draw_class_overlay(const class_overlay_input& in) {
    using namespace overlay_detail;
    using namespace class_overlay_detail;
    check(in);
    const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
    const auto [dw, dh] = display_size(in.width, in.height);
    const panel_layout lay{.dw = dw, .dh = dh};
    const auto img = image_colours(in.pixels, n, in.channels);
    const bool has_truth = !in.truth.empty();
    const auto truth = has_truth ? resample(in.truth, in.width, in.height, dw, dh)
                                 : std::vector<std::uint8_t>(static_cast<std::size_t>(dw) * dh, 0);
    const auto pred = resample(in.pred, in.width, in.height, dw, dh);
    const auto edge = has_truth ? borders(truth, dw, dh, std::max(dw, dh) >= 300 ? 2 : 1)
                                : std::vector<std::uint8_t>(truth.size(), 0);

    const int margin = lay.margin, row_h = font::cell_h + 6, top = lay.top(), W = lay.width();
    const int K = static_cast<int>(in.colours.size());
    const int col_w = 240, columns = std::max(1, (W - 2 * margin) / col_w);
    const int keys = K + 2;  // the classes, the hatching, the borders
    const int legend_h = (keys + columns - 1) / columns * row_h + (in.note.empty() ? 0 : font::cell_h + 4);
    const int H = top + dh + 10 + legend_h + margin;
    const std::string note = cut(in.note, 200);
    canvas cv = picture_canvas(lay, H, cut(in.caption, 100), note);
    const char* panel_names[4] = {"image", has_truth ? "ground truth" : "no ground truth", "prediction", "overlay"};
    draw_panels(cv, lay, img, in.width, in.height, panel_names, [&](int p, int X, int Y, std::size_t d, rgb g) {
        if (p == 0) {
            cv.set(X, Y, g);
        } else if (p == 1) {
            cv.set(X, Y, has_truth ? in.colours[truth[d]] : colors::grid);
        } else if (p == 2) {
            cv.set(X, Y, in.colours[pred[d]]);
        } else {
            cv.set(X, Y, g);
            if (pred[d] != 0) cv.blend(X, Y, in.colours[pred[d]], 0.5);
            // hatching: every 4th diagonal of the panel (x + y in panel coordinates)
            const std::size_t x = d % static_cast<std::size_t>(dw), y = d / static_cast<std::size_t>(dw);
            if (has_truth && pred[d] != truth[d] && (x + y) % 4 == 0) cv.set(X, Y, colors::white);
            if (edge[d]) cv.set(X, Y, colors::white);
        }
    });
    // legend: every class beside its colour, then the overlay's marks
    const int ly = top + dh + 10;
    for (int k = 0; k < keys; ++k) {
        const int lx = margin + (k % columns) * col_w, yy = ly + (k / columns) * row_h;
        std::string text;
        if (k < K) {
            cv.fill_rect(lx, yy, 14, font::cell_h, in.colours[static_cast<std::size_t>(k)]);
            text = in.names[static_cast<std::size_t>(k)];
        } else {
            cv.fill_rect(lx, yy, 14, font::cell_h, colors::grid);
            for (int y = 0; y < font::cell_h; ++y)
                for (int x = 0; x < 14; ++x)
                    if (k == K ? (x + y) % 4 == 0 : y == font::cell_h / 2) cv.set(lx + x, yy + y, colors::white);
            text = k == K ? "overlay: wrong class (hatched)" : "overlay: true class borders (white)";
        }
        cv.stroke_rect(lx, yy, 14, font::cell_h, colors::frame);
        font::draw_text(cv, lx + 20, yy + 1, text.size() > 28 && k < K ? text.substr(0, 25) + "..." : text,
                        colors::black);
    }
    if (!note.empty())
        font::draw_text(cv, margin, ly + (keys + columns - 1) / columns * row_h + 2, note, colors::frame);
    return cv;
}

}  // namespace report
