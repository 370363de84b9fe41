#pragma once
/// \file The automatic training plan: from a data set's fingerprint (fingerprint.hpp), the
/// machine's measured speed and a time budget, the recipe to train with. The idea is nnU-Net's
/// (Isensee et al., Nature Methods 2021): fixed rules turn the properties of the data into the
/// choices a person would otherwise tune by hand. nnU-Net budgets GPU memory; this planner
/// budgets time, since a CPU run is bounded by the wall clock, not by memory.
///
///   auto fp = train::fingerprint_of(ds, {.classes = 1});
///   train::machine_speed m{.networks = {{16, 4, 64, 2, 0.012}, ...}, .seconds_per_read = 0.004};
///   train::training_plan p = train::plan_recipe(fp, m, {.seconds = 45 * 60});
///   std::string text = train::plan_to_json(p);           // plan.json
///   train::training_plan q = train::plan_from_json(text, "plan.json");  // checked, see below
///
/// plan_recipe is a pure function: the same fingerprint, speed and budget give the same plan.
/// Every rule is in plan_rules (with its reason) and docs/TRAINING.md ("Automatic plan"); the plan
/// lists, in `reasons`, what each rule chose and why, in the order the rules ran.
///
/// plan_from_json reads a plan file as untrusted input: every field must be present with the right
/// type and in range, unknown fields are refused, and every error names the file and the field.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"
#include "../io/json.hpp"
#include "fingerprint.hpp"

namespace unetpp::inline UNETPP_ABI::train {

/// One network the program can train, with its measured speed.
struct network_speed {
    int base = 16, depth = 4;  ///< the network: unet_bn with this base width and depth
    int size = 64;             ///< the side of the square input it was timed at
    int batch = 2;             ///< the batch it was timed with
    double seconds_per_image = 0;  ///< one training step's wall time / batch (> 0)
};

/// The machine part of a plan: the networks the program can train, timed here.
struct machine_speed {
    std::vector<network_speed> networks;
    double seconds_per_read = 0;     ///< reading and decoding one sample (fingerprint_of measures it)
    bool deep_supervision = false;   ///< whether the program can train with deep supervision
};

/// The time the plan must fit in and how the data set is split.
struct plan_budget {
    double seconds = 45 * 60;  ///< wall seconds left for training (after fingerprinting and timing)
    double train_share = 0.8;  ///< share of the images that train
    double val_share = 0.1;    ///< share that validates (every epoch)
};

/// The recipe (see the file comment and plan_rules).
struct training_plan {
    int input_size = 64;  ///< network input side: images resized to it, or the patch side
    int patch = 0;        ///< > 0: train on patches of this side of images kept at their own size
    double fg_oversample = 0;  ///< share of patches centred on foreground (with patches)
    std::string model = "unet_bn";
    int base = 16, depth = 3, batch = 4, epochs = 1;
    std::string optimizer = "adam";
    double lr = 1e-3;
    std::string schedule = "cosine";  ///< constant | cosine (cosine warms up 2 epochs from 10 epochs on)
    std::string loss = "dice_bce";    ///< dice_bce (one class) | dice_ce (several)
    bool deep_supervision = false;
    std::string augment_level = "medium";  ///< light | medium | strong
    std::string augment = "hflip";         ///< the --augment list of unetpp-train
    std::string tta = "hflip";             ///< prediction mirroring: none | hflip
    std::string monitor = "val_dice";
    double seconds_per_epoch = 0;  ///< the estimate the epochs come from
    std::vector<std::string> reasons;   ///< one line per rule: what it chose and why
    std::vector<std::string> warnings;  ///< what the budget could not give
    // what the plan came from (so that a plan file explains itself and can be checked)
    data_fingerprint fingerprint;
    machine_speed machine;
    plan_budget budget;
};

/// The constants of the rules, each with its reason (docs/TRAINING.md repeats them).
namespace plan_rules {
/// Input sides tried, largest first. Multiples of 16, so that depth 4 pools evenly.
inline const std::vector<int> size_ladder{512, 384, 320, 256, 192, 160, 128, 96, 64, 48, 32};
/// The fewest epochs a plan aims for: fewer and a U-Net is still far from converged (BUSI at
/// 128 x 128 still gained from 12 to 20 epochs, docs/RESULTS.md).
inline constexpr int min_epochs = 30;
/// The most epochs planned (nnU-Net trains 1000); a budget that allows more ends early.
inline constexpr int max_epochs = 1000;
/// The smallest bottleneck side: pooling stops before the feature maps get smaller than this
/// (nnU-Net pools until a map is about 4 to 8 pixels wide).
inline constexpr int min_bottleneck = 8;
/// Pixels in one batch: batch x side^2 stays at or below 8 x 128^2 (the activation memory of the
/// recipe the library's results were measured with).
inline constexpr double batch_pixels = 8.0 * 128 * 128;
/// A validation image costs about a third of a training image (a forward pass, no backward).
inline constexpr double val_cost = 1.0 / 3.0;
/// Time not in the steps (checkpoints, logs, the loader's work the timing did not see).
inline constexpr double overhead = 1.15;
/// Patches instead of resizing when the images are at least this many times the input side.
inline constexpr double patch_ratio = 2.0;
/// Images count as one size when the largest side is at most this many times the smallest.
inline constexpr double uniform_sizes = 1.25;
/// Foreground rarer than this share of pixels: half the patches are centred on foreground.
inline constexpr double rare_foreground = 0.01;
}  // namespace plan_rules

namespace plan_detail {

inline std::string fmt(double v, int digits = 3) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*g", digits, v);
    return b;
}

/// The depth for an input side: the deepest of the program's depths (3 or 4) whose bottleneck
/// stays at least plan_rules::min_bottleneck wide (3 when none does).
inline int depth_for(int size) { return size / 16 >= plan_rules::min_bottleneck ? 4 : 3; }

/// The measured network (base, depth), or nullptr.
inline const network_speed* find(const machine_speed& m, int base, int depth) {
    for (const auto& n : m.networks)
        if (n.base == base && n.depth == depth) return &n;
    return nullptr;
}

/// Seconds per epoch of network `n` at input side `size`: the step time scales with the pixels
/// (convolutions are linear in them), plus one read per image.
inline double epoch_seconds(const network_speed& n, int size, double train_images, double val_images, double read) {
    const double scale = (static_cast<double>(size) * size) / (static_cast<double>(n.size) * n.size);
    const double step = n.seconds_per_image * scale;
    return plan_rules::overhead * (train_images * (step + read) + val_images * (step * plan_rules::val_cost + read));
}

}  // namespace plan_detail

