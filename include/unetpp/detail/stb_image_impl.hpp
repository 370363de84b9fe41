#pragma once
/// \file The one place in unetpp that compiles stb_image (v2.27, Debian's libstb-dev) and
/// stb_image_write. Private: include <unetpp/io/image.hpp> instead.
///
/// Why it looks like this:
///  - Decoding is an attack surface and Debian's stb_image 2.27 lacks the fixes for
///    CVE-2023-45661..45667, so only PNG and BMP are compiled in (the GIF and PSD decoders
///    carry most of those bugs). JPEG is not (STBI_NO_JPEG): fuzzing found memory errors in
///    stb's JPEG decoder (Huffman table overflow in stbi_info, uninitialised reads in
///    progressive JPEGs), so io/image.hpp decodes JPEG with libjpeg-turbo instead
///    (io/detail/jpeg_decode.hpp) or refuses it. io/image.hpp checks the dimensions in the
///    header against configurable limits before any pixel is decoded.
///  - Every allocation stb_image makes goes through io/detail/decode_alloc.hpp, a counting
///    allocator with a per-thread budget (image_limits::max_decoded_bytes), so a header that
///    lies or a zlib stream that inflates without end cannot make stb allocate more than that.
///  - The library is header-only, so stb's implementation lands in every translation unit that
///    includes io/image.hpp. It must never clash with a user's own stb in the same translation
///    unit or program:
///      * every function is `static` (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC), so nothing is
///        exported to the linker;
///      * everything lives in namespace unetpp::detail::stb, and the C-linkage API names of
///        stb_image are renamed to unetpp_stbi_* (two extern "C" functions of the same name are
///        the same function even in different namespaces; clang rejects the clash);
///      * every macro stb reads or defines is saved with push_macro before and restored with
///        pop_macro after, so a user's STBI_* settings neither leak into our copy nor does our
///        configuration (STBIDEF = static, STBI_ONLY_PNG, ...) leak into theirs;
///      * the C headers stb includes are included first at global scope, so their include
///        guards keep them out of the namespace.
///  - No stdio (STBI_NO_STDIO, STBI_WRITE_NO_STDIO): the caller reads the file itself, which
///    lets it bound the file size and report errors with the path, and writes atomically.
///  - Warnings inside third-party code are silenced only around the include.

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <emmintrin.h>
#endif
#if defined(_MSC_VER)
#include <intrin.h>
#endif

#include "../config/abi.hpp"
#include "../io/detail/decode_alloc.hpp"

