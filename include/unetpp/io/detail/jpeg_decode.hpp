#pragma once
/// \file JPEG decoding with libjpeg-turbo (the libjpeg 6.2 API), used by io/image.hpp when unetpp
/// is built with UNETPP_HAS_LIBJPEG=1 (CMake sets it when find_package(JPEG) succeeds). Private:
/// include <unetpp/io/image.hpp> instead.
///
/// Why libjpeg-turbo and not stb_image: fuzzing found memory errors in stb_image 2.27's JPEG
/// decoder (a 9-byte file overflows its Huffman tables, progressive files with an undefined
/// Huffman table read uninitialised memory). libjpeg-turbo is maintained, ships in every
/// distribution and is fuzzed continuously (OSS-Fuzz). Around it:
///  - errors: libjpeg's error_exit is replaced by one that formats the message and longjmps back
///    to the setjmp in read_header() / decode(). No C++ exception ever crosses libjpeg's C
///    frames, and the functions holding the setjmp have only trivially destructible locals (the
///    output buffer belongs to the caller), so the longjmp skips no destructor;
///  - nothing is printed: output_message is a no-op, the message is returned instead;
///  - warnings about corrupt data (premature end of file, bad Huffman code, ...) are errors:
///    libjpeg would otherwise go on and fill the rest of the image with grey, which a training
///    set must not silently contain. Harmless metadata warnings (unknown JFIF revision, Adobe
///    transform, extraneous bytes between markers, bad ICC marker) are ignored;
///  - memory: cinfo.mem->max_memory_to_use bounds libjpeg's own memory (its whole-image
///    coefficient buffer for progressive files included; above it libjpeg needs a backing store,
///    which this build does not have, and fails);
///  - progressive-JPEG bomb: a progress monitor stops decoding after `max_scans` scans (the
///    mitigation libjpeg-turbo documents; each scan walks the whole coefficient buffer, so
///    thousands of tiny scans cost minutes of CPU);
///  - the caller checks width, height and components after read_header() and before decode(),
///    which is where jpeg_start_decompress allocates.

#if defined(UNETPP_HAS_LIBJPEG) && UNETPP_HAS_LIBJPEG

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first
#include <cstring>
#include <limits>

#include <jpeglib.h>

#include "../../config/abi.hpp"

// libjpeg's message codes, to tell the errors apart. jerror.h builds the enum from a list of
// JMESSAGE(code, text) lines; defining JMESSAGE ourselves (and JERROR_H, which keeps out its
// ERREXIT/WARNMS/TRACEMS macros) makes it expand into this enum, in our namespace, whether or not
// the including program also uses jerror.h.
#pragma push_macro("JMESSAGE")
#pragma push_macro("JERROR_H")
#undef JMESSAGE
#undef JERROR_H
#define JERROR_H
#define JMESSAGE(code, string) code,
namespace unetpp::inline UNETPP_ABI::io::detail::jpeg {
enum message_code : int {
#include <jerror.h>
    message_code_end
};
}  // namespace unetpp::io::detail::jpeg
#pragma pop_macro("JERROR_H")
#pragma pop_macro("JMESSAGE")

namespace unetpp::inline UNETPP_ABI::io::detail::jpeg {

/// Why a decode failed.
enum class failure {
    none,
    corrupt,        ///< not a JPEG, or corrupt / truncated data (message() has libjpeg's words)
    precision,      ///< 12- or 16-bit samples (only 8-bit JPEG is decoded)
    color_space,    ///< CMYK, YCCK or an unknown component layout
    memory,         ///< libjpeg would need more than the memory limit
    too_many_scans  ///< more progressive scans than allowed
};

/// One JPEG decode. Use: read_header(), check width()/height()/channels(), then decode() into a
/// buffer of width() * height() * channels() bytes. Not copyable or movable (libjpeg keeps
/// pointers into it).
class decoder {
public:
    /// `data` must outlive the decoder. `memory_limit`: most bytes libjpeg may allocate.
    decoder(const unsigned char* data, std::size_t size, std::size_t memory_limit, int max_scans) noexcept
        : data_(data), size_(size), max_scans_(max_scans) {
        cinfo_.err = jpeg_std_error(&err_);
        err_.error_exit = &on_error;
        err_.emit_message = &on_message;
        err_.output_message = &on_output;
        cinfo_.client_data = this;
        progress_.progress_monitor = &on_progress;
        if (setjmp(jump_) != 0) return;  // jpeg_create_decompress fails only when out of memory
        jpeg_create_decompress(&cinfo_);
        created_ = true;
        const auto most = static_cast<std::size_t>(std::numeric_limits<long>::max());
        cinfo_.mem->max_memory_to_use = static_cast<long>(memory_limit < most ? memory_limit : most);
        cinfo_.progress = &progress_;
    }
    ~decoder() {
        if (created_) jpeg_destroy_decompress(&cinfo_);
    }
    decoder(const decoder&) = delete;
    decoder& operator=(const decoder&) = delete;

