// busi_hierarchical: seed 001's hierarchical two-stage classifier on BUSI (normal / benign /
// malignant), evaluated by grouped K-fold cross-validation.
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <unetpp/unet.hpp>

#include "busi_experiment.hpp"

namespace {

using namespace busi_exp;

const char* help_text = R"(usage: unetpp_busi_hierarchical --data DIR --out DIR [options]

Trains the two stages of hierarchical_classifier (seed 001) on all three BUSI classes and
evaluates the combined 3-class decision by K-fold cross-validation. Each stage is
presets::busi_stage_classifier (encoder_classifier: four levels of (conv 3x3, BN, ReLU) x 2 +
max pool at 16, 32, 64, 128 channels, global average pooling, dense 64, ReLU, dense 1).
  stage 1  normal vs abnormal (benign or malignant), trained on every training image
  stage 2  benign vs malignant, trained on the abnormal training images only
Decision: normal if p_abnormal < t1; otherwise malignant if p_malignant >= t2, else benign.
Loss: BCE on logits; with --balance on the positive class is weighted by #negatives/#positives
of the stage's training images (torch's pos_weight). Adam. The folds are grouped (images whose
perceptual hashes are within 8 bits stay in one fold) and stratified by class; the networks of
the last epoch are evaluated on the held-out fold.

Writes into --out (atomically):
  folds.csv          one row per fold run: accuracy, macro F1, per-class precision / recall / F1,
                     stage AUCs, the 3x3 confusion matrix (cm_<true>_<predicted>), seconds
  summary.md         per-fold table, mean +- sample std, the confusion matrix summed over the
                     folds run and the per-class scores of that summed matrix
  fold<k>_log.csv    per stage and epoch: loss, seconds
  fold<k>_val.csv    per validation image: image, true class, p_abnormal, p_malignant, decision

options:
  --data DIR           the Dataset_BUSI_with_GT folder (or the folder holding it)   (required)
  --out DIR            folder for the result files; must not hold a finished run  (required)
  --size N             image side, a multiple of 16 (global pooling: any such size) (default 128)
  --epochs N           epochs of each stage    (default 10)   --batch N  (default 8)
  --lr X               Adam learning rate                                        (default 1e-3)
  --balance on|off     class-weighted BCE per stage                              (default on)
  --t-abnormal X --t-malignant X  the decision thresholds                        (default 0.5, 0.5)
  --folds K            (default 5)       --fold k|all  which folds to run        (default all)
  --seed N             split, initialisation, data order, augmentation           (default 1)
  --augment on|off     random flips and +-15 degree rotations                    (default off)
  --threads N          OpenMP threads                                            (default: all)
  --max-per-class N    keep only the first N images of each class (quick runs)   (default 0: all)
  --quiet              no progress lines
Exit codes: 0 done, 2 bad input (one line on stderr naming the problem), 3 training diverged.
)";

using stage_t = presets::busi_stage_classifier<>;

// BUSI labels in the order read ("benign", "malignant", "normal") -> tri_class ids.
constexpr int busi_benign = 0, busi_malignant = 1, busi_normal = 2;
tri_class tri_of(int busi_label) {
    return busi_label == busi_normal ? tri_class::normal
                                     : busi_label == busi_malignant ? tri_class::malignant : tri_class::benign;
}

