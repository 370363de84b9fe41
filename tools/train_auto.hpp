// unetpp-train --auto, --plan-only and --plan FILE: fingerprints the data set, times the networks
// the plan may choose, plans (unetpp/train/plan.hpp), and gives back the command line with the
// plan's choices added (the user's options win; plan_args.hpp). Included by unetpp-train.cpp only
// (the four networks timed here are compiled into that file).
#pragma once

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <unetpp/threads.hpp>
#include <unetpp/train/plan.hpp>

#include "cli_common.hpp"
#include "plan_args.hpp"

namespace cli {

/// The plan of a run and the command line it makes.
struct auto_plan {
    unetpp::train::training_plan plan;
    std::vector<std::string> argv;  ///< the program's arguments with the plan's options added
    bool write = false;             ///< write plan.json into --out (a new plan, or one from --plan FILE)
};

/// One timed training step (after a warm-up) of each network the planner chooses among:
/// unet_bn with base 16 or 32 and depth 3 or 4, at 64 x 64 in batches of 2. About a second.
inline std::vector<unetpp::train::network_speed> time_networks(int channels, int classes) {
    constexpr int side = 64, batch = 2;
    std::vector<unetpp::train::network_speed> out;
    const auto one = [&]<class Net>(int base, int depth) {
        Net net = make_net<Net>(1, channels, classes);
        out.push_back({base, depth, side, batch, unetpp::train::seconds_per_training_image(net, channels, side, batch)});
    };
    one.template operator()<unet_bn_any<16, 3>>(16, 3);
    one.template operator()<unet_bn_any<16, 4>>(16, 4);
    one.template operator()<unet_bn_any<32, 3>>(32, 3);
    one.template operator()<unet_bn_any<32, 4>>(32, 4);
    return out;
}

/// The shares of the images that train and validate, as --folds / --split make them.
inline std::pair<double, double> split_shares(const args& a) {
    const auto [folds, fold] = folds_from(a);
    (void)fold;
    if (folds > 0) return {static_cast<double>(folds - 1) / static_cast<double>(folds), 1.0 / static_cast<double>(folds)};
    const split_fractions s = parse_split(a.str("split", "0.8,0.1,0.1"));
    return {s.train, s.val};
}

/// A new plan for the data `given` names within --budget (see the file comment). The data set is
/// read at its own size (synthetic data at --size), as the fingerprint must see it.
inline unetpp::train::training_plan new_plan(const args& given, bool quiet) {
    const auto start = std::chrono::steady_clock::now();
    const double budget = parse_budget(given.str("budget"));
    data_choice dc = data_from(given);
    if (dc.type != "synthetic") dc.resize = false;
    const any_dataset ds = open_dataset(dc);
    probe(ds);
    if (!quiet)
        std::cout << "unetpp-train: planning: reading up to 256 of " << ds.size()
                  << " images for the fingerprint and timing 4 networks\n"
                  << std::flush;
    double read = 0;
    const unetpp::train::data_fingerprint fp = unetpp::train::fingerprint_of(ds, {.classes = dc.layout.classes}, &read);
    unetpp::train::machine_speed m{.networks = time_networks(dc.layout.channels, dc.layout.classes),
                                   .seconds_per_read = read, .deep_supervision = false};
    const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // BUSI's split reads every image once more (near-duplicate hashing) before training
    const double setup = dc.type == "busi" ? static_cast<double>(ds.size()) * read : 0.0;
    const double left = budget - spent - setup;
    if (left < 1)
        throw usage_error("--budget " + given.str("budget") + " is used up by planning (" +
                          std::to_string(static_cast<int>(spent + setup + 0.5)) + " s); give a larger --budget");
    const auto [train_share, val_share] = split_shares(given);
    return unetpp::train::plan_recipe(fp, m, {.seconds = left, .train_share = train_share, .val_share = val_share});
}

/// --auto / --plan-only / --plan FILE, checked; std::nullopt when none is given. `argv`: the
/// program's arguments. --auto plans now, or with --resume reads the run's plan.json; --plan FILE
/// reads FILE. `ranks`: processes of the run (a new plan needs one: each would time its own).
inline std::optional<auto_plan> plan_run(const args& given, int argc, char** argv, int ranks, bool root) {
    const bool automatic = given.has("auto"), only = given.has("plan-only"), from_file = given.has("plan");
    if (!automatic && !only && !from_file) {
        if (given.has("budget")) throw usage_error("--budget is the time budget of --auto or --plan-only; give one of them");
        return std::nullopt;
    }
    if (only && (automatic || from_file || given.has("resume")))
        throw usage_error("--plan-only writes a plan and trains nothing; give it without --auto, --plan and --resume");
    if (automatic && from_file) throw usage_error("--auto plans now and --plan FILE reads a plan; give one of them");
    const bool resume = given.has("resume");
    const bool fresh = (automatic && !resume) || only;
    if (fresh && !given.has("budget"))
        throw usage_error(std::string(only ? "--plan-only" : "--auto") +
                          " needs --budget, the time the training may take (e.g. 90s, 45m, 2h, 1h30m)");
    if (!fresh && given.has("budget"))
        throw usage_error(from_file ? "--budget plans a new run; --plan FILE has its plan already (drop --budget)"
                                    : "--budget plans a new run; --auto --resume continues the run's plan.json (drop --budget)");
    if (fresh) (void)parse_budget(given.str("budget"));  // a bad budget is refused before anything is read
    if (fresh && ranks > 1)
        throw usage_error("--auto plans on one process (each process would time its own speed): plan with "
                          "unetpp-train --plan-only --out DIR, then give every process --plan DIR/plan.json");
    const fs::path out = given.str("out");
    if (!only && out.empty()) throw usage_error("--out DIR is required (the folder for checkpoints and logs)");
    // the folder is checked before the minutes of planning (check_output_folder reads only)
    if (root && !out.empty() && !resume) {
        std::error_code ec;
        if (!only && (fs::exists(out / "last.safetensors", ec) || fs::exists(out / "last.prev.safetensors", ec)))
            throw usage_error("'" + out.string() + "' already holds a run (last.safetensors); continue it with --auto "
                              "--resume or choose another --out");
        check_output_folder(out, "--out", "unetpp-train", given.has("overwrite"));
    }
    adapt_threads_to_load();
    if (given.has("threads")) set_num_threads(static_cast<int>(given.integer("threads", 0, range::threads)));
    auto_plan r;
    if (from_file)
        r.plan = read_plan_file(given.str("plan"), "--plan");
    else if (resume)
        r.plan = read_plan_file(out / "plan.json", "--auto --resume");
    else
        r.plan = new_plan(given, given.has("quiet") || !root);
    r.write = !resume;
    const plan_options po = options_from_plan(r.plan, given);
    if (root && (only || !given.has("quiet"))) std::cout << plan_summary(r.plan, po.notes) << std::flush;
    r.argv.assign(argv + 1, argv + argc);
    for (const auto& [k, v] : po.options) r.argv.push_back("--" + k + "=" + v);
    return r;
}

}  // namespace cli
