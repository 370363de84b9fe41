// DICOM and NIfTI reading (io/medical.hpp): pixel values, frames, slices, orientation and bad files,
// on files written at test time by pydicom and nibabel (tests/unit/io/make_medical_files.py, the
// test venv of scripts/install_deps.sh), with the expected 8-bit images computed there. Linked with
// unetpp::medical by tests/CMakeLists.txt when GDCM / nifticlib were found.
#include <doctest/doctest.h>

#include "../../support/error_of.hpp"
#include "../../support/skip.hpp"

#include <unetpp/data/folder.hpp>
#include <unetpp/io/image.hpp>
#include <unetpp/io/medical.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
namespace io = unetpp::io;
namespace test = unetpp::test;
using test::contains;

namespace {

fs::path venv_python() {
    fs::path venv;
    if (const char* v = std::getenv("UNETPP_TEST_VENV"); v && *v) venv = v;
    else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) venv = fs::path(x) / "unetpp" / "test-venv";
    else if (const char* h = std::getenv("HOME"); h && *h) venv = fs::path(h) / ".cache" / "unetpp" / "test-venv";
    return venv / "bin" / "python";
}

/// The folder of generated files, made once; empty (and the test skipped) when pydicom / nibabel
/// are missing.
const fs::path& files() {
    static const fs::path dir = [] {
        const fs::path py = venv_python();
        if (!fs::exists(py) || std::system(("'" + py.string() + "' -c 'import pydicom, nibabel' 2>/dev/null").c_str()) != 0)
            return fs::path{};
        fs::path d = fs::temp_directory_path() / ("unetpp_medical_" + std::to_string(::getpid()));
        fs::remove_all(d);
        fs::create_directories(d);
        const std::string cmd = "'" + py.string() + "' -W ignore '" UNETPP_SOURCE_DIR "/tests/unit/io/make_medical_files.py' '" +
                                d.string() + "'";
        REQUIRE(std::system(cmd.c_str()) == 0);
        return d;
    }();
    return dir;
}

struct cleanup {
    ~cleanup() {
        if (!files().empty()) fs::remove_all(files());
    }
};

bool ready() {
#if !(defined(UNETPP_HAS_DICOM) && defined(UNETPP_HAS_NIFTI))
    return !test::skip_missing_installable("GDCM and nifticlib (unetpp::medical)",
                                           "scripts/install_deps.sh installs libgdcm-dev and libnifti2-dev");
#else
    if (files().empty())
        return !test::skip_missing_installable("pydicom and nibabel in the test venv",
                                               "scripts/install_deps.sh installs them into the test venv");
    static cleanup c;
    return true;
#endif
}

std::vector<unsigned char> expected(const std::string& name) {
    std::ifstream in(files() / (name + ".expected"), std::ios::binary);
    REQUIRE_MESSAGE(in, "no " << name << ".expected");
    return {std::istreambuf_iterator<char>(in), {}};
}

void check_pixels(const io::image& img, const std::string& name, int w, int h) {
    CHECK(img.width == w);
    CHECK(img.height == h);
    CHECK(img.channels == 1);
    const auto want = expected(name);
    REQUIRE(img.pixels.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK_MESSAGE(img.pixels[i] == want[i], name << " pixel " << i);
}

}  // namespace

#if defined(UNETPP_HAS_DICOM) && defined(UNETPP_HAS_NIFTI)

TEST_CASE("DICOM: 12-bit, 16-bit signed with rescale and window, LINEAR_EXACT, MONOCHROME1, exact values") {
    if (!ready()) return;
    const io::image u12 = io::read_image(files() / "u12.dcm");
    check_pixels(u12, "u12.dcm", 4, 3);
    CHECK(u12.source_bits == 12);
    CHECK(u12.pixels[0] == 0);     // stored 0 = the minimum (the junk high bits are masked)
    CHECK(u12.pixels[3] == 255);   // stored 4095 = the maximum
    check_pixels(io::read_image(files() / "s16.dcm"), "s16.dcm", 6, 2);
    const io::image s16 = io::read_image(files() / "s16.dcm");
    CHECK(s16.pixels[3] == 0);    // 300 * 2 - 1000 = -400 HU, below the 40 / 400 window
    CHECK(s16.pixels[4] == 128);  // 520 * 2 - 1000 = 40 HU, the window centre
    CHECK(s16.pixels[7] == 255);  // 32767: above the window
    check_pixels(io::read_image(files() / "s12.dcm"), "s12.dcm", 3, 2);
    const io::image m1 = io::read_image(files() / "mono1.dcm");
    check_pixels(m1, "mono1.dcm", 3, 2);
    CHECK(m1.pixels[0] == 255);  // MONOCHROME1: the lowest value is white
    CHECK(m1.pixels[5] == 0);
    // channels are replicated on request
    const io::image rgb = io::read_image(files() / "mono1.dcm", 3);
    CHECK(rgb.channels == 3);
    CHECK(rgb.at(0, 0, 0) == 255);
    CHECK(rgb.at(0, 0, 2) == 255);
}