/// Trains one stage on samples `idx` with 0/1 targets `target` (indexed by data-set index).
void train_stage(stage_t& net, const busi_images& d, const std::vector<std::size_t>& idx,
                 const std::vector<float>& target, const common_options& o, bool balance, std::uint64_t seed,
                 const std::string& name, int fold, std::string& log) {
    std::size_t pos = 0;
    for (std::size_t i : idx) pos += target[i] > 0.5f;
    const std::size_t neg = idx.size() - pos;
    if (pos == 0 || neg == 0)
        throw usage_error("fold " + std::to_string(fold) + ": the " + name + " training images are all of one class (" +
                          std::to_string(pos) + " positive, " + std::to_string(neg) +
                          " negative); use more images or fewer folds");
    // torch's pos_weight: w = #negatives / #positives makes both classes weigh the same in the mean.
    const losses::weighted_bce loss{.pos_weight = balance ? static_cast<double>(neg) / static_cast<double>(pos) : 1.0};
    optim::adam opt(net, {.lr = o.lr});
    const data::augment_pipeline aug = make_augment(o.augment);
    batch_tensors b;
    tensor<float> g;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        const auto te = std::chrono::steady_clock::now();
        net.train(true);
        const auto order = epoch_order(idx, seed, epoch);
        double sum = 0;
        for (std::size_t from = 0; from < order.size(); from += static_cast<std::size_t>(o.batch)) {
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(o.batch), order.size() - from);
            fill_batch(d, order, from, n, target, b, &aug, seed, epoch);
            const auto z = net.forward(b.images);
            const float l = loss(z.values(), b.labels, &g);
            if (!std::isfinite(l))
                throw train::training_diverged("fold " + std::to_string(fold) + ", " + name + ", epoch " +
                                               std::to_string(epoch + 1) + ": the loss is " + std::to_string(l) +
                                               "; lower --lr");
            net.zero_grad();
            net.backward(b.images, g);
            opt.step();
            sum += static_cast<double>(l) * static_cast<double>(n);
        }
        const double s = seconds_since(te);
        log += name + "," + std::to_string(epoch + 1) + "," + fmt(sum / static_cast<double>(order.size()), 6) + "," +
               fmt(s, 1) + "\n";
        if (!o.quiet)
            std::cout << "fold " << fold << " " << name << " epoch " << epoch + 1 << "/" << o.epochs << ": loss "
                      << fmt(sum / static_cast<double>(order.size())) << " (pos_weight " << fmt(loss.pos_weight, 3)
                      << "), " << fmt(s, 1) << " s" << std::endl;
    }
}

struct fold_result {
    int fold = 0;
    std::size_t train_images = 0, val_images = 0;
    metrics::confusion_matrix cm{tri_class_count};
    double stage1_auc = 0, stage2_auc = 0, seconds = 0;
};

fold_result run_fold(const busi_images& d, const data::fold& part, int fold, const common_options& o, bool balance,
                     hierarchy_thresholds th) {
    const auto t0 = std::chrono::steady_clock::now();
    auto h = std::make_unique<hierarchical_classifier<presets::busi_stage_cfg>>(
        o.seed * 1000 + static_cast<std::uint64_t>(fold), th);
    std::vector<float> abnormal(d.labels.size()), malignant(d.labels.size());
    for (std::size_t i = 0; i < d.labels.size(); ++i) {
        abnormal[i] = d.labels[i] == busi_normal ? 0.0f : 1.0f;
        malignant[i] = d.labels[i] == busi_malignant ? 1.0f : 0.0f;
    }
    std::vector<std::size_t> train_abnormal;
    for (std::size_t i : part.train)
        if (d.labels[i] != busi_normal) train_abnormal.push_back(i);

    std::string log = "stage,epoch,loss,seconds\n";
    const std::uint64_t seed = o.seed + static_cast<std::uint64_t>(fold);
    train_stage(h->stage1(), d, part.train, abnormal, o, balance, seed, "stage1", fold, log);
    train_stage(h->stage2(), d, train_abnormal, malignant, o, balance, seed ^ 0x5a5a, "stage2", fold, log);
    write_text(o.out / ("fold" + std::to_string(fold) + "_log.csv"), log);

    fold_result r;
    r.fold = fold;
    r.train_images = part.train.size();
    r.val_images = part.test.size();
    std::vector<double> pa_all, abn_all, pm_abn, mal_abn;
    std::string per_image = "image,true,p_abnormal,p_malignant,predicted\n";
    batch_tensors b;
    for (std::size_t from = 0; from < part.test.size(); from += static_cast<std::size_t>(o.batch)) {
        const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(o.batch), part.test.size() - from);
        fill_batch(d, part.test, from, n, abnormal, b, nullptr, 0, 0);
        const auto p = h->probabilities(b.images);
        const auto decided = combine_hierarchy(p.abnormal, p.malignant, th);
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t i = part.test[from + k];
            const tri_class truth = tri_of(d.labels[i]);
            r.cm.add(static_cast<int>(truth), static_cast<int>(decided[k]));
            pa_all.push_back(p.abnormal[k]);
            abn_all.push_back(abnormal[i]);
            if (truth != tri_class::normal) {
                pm_abn.push_back(p.malignant[k]);
                mal_abn.push_back(malignant[i]);
            }
            per_image += "\"" + d.names[i] + "\"," + tri_class_name(truth) + "," + fmt(p.abnormal[k], 6) + "," +
                         fmt(p.malignant[k], 6) + "," + tri_class_name(decided[k]) + "\n";
        }
    }
    write_text(o.out / ("fold" + std::to_string(fold) + "_val.csv"), per_image);
    // An AUC needs both classes among the fold's images; a tiny run may lack one (NaN then).
    auto auc = [](const std::vector<double>& s, const std::vector<double>& l) {
        try {
            return metrics::roc_auc(s, l);
        } catch (const std::invalid_argument&) {
            return std::nan("");
        }
    };
    r.stage1_auc = auc(pa_all, abn_all);
    r.stage2_auc = auc(pm_abn, mal_abn);
    r.seconds = seconds_since(t0);
    if (!o.quiet)
        std::cout << "fold " << fold << ": accuracy " << fmt(r.cm.accuracy()) << ", macro F1 " << fmt(r.cm.macro_f1())
                  << ", stage-1 AUC " << fmt(r.stage1_auc) << ", stage-2 AUC " << fmt(r.stage2_auc)
                  << "\nconfusion (rows true, columns predicted: 0 normal, 1 benign, 2 malignant)\n"
                  << r.cm.str() << std::flush;
    return r;
}

