// Writes the small seed corpora of the fuzz targets (tests/fuzz/fuzz_<target>.cpp):
//
//   make_seeds OUT_DIR        writes OUT_DIR/<target>/<seed> for every target below
//
//   image        one selector byte (fuzz_image's requested channels) + a PNG (gray, gray + alpha,
//                RGB, RGBA; from io::encode_png), a BMP (24- and 32-bit uncompressed,
//                written here: the format is a fixed header and raw rows) and, when built with
//                libjpeg (UNETPP_SEEDS_JPEG), a baseline and a progressive JPEG
//   safetensors  files from io::safetensors_writer: f32 and f64 tensors, a scalar, metadata, checksums
//   checkpoint   train::checkpoint_bytes of a tiny U-Net with Adam and with SGD, when the compiler
//                builds the model headers (UNETPP_SEEDS_CHECKPOINT; clang 14 cannot, as they use
//                floating-point template arguments); otherwise a file with the checkpoint metadata
//                and tensors named like a one-layer model, which the bookkeeping reader accepts
//   cli_args     command lines, arguments separated by NUL bytes (fuzz_cli_args adds argv[0])
//   datasets     BUSI, ISBI 2012 and paired-folder trees in fuzz_datasets' format
//                (tests/fuzz/fuzz_datasets.hpp), holding real PNG images and masks
//
// OUT_DIR/<target> folders are created; a seed file that exists is replaced only when this
// program wrote it before (its name starts with "seed_"); nothing else is touched.
#include <unetpp/io/image.hpp>
#include <unetpp/io/safetensors.hpp>
#include <unetpp/tensor/tensor.hpp>
#include <unetpp/train/plan.hpp>

#if UNETPP_SEEDS_CHECKPOINT
#include <unetpp/optim.hpp>
#include <unetpp/train/checkpoint.hpp>
#include <unetpp/unet.hpp>
#endif

#if UNETPP_SEEDS_JPEG
#include <cstdio>
#include <jpeglib.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_datasets.hpp"
#include "medical_seeds.hpp"

namespace fs = std::filesystem;
namespace io = unetpp::io;
using unetpp::shape4;
using unetpp::tensor;

