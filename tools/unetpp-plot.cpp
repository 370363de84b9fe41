// unetpp-plot: draws the curves of an epoch log (log.csv of unetpp-train) as a self-contained
// SVG file and, beside it, a PNG drawn by the project's own rasteriser (tools/report/): losses on
// the left, Dice / IoU on the right, whole-epoch ticks, axis labels and legends.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli_common.hpp"
#include "report/curves.hpp"
#include "report/encode.hpp"
#include "report/plot_png.hpp"

namespace {

using namespace cli;

const char* help_text =
    R"(usage: unetpp-plot --log run/log.csv --out curves.svg [--png FILE] [--title TEXT] [--overwrite]

Reads the per-epoch log written by unetpp-train (columns epoch, train_loss, val_loss, val_dice,
val_iou, val_pixel_error, lr, seconds; any subset after epoch is accepted, "nan" cells are skipped) and writes
two pictures of two panels each (train and validation loss; validation Dice and IoU against the
epoch, ticks at whole epochs):
  --out FILE         the SVG
  --png FILE         the PNG (1800 x 760 pixels); default: --out with .svg replaced by .png
                     (curves.svg -> curves.png), or --out + ".png" when it does not end in .svg
Each file is written atomically. An existing --out or --png file is refused unless --overwrite is
given (then only those two files are replaced). Exit code 2 on bad input (missing or malformed
log, or an output that exists). For the whole run as one page (curves, per-image scores, worst
cases, configuration) see unetpp-report.
)";

/// The most bytes read from a log (about a million epochs).
constexpr std::uintmax_t max_log_bytes = std::uintmax_t{128} << 20;

int run(int argc, char** argv) {
    const args a(argc, argv, {"overwrite"}, {"log", "out", "png", "title"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    const fs::path log = a.str("log"), out = a.str("out");
    if (log.empty() || out.empty()) throw usage_error("--log FILE and --out FILE are required (see --help)");
    fs::path png = a.str("png");
    if (!a.has("png")) {
        png = out;
        if (out.extension() == ".svg")
            png.replace_extension(".png");
        else
            png += ".png";
    }
    const bool overwrite = a.has("overwrite");
    check_output_file(out, "--out", "unetpp-plot", overwrite);
    check_output_file(png, "--png", "unetpp-plot", overwrite);
    std::error_code ec;
    if (fs::equivalent(log, out, ec)) throw usage_error("--out names the --log file; give another name for the SVG");
    if (fs::equivalent(log, png, ec)) throw usage_error("--png names the --log file; give another name for the PNG");
    if (fs::absolute(png).lexically_normal() == fs::absolute(out).lexically_normal())
        throw usage_error("--png and --out name the same file; give two names");
    const auto bytes = fs::file_size(log, ec);
    if (!ec && bytes > max_log_bytes)
        throw usage_error("'" + log.string() + "' has " + std::to_string(bytes) + " bytes, more than the " +
                          std::to_string(max_log_bytes >> 20) + " MiB an epoch log can have; is it an unetpp log.csv?");
    std::ifstream in(log, std::ios::binary);
    if (!in) throw usage_error("cannot read '" + log.string() + "'; give the log.csv that unetpp-train wrote");
    std::ostringstream text;
    text << in.rdbuf();
    const auto panels = report::run_panels(report::parse_log_csv(text.str(), log.string()));
    const std::string title = a.str("title", log.string());
    const std::string svg = report::svg_curves(title, panels);
    const auto png_bytes = report::encode_png(report::png_curves(title, panels));
    prepare_file_parent(out, "--out");
    prepare_file_parent(png, "--png");
    write_file(out, svg, overwrite);
    write_file(png, report::as_string(png_bytes), overwrite);
    std::cout << "unetpp-plot: wrote '" << out.string() << "' and '" << png.string() << "'\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp-plot", [&] { return run(argc, argv); });
}
