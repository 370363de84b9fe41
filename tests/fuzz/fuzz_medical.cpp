// libFuzzer target for unetpp's DICOM and NIfTI readers (io/medical.hpp): unetpp's wrapper
// (src/medical_dicom.cpp, src/medical_nifti.cpp, compiled into this target with the sanitizers)
// over GDCM and nifticlib as the system ships them (not instrumented: a memory error inside them
// is seen only when it crashes). Every input must decode or throw a std::exception.
//
// The first byte picks the reader: 0 DICOM from memory (decode_dicom, every frame index 0 to 2,
// and read_medical_info's header path), 1 a .nii file, 2 a .nii.gz file (nifticlib reads files;
// the bytes go to a scratch file of this process, uncompressed data read through zlib as is).
// Built by tests/fuzz/CMakeLists.txt when unetpp::medical is; seeds from make_seeds.

#include <unetpp/io/medical.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

unetpp::io::image_limits limits() {
    unetpp::io::image_limits l;
    l.max_side = 4096;
    l.max_pixels = std::uint64_t{1} << 22;
    l.max_file_bytes = std::uint64_t{1} << 24;
    l.max_decoded_bytes = std::uint64_t{64} << 20;
    return l;
}

std::filesystem::path scratch(const char* ext) {
    return std::filesystem::temp_directory_path() / ("unetpp_fuzz_medical_" + std::to_string(::getpid()) + ext);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace io = unetpp::io;
    if (size < 1) return 0;
    const int mode = data[0] % 3;
    const std::vector<unsigned char> bytes(data + 1, data + size);
    const io::image_limits lim = limits();
    if (mode == 0) {
        for (int index = -1; index < 3; ++index) {
            try {
                io::medical_options o;
                o.index = index;
                (void)io::decode_dicom(bytes, index == 2 ? 3 : 1, "fuzz.dcm", o, lim);
            } catch (const std::exception&) {
            }
        }
        try {
            (void)io::decode_image(bytes, 1, "fuzz", lim);  // the signature dispatch of read_image
        } catch (const std::exception&) {
        }
        return 0;
    }
    const std::filesystem::path file = scratch(mode == 1 ? ".nii" : ".nii.gz");
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    for (int axis = 0; axis < 3; ++axis) {
        try {
            io::medical_options o;
            o.axis = axis;
            o.index = 1;
            o.volume = axis == 1 ? 0 : -1;
            (void)io::read_medical_info(file, o, lim);
            (void)io::read_nifti(file, 1, o, lim);
        } catch (const std::exception&) {
        }
    }
    try {
        (void)io::read_image(file.string() + "#0", 1, lim);
    } catch (const std::exception&) {
    }
    return 0;
}