namespace {

int written = 0;

void write_seed(const fs::path& dir, const std::string& name, const std::string& bytes) {
    fs::create_directories(dir);
    const fs::path p = dir / ("seed_" + name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("make_seeds: cannot write " + p.string());
    ++written;
}

std::string as_string(const std::vector<unsigned char>& v) { return std::string(v.begin(), v.end()); }

// A w x h image with `c` channels and a smooth pattern plus a sharp square.
io::image pattern(int w, int h, int c, int seed = 0) {
    io::image img;
    img.width = w;
    img.height = h;
    img.channels = c;
    img.pixels.resize(static_cast<std::size_t>(w) * h * c);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c; ++k) {
                const bool square = x >= w / 4 && x < 3 * w / 4 && y >= h / 4 && y < 3 * h / 4;
                img.pixels[(static_cast<std::size_t>(y) * w + x) * c + k] =
                    static_cast<unsigned char>(square ? 230 - 40 * k : (x * 31 + y * 17 + k * 50 + seed * 7) % 200);
            }
    return img;
}

// A mask: 255 inside a rectangle, 0 elsewhere.
io::image mask(int w, int h, bool empty = false) {
    io::image img;
    img.width = w;
    img.height = h;
    img.channels = 1;
    img.pixels.assign(static_cast<std::size_t>(w) * h, 0);
    if (!empty)
        for (int y = h / 3; y < h - h / 4; ++y)
            for (int x = w / 4; x < w - w / 3; ++x) img.pixels[static_cast<std::size_t>(y) * w + x] = 255;
    return img;
}

std::string png(const io::image& img) { return as_string(io::encode_png(img)); }

void put_u16(std::string& s, unsigned v) {
    s += static_cast<char>(v & 0xff);
    s += static_cast<char>((v >> 8) & 0xff);
}
void put_u32(std::string& s, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// An uncompressed bottom-up BMP (BITMAPINFOHEADER), 24-bit BGR or 32-bit BGRA.
std::string bmp(const io::image& img) {
    const int bpp = img.channels == 4 ? 32 : 24;
    const std::uint32_t row = ((static_cast<std::uint32_t>(img.width) * bpp / 8) + 3) & ~3u;
    const std::uint32_t data_size = row * static_cast<std::uint32_t>(img.height);
    std::string s = "BM";
    put_u32(s, 54 + data_size);
    put_u32(s, 0);
    put_u32(s, 54);
    put_u32(s, 40);
    put_u32(s, static_cast<std::uint32_t>(img.width));
    put_u32(s, static_cast<std::uint32_t>(img.height));
    put_u16(s, 1);
    put_u16(s, static_cast<unsigned>(bpp));
    put_u32(s, 0);  // BI_RGB
    put_u32(s, data_size);
    put_u32(s, 2835);
    put_u32(s, 2835);
    put_u32(s, 0);
    put_u32(s, 0);
    for (int y = img.height - 1; y >= 0; --y) {
        std::string line;
        for (int x = 0; x < img.width; ++x) {
            const auto* p = &img.pixels[(static_cast<std::size_t>(y) * img.width + x) * img.channels];
            const unsigned char r = p[0], g = img.channels >= 3 ? p[1] : p[0], b = img.channels >= 3 ? p[2] : p[0];
            line += static_cast<char>(b);
            line += static_cast<char>(g);
            line += static_cast<char>(r);
            if (bpp == 32) line += static_cast<char>(img.channels == 4 ? p[3] : 255);
        }
        line.resize(row, '\0');
        s += line;
    }
    return s;
}

#if UNETPP_SEEDS_JPEG
// A JPEG from libjpeg (gray or RGB), baseline or progressive.
std::string jpeg(const io::image& img, bool progressive) {
    jpeg_compress_struct cinfo;
    jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = static_cast<JDIMENSION>(img.width);
    cinfo.image_height = static_cast<JDIMENSION>(img.height);
    cinfo.input_components = img.channels;
    cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 85, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    const int stride = img.width * img.channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(&img.pixels[static_cast<std::size_t>(cinfo.next_scanline) * stride]);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    std::string out(reinterpret_cast<const char*>(buf), size);
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
    return out;
}
#endif

void image_seeds(const fs::path& dir) {
    // fuzz_image's first byte picks the requested channels (0 as stored, 1, 3).
    write_seed(dir, "gray.png", std::string(1, '\1') + png(pattern(8, 6, 1)));
    write_seed(dir, "gray_alpha.png", std::string(1, '\0') + png(pattern(5, 4, 2)));
    write_seed(dir, "rgb.png", std::string(1, '\2') + png(pattern(7, 5, 3)));
    write_seed(dir, "rgba.png", std::string(1, '\0') + png(pattern(4, 4, 4)));
    write_seed(dir, "rgb24.bmp", std::string(1, '\1') + bmp(pattern(5, 3, 3)));
    write_seed(dir, "rgba32.bmp", std::string(1, '\2') + bmp(pattern(3, 4, 4)));
#if UNETPP_SEEDS_JPEG
    write_seed(dir, "gray.jpg", std::string(1, '\0') + jpeg(pattern(16, 8, 1), false));
    write_seed(dir, "rgb.jpg", std::string(1, '\1') + jpeg(pattern(9, 7, 3), false));
    write_seed(dir, "rgb_progressive.jpg", std::string(1, '\2') + jpeg(pattern(17, 9, 3), true));
#else
    std::cout << "make_seeds: no JPEG seeds (built without libjpeg)\n";
#endif
}

void safetensors_seeds(const fs::path& dir) {
    io::safetensors_writer a;
    tensor<float> w(shape4{2, 1, 3, 3});
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.25f - 1.0f;
    a.add("conv.weight", w);
    a.add("conv.bias", tensor<float>(shape4{1, 1, 1, 2}, 0.5f), {2});
    a.set_metadata("format", "pt");
    write_seed(dir, "f32.safetensors", a.serialize());

    io::safetensors_writer b;
    tensor<double> d(shape4{1, 1, 2, 3});
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<double>(i) / 3.0;
    b.add("x", d);
    b.add("scalar", tensor<float>(shape4{1, 1, 1, 1}, 7.0f), {});
    b.set_metadata("unetpp.config", "{\"base\": 2}");
    write_seed(dir, "f64_scalar.safetensors", b.serialize());

    io::safetensors_writer e;
    e.set_metadata("note", "no tensors");
    write_seed(dir, "empty.safetensors", e.serialize());
}

void checkpoint_seeds(const fs::path& dir) {
#if UNETPP_SEEDS_CHECKPOINT
    using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 1}>;
    net_t net(1);
    unetpp::train::checkpoint_info info{.epoch = 2, .step = 8, .seed = 1, .monitor = "val_loss", .best_metric = 0.5,
                                        .best_epoch = 2};
    info.extra["config"] = "model=unet base=2 depth=1";
    {
        unetpp::optim::adam opt(net);
        write_seed(dir, "adam.safetensors", unetpp::train::checkpoint_bytes(net, opt, info));
    }
    {
        unetpp::optim::sgd opt(net);
        write_seed(dir, "sgd.safetensors", unetpp::train::checkpoint_bytes(net, opt, info));
    }
#else
    // The model headers do not build with this compiler, so no real network: a file with the
    // bookkeeping that train::read_checkpoint_info and find_resume_checkpoint read (the keys of
    // checkpoint_bytes in train/checkpoint.hpp), tensors named like a one-layer model and Adam's
    // state. It does not load into a network.
    io::safetensors_writer w;
    tensor<float> wt(shape4{2, 1, 3, 3}, 0.1f);
    w.add("conv.weight", wt);
    w.add("optim.m.conv.weight", tensor<float>(shape4{2, 1, 3, 3}, 0.01f));
    w.add("optim.v.conv.weight", tensor<float>(shape4{2, 1, 3, 3}, 0.001f));
    const std::pair<const char*, const char*> md[] = {
        {"unetpp.checkpoint.format", "1"}, {"unetpp.optim.name", "adam"},       {"unetpp.optim.lr", "0.001"},
        {"unetpp.optim.step", "8"},        {"unetpp.train.epoch", "2"},        {"unetpp.train.step", "8"},
        {"unetpp.train.seed", "1"},        {"unetpp.train.monitor", "val_loss"}, {"unetpp.train.best_metric", "0.5"},
        {"unetpp.train.best_epoch", "2"},  {"unetpp.train.es_best", "nan"},    {"unetpp.train.es_bad_epochs", "0"},
        {"unetpp.schedule.name", "cosine"}, {"unetpp.schedule.state.t", "8"}, {"unetpp.extra.config", "model=unet"}};
    for (const auto& [k, v] : md) w.set_metadata(k, v);
    write_seed(dir, "bookkeeping.safetensors", w.serialize());
    std::cout << "make_seeds: checkpoint seeds without a network (this compiler cannot build the model headers, "
                 "which use floating-point template arguments; g++ or clang >= 18 write real checkpoints)\n";
#endif
}

void cli_seeds(const fs::path& dir) {
    const auto line = [](std::initializer_list<std::string> args) {
        std::string s;
        bool first = true;
        for (const auto& a : args) {
            if (!first) s += '\0';
            s += a;
            first = false;
        }
        return s;
    };
    write_seed(dir, "train", line({"--data-type", "folders", "--data", "d/images", "--masks", "d/masks", "--size",
                                   "64", "--epochs", "3", "--batch", "4", "--lr", "0.001", "--split", "0.7,0.15,0.15",
                                   "--out", "run", "--quiet"}));
    write_seed(dir, "train_eq", line({"--model=unet_bn", "--base=8", "--depth=3", "--loss=tversky", "--seed=7",
                                      "--threads=2", "--resume"}));
    write_seed(dir, "evaluate", line({"--checkpoint", "run/best.safetensors", "--threshold", "0.5", "--csv", "e.csv"}));
    write_seed(dir, "predict", line({"--tta", "--overwrite", "--threshold", "0.4", "--batch", "2"}));
    write_seed(dir, "help", line({"--help"}));
    write_seed(dir, "bad", line({"--size", "-3", "--lr", "nan", "--epochs", "1e99", "stray"}));
}

void dataset_seeds(const fs::path& dir) {
    using unetpp::fuzz::tree_file;
    using unetpp::fuzz::tree_input;
    const auto& folders = unetpp::fuzz::tree_folders();
    const auto folder = [&](const std::string& name) {
        for (std::size_t i = 0; i < folders.size(); ++i)
            if (folders[i] == name) return i;
        throw std::logic_error("make_seeds: no tree folder " + name);
    };
    // BUSI: three classes, a second mask, an empty normal mask; channels 1, cache on.
    {
        tree_input t;
        t.options = 0 | (1 << 2) | 0x40;
        const std::string root = "Dataset_BUSI_with_GT/";
        t.files.push_back({folder(root + "benign"), false, "benign (1).png", png(pattern(8, 8, 1, 1))});
        t.files.push_back({folder(root + "benign"), false, "benign (1)_mask.png", png(mask(8, 8))});
        t.files.push_back({folder(root + "benign"), false, "benign (1)_mask_1.png", png(mask(8, 8, true))});
        t.files.push_back({folder(root + "malignant"), false, "malignant (2).png", png(pattern(6, 5, 3, 2))});
        t.files.push_back({folder(root + "malignant"), false, "malignant (2)_mask.png", png(mask(6, 5))});
        t.files.push_back({folder(root + "normal"), false, "normal (1).png", png(pattern(5, 5, 1, 3))});
        t.files.push_back({folder(root + "normal"), false, "normal (1)_mask.png", png(mask(5, 5, true))});
        write_seed(dir, "busi", unetpp::fuzz::encode_tree(t));
    }
    // BUSI given the Dataset_BUSI_with_GT folder itself, with an image lacking its mask (skipped).
    {
        tree_input t;
        t.options = 0 | 0x80 | 0x20;
        t.files.push_back({folder("Dataset_BUSI_with_GT/benign"), false, "benign (3).png", png(pattern(4, 4, 1))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/benign"), false, "benign (4).png", png(pattern(4, 4, 1, 4))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/benign"), false, "benign (4)_mask.png", png(mask(4, 4))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/malignant"), false, "malignant (1).png", png(pattern(4, 4, 1, 5))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/malignant"), false, "malignant (1)_mask.png", png(mask(4, 4))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/normal"), false, "normal (2).png", png(pattern(4, 4, 1, 6))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/normal"), false, "normal (2)_mask.png", png(mask(4, 4, true))});
        t.files.push_back({folder("Dataset_BUSI_with_GT/normal"), true, "not an image.png", ""});
        write_seed(dir, "busi_missing_mask", unetpp::fuzz::encode_tree(t));
    }
    // ISBI 2012: two pairs, strict mask rule.
    {
        tree_input t;
        t.options = 1 | 0x10;
        for (int k = 0; k < 2; ++k) {
            const std::string n = std::to_string(k) + ".png";
            t.files.push_back({folder("images"), false, n, png(pattern(8, 8, 1, k))});
            t.files.push_back({folder("labels"), false, n, png(mask(8, 8))});
        }
        write_seed(dir, "isbi", unetpp::fuzz::encode_tree(t));
    }
    // Paired folders with the "_mask" suffix, mixed formats, RGB images (channels 3).
    {
        tree_input t;
        t.options = 2 | (2 << 2) | 0x80;
        t.files.push_back({folder("images"), false, "a.png", png(pattern(6, 6, 3))});
        t.files.push_back({folder("masks"), false, "a_mask.png", png(mask(6, 6))});
        t.files.push_back({folder("images"), false, "b.bmp", bmp(pattern(4, 3, 3))});
        t.files.push_back({folder("masks"), false, "b_mask.bmp", bmp(mask(4, 3))});
#if UNETPP_SEEDS_JPEG
        t.files.push_back({folder("images"), false, "c.jpg", jpeg(pattern(8, 8, 3), false)});
        t.files.push_back({folder("masks"), false, "c_mask.png", png(mask(8, 8))});
#endif
        write_seed(dir, "folders", unetpp::fuzz::encode_tree(t));
    }
    // All three readers on one tree, plain paired folders.
    {
        tree_input t;
        t.options = 3;
        t.files.push_back({folder("images"), false, "0.png", png(pattern(5, 4, 1))});
        t.files.push_back({folder("masks"), false, "0.png", png(mask(5, 4))});
        t.files.push_back({folder("labels"), false, "0.png", png(mask(5, 4))});
        write_seed(dir, "all_readers", unetpp::fuzz::encode_tree(t));
    }
}

