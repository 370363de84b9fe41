// Writes a tiny NIfTI folder data set for tests/tools/medical.cmake, through nifticlib's own writer:
//
//   unetpp_make_medical_dataset OUT
//
//   OUT/images/case<c>.nii.gz   c = 0..3: int16 volumes of 40 x 36 x 4 voxels (i x j x k), a bright
//                               disc on a noisy background in every slice, values about -200..1800
//   OUT/masks/case<c>_seg.nii.gz the discs, uint8 labels 0 / 1
//   OUT/single.nii              one 2-D slice (40 x 36 x 1) for unetpp-predict --input
//
// Deterministic (a fixed linear congruential generator).
#include <nifti2_io.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

constexpr int W = 40, H = 36;
std::uint32_t state = 12345;
int noise() {
    state = state * 1664525u + 1013904223u;
    return static_cast<int>(state >> 24) - 128;  // -128..127
}

bool write(const std::string& path, int slices, int datatype, const void* data, std::size_t bytes) {
    const std::int64_t dims[8] = {3, W, H, slices, 1, 1, 1, 1};
    nifti_image* nim = nifti_make_new_nim(dims, datatype, 1);
    if (!nim) return false;
    std::memcpy(nim->data, data, bytes);
    nim->qform_code = 1;  // scanner coordinates, identity rotation: i L->R, j P->A, k I->S
    if (nifti_set_filenames(nim, path.c_str(), 0, 1) != 0) {
        nifti_image_free(nim);
        return false;
    }
    nifti_image_write(nim);
    nifti_image_free(nim);
    return std::filesystem::exists(path);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT\n", argv[0]);
        return 2;
    }
    const std::filesystem::path out = argv[1];
    std::filesystem::create_directories(out / "images");
    std::filesystem::create_directories(out / "masks");
    for (int c = 0; c < 4; ++c) {
        const int slices = 4;
        std::vector<std::int16_t> img(static_cast<std::size_t>(W) * H * slices);
        std::vector<std::uint8_t> seg(img.size());
        for (int k = 0; k < slices; ++k) {
            const int cx = 12 + (c * 5 + k * 3) % 16, cy = 11 + (c * 3 + k * 7) % 14, r = 6 + (c + k) % 5;
            for (int j = 0; j < H; ++j)
                for (int i = 0; i < W; ++i) {
                    const std::size_t at = (static_cast<std::size_t>(k) * H + j) * W + i;  // i fastest
                    const bool in = (i - cx) * (i - cx) + (j - cy) * (j - cy) <= r * r;
                    seg[at] = in ? 1 : 0;
                    img[at] = static_cast<std::int16_t>((in ? 1500 : 100) + noise());
                }
        }
        const std::string name = "case" + std::to_string(c);
        if (!write((out / "images" / (name + ".nii.gz")).string(), slices, NIFTI_TYPE_INT16, img.data(),
                   img.size() * 2) ||
            !write((out / "masks" / (name + "_seg.nii.gz")).string(), slices, NIFTI_TYPE_UINT8, seg.data(), seg.size())) {
            std::fprintf(stderr, "cannot write %s\n", name.c_str());
            return 1;
        }
        if (c == 3 &&
            !write((out / "single.nii").string(), 1, NIFTI_TYPE_INT16, img.data(), static_cast<std::size_t>(W) * H * 2)) {
            std::fprintf(stderr, "cannot write single.nii\n");
            return 1;
        }
    }
    return 0;
}
