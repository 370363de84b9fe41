// DICOM reading through GDCM 3, compiled into unetpp::medical (see include/unetpp/io/medical.hpp
// for the rules). GDCM's headers stay in this file.
//
// Why GDCM rather than DCMTK: GDCM's gdcm::ImageReader gives the decoded pixel data of any
// transfer syntax it has a codec for (JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE, deflate)
// in one call, reads from any std::istream (so read_image's bounded in-memory copy is parsed, and
// the fuzz target needs no file), and is one Debian package (libgdcm-dev) with every codec
// enabled. DCMTK needs a decoder registered per codec family (dcmjpeg, dcmjpls, and no JPEG 2000 in
// the free toolkit), and its DicomImage applies its own VOI and photometric rules, which unetpp
// states and tests itself here. Both ship CMake files that Debian 12 cannot load as installed,
// so unetpp finds either by hand (cmake/unetppFindMedical.cmake).
//
// Hostile input: read_image has already bounded the file size. GDCM parses the data set from
// memory; before any pixel is decoded, the dimensions, frame count, samples, Bits Allocated / Stored
// and the whole decoded size (width x height x frames x bytes, since GDCM decodes all frames at
// once) are checked against image_limits, and the decoder's buffer length must equal that size.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <locale>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <vector>

#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmDict.h>
#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmReader.h>
#include <gdcmTag.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>
#include <gdcmVR.h>

#include "unetpp/io/medical.hpp"
#include "unetpp/io/medical_pixels.hpp"