// Every macro stb_image.h / stb_image_write.h reads or defines (generated from their sources).
#define UNETPP_STB_MACROS(X) \
    X(FAST_BITS) X(INCLUDE_STB_IMAGE_WRITE_H) X(STBIDEF) X(STBIWDEF) \
    X(STBIW_ASSERT) X(STBIW_CRC32) X(STBIW_EXTERN) X(STBIW_FREE) \
    X(STBIW_MALLOC) X(STBIW_MEMMOVE) X(STBIW_REALLOC) X(STBIW_REALLOC_SIZED) \
    X(STBIW_UCHAR) X(STBIW_WINDOWS_UTF8) X(STBIW_ZLIB_COMPRESS) X(STBI_ASSERT) \
    X(STBI_EXTERN) X(STBI_FAILURE_USERMSG) X(STBI_FREE) X(STBI_HAS_LROTL) \
    X(STBI_HEADER_FILE_ONLY) X(STBI_INCLUDE_STB_IMAGE_H) X(STBI_MALLOC) X(STBI_MAX_DIMENSIONS) \
    X(STBI_MINGW_ENABLE_SSE2) X(STBI_NEON) X(STBI_NOTUSED) X(STBI_NO_BMP) \
    X(STBI_NO_FAILURE_STRINGS) X(STBI_NO_GIF) X(STBI_NO_HDR) X(STBI_NO_JPEG) \
    X(STBI_NO_LINEAR) X(STBI_NO_PIC) X(STBI_NO_PNG) X(STBI_NO_PNM) \
    X(STBI_NO_PSD) X(STBI_NO_SIMD) X(STBI_NO_STDIO) X(STBI_NO_TGA) \
    X(STBI_NO_THREAD_LOCALS) X(STBI_NO_ZLIB) X(STBI_ONLY_BMP) X(STBI_ONLY_GIF) \
    X(STBI_ONLY_HDR) X(STBI_ONLY_JPEG) X(STBI_ONLY_PIC) X(STBI_ONLY_PNG) \
    X(STBI_ONLY_PNM) X(STBI_ONLY_PSD) X(STBI_ONLY_TGA) X(STBI_ONLY_ZLIB) \
    X(STBI_REALLOC) X(STBI_REALLOC_SIZED) X(STBI_SIMD_ALIGN) X(STBI_SSE2) \
    X(STBI_SUPPORT_ZLIB) X(STBI_THREAD_LOCAL) X(STBI_VERSION) X(STBI_WINDOWS_UTF8) \
    X(STBI_WRITE_NO_STDIO) X(STBI__BYTECAST) X(STBI__CASE) X(STBI__COMBO) \
    X(STBI__HDR_BUFLEN) X(STBI__IDCT_1D) X(STBI__MARKER_none) X(STBI__PNG_TYPE) \
    X(STBI__RESTART) X(STBI__X64_TARGET) X(STBI__X86_TARGET) X(STBI__ZFAST_BITS) \
    X(STBI__ZFAST_MASK) X(STBI__ZNSYMS) X(STB_IMAGE_IMPLEMENTATION) X(STB_IMAGE_STATIC) \
    X(STB_IMAGE_WRITE_IMPLEMENTATION) X(STB_IMAGE_WRITE_STATIC) X(_CRT_NONSTDC_NO_DEPRECATE) X(_CRT_SECURE_NO_WARNINGS) \
    X(dct_bfly32o) X(dct_const) X(dct_interleave16) X(dct_interleave8) \
    X(dct_long_mac) X(dct_long_mul) X(dct_pass) X(dct_rot) \
    X(dct_trn16) X(dct_trn32) X(dct_trn64) X(dct_trn8_16) \
    X(dct_trn8_32) X(dct_trn8_8) X(dct_wadd) X(dct_widen) \
    X(dct_wsub) X(stbi__DNL) X(stbi__EOI) X(stbi__SOF) \
    X(stbi__SOF_progressive) X(stbi__SOI) X(stbi__SOS) X(stbi__de_iphone_flag) \
    X(stbi__div16) X(stbi__div4) X(stbi__err) X(stbi__errpf) \
    X(stbi__errpuc) X(stbi__f2f) X(stbi__float2fixed) X(stbi__float2int) \
    X(stbi__fsh) X(stbi__unpremultiply_on_load) X(stbi__vertically_flip_on_load) X(stbi_inline) \
    X(stbi_lrot) X(stbiw__ZHASH) X(stbiw__max) X(stbiw__sbcount) \
    X(stbiw__sbfree) X(stbiw__sbgrow) X(stbiw__sbm) X(stbiw__sbmaybegrow) \
    X(stbiw__sbn) X(stbiw__sbneedgrow) X(stbiw__sbpush) X(stbiw__sbraw) \
    X(stbiw__wp32) X(stbiw__wpng4) X(stbiw__wptag) X(stbiw__zlib_add) \
    X(stbiw__zlib_flush) X(stbiw__zlib_huff) X(stbiw__zlib_huff1) X(stbiw__zlib_huff2) \
    X(stbiw__zlib_huff3) X(stbiw__zlib_huff4) X(stbiw__zlib_huffa) X(stbiw__zlib_huffb)

#define UNETPP_STB_PRAGMA(x) _Pragma(#x)
#define UNETPP_STB_SAVE(m) UNETPP_STB_PRAGMA(push_macro(#m))
#define UNETPP_STB_RESTORE(m) UNETPP_STB_PRAGMA(pop_macro(#m))
UNETPP_STB_MACROS(UNETPP_STB_SAVE)

// Forget any stb configuration the user set before including unetpp.
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STBIDEF
#undef STBIWDEF
#undef STBIW_ASSERT
#undef STBIW_CRC32
#undef STBIW_FREE
#undef STBIW_MALLOC
#undef STBIW_MEMMOVE
#undef STBIW_REALLOC
#undef STBIW_REALLOC_SIZED
#undef STBIW_UCHAR
#undef STBIW_WINDOWS_UTF8
#undef STBIW_ZLIB_COMPRESS
#undef STBI_ASSERT
#undef STBI_FAILURE_USERMSG
#undef STBI_FREE
#undef STBI_INCLUDE_STB_IMAGE_H
#undef STBI_MALLOC
#undef STBI_MAX_DIMENSIONS
#undef STBI_NEON
#undef STBI_NOTUSED
#undef STBI_NO_BMP
#undef STBI_NO_FAILURE_STRINGS
#undef STBI_NO_GIF
#undef STBI_NO_HDR
#undef STBI_NO_JPEG
#undef STBI_NO_LINEAR
#undef STBI_NO_PIC
#undef STBI_NO_PNG
#undef STBI_NO_PNM
#undef STBI_NO_PSD
#undef STBI_NO_SIMD
#undef STBI_NO_STDIO
#undef STBI_NO_TGA
#undef STBI_NO_THREAD_LOCALS
#undef STBI_NO_ZLIB
#undef STBI_ONLY_BMP
#undef STBI_ONLY_GIF
#undef STBI_ONLY_HDR
#undef STBI_ONLY_JPEG
#undef STBI_ONLY_PIC
#undef STBI_ONLY_PNG
#undef STBI_ONLY_PNM
#undef STBI_ONLY_PSD
#undef STBI_ONLY_TGA
#undef STBI_ONLY_ZLIB
#undef STBI_REALLOC
#undef STBI_REALLOC_SIZED
#undef STBI_SIMD_ALIGN
#undef STBI_SUPPORT_ZLIB
#undef STBI_THREAD_LOCAL
#undef STBI_WINDOWS_UTF8
#undef STBI_WRITE_NO_STDIO
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_STATIC
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_STATIC

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_JPEG  // JPEG goes to libjpeg-turbo (see the file comment), never to stb
#define STBI_MALLOC(size) ::unetpp::io::detail::decode_alloc::allocate(size)
#define STBI_REALLOC(p, size) ::unetpp::io::detail::decode_alloc::reallocate(p, size)
#define STBI_FREE(p) ::unetpp::io::detail::decode_alloc::release(p)
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 24)  // stb's default; io/image.hpp applies the real limit
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO

// Rename stb_image's C-linkage API (see the file comment).
#define stbi_convert_iphone_png_to_rgb unetpp_stbi_convert_iphone_png_to_rgb
#define stbi_convert_iphone_png_to_rgb_thread unetpp_stbi_convert_iphone_png_to_rgb_thread
#define stbi_convert_wchar_to_utf8 unetpp_stbi_convert_wchar_to_utf8
#define stbi_failure_reason unetpp_stbi_failure_reason
#define stbi_hdr_to_ldr_gamma unetpp_stbi_hdr_to_ldr_gamma
#define stbi_hdr_to_ldr_scale unetpp_stbi_hdr_to_ldr_scale
#define stbi_image_free unetpp_stbi_image_free
#define stbi_info unetpp_stbi_info
#define stbi_info_from_callbacks unetpp_stbi_info_from_callbacks
#define stbi_info_from_file unetpp_stbi_info_from_file
#define stbi_info_from_memory unetpp_stbi_info_from_memory
#define stbi_is_16_bit unetpp_stbi_is_16_bit
#define stbi_is_16_bit_from_callbacks unetpp_stbi_is_16_bit_from_callbacks
#define stbi_is_16_bit_from_file unetpp_stbi_is_16_bit_from_file
#define stbi_is_16_bit_from_memory unetpp_stbi_is_16_bit_from_memory
#define stbi_is_hdr unetpp_stbi_is_hdr
#define stbi_is_hdr_from_callbacks unetpp_stbi_is_hdr_from_callbacks
#define stbi_is_hdr_from_file unetpp_stbi_is_hdr_from_file
#define stbi_is_hdr_from_memory unetpp_stbi_is_hdr_from_memory
#define stbi_ldr_to_hdr_gamma unetpp_stbi_ldr_to_hdr_gamma
#define stbi_ldr_to_hdr_scale unetpp_stbi_ldr_to_hdr_scale
#define stbi_load unetpp_stbi_load
#define stbi_load_16 unetpp_stbi_load_16
#define stbi_load_16_from_callbacks unetpp_stbi_load_16_from_callbacks
#define stbi_load_16_from_memory unetpp_stbi_load_16_from_memory
#define stbi_load_from_callbacks unetpp_stbi_load_from_callbacks
#define stbi_load_from_file unetpp_stbi_load_from_file
#define stbi_load_from_file_16 unetpp_stbi_load_from_file_16
#define stbi_load_from_memory unetpp_stbi_load_from_memory
#define stbi_load_gif_from_memory unetpp_stbi_load_gif_from_memory
#define stbi_loadf unetpp_stbi_loadf
#define stbi_loadf_from_callbacks unetpp_stbi_loadf_from_callbacks
#define stbi_loadf_from_file unetpp_stbi_loadf_from_file
#define stbi_loadf_from_memory unetpp_stbi_loadf_from_memory
#define stbi_set_flip_vertically_on_load unetpp_stbi_set_flip_vertically_on_load
#define stbi_set_flip_vertically_on_load_thread unetpp_stbi_set_flip_vertically_on_load_thread
#define stbi_set_unpremultiply_on_load unetpp_stbi_set_unpremultiply_on_load
#define stbi_set_unpremultiply_on_load_thread unetpp_stbi_set_unpremultiply_on_load_thread
#define stbi_zlib_decode_buffer unetpp_stbi_zlib_decode_buffer
#define stbi_zlib_decode_malloc unetpp_stbi_zlib_decode_malloc
#define stbi_zlib_decode_malloc_guesssize unetpp_stbi_zlib_decode_malloc_guesssize
#define stbi_zlib_decode_malloc_guesssize_headerflag unetpp_stbi_zlib_decode_malloc_guesssize_headerflag
#define stbi_zlib_decode_noheader_buffer unetpp_stbi_zlib_decode_noheader_buffer
#define stbi_zlib_decode_noheader_malloc unetpp_stbi_zlib_decode_noheader_malloc

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wfloat-conversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wmissing-declarations"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wduplicated-branches"
#pragma GCC diagnostic ignored "-Wduplicated-cond"
#pragma GCC diagnostic ignored "-Wlogical-op"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wswitch-default"
#pragma GCC diagnostic ignored "-Wredundant-decls"
#pragma GCC diagnostic ignored "-Wstrict-overflow"
#elif defined(_MSC_VER)
#pragma warning(push, 0)
#endif

