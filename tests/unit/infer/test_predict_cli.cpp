// End-to-end test of the unetpp-predict program: a tiny network saved with io::save_weights,
// images written with io::write_png, and the files and exit statuses the program produces.
//
// The program's path comes from UNETPP_PREDICT_EXE (a compile definition that tools/predict.cmake
// adds to this test, or an environment variable of that name); without it the test is skipped
// (exit 77, with the reason).

#include <doctest/doctest.h>

#include "../../support/skip.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include <unetpp/backend/cpu.hpp>
#include <unetpp/infer.hpp>
#include <unetpp/io/image.hpp>
#include <unetpp/io/weights.hpp>
#include <unetpp/models/presets.hpp>

namespace fs = std::filesystem;
using namespace unetpp;

namespace {

std::string predict_exe() {
    if (const char* e = std::getenv("UNETPP_PREDICT_EXE")) return e;
#ifdef UNETPP_PREDICT_EXE
    return UNETPP_PREDICT_EXE;
#else
    return {};
#endif
}

struct result {
    int status;
    std::string err;
};

result run(const std::string& exe, const std::string& args, const fs::path& dir) {
    const fs::path err = dir / "stderr.txt";
    const std::string cmd = "'" + exe + "' " + args + " > '" + (dir / "stdout.txt").string() + "' 2> '" + err.string() + "'";
    const int raw = std::system(cmd.c_str());
    std::ifstream in(err);
    std::stringstream ss;
    ss << in.rdbuf();
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, ss.str()};
}

int lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

io::image make_image(int w, int h) {
    io::image img(w, h, 1);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) img.at(x, y) = static_cast<std::uint8_t>((x * 7 + y * 13 + (x * y) % 31) % 256);
    return img;
}

}  // namespace

