// busi_hierarchical: seed 001's hierarchical two-stage classifier on BUSI (normal / benign /
// malignant) and its flat 3-class control (--mode flat), evaluated by grouped K-fold
// cross-validation.
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <unetpp/unet.hpp>

#include "busi_experiment.hpp"

namespace {

using namespace busi_exp;

const char* help_text = R"(usage: unetpp_busi_hierarchical --data DIR --out DIR [options]

Classifies BUSI images as normal / benign / malignant and evaluates the 3-class decision by K-fold
cross-validation, with one of two models of the same body (presets::busi_stage_classifier's
encoder_classifier: four levels of (conv 3x3, BN, ReLU) x 2 + max pool at 16, 32, 64, 128
channels, global average pooling, dense 64, ReLU, then a last dense layer):
  --mode hierarchical  seed 001's two-stage classifier, two such networks with one logit each:
     stage 1  normal vs abnormal (benign or malignant), trained on every training image
     stage 2  benign vs malignant, trained on the abnormal training images only
     Decision: normal if p_abnormal < t1; otherwise malignant if p_malignant >= t2, else benign.
     Loss: BCE on logits; with --balance on the positive class is weighted by
     #negatives/#positives of the stage's training images (torch's pos_weight).
  --mode flat  the control: one such network with 3 logits (presets::busi_flat_classifier),
     softmax cross-entropy on all training images; with --balance on class k is weighted by
     #images / (3 #images of class k) of the training images. Decision: the arg-max. Its
     stage probabilities are p_abnormal = 1 - P(normal), p_malignant = P(malignant) /
     (P(benign) + P(malignant)) (hierarchy_stages), which give its stage AUCs and accuracies.
Adam, the same epochs, batch, augmentation and data order for both. The folds are grouped
(images whose perceptual hashes are within 8 bits stay in one fold) and stratified by class; the
networks of the last epoch are evaluated on the held-out fold.

--threshold-from holdout holds a grouped, stratified part of each training fold (--holdout) out
of training and chooses t1 and t2 there: the pair with the highest 3-class accuracy of the
cascade on the held-out images (candidates: 0.5 and the midpoints between consecutive distinct
held-out scores; among equally accurate pairs the nearest to 0.5 / 0.5). The flat model's
stage probabilities go through the same cascade. The validation fold is not looked at. The
results at the fixed rule (--t-abnormal / --t-malignant for hierarchical, the arg-max for flat)
are reported beside them.

Per-stage accuracy: stage 1, normal vs abnormal over all validation images (the decision's
normal against the rest); stage 2, p_malignant >= t2 against the truth over the abnormal
validation images, whatever stage 1 said.

Writes into --out (atomically):
  folds.csv          one row per fold run: accuracy, macro F1, per-class precision / recall / F1,
                     stage accuracies and AUCs, the thresholds, the 3x3 confusion matrix
                     (cm_<true>_<predicted>); the same at the fixed rule (fixed_*); seconds
  summary.md         per-fold table, mean +- sample std, the confusion matrix summed over the
                     folds run and the per-class scores of that summed matrix
  fold<k>_log.csv    per network and epoch: loss, seconds
  fold<k>_val.csv    per validation image: image, true class, p_abnormal, p_malignant, decision,
                     decision at the fixed rule

options:
  --data DIR           the Dataset_BUSI_with_GT folder (or the folder holding it)   (required)
  --out DIR            folder for the result files; must not hold a finished run  (required)
  --mode hierarchical|flat  the two-stage cascade or the flat 3-logit control  (default hierarchical)
  --size N             image side, a multiple of 16 (global pooling: any such size) (default 128)
  --epochs N           epochs of each network    (default 10)   --batch N  (default 8)
  --lr X               Adam learning rate                                        (default 1e-3)
  --balance on|off     class-weighted loss (see above)                            (default on)
  --t-abnormal X --t-malignant X  the fixed thresholds (hierarchical only)       (default 0.5, 0.5)
  --threshold-from fixed|holdout  the fixed rule, or thresholds chosen on a held-out part of
                       each training fold                                        (default fixed)
  --holdout F          fraction of the training fold held out by --threshold-from holdout
                                                                                 (default 0.15)
  --folds K            (default 5)       --fold k|all  which folds to run        (default all)
  --seed N             split, initialisation, data order, augmentation           (default 1)
  --augment on|off     random flips and +-15 degree rotations                    (default off)
  --threads N          OpenMP threads                                            (default: all)
  --max-per-class N    keep only the first N images of each class (quick runs)   (default 0: all)
  --quiet              no progress lines
Exit codes: 0 done, 2 bad input (one line on stderr naming the problem), 3 training diverged.
)";

