#pragma once
/// \file CRC-32C (Castagnoli; iSCSI, ext4, TFRecord), the checksum of the library's files:
/// safetensors weights and checkpoints (io/safetensors.hpp) and anything else that frames data.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE4_2__) && (defined(__x86_64__) || defined(_M_X64))
#include <nmmintrin.h>
#define UNETPP_CRC32C_SSE42 1
#endif

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io {

namespace detail {

/// The 8 tables of the slice-by-8 CRC-32C (reflected polynomial 0x82F63B78).
struct crc32c_tables {
    std::uint32_t t[8][256];
    constexpr crc32c_tables() : t{} {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[0][i] = c;
        }
        for (std::uint32_t i = 0; i < 256; ++i)
            for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
};
inline constexpr crc32c_tables crc32c_table{};

}  // namespace detail

/// Continues a CRC-32C (Castagnoli; iSCSI, ext4) over `n` bytes: crc32c(b, n) of a whole buffer,
/// or crc32c(b2, n2, crc32c(b1, n1)) to continue. Uses the SSE4.2 instruction when the build
/// targets it, else a slice-by-8 table; both give the same value (crc32c("123456789") = 0xE3069283).
inline std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint32_t c = ~crc;
#ifdef UNETPP_CRC32C_SSE42
    std::uint64_t c64 = c;
    for (; n >= 8; n -= 8, p += 8) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
    }
    c = static_cast<std::uint32_t>(c64);
    for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, *p);
#else
    const auto& t = detail::crc32c_table.t;
    for (; n >= 8; n -= 8, p += 8) {
        const std::uint32_t lo = c ^ (std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                      std::uint32_t(p[3]) << 24);
        c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    }
    for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
#endif
    return ~c;
}
inline std::uint32_t crc32c(std::string_view s, std::uint32_t crc = 0) noexcept {
    return crc32c(s.data(), s.size(), crc);
}

}  // namespace unetpp::io
