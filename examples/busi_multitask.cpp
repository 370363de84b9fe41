// busi_multitask: seed 002's residual multi-task U-Net (segmentation + benign/malignant
// classification) on BUSI, evaluated by grouped K-fold cross-validation; --body unet_bn puts the
// pooled head on unet_bn's body instead.
#include <algorithm>
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

const char* help_text = R"(usage: unetpp_busi_multitask --data DIR --out DIR [options]

Trains presets::residual_multitask_unet<SIZE> (seed 002: a residual U-Net with a 1x1
segmentation head and a flatten -> dense 64 -> ReLU -> dense 1 classification head, loss
BCE(segmentation) + BCE(classification), Adam; --cls-head gap or gap_deep swap the flatten for a
global average pool of the last or the deepest decoder block) on the benign and malignant BUSI images (normal
images are left out) and evaluates it by K-fold cross-validation. The folds are grouped: images
whose perceptual hashes are within 8 bits (near-duplicates) are always in the same fold, and
stratified by class. The network of the last epoch is evaluated on the held-out fold (no model
selection on it).

Per fold (malignant = positive class; a lesion is predicted where sigmoid > 0.5; an image is
called malignant when its sigmoid > 0.5):
  Dice, IoU          per image, then the mean over the fold's images
  accuracy, F1, sensitivity (recall), specificity, ROC-AUC of the malignant probability
  the same at the threshold with the highest accuracy on the fold's training images (scored
  by the final network in eval mode, no augmentation; the validation fold is not used), or,
  with --threshold-from holdout, on a part of the training fold held out of training

Writes into --out (atomically):
  folds.csv              one row per fold run: fold, train/val images, the metrics, seconds
  summary.md             the per-fold table and mean +- sample std over the folds run
  fold<k>_log.csv        per epoch: loss, segmentation loss, classification loss, seconds
  fold<k>_val.csv        per validation image: image, label, p_malignant, dice, iou
  fold<k>_grad.csv       with --grad-probe: per step, both loss terms and each head's
                         gradient norm on the body

options:
  --data DIR           the Dataset_BUSI_with_GT folder (or the folder holding it)   (required)
  --out DIR            folder for the result files; must not hold a finished run  (required)
  --size N             image side: 64, 128 or 256 (compiled sizes; the classification
                       head's dense layer has 16*N*N inputs x 64 units: 16.8 M weights at 128) (default 128)
  --epochs N           (default 10)      --batch N   (default 8)
  --lr X               Adam learning rate                                        (default 1e-4)
  --seg-weight X --cls-weight X  weights of the two loss terms                   (default 1, 1)
  --seg-loss bce|dice_bce  segmentation term: seed 002's BCE or Dice + BCE       (default bce)
  --cls-head flatten|gap|gap_deep  classification head: seed 002's flatten of the last
                       decoder block (16*N*N inputs), or a global average pool of the last
                       (16 channels) or of the deepest decoder block (128 channels)   (default flatten)
  --schedule constant|cosine  learning rate per epoch: constant, or a cosine from --lr
                       towards --lr / 100 (reached one epoch after the last)         (default constant)
  --body residual|unet_bn  the shared U-Net body: seed 002's residual one, or unet_bn<16, 4>'s
                       (two conv-BN-ReLU per level, no dropout; presets::unet_bn_multitask_gap,
                       only with --cls-head gap)                                  (default residual)
  --pos-weight X|auto  weight of the malignant class in the classification BCE (torch's
                       pos_weight); auto: #benign / #malignant of the images trained on   (default 1)
  --threshold-from train|holdout  where the second threshold is chosen: the images trained on,
                       or a grouped, stratified part of the training fold (--holdout) that is
                       then not trained on                                        (default train)
  --holdout F          fraction of the training fold held out by --threshold-from holdout
                                                                                 (default 0.15)
  --cls-detach on|off  keep the classification head's gradient out of the shared body (the
                       head still learns; the body learns from the segmentation term alone)
                                                                                 (default off)
  --cls-warmup N       the classification term is left out (weight 0) for the first N
                       epochs, so the body learns to segment first                 (default 0)
  --grad-probe N       for the first N training steps, also run the backward pass of each
                       head's loss term alone and write the L2 norm of the gradient it puts
                       on the shared body's parameters to fold<k>_grad.csv (two extra
                       backward passes per probed step)                            (default 0)
  --folds K            (default 5)       --fold k|all  which folds to run        (default all)
  --seed N             split, initialisation, data order, augmentation           (default 1)
  --augment on|off     random flips and +-15 degree rotations                    (default off)
  --threads N          OpenMP threads                                            (default: all)
  --max-per-class N    keep only the first N images of each class (quick runs)   (default 0: all)
  --quiet              no progress lines
