// Labelled comparison pictures of one image: four panels side by side,
//     image | ground truth | prediction | overlay
// each with its name drawn above it, a caption line (the image's name and scores) on top, and a
// legend below. Masks are 0/1 with 1 = the class the model predicts (the foreground of the run's
// recorded mask polarity: the data readers already apply it, e.g. ISBI 2012's inverted labels),
// so ground truth and prediction are always drawn in the same polarity: foreground white on black.
// The overlay panel shows the grey image with true positives (yellow), false positives
// (magenta) and false negatives (cyan) filled translucently, and the ground-truth outline in
// green on top. Images under 160 pixels are enlarged by the largest whole factor (up to 8) that
// keeps the longer side at most 160, images over 384 reduced to 384 (both nearest neighbour).
// Standard library only (canvas.hpp, font.hpp). Tests: tests/unit/report/test_report_pictures.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "canvas.hpp"
#include "font.hpp"

namespace report {

/// What one comparison picture is drawn from.
struct overlay_input {
    int width = 0, height = 0;
    int channels = 1;                      ///< of `pixels`: 1 (grey), 3 (RGB) or 4 (RGBA, alpha ignored)
    const std::uint8_t* pixels = nullptr;  ///< width * height * channels bytes, row-major
    std::vector<std::uint8_t> truth;       ///< width * height, 1 = foreground (empty: no ground truth)
    std::vector<std::uint8_t> pred;        ///< width * height, 1 = foreground
    std::string caption;                   ///< top line, e.g. "case_12   Dice 0.912"
    std::string note;                      ///< bottom line, e.g. the mask polarity of the run
};

/// Pixel counts of the overlay's three colours.
struct overlay_counts {
    std::size_t true_positive = 0, false_positive = 0, false_negative = 0;
};

inline overlay_counts count_overlay(const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& pred) {
    overlay_counts c;
    for (std::size_t i = 0; i < pred.size(); ++i) {
        const bool t = !truth.empty() && truth[i], p = pred[i] != 0;
        c.true_positive += t && p, c.false_positive += !t && p, c.false_negative += t && !p;
    }
    return c;
}

namespace overlay_detail {

/// The display size of a w x h panel (see the file comment).
inline std::pair<int, int> display_size(int w, int h) {
    const int longer = std::max(w, h);
    if (longer < 160) {
        const int k = std::min(8, std::max(1, 160 / longer));
        return {w * k, h * k};
    }
    if (longer > 384)
        return {std::max(1, static_cast<int>(static_cast<long>(w) * 384 / longer)),
                std::max(1, static_cast<int>(static_cast<long>(h) * 384 / longer))};
    return {w, h};
}

/// Samples a w x h byte plane at display size (nearest neighbour).
inline std::vector<std::uint8_t> resample(const std::vector<std::uint8_t>& m, int w, int h, int dw, int dh) {
    std::vector<std::uint8_t> o(static_cast<std::size_t>(dw) * dh);
    for (int y = 0; y < dh; ++y) {
        const int sy = static_cast<int>(static_cast<long>(y) * h / dh);
        for (int x = 0; x < dw; ++x)
            o[static_cast<std::size_t>(y) * dw + x] =
                m[static_cast<std::size_t>(sy) * w + static_cast<long>(x) * w / dw];
    }
    return o;
}

/// Foreground pixels with a background pixel (or the outside) within `t` pixels: the outline,
/// `t` pixels thick, drawn inside the region.
inline std::vector<std::uint8_t> outline(const std::vector<std::uint8_t>& m, int w, int h, int t) {
    std::vector<std::uint8_t> o(m.size(), 0);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            if (!m[static_cast<std::size_t>(y) * w + x]) continue;
            bool edge = false;
            for (int dy = -t; dy <= t && !edge; ++dy)
                for (int dx = -t; dx <= t && !edge; ++dx) {
                    const int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;  // the image border is no outline
                    edge = !m[static_cast<std::size_t>(yy) * w + xx];
                }
            o[static_cast<std::size_t>(y) * w + x] = edge;
        }
    return o;
}

/// The image's pixels as colours: grey replicated, alpha ignored.
inline std::vector<rgb> image_colours(const std::uint8_t* pixels, std::size_t n, int channels) {
    std::vector<rgb> img(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = pixels + i * channels;
        img[i] = channels == 1 ? rgb{p[0], p[0], p[0]} : rgb{p[0], p[1], p[2]};
    }
    return img;
}

/// `s` cut to `max` characters, the cut marked with "..." (captions and notes come from
/// untrusted file names).
inline std::string cut(const std::string& s, std::size_t max) {
    return s.size() > max ? s.substr(0, max - 3) + "..." : s;
}

/// The layout both pictures share: `margin` around, `gap` between the four dw x dh panels, each
/// named above it, below a caption line at `label_scale`.
struct panel_layout {
    static constexpr int label_scale = 2, gap = 10, margin = 12;
    int dw = 0, dh = 0;
    [[nodiscard]] int top() const {
        return margin + font::text_height(label_scale) + 8 + font::text_height(label_scale) + 6;
    }
    [[nodiscard]] int width() const { return 2 * margin + 4 * dw + 3 * gap; }
};

/// A canvas for the picture: the layout's width (or the caption's or the note's, when wider) by
/// `height`, with the caption drawn on top.
inline canvas picture_canvas(const panel_layout& l, int height, const std::string& caption, const std::string& note) {
    canvas cv(std::max({l.width(), 2 * l.margin + font::text_width(note) + 1,
                        2 * l.margin + font::text_width(caption, l.label_scale) + 1}),
              height, colors::white);
    font::draw_text(cv, l.margin, l.margin, caption, colors::black, l.label_scale);
    return cv;
}

/// Draws the four named panels: paint(p, X, Y, d, g) colours canvas pixel (X, Y) of panel p,
/// where d is the pixel's index at display size and g the image's colour there (nearest
/// neighbour from the w x h image `img`); then frames each panel.
template <class Paint>
void draw_panels(canvas& cv, const panel_layout& l, const std::vector<rgb>& img, int w, int h,
                 const char* const (&names)[4], Paint&& paint) {
    const int top = l.top();
    for (int p = 0; p < 4; ++p) {
        const int x0 = l.margin + p * (l.dw + l.gap);
        font::draw_text(cv, x0, top - font::text_height(l.label_scale) - 6, names[p], colors::black, l.label_scale);
        for (int y = 0; y < l.dh; ++y) {
            const int sy = static_cast<int>(static_cast<long>(y) * h / l.dh);
            for (int x = 0; x < l.dw; ++x) {
                const int sx = static_cast<int>(static_cast<long>(x) * w / l.dw);
                paint(p, x0 + x, top + y, static_cast<std::size_t>(y) * l.dw + x,
                      img[static_cast<std::size_t>(sy) * w + sx]);
            }
        }
        cv.stroke_rect(x0 - 1, top - 1, l.dw + 2, l.dh + 2, colors::frame);
    }
}

}  // namespace overlay_detail

