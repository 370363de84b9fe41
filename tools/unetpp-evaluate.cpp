// unetpp-evaluate: scores a trained network on a data set: per-image Dice, IoU, precision,
// recall and HD95 as CSV, a mean +- std summary table, and optionally the predicted masks.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <unetpp/metrics.hpp>

#include "cli_common.hpp"

namespace {

using namespace cli;

const char* help_text = R"(usage: unetpp-evaluate --checkpoint FILE --csv FILE [options]

Runs the network of a checkpoint written by unetpp-train (or a weights file saved with
io::save_weights, then give --model/--base/--depth/--size) over a data set and writes:
  --csv FILE         one row per image: image,dice,iou,precision,recall,hd95
                     (hd95 is inf when exactly one of prediction and truth is empty)
  --summary FILE     the summary table (mean +- sample std over images), also printed
  --out-masks DIR    predicted masks as PNG (0/255), DIR/<image stem>_pred.png, each written
                     atomically; DIR must be new or empty
  --overwrite        replace existing --csv / --summary files and write masks into a DIR that
                     holds other files (only the files named above are replaced; nothing is
                     removed). Without it an existing output is refused.
Every file is written atomically, and nothing is written before all inputs are checked; the CSV
and summary are written last, so a failed run leaves no output that looks complete.

data (as unetpp-train): --data-type busi|isbi2012|folders|synthetic, --data PATH, --masks PATH,
  --mask-suffix S, --synthetic-count N (4 to 1000000), --seed N (0 to 9223372036854775807;
  synthetic images and the split)
  --subset S         all | train | val | test: the part of the split given by --split a,b,c
                     or --folds K --fold k (same meaning and seed as in training) (default all)
model (default: read from the checkpoint): --model M --base N (1 to 1024) --depth D (1 to 10)
  --size N (8 to 4096); then checked against the compiled networks
  --threshold X      probability threshold for the masks, 0 to 1 (default 0.5)
  --threads N        CPU threads, 1 to 1024 (default: OpenMP's choice, fewer when busy)
Exit codes: 0 done, 2 bad input (missing or unreadable file, checkpoint of another
architecture, impossible size).
)";

std::string fmt(double v) {
    if (std::isinf(v)) return "inf";
    if (std::isnan(v)) return "nan";
    char b[40];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

int run(int argc, char** argv) {
    const args a(argc, argv, {"overwrite"},
                 {"checkpoint", "csv", "summary", "out-masks", "data-type", "data", "masks", "mask-suffix", "size",
                  "synthetic-count", "seed", "subset", "split", "folds", "fold", "model", "base", "depth", "threshold",
                  "threads"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    // Every option is parsed and range-checked before any file is read or written.
    const int threads = static_cast<int>(a.integer("threads", 0, range::threads));
    const double threshold = a.real("threshold", 0.5, range::threshold);
    const std::string subset = a.choice("subset", "all", {"all", "train", "val", "test"});
    if (subset != "all") {
        (void)folds_from(a);
        (void)parse_split(a.str("split", "0.8,0.1,0.1"));
    }
    data_choice dc = data_from(a);
    const fs::path ckpt = a.str("checkpoint");
    if (ckpt.empty()) throw usage_error("--checkpoint FILE is required");
    std::error_code ec;
    if (!fs::exists(ckpt, ec)) throw usage_error("--checkpoint '" + ckpt.string() + "' does not exist; check the path");
    if (!fs::is_regular_file(ckpt, ec)) throw usage_error("--checkpoint '" + ckpt.string() + "' is not a file");

    // Outputs: refused when they exist (a folder: when it is not empty), unless --overwrite.
    const bool overwrite = a.has("overwrite");
    const fs::path csv = a.str("csv");
    if (csv.empty()) throw usage_error("--csv FILE is required (the per-image results)");
    check_output_file(csv, "--csv", "unetpp-evaluate", overwrite);
    const fs::path summary = a.str("summary");
    if (a.has("summary")) {
        check_output_file(summary, "--summary", "unetpp-evaluate", overwrite);
        if (fs::absolute(summary).lexically_normal() == fs::absolute(csv).lexically_normal())
            throw usage_error("--summary and --csv name the same file; give two names");
    }
    const fs::path masks_dir = a.str("out-masks");
    if (a.has("out-masks")) check_output_folder(masks_dir, "--out-masks", "unetpp-evaluate", overwrite);

    // Model identity: options first, then the checkpoint's record of the training options.
    std::map<std::string, std::string> rec;
    try {
        rec = train::read_checkpoint_info(ckpt).extra;
    } catch (const std::exception& e) {
        if (!(a.has("model") && a.has("base") && a.has("depth") && a.has("size"))) throw;  // not a checkpoint
    }
    // A value from the command line is range-checked as an option; one recorded in the checkpoint
    // is untrusted input too and gets the same check, with the file named.
    const auto pick_int = [&](const std::string& k, std::int64_t def, const int_range& r) -> int {
        if (a.has(k)) return static_cast<int>(a.integer(k, def, r));
        const auto it = rec.find(k);
        if (it == rec.end()) return static_cast<int>(def);
        return static_cast<int>(parse_integer("'" + ckpt.string() + "' records " + k, it->second, r));
    };
    const std::string model = a.has("model") ? a.str("model") : rec.count("model") ? rec.at("model") : "unet_bn";
    const int base = pick_int("base", 16, range::base), depth = pick_int("depth", 3, range::depth);
    dc.size = pick_int("size", dc.size, range::size);
    adapt_threads_to_load();
    if (threads > 0) set_num_threads(threads);

    return with_model(model, base, depth, [&]<class Net>() -> int {
        check_size<Net>(dc.size);
        Net net(0);
        train::load_checkpoint_weights(ckpt, net);
        net.eval();
        inference_mode no_intermediates;  // fused Conv-BN-ReLU, nothing kept for backward
        any_dataset ds = open_dataset(dc);
        probe(ds);
        std::vector<std::size_t> idx;
        if (subset == "all") {
            for (std::size_t i = 0; i < ds.size(); ++i) idx.push_back(i);
        } else {
            const auto p = make_split(ds, a, dc.seed, dc.type);
            idx = subset == "train" ? p.train : subset == "val" ? p.val : p.test;
            if (idx.empty()) throw usage_error("--subset " + subset + " is empty for this split");
        }
        if (a.has("out-masks")) {  // two images of one stem would write one mask file
            std::map<std::string, std::size_t> seen;
            for (std::size_t i : idx)
                if (const auto [it, fresh] = seen.emplace(ds.stem(i), i); !fresh)
                    throw usage_error("--out-masks: " + ds.source(it->second) + " and " + ds.source(i) +
                                      " would both be written as '" + ds.stem(i) +
                                      "_pred.png'; rename one of the images");
        }
        // all inputs are valid: create the output folders and prove them writable, then write
        prepare_file_parent(csv, "--csv");
        if (a.has("summary")) prepare_file_parent(summary, "--summary");
        if (a.has("out-masks")) prepare_folder(masks_dir, "--out-masks");
    std::string rows = "image,dice,iou,precision,recall,hd95\n";
        std::vector<double> dice, iou, prec, rec_, hd, hd_all;
        std::size_t hd_inf = 0;
        for (std::size_t i : idx) {
            const data::sample s = ds.get(i);
            const auto& logits = net.forward(s.image);
            const auto target = train::detail::center_crop(s.mask, logits.shape().h, logits.shape().w);
            tensor<float> pred(logits.shape());
            for (std::size_t k = 0; k < pred.size(); ++k)
                pred[k] = metrics::predicted_positive(logits[k], metrics::prediction_kind::logits, threshold) ? 1.f : 0.f;
            const auto c = metrics::count_per_image(pred, target, metrics::prediction_kind::mask)[0];
            const double h95 = metrics::hausdorff95(pred, target);
            dice.push_back(c.dice()), iou.push_back(c.iou()), prec.push_back(c.precision()), rec_.push_back(c.recall());
            if (std::isfinite(h95)) hd.push_back(h95); else ++hd_inf;
            std::string name = ds.stem(i);
            for (char& ch : name)
                if (ch == ',' || ch == '"' || ch == '\n') ch = '_';
            rows += name + ',' + fmt(c.dice()) + ',' + fmt(c.iou()) + ',' + fmt(c.precision()) + ',' + fmt(c.recall()) +
                    ',' + fmt(h95) + '\n';
            if (a.has("out-masks")) {
                const std::vector<unsigned char> png = io::encode_png(io::from_tensor(pred));
                write_file(masks_dir / (ds.stem(i) + "_pred.png"),
                           std::string_view(reinterpret_cast<const char*>(png.data()), png.size()), true);
            }
        }
        std::string table = "unetpp-evaluate: " + Net::describe() + ", " + std::to_string(idx.size()) + " images (" +
                            subset + ")\nmetric      mean \u00b1 std\n";
        const auto line = [&](const char* n, const std::vector<double>& v) {
            char b[24];
            std::snprintf(b, sizeof b, "%-11s ", n);
            table += std::string(b) + (v.empty() ? std::string("n/a") : metrics::format_mean_std(v, 4)) + '\n';
        };
        line("dice", dice), line("iou", iou), line("precision", prec), line("recall", rec_), line("hd95", hd);
        if (hd_inf)
            table += "(hd95 over " + std::to_string(hd.size()) + " images; " + std::to_string(hd_inf) +
                     " with exactly one empty mask have no finite distance)\n";
        write_file(csv, rows, overwrite);
        if (a.has("summary")) write_file(summary, table, overwrite);
        std::cout << table;
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp-evaluate", [&] { return run(argc, argv); });
}
