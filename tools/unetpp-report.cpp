// unetpp-report: one self-contained HTML page about a training run: learning curves, the
// per-image scores of unetpp-evaluate (sortable by Dice), the worst cases with their overlay
// pictures, and the run's configuration and split (tools/report/html_report.hpp).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli_args.hpp"
#include "model_record.hpp"
#include "output_guard.hpp"
#include "report/curves.hpp"
#include "report/html_report.hpp"
#include "report/run_files.hpp"

namespace {

using namespace cli;
namespace fs = std::filesystem;

const char* help_text = R"(usage: unetpp-report --run DIR [--csv FILE] [--overlays DIR] [--out FILE] [options]

Writes one HTML page about a training run that opens in any browser without a network:
  - the learning curves of DIR/log.csv
  - the per-image scores of unetpp-evaluate --csv FILE, in a table sorted by Dice (worst first;
    click a column to sort by it), each image marked with its part of the run's split
  - the worst cases (lowest Dice) with the pictures of unetpp-evaluate --overlays DIR
    (<image>_overlay.png: image | ground truth | prediction | overlay), embedded in the page
  - the run's configuration (DIR/config.json) and split (DIR/split.json)
A part whose file is missing is shown with a note saying how to get it.

options:
  --run DIR          the --out folder of unetpp-train (required)
  --csv FILE         the per-image CSV of unetpp-evaluate
  --overlays DIR     the --overlays folder of unetpp-evaluate
  --worst N          how many worst cases to show, 0 to 100 (default 6)
  --out FILE         the page (default DIR/report.html); an existing file is refused unless
                     --overwrite is given (then only that file is replaced)
  --title TEXT       the page's title (default: "unetpp run " + DIR)
The page is written atomically. Exit code 2 on bad input (no run folder, a malformed file, an
output that exists).
)";

constexpr std::uintmax_t max_text_bytes = std::uintmax_t{64} << 20;     // log, CSV, JSON
constexpr std::uintmax_t max_picture_bytes = std::uintmax_t{32} << 20;  // one overlay PNG

/// A file's bytes, or nullopt when it does not exist; refuses one larger than `limit`.
std::optional<std::string> read_optional(const fs::path& p, std::uintmax_t limit, const std::string& what) {
    std::error_code ec;
    if (!fs::exists(p, ec)) return std::nullopt;
    if (!fs::is_regular_file(p, ec)) throw usage_error(what + " '" + p.string() + "' is not a file");
    const auto n = fs::file_size(p, ec);
    if (ec) throw usage_error("cannot read " + what + " '" + p.string() + "' (" + ec.message() + ")");
    if (n > limit)
        throw usage_error(what + " '" + p.string() + "' has " + std::to_string(n) + " bytes, more than the " +
                          std::to_string(limit >> 20) + " MiB accepted; is it the right file?");
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in && !in.eof()) throw usage_error("cannot read " + what + " '" + p.string() + "'");
    return s.str();
}