/// The four-panel picture (see the file comment).
inline canvas draw_overlay(const overlay_input& in) {
    using namespace overlay_detail;
    if (in.width < 1 || in.height < 1 || in.width > canvas::max_side || in.height > canvas::max_side)
        throw std::invalid_argument("draw_overlay: image size " + std::to_string(in.width) + " x " +
                                    std::to_string(in.height) + " is outside 1 to " + std::to_string(canvas::max_side));
    if (in.channels != 1 && in.channels != 3 && in.channels != 4)
        throw std::invalid_argument("draw_overlay: an image of 1, 3 or 4 channels is drawn, not " +
                                    std::to_string(in.channels));
    const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
    if (!in.pixels || in.pred.size() != n || (!in.truth.empty() && in.truth.size() != n))
        throw std::invalid_argument("draw_overlay: the masks must have one byte per image pixel (" + std::to_string(n) +
                                    ")");
    const auto [dw, dh] = display_size(in.width, in.height);
    const panel_layout lay{.dw = dw, .dh = dh};
    const auto img = image_colours(in.pixels, n, in.channels);
    // the masks are sampled at display size (nearest neighbour), as the image is
    const auto truth = in.truth.empty() ? std::vector<std::uint8_t>(static_cast<std::size_t>(dw) * dh, 0)
                                        : resample(in.truth, in.width, in.height, dw, dh);
    const auto pred = resample(in.pred, in.width, in.height, dw, dh);
    const auto edge = outline(truth, dw, dh, std::max(dw, dh) >= 300 ? 2 : 1);

    const int margin = lay.margin, top = lay.top(), W = lay.width();
    const int legend_h = 3 * (font::cell_h + 6) + (in.note.empty() ? 0 : font::cell_h + 4);
    const int H = top + dh + 10 + legend_h + margin;
    const std::string note = cut(in.note, 200);
    canvas cv = picture_canvas(lay, H, cut(in.caption, 100), note);
    const char* names[4] = {"image", in.truth.empty() ? "no ground truth" : "ground truth", "prediction", "overlay"};
    draw_panels(cv, lay, img, in.width, in.height, names, [&](int p, int X, int Y, std::size_t d, rgb g) {
        if (p == 0)
            cv.set(X, Y, g);
        else if (p == 1)
            cv.set(X, Y, truth[d] ? colors::white : (in.truth.empty() ? colors::grid : colors::black));
        else if (p == 2)
            cv.set(X, Y, pred[d] ? colors::white : colors::black);
        else {
            cv.set(X, Y, g);
            if (truth[d] && pred[d])
                cv.blend(X, Y, colors::true_positive, 0.45);
            else if (pred[d])
                cv.blend(X, Y, colors::false_positive, 0.55);
            else if (truth[d])
                cv.blend(X, Y, colors::false_negative, 0.55);
            if (edge[d]) cv.set(X, Y, colors::truth_contour);
        }
    });
    // legend: the overlay's colours, in two columns
    const struct {
        rgb c;
        const char* text;
    } keys[] = {{colors::true_positive, "true positive (predicted and true)"},
                {colors::false_positive, "false positive (predicted only)"},
                {colors::false_negative, "false negative (missed)"},
                {colors::truth_contour, "ground-truth outline"},
                {colors::white, "masks: white = foreground (the predicted class)"}};
    int ly = top + dh + 10;
    const int col_w = std::max(W / 2, 260);
    for (int k = 0; k < 5; ++k) {
        const int lx = margin + (k % 2) * col_w, yy = ly + (k / 2) * (font::cell_h + 6);
        cv.fill_rect(lx, yy, 14, font::cell_h, keys[k].c);
        cv.stroke_rect(lx, yy, 14, font::cell_h, colors::frame);
        font::draw_text(cv, lx + 20, yy + 1, keys[k].text, colors::black);
    }
    if (!note.empty()) font::draw_text(cv, margin, ly + 3 * (font::cell_h + 6) + 2, note, colors::frame);
    return cv;
}

}  // namespace report