Exit codes: 0 done, 2 bad input (one line on stderr naming the problem), 3 training diverged.
)";

struct fold_result {
    int fold = 0;
    std::size_t train_images = 0, val_images = 0;
    double dice = 0, iou = 0, accuracy = 0, f1 = 0, sensitivity = 0, specificity = 0, auc = 0, seconds = 0;
    // at the threshold chosen by --threshold-from (best_threshold on the training or held-out images)
    double threshold = 0.5, accuracy_t = 0, f1_t = 0, sensitivity_t = 0, specificity_t = 0;
    std::size_t holdout_images = 0;
    double pos_weight = 1;
    // with --threshold-from holdout, also the threshold chosen on the images trained on
    double threshold_train = 0.5, accuracy_train_t = 0;
};

/// The options of this program beyond busi_experiment.hpp's common ones.
struct multitask_options {
    losses::multitask loss;
    std::string cls_head = "flatten";  // flatten | gap | gap_deep
    std::string body = "residual";      // residual | unet_bn
    double pos_weight = 1;              // classification BCE pos_weight; < 0: auto (#benign / #malignant)
    bool threshold_holdout = false;     // --threshold-from holdout
    double holdout = 0.15;              // fraction of the training fold held out for the threshold
    bool cls_detach = false;            // stop-gradient between the body and the classification head
    std::string schedule = "constant";  // constant | cosine
    int cls_warmup = 0;                 // epochs without the classification term
    int grad_probe = 0;                 // training steps whose per-head gradient norms are logged
};

/// L2 norm of the gradients held by the shared body's parameters (all but the two heads').
template <class M>
double body_grad_norm(M& model) {
    double s = 0;
    model.visit_parameters([&](std::string_view name, auto&, auto& g) {
        if (name.starts_with("seg_head.") || name.starts_with("cls_head.")) return;
        for (const float v : g) s += static_cast<double>(v) * v;
    });
    return std::sqrt(s);
}

