// unetpp_demo: train a small U-Net on the built-in synthetic ultrasound data for a fixed time,
// then evaluate it on held-out images and write pictures of its predictions.
//
//   unetpp_demo [--out DIR] [--seconds S] [--size N] [--seed K] [--overwrite] [--help]
//
// Everything it needs is generated in memory, so it runs on a fresh clone with no data sets.

#include <unetpp/unet.hpp>
#include <unetpp/data/synthetic.hpp>
#include <unetpp/io/image.hpp>
#include <unetpp/metrics/dice.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../tools/output_guard.hpp"

namespace {

// Depth 3 with base 16 learns the synthetic lesions well in a minute on two cores at 64 x 64:
// the bottleneck sees 8 x 8 maps, enough context for lesions up to half the image wide.
using demo_net = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 16, .depth = 3}>;

constexpr int batch_size = 8;
constexpr int held_out = 32;
constexpr int pictures = 16;
constexpr float threshold = 0.5f;

struct options {
    std::filesystem::path out = "demo_out";
    double seconds = 60;
    int size = 64;
    std::uint64_t seed = 1;
    bool overwrite = false;
};

void usage(std::ostream& os) {
    os << "usage: unetpp_demo [--out DIR] [--seconds S] [--size N] [--seed K] [--overwrite] [--help]\n"
          "\n"
          "Trains a small U-Net (depth 3, base 16) with Adam and BCE-with-logits on synthetic\n"
          "ultrasound-like images for S seconds, evaluates it on 32 held-out images (Dice, IoU)\n"
          "and writes DIR/sample_XX.png (input | probability | mask | ground truth) and\n"
          "DIR/mask_XX.png for the first 16 of them.\n"
          "\n"
          "  --out DIR      output directory, new or empty, created if missing (default demo_out)\n"
          "  --overwrite    write into a DIR that holds other files; only sample_XX.png and\n"
          "                 mask_XX.png are replaced, nothing else is changed or removed\n"
          "  --seconds S    training time in seconds (default 60)\n"
          "  --size N       image side, a multiple of 8 from 16 to 512 (default 64)\n"
          "  --seed K       seed of the network, the data and the held-out set (default 1)\n";
}

double parse_number(std::string_view flag, const std::string& text) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || !std::isfinite(v))
        throw std::invalid_argument(std::string(flag) + " expects a number, got '" + text + "' (see --help)");
    return v;
}

// Returns false when the program should stop after printing help.
bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            usage(std::cout);
            return false;
        }
        if (a == "--overwrite") {
            o.overwrite = true;
            continue;
        }
        if (a != "--out" && a != "--seconds" && a != "--size" && a != "--seed")
            throw std::invalid_argument("unknown argument '" + std::string(a) + "' (see --help)");
        if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value (see --help)");
        const std::string v = argv[++i];
        if (a == "--out") {
            if (v.empty()) throw std::invalid_argument("--out needs a non-empty directory name");
            o.out = v;
        } else if (a == "--seconds") {
            o.seconds = parse_number(a, v);
            if (o.seconds < 0 || o.seconds > 86400)
                throw std::invalid_argument("--seconds must be between 0 and 86400, got " + v);
        } else if (a == "--size") {
            const double s = parse_number(a, v);
            if (s != std::floor(s) || s < 16 || s > 512 || static_cast<int>(s) % 8 != 0)
                throw std::invalid_argument("--size must be a multiple of 8 from 16 to 512 (the network halves it "
                                            "three times), got " + v);
            o.size = static_cast<int>(s);
        } else {
            const double s = parse_number(a, v);
            if (s < 0 || s != std::floor(s) || s > 9.0e15)
                throw std::invalid_argument("--seed must be a non-negative integer, got " + v);
            o.seed = static_cast<std::uint64_t>(s);
        }
    }
    return true;
}

unetpp::tensor<float> sigmoid(const unetpp::tensor<float>& logits) {
    unetpp::tensor<float> p(logits.shape());
    for (std::size_t i = 0; i < logits.size(); ++i) p[i] = unetpp::backend::cpu_kernels::stable_sigmoid(logits[i]);
    return p;
}

std::string two_digits(int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02d", i);
    return buf;
}

/// Writes a PNG atomically into the output folder, which was new or empty when the demo started
/// (or named with --overwrite): the demo replaces only its own files.
void save_png(const std::filesystem::path& path, const unetpp::io::image& img) {
    const std::vector<unsigned char> png = unetpp::io::encode_png(img);
    cli::write_file(path, std::string_view(reinterpret_cast<const char*>(png.data()), png.size()), true);
}

