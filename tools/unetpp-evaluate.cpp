// unetpp-evaluate: scores a trained network on a data set: per-image Dice, IoU, precision,
// recall and HD95 as CSV, a mean +- std summary table, and optionally the predicted masks.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <unistd.h>

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
  --out-masks DIR    predicted masks as PNG (0/255), DIR/<image stem>_pred.png; written into
                     DIR.partial and renamed to DIR when complete
All files are written atomically; a failed run leaves no output that looks complete.

data (as unetpp-train): --data-type busi|isbi2012|folders|synthetic, --data PATH, --masks PATH,
  --mask-suffix S, --synthetic-count N, --seed N (synthetic images and the split)
  --subset S         all | train | val | test: the part of the split given by --split a,b,c
                     or --folds K --fold k (same meaning and seed as in training) (default all)
model (default: read from the checkpoint): --model M --base N --depth D --size N
  --threshold X      probability threshold for the masks (default 0.5)
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
    const args a(argc, argv, {},
                 {"checkpoint", "csv", "summary", "out-masks", "data-type", "data", "masks", "mask-suffix", "size",
                  "synthetic-count", "seed", "subset", "split", "folds", "fold", "model", "base", "depth", "threshold",
                  "threads"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    adapt_threads_to_load();
    if (a.has("threads")) set_num_threads(static_cast<int>(a.integer("threads", 1)));
    const fs::path ckpt = a.str("checkpoint");
    if (ckpt.empty()) throw usage_error("--checkpoint FILE is required");
    if (!fs::exists(ckpt)) throw usage_error("--checkpoint '" + ckpt.string() + "' does not exist; check the path");
    const fs::path csv = a.str("csv");
    if (csv.empty()) throw usage_error("--csv FILE is required (the per-image results)");

    // Model identity: options first, then the checkpoint's record of the training options.
    std::map<std::string, std::string> rec;
    try {
        rec = train::read_checkpoint_info(ckpt).extra;
    } catch (const std::exception& e) {
        if (!(a.has("model") && a.has("base") && a.has("depth") && a.has("size"))) throw;  // not a checkpoint
    }
    const auto pick = [&](const std::string& k, const std::string& def) {
        if (a.has(k)) return a.str(k);
        const auto it = rec.find(k);
        return it != rec.end() ? it->second : def;
    };
    const std::string model = pick("model", "unet_bn");
    const int base = std::stoi(pick("base", "16")), depth = std::stoi(pick("depth", "3"));
    data_choice dc = data_from(a);
    dc.size = std::stoi(pick("size", std::to_string(dc.size)));
    const double threshold = a.num("threshold", 0.5);
    const std::string subset = a.str("subset", "all");
    if (subset != "all" && subset != "train" && subset != "val" && subset != "test")
        throw usage_error("--subset must be all, train, val or test");

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

        const fs::path masks_dir = a.str("out-masks");
        fs::path partial;
        if (!masks_dir.empty()) {
            partial = masks_dir;
            partial += ".partial";
            fs::remove_all(partial);
            fs::create_directories(partial);
        }
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
            if (!partial.empty()) io::write_png(partial / (ds.stem(i) + "_pred.png"), io::from_tensor(pred));
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
        train::write_file_atomic(csv, rows);
        if (a.has("summary")) train::write_file_atomic(a.str("summary"), table);
        if (!partial.empty()) {
            fs::remove_all(masks_dir);
            fs::rename(partial, masks_dir);
        }
        std::cout << table;
        return 0;
    });
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp-evaluate", [&] { return run(argc, argv); });
}