/// plan.json seeds: a plan on whole images and one on patches with a warning.
void plan_seeds(const fs::path& dir) {
    unetpp::train::data_fingerprint f;
    f.images = f.sampled = 120;
    f.height = {300, 280, 320};
    f.width = {400, 350, 500};
    f.channels = 1;
    f.classes = 1;
    f.all = {0.3, 0.2, 0.01, 0.9, 1000};
    f.foreground = {0.25, 0.1, 0.0, 0.8, 80};
    f.foreground_fraction = 0.08;
    f.foreground_fraction_median = 0.05;
    f.foreground_fraction_max = 0.5;
    f.empty_mask_fraction = 0.1;
    unetpp::train::machine_speed m{.networks = {{16, 3, 64, 2, 0.02}, {16, 4, 64, 2, 0.03}, {32, 3, 64, 2, 0.07},
                                                {32, 4, 64, 2, 0.1}},
                                   .seconds_per_read = 0.008};
    write_seed(dir, "whole.json", unetpp::train::plan_to_json(unetpp::train::plan_recipe(f, m, {.seconds = 2700})));
    f.height = f.width = {1024, 1024, 1024};
    f.foreground_fraction = 0.004;
    f.classes = 3;
    write_seed(dir, "patches.json", unetpp::train::plan_to_json(unetpp::train::plan_recipe(f, m, {.seconds = 60})));
}

void medical_seeds(const fs::path& dir) {
    write_seed(dir, "multiframe.dcm", unetpp::fuzz::dicom_seed(true));
    write_seed(dir, "mono1.dcm", unetpp::fuzz::dicom_seed(false));
    write_seed(dir, "volume.nii", unetpp::fuzz::nifti_seed('\1'));
    write_seed(dir, "volume_gz.nii", unetpp::fuzz::nifti_seed('\2'));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_seeds OUT_DIR   (writes OUT_DIR/<target>/seed_* for the fuzz targets)\n";
        return 2;
    }
    try {
        const fs::path out = argv[1];
        image_seeds(out / "image");
        safetensors_seeds(out / "safetensors");
        checkpoint_seeds(out / "checkpoint");
        cli_seeds(out / "cli_args");
        dataset_seeds(out / "datasets");
        medical_seeds(out / "medical");
        plan_seeds(out / "plan");
    } catch (const std::exception& e) {
        std::cerr << "make_seeds: " << e.what() << '\n';
        return 1;
    }
    std::cout << "make_seeds: wrote " << written << " seeds under " << argv[1] << '\n';
    return 0;
}
