// The run-defining options of unetpp-train and the --resume refusal. unetpp-train records every
// option that changes what is trained (model, data, split, loss, optimiser, ...) in each checkpoint
// (trainer_options.extra, stored as unetpp.extra.<key>); --resume compares them with the options of the
// new command line before any data is read, and refuses a resume that would mix two runs in one
// log, listing every difference (train::trainer makes the same comparison again when it loads the
// checkpoint; this one answers before the data set is opened). Light (standard library only):
// tests/unit/cli/test_run_record.cpp.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "cli_args.hpp"

namespace cli {

/// Options a resumed run may change (they do not change what one epoch computes).
inline const std::set<std::string>& resume_may_change() {
    static const std::set<std::string> keys{"epochs", "patience", "min-delta", "threads", "quiet"};
    return keys;
}

/// The options of patches, the validation folder and the region-of-interest masks of a run.
struct data_options {
    int patch = 0;                           ///< --patch (0: whole images)
    double fg_share = 0.0;                   ///< --fg-oversample
    bool own_size = false;                   ///< images at their own size (--patch without --size)
    std::filesystem::path val_data, val_masks;  ///< --val-data, --val-masks (empty: none)
    std::filesystem::path roi_masks;         ///< the folder the ROI masks are looked up in (empty: none)
    std::string roi_suffix;                  ///< --roi-suffix
};

/// The run-defining record of data_options: keys only for the options used (so that runs of an
/// unetpp-train without them still resume), folders absolute.
inline std::map<std::string, std::string> data_options_record(const data_options& o) {
    const auto path = [](const std::filesystem::path& p) {
        std::error_code ec;
        const std::filesystem::path c = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
        return (ec ? p : c).string();
    };
    std::map<std::string, std::string> r;
    if (o.patch > 0) {
        r["patch"] = std::to_string(o.patch);
        r["fg-oversample"] = format_real(o.fg_share);
        if (o.own_size) r["size"] = "(own)";
    }
    if (!o.val_data.empty()) {
        r["val-data"] = path(o.val_data);
        r["val-masks"] = path(o.val_masks);
    }
    if (!o.roi_masks.empty()) {
        r["roi-masks"] = path(o.roi_masks);
        r["roi-suffix"] = o.roi_suffix;
    }
    return r;
}

/// "--lr 0.01 (the run) against 0.02 (this command)" for every run-defining option whose value
/// differs, in key order. Keys in `may_change` are not compared. A key that only one side has
/// (a checkpoint of an older or newer unetpp-train) is a difference too, shown as "(not recorded)"
/// or "(not given)": the run cannot be proven to be the same (train::trainer refuses it as well).
/// "world_size" (the processes of a data-parallel run, recorded only above one) is 1 when absent.
inline std::vector<std::string> run_differences(const std::map<std::string, std::string>& recorded,
                                                const std::map<std::string, std::string>& now,
                                                const std::set<std::string>& may_change) {
    std::set<std::string> keys;
    for (const auto& [k, v] : recorded) keys.insert(k);
    for (const auto& [k, v] : now) keys.insert(k);
    std::vector<std::string> out;
    const auto shown = [](const std::string& s) { return s.empty() ? std::string("(none)") : s; };
    const auto processes = [](const std::map<std::string, std::string>& m) {
        const auto i = m.find("world_size");
        return i == m.end() ? std::string("1") : i->second;
    };
    for (const auto& k : keys) {
        if (may_change.count(k)) continue;
        if (k == "world_size") {
            const std::string r = processes(recorded), n = processes(now);
            if (r != n)
                out.push_back("the number of processes: " + r + " (the run) against " + n + " (this command; resume with " +
                              (r == "1" ? std::string("one process, without mpirun") : "mpirun -np " + r) + ")");
            continue;
        }
        const auto r = recorded.find(k);
        const auto n = now.find(k);
        const bool hr = r != recorded.end(), hn = n != now.end();
        if (hr && hn && r->second == n->second) continue;
        out.push_back("--" + k + " " + (hr ? shown(r->second) : std::string("(not recorded)")) + " (the run) against " +
                      (hn ? shown(n->second) : std::string("(not given)")) + " (this command)");
    }
    return out;
}

/// Options that runs of older unetpp-train versions do not record, with how to resume such a run
/// (check_resume adds it when the run lacks the option and the command records it).
inline const std::map<std::string, std::string>& unrecorded_option_advice() {
    static const std::map<std::string, std::string> advice{
        {"group-hash", "A BUSI run from before --group-hash grouped the images as resized (hashed at --size): resume "
                       "it with --group-hash resized"}};
    return advice;
}

/// Throws usage_error listing the differences, if any (and unrecorded_option_advice's advice).
inline void check_resume(const std::string& checkpoint, const std::map<std::string, std::string>& recorded,
                         const std::map<std::string, std::string>& now) {
    const auto d = run_differences(recorded, now, resume_may_change());
    if (d.empty()) return;
    std::string m = "--resume: '" + checkpoint + "' was trained with other options: ";
    for (std::size_t i = 0; i < d.size(); ++i) m += (i ? "; " : "") + d[i];
    m += ". Resume with the run's options (only";
    bool first = true;
    for (const auto& k : resume_may_change()) m += std::string(first ? " --" : ", --") + k, first = false;
    m += " may change), or start a new run in another --out";
    for (const auto& [key, advice] : unrecorded_option_advice())
        if (recorded.count(key) == 0 && now.count(key) != 0) m += ". " + advice;
    throw usage_error(m);
}

}  // namespace cli
