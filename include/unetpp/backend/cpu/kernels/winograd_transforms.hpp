// Winograd F(4x4, 3x3) transforms for the CPU backend (see winograd.hpp for the whole algorithm).
//
// The matrices are the standard construction of Lavin & Gray ("Fast Algorithms for Convolutional
// Neural Networks", 2016) from the interpolation points 0, 1, -1, 2, -2 and infinity: a 1-D
// correlation of 6 inputs d with a 3-tap filter g, y[i] = sum_k g[k] d[i + k] for i = 0..3, is
//   y = AT * ((G * g) .* (BT * d))
// and the 2-D tile (6 x 6 inputs, 4 x 4 outputs) nests it over rows and columns:
//   Y = AT * ((G g G^T) .* (BT d B)) * A.
// winograd_BT / winograd_G / winograd_AT below are those matrices; the vector routines spell
// the same products out with the common subexpressions shared. tests/unit/backend/
// test_winograd.cpp derives AT from the points (a Vandermonde matrix) and verifies the identity
// above exactly on every basis pair before trusting any of it.
//
// Every routine works on 16 tiles at once, one tile per lane of a __m512.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace unetpp::backend::cpu_kernels {

// F(4x4, 3x3): 6 x 6 input tiles, 36 transformed points, 4 x 4 outputs per tile.
inline constexpr int winograd_alpha = 6;
inline constexpr int winograd_m = 4;
inline constexpr int winograd_points = winograd_alpha * winograd_alpha;

// Input transform BT (6 x 6), filter transform G (6 x 3), output transform AT (4 x 6).
inline constexpr double winograd_BT[6][6] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
inline constexpr double winograd_G[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};
inline constexpr double winograd_AT[4][6] = {
    {1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0},
    {0, 1, 1, 4, 4, 0},
    {0, 1, -1, 8, -8, 1},
};

#if defined(__AVX512F__)
namespace detail::wino {

inline __m512 splat(float v) noexcept { return _mm512_set1_ps(v); }

// t[k*ts] = sum_j BT[k][j] * d[j*ds], k = 0..5.
inline void bt6(const __m512* d, std::ptrdiff_t ds, __m512* t, std::ptrdiff_t ts) noexcept {
    const __m512 d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    const __m512 four = splat(4.0f), five = splat(5.0f), two = splat(2.0f);
    t[0] = _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4));        // 4 d0 - 5 d2 + d4
    const __m512 a = _mm512_fnmadd_ps(four, d2, d4);                          // d4 - 4 d2
    const __m512 b = _mm512_fnmadd_ps(four, d1, d3);                          // d3 - 4 d1
    t[ts] = _mm512_add_ps(a, b);                                              // -4 d1 - 4 d2 + d3 + d4
    t[2 * ts] = _mm512_sub_ps(a, b);                                          //  4 d1 - 4 d2 - d3 + d4
    const __m512 c = _mm512_sub_ps(d4, d2);                                   // d4 - d2
    const __m512 e = _mm512_mul_ps(two, _mm512_sub_ps(d3, d1));               // 2 (d3 - d1)
    t[3 * ts] = _mm512_add_ps(c, e);                                          // -2 d1 - d2 + 2 d3 + d4
    t[4 * ts] = _mm512_sub_ps(c, e);                                          //  2 d1 - d2 - 2 d3 + d4
    t[5 * ts] = _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5));  // 4 d1 - 5 d3 + d5
}

