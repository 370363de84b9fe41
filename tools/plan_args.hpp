// unetpp-train --auto / --plan-only / --plan FILE: the time budget option, the plan's choices as
// command-line options (the user's own options win), the printout, and reading a plan file. The
// planning itself is the library's (unetpp/train/plan.hpp). Light (cli_args.hpp and the plan
// header): tests/unit/cli/test_plan_args.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unetpp/train/plan.hpp>

#include "cli_args.hpp"

namespace cli {

/// --budget: whole numbers with units h, m and s, largest unit first, each at most once:
/// "90s", "45m", "2h", "1h30m", "1h5m30s". Between 1 second and 30 days.
inline double parse_budget(const std::string& text) {
    const std::string hint = "; write it like 90s, 45m, 2h or 1h30m";
    if (text.empty()) throw usage_error("--budget needs a duration" + hint);
    std::int64_t total = 0;
    int last_unit = 4;  // h = 3, m = 2, s = 1: each unit smaller than the one before
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = i;
        while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
        if (j == i || j - i > 9 || j == text.size())
            throw usage_error("--budget '" + text + "' is not a duration" + hint);
        const std::int64_t v = std::stoll(text.substr(i, j - i));
        const char u = text[j];
        const int unit = u == 'h' ? 3 : u == 'm' ? 2 : u == 's' ? 1 : 0;
        if (unit == 0 || unit >= last_unit)
            throw usage_error("--budget '" + text + "' is not a duration (units h, m, s, largest first, each once)" + hint);
        last_unit = unit;
        total += v * (unit == 3 ? 3600 : unit == 2 ? 60 : 1);
        if (total > 30LL * 24 * 3600) throw usage_error("--budget '" + text + "' is longer than 30 days");
        i = j + 1;
    }
    if (total < 1) throw usage_error("--budget '" + text + "' is shorter than one second");
    return static_cast<double>(total);
}

/// "45m", "1h30m", "20s": a number of seconds written as parse_budget reads it.
inline std::string format_budget(double seconds) {
    auto s = static_cast<std::int64_t>(seconds + 0.5);
    std::string out;
    if (s >= 3600) out += std::to_string(s / 3600) + "h", s %= 3600;
    if (s >= 60) out += std::to_string(s / 60) + "m", s %= 60;
    if (s > 0 || out.empty()) out += std::to_string(s) + "s";
    return out;
}

/// The plan as options: `options` to add to the command line, `notes` naming each of the plan's
/// choices that an option the user gave replaced.
struct plan_options {
    std::vector<std::pair<std::string, std::string>> options;
    std::vector<std::string> notes;
};

/// The options of `p` the command line `given` does not set itself. An option the user gave
/// always wins; a few choices go together and yield as a group: --size or --patch given -> the
/// plan's size, patch and --fg-oversample are not applied; --optimizer given -> nor is the
/// plan's --lr (the optimiser's own default applies).
inline plan_options options_from_plan(const unetpp::train::training_plan& p, const args& given) {
    plan_options out;
    const auto put = [&](const std::string& key, const std::string& value) {
        if (given.has(key)) {
            if (given.str(key) != value)
                out.notes.push_back("--" + key + " " + given.str(key) + " (given) replaces the plan's " + value);
            return;
        }
        out.options.emplace_back(key, value);
    };
    const bool geometry_given = given.has("size") || given.has("patch");
    if (geometry_given) {
        const std::string planned = p.patch > 0 ? "patches of " + std::to_string(p.patch) + " at the images' own size"
                                                : "input " + std::to_string(p.input_size);
        out.notes.push_back(std::string(given.has("size") ? "--size" : "--patch") + " (given) replaces the plan's " +
                            planned);
    } else if (p.patch > 0) {
        out.options.emplace_back("patch", std::to_string(p.patch));
        put("fg-oversample", format_real(p.fg_oversample));
    } else {
        out.options.emplace_back("size", std::to_string(p.input_size));
    }
    put("model", p.model);
    put("base", std::to_string(p.base));
    put("depth", std::to_string(p.depth));
    put("batch", std::to_string(p.batch));
    put("epochs", std::to_string(p.epochs));
    put("loss", p.loss);
    put("schedule", p.schedule);
    put("augment", p.augment);
    put("monitor", p.monitor);
    if (given.has("optimizer")) {
        out.notes.push_back("--optimizer " + given.str("optimizer") + " (given) replaces the plan's " + p.optimizer +
                            (given.has("lr") ? std::string() : " (and its learning rate: the optimiser's default applies)"));
        if (given.has("lr")) put("lr", format_real(p.lr));
    } else {
        out.options.emplace_back("optimizer", p.optimizer);
        put("lr", format_real(p.lr));
    }
    return out;
}