using stage_t = presets::busi_stage_classifier<>;
using flat_t = presets::busi_flat_classifier<>;
static_assert(std::is_same_v<stage_t, hierarchical_classifier<presets::busi_stage_cfg>::stage1_t>);

// BUSI labels in the order read ("benign", "malignant", "normal") -> tri_class ids.
constexpr int busi_benign = 0, busi_malignant = 1, busi_normal = 2;
tri_class tri_of(int busi_label) {
    return busi_label == busi_normal ? tri_class::normal
                                     : busi_label == busi_malignant ? tri_class::malignant : tri_class::benign;
}

/// The options of this program beyond busi_experiment.hpp's common ones.
struct hier_options {
    bool flat = false;             // --mode flat
    bool balance = true;           // class-weighted loss
    hierarchy_thresholds fixed{};  // --t-abnormal, --t-malignant (hierarchical)
    threshold_source thresholds;   // --threshold-from, --holdout
};

/// Trains `net` on samples `idx` with targets `target` (indexed by data-set index: 0/1 for a
/// one-logit network, class ids for the flat one) with `loss`; `note` describes the loss's
/// weights in the progress lines.
template <class Net, class Loss>
void train_net(Net& net, const busi_images& d, const std::vector<std::size_t>& idx, const std::vector<float>& target,
               const common_options& o, const Loss& loss, const std::string& note, std::uint64_t seed,
               const std::string& name, int fold, std::string& log) {
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
                      << fmt(sum / static_cast<double>(order.size())) << " (" << note << "), " << fmt(s, 1) << " s"
                      << std::endl;
    }
}

/// One binary stage with weighted BCE (pos_weight = #negatives / #positives with --balance on).
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
    train_net(net, d, idx, target, o, loss, "pos_weight " + fmt(loss.pos_weight, 3), seed, name, fold, log);
}

/// The flat network with softmax cross-entropy on the tri_class ids; with --balance on class k
/// weighs #images / (3 #images of class k) (sklearn's "balanced"; the loss divides by the summed
/// weights, so only their ratios matter).
void train_flat(flat_t& net, const busi_images& d, const std::vector<std::size_t>& idx,
                const std::vector<float>& target, const common_options& o, bool balance, std::uint64_t seed, int fold,
                std::string& log) {
    std::size_t count[tri_class_count] = {};
    for (std::size_t i : idx) ++count[static_cast<int>(target[i])];
    losses::cross_entropy loss;
    std::string note = "class weights";
    for (int k = 0; k < tri_class_count; ++k) {
        if (count[k] == 0)
            throw usage_error("fold " + std::to_string(fold) + ": no " + tri_class_name(static_cast<tri_class>(k)) +
                              " image among the flat network's training images; use more images or fewer folds");
        const double w = balance ? static_cast<double>(idx.size()) / (tri_class_count * static_cast<double>(count[k]))
                                 : 1.0;
        loss.class_weights.push_back(w);
        note += (k ? " / " : " ") + fmt(w, 3);
    }
    train_net(net, d, idx, target, o, loss, note, seed, "flat", fold, log);
}

/// Scores of a set of images by the trained model(s) in eval mode, no augmentation.
struct scored {
    std::vector<std::size_t> idx;                // data-set indices
    std::vector<double> p_abnormal, p_malignant;  // the stage probabilities
    std::vector<tri_class> fixed;                 // the fixed rule's decisions
    std::vector<tri_class> truth;
};