/// The plan for `fp` on a machine of speed `m` within `b` (see plan_rules and docs/TRAINING.md).
/// Throws std::invalid_argument when `m` has no network with a positive speed or `b` is not a
/// positive finite number of seconds.
inline training_plan plan_recipe(const data_fingerprint& fp, const machine_speed& m, const plan_budget& b) {
    using namespace plan_detail;
    namespace r = plan_rules;
    if (!(b.seconds > 0) || !std::isfinite(b.seconds))
        throw std::invalid_argument("plan_recipe: the budget must be a positive number of seconds");
    if (!(b.train_share > 0 && b.train_share <= 1 && b.val_share >= 0 && b.val_share <= 1))
        throw std::invalid_argument("plan_recipe: the train and validation shares must lie in (0, 1] and [0, 1]");
    bool any = false;
    for (const auto& n : m.networks) {
        if (!(n.seconds_per_image > 0) || !std::isfinite(n.seconds_per_image) || n.size < 1)
            throw std::invalid_argument("plan_recipe: network base " + std::to_string(n.base) + " depth " +
                                        std::to_string(n.depth) + " has no positive measured speed");
        any = true;
    }
    if (!any) throw std::invalid_argument("plan_recipe: no measured network");
    training_plan p;
    p.fingerprint = fp;
    p.machine = m;
    p.budget = b;
    const double images = static_cast<double>(std::max<std::size_t>(fp.images, 1));
    const double train_n = std::max(1.0, std::floor(images * b.train_share));
    const double val_n = std::max(1.0, std::floor(images * b.val_share));
    const double read = std::max(0.0, m.seconds_per_read);
    const auto epochs_of = [&](const network_speed& n, int size) {
        return static_cast<int>(std::min<double>(r::max_epochs, std::floor(b.seconds / epoch_seconds(n, size, train_n, val_n, read))));
    };

    // Rule 1, input size: the largest side of the ladder no larger than the median short side
    // (upsampling adds no information); among those, the largest at which a network of the
    // program reaches min_epochs in the budget. Resolution first: fine structures lost to
    // downsampling cannot be learnt back.
    const int short_side = std::max(1, std::min(fp.height.median, fp.width.median));
    const network_speed* chosen = nullptr;
    int size = 0;
    for (const int s : r::size_ladder) {
        if (s > short_side && s != r::size_ladder.back()) continue;
        const int d = depth_for(s);
        // Rule 2, width: 32 feature maps at the first level (nnU-Net's choice) when the budget
        // still allows min_epochs with them, else 16: width costs time linearly, resolution
        // buys more.
        for (const int base : {32, 16}) {
            const network_speed* n = find(m, base, d);
            if (n && epochs_of(*n, s) >= r::min_epochs) {
                chosen = n;
                size = s;
                break;
            }
        }
        if (chosen) break;
    }
    if (!chosen) {  // the budget cannot give min_epochs anywhere: the cheapest network, smallest side
        size = std::min(short_side, 64);
        size = std::max(r::size_ladder.back(), size - size % 16);
        for (const auto& n : m.networks)
            if (!chosen || n.seconds_per_image < chosen->seconds_per_image) chosen = &n;
        p.warnings.push_back("the budget allows fewer than " + std::to_string(r::min_epochs) +
                             " epochs even for the smallest network at " + std::to_string(size) +
                             " pixels; the plan takes the cheapest network and as many epochs as fit");
    }
    p.input_size = size;
    p.base = chosen->base;
    p.depth = chosen->depth;
    const bool starved = !p.warnings.empty();
    p.reasons.push_back("input " + std::to_string(size) + " x " + std::to_string(size) +
                        (starved ? ": no side reaches " + std::to_string(r::min_epochs) +
                                       " epochs in the budget, so at most 64 (and at most the median short side, " +
                                       std::to_string(short_side) + ")"
                                 : ": the largest side up to the median short side (" + std::to_string(short_side) +
                                       ") at which a network reaches " + std::to_string(r::min_epochs) +
                                       " epochs in the budget (resolution before width)"));
    p.reasons.push_back("depth " + std::to_string(p.depth) + ": " +
                        (p.depth >= 4 ? "4 poolings leave a bottleneck of " + std::to_string(size >> 4) + " pixels, at least " +
                                            std::to_string(r::min_bottleneck)
                                      : "a 4th pooling would leave a bottleneck narrower than " +
                                            std::to_string(r::min_bottleneck) + " pixels (" + std::to_string(size) +
                                            " / 16), so 3, the program's fewest"));
    p.reasons.push_back("base width " + std::to_string(p.base) + ": " +
                        (starved ? std::string("the cheapest measured network")
                         : p.base >= 32 ? std::string("nnU-Net's 32 first-level feature maps fit the budget")
                                      : std::string("32 first-level maps would leave fewer than ") +
                                            std::to_string(r::min_epochs) + " epochs"));

    // Rule 3, patches: images of one size that are at least patch_ratio times the input side are
    // trained on patches at full resolution instead of being shrunk (nnU-Net's patch-based
    // training); images of many sizes are resized whole, since a patch then loses the context
    // that tells a lesion from its surroundings at another scale.
    const bool one_size = fp.height.max <= r::uniform_sizes * fp.height.min && fp.width.max <= r::uniform_sizes * fp.width.min;
    if (one_size && short_side >= r::patch_ratio * size) {
        p.patch = size;
        // Rule 4, sampling: a third of the patches centred on foreground (nnU-Net's
        // oversampling), half when the foreground is rare, so that most batches see it.
        p.fg_oversample = fp.foreground_fraction < r::rare_foreground ? 0.5 : 1.0 / 3.0;
        p.reasons.push_back("patches of " + std::to_string(size) + " from images kept at their own size (one size, at least " +
                            fmt(r::patch_ratio) + " times the input side); " + fmt(p.fg_oversample * 100, 2) +
                            "% centred on foreground (foreground is " + fmt(fp.foreground_fraction * 100) + "% of pixels)");
    } else {
        p.reasons.push_back(std::string("whole images resized to the input side (") +
                            (one_size ? "images at most " + fmt(r::patch_ratio) + " times the input side"
                                      : std::string("images of many sizes")) + ")");
    }

    // Rule 5, batch: as many images as keep batch x side^2 at or below batch_pixels, at least 2
    // (batch norm needs two) and at most a quarter of the training images (a few steps per epoch).
    int batch = 2;
    while (batch * 2 <= 16 && static_cast<double>(batch) * 2 * size * size <= r::batch_pixels &&
           batch * 2 <= std::max(2.0, train_n / 4))
        batch *= 2;
    p.batch = batch;
    p.reasons.push_back("batch " + std::to_string(batch) + ": at most " + fmt(r::batch_pixels, 6) +
                        " pixels per batch, at least 2 for batch norm, at most a quarter of the training images");

    // Rule 6, epochs: what fits in the budget at the measured speed (at most max_epochs).
    p.seconds_per_epoch = epoch_seconds(*chosen, size, train_n, val_n, read);
    p.epochs = std::clamp(epochs_of(*chosen, size), 1, r::max_epochs);
    p.reasons.push_back("epochs " + std::to_string(p.epochs) + ": a budget of " + fmt(b.seconds, 6) + " s at about " +
                        fmt(p.seconds_per_epoch) + " s per epoch (" + fmt(train_n, 6) + " training and " +
                        fmt(val_n, 6) + " validation images)");

    // Rule 7, optimiser and schedule: Adam at 1e-3 (the library's measured default; nnU-Net's SGD
    // with momentum 0.99 needs far more steps than a CPU budget gives), cosine decay to 1% with
    // two warm-up epochs from 10 epochs on; under 5 epochs a constant rate (nothing to anneal).
    p.schedule = p.epochs >= 5 ? "cosine" : "constant";
    p.reasons.push_back("adam, lr 0.001, schedule " + p.schedule +
                        (p.epochs >= 5 ? std::string(" (decays to 1%; warms up 2 epochs when there are 10 or more)")
                                       : std::string(" (fewer than 5 epochs: nothing to anneal)")));

    // Rule 8, loss: Dice + cross-entropy, nnU-Net's default: the Dice term weighs the foreground
    // by its own size, so rare foreground still counts, and the cross-entropy term keeps the
    // gradients well behaved early on. Sigmoid (BCE) for one class, softmax (CE) for several.
    p.loss = fp.classes >= 2 ? "dice_ce" : "dice_bce";
    p.reasons.push_back("loss " + p.loss + ": " + std::to_string(fp.classes) +
                        (fp.classes >= 2 ? " classes (softmax Dice + cross-entropy)" : " foreground class (Dice + BCE)"));

    // Rule 9, deep supervision: on when the program has it and the network has 4 levels (the
    // deep decoder levels are then far from the loss); off otherwise.
    p.deep_supervision = m.deep_supervision && p.depth >= 4;
    p.reasons.push_back(std::string("deep supervision ") + (p.deep_supervision ? "on" : "off") +
                        (m.deep_supervision ? (p.deep_supervision ? ": 4 levels" : ": fewer than 4 levels")
                                            : ": the program trains single-output networks"));

    // Rule 10, augmentation: strong when there are few training images (under 200: the network
    // would memorise them), medium otherwise, light when there are fewer than 10 epochs (strong
    // augmentation slows convergence that a short run cannot wait for). Mirroring is left-right
    // only: many 2-D modalities (ultrasound, X-ray) are not symmetric top to bottom.
    p.augment_level = p.epochs < 10 ? "light" : train_n < 200 ? "strong" : "medium";
    p.augment = p.augment_level == "light"    ? "hflip"
                : p.augment_level == "medium" ? "hflip,rotate=10,scale=0.9:1.1,gamma=0.8:1.25"
                                              : "hflip,rotate=15,scale=0.85:1.15,gamma=0.7:1.5,brightness=0.1,contrast=0.1";
    p.reasons.push_back("augmentation " + p.augment_level + " (" + p.augment + "): " + fmt(train_n, 6) +
                        " training images, " + std::to_string(p.epochs) + " epochs");

    // Rule 11, prediction: mirror the image as the training did and average (nnU-Net's test-time
    // mirroring): the network has learnt both orientations, so the two predictions are equally
    // good and their mean is better than either.
    p.tta = "hflip";
    p.reasons.push_back("prediction averages the image and its left-right mirror (the training mirrored)");

    // Rule 12, best checkpoint: by validation Dice, the measure the plan is judged by.
    p.monitor = "val_dice";
    if (!p.warnings.empty() && p.epochs < r::min_epochs)
        p.warnings.push_back("expect an undertrained model: " + std::to_string(p.epochs) + " epochs");
    return p;
}

}  // namespace unetpp::train

#include "plan_json.hpp"