TEST_CASE("unetpp-predict end to end") {
    const std::string exe = predict_exe();
    if (exe.empty()) {
        unetpp::test::skip_not_available(
            "UNETPP_PREDICT_EXE not set: unetpp-predict is not part of this build (UNETPP_BUILD_TOOLS=OFF)");
        return;
    }
    const fs::path dir = fs::temp_directory_path() / ("unetpp_predict_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "in");
    fs::create_directories(dir / "masks");

    using net_t = presets::unet_bn<8, 3>;  // a network unetpp-train offers (base 8, depth 3)
    net_t net(42);
    io::save_weights(net, dir / "w.safetensors");
    const io::image img = make_image(45, 70);
    io::write_png(dir / "in" / "a.png", img);
    io::write_png(dir / "in" / "tiny.png", make_image(1, 1));
    io::write_png(dir / "masks" / "a.png", make_image(45, 70));
    io::write_png(dir / "masks" / "tiny_mask.png", make_image(1, 1));

    const std::string common = "--weights '" + (dir / "w.safetensors").string() + "' --out '" + (dir / "out").string() + "'";
    SUBCASE("a directory of images, with ground truth, tiled") {
        const auto r = run(exe, common + " --input '" + (dir / "in").string() + "' --mask-dir '" +
                                    (dir / "masks").string() + "' --tile 32 --overlap 8 --threshold 0.4",
                           dir);
        CHECK(r.status == 0);
        CHECK(r.err.empty());
        for (const char* f : {"a_prob.png", "a_mask.png", "a_compare.png", "tiny_prob.png", "tiny_mask.png"})
            CHECK(fs::exists(dir / "out" / f));
        // The program's probabilities are the library's.
        const auto p = infer::predict_tiled(net, io::to_tensor(img), {.tile = 32, .overlap = 8, .threshold = 0.4f});
        const io::image want = io::from_tensor(p.prob);
        const io::image got = io::read_image(dir / "out" / "a_prob.png", 1);
        REQUIRE(got.width == 45);
        REQUIRE(got.height == 70);
        int worst = 0;
        for (std::size_t i = 0; i < got.pixels.size(); ++i)
            worst = std::max(worst, std::abs(int(got.pixels[i]) - int(want.pixels[i])));
        CHECK(worst <= 1);
        const io::image mask = io::read_image(dir / "out" / "a_mask.png", 1);
        for (std::size_t i = 0; i < mask.pixels.size(); ++i)
            CHECK(int(mask.pixels[i]) == (p.mask[i] > 0.5f ? 255 : 0));
        const io::image cmp = io::read_image(dir / "out" / "a_compare.png", 1);
        CHECK(cmp.width == 3 * 45 + 4);
        CHECK(cmp.height == 70);
        CHECK(io::read_image(dir / "out" / "tiny_mask.png", 1).width == 1);
    }
    SUBCASE("one image with TTA and explicit architecture") {
        const auto r = run(exe, common + " --input '" + (dir / "in" / "a.png").string() +
                                    "' --tta --model unet_bn --base 8 --depth 3",
                           dir);
        CHECK(r.status == 0);
        CHECK(fs::exists(dir / "out" / "a_mask.png"));
    }
    SUBCASE("a plain weights file records no training scale: predicted at the native size, and said so") {
        CHECK(run(exe, common + " --input '" + (dir / "in" / "a.png").string() + "'", dir).status == 0);
        std::ifstream in(dir / "stdout.txt");
        std::stringstream out;
        out << in.rdbuf();
        CHECK(out.str().find("no training scale is known") != std::string::npos);
        CHECK(out.str().find("predicted at the native 45x70 by tiling") != std::string::npos);
    }
    SUBCASE("a network unetpp-train does not offer (depth 2) is refused, naming the compiled set") {
        presets::unet_bn<8, 2> shallow(1);
        io::save_weights(shallow, dir / "depth2.safetensors");
        const auto r = run(exe, "--checkpoint '" + (dir / "depth2.safetensors").string() + "' --input '" +
                                    (dir / "in").string() + "' --out '" + (dir / "out").string() + "'",
                           dir);
        CHECK(r.status == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find("not compiled in") != std::string::npos);
        CHECK(r.err.find("depth 3|4") != std::string::npos);
    }
    SUBCASE("weights with a NaN are refused before anything is written") {
        net_t bad(42);
        bool done = false;
        bad.visit_parameters([&](std::string_view, tensor<float>& v, tensor<float>&) {
            if (!done) v[0] = std::numeric_limits<float>::quiet_NaN(), done = true;
        });
        io::save_weights(bad, dir / "nan.safetensors");  // valid checksums over the NaN
        const auto r = run(exe, "--checkpoint '" + (dir / "nan.safetensors").string() + "' --input '" +
                                    (dir / "in").string() + "' --out '" + (dir / "out").string() + "'",
                           dir);
        CHECK(r.status == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find("weights hold NaN/Inf in") != std::string::npos);
        CHECK(!fs::exists(dir / "out"));
    }
    SUBCASE("help") {
        CHECK(run(exe, "--help", dir).status == 0);
    }
    SUBCASE("missing weights") {
        const auto r = run(exe, "--weights '" + (dir / "nope.safetensors").string() + "' --input '" +
                                    (dir / "in").string() + "' --out '" + (dir / "out").string() + "'",
                           dir);
        CHECK(r.status == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find("nope.safetensors") != std::string::npos);
    }
    SUBCASE("weights of another architecture") {
        const auto r = run(exe, common + " --input '" + (dir / "in").string() + "' --model ronneberger2015", dir);
        CHECK(r.status == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find("another architecture") != std::string::npos);
        const auto r2 = run(exe, common + " --input '" + (dir / "in").string() + "' --depth 4", dir);
        CHECK(r2.status == 2);
        CHECK(r2.err.find("w.safetensors") != std::string::npos);
    }
    SUBCASE("unreadable image") {
        std::ofstream(dir / "in" / "broken.png") << "this is not a PNG";
        const auto r = run(exe, common + " --input '" + (dir / "in" / "broken.png").string() + "'", dir);
        CHECK(r.status == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find("broken.png") != std::string::npos);
    }
    SUBCASE("missing ground truth") {
        io::write_png(dir / "in" / "lonely.png", make_image(20, 20));
        const auto r = run(exe, common + " --input '" + (dir / "in" / "lonely.png").string() + "' --mask-dir '" +
                                    (dir / "masks").string() + "'",
                           dir);
        CHECK(r.status == 2);
        CHECK(r.err.find("lonely") != std::string::npos);
    }
    SUBCASE("an output folder that holds a user's file is refused; --overwrite writes only the program's files") {
        fs::create_directories(dir / "out");
        const std::string mine = "a user's notes\nnot written by unetpp-predict\n";
        std::ofstream(dir / "out" / "notes.txt", std::ios::binary) << mine;
        const std::string input = " --input '" + (dir / "in").string() + "'";
        const auto r = run(exe, common + input, dir);
        CHECK(r.status == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find("already holds files that unetpp-predict did not write") != std::string::npos);
        CHECK(r.err.find("--overwrite") != std::string::npos);
        CHECK(!fs::exists(dir / "out" / "a_mask.png"));
        const auto read_notes = [&] {
            std::ifstream in(dir / "out" / "notes.txt", std::ios::binary);
            std::stringstream ss;
            ss << in.rdbuf();
            return ss.str();
        };
        CHECK(read_notes() == mine);
        const auto ok = run(exe, common + input + " --overwrite", dir);
        CHECK(ok.status == 0);
        CHECK(fs::exists(dir / "out" / "a_mask.png"));
        CHECK(read_notes() == mine);
        // a second run with --overwrite replaces its own files and still nothing else
        CHECK(run(exe, common + input + " --overwrite", dir).status == 0);
        CHECK(read_notes() == mine);
        int files = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / "out")) ++files;
        CHECK(files == 5);  // notes.txt, a_prob, a_mask, tiny_prob, tiny_mask: no temporary files
    }
    SUBCASE("numbers are range-checked; unknown options are unknown at the end of the line") {
        const std::string input = " --input '" + (dir / "in").string() + "'";
        const struct {
            const char* args;
            const char* message;
        } cases[] = {
            {" --batch 4294967297", "--batch 4294967297 is out of range; use 1 to 4096"},
            {" --threads 0", "--threads 0 is out of range; use 1 to 1024"},
            {" --threads -1", "--threads -1 is out of range; use 1 to 1024"},
            {" --threshold nan", "--threshold 'nan' is not a finite number; use a number >= 0 and <= 1"},
            {" --threshold 1.5", "--threshold 1.5 is out of range"},
            {" --tile 12abc", "--tile '12abc' is not a whole number; use 8 to 65536"},
            {" --memory-mb 99999999999999999999", "--memory-mb 99999999999999999999 is out of range"},
            {" --model unet", "--model 'unet' is not one of unet_bn or ronneberger2015"},
            {" --mistyped", "unknown option --mistyped"},
        };
        for (const auto& c : cases) {
            CAPTURE(c.args);
            const auto r = run(exe, common + input + c.args, dir);
            CHECK(r.status == 2);
            CHECK(lines(r.err) == 1);
            CHECK(r.err.find(c.message) != std::string::npos);
            CHECK(!fs::exists(dir / "out"));
        }
    }
    SUBCASE("bad option") {
        const auto r = run(exe, common + " --input '" + (dir / "in").string() + "' --tile 33", dir);
        CHECK(r.status == 2);
        CHECK(r.err.find("nearest valid sizes") != std::string::npos);
    }
    fs::remove_all(dir);
}