/// The cascade's 3-class accuracy on `s` at thresholds t.
double cascade_accuracy(const scored& s, hierarchy_thresholds t) {
    std::size_t right = 0;
    for (std::size_t k = 0; k < s.idx.size(); ++k)
        right += combine_hierarchy(s.p_abnormal[k], s.p_malignant[k], t) == s.truth[k];
    return s.idx.empty() ? std::nan("") : static_cast<double>(right) / static_cast<double>(s.idx.size());
}

/// The thresholds (t1, t2) with the highest 3-class accuracy of the cascade on `s` (the
/// held-out part of the training fold). Accuracy, not balanced accuracy, because accuracy is
/// what the experiment is scored by; the class weights of the losses already balance the
/// classes. Candidates per threshold: threshold_candidates of its scores; among equally
/// accurate pairs, the nearest to (0.5, 0.5).
hierarchy_thresholds best_thresholds(const scored& s, double& accuracy) {
    hierarchy_thresholds best{};
    accuracy = cascade_accuracy(s, best);
    double best_dist = 0;
    const auto t1s = threshold_candidates(s.p_abnormal), t2s = threshold_candidates(s.p_malignant);
    for (double t1 : t1s)
        for (double t2 : t2s) {
            const hierarchy_thresholds t{.abnormal = t1, .malignant = t2};
            const double a = cascade_accuracy(s, t), dist = (t1 - 0.5) * (t1 - 0.5) + (t2 - 0.5) * (t2 - 0.5);
            if (a > accuracy || (a == accuracy && dist < best_dist)) {
                best = t;
                accuracy = a;
                best_dist = dist;
            }
        }
    return best;
}

/// The 3-class scores of one rule on the validation images.
struct rule_scores {
    metrics::confusion_matrix cm{tri_class_count};
    double stage1_accuracy = 0, stage2_accuracy = 0;
};
rule_scores score_rule(const scored& s, const std::vector<tri_class>& decided, double t_malignant) {
    rule_scores r;
    std::size_t s1 = 0, s2 = 0, abnormal = 0;
    for (std::size_t k = 0; k < s.idx.size(); ++k) {
        r.cm.add(static_cast<int>(s.truth[k]), static_cast<int>(decided[k]));
        s1 += (s.truth[k] == tri_class::normal) == (decided[k] == tri_class::normal);
        if (s.truth[k] == tri_class::normal) continue;
        ++abnormal;
        s2 += (s.p_malignant[k] >= t_malignant) == (s.truth[k] == tri_class::malignant);
    }
    r.stage1_accuracy = static_cast<double>(s1) / static_cast<double>(s.idx.size());
    r.stage2_accuracy = abnormal ? static_cast<double>(s2) / static_cast<double>(abnormal) : std::nan("");
    return r;
}

struct fold_result {
    int fold = 0;
    std::size_t train_images = 0, holdout_images = 0, val_images = 0;
    rule_scores decision, fixed;  // at the chosen thresholds, and at the fixed rule
    hierarchy_thresholds t{};     // the decision's thresholds (NaN for the flat model's arg-max)
    double holdout_accuracy = 0;  // the cascade's accuracy at t on the held-out part (NaN without one)
    double stage1_auc = 0, stage2_auc = 0, seconds = 0;
};