const char* short_names[3] = {"normal", "benign", "malignant"};

std::string folds_csv(const std::vector<fold_result>& rs) {
    std::string s = "fold,train_images,val_images,accuracy,macro_f1";
    for (const char* c : short_names) s += std::string(",precision_") + c + ",recall_" + c + ",f1_" + c;
    s += ",stage1_auc,stage2_auc";
    for (const char* t : short_names)
        for (const char* p : short_names) s += std::string(",cm_") + t + "_" + p;
    s += ",seconds\n";
    for (const auto& r : rs) {
        s += std::to_string(r.fold) + "," + std::to_string(r.train_images) + "," + std::to_string(r.val_images) + "," +
             fmt(r.cm.accuracy(), 6) + "," + fmt(r.cm.macro_f1(), 6);
        for (int k = 0; k < 3; ++k)
            s += "," + fmt(r.cm.precision(k), 6) + "," + fmt(r.cm.recall(k), 6) + "," + fmt(r.cm.f1(k), 6);
        s += "," + fmt(r.stage1_auc, 6) + "," + fmt(r.stage2_auc, 6);
        for (int t = 0; t < 3; ++t)
            for (int p = 0; p < 3; ++p) s += "," + std::to_string(r.cm(t, p));
        s += "," + fmt(r.seconds, 1) + "\n";
    }
    return s;
}

std::string confusion_md(const metrics::confusion_matrix& cm) {
    std::string s = "| true \\ predicted | normal | benign | malignant |\n|---|---:|---:|---:|\n";
    for (int t = 0; t < 3; ++t) {
        s += std::string("| ") + short_names[t];
        for (int p = 0; p < 3; ++p) s += " | " + std::to_string(cm(t, p));
        s += " |\n";
    }
    return s;
}