// o[k*os] = sum_j AT[k][j] * m[j*ms], k = 0..3.
inline void at4(const __m512* m, std::ptrdiff_t ms, __m512* o, std::ptrdiff_t os) noexcept {
    const __m512 s12 = _mm512_add_ps(m[ms], m[2 * ms]), d12 = _mm512_sub_ps(m[ms], m[2 * ms]);
    const __m512 s34 = _mm512_add_ps(m[3 * ms], m[4 * ms]), d34 = _mm512_sub_ps(m[3 * ms], m[4 * ms]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[os] = _mm512_fmadd_ps(splat(2.0f), d34, d12);
    o[2 * os] = _mm512_fmadd_ps(splat(4.0f), s34, s12);
    o[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(splat(8.0f), d34, d12), m[5 * ms]);
}

// u[k*us] = sum_j G[k][j] * g[j*gs], k = 0..5.
inline void g6(const __m512* g, std::ptrdiff_t gs, __m512* u, std::ptrdiff_t us) noexcept {
    const __m512 g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
    const __m512 p = _mm512_add_ps(g0, g2);
    const __m512 sixth = splat(-1.0f / 6.0f);
    u[0] = _mm512_mul_ps(splat(0.25f), g0);
    u[us] = _mm512_mul_ps(sixth, _mm512_add_ps(p, g1));
    u[2 * us] = _mm512_mul_ps(sixth, _mm512_sub_ps(p, g1));
    const __m512 q = _mm512_fmadd_ps(splat(1.0f / 24.0f), g0, _mm512_mul_ps(splat(1.0f / 6.0f), g2));
    const __m512 r = _mm512_mul_ps(splat(1.0f / 12.0f), g1);
    u[3 * us] = _mm512_add_ps(q, r);
    u[4 * us] = _mm512_sub_ps(q, r);
    u[5 * us] = g2;
}

// V = BT d B for 16 tiles: d[r*6+c] is input row r, column c; v[i*6+j] the transformed point.
inline void input_tile(const __m512* d, __m512* v) noexcept {
    __m512 t[36];
    for (int c = 0; c < 6; ++c) bt6(d + c, 6, t + c, 6);   // columns
    for (int i = 0; i < 6; ++i) bt6(t + 6 * i, 1, v + 6 * i, 1);  // rows
}

// Y = AT M A for 16 tiles: m[i*6+j] the products, o[r*4+c] the 4 x 4 outputs.
inline void output_tile(const __m512* m, __m512* o) noexcept {
    __m512 t[24];
    for (int c = 0; c < 6; ++c) at4(m + c, 6, t + c, 6);    // columns: t[k*6+c]
    for (int k = 0; k < 4; ++k) at4(t + 6 * k, 1, o + 4 * k, 1);  // rows
}

// U = G g G^T for 16 filters: g[r*3+c] the 3 x 3 taps, u[i*6+j] the transformed filter.
inline void filter_tile(const __m512* g, __m512* u) noexcept {
    __m512 t[18];
    for (int c = 0; c < 3; ++c) g6(g + c, 3, t + c, 3);     // columns: t[k*3+c]
    for (int k = 0; k < 6; ++k) g6(t + 3 * k, 1, u + 6 * k, 1);  // rows
}

// ---- Loading 16 tiles of one tile row -------------------------------------------------------
//
// Tiles tx0 .. tx0+15 of one tile row read input columns c0 + 4 l + j (lane l, j = 0..5) of each
// of their 6 rows: a stride-4 de-interleave of 66 consecutive floats. The row is loaded as five
// masked vectors (the masks clear columns outside the image: the zero padding) and split into the
// six column phases with permutes. `p` may point before the row (left padding): masked-off lanes
// are never read.
inline void load_row_phases(const float* p, const __mmask16* lm, __m512* ph) noexcept {
    const __m512 l0 = _mm512_maskz_loadu_ps(lm[0], p), l1 = _mm512_maskz_loadu_ps(lm[1], p + 16);
    const __m512 l2 = _mm512_maskz_loadu_ps(lm[2], p + 32), l3 = _mm512_maskz_loadu_ps(lm[3], p + 48);
    const __m512 l4 = _mm512_maskz_loadu_ps(lm[4], p + 64);
    // Lanes 0-7: phase j of elements 0..31, lanes 8-15: phase j+1.
    const __m512i ia = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i ib = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512 a = _mm512_permutex2var_ps(l0, ia, l1), b = _mm512_permutex2var_ps(l0, ib, l1);
    const __m512 c = _mm512_permutex2var_ps(l2, ia, l3), d = _mm512_permutex2var_ps(l2, ib, l3);
    ph[0] = _mm512_shuffle_f32x4(a, c, 0x44);
    ph[1] = _mm512_shuffle_f32x4(a, c, 0xEE);
    ph[2] = _mm512_shuffle_f32x4(b, d, 0x44);
    ph[3] = _mm512_shuffle_f32x4(b, d, 0xEE);
    // Phases 4 and 5 are phases 0 and 1 one tile further: shift in columns 64 and 65.
    const __m512i n0 = _mm512_castps_si512(l4);
    ph[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(n0, _mm512_castps_si512(ph[0]), 1));
    ph[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_alignr_epi32(n0, n0, 1), _mm512_castps_si512(ph[1]), 1));
}

// The inverse for one output row of 16 tiles: o[j] holds column j of every tile; writes the
// 64 columns 4 l + j to p with the store masks sm[0..3].
inline void store_row_phases(float* p, const __mmask16* sm, const __m512* o) noexcept {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512d e0 = _mm512_castps_pd(_mm512_permutex2var_ps(o[0], lo, o[1]));
    const __m512d e1 = _mm512_castps_pd(_mm512_permutex2var_ps(o[0], hi, o[1]));
    const __m512d f0 = _mm512_castps_pd(_mm512_permutex2var_ps(o[2], lo, o[3]));
    const __m512d f1 = _mm512_castps_pd(_mm512_permutex2var_ps(o[2], hi, o[3]));
    const __m512i q0 = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), q1 = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    _mm512_mask_storeu_ps(p, sm[0], _mm512_castpd_ps(_mm512_permutex2var_pd(e0, q0, f0)));
    _mm512_mask_storeu_ps(p + 16, sm[1], _mm512_castpd_ps(_mm512_permutex2var_pd(e0, q1, f0)));
    _mm512_mask_storeu_ps(p + 32, sm[2], _mm512_castpd_ps(_mm512_permutex2var_pd(e1, q0, f1)));
    _mm512_mask_storeu_ps(p + 48, sm[3], _mm512_castpd_ps(_mm512_permutex2var_pd(e1, q1, f1)));
}

// p + off for an offset that may point before p's array (only masked loads/stores use it).
inline const float* shifted(const float* p, std::ptrdiff_t off) noexcept {
    return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(p) + std::uintptr_t(off) * sizeof(float));
}
inline float* shifted(float* p, std::ptrdiff_t off) noexcept {
    return reinterpret_cast<float*>(reinterpret_cast<std::uintptr_t>(p) + std::uintptr_t(off) * sizeof(float));
}

}  // namespace detail::wino
#endif  // __AVX512F__

}  // namespace unetpp::backend::cpu_kernels