fold_result run_fold(const busi_images& d, const data::fold& fold_part, int fold, const common_options& o,
                     const hier_options& ho) {
    const auto t0 = std::chrono::steady_clock::now();
    const train_parts tp =
        split_training(d, fold_part, fold, o.seed, ho.thresholds.holdout ? ho.thresholds.fraction : 0.0);
    std::vector<float> abnormal(d.labels.size()), malignant(d.labels.size()), tri(d.labels.size());
    for (std::size_t i = 0; i < d.labels.size(); ++i) {
        abnormal[i] = d.labels[i] == busi_normal ? 0.0f : 1.0f;
        malignant[i] = d.labels[i] == busi_malignant ? 1.0f : 0.0f;
        tri[i] = static_cast<float>(static_cast<int>(tri_of(d.labels[i])));
    }
    std::string log = "network,epoch,loss,seconds\n";
    const std::uint64_t init_seed = o.seed * 1000 + static_cast<std::uint64_t>(fold);
    const std::uint64_t seed = o.seed + static_cast<std::uint64_t>(fold);
    std::unique_ptr<hierarchical_classifier<presets::busi_stage_cfg>> h;
    std::unique_ptr<flat_t> flat;
    if (ho.flat) {
        flat = std::make_unique<flat_t>(init_seed);
        train_flat(*flat, d, tp.train, tri, o, ho.balance, seed, fold, log);
    } else {
        h = std::make_unique<hierarchical_classifier<presets::busi_stage_cfg>>(init_seed, ho.fixed);
        std::vector<std::size_t> train_abnormal;
        for (std::size_t i : tp.train)
            if (d.labels[i] != busi_normal) train_abnormal.push_back(i);
        train_stage(h->stage1(), d, tp.train, abnormal, o, ho.balance, seed, "stage1", fold, log);
        train_stage(h->stage2(), d, train_abnormal, malignant, o, ho.balance, seed ^ 0x5a5a, "stage2", fold, log);
    }
    write_text(o.out / ("fold" + std::to_string(fold) + "_log.csv"), log);

    // Both models scored alike: stage probabilities and the fixed rule's decision per image.
    const auto score = [&](const std::vector<std::size_t>& idx) {
        scored s;
        batch_tensors b;
        for (std::size_t from = 0; from < idx.size(); from += static_cast<std::size_t>(o.batch)) {
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(o.batch), idx.size() - from);
            fill_batch(d, idx, from, n, abnormal, b, nullptr, 0, 0);
            for (std::size_t k = 0; k < n; ++k) {
                s.idx.push_back(idx[from + k]);
                s.truth.push_back(tri_of(d.labels[idx[from + k]]));
            }
            if (flat) {
                flat->eval();
                const auto z = flat->forward(b.images);
                for (std::size_t k = 0; k < n; ++k) {
                    double p[tri_class_count], mx = -HUGE_VAL, sum = 0;
                    int arg = 0;
                    for (int c = 0; c < tri_class_count; ++c) {
                        p[c] = static_cast<double>(z[k * tri_class_count + static_cast<std::size_t>(c)]);
                        if (p[c] > mx) mx = p[c], arg = c;
                    }
                    for (double& v : p) sum += v = std::exp(v - mx);
                    const auto st = hierarchy_stages({.normal = p[0] / sum, .benign = p[1] / sum, .malignant = p[2] / sum});
                    s.p_abnormal.push_back(st.abnormal);
                    s.p_malignant.push_back(st.malignant);
                    s.fixed.push_back(static_cast<tri_class>(arg));
                }
            } else {
                const auto p = h->probabilities(b.images);
                const auto decided = combine_hierarchy(p.abnormal, p.malignant, ho.fixed);
                for (std::size_t k = 0; k < n; ++k) {
                    s.p_abnormal.push_back(p.abnormal[k]);
                    s.p_malignant.push_back(p.malignant[k]);
                    s.fixed.push_back(decided[k]);
                }
            }
        }
        return s;
    };
    fold_result r;
    r.fold = fold;
    r.train_images = tp.train.size();
    r.holdout_images = tp.holdout.size();
    r.val_images = fold_part.test.size();
    r.holdout_accuracy = std::nan("");
    r.t = ho.flat ? hierarchy_thresholds{std::nan(""), std::nan("")} : ho.fixed;
    if (ho.thresholds.holdout) r.t = best_thresholds(score(tp.holdout), r.holdout_accuracy);

    const scored v = score(fold_part.test);
    std::vector<tri_class> decided = v.fixed;
    if (ho.thresholds.holdout)
        for (std::size_t k = 0; k < v.idx.size(); ++k) decided[k] = combine_hierarchy(v.p_abnormal[k], v.p_malignant[k], r.t);
    r.fixed = score_rule(v, v.fixed, ho.flat ? 0.5 : ho.fixed.malignant);
    r.decision = ho.thresholds.holdout ? score_rule(v, decided, r.t.malignant) : r.fixed;
    std::string per_image = "image,true,p_abnormal,p_malignant,predicted,predicted_fixed\n";
    std::vector<double> abn_all, pm_abn, mal_abn;
    for (std::size_t k = 0; k < v.idx.size(); ++k) {
        const std::size_t i = v.idx[k];
        abn_all.push_back(abnormal[i]);
        if (v.truth[k] != tri_class::normal) {
            pm_abn.push_back(v.p_malignant[k]);
            mal_abn.push_back(malignant[i]);
        }
        per_image += "\"" + d.names[i] + "\"," + tri_class_name(v.truth[k]) + "," + fmt(v.p_abnormal[k], 6) + "," +
                     fmt(v.p_malignant[k], 6) + "," + tri_class_name(decided[k]) + "," + tri_class_name(v.fixed[k]) +
                     "\n";
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
    r.stage1_auc = auc(v.p_abnormal, abn_all);
    r.stage2_auc = auc(pm_abn, mal_abn);
    r.seconds = seconds_since(t0);
    if (!o.quiet) {
        std::cout << "fold " << fold << ": accuracy " << fmt(r.decision.cm.accuracy()) << ", macro F1 "
                  << fmt(r.decision.cm.macro_f1()) << ", stage-1 accuracy " << fmt(r.decision.stage1_accuracy)
                  << ", stage-2 accuracy " << fmt(r.decision.stage2_accuracy) << ", stage-1 AUC "
                  << fmt(r.stage1_auc) << ", stage-2 AUC " << fmt(r.stage2_auc);
        if (ho.thresholds.holdout)
            std::cout << "\nthresholds from " << r.holdout_images << " held-out images: " << fmt(r.t.abnormal) << " / "
                      << fmt(r.t.malignant) << " (held-out accuracy " << fmt(r.holdout_accuracy)
                      << "); at the fixed rule: accuracy " << fmt(r.fixed.cm.accuracy());
        std::cout << "\nconfusion (rows true, columns predicted: 0 normal, 1 benign, 2 malignant)\n"
                  << r.decision.cm.str() << std::flush;
    }
    return r;
}

