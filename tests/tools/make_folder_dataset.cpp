// Writes a tiny paired-folder data set for the tool tests: DIR/images/img_<k>.png and
// DIR/masks/img_<k>.png, 8 pairs of gray images (a bright disc on noise, its mask), 32 x 32 or
// W x H when given: unetpp_make_folder_dataset DIR [W H].
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <unetpp/data/synthetic.hpp>
#include <unetpp/io/image.hpp>

int main(int argc, char** argv) {
    if (argc != 2 && argc != 4) {
        std::fprintf(stderr, "usage: unetpp_make_folder_dataset DIR [W H]\n");
        return 2;
    }
    const int w = argc == 4 ? std::atoi(argv[2]) : 32, h = argc == 4 ? std::atoi(argv[3]) : 32;
    if (w < 16 || h < 16 || w > 4096 || h > 4096) {
        std::fprintf(stderr, "unetpp_make_folder_dataset: W and H must be 16 to 4096\n");
        return 2;
    }
    namespace fs = std::filesystem;
    const fs::path dir = argv[1];
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "masks");
    unetpp::rng r(7);
    for (int k = 0; k < 8; ++k) {
        unetpp::io::image img(w, h, 1), mask(w, h, 1);
        const double sx = w / 32.0, sy = h / 32.0;  // the 32 x 32 layout, stretched
        const double cx = (8 + r.uniform() * 16) * sx, cy = (8 + r.uniform() * 16) * sy;
        const double rad = (4 + r.uniform() * 5) * (sx < sy ? sx : sy);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const bool in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
                const double v = (in ? 180 : 60) + 40 * (r.uniform() - 0.5);
                img.pixels[std::size_t(y) * w + x] = static_cast<std::uint8_t>(v);
                mask.pixels[std::size_t(y) * w + x] = in ? 255 : 0;
            }
        const std::string name = "img_" + std::to_string(k) + ".png";
        unetpp::io::write_png(dir / "images" / name, img);
        unetpp::io::write_png(dir / "masks" / name, mask);
    }
    return 0;
}