namespace unetpp::inline UNETPP_ABI::io::detail::medical {
namespace {

/// A read-only std::streambuf over bytes in memory (GDCM seeks, so seekoff/seekpos are needed).
class memory_buffer : public std::streambuf {
public:
    memory_buffer(const unsigned char* data, std::size_t size) {
        char* p = const_cast<char*>(reinterpret_cast<const char*>(data));
        setg(p, p, p + size);
    }

protected:
    pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode which) override {
        if (!(which & std::ios_base::in)) return pos_type(off_type(-1));
        const off_type size = egptr() - eback();
        const off_type base = dir == std::ios_base::beg ? 0 : dir == std::ios_base::cur ? gptr() - eback() : size;
        if (off > size || off < -size) return pos_type(off_type(-1));
        const off_type at = base + off;
        if (at < 0 || at > size) return pos_type(off_type(-1));
        setg(eback(), eback() + at, egptr());
        return pos_type(at);
    }
    pos_type seekpos(pos_type pos, std::ios_base::openmode which) override {
        return seekoff(off_type(pos), std::ios_base::beg, which);
    }
    /// Bulk reads; one that gets some bytes but fewer than asked ran into the end of the file
    /// inside an element (GDCM only warns about such a value and keeps it).
    std::streamsize xsgetn(char* s, std::streamsize n) override {
        const std::streamsize k = std::min<std::streamsize>(n, egptr() - gptr());
        if (k > 0) std::memcpy(s, gptr(), static_cast<std::size_t>(k));
        gbump(static_cast<int>(k));
        if (k > 0 && k < n) short_read_ = true;
        return k;
    }

public:
    [[nodiscard]] bool short_read() const noexcept { return short_read_; }

private:
    bool short_read_ = false;
};

/// GDCM prints warnings and errors on std::cerr; unetpp reports failures itself.
void quiet_gdcm() {
    static std::once_flag once;
    std::call_once(once, [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
    });
}

std::string quote(std::string_view name) { return "'" + std::string(name) + "'"; }

/// The text value of an attribute at the top level of the data set ("" when absent).
std::string string_value(const gdcm::DataSet& ds, std::uint16_t group, std::uint16_t element) {
    const gdcm::Tag tag(group, element);
    if (!ds.FindDataElement(tag)) return {};
    const gdcm::DataElement& de = ds.GetDataElement(tag);
    const gdcm::ByteValue* bv = de.GetByteValue();
    if (!bv || bv->GetLength() == 0) return {};
    return std::string(bv->GetPointer(), std::min<std::size_t>(bv->GetLength(), 1024));
}

/// The first value of a multi-valued decimal string ("40\80" -> 40); false when absent or invalid.
bool first_decimal(const std::string& s, double& out) {
    const std::string first = s.substr(0, s.find('\\'));
    std::istringstream in(first);
    in.imbue(std::locale::classic());
    double v = 0;
    if (!(in >> v) || !std::isfinite(v)) return false;
    out = v;
    return true;
}

/// What the header says, checked; everything decode needs.
struct header {
    int width = 0, height = 0, frames = 1;
    int bits_allocated = 0, bits_stored = 0, high_bit = 0;
    bool is_signed = false, monochrome1 = false;
    double slope = 1.0, intercept = 0.0;
    std::string photometric, transfer_syntax;
    bool has_window = false;
    voi_function fn = voi_function::linear;
    double center = 0.0, width_w = 0.0;
    std::uint64_t decoded_bytes = 0;
};

/// Parses and checks the header of an image the reader has read; throws the documented errors.
header check_header(const gdcm::ImageReader& reader, const std::string& file, const image_limits& limits) {
    const gdcm::Image& im = reader.GetImage();
    header h;
    const unsigned ndim = im.GetNumberOfDimensions();
    const std::uint64_t w = im.GetDimension(0), hh = im.GetDimension(1);
    const std::uint64_t frames = ndim >= 3 ? im.GetDimension(2) : 1;
    const gdcm::PixelFormat& pf = im.GetPixelFormat();
    const gdcm::PhotometricInterpretation& pi = im.GetPhotometricInterpretation();
    h.photometric = pi.GetString() ? pi.GetString() : "";
    h.transfer_syntax = im.GetTransferSyntax().GetString() ? im.GetTransferSyntax().GetString() : "";
    if (pf.GetSamplesPerPixel() != 1 ||
        (pi != gdcm::PhotometricInterpretation::MONOCHROME1 && pi != gdcm::PhotometricInterpretation::MONOCHROME2))
        throw std::runtime_error("read_image: DICOM " + file + " is a colour image (Photometric Interpretation " +
                                 (h.photometric.empty() ? std::string("unknown") : h.photometric) + ", " +
                                 std::to_string(pf.GetSamplesPerPixel()) +
                                 " samples per pixel); unetpp reads greyscale DICOM (MONOCHROME1 or MONOCHROME2) "
                                 "only: convert it, e.g. to a greyscale PNG");
    if (w == 0 || hh == 0 || frames == 0)
        throw std::runtime_error("read_image: DICOM " + file + " has an invalid size (" + std::to_string(w) + " x " +
                                 std::to_string(hh) + ", " + std::to_string(frames) + " frames); the file is corrupt");
    if (w > static_cast<std::uint64_t>(limits.max_side) || hh > static_cast<std::uint64_t>(limits.max_side) ||
        w * hh > limits.max_pixels)
        throw std::runtime_error("read_image: DICOM " + file + " is " + std::to_string(w) + " x " +
                                 std::to_string(hh) + " pixels, above the limit of " +
                                 std::to_string(limits.max_side) + " pixels per side and " +
                                 std::to_string(limits.max_pixels) +
                                 " in all; downscale it first (or raise io::image_limits if it is genuine)");
    h.bits_allocated = pf.GetBitsAllocated();
    h.bits_stored = pf.GetBitsStored();
    h.high_bit = pf.GetHighBit();
    h.is_signed = pf.GetPixelRepresentation() == 1;
    if (h.bits_allocated != 8 && h.bits_allocated != 16 && h.bits_allocated != 32)
        throw std::runtime_error("read_image: DICOM " + file + " has Bits Allocated " +
                                 std::to_string(h.bits_allocated) +
                                 "; unetpp reads 8, 16 and 32 (the file is corrupt or of a kind unetpp does not "
                                 "read: convert it to 16-bit greyscale)");
    if (h.bits_stored < 1 || h.bits_stored > h.bits_allocated || h.high_bit != h.bits_stored - 1)
        throw std::runtime_error("read_image: DICOM " + file + " has Bits Stored " + std::to_string(h.bits_stored) +
                                 " and High Bit " + std::to_string(h.high_bit) + " with Bits Allocated " +
                                 std::to_string(h.bits_allocated) +
                                 "; unetpp reads 1 <= Bits Stored <= Bits Allocated with High Bit = Bits Stored - 1 "
                                 "(the file is corrupt, or re-save it with a standard layout, e.g. gdcmconv --raw)");
    const std::uint64_t bytes_per = static_cast<std::uint64_t>(h.bits_allocated) / 8;
    const std::uint64_t limit = limits.max_decoded_bytes;
    if (frames > limit / bytes_per / w / hh)
        throw std::runtime_error("read_image: DICOM " + file + " holds " + std::to_string(frames) + " frames of " +
                                 std::to_string(w) + " x " + std::to_string(hh) + " pixels at " +
                                 std::to_string(h.bits_allocated) +
                                 " bits, more than image_limits::max_decoded_bytes = " + std::to_string(limit) +
                                 " bytes decoded (all frames are decoded together); split the series or raise the "
                                 "limit if it is genuine");
    h.width = static_cast<int>(w);
    h.height = static_cast<int>(hh);
    h.frames = static_cast<int>(frames);
    h.decoded_bytes = w * hh * frames * bytes_per;
    h.monochrome1 = pi == gdcm::PhotometricInterpretation::MONOCHROME1;
    // Rescale: the top-level attributes when present (GDCM applies them for some SOP classes only),
    // else what GDCM found (the functional groups of an enhanced multi-frame image).
    const gdcm::DataSet& top = reader.GetFile().GetDataSet();
    h.slope = im.GetSlope();
    h.intercept = im.GetIntercept();
    if (double v = 0; first_decimal(string_value(top, 0x0028, 0x1053), v)) h.slope = v;
    if (double v = 0; first_decimal(string_value(top, 0x0028, 0x1052), v)) h.intercept = v;
    if (!std::isfinite(h.slope) || !std::isfinite(h.intercept) || h.slope == 0.0)
        throw std::runtime_error("read_image: DICOM " + file + " has Rescale Slope " + std::to_string(h.slope) +
                                 " and Intercept " + std::to_string(h.intercept) + "; the file is corrupt");
    const gdcm::DataSet& ds = reader.GetFile().GetDataSet();
    double c = 0, wd = 0;
    voi_function fn = voi_function::linear;
    if (first_decimal(string_value(ds, 0x0028, 0x1050), c) && first_decimal(string_value(ds, 0x0028, 0x1051), wd) &&
        parse_voi_function(string_value(ds, 0x0028, 0x1056), fn)) {
        intensity_map probe;
        if (window_map(fn, c, wd, false, probe)) {
            h.has_window = true;
            h.fn = fn;
            h.center = c;
            h.width_w = wd;
        }
    }
    return h;
}

/// VRs with a 4-byte length in explicit VR encoding.
bool long_form_vr(unsigned char a, unsigned char b) {
    static const char* const forms[] = {"OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV"};
    for (const char* f : forms)
        if (a == static_cast<unsigned char>(f[0]) && b == static_cast<unsigned char>(f[1])) return true;
    return false;
}

/// The value representations DICOM defines (PS3.5 6.2); GDCM guesses at any other.
bool valid_vr(unsigned char a, unsigned char b) {
    static const char* const vrs[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
                                      "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                                      "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char* v : vrs)
        if (a == static_cast<unsigned char>(v[0]) && b == static_cast<unsigned char>(v[1])) return true;
    return false;
}

/// Walks every element header of the file and refuses a length that runs past the end of the
/// file, before GDCM sees it. Two reasons: Debian's GDCM is built with assertions, and its
/// meta-information reader aborts the process when the file ends inside or right after that
/// group; and GDCM allocates a value's declared length before reading it (a 500-byte file can
/// ask for 4 GiB, a fuzzing finding). With every length inside the file, GDCM's allocations are
/// bounded by the file, which read_image has bounded. Sequences and items are walked into;
/// encapsulated pixel data's fragments are skipped. Explicit VR files with an invalid VR are
/// refused (GDCM would switch to guessing); so are files without the Part 10 header and
/// big-endian and deflated data sets.
void check_lengths(const std::vector<unsigned char>& b, const std::string& file) {
    auto le16 = [&](std::size_t i) { return static_cast<std::uint32_t>(b[i] | (b[i + 1] << 8)); };
    auto le32 = [&](std::size_t i) { return le16(i) | (le16(i + 2) << 16); };
    auto fail = [&](const std::string& why) {
        return std::runtime_error("read_image: DICOM " + file + " " + why + "; the file is truncated or corrupt: "
                                  "re-export or re-download it");
    };
    std::size_t at = 0;
    bool explicit_vr = true;
    if (b.size() >= 132 && b[128] == 'D' && b[129] == 'I' && b[130] == 'C' && b[131] == 'M') {
        at = 132;
        std::string syntax;
        while (true) {  // group 0002, always explicit VR little endian
            if (b.size() - at < 4) throw fail("ends inside or right after its file meta information");
            if (le16(at) != 0x0002) break;
            if (b.size() - at < 8) throw fail("ends inside its file meta information");
            if (!valid_vr(b[at + 4], b[at + 5]))
                throw fail("has an invalid value representation in its file meta information");
            const bool long_form = long_form_vr(b[at + 4], b[at + 5]);
            if (long_form && b.size() - at < 12) throw fail("ends inside its file meta information");
            const std::uint64_t len = long_form ? le32(at + 8) : le16(at + 6), head = long_form ? 12 : 8;
            if (len == 0xFFFFFFFFu || len > b.size() - at - head)
                throw fail("has a file meta information element that runs past the end of the file");
            if (le16(at + 2) == 0x0010) syntax.assign(reinterpret_cast<const char*>(&b[at + head]), len);
            at += static_cast<std::size_t>(head + len);
        }
        while (!syntax.empty() && (syntax.back() == '\0' || syntax.back() == ' ')) syntax.pop_back();
        if (syntax == "1.2.840.10008.1.2.2" || syntax == "1.2.840.10008.1.2.1.99")
            throw std::runtime_error("read_image: DICOM " + file + " is " +
                                     (syntax.back() == '2' ? "big-endian" : "deflated") +
                                     " (transfer syntax " + syntax +
                                     "), which unetpp does not read; convert it with gdcmconv --raw");
        explicit_vr = syntax != "1.2.840.10008.1.2";
    } else {
        // Without the Part 10 header GDCM guesses the encoding, and its guessing code asserts on a
        // file that ends early (a fuzzing finding), so such files are refused.
        throw std::runtime_error("read_image: " + file + " has no DICOM Part 10 header (the 'DICM' signature after "
                                 "a 128-byte preamble); unetpp reads Part 10 files only: re-save it, e.g. with "
                                 "gdcmconv or dcmconv");
    }
    bool encapsulated = false;  // inside undefined-length pixel data, whose items hold compressed fragments
    while (at < b.size()) {
        if (b.size() - at < 8) throw fail("ends inside an element header");
        const std::uint32_t group = le16(at), element = le16(at + 2);
        if (group == 0xFFFE) {  // item, item delimiter, sequence delimiter: always 8 bytes, implicit
            const std::uint32_t len = le32(at + 4);
            at += 8;
            if (element == 0xE0DD) encapsulated = false;
            if (element != 0xE000 || len == 0xFFFFFFFFu) continue;  // an item's elements follow
            if (len > b.size() - at) throw fail("has an item that runs past the end of the file");
            if (encapsulated) at += len;  // a fragment of compressed pixel data
            continue;
        }
        std::uint64_t len = 0, head = 8;
        bool sequence = false, unknown = !explicit_vr;
        if (explicit_vr) {
            if (!valid_vr(b[at + 4], b[at + 5])) throw fail("has an invalid value representation");
            if (long_form_vr(b[at + 4], b[at + 5])) {
                if (b.size() - at < 12) throw fail("ends inside an element header");
                len = le32(at + 8);
                head = 12;
            } else {
                len = le16(at + 6);
            }
            // GDCM asserts that an attribute it reads has a VR compatible with its dictionary (a
            // fuzzing finding); the groups its image reader reads are checked here.
            if (group == 0x0008 || group == 0x0018 || group == 0x0020 || group == 0x0028) {
                const gdcm::DictEntry& entry =
                    gdcm::Global::GetInstance().GetDicts().GetPublicDict().GetDictEntry(
                        gdcm::Tag(static_cast<std::uint16_t>(group), static_cast<std::uint16_t>(element)));
                const char vr_text[3] = {static_cast<char>(b[at + 4]), static_cast<char>(b[at + 5]), '\0'};
                const gdcm::VR vr(gdcm::VR::GetVRType(vr_text));
                if (entry.GetVR() != gdcm::VR::INVALID && !entry.GetVR().Compatible(vr)) {
                    char tag[16];
                    std::snprintf(tag, sizeof tag, "(%04X,%04X)", static_cast<unsigned>(group),
                                  static_cast<unsigned>(element));
                    throw fail("gives element " + std::string(tag) + " the value representation " + vr_text +
                               ", which DICOM does not allow for it");
                }
            }
            sequence = b[at + 4] == 'S' && b[at + 5] == 'Q';
            unknown = b[at + 4] == 'U' && b[at + 5] == 'N';
        } else {
            len = le32(at + 4);
        }
        at += static_cast<std::size_t>(head);
        if (len == 0xFFFFFFFFu) {  // a sequence or encapsulated pixel data: items follow
            if (group == 0x7FE0 && element == 0x0010) encapsulated = true;
            continue;
        }
        if (len > b.size() - at) {
            char tag[16];
            std::snprintf(tag, sizeof tag, "(%04X,%04X)", static_cast<unsigned>(group), static_cast<unsigned>(element));
            throw fail("has element " + std::string(tag) + " of " + std::to_string(len) + " bytes, past the end of "
                       "the file");
        }
        // Samples per Pixel, also of an icon image: GDCM asserts that it is 1, 3 or 4 (a fuzzing finding).
        if (group == 0x0028 && element == 0x0002 && (len != 2 || (le16(at) != 1 && le16(at) != 3 && le16(at) != 4)))
            throw fail("has Samples per Pixel other than 1, 3 or 4");
        // A sequence of defined length (also one GDCM would find in an implicit or UN value) is walked into.
        const bool nested = sequence || (unknown && len >= 8 && le16(at) == 0xFFFE && le16(at + 2) == 0xE000);
        if (!nested) at += static_cast<std::size_t>(len);
    }
}

/// Parses the data set from memory; throws when GDCM cannot.
void read_dataset(gdcm::ImageReader& reader, std::istream& in, const std::string& file) {
    quiet_gdcm();
    reader.SetStream(in);
    if (!reader.Read())
        throw std::runtime_error("read_image: " + file + " is not a DICOM image GDCM can read (no image pixel data, "
                                 "or the file is corrupt or truncated); re-export it, or check that it is an "
                                 "image and not a report or a DICOMDIR");
}

/// Stored sample i of the buffer -> its integer value (Bits Stored bits, sign-extended).
inline double stored_value(const unsigned char* buf, std::size_t i, const header& h) {
    std::uint32_t raw = 0;
    if (h.bits_allocated == 8) raw = buf[i];
    else if (h.bits_allocated == 16) { std::uint16_t v; std::memcpy(&v, buf + 2 * i, 2); raw = v; }
    else std::memcpy(&raw, buf + 4 * i, 4);
    const std::uint32_t mask = h.bits_stored >= 32 ? 0xFFFFFFFFu : ((std::uint32_t{1} << h.bits_stored) - 1u);
    raw &= mask;
    if (h.is_signed && h.bits_stored < 33 && (raw >> (h.bits_stored - 1)) & 1u) {
        return static_cast<double>(static_cast<std::int64_t>(raw) - (std::int64_t{1} << h.bits_stored));
    }
    return static_cast<double>(raw);
}

}  // namespace