template <class M>
fold_result run_fold(const busi_images& d, const data::fold& fold_part, int fold, const common_options& o,
                     const multitask_options& mo_in) {
    const auto t0 = std::chrono::steady_clock::now();
    const train_parts tp = split_training(d, fold_part, fold, o.seed, mo_in.threshold_holdout ? mo_in.holdout : 0.0);
    data::fold part{tp.train, fold_part.test};
    multitask_options mo = mo_in;
    if (mo.pos_weight < 0) {  // auto: #benign / #malignant of the images trained on
        std::size_t pos = 0;
        for (std::size_t i : part.train) pos += d.labels[i] == 1;
        if (pos == 0 || pos == part.train.size())
            throw usage_error("--pos-weight auto: fold " + std::to_string(fold) + " trains on one class only");
        mo.pos_weight = static_cast<double>(part.train.size() - pos) / static_cast<double>(pos);
    }
    mo.loss.classification_pos_weight = mo.pos_weight;
    auto model = std::make_unique<M>(o.seed * 1000 + static_cast<std::uint64_t>(fold));  // adam keeps pointers into it
    model->detach_classification(mo.cls_detach);
    optim::adam opt(*model, {.lr = o.lr});
    // --schedule cosine: epoch e (0-based) runs at lr/100 + (lr - lr/100) (1 + cos(pi e / epochs)) / 2
    optim::cosine_lr epoch_sched(o.lr, {.t_max = o.epochs, .eta_min = o.lr / 100});
    const data::augment_pipeline aug = make_augment(o.augment);
    std::vector<float> label_values(d.labels.begin(), d.labels.end());  // 0 benign, 1 malignant

    std::string log = "epoch,loss,seg_loss,cls_loss,seconds\n";
    batch_tensors b;
    tensor<float> dseg, dcls, zero_seg, zero_cls;
    std::string probe = "epoch,step,seg_loss,cls_loss,body_grad_seg,body_grad_cls\n";
    int step = 0;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        const auto te = std::chrono::steady_clock::now();
        model->train(true);
        const auto order = epoch_order(part.train, o.seed + static_cast<std::uint64_t>(fold), epoch);
        if (mo.schedule == "cosine") opt.set_lr(epoch_sched.lr());
        epoch_sched.step();
        losses::multitask epoch_loss = mo.loss;
        if (epoch < mo.cls_warmup) epoch_loss.classification_weight = 0.0;
        double sum = 0, sum_seg = 0, sum_cls = 0;
        std::size_t seen = 0;
        for (std::size_t from = 0; from < order.size(); from += static_cast<std::size_t>(o.batch)) {
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(o.batch), order.size() - from);
            fill_batch(d, order, from, n, label_values, b, &aug, o.seed, epoch);
            const auto out = model->forward(b.images);
            const auto l = epoch_loss(out, b.masks, b.labels, &dseg, &dcls);
            if (!std::isfinite(l.total))
                throw train::training_diverged("fold " + std::to_string(fold) + ", epoch " + std::to_string(epoch + 1) +
                                               ": the loss is " + std::to_string(l.total) + "; lower --lr");
            if (step < mo.grad_probe) {
                // Each head's gradient alone, on the shared body: two extra backward passes, one
                // with the other head's gradient set to zero.
                zero_seg.resize(dseg.shape());
                zero_seg.zero();
                zero_cls.resize(dcls.shape());
                zero_cls.zero();
                model->zero_grad();
                model->backward(b.images, dseg, zero_cls);
                const double g_seg = body_grad_norm(*model);
                model->zero_grad();
                model->backward(b.images, zero_seg, dcls);
                const double g_cls = body_grad_norm(*model);
                probe += std::to_string(epoch + 1) + "," + std::to_string(step) + "," + fmt(l.segmentation, 6) + "," +
                         fmt(l.classification, 6) + "," + fmt(g_seg, 6) + "," + fmt(g_cls, 6) + "\n";
            }
            ++step;
            model->zero_grad();
            model->backward(b.images, dseg, dcls);
            opt.step();
            sum += l.total * static_cast<double>(n);
            sum_seg += l.segmentation * static_cast<double>(n);
            sum_cls += l.classification * static_cast<double>(n);
            seen += n;
        }
        const double s = seconds_since(te);
        log += std::to_string(epoch + 1) + "," + fmt(sum / seen, 6) + "," + fmt(sum_seg / seen, 6) + "," +
               fmt(sum_cls / seen, 6) + "," + fmt(s, 1) + "\n";
        if (!o.quiet)
            std::cout << "fold " << fold << " epoch " << epoch + 1 << "/" << o.epochs << ": loss " << fmt(sum / seen)
                      << " (seg " << fmt(sum_seg / seen) << ", cls " << fmt(sum_cls / seen) << "), " << fmt(s, 1)
                      << " s" << std::endl;
    }
    write_text(o.out / ("fold" + std::to_string(fold) + "_log.csv"), log);
    if (mo.grad_probe > 0) write_text(o.out / ("fold" + std::to_string(fold) + "_grad.csv"), probe);

    // Evaluation of the last epoch's network on the held-out fold.
    model->eval();
    std::vector<double> scores, labels, dices, ious;
    std::string per_image = "image,label,p_malignant,dice,iou\n";
    for (std::size_t from = 0; from < part.test.size(); from += static_cast<std::size_t>(o.batch)) {
        const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(o.batch), part.test.size() - from);
        fill_batch(d, part.test, from, n, label_values, b, nullptr, 0, 0);
        const auto out = model->forward(b.images);
        const auto seg = heads::sigmoid(out.segmentation);
        const auto cls = heads::sigmoid(out.classification);
        const std::size_t plane = b.masks.size() / n;
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t i = part.test[from + k];
            const double dc = metrics::dice(seg.values().data() + k * plane, b.masks.data() + k * plane, plane);
            const double io = metrics::iou(seg.values().data() + k * plane, b.masks.data() + k * plane, plane);
            scores.push_back(cls[k]);
            labels.push_back(label_values[i]);
            dices.push_back(dc);
            ious.push_back(io);
            per_image += "\"" + d.names[i] + "\"," + std::to_string(d.labels[i]) + "," + fmt(cls[k], 6) + "," +
                         fmt(dc, 6) + "," + fmt(io, 6) + "\n";
        }
    }
    write_text(o.out / ("fold" + std::to_string(fold) + "_val.csv"), per_image);
    const auto cm = metrics::binary_confusion_matrix(scores, labels, 0.5);

    // The images the threshold is chosen on through the same eval-mode network.
    const auto score = [&](const std::vector<std::size_t>& idx, std::vector<double>& sc, std::vector<double>& lb) {
        for (std::size_t from = 0; from < idx.size(); from += static_cast<std::size_t>(o.batch)) {
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(o.batch), idx.size() - from);
            fill_batch(d, idx, from, n, label_values, b, nullptr, 0, 0);
            const auto cls = heads::sigmoid(model->forward(b.images).classification);
            for (std::size_t k = 0; k < n; ++k) {
                sc.push_back(cls[k]);
                lb.push_back(label_values[idx[from + k]]);
            }
        }
    };
    std::vector<double> train_scores, train_labels;
    score(part.train, train_scores, train_labels);
    fold_result r;
    r.fold = fold;
    r.train_images = part.train.size();
    r.val_images = part.test.size();
    r.holdout_images = tp.holdout.size();
    r.pos_weight = mo.pos_weight;
    r.dice = metrics::summarize(dices).mean;
    r.iou = metrics::summarize(ious).mean;
    r.accuracy = cm.accuracy();
    r.f1 = cm.f1(1);
    r.sensitivity = cm.recall(1);
    r.specificity = cm.specificity(1);
    r.auc = metrics::roc_auc(scores, labels);
    r.threshold_train = best_threshold(train_scores, train_labels);
    r.accuracy_train_t = metrics::binary_confusion_matrix(scores, labels, r.threshold_train).accuracy();
    r.threshold = r.threshold_train;
    if (mo.threshold_holdout) {
        std::vector<double> hold_scores, hold_labels;
        score(tp.holdout, hold_scores, hold_labels);
        r.threshold = best_threshold(hold_scores, hold_labels);
    }
    const auto cm_t = metrics::binary_confusion_matrix(scores, labels, r.threshold);
    r.accuracy_t = cm_t.accuracy();
    r.f1_t = cm_t.f1(1);
    r.sensitivity_t = cm_t.recall(1);
    r.specificity_t = cm_t.specificity(1);
    r.seconds = seconds_since(t0);
    if (!o.quiet)
        std::cout << "fold " << fold << ": Dice " << fmt(r.dice) << ", IoU " << fmt(r.iou) << ", accuracy "
                  << fmt(r.accuracy) << ", F1 " << fmt(r.f1) << ", sensitivity " << fmt(r.sensitivity)
                  << ", specificity " << fmt(r.specificity) << ", AUC " << fmt(r.auc) << "\n"
                  << cm.str() << "at the " << (mo.threshold_holdout ? "held-out" : "training")
                  << " images' threshold " << fmt(r.threshold) << ": accuracy "
                  << fmt(r.accuracy_t) << ", F1 " << fmt(r.f1_t) << ", sensitivity " << fmt(r.sensitivity_t)
                  << ", specificity " << fmt(r.specificity_t) << "\n"
                  << (mo.threshold_holdout ? "at the training images' threshold " + fmt(r.threshold_train) +
                                                 ": accuracy " + fmt(r.accuracy_train_t) + "\n"
                                           : std::string())
                  << std::flush;
    return r;
}

