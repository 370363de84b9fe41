#pragma once
// Seed files for fuzz_medical, built byte by byte (no GDCM or nifticlib needed to write them):
// a two-frame 12-bit DICOM with rescale and window, a MONOCHROME1 8-bit DICOM, and a NIfTI-1
// int16 volume. Each seed starts with fuzz_medical's mode byte (0 DICOM, 1 .nii, 2 .nii.gz).
// Included by make_seeds.cpp.

#include <cstdint>
#include <cstring>
#include <string>

namespace unetpp::fuzz {

/// One explicit-VR little-endian DICOM element.
inline std::string dicom_element(std::uint16_t group, std::uint16_t element, const char* vr, std::string value) {
    const bool long_form = std::strcmp(vr, "OB") == 0 || std::strcmp(vr, "OW") == 0;
    if (value.size() % 2) value.push_back(std::strcmp(vr, "UI") == 0 || long_form ? '\0' : ' ');
    std::string e;
    auto u16 = [&](unsigned v) { e.push_back(static_cast<char>(v & 0xff)), e.push_back(static_cast<char>(v >> 8)); };
    u16(group);
    u16(element);
    e += vr;
    if (long_form) {
        u16(0);
        u16(static_cast<unsigned>(value.size() & 0xffff));
        u16(static_cast<unsigned>(value.size() >> 16));
    } else {
        u16(static_cast<unsigned>(value.size()));
    }
    return e + value;
}

inline std::string le16(unsigned v) { return {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff)}; }

/// A Part 10 DICOM file: `dataset` holds the elements after the file meta information, in tag order.
inline std::string dicom_file(const std::string& dataset) {
    std::string meta = dicom_element(0x0002, 0x0001, "OB", std::string("\0\1", 2)) +
                       dicom_element(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7") +
                       dicom_element(0x0002, 0x0003, "UI", "1.2.3.4") +
                       dicom_element(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");
    const std::uint32_t n = static_cast<std::uint32_t>(meta.size());
    std::string length = dicom_element(0x0002, 0x0000, "UL", le16(n & 0xffff) + le16(n >> 16));
    return std::string(128, '\0') + "DICM" + length + meta + dataset;
}

inline std::string dicom_seed(bool multi_frame) {
    const int rows = 3, cols = 4, frames = multi_frame ? 2 : 1, bits = multi_frame ? 16 : 8;
    std::string pixels;
    for (int i = 0; i < rows * cols * frames; ++i)
        pixels += bits == 16 ? le16(static_cast<unsigned>(i * 300) | (i % 2 ? 0xF000u : 0u))
                             : std::string(1, static_cast<char>(i * 20));
    std::string ds = dicom_element(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7") +
                     dicom_element(0x0008, 0x0018, "UI", "1.2.3.4") +
                     dicom_element(0x0028, 0x0002, "US", le16(1)) +
                     dicom_element(0x0028, 0x0004, "CS", multi_frame ? "MONOCHROME2" : "MONOCHROME1");
    if (multi_frame) ds += dicom_element(0x0028, 0x0008, "IS", "2");
    ds += dicom_element(0x0028, 0x0010, "US", le16(rows)) + dicom_element(0x0028, 0x0011, "US", le16(cols)) +
          dicom_element(0x0028, 0x0100, "US", le16(bits)) +
          dicom_element(0x0028, 0x0101, "US", le16(multi_frame ? 12 : 8)) +
          dicom_element(0x0028, 0x0102, "US", le16(multi_frame ? 11 : 7)) +
          dicom_element(0x0028, 0x0103, "US", le16(multi_frame ? 1 : 0));
    if (multi_frame)
        ds += dicom_element(0x0028, 0x1050, "DS", "40\\80") + dicom_element(0x0028, 0x1051, "DS", "400\\800") +
              dicom_element(0x0028, 0x1052, "DS", "-1024") + dicom_element(0x0028, 0x1053, "DS", "2");
    ds += dicom_element(0x7fe0, 0x0010, bits == 16 ? "OW" : "OB", pixels);
    return std::string(1, '\0') + dicom_file(ds);
}

/// A NIfTI-1 single file (.nii): 348-byte header, 4 bytes of extension flag, int16 voxels.
inline std::string nifti_seed(char mode) {
    std::string h(352, '\0');
    auto put16 = [&](std::size_t at, int v) { std::memcpy(&h[at], &v, 2); };
    auto put32 = [&](std::size_t at, std::int32_t v) { std::memcpy(&h[at], &v, 4); };
    auto putf = [&](std::size_t at, float v) { std::memcpy(&h[at], &v, 4); };
    put32(0, 348);
    const int dims[8] = {3, 4, 3, 2, 1, 1, 1, 1};
    for (int d = 0; d < 8; ++d) put16(40 + 2 * static_cast<std::size_t>(d), dims[d]);
    put16(70, 4);   // datatype: int16
    put16(72, 16);  // bitpix
    for (int d = 0; d < 8; ++d) putf(76 + 4 * static_cast<std::size_t>(d), 1.0f);
    putf(108, 352.0f);  // vox_offset
    putf(112, 2.0f);    // scl_slope
    putf(116, -5.0f);   // scl_inter
    put16(252, 1);      // qform_code
    put16(254, 1);      // sform_code
    putf(280, 1.0f);    // srow_x
    putf(300, 1.0f);    // srow_y
    putf(320, 1.0f);    // srow_z
    std::memcpy(&h[344], "n+1\0", 4);
    for (int i = 0; i < 4 * 3 * 2; ++i) h += le16(static_cast<unsigned>(i * 37));
    return std::string(1, mode) + h;
}

}  // namespace unetpp::fuzz