    /// Reads the markers up to the first scan and chooses the output colour space. False on
    /// failure (see why() and message()).
    bool read_header() noexcept {
        if (!created_) return fail_now(failure::memory, "libjpeg could not allocate its decoder");
        if (size_ > static_cast<std::size_t>(std::numeric_limits<unsigned long>::max()))
            return fail_now(failure::corrupt, "file too large");
        if (setjmp(jump_) != 0) return false;
        jpeg_mem_src(&cinfo_, data_, static_cast<unsigned long>(size_));
        jpeg_read_header(&cinfo_, TRUE);
        if (cinfo_.data_precision != 8) return fail_now(failure::precision, "not 8-bit");
        if (cinfo_.num_components == 1 && cinfo_.jpeg_color_space == JCS_GRAYSCALE) {
            cinfo_.out_color_space = JCS_GRAYSCALE;
            channels_ = 1;
        } else if (cinfo_.num_components == 3 &&
                   (cinfo_.jpeg_color_space == JCS_YCbCr || cinfo_.jpeg_color_space == JCS_RGB)) {
            cinfo_.out_color_space = JCS_RGB;
            channels_ = 3;
        } else {
            return fail_now(failure::color_space,
                            cinfo_.jpeg_color_space == JCS_CMYK || cinfo_.jpeg_color_space == JCS_YCCK
                                ? "CMYK"
                                : "unknown colour space");
        }
        header_read_ = true;
        return true;
    }

    [[nodiscard]] std::uint64_t width() const noexcept { return cinfo_.image_width; }
    [[nodiscard]] std::uint64_t height() const noexcept { return cinfo_.image_height; }
    /// Channels of the decoded pixels: 1 (gray) or 3 (RGB).
    [[nodiscard]] int channels() const noexcept { return channels_; }
    /// Components stored in the file (valid after read_header, even if it failed on them).
    [[nodiscard]] int components() const noexcept { return cinfo_.num_components; }
    /// Bits per sample stored in the file (valid after read_header, even if it failed on them).
    [[nodiscard]] int precision() const noexcept { return cinfo_.data_precision; }
    [[nodiscard]] bool progressive() const noexcept { return cinfo_.progressive_mode != 0; }

    /// Decodes all pixels into `out` (width() * height() * channels() bytes, rows top to bottom).
    bool decode(std::uint8_t* out) noexcept {
        if (!header_read_) return fail_now(failure::corrupt, "decode() before read_header()");
        if (setjmp(jump_) != 0) return false;
        jpeg_start_decompress(&cinfo_);
        if (cinfo_.output_width != cinfo_.image_width || cinfo_.output_height != cinfo_.image_height ||
            cinfo_.output_components != channels_)
            return fail_now(failure::corrupt, "output size differs from the header");
        const std::size_t stride = static_cast<std::size_t>(cinfo_.output_width) * static_cast<std::size_t>(channels_);
        while (cinfo_.output_scanline < cinfo_.output_height) {
            JSAMPROW row = out + static_cast<std::size_t>(cinfo_.output_scanline) * stride;
            if (jpeg_read_scanlines(&cinfo_, &row, 1) != 1)
                return fail_now(failure::corrupt, "no scanline returned");
        }
        jpeg_finish_decompress(&cinfo_);
        return true;
    }

    [[nodiscard]] failure why() const noexcept { return why_; }
    /// libjpeg's message for the failure (or ours), e.g. "Premature end of JPEG file".
    [[nodiscard]] const char* message() const noexcept { return message_; }
    /// Number of the scan being read when a too_many_scans failure stopped the decoder.
    [[nodiscard]] int scans_seen() const noexcept { return cinfo_.input_scan_number; }

private:
    static decoder& self(j_common_ptr c) noexcept { return *static_cast<decoder*>(c->client_data); }

    bool fail_now(failure f, const char* text) noexcept {
        why_ = f;
        std::snprintf(message_, sizeof message_, "%s", text);
        return false;
    }

    /// Classifies libjpeg's current message and jumps back to the active setjmp.
    [[noreturn]] static void fail_jump(j_common_ptr c) noexcept {
        decoder& d = self(c);
        (*c->err->format_message)(c, d.message_);
        switch (c->err->msg_code) {
            case JERR_BAD_PRECISION: d.why_ = failure::precision; break;
            case JERR_NO_BACKING_STORE:
            case JERR_OUT_OF_MEMORY: d.why_ = failure::memory; break;
            case JERR_CONVERSION_NOTIMPL:
            case JERR_BAD_J_COLORSPACE:
            case JERR_BAD_IN_COLORSPACE: d.why_ = failure::color_space; break;
            default: d.why_ = failure::corrupt; break;
        }
        std::longjmp(d.jump_, 1);
    }
    static void on_error(j_common_ptr c) { fail_jump(c); }
    static void on_message(j_common_ptr c, int level) {
        if (level >= 0) return;  // trace messages
        switch (c->err->msg_code) {
            case JWRN_JFIF_MAJOR:
            case JWRN_ADOBE_XFORM:
            case JWRN_EXTRANEOUS_DATA:
            case JWRN_BOGUS_ICC: ++c->err->num_warnings; return;
            default: fail_jump(c);
        }
    }
    static void on_output(j_common_ptr) {}
    static void on_progress(j_common_ptr c) {
        decoder& d = self(c);
        if (c->is_decompressor && d.cinfo_.input_scan_number > d.max_scans_) {
            d.why_ = failure::too_many_scans;
            std::snprintf(d.message_, sizeof d.message_, "more than %d scans", d.max_scans_);
            std::longjmp(d.jump_, 1);
        }
    }

    const unsigned char* data_;
    std::size_t size_;
    int max_scans_;
    int channels_ = 0;
    bool created_ = false;
    bool header_read_ = false;
    failure why_ = failure::none;
    char message_[JMSG_LENGTH_MAX] = {};
    jpeg_decompress_struct cinfo_{};
    jpeg_error_mgr err_{};
    jpeg_progress_mgr progress_{};
    std::jmp_buf jump_{};
};

}  // namespace unetpp::io::detail::jpeg

#endif  // UNETPP_HAS_LIBJPEG