template <int Size>
fold_result run_size(const busi_images& d, const data::fold& part, int fold, const common_options& o,
                     const multitask_options& mo) {
    if (mo.body == "unet_bn") return run_fold<presets::unet_bn_multitask_gap<Size>>(d, part, fold, o, mo);
    if (mo.cls_head == "gap") return run_fold<presets::residual_multitask_unet_gap<Size>>(d, part, fold, o, mo);
    if (mo.cls_head == "gap_deep") return run_fold<presets::residual_multitask_unet_gap_deep<Size>>(d, part, fold, o, mo);
    return run_fold<presets::residual_multitask_unet<Size>>(d, part, fold, o, mo);
}

std::string folds_csv(const std::vector<fold_result>& rs) {
    std::string s = "fold,train_images,val_images,dice,iou,accuracy,f1,sensitivity,specificity,auc,seconds,"
                    "threshold,accuracy_t,f1_t,sensitivity_t,specificity_t,holdout_images,pos_weight,"
                    "threshold_train,accuracy_train_t\n";
    for (const auto& r : rs)
        s += std::to_string(r.fold) + "," + std::to_string(r.train_images) + "," + std::to_string(r.val_images) + "," +
             fmt(r.dice, 6) + "," + fmt(r.iou, 6) + "," + fmt(r.accuracy, 6) + "," + fmt(r.f1, 6) + "," +
             fmt(r.sensitivity, 6) + "," + fmt(r.specificity, 6) + "," + fmt(r.auc, 6) + "," + fmt(r.seconds, 1) + "," +
             fmt(r.threshold, 6) + "," + fmt(r.accuracy_t, 6) + "," + fmt(r.f1_t, 6) + "," + fmt(r.sensitivity_t, 6) +
             "," + fmt(r.specificity_t, 6) + "," + std::to_string(r.holdout_images) + "," + fmt(r.pos_weight, 6) +
             "," + fmt(r.threshold_train, 6) + "," + fmt(r.accuracy_train_t, 6) + "\n";
    return s;
}