namespace unetpp::inline UNETPP_ABI::detail::stb {
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
}  // namespace unetpp::detail::stb

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#elif defined(_MSC_VER)
#pragma warning(pop)
#endif

namespace unetpp::inline UNETPP_ABI::detail::stb_api {

/// Dimensions and channel count from the header only (no pixel decoding); 0 on failure.
inline int info(const unsigned char* data, int len, int* w, int* h, int* channels) noexcept {
    return stb::stbi_info_from_memory(data, len, w, h, channels);
}
/// 1 when the image stores 16 bits per channel (16-bit PNG).
inline int is_16_bit(const unsigned char* data, int len) noexcept {
    return stb::stbi_is_16_bit_from_memory(data, len);
}
/// Decodes 8 bits per channel in the file's own channel count; free with image_free.
inline unsigned char* load_8(const unsigned char* data, int len, int* w, int* h, int* channels) noexcept {
    return stb::stbi_load_from_memory(data, len, w, h, channels, 0);
}
/// Decodes 16 bits per channel in the file's own channel count; free with image_free.
inline unsigned short* load_16(const unsigned char* data, int len, int* w, int* h, int* channels) noexcept {
    return stb::stbi_load_16_from_memory(data, len, w, h, channels, 0);
}
inline void image_free(void* p) noexcept { stb::stbi_image_free(p); }
/// stb's reason for the last failure on this thread (a short English phrase).
inline const char* failure_reason() noexcept {
    const char* r = stb::stbi_failure_reason();
    return r ? r : "unknown error";
}

using write_callback = void (*)(void* context, void* data, int size);
/// Encodes 8-bit pixels (channels interleaved, rows top to bottom) as PNG through a callback.
inline int write_png(write_callback f, void* context, int w, int h, int channels, const void* pixels,
                     int stride_bytes) noexcept {
    return stb::stbi_write_png_to_func(f, context, w, h, channels, pixels, stride_bytes);
}

}  // namespace unetpp::detail::stb_api

#undef stbi_convert_iphone_png_to_rgb
#undef stbi_convert_iphone_png_to_rgb_thread
#undef stbi_convert_wchar_to_utf8
#undef stbi_failure_reason
#undef stbi_hdr_to_ldr_gamma
#undef stbi_hdr_to_ldr_scale
#undef stbi_image_free
#undef stbi_info
#undef stbi_info_from_callbacks
#undef stbi_info_from_file
#undef stbi_info_from_memory
#undef stbi_is_16_bit
#undef stbi_is_16_bit_from_callbacks
#undef stbi_is_16_bit_from_file
#undef stbi_is_16_bit_from_memory
#undef stbi_is_hdr
#undef stbi_is_hdr_from_callbacks
#undef stbi_is_hdr_from_file
#undef stbi_is_hdr_from_memory
#undef stbi_ldr_to_hdr_gamma
#undef stbi_ldr_to_hdr_scale
#undef stbi_load
#undef stbi_load_16
#undef stbi_load_16_from_callbacks
#undef stbi_load_16_from_memory
#undef stbi_load_from_callbacks
#undef stbi_load_from_file
#undef stbi_load_from_file_16
#undef stbi_load_from_memory
#undef stbi_load_gif_from_memory
#undef stbi_loadf
#undef stbi_loadf_from_callbacks
#undef stbi_loadf_from_file
#undef stbi_loadf_from_memory
#undef stbi_set_flip_vertically_on_load
#undef stbi_set_flip_vertically_on_load_thread
#undef stbi_set_unpremultiply_on_load
#undef stbi_set_unpremultiply_on_load_thread
#undef stbi_zlib_decode_buffer
#undef stbi_zlib_decode_malloc
#undef stbi_zlib_decode_malloc_guesssize
#undef stbi_zlib_decode_malloc_guesssize_headerflag
#undef stbi_zlib_decode_noheader_buffer
#undef stbi_zlib_decode_noheader_malloc

UNETPP_STB_MACROS(UNETPP_STB_RESTORE)
#undef UNETPP_STB_RESTORE
#undef UNETPP_STB_SAVE
#undef UNETPP_STB_PRAGMA
#undef UNETPP_STB_MACROS