TEST_CASE("DICOM: the caller's window, or the value range, instead of the file's") {
    if (!ready()) return;
    io::medical_options range;
    range.use_file_window = false;
    const io::image r = io::read_dicom(files() / "s16.dcm", 1, range);
    CHECK(r.pixels[0] == 0);     // -32768: the minimum of the file
    CHECK(r.pixels[7] == 255);   // 32767: the maximum
    io::medical_options bone;
    bone.window = io::voi_window{-1000, 2};  // everything above -1000.5 + 0.5 is white
    const io::image b = io::read_dicom(files() / "s16.dcm", 1, bone);
    CHECK(b.pixels[0] == 0);    // -66536
    CHECK(b.pixels[2] == 255);  // 0 -> -1000 HU: above -1000
    bone.window = io::voi_window{0, 0.5};
    CHECK(contains(test::error_of<std::invalid_argument>([&] { (void)io::read_dicom(files() / "s16.dcm", 1, bone); }),
                   "width of at least 1"));
}

TEST_CASE("DICOM: multi-frame files are read one frame at a time as file#k") {
    if (!ready()) return;
    const fs::path f = files() / "multi.dcm";
    CHECK(io::count_images(f) == 3);
    for (int k = 0; k < 3; ++k)
        check_pixels(io::read_image(f.string() + "#" + std::to_string(k)), "multi.dcm#" + std::to_string(k), 2, 2);
    CHECK(io::read_image(f.string() + "#2").pixels[3] == 255);  // 1100, the largest of all frames
    CHECK(io::read_image(f.string() + "#0").pixels[0] == 0);
    const std::string whole = test::error_of<std::runtime_error>([&] { (void)io::read_image(f); });
    CHECK(contains(whole, "holds 3 frames"));
    CHECK(contains(whole, "#k' with k from 0 to 2"));
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::read_image(f.string() + "#3"); }),
                   "no frame 3"));
    const auto info = io::read_medical_info(f);
    CHECK(info.format == "DICOM");
    CHECK(info.count == 3);
    CHECK(info.bits_stored == 16);
    CHECK(!info.window);
}

