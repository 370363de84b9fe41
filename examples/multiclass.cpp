// Multi-class segmentation of colour images with the library alone: a U-Net with three input
// channels and three classes (background, discs, squares) trained with soft Dice + cross-entropy
// (losses::dice_ce, MONAI's DiceCELoss) on the built-in synthetic shapes, then scored per class
// on the validation images (metrics::multiclass_evaluator). Nothing is written to disk.
//
//   unetpp_multiclass [epochs]        (default 8; 1 to 1000)
//
// Prints the per-epoch validation scores and the per-class table; exits 0 when the mean Dice of
// the foreground classes reaches 0.5, 1 otherwise, 2 for a bad argument.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <unetpp/data.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/metrics.hpp>
#include <unetpp/train.hpp>
#include <unetpp/unet.hpp>

using namespace unetpp;

// Three input channels (RGB), three classes: the head has three logit channels and the loss
// applies a softmax over them; class 0 is the background.
using net_t = unet<unet_cfg{.in_channels = 3, .classes = 3, .base = 8, .depth = 3}>;

int main(int argc, char** argv) {
    try {
        const long epochs = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 8;
        if (argc > 2 || epochs < 1 || epochs > 1000) {
            std::fprintf(stderr, "usage: unetpp_multiclass [epochs]   (epochs 1 to 1000)\n");
            return 2;
        }
        // 96 RGB images of 64 x 64 with masks holding class indices 0, 1, 2 ([1, 1, H, W] floats).
        data::synthetic_dataset ds(96, {.size = 64, .seed = 1, .classes = 3, .channels = 3});
        const auto parts = data::split_ratio(ds.size(), {.seed = 1}, {0.8, 0.2, 0.0});
        data::loader<data::synthetic_dataset> tr(ds, {.batch_size = 8, .seed = 1}, parts.train);
        data::loader<data::synthetic_dataset> va(ds, {.batch_size = 8, .shuffle = false, .seed = 1}, parts.val);

        net_t net(1);
        optim::adam opt(net, {.lr = 3e-3});
        train::trainer t(net, opt, losses::dice_ce{},
                         {.epochs = static_cast<int>(epochs), .monitor = "val_dice", .seed = 1,
                          .progress = train::progress_mode::lines});
        const auto result = t.fit(tr, &va);  // val_dice: the mean over classes 1 and 2
        std::printf("best val_dice %.3f at epoch %ld\n", result.best_metric, result.best_epoch);

        // Per-class scores on the validation images, from the network's argmax labels.
        net.eval();
        inference_mode no_intermediates;
        metrics::multiclass_evaluator ev(net_t::cfg.classes);
        va.start_epoch(0);
        while (auto b = va.next()) ev.add(net.forward(b->images), b->masks);
        const char* names[] = {"background", "discs", "squares"};
        std::printf("%-12s %6s %6s %9s %6s\n", "class", "Dice", "IoU", "precision", "recall");
        const auto per_class = ev.per_class();
        for (int k = 0; k < net_t::cfg.classes; ++k) {
            const auto& s = per_class[static_cast<std::size_t>(k)];
            std::printf("%-12s %6.3f %6.3f %9.3f %6.3f\n", names[k], s.dice, s.iou, s.precision, s.recall);
        }
        const double fg = ev.foreground().dice;
        std::printf("mean foreground Dice %.3f, pixel accuracy %.3f\n", fg, ev.pixel_accuracy());
        return fg >= 0.5 ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unetpp_multiclass: error: %s\n", e.what());
        return 2;
    }
}
