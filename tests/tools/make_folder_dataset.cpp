// Writes a tiny paired-folder data set for the tool tests: DIR/images/img_<k>.png and
// DIR/masks/img_<k>.png, 8 pairs, 32 x 32 or W x H when given:
//
//   unetpp_make_folder_dataset DIR [W H] [--rgb] [--classes 2|3] [--palette]
//
// Default: gray images of a bright disc on noise, binary masks 0/255 (this output never changes).
//   --rgb        RGB images: each pixel's gray value tinted by its class (background bluish, disc
//                reddish, square greenish); the same draws, so the same scene as without it.
//   --classes 2  label masks: 0 background, 1 disc (8-bit gray PNG); the default's scene.
//   --classes 3  label masks 0..2: a disc (class 1, bright) and a square (class 2, mid-gray) on a
//                dark background, the square at the disc's mirror position (it covers the disc
//                where they meet).
//   --palette    with --classes: masks as RGB colours instead of labels, class 0 black, 1 red
//                (255,0,0), 2 green (0,255,0); the palette text for the programs' --palette is
//                written to DIR/palette.txt ("0,0,0;255,0,0;0,255,0").
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unetpp/data/synthetic.hpp>
#include <unetpp/io/image.hpp>

namespace {

int usage(const char* why) {
    std::fprintf(stderr,
                 "unetpp_make_folder_dataset: %s\n"
                 "usage: unetpp_make_folder_dataset DIR [W H] [--rgb] [--classes 2|3] [--palette]\n",
                 why);
    return 2;
}

// Colour of a pixel of gray value v and class k for --rgb.
void tint(unetpp::io::image& img, int x, int y, double v, int k) {
    static constexpr double tints[3][3] = {{0.8, 0.9, 1.0}, {1.0, 0.55, 0.45}, {0.5, 1.0, 0.6}};
    for (int c = 0; c < 3; ++c) {
        const double t = v * tints[k][c];
        img.at(x, y, c) = static_cast<std::uint8_t>(t < 0 ? 0 : t > 255 ? 255 : t);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> positional;
    bool rgb = false, palette = false;
    int classes = 0;  // 0: binary 0/255 masks
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--rgb") {
            rgb = true;
        } else if (a == "--palette") {
            palette = true;
        } else if (a == "--classes") {
            if (i + 1 == argc) return usage("--classes needs a value, 2 or 3");
            const std::string v = argv[++i];
            if (v != "2" && v != "3") return usage(("--classes must be 2 or 3, got '" + v + "'").c_str());
            classes = v[0] - '0';
        } else if (a.starts_with("--")) {
            return usage(("unknown option '" + a + "'").c_str());
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 1 && positional.size() != 3) return usage("give DIR, or DIR W H");
    if (palette && classes == 0) return usage("--palette needs --classes 2 or 3");
    const int w = positional.size() == 3 ? std::atoi(positional[1].c_str()) : 32;
    const int h = positional.size() == 3 ? std::atoi(positional[2].c_str()) : 32;
    if (w < 16 || h < 16 || w > 4096 || h > 4096) {
        std::fprintf(stderr, "unetpp_make_folder_dataset: W and H must be 16 to 4096\n");
        return 2;
    }
    namespace fs = std::filesystem;
    const fs::path dir = positional[0];
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "masks");
    if (palette) {
        std::ofstream(dir / "palette.txt") << (classes == 3 ? "0,0,0;255,0,0;0,255,0" : "0,0,0;255,0,0") << '\n';
    }
    static constexpr std::uint8_t palette_rgb[3][3] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}};
    unetpp::rng r(7);
    for (int k = 0; k < 8; ++k) {
        unetpp::io::image img(w, h, rgb ? 3 : 1), mask(w, h, palette ? 3 : 1);
        const double sx = w / 32.0, sy = h / 32.0;  // the 32 x 32 layout, stretched
        const double cx = (8 + r.uniform() * 16) * sx, cy = (8 + r.uniform() * 16) * sy;
        const double rad = (4 + r.uniform() * 5) * (sx < sy ? sx : sy);
        // --classes 3: a square of half side 3..5 (stretched) at the disc's mirror position.
        const double qx = w - cx, qy = h - cy;
        const double hx = classes == 3 ? (3 + r.uniform() * 2) * sx : 0, hy = hx / sx * sy;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const bool in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
                const bool in_square = classes == 3 && std::abs(x - qx) < hx && std::abs(y - qy) < hy;
                const int cls = in_square ? 2 : in ? 1 : 0;
                const double base = classes == 3 ? (cls == 2 ? 120 : cls == 1 ? 180 : 40) : (in ? 180 : 60);
                const double v = base + 40 * (r.uniform() - 0.5);
                if (rgb) tint(img, x, y, v, cls);
                else img.pixels[std::size_t(y) * w + x] = static_cast<std::uint8_t>(v);
                if (palette)
                    for (int c = 0; c < 3; ++c) mask.at(x, y, c) = palette_rgb[cls][c];
                else
                    mask.pixels[std::size_t(y) * w + x] = static_cast<std::uint8_t>(classes ? cls : in ? 255 : 0);
            }
        const std::string name = "img_" + std::to_string(k) + ".png";
        unetpp::io::write_png(dir / "images" / name, img);
        unetpp::io::write_png(dir / "masks" / name, mask);
    }
    return 0;
}