/// The printout of a plan: the fingerprint, the measured speed, each choice with its reason, the
/// warnings and the user's replacements.
inline std::string plan_summary(const unetpp::train::training_plan& p, const std::vector<std::string>& notes) {
    const auto& f = p.fingerprint;
    const auto g = [](double v) {
        std::ostringstream s;
        s.precision(3);
        s << v;
        return s.str();
    };
    std::ostringstream s;
    s << "plan: data: " << f.images << " images (" << f.sampled << " read), height " << f.height.median << " ("
      << f.height.min << " to " << f.height.max << "), width " << f.width.median << " (" << f.width.min << " to "
      << f.width.max << "), " << f.channels << " channel" << (f.channels == 1 ? "" : "s") << ", " << f.classes
      << (f.classes == 1 ? " foreground class" : " classes") << "\n";
    s << "plan: intensity: mean " << g(f.all.mean) << ", std " << g(f.all.std) << ", 0.5-99.5% " << g(f.all.p00_5)
      << " to " << g(f.all.p99_5) << "; foreground mean " << g(f.foreground.mean) << ", 0.5-99.5% "
      << g(f.foreground.p00_5) << " to " << g(f.foreground.p99_5) << "\n";
    s << "plan: foreground: " << g(100 * f.foreground_fraction) << "% of pixels (per image: median "
      << g(100 * f.foreground_fraction_median) << "%, " << g(100 * f.foreground_fraction_min) << "% to "
      << g(100 * f.foreground_fraction_max) << "%), empty masks " << g(100 * f.empty_mask_fraction) << "% of images\n";
    s << "plan: machine:";
    for (const auto& n : p.machine.networks)
        s << " unet_bn<" << n.base << "," << n.depth << "> " << g(1000 * n.seconds_per_image) << " ms/image at " << n.size
          << ";";
    s << " read " << g(1000 * p.machine.seconds_per_read) << " ms/image\n";
    for (const auto& r : p.reasons) s << "plan: " << r << "\n";
    for (const auto& w : p.warnings) s << "plan: warning: " << w << "\n";
    for (const auto& n : notes) s << "plan: " << n << "\n";
    return s.str();
}

/// Reads a plan file (untrusted: plan_from_json's checks), as a usage_error naming the file.
inline unetpp::train::training_plan read_plan_file(const std::filesystem::path& file, const std::string& option) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec))
        throw usage_error(option + " '" + file.string() + "' is not a file; give the plan.json of a run or of --plan-only");
    const auto bytes = std::filesystem::file_size(file, ec);
    if (ec || bytes > (1u << 20))
        throw usage_error(option + " '" + file.string() + "' is larger than 1 MiB; it is not a plan file");
    std::ifstream in(file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw usage_error(option + ": cannot read '" + file.string() + "'");
    try {
        return unetpp::train::plan_from_json(text, file.string());
    } catch (const std::runtime_error& e) {
        throw usage_error(std::string(e.what()) + " (" + option + ": write it again with unetpp-train --plan-only)");
    }
}

}  // namespace cli