int run(int argc, char** argv) {
    const args a(argc, argv, {"overwrite"}, {"run", "csv", "overlays", "worst", "out", "title"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    const fs::path dir = a.str("run");
    if (dir.empty()) throw usage_error("--run DIR is required: the --out folder of unetpp-train (see --help)");
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw usage_error("--run '" + dir.string() + "' is not a folder; give the --out folder of unetpp-train");
    const int worst_n = static_cast<int>(a.integer("worst", 6, int_range{0, 100}));
    const fs::path out = a.has("out") ? fs::path(a.str("out")) : dir / "report.html";
    const bool overwrite = a.has("overwrite");
    check_output_file(out, "--out", "unetpp-report", overwrite);
    if (a.has("csv") && !fs::is_regular_file(a.str("csv"), ec))
        throw usage_error("--csv '" + a.str("csv") + "' is not a file; give the --csv file of unetpp-evaluate");
    const fs::path overlays = a.str("overlays");
    if (a.has("overlays") && !fs::is_directory(overlays, ec))
        throw usage_error("--overlays '" + overlays.string() +
                          "' is not a folder; give the --overlays folder of unetpp-evaluate");

    report::report_input in;
    in.title = a.str("title", "unetpp run " + dir.string());
    if (const auto log = read_optional(dir / "log.csv", max_text_bytes, "the log"))
        in.curves_svg = report::svg_curves(
            in.title, report::run_panels(report::parse_log_csv(*log, (dir / "log.csv").string())), false);
    else
        in.curves_note = "No log.csv in '" + dir.string() + "': is it the --out folder of unetpp-train?";
    if (const auto cfg = read_optional(dir / "config.json", max_text_bytes, "the configuration")) {
        in.config = report::parse_flat_json(*cfg, (dir / "config.json").string());
        in.config_note = "From '" + (dir / "config.json").string() + "'.";
    } else
        in.config_note = "No config.json in '" + dir.string() + "'.";
    if (const auto sp = read_optional(dir / "split.json", max_text_bytes, "the split")) {
        in.split = parse_split_json(*sp, (dir / "split.json").string());
        in.split_note = "From '" + (dir / "split.json").string() + "': the images of each part, by name.";
    } else
        in.split_note = "No split.json in '" + dir.string() + "'.";
    if (a.has("csv")) {
        const fs::path csv = a.str("csv");
        in.scores = report::parse_scores_csv(*read_optional(csv, max_text_bytes, "--csv"), csv.string());
        in.scores_note = "From '" + csv.string() + "' (unetpp-evaluate).";
        if (in.scores->column("dice_c1") >= 0)  // a run of several classes (tools/multiclass_scores.hpp)
            in.scores_note += " A multi-class run: dice, iou, precision and recall are each image's means over the "
                              "foreground classes (class 0, the background, left out); dice_c<k> is the Dice of class "
                              "k. The worst cases are those of the lowest mean Dice.";
    } else {
        in.scores_note = "No per-image scores: run unetpp-evaluate --checkpoint " +
                         (dir / "best.safetensors").string() +
                         " --csv scores.csv --overlays overlays, then give --csv scores.csv --overlays overlays.";
    }
    // the worst cases: lowest Dice first (NaN counts as worst: the score could not be computed)
    if (in.scores && worst_n > 0) {
        const int d = in.scores->column("dice");
        std::vector<const report::score_row*> rows;
        for (const auto& r : in.scores->rows) rows.push_back(&r);
        std::stable_sort(rows.begin(), rows.end(), [d](const auto* x, const auto* y) {
            const double a_ = x->values[d], b_ = y->values[d];
            if (std::isnan(a_) != std::isnan(b_)) return std::isnan(a_);
            return a_ < b_;
        });
        rows.resize(std::min<std::size_t>(rows.size(), static_cast<std::size_t>(worst_n)));
        for (const auto* r : rows) {
            report::report_picture p{r->image, r->values[d], {}, 0, 0, {}};
            // the name comes from a file: only a plain file name is looked up inside --overlays
            const bool plain = !r->image.empty() && r->image.find('/') == std::string::npos &&
                               r->image.find('\\') == std::string::npos && r->image != "." && r->image != "..";
            if (!a.has("overlays"))
                p.missing = "no overlay (give --overlays DIR)";
            else if (!plain)
                p.missing = "no overlay (the name is not a plain file name)";
            else {
                const fs::path f = overlays / (r->image + "_overlay.png");
                if (auto b = read_optional(f, max_picture_bytes, "the overlay")) {
                    const auto [w, h] = report::png_size(*b);
                    if (w == 0 || h == 0 || w > 65535 || h > 65535)
                        p.missing = "'" + f.string() + "' is not a PNG picture";
                    else
                        p.png = std::move(*b), p.width = w, p.height = h;
                } else
                    p.missing = "no overlay: '" + f.string() + "' does not exist";
            }
            in.worst.push_back(std::move(p));
        }
        in.worst_note = "The " + std::to_string(rows.size()) + " images with the lowest Dice" +
                        (a.has("overlays") ? ", from '" + overlays.string() + "'" : std::string()) +
                        ". Overlay: true positives yellow, false positives magenta, false negatives cyan, "
                        "ground-truth outline green.";
    } else if (!in.scores)
        in.worst_note = "No worst cases without per-image scores (--csv).";
    in.footer = "Written by unetpp-report from '" + dir.string() + "'.";

    const std::string page = report::render_html(in);
    prepare_file_parent(out, "--out");
    write_file(out, page, overwrite);
    std::cout << "unetpp-report: wrote '" << out.string() << "'\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {  // bad input (cli::usage_error) or an unreadable / unwritable file
        std::cerr << "unetpp-report: error: " << e.what() << '\n';
        return 2;
    }
}
