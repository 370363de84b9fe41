// libFuzzer target for the option parser of the command-line programs (tools/cli_args.hpp).
// The input is split into argv entries at NUL bytes and parsed with the option sets of
// unetpp-train, -evaluate, -predict and -plot; every typed getter is then called on every option
// with the ranges the programs use. Bad input must end in cli::usage_error (the programs' exit 2);
// any other exception, a crash or a sanitizer report is a finding. The results are also checked:
// a value a getter returns lies in its range and is finite.
//
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_cli_args.cpp
//   ./a.out -dict=tests/fuzz/fuzz_cli_args.dict -max_total_time=300
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "../../tools/cli_args.hpp"
#include "../../tools/run_record.hpp"

namespace {

struct program {
    std::set<std::string> flags, keys;
};

const std::vector<program>& programs() {
    static const std::vector<program> p{
        // unetpp-train
        {{"resume", "quiet", "overwrite"},
         {"data-type", "data",      "masks",     "mask-suffix", "size",         "synthetic-count",
          "augment",   "split",     "folds",     "fold",        "model",        "base",
          "depth",     "loss",      "optimizer", "lr",          "weight-decay", "momentum",
          "schedule",  "epochs",    "batch",     "seed",        "monitor",      "patience",
          "min-delta", "clip-norm", "out",       "threads",     "export-data"}},
        // unetpp-evaluate
        {{"overwrite"},
         {"checkpoint",      "csv",    "summary", "out-masks", "data-type", "data", "masks", "mask-suffix", "size",
          "synthetic-count", "seed",   "subset",  "split",     "folds",     "fold", "model", "base",        "depth",
          "threshold",       "threads"}},
        // unetpp-predict
        {{"tta", "overwrite"},
         {"weights", "input", "out", "mask-dir", "model", "base", "depth", "tile", "overlap", "batch", "memory-mb",
          "threshold", "threads"}},
        // unetpp-plot
        {{"overwrite"}, {"log", "out", "title"}},
    };
    return p;
}

void check(bool ok) {
    if (!ok) std::abort();
}

template <class F>
void expect_usage_error_only(F&& f) {
    try {
        f();
    } catch (const cli::usage_error& e) {
        check(e.what()[0] != '\0');
    }
}

void getters(const cli::args& a) {
    const struct {
        const char* key;
        cli::int_range r;
    } ints[] = {{"threads", cli::range::threads},
                {"size", cli::range::size},
                {"epochs", cli::range::epochs},
                {"batch", cli::range::batch},
                {"seed", cli::range::seed},
                {"folds", cli::range::folds},
                {"fold", cli::range::fold},
                {"patience", cli::range::patience},
                {"synthetic-count", cli::range::synthetic_count},
                {"base", cli::range::base},
                {"depth", cli::range::depth},
                {"tile", cli::range::tile},
                {"overlap", cli::range::overlap},
                {"memory-mb", cli::range::memory_mb}};
    for (const auto& e : ints)  // (no structured bindings: clang 14 cannot capture them)
        expect_usage_error_only([&] {
            const std::int64_t v = a.integer(e.key, -7, e.r);
            check(a.has(e.key) ? v >= e.r.min && v <= e.r.max : v == -7);
        });
    const struct {
        const char* key;
        cli::real_range r;
    } reals[] = {{"lr", cli::range::lr},
                 {"weight-decay", cli::range::weight_decay},
                 {"momentum", cli::range::momentum},
                 {"min-delta", cli::range::min_delta},
                 {"clip-norm", cli::range::clip_norm},
                 {"threshold", cli::range::threshold}};
    for (const auto& e : ints)  // the unranged form of the experiment programs: int-sized
        expect_usage_error_only([&] {
            const long v = a.integer(e.key, 5);
            check(a.has(e.key) ? v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max() : v == 5);
        });
    for (const auto& e : reals) expect_usage_error_only([&] { check(std::isfinite(a.num(e.key, 0.5))); });
    for (const auto& e : reals)
        expect_usage_error_only([&] {
            const double v = a.real(e.key, 0.5, e.r);
            if (a.has(e.key)) check(std::isfinite(v) && v >= e.r.min && v <= e.r.max);
        });
    const struct {
        const char* key;
        std::vector<std::string> words;
    } choices[] = {{"data-type", {"busi", "isbi2012", "folders", "synthetic"}},
                   {"augment", {"on", "off"}},
                   {"loss", {"bce", "dice", "dice_bce", "focal", "iou", "tversky"}},
                   {"optimizer", {"adam", "adamw", "sgd"}},
                   {"schedule", {"constant", "step", "cosine", "plateau"}},
                   {"monitor", {"val_loss", "val_dice", "val_iou", "train_loss"}},
                   {"subset", {"all", "train", "val", "test"}},
                   {"model", {"unet_bn", "ronneberger2015"}}};
    for (const auto& e : choices)
        expect_usage_error_only([&] {
            const std::string v = a.choice(e.key, "", e.words);
            check(!a.has(e.key) || v == a.str(e.key));
        });
    expect_usage_error_only([&] {
        const auto s = cli::parse_split(a.str("split", "0.8,0.1,0.1"));
        check(s.val > 0 && s.train > 0 && s.test >= 0 && s.train + s.val + s.test <= 1.0 + 1e-9);
    });
    // the --resume comparison over whatever the parser kept
    const auto d = cli::run_differences(a.all(), {{"lr", "0.01"}, {"epochs", "3"}}, cli::resume_may_change());
    check(d.size() <= a.all().size() + 1);  // at most one per key of either side, "epochs" may change
    for (const auto& [k, v] : a.all()) check(!k.empty() && a.has(k) && a.str(k) == v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> words{"unetpp-fuzz"};
    std::string cur;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            words.push_back(cur);
            cur.clear();
        } else {
            cur += static_cast<char>(data[i]);
        }
    }
    words.push_back(cur);
    std::vector<const char*> argv;
    for (const auto& w : words) argv.push_back(w.c_str());
    argv.push_back(nullptr);  // as the real argv
    const int argc = static_cast<int>(words.size());
    for (const auto& p : programs()) {
        try {
            const cli::args a(argc, argv.data(), p.flags, p.keys);
            getters(a);
        } catch (const cli::usage_error& e) {
            check(e.what()[0] != '\0');
        }
    }
    return 0;
}