std::string summary_md(const std::vector<fold_result>& rs, const common_options& o, std::size_t images, bool balance,
                       hierarchy_thresholds th) {
    std::string s = "BUSI normal / benign / malignant, hierarchical two-stage classifier (seed 001), " +
                    std::to_string(o.size) + " x " + std::to_string(o.size) + ", " + std::to_string(images) +
                    " images, " + std::to_string(o.folds) + "-fold grouped CV, " + std::to_string(o.epochs) +
                    " epochs per stage, batch " + std::to_string(o.batch) + ", Adam lr " + fmt(o.lr, 6) +
                    ", balance " + (balance ? "on" : "off") + ", thresholds " + fmt(th.abnormal, 2) + " / " +
                    fmt(th.malignant, 2) + ", augment " + o.augment + ", seed " + std::to_string(o.seed) +
                    "\n\n| fold | train | val | accuracy | macro F1 | F1 normal | F1 benign | F1 malignant | "
                    "recall normal | recall benign | recall malignant | stage-1 AUC | stage-2 AUC | seconds |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::vector<double> c[11];
    metrics::confusion_matrix sum(tri_class_count);
    for (const auto& r : rs) {
        const double v[11] = {r.cm.accuracy(), r.cm.macro_f1(), r.cm.f1(0),       r.cm.f1(1),
                              r.cm.f1(2),      r.cm.recall(0),  r.cm.recall(1),   r.cm.recall(2),
                              r.stage1_auc,    r.stage2_auc,    r.seconds};
        s += "| " + std::to_string(r.fold) + " | " + std::to_string(r.train_images) + " | " +
             std::to_string(r.val_images);
        for (int k = 0; k < 11; ++k) {
            c[k].push_back(v[k]);
            s += " | " + fmt(v[k], k == 10 ? 0 : 3);
        }
        s += " |\n";
        for (int t = 0; t < 3; ++t)
            for (int p = 0; p < 3; ++p) sum.add(t, p, r.cm(t, p));
    }
    s += "| mean ± std | | ";
    for (int k = 0; k < 10; ++k) s += " | " + metrics::summarize(c[k]).str(3);
    s += " | |\n\nConfusion matrix summed over the folds run (rows: true class):\n\n" + confusion_md(sum) +
         "\nScores of the summed matrix: accuracy " + fmt(sum.accuracy(), 3) + ", macro F1 " + fmt(sum.macro_f1(), 3) +
         "\n\n| class | precision | recall | F1 |\n|---|---:|---:|---:|\n";
    for (int k = 0; k < 3; ++k)
        s += std::string("| ") + short_names[k] + " | " + fmt(sum.precision(k), 3) + " | " + fmt(sum.recall(k), 3) +
             " | " + fmt(sum.f1(k), 3) + " |\n";
    return s;
}

int run(int argc, char** argv) {
    const cli::args a(argc, argv, {"quiet"},
                      {"data", "out", "size", "epochs", "batch", "lr", "balance", "t-abnormal", "t-malignant", "folds",
                       "fold", "seed", "augment", "threads", "max-per-class"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    const common_options o = parse_common(a, 128, 1e-3);
    if (!stage_t::is_valid_size(o.size) || o.size > 1024)
        throw usage_error("--size " + std::to_string(o.size) + " is not a multiple of " +
                          std::to_string(stage_t::size_multiple) + " in 16..1024");
    const std::string bal = a.str("balance", "on");
    if (bal != "on" && bal != "off") throw usage_error("--balance must be on or off, got '" + bal + "'");
    const hierarchy_thresholds th{.abnormal = a.num("t-abnormal", 0.5), .malignant = a.num("t-malignant", 0.5)};
    if (!(th.abnormal >= 0 && th.abnormal <= 1) || !(th.malignant >= 0 && th.malignant <= 1))
        throw usage_error("--t-abnormal and --t-malignant must be in [0, 1]");
    const std::vector<int> which = folds_to_run(a, o.folds);
    const busi_images d = read_busi(o.data, {"benign", "malignant", "normal"}, o.size, o.max_per_class, o.quiet);
    const auto parts = make_folds(d, o.folds, o.seed);
    prepare_out(o.out, "folds.csv");

    run_folds<fold_result>(
        parts, which, o, [&](const data::fold& p, int f) { return run_fold(d, p, f, o, bal == "on", th); },
        [&](const std::vector<fold_result>& r) { return summary_md(r, o, d.samples.size(), bal == "on", th); },
        folds_csv);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp_busi_hierarchical", [&] { return run(argc, argv); });
}