TEST_CASE("DICOM: bad files give the documented errors") {
    if (!ready()) return;
    auto err = [&](const char* name) {
        return test::error_of<std::runtime_error>([&] { (void)io::read_image(files() / name); });
    };
    CHECK(contains(err("rgb.dcm"), "colour image (Photometric Interpretation RGB"));
    CHECK(contains(err("rgb.dcm"), "greyscale"));
    CHECK(contains(err("bits12.dcm"), "Bits Allocated 12"));
    CHECK(contains(err("huge.dcm"), "60000 x 60000 pixels, above the limit"));
    const std::string trunc = err("truncated.dcm");
    CHECK(!trunc.empty());
    CHECK(contains(trunc, "truncated.dcm"));
    io::image_limits small;
    small.max_decoded_bytes = 16;  // 3 frames of 2 x 2 x 2 bytes = 24
    CHECK(contains(test::error_of<std::runtime_error>(
                       [&] { (void)io::read_image(files().string() + "/multi.dcm#0", 0, small); }),
                   "holds 3 frames of 2 x 2 pixels at 16 bits"));
    // From memory, through decode_image, as the fuzz target does.
    std::ifstream in(files() / "u12.dcm", std::ios::binary);
    const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), {}};
    CHECK(io::decode_image(bytes, 1).pixels == expected("u12.dcm"));
    std::vector<unsigned char> cut(bytes.begin(), bytes.begin() + 200);  // inside the file meta information
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::decode_image(cut, 1); }),
                   "file meta information"));
    // A length the file cannot hold is refused before GDCM allocates it (a fuzzing finding).
    std::vector<unsigned char> lying = bytes;
    const std::vector<unsigned char> pixel_tag{0xe0, 0x7f, 0x10, 0x00, 'O', 'W', 0, 0};
    const auto at = std::search(lying.begin(), lying.end(), pixel_tag.begin(), pixel_tag.end());
    REQUIRE(at != lying.end());
    at[8] = 0xf0, at[9] = 0xff, at[10] = 0xff, at[11] = 0x7f;
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::decode_image(lying, 1); }),
                   "element (7FE0,0010) of 2147483632 bytes, past the end of the file"));
    // Without the Part 10 header (GDCM's guessing code asserts on such files when they end early)
    const std::vector<unsigned char> raw(bytes.begin() + 132, bytes.end());
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::decode_dicom(raw, 1); }),
                   "no DICOM Part 10 header"));
    // Samples per Pixel 2 and an unknown VR: GDCM would assert or guess (fuzzing findings).
    const std::vector<unsigned char> spp_tag{0x28, 0x00, 0x02, 0x00, 'U', 'S', 2, 0};
    std::vector<unsigned char> odd = bytes;
    const auto spp = std::search(odd.begin(), odd.end(), spp_tag.begin(), spp_tag.end());
    REQUIRE(spp != odd.end());
    spp[8] = 2;
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::decode_image(odd, 1); }),
                   "Samples per Pixel other than 1, 3 or 4"));
    odd = bytes;
    odd[static_cast<std::size_t>(std::search(odd.begin(), odd.end(), spp_tag.begin(), spp_tag.end()) - odd.begin()) + 4] = 'X';
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::decode_image(odd, 1); }),
                   "invalid value representation"));
    odd = bytes;
    odd[static_cast<std::size_t>(std::search(odd.begin(), odd.end(), spp_tag.begin(), spp_tag.end()) - odd.begin()) + 4] = 'S';
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::decode_image(odd, 1); }),
                   "value representation SS, which DICOM does not allow"));
}

TEST_CASE("NIfTI: slice k along each axis, x and y as stated, one value range per volume") {
    if (!ready()) return;
    const fs::path v = files() / "vol.nii.gz";
    CHECK(io::count_images(v) == 3);
    for (int k = 0; k < 3; ++k)
        check_pixels(io::read_image(v.string() + "#" + std::to_string(k)), "vol.nii.gz#" + std::to_string(k), 5, 4);
    // voxel (i, j, k) = i + 10 j + 100 k, range 0..234: pixel (x=2, y=3) of slice 1 is 132
    CHECK(io::read_image(v.string() + "#1").at(2, 3) == 144);  // round(132 / 234 * 255)
    io::medical_options along_i;
    along_i.axis = 0;
    for (int i = 0; i < 5; ++i) {
        along_i.index = i;
        check_pixels(io::read_nifti(v, 1, along_i), "vol.nii.gz.axis0#" + std::to_string(i), 4, 3);
    }
    const auto info = io::read_medical_info(v);
    CHECK(info.format == "NIfTI-1");
    CHECK(info.width == 5);
    CHECK(info.height == 4);
    CHECK(info.count == 3);
    CHECK(info.axis_directions[0] == "Left-to-Right");
    CHECK(info.axis_directions[1] == "Posterior-to-Anterior");
    CHECK(info.axis_directions[2] == "Inferior-to-Superior");
    CHECK(contains(info.orientation, "x (columns): i Left-to-Right; y (rows): j Posterior-to-Anterior"));
    const auto flip = io::read_medical_info(files() / "flip.nii");
    CHECK(flip.axis_directions[0] == "Right-to-Left");
    CHECK(flip.axis_directions[1] == "Anterior-to-Posterior");
    CHECK(contains(flip.orientation, "from the sform"));
    const std::string whole = test::error_of<std::runtime_error>([&] { (void)io::read_image(v); });
    CHECK(contains(whole, "volume of 3 slices along stored axis k"));
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::read_image(v.string() + "#3"); }), "no slice 3"));
}