int run(const options& o) {
    using clock = std::chrono::steady_clock;
    // Share the cores politely: a busy machine would otherwise stall the two-thread kernels.
    unetpp::adapt_threads_to_load();
    // The output folder is checked (new or empty, or --overwrite) and proved writable before a
    // minute of training, not after.
    cli::check_output_folder(o.out, "--out", "unetpp_demo", o.overwrite);
    cli::prepare_folder(o.out, "--out");
    unetpp::flush_denormals();
    std::cout << unetpp::build_info() << "\n";
    std::cout << "network: U-Net depth " << demo_net::depth << ", base " << demo_net::cfg.base << ", "
              << demo_net::parameter_count << " parameters; input " << o.size << " x " << o.size << ", batch "
              << batch_size << "\n";
    std::cout << "training for " << o.seconds << " s on synthetic ultrasound images (seed " << o.seed << ")\n";

    // Separate streams: held-out images never overlap the training stream.
    unetpp::rng train_rng(o.seed * 2 + 1), test_rng(o.seed * 2 + 2);
    auto [test_x, test_y] = unetpp::data::make_batch(test_rng, held_out, o.size);

    demo_net net(o.seed);
    net.train();
    unetpp::optim::adam opt(net, {.lr = 2e-3});
    unetpp::losses::bce_with_logits bce;
    unetpp::tensor<float> grad;

    const auto start = clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };
    double next_report = 0, loss_avg = 0;
    long step = 0;
    int since = 0;
    double last_report_t = 0;
    long last_report_step = 0;
    while (elapsed() < o.seconds) {
        auto [x, y] = unetpp::data::make_batch(train_rng, batch_size, o.size);
        opt.zero_grad();
        const auto& logits = net.forward(x);
        const float loss = bce(logits, y, &grad);
        if (!std::isfinite(loss))
            throw std::runtime_error("training diverged at step " + std::to_string(step) + " (loss " +
                                     std::to_string(loss) + ")");
        net.backward(x, grad);
        opt.step();
        ++step;
        loss_avg += loss;
        ++since;
        const double t = elapsed();
        if (t >= next_report || t >= o.seconds) {
            const double ips = (step - last_report_step) * batch_size / std::max(t - last_report_t, 1e-9);
            std::printf("  step %5ld  %6.1f s  loss %.4f  %6.1f images/s\n", step, t, loss_avg / since, ips);
            std::fflush(stdout);
            loss_avg = 0, since = 0;
            last_report_t = t, last_report_step = step;
            next_report = t + 5;
        }
    }
    const double train_time = elapsed();

    // Evaluation: batch-norm running statistics, no dropout.
    net.eval();
    unetpp::inference_mode no_intermediates;  // fused Conv-BN-ReLU, nothing kept for backward
    unetpp::tensor<float> prob(test_x.shape());
    const std::size_t plane = static_cast<std::size_t>(o.size) * o.size;
    for (int first = 0; first < held_out; first += batch_size) {
        unetpp::tensor<float> xb(unetpp::shape4{batch_size, 1, o.size, o.size});
        std::copy_n(test_x.data() + first * plane, batch_size * plane, xb.data());
        const auto p = sigmoid(net.forward(xb));
        std::copy_n(p.data(), batch_size * plane, prob.data() + first * plane);
    }
    const double dice = unetpp::metrics::mean_dice(prob, test_y, threshold);
    const double iou = unetpp::metrics::mean_iou(prob, test_y, threshold);
    std::printf("trained %ld steps (%ld images) in %.1f s\n", step, step * batch_size, train_time);
    std::printf("held-out (%d images): mean Dice %.3f, mean IoU %.3f (threshold %.1f; empty vs empty counts 1)\n",
                held_out, dice, iou, threshold);

    unetpp::tensor<float> binary(prob.shape());
    for (std::size_t i = 0; i < prob.size(); ++i) binary[i] = prob[i] > threshold ? 1.0f : 0.0f;
    for (int i = 0; i < pictures; ++i) {
        const auto mask = unetpp::io::from_tensor(binary, i);
        save_png(o.out / ("sample_" + two_digits(i) + ".png"),
                 unetpp::io::side_by_side({unetpp::io::from_tensor(test_x, i), unetpp::io::from_tensor(prob, i), mask,
                                           unetpp::io::from_tensor(test_y, i)}));
        save_png(o.out / ("mask_" + two_digits(i) + ".png"), mask);
    }
    std::cout << "wrote " << pictures << " sample_XX.png (input | probability | mask | ground truth) and "
              << pictures << " mask_XX.png to " << o.out.string() << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        options o;
        if (!parse(argc, argv, o)) return 0;
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "unetpp_demo: error: " << e.what() << "\n";
        return 1;
    }
}
