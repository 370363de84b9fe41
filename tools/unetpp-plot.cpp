// unetpp-plot: draws the curves of an epoch log (log.csv of unetpp-train) as a self-contained
// SVG file: losses on the left, Dice / IoU on the right. No dependencies.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"

namespace {

using namespace cli;

const char* help_text = R"(usage: unetpp-plot --log run/log.csv --out curves.svg [--title TEXT] [--overwrite]

Reads the per-epoch log written by unetpp-train (columns epoch, train_loss, val_loss, val_dice,
val_iou, val_pixel_error, lr, seconds; any subset after epoch is accepted, "nan" cells are skipped) and writes
an SVG with two panels: train and validation loss, and validation Dice and IoU, against the
epoch. The file is written atomically. An existing --out file is refused unless --overwrite is
given (then only that file is replaced). Exit code 2 on bad input (missing or malformed log, or an
output that exists).
)";

struct series {
    std::string name, color;
    std::vector<std::pair<double, double>> pts;
};

std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) o += c == '<' ? std::string("&lt;") : c == '>' ? std::string("&gt;") : c == '&' ? std::string("&amp;") : std::string(1, c);
    return o;
}

/// One panel at (x0, y0) of size w x h.
std::string panel(double x0, double y0, double w, double h, const std::string& title, const std::vector<series>& ss) {
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
    for (const auto& s : ss)
        for (auto [x, y] : s.pts) xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    std::string o = "<g>\n<text x=\"" + num(x0 + w / 2) + "\" y=\"" + num(y0 - 10) +
                    "\" text-anchor=\"middle\" font-size=\"14\">" + esc(title) + "</text>\n";
    o += "<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
         "\" fill=\"none\" stroke=\"#444\"/>\n";
    if (xmin > xmax) return o + "<text x=\"" + num(x0 + w / 2) + "\" y=\"" + num(y0 + h / 2) + "\" text-anchor=\"middle\">no data</text>\n</g>\n";
    if (xmax == xmin) xmin -= 0.5, xmax += 0.5;
    if (ymax == ymin) ymin -= 0.5, ymax += 0.5;
    const double pad = (ymax - ymin) * 0.05;
    ymin -= pad, ymax += pad;
    const auto X = [&](double x) { return x0 + (x - xmin) / (xmax - xmin) * w; };
    const auto Y = [&](double y) { return y0 + h - (y - ymin) / (ymax - ymin) * h; };
    for (int i = 0; i <= 4; ++i) {  // grid and tick labels
        const double yv = ymin + (ymax - ymin) * i / 4, xv = xmin + (xmax - xmin) * i / 4;
        o += "<line x1=\"" + num(x0) + "\" x2=\"" + num(x0 + w) + "\" y1=\"" + num(Y(yv)) + "\" y2=\"" + num(Y(yv)) +
             "\" stroke=\"#ddd\"/>\n";
        o += "<text x=\"" + num(x0 - 6) + "\" y=\"" + num(Y(yv) + 4) + "\" text-anchor=\"end\" font-size=\"11\">" +
             num(std::round(yv * 1000) / 1000) + "</text>\n";
        o += "<text x=\"" + num(X(xv)) + "\" y=\"" + num(y0 + h + 16) + "\" text-anchor=\"middle\" font-size=\"11\">" +
             num(std::round(xv * 10) / 10) + "</text>\n";
    }
    o += "<text x=\"" + num(x0 + w / 2) + "\" y=\"" + num(y0 + h + 34) + "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n";
    int k = 0;
    for (const auto& s : ss) {
        if (s.pts.empty()) continue;
        std::string pts;
        for (auto [x, y] : s.pts) pts += num(X(x)) + "," + num(Y(y)) + " ";
        o += "<polyline fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
        for (auto [x, y] : s.pts)
            o += "<circle cx=\"" + num(X(x)) + "\" cy=\"" + num(Y(y)) + "\" r=\"2.5\" fill=\"" + s.color + "\"/>\n";
        const double ly = y0 + 16 + 16 * k++;
        o += "<line x1=\"" + num(x0 + w - 110) + "\" x2=\"" + num(x0 + w - 90) + "\" y1=\"" + num(ly - 4) + "\" y2=\"" +
             num(ly - 4) + "\" stroke=\"" + s.color + "\" stroke-width=\"2\"/>\n";
        o += "<text x=\"" + num(x0 + w - 85) + "\" y=\"" + num(ly) + "\" font-size=\"12\">" + esc(s.name) + "</text>\n";
    }
    return o + "</g>\n";
}

int run(int argc, char** argv) {
    const args a(argc, argv, {"overwrite"}, {"log", "out", "title"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    const fs::path log = a.str("log"), out = a.str("out");
    if (log.empty() || out.empty()) throw usage_error("--log FILE and --out FILE are required (see --help)");
    const bool overwrite = a.has("overwrite");
    check_output_file(out, "--out", "unetpp-plot", overwrite);
    std::error_code ec;
    if (fs::equivalent(log, out, ec)) throw usage_error("--out names the --log file; give another name for the SVG");
    std::ifstream in(log);
    if (!in) throw usage_error("cannot read '" + log.string() + "'; give the log.csv that unetpp-train wrote");
    std::string line;
    if (!std::getline(in, line) || !line.starts_with("epoch"))
        throw usage_error("'" + log.string() + "' does not start with an 'epoch,...' header; is it an unetpp log.csv?");
    std::vector<std::string> cols;
    {
        std::stringstream ss(line);
        std::string c;
        while (std::getline(ss, c, ',')) cols.push_back(c);
    }
    const std::vector<std::pair<std::string, std::string>> style{
        {"train_loss", "#1f77b4"}, {"val_loss", "#d62728"}, {"val_dice", "#2ca02c"}, {"val_iou", "#9467bd"}};
    std::map<std::string, series> by;
    for (const auto& [n, c] : style) by[n] = {n, c, {}};
    int row = 1;
    while (std::getline(in, line)) {
        ++row;
        if (line.empty()) continue;
        std::stringstream ss(line);
        std::string cell;
        std::vector<double> v;
        while (std::getline(ss, cell, ',')) {
            char* end = nullptr;
            const double d = std::strtod(cell.c_str(), &end);
            if (cell.empty() || end != cell.c_str() + cell.size())
                throw usage_error("'" + log.string() + "' line " + std::to_string(row) + ": '" + cell + "' is not a number");
            v.push_back(d);
        }
        if (v.size() != cols.size())
            throw usage_error("'" + log.string() + "' line " + std::to_string(row) + " has " + std::to_string(v.size()) +
                              " cells, the header " + std::to_string(cols.size()));
        for (std::size_t i = 1; i < cols.size(); ++i)
            if (by.count(cols[i]) && std::isfinite(v[i])) by[cols[i]].pts.emplace_back(v[0], v[i]);
    }
    const double W = 900, H = 380;
    std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                      num(W) + "\" height=\"" + num(H) + "\" viewBox=\"0 0 " + num(W) + " " + num(H) +
                      "\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    svg += "<text x=\"" + num(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">" +
           esc(a.str("title", log.string())) + "</text>\n";
    svg += panel(70, 60, 340, 260, "loss", {by["train_loss"], by["val_loss"]});
    svg += panel(520, 60, 340, 260, "validation metrics", {by["val_dice"], by["val_iou"]});
    svg += "</svg>\n";
    prepare_file_parent(out, "--out");
    write_file(out, svg, overwrite);
    std::cout << "unetpp-plot: wrote '" << out.string() << "'\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp-plot", [&] { return run(argc, argv); });
}