TEST_CASE("NIfTI: scl_slope, cal_min/cal_max, NaN and label masks") {
    if (!ready()) return;
    const io::image f = io::read_image(files() / "float.nii");
    check_pixels(f, "float.nii", 3, 2);
    CHECK(f.pixels[5] == 0);  // NaN
    for (int k = 0; k < 3; ++k)
        check_pixels(io::read_image(files().string() + "/labels.nii.gz#" + std::to_string(k)),
                     "labels.nii.gz#" + std::to_string(k), 5, 4);
}

TEST_CASE("NIfTI: bad files give the documented errors") {
    if (!ready()) return;
    auto err = [&](const char* name) {
        return test::error_of<std::runtime_error>([&] { (void)io::read_image(files() / name); });
    };
    CHECK(contains(err("four_d.nii"), "4-D with 3 volumes"));
    io::medical_options vol;
    vol.volume = 2;
    vol.index = 1;
    CHECK(io::read_nifti(files() / "four_d.nii", 1, vol).pixels == std::vector<unsigned char>(16, 0));
    vol.volume = 3;
    CHECK(contains(test::error_of<std::runtime_error>([&] { (void)io::read_nifti(files() / "four_d.nii", 1, vol); }),
                   "no volume 3"));
    CHECK(contains(err("rgb.nii"), "colour voxels"));
    CHECK(contains(err("truncated.nii#0"), "is truncated"));
    CHECK(contains(err("huge.nii"), "30000 x 30000 voxels, above the limit"));
    CHECK(contains(test::error_of<std::runtime_error>([&] {
                       std::ifstream in(files() / "flip.nii", std::ios::binary);
                       (void)io::decode_image(std::vector<unsigned char>{std::istreambuf_iterator<char>(in), {}}, 1);
                   }),
                   "NIfTI is read from a file"));
}

TEST_CASE("folder data set: one sample per slice, paired with the mask's slice, one group per volume") {
    if (!ready()) return;
    const fs::path root = files() / "folder";
    fs::create_directories(root / "images");
    fs::create_directories(root / "masks");
    fs::copy_file(files() / "vol.nii.gz", root / "images" / "case1.nii.gz");
    fs::copy_file(files() / "labels.nii.gz", root / "masks" / "case1_seg.nii.gz");
    fs::copy_file(files() / "mono1.dcm", root / "images" / "film.dcm");
    io::image mask(3, 2, 1);
    mask.at(1, 1) = 255;
    io::write_png(root / "masks" / "film_seg.png", mask);
    const auto ds = unetpp::data::paired_folders(root / "images", root / "masks", {.mask_suffix = "_seg"});
    REQUIRE(ds.size() == 4);
    CHECK(ds.image_path(0).filename() == "case1.nii.gz#0");
    CHECK(ds.image_path(2).filename() == "case1.nii.gz#2");
    CHECK(ds.image_path(3).filename() == "film.dcm");
    CHECK(ds.group(0) == ds.group(2));
    CHECK(ds.group(0) != ds.group(3));
    const auto s = ds.get(1);
    CHECK(s.image.shape().w == 5);
    CHECK(s.image.shape().h == 4);
    // mask slice 1: labels (i + 10 j + 100 k) % 2 = i % 2 -> foreground at odd x
    CHECK(s.mask(0, 0, 0, 1) == 1.0f);
    CHECK(s.mask(0, 0, 0, 2) == 0.0f);
    CHECK(ds.get(3).mask(0, 0, 1, 1) == 1.0f);
    // a mask volume with another slice count is refused, naming both files
    fs::copy_file(files() / "float.nii", root / "masks" / "case2_seg.nii");
    fs::copy_file(files() / "vol.nii.gz", root / "images" / "case2.nii.gz");
    const std::string e = test::error_of<std::runtime_error>(
        [&] { (void)unetpp::data::paired_folders(root / "images", root / "masks", {.mask_suffix = "_seg"}); });
    CHECK(contains(e, "holds 3 frames or slices, but its mask"));
    CHECK(contains(e, "case2_seg.nii"));
}

#else

TEST_CASE("DICOM and NIfTI need unetpp::medical") {
    if (!ready()) return;
}

#endif
