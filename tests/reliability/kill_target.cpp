// The program the kill -9 test (kill_driver.cpp) starts and kills: a tiny U-Net trained on a
// few 32 x 32 synthetic images, many short epochs, checkpoints in a folder, resuming whenever a
// checkpoint is there.
//
//   reliability_kill_target train DIR EPOCHS   train (resume when DIR holds a checkpoint); prints
//                                              "epoch N" after each epoch's checkpoints are written
//   reliability_kill_target verify DIR         find_resume_checkpoint(DIR) + load_checkpoint into
//                                              the network and Adam; prints
//                                              "ok EPOCH FELL_BACK PATH" and the fallback message,
//                                              or "none" (no checkpoint at all), or "error: ..."
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/data/loader.hpp>
#include <unetpp/data/synthetic_dataset.hpp>
#include <unetpp/losses.hpp>
#include <unetpp/models/presets.hpp>
#include <unetpp/train.hpp>

using namespace unetpp;
namespace fs = std::filesystem;

namespace {

using net_t = presets::unet_bn<8, 3>;

int train_run(const fs::path& dir, int epochs) {
    data::synthetic_dataset ds{6, {.size = 32, .seed = 5}};
    const std::vector<std::size_t> train_idx{0, 1, 2, 3}, val_idx{4, 5};
    data::loader<data::synthetic_dataset> tr{ds, {.batch_size = 2, .seed = 11}, train_idx};
    data::loader<data::synthetic_dataset> va{ds, {.batch_size = 2, .shuffle = false}, val_idx};
    net_t net(1);
    optim::adam opt(net, {.lr = 1e-2});
    const bool resume = fs::exists(dir / "last.safetensors") || fs::exists(dir / "last.prev.safetensors");
    train::trainer t(net, opt, losses::dice_bce{},
                     {.epochs = epochs,
                      .out_dir = dir,
                      .resume_from = resume ? dir : fs::path{},
                      .seed = 3,
                      .progress = train::progress_mode::lines,
                      .out = &std::cout,
                      .extra = {{"model", net_t::describe()}, {"lr", "0.01"}, {"epochs", std::to_string(epochs)}}});
    t.on_epoch_end = [](const train::epoch_record& r) { std::cout << "epoch " << r.epoch << std::endl; };
    const auto r = t.fit(tr, &va);
    std::cout << "done " << r.epochs_done << std::endl;
    return 0;
}

int verify(const fs::path& dir) {
    if (!fs::exists(dir / "last.safetensors") && !fs::exists(dir / "last.prev.safetensors")) {
        std::cout << "none" << std::endl;
        return 0;
    }
    std::string note;
    const auto c = train::find_resume_checkpoint(dir, &note);
    net_t net(2);
    optim::adam opt(net, {.lr = 1e-2});
    const auto info = train::load_checkpoint(c.path, net, opt);
    std::cout << "ok " << info.epoch << ' ' << (c.fell_back ? 1 : 0) << ' ' << c.path.string() << '\n'
              << note << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "train" && argc == 4) return train_run(argv[2], std::atoi(argv[3]));
        if (mode == "verify" && argc == 3) return verify(argv[2]);
        std::cerr << "usage: reliability_kill_target train DIR EPOCHS | verify DIR\n";
        return 2;
    } catch (const std::exception& e) {
        std::cout << "error: " << e.what() << std::endl;
        return 1;
    }
}