image decode_dicom(const std::vector<unsigned char>& bytes, int want_channels, std::string_view name,
                   const medical_options& opt, const image_limits& limits) {
    const std::string file = quote(name);
    check_lengths(bytes, file);
    memory_buffer buf(bytes.data(), bytes.size());
    std::istream in(&buf);
    gdcm::ImageReader reader;
    read_dataset(reader, in, file);
    const header h = check_header(reader, file, limits);
    if (opt.index < 0 && h.frames > 1)
        throw std::runtime_error("read_image: DICOM " + file + " holds " + std::to_string(h.frames) +
                                 " frames; name one as '" + std::string(name) + "#k' with k from 0 to " +
                                 std::to_string(h.frames - 1) +
                                 " (the folder data set lists every frame as its own image)");
    const int index = opt.index < 0 ? 0 : opt.index;
    if (index >= h.frames)
        throw std::runtime_error("read_image: DICOM " + file + " has " + std::to_string(h.frames) + " frame" +
                                 (h.frames == 1 ? "" : "s") + ", so there is no frame " + std::to_string(index) +
                                 " (frames count from 0)");
    const gdcm::Image& im = reader.GetImage();
    if (buf.short_read())  // GDCM keeps a value cut off by the end of the file (zero-filled)
        throw std::runtime_error("read_image: DICOM " + file + " is truncated (the file ends inside an element); "
                                 "re-export or re-download it");
    // Native pixel data shorter than the image: GDCM's raw codec would read past its end (a
    // fuzzing finding: an ASan heap-buffer-overflow in gdcm::RAWCodec::DecodeBytes).
    if (const gdcm::DataSet& ds = reader.GetFile().GetDataSet(); ds.FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
        const gdcm::DataElement& de = ds.GetDataElement(gdcm::Tag(0x7fe0, 0x0010));
        if (const gdcm::ByteValue* bv = de.GetByteValue(); bv && !de.GetSequenceOfFragments() &&
                                                          static_cast<std::uint64_t>(bv->GetLength()) < h.decoded_bytes)
            throw std::runtime_error("read_image: DICOM " + file + " is truncated: its pixel data holds " +
                                     std::to_string(bv->GetLength()) + " bytes, its header needs " +
                                     std::to_string(h.decoded_bytes) + "; re-export or re-download it");
    }
    if (static_cast<std::uint64_t>(im.GetBufferLength()) != h.decoded_bytes)
        throw std::runtime_error("read_image: DICOM " + file + " decodes to " + std::to_string(im.GetBufferLength()) +
                                 " bytes, its header implies " + std::to_string(h.decoded_bytes) +
                                 "; the file is corrupt");
    std::vector<unsigned char> pixels(static_cast<std::size_t>(h.decoded_bytes));
    if (!im.GetBuffer(reinterpret_cast<char*>(pixels.data())))
        throw std::runtime_error("read_image: GDCM cannot decode the pixel data of DICOM " + file +
                                 " (transfer syntax " + h.transfer_syntax +
                                 "): the file is truncated or corrupt, or compressed with a codec this GDCM lacks; "
                                 "decompress it first (gdcmconv --raw, or dcmdjpeg) and read the result");

    // The map from modality values to 8 bits (io/medical.hpp, steps 3 and 4).
    intensity_map map;
    bool have_map = false;
    if (opt.window) {
        if (!window_map(voi_function::linear, opt.window->center, opt.window->width, h.monochrome1, map))
            throw std::invalid_argument("read_dicom: medical_options::window needs a finite center and a width of "
                                        "at least 1, got center " + std::to_string(opt.window->center) +
                                        " and width " + std::to_string(opt.window->width));
        have_map = true;
    } else if (opt.use_file_window && h.has_window) {
        have_map = window_map(h.fn, h.center, h.width_w, h.monochrome1, map);
    }
    const std::size_t plane = static_cast<std::size_t>(h.width) * static_cast<std::size_t>(h.height);
    if (!have_map) {
        value_range r;
        const std::size_t all = plane * static_cast<std::size_t>(h.frames);
        for (std::size_t i = 0; i < all; ++i) r.add(stored_value(pixels.data(), i, h) * h.slope + h.intercept);
        map = range_map(r.lo, r.hi, h.monochrome1);
    }
    image gray(h.width, h.height, 1);
    gray.source_bits = h.bits_stored;
    const std::size_t first = plane * static_cast<std::size_t>(index);
    for (std::size_t i = 0; i < plane; ++i)
        gray.pixels[i] = map(stored_value(pixels.data(), first + i, h) * h.slope + h.intercept);
    if (want_channels == 0 || want_channels == 1) return gray;
    image out(h.width, h.height, want_channels);
    out.source_bits = gray.source_bits;
    io::detail::convert_channels(gray.pixels.data(), 1, out.pixels.data(), want_channels, plane, 255.0);
    return out;
}

