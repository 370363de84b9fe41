// libFuzzer target for the small text formats that reach the programs from users and files:
//   - a palette given on the command line (data::parse_palette; data/mask_encoding.hpp) and the
//     mask encoding's name (data::parse_mask_encoding);
//   - the per-image CSV that unetpp-report reads (report::parse_scores_csv; RFC 4180 quoting);
//   - a checkpoint's training record as predict and evaluate read it (cli::preprocessing_from;
//     tools/model_record.hpp), from "key=value" lines.
// Bad input must end in the documented exception (std::invalid_argument or cli::usage_error).
// Properties checked on input that parses: a palette formats and parses back to the same
// colours; CSV rows written back with csv_text parse back to the same names and values; a
// record gives a layout within the programs' ranges. A crash, a sanitizer report, a hang,
// running out of memory or a broken property is a finding.
//
//   build-fuzz/tests/fuzz/fuzz_text_formats -dict=tests/fuzz/fuzz_text_formats.dict corpus/
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include <unetpp/data/mask_encoding.hpp>

#include "image_scores.hpp"
#include "model_record.hpp"
#include "report/run_files.hpp"

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz_text_formats: %s\n", what.c_str());
    std::abort();
}

void palette(std::string_view text) {
    std::vector<unetpp::data::rgb8> colours;
    try {
        colours = unetpp::data::parse_palette(text);
    } catch (const std::invalid_argument&) {
        return;
    }
    if (colours.size() < 2 || colours.size() > 256) finding("a palette of " + std::to_string(colours.size()) + " colours parsed");
    const std::string again = unetpp::data::format_palette(colours);
    if (unetpp::data::parse_palette(again) != colours) finding("the palette does not read back: " + again);
    try {
        (void)unetpp::data::parse_mask_encoding(text);
    } catch (const std::invalid_argument&) {
    }
}

void scores_csv(std::string_view text) {
    report::score_table t;
    try {
        t = report::parse_scores_csv(text, "fuzz.csv", 10000);
    } catch (const cli::usage_error&) {
        return;
    }
    std::string csv = "image";
    for (const auto& c : t.columns) csv += "," + cli::csv_text(c);
    csv += "\n";
    for (const auto& r : t.rows) {
        csv += cli::csv_text(r.image);
        for (const double v : r.values) {
            char b[64];
            std::snprintf(b, sizeof b, "%.17g", v);
            csv += std::string(",") + b;
        }
        csv += "\n";
    }
    report::score_table back;
    try {
        back = report::parse_scores_csv(csv, "again.csv", 10000);
    } catch (const cli::usage_error& e) {
        finding(std::string("the rows written back do not parse: ") + e.what());
    }
    // a row whose only cell is an empty name reads as a blank line, which the parser skips
    std::size_t j = 0;
    for (const auto& r : t.rows) {
        if (r.image.empty() && r.values.empty()) continue;
        if (j >= back.rows.size() || back.rows[j].image != r.image) finding("a name did not survive: " + r.image);
        for (std::size_t k = 0; k < r.values.size(); ++k) {
            const double a = r.values[k], b = back.rows[j].values[k];
            if (!(a == b || (std::isnan(a) && std::isnan(b)))) finding("a value did not survive");
        }
        ++j;
    }
}

void record(std::string_view text) {
    std::map<std::string, std::string> rec;
    std::size_t start = 0;
    while (start < text.size() && rec.size() < 64) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(start, end - start);
        if (const std::size_t eq = line.find('='); eq != std::string_view::npos)
            rec[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
        start = end + 1;
    }
    cli::preprocessing p;
    try {
        p = cli::preprocessing_from(rec, "fuzz.safetensors");
    } catch (const cli::usage_error&) {
        return;
    }
    const auto& l = p.layout;
    if (l.channels != 1 && l.channels != 3) finding("channels " + std::to_string(l.channels) + " accepted");
    if (l.classes < 1 || l.classes > 256) finding("classes " + std::to_string(l.classes) + " accepted");
    if (l.encoding == unetpp::data::mask_encoding::palette && static_cast<int>(l.palette.size()) != l.classes)
        finding("a palette that does not fit the classes was accepted");
    if (p.size < 0 || p.size > 4096 || p.patch < 0 || p.patch > 4096) finding("a size out of range was accepted");
    if (!(p.threshold >= 0.0 && p.threshold <= 1.0)) finding("a threshold out of range was accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    palette(text);
    scores_csv(text);
    record(text);
    return 0;
}
