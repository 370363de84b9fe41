// The learning curves as a raster picture, drawn by this project's own small rasteriser
// (canvas.hpp, font.hpp): the same two panels, whole-epoch ticks, axis labels and legend as the
// SVG of curves.hpp, at `scale` times its 900 x 380 size (default 2, for sharp text). The programs
// encode the canvas as PNG. Standard library only. Tests: tests/unit/report/test_report_pictures.cpp.
#pragma once

#include <string>
#include <vector>

#include "canvas.hpp"
#include "curves.hpp"
#include "font.hpp"

namespace report {

/// One panel at (x0, y0), w x h pixels; `k` is the scale of lines and text.
inline void png_panel(canvas& cv, int x0, int y0, int w, int h, const panel_spec& p, int k) {
    const int ts = k;  // text scale: 5 x 7 glyphs times k
    font::draw_text(cv, x0 + w / 2 - font::text_width(p.title, ts + 1) / 2, y0 - 10 * k - font::text_height(ts + 1),
                    p.title, colors::black, ts + 1);
    const axes a = axes_of(p);
    if (a.empty) {
        cv.stroke_rect(x0, y0, w, h, colors::frame);
        font::draw_text(cv, x0 + w / 2 - font::text_width("no data", ts) / 2, y0 + h / 2, "no data", colors::black, ts);
        return;
    }
    const auto X = [&](double x) { return x0 + (x - a.xmin) / (a.xmax - a.xmin) * w; };
    const auto Y = [&](double y) { return y0 + h - (y - a.ymin) / (a.ymax - a.ymin) * h; };
    int widest = 0;
    for (const double yv : a.yticks) {
        const int y = static_cast<int>(std::lround(Y(yv)));
        cv.fill_rect(x0, y, w, 1, colors::grid);
        const std::string t = tick_label(yv, false);
        widest = std::max(widest, font::text_width(t, ts));
        font::draw_text(cv, x0 - 6 * k - font::text_width(t, ts), y - font::text_height(ts) / 2, t, colors::black, ts);
    }
    for (const double xv : a.xticks) {
        const int x = static_cast<int>(std::lround(X(xv)));
        cv.fill_rect(x, y0 + h, std::max(1, k / 2), 4 * k, colors::frame);
        const std::string t = tick_label(xv, true);
        font::draw_text(cv, x - font::text_width(t, ts) / 2, y0 + h + 7 * k, t, colors::black, ts);
    }
    cv.stroke_rect(x0, y0, w, h, colors::frame);
    font::draw_text(cv, x0 + w / 2 - font::text_width("epoch", ts) / 2, y0 + h + 24 * k, "epoch", colors::black, ts);
    font::draw_text_up(cv, x0 - 12 * k - widest - font::text_height(ts),
                       y0 + h / 2 - font::text_width(p.y_label, ts) / 2, p.y_label, colors::black, ts);
    for (const auto& s : p.curves) {
        for (std::size_t i = 1; i < s.pts.size(); ++i)
            cv.line(X(s.pts[i - 1].first), Y(s.pts[i - 1].second), X(s.pts[i].first), Y(s.pts[i].second), s.color, k);
        for (auto [x, y] : s.pts) cv.dot(X(x), Y(y), 2.5 * k, s.color);
    }
    // the legend on a white box, over the curves
    int shown = 0, longest = 0;
    for (const auto& s : p.curves)
        if (!s.pts.empty()) ++shown, longest = std::max(longest, font::text_width(s.name, ts));
    const int lx = x0 + w - 40 * k - longest;
    const int box_h = 16 * k * shown + 4 * k;
    const int top = legend_below(p, a) ? y0 + h - 4 * k - box_h : y0 + 4 * k;
    if (shown > 0) {
        cv.fill_rect(lx - 6 * k, top, longest + 40 * k, box_h, colors::white);
        cv.stroke_rect(lx - 6 * k, top, longest + 40 * k, box_h, colors::grid);
    }
    int row = 0;
    for (const auto& s : p.curves) {
        if (s.pts.empty()) continue;
        const int ly = top + 6 * k + 16 * k * row++;
        cv.fill_rect(lx, ly + font::text_height(ts) / 2 - k / 2, 20 * k, std::max(1, k), s.color);
        font::draw_text(cv, lx + 25 * k, ly, s.name, colors::black, ts);
    }
}

/// The curves picture: the title on top, the panels side by side (see the file comment).
inline canvas png_curves(const std::string& title, const std::vector<panel_spec>& panels, int k = 2) {
    if (k < 1 || k > 8) throw std::invalid_argument("png_curves: scale " + std::to_string(k) + " is outside 1 to 8");
    canvas cv(900 * k, 380 * k, colors::white);
    const std::string shown = title.size() > 120 ? title.substr(0, 117) + "..." : title;
    font::draw_text(cv, 450 * k - font::text_width(shown, k + 1) / 2, 10 * k, shown, colors::black, k + 1);
    for (std::size_t i = 0; i < panels.size() && i < 2; ++i)
        png_panel(cv, (i ? 520 : 80) * k, 60 * k, 340 * k, 260 * k, panels[i], k);
    return cv;
}

}  // namespace report