std::string summary_md(const std::vector<fold_result>& rs, const common_options& o, std::size_t images,
                       const multitask_options& mo) {
    const losses::multitask& loss = mo.loss;
    std::string s = "BUSI benign vs malignant, " +
                    (mo.body == "unet_bn" ? std::string("multi-task U-Net on unet_bn's body")
                                          : std::string("residual multi-task U-Net (seed 002)")) + ", " + std::to_string(o.size) + " x " +
                    std::to_string(o.size) + ", " + std::to_string(images) + " images, " + std::to_string(o.folds) +
                    "-fold grouped CV, " + std::to_string(o.epochs) + " epochs, batch " + std::to_string(o.batch) +
                    ", Adam lr " + fmt(o.lr, 6) +  " (" + mo.schedule + "), augment " + o.augment + ", seed " +
                    std::to_string(o.seed) +
                    ", loss " + fmt(loss.segmentation_weight, 3) + " x " +
                    (loss.segmentation == losses::multitask::segmentation_term::dice_bce ? "(Dice + BCE)" : "BCE") +
                    "(segmentation) + " + fmt(loss.classification_weight, 3) + " x BCE(classification)" +
                    (mo.cls_warmup > 0 ? " (from epoch " + std::to_string(mo.cls_warmup + 1) + ")" : std::string()) +
                    (mo.cls_detach ? " (its gradient kept out of the body)" : std::string()) +
                    ", classification head " + mo.cls_head +
                    (mo.pos_weight != 1 ? ", pos_weight " + (mo.pos_weight < 0 ? std::string("auto") : fmt(mo.pos_weight, 3))
                                        : std::string()) +
                    "\n\n| fold | train | val | Dice | IoU | accuracy | F1 | sensitivity | specificity | ROC-AUC | "
                    "seconds |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    std::vector<double> c[8];
    for (const auto& r : rs) {
        const double v[8] = {r.dice, r.iou, r.accuracy, r.f1, r.sensitivity, r.specificity, r.auc, r.seconds};
        s += "| " + std::to_string(r.fold) + " | " + std::to_string(r.train_images) + " | " +
             std::to_string(r.val_images);
        for (int k = 0; k < 8; ++k) {
            c[k].push_back(v[k]);
            s += " | " + fmt(v[k], k == 7 ? 0 : 3);
        }
        s += " |\n";
    }
    s += "| mean ± std | | ";
    for (int k = 0; k < 7; ++k) s += " | " + metrics::summarize(c[k]).str(3);
    s += " | |\n";
    s += std::string("\nThe classification at the threshold with the highest accuracy on ") +
         (mo.threshold_holdout ? "a part of the fold's training images held out of training (" + fmt(mo.holdout, 2) +
                                     " of them)"
                               : std::string("the fold's training images")) +
         " (eval mode, no augmentation):\n\n| fold | threshold | accuracy | F1 | sensitivity | specificity |\n"
         "|---|---:|---:|---:|---:|---:|\n";
    std::vector<double> t[5];
    for (const auto& r : rs) {
        const double v[5] = {r.threshold, r.accuracy_t, r.f1_t, r.sensitivity_t, r.specificity_t};
        s += "| " + std::to_string(r.fold);
        for (int k = 0; k < 5; ++k) {
            t[k].push_back(v[k]);
            s += " | " + fmt(v[k], 3);
        }
        s += " |\n";
    }
    s += "| mean ± std";
    for (int k = 0; k < 5; ++k) s += " | " + metrics::summarize(t[k]).str(3);
    s += " |\n";
    return s;
}