const char* short_names[3] = {"normal", "benign", "malignant"};

std::string folds_csv(const std::vector<fold_result>& rs) {
    std::string s = "fold,train_images,holdout_images,val_images,accuracy,macro_f1";
    for (const char* c : short_names) s += std::string(",precision_") + c + ",recall_" + c + ",f1_" + c;
    s += ",stage1_accuracy,stage2_accuracy,stage1_auc,stage2_auc,t_abnormal,t_malignant,holdout_accuracy";
    for (const char* t : short_names)
        for (const char* p : short_names) s += std::string(",cm_") + t + "_" + p;
    s += ",fixed_accuracy,fixed_macro_f1,fixed_stage1_accuracy,fixed_stage2_accuracy";
    for (const char* t : short_names)
        for (const char* p : short_names) s += std::string(",fixed_cm_") + t + "_" + p;
    s += ",seconds\n";
    for (const auto& r : rs) {
        const auto& cm = r.decision.cm;
        s += std::to_string(r.fold) + "," + std::to_string(r.train_images) + "," + std::to_string(r.holdout_images) +
             "," + std::to_string(r.val_images) + "," + fmt(cm.accuracy(), 6) + "," + fmt(cm.macro_f1(), 6);
        for (int k = 0; k < 3; ++k)
            s += "," + fmt(cm.precision(k), 6) + "," + fmt(cm.recall(k), 6) + "," + fmt(cm.f1(k), 6);
        s += "," + fmt(r.decision.stage1_accuracy, 6) + "," + fmt(r.decision.stage2_accuracy, 6) + "," +
             fmt(r.stage1_auc, 6) + "," + fmt(r.stage2_auc, 6) + "," + fmt(r.t.abnormal, 6) + "," +
             fmt(r.t.malignant, 6) + "," + fmt(r.holdout_accuracy, 6);
        for (int t = 0; t < 3; ++t)
            for (int p = 0; p < 3; ++p) s += "," + std::to_string(cm(t, p));
        s += "," + fmt(r.fixed.cm.accuracy(), 6) + "," + fmt(r.fixed.cm.macro_f1(), 6) + "," +
             fmt(r.fixed.stage1_accuracy, 6) + "," + fmt(r.fixed.stage2_accuracy, 6);
        for (int t = 0; t < 3; ++t)
            for (int p = 0; p < 3; ++p) s += "," + std::to_string(r.fixed.cm(t, p));
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

/// The summed matrix and its per-class scores.
std::string summed_md(const metrics::confusion_matrix& sum) {
    std::string s = confusion_md(sum) + "\nScores of the summed matrix: accuracy " + fmt(sum.accuracy(), 3) +
                     ", macro F1 " + fmt(sum.macro_f1(), 3) + "\n\n| class | precision | recall | F1 |\n|---|---:|---:|---:|\n";
    for (int k = 0; k < 3; ++k)
        s += std::string("| ") + short_names[k] + " | " + fmt(sum.precision(k), 3) + " | " + fmt(sum.recall(k), 3) +
             " | " + fmt(sum.f1(k), 3) + " |\n";
    return s;
}

std::string summary_md(const std::vector<fold_result>& rs, const common_options& o, std::size_t images,
                       const hier_options& ho) {
    const std::string fixed_rule = ho.flat ? "the arg-max" : "thresholds " + fmt(ho.fixed.abnormal, 2) + " / " +
                                                                 fmt(ho.fixed.malignant, 2);
    std::string s = "BUSI normal / benign / malignant, " +
                    (ho.flat ? std::string("flat 3-class classifier (busi_flat_classifier, softmax cross-entropy)")
                             : std::string("hierarchical two-stage classifier (seed 001)")) +
                    ", " + std::to_string(o.size) + " x " + std::to_string(o.size) + ", " + std::to_string(images) +
                    " images, " + std::to_string(o.folds) + "-fold grouped CV, " + std::to_string(o.epochs) +
                    " epochs per network, batch " + std::to_string(o.batch) + ", Adam lr " + fmt(o.lr, 6) +
                    ", balance " + (ho.balance ? "on" : "off") + ", decision: " +
                    (ho.thresholds.holdout ? "thresholds chosen on " + fmt(ho.thresholds.fraction, 2) +
                                                 " of each training fold held out of training"
                                           : fixed_rule) +
                    ", augment " + o.augment + ", seed " + std::to_string(o.seed) +
                    "\n\n| fold | train | val | accuracy | macro F1 | F1 normal | F1 benign | F1 malignant | "
                    "recall normal | recall benign | recall malignant | stage-1 accuracy | stage-2 accuracy | "
                    "stage-1 AUC | stage-2 AUC | seconds |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    constexpr int cols = 13;
    std::vector<double> c[cols];
    metrics::confusion_matrix sum(tri_class_count), sum_fixed(tri_class_count);
    for (const auto& r : rs) {
        const auto& cm = r.decision.cm;
        const double v[cols] = {cm.accuracy(),  cm.macro_f1(),  cm.f1(0),
                                cm.f1(1),       cm.f1(2),       cm.recall(0),
                                cm.recall(1),   cm.recall(2),   r.decision.stage1_accuracy,
                                r.decision.stage2_accuracy,     r.stage1_auc,
                                r.stage2_auc,   r.seconds};
        s += "| " + std::to_string(r.fold) + " | " + std::to_string(r.train_images) + " | " +
             std::to_string(r.val_images);
        for (int k = 0; k < cols; ++k) {
            c[k].push_back(v[k]);
            s += " | " + fmt(v[k], k == cols - 1 ? 0 : 3);
        }
        s += " |\n";
        for (int t = 0; t < 3; ++t)
            for (int p = 0; p < 3; ++p) {
                sum.add(t, p, r.decision.cm(t, p));
                sum_fixed.add(t, p, r.fixed.cm(t, p));
            }
    }
    s += "| mean ± std | | ";
    for (int k = 0; k < cols - 1; ++k) s += " | " + metrics::summarize(c[k]).str(3);
    s += " | |\n\nConfusion matrix summed over the folds run (rows: true class):\n\n" + summed_md(sum);
    if (ho.thresholds.holdout) {
        s += "\nThe thresholds chosen on the held-out part (" + fmt(ho.thresholds.fraction, 2) +
             " of each training fold), and the same networks at " + fixed_rule +
             ":\n\n| fold | held out | t_abnormal | t_malignant | held-out accuracy | accuracy at " + fixed_rule +
             " | macro F1 | stage-1 accuracy | stage-2 accuracy |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        std::vector<double> t[7];
        for (const auto& r : rs) {
            const double v[7] = {r.t.abnormal,          r.t.malignant,         r.holdout_accuracy,
                                 r.fixed.cm.accuracy(), r.fixed.cm.macro_f1(), r.fixed.stage1_accuracy,
                                 r.fixed.stage2_accuracy};
            s += "| " + std::to_string(r.fold) + " | " + std::to_string(r.holdout_images);
            for (int k = 0; k < 7; ++k) {
                t[k].push_back(v[k]);
                s += " | " + fmt(v[k], 3);
            }
            s += " |\n";
        }
        s += "| mean ± std | ";
        for (int k = 0; k < 7; ++k) s += " | " + metrics::summarize(t[k]).str(3);
        s += " |\n\nConfusion matrix at " + fixed_rule + ", summed over the folds run:\n\n" + summed_md(sum_fixed);
    }
    return s;
}

int run(int argc, char** argv) {
    const cli::args a(argc, argv, {"quiet"},
                      {"data", "out", "mode", "size", "epochs", "batch", "lr", "balance", "t-abnormal", "t-malignant",
                       "threshold-from", "holdout", "folds", "fold", "seed", "augment", "threads", "max-per-class"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    const common_options o = parse_common(a, 128, 1e-3);
    if (!stage_t::is_valid_size(o.size) || o.size > 1024)
        throw usage_error("--size " + std::to_string(o.size) + " is not a multiple of " +
                          std::to_string(stage_t::size_multiple) + " in 16..1024");
    hier_options ho;
    const std::string mode = a.str("mode", "hierarchical");
    if (mode != "hierarchical" && mode != "flat") throw usage_error("--mode must be hierarchical or flat, got '" + mode + "'");
    ho.flat = mode == "flat";
    const std::string bal = a.str("balance", "on");
    if (bal != "on" && bal != "off") throw usage_error("--balance must be on or off, got '" + bal + "'");
    ho.balance = bal == "on";
    if (ho.flat && (a.has("t-abnormal") || a.has("t-malignant")))
        throw usage_error("--t-abnormal and --t-malignant are the hierarchical mode's; --mode flat decides by the "
                          "arg-max or, with --threshold-from holdout, by thresholds chosen on the held-out part");
    ho.fixed = {.abnormal = a.num("t-abnormal", 0.5), .malignant = a.num("t-malignant", 0.5)};
    if (!(ho.fixed.abnormal >= 0 && ho.fixed.abnormal <= 1) || !(ho.fixed.malignant >= 0 && ho.fixed.malignant <= 1))
        throw usage_error("--t-abnormal and --t-malignant must be in [0, 1]");
    ho.thresholds = parse_threshold_source(a, "fixed");
    const std::vector<int> which = folds_to_run(a, o.folds);
    const busi_images d = read_busi(o.data, {"benign", "malignant", "normal"}, o.size, o.max_per_class, o.quiet);
    const auto parts = make_folds(d, o.folds, o.seed);
    prepare_out(o.out, "folds.csv");

    run_folds<fold_result>(
        parts, which, o, [&](const data::fold& p, int f) { return run_fold(d, p, f, o, ho); },
        [&](const std::vector<fold_result>& r) { return summary_md(r, o, d.samples.size(), ho); }, folds_csv);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp_busi_hierarchical", [&] { return run(argc, argv); });
}
