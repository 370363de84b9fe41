// Writes a tiny paired-folder data set for the tool tests: DIR/images/img_<k>.png and
// DIR/masks/img_<k>.png, 8 pairs of 32 x 32 gray images (a bright disc on noise, its mask).
#include <cstdio>
#include <filesystem>

#include <unetpp/data/synthetic.hpp>
#include <unetpp/io/image.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: unetpp_make_folder_dataset DIR\n");
        return 2;
    }
    namespace fs = std::filesystem;
    const fs::path dir = argv[1];
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "masks");
    unetpp::rng r(7);
    for (int k = 0; k < 8; ++k) {
        const int n = 32;
        unetpp::io::image img(n, n, 1), mask(n, n, 1);
        const double cx = 8 + r.uniform() * 16, cy = 8 + r.uniform() * 16, rad = 4 + r.uniform() * 5;
        for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x) {
                const bool in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
                const double v = (in ? 180 : 60) + 40 * (r.uniform() - 0.5);
                img.pixels[std::size_t(y) * n + x] = static_cast<std::uint8_t>(v);
                mask.pixels[std::size_t(y) * n + x] = in ? 255 : 0;
            }
        const std::string name = "img_" + std::to_string(k) + ".png";
        unetpp::io::write_png(dir / "images" / name, img);
        unetpp::io::write_png(dir / "masks" / name, mask);
    }
    return 0;
}