medical_info dicom_info(const std::vector<unsigned char>& bytes, std::string_view name, const image_limits& limits) {
    const std::string file = quote(name);
    check_lengths(bytes, file);
    memory_buffer buf(bytes.data(), bytes.size());
    std::istream in(&buf);
    gdcm::ImageReader reader;
    read_dataset(reader, in, file);
    const header h = check_header(reader, file, limits);
    medical_info info;
    info.format = "DICOM";
    info.width = h.width;
    info.height = h.height;
    info.count = h.frames;
    info.bits_allocated = h.bits_allocated;
    info.bits_stored = h.bits_stored;
    info.is_signed = h.is_signed;
    info.photometric = h.photometric;
    info.transfer_syntax = h.transfer_syntax;
    info.slope = h.slope;
    info.intercept = h.intercept;
    if (h.has_window) info.window = voi_window{h.center, h.width_w};
    info.orientation = "x: columns, y: rows, as stored; frames 0 to " + std::to_string(h.frames - 1);
    return info;
}

int dicom_frame_count(const std::filesystem::path& path, const image_limits& limits) {
    const std::string file = quote(path.string());
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
        throw std::runtime_error("read_image: cannot read " + file + ": " + ec.message() +
                                 " (check the path and its permissions)");
    if (size > limits.max_file_bytes)
        throw std::runtime_error("read_image: " + file + " is " + std::to_string(size) + " bytes, above the limit of " +
                                 std::to_string(limits.max_file_bytes) +
                                 " bytes; split the series, or raise image_limits::max_file_bytes");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("read_image: cannot open " + file + " (check its permissions)");
    quiet_gdcm();
    // The header only, up to the pixel data: a folder of large files is listed quickly.
    gdcm::Reader reader;
    reader.SetStream(in);
    if (!reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010)))
        throw std::runtime_error("read_image: " + file + " is not a DICOM file GDCM can read; the file is corrupt or "
                                 "truncated, or not DICOM");
    const std::string frames = string_value(reader.GetFile().GetDataSet(), 0x0028, 0x0008);
    double n = 1;
    if (!frames.empty() && (!first_decimal(frames, n) || n < 1 || n > 1e9 || n != std::floor(n)))
        throw std::runtime_error("read_image: DICOM " + file + " has Number of Frames '" + frames +
                                 "'; the file is corrupt");
    return static_cast<int>(n);
}

}  // namespace unetpp::io::detail::medical