int run(int argc, char** argv) {
    const cli::args a(argc, argv, {"quiet"},
                      {"data", "out", "size", "epochs", "batch", "lr", "seg-weight", "cls-weight", "seg-loss",
                       "cls-head", "cls-warmup", "schedule", "grad-probe", "folds", "fold", "body", "pos-weight",
                       "threshold-from", "holdout", "cls-detach",
                       "seed", "augment", "threads", "max-per-class"});
    if (a.has("help")) {
        std::cout << help_text;
        return 0;
    }
    const common_options o = parse_common(a, 128, 1e-4);
    if (o.size != 64 && o.size != 128 && o.size != 256)
        throw usage_error("--size " + std::to_string(o.size) + " is not compiled in; use 64, 128 or 256");
    const std::string seg_loss = a.str("seg-loss", "bce");
    if (seg_loss != "bce" && seg_loss != "dice_bce") throw usage_error("--seg-loss must be bce or dice_bce");
    multitask_options mo;
    mo.loss = {.segmentation_weight = a.num("seg-weight", 1.0),
               .classification_weight = a.num("cls-weight", 1.0),
               .segmentation = seg_loss == "dice_bce" ? losses::multitask::segmentation_term::dice_bce
                                                      : losses::multitask::segmentation_term::bce};
    if (!(mo.loss.segmentation_weight >= 0) || !(mo.loss.classification_weight >= 0))
        throw usage_error("--seg-weight and --cls-weight must be >= 0");
    mo.cls_head = a.str("cls-head", "flatten");
    if (mo.cls_head != "flatten" && mo.cls_head != "gap" && mo.cls_head != "gap_deep")
        throw usage_error("--cls-head must be flatten, gap or gap_deep");
    mo.body = a.str("body", "residual");
    if (mo.body != "residual" && mo.body != "unet_bn") throw usage_error("--body must be residual or unet_bn");
    if (mo.body == "unet_bn" && mo.cls_head != "gap")
        throw usage_error("--body unet_bn takes --cls-head gap only (presets::unet_bn_multitask_gap)");
    const std::string pw = a.str("pos-weight", "1");
    if (pw == "auto") {
        mo.pos_weight = -1;
    } else {
        mo.pos_weight = a.num("pos-weight", 1.0);
        if (!(mo.pos_weight > 0) || !std::isfinite(mo.pos_weight))
            throw usage_error("--pos-weight must be a positive number or auto");
    }
    const std::string detach = a.str("cls-detach", "off");
    if (detach != "on" && detach != "off") throw usage_error("--cls-detach must be on or off");
    mo.cls_detach = detach == "on";
    const threshold_source ts = parse_threshold_source(a, "train");
    mo.threshold_holdout = ts.holdout;
    mo.holdout = ts.fraction;
    const auto whole = [&](const char* name) {
        const double v = a.num(name, 0.0);
        if (!(v >= 0) || v != std::floor(v) || v > 1e6)
            throw usage_error("--" + std::string(name) + " must be a whole number >= 0");
        return static_cast<int>(v);
    };
    mo.cls_warmup = whole("cls-warmup");
    mo.grad_probe = whole("grad-probe");
    mo.schedule = a.str("schedule", "constant");
    if (mo.schedule != "constant" && mo.schedule != "cosine")
        throw usage_error("--schedule must be constant or cosine");
    const std::vector<int> which = folds_to_run(a, o.folds);
    const busi_images d = read_busi(o.data, {"benign", "malignant"}, o.size, o.max_per_class, o.quiet);
    const auto parts = make_folds(d, o.folds, o.seed);
    prepare_out(o.out, "folds.csv");

    run_folds<fold_result>(
        parts, which, o,
        [&](const data::fold& p, int f) {
            if (o.size == 64) return run_size<64>(d, p, f, o, mo);
            if (o.size == 128) return run_size<128>(d, p, f, o, mo);
            return run_size<256>(d, p, f, o, mo);
        },
        [&](const std::vector<fold_result>& r) { return summary_md(r, o, d.samples.size(), mo); },
        folds_csv);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return cli::guarded("unetpp_busi_multitask", [&] { return run(argc, argv); });
}
