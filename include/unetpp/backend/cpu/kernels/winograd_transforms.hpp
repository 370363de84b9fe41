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
// The transforms are templates over the vector type: 16 tiles at once, one per lane of a __m512,
// with AVX-512, or 8 per __m256 with AVX2 + FMA (winograd_avx2.hpp). How tiles are loaded
// and stored is each instruction set's own: winograd.hpp (AVX-512), winograd_avx2.hpp (AVX2).
#pragma once

#include <cstddef>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "../../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

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

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
namespace detail::wino {

// The arithmetic the transforms need, per instruction set, and the aligned loads and stores of the
// driver (winograd_driver.hpp): the transforms below are written once over it and run on 16 tiles
// per __m512 (AVX-512) or 8 per __m256 (AVX2 + FMA); the driver's traits build on it. (The vector
// type is never itself a template argument: GCC would drop its attributes, with a warning.)
#if defined(__AVX512F__)
struct simd512 {
    using V = __m512;
    static __m512 splat(float v) noexcept { return _mm512_set1_ps(v); }
    static __m512 add(__m512 a, __m512 b) noexcept { return _mm512_add_ps(a, b); }
    static __m512 sub(__m512 a, __m512 b) noexcept { return _mm512_sub_ps(a, b); }
    static __m512 mul(__m512 a, __m512 b) noexcept { return _mm512_mul_ps(a, b); }
    static __m512 fmadd(__m512 a, __m512 b, __m512 c) noexcept { return _mm512_fmadd_ps(a, b, c); }    // a b + c
    static __m512 fnmadd(__m512 a, __m512 b, __m512 c) noexcept { return _mm512_fnmadd_ps(a, b, c); }  // c - a b
    static __m512 max(__m512 a, __m512 b) noexcept { return _mm512_max_ps(a, b); }
    static __m512 load(const float* p) noexcept { return _mm512_load_ps(p); }  // 64-byte aligned
    static __m512 loadu(const float* p) noexcept { return _mm512_loadu_ps(p); }
    static void store(float* p, __m512 v) noexcept { _mm512_store_ps(p, v); }
};
#endif
#if defined(__AVX2__) && defined(__FMA__)
struct simd256 {
    using V = __m256;
    static __m256 splat(float v) noexcept { return _mm256_set1_ps(v); }
    static __m256 add(__m256 a, __m256 b) noexcept { return _mm256_add_ps(a, b); }
    static __m256 sub(__m256 a, __m256 b) noexcept { return _mm256_sub_ps(a, b); }
    static __m256 mul(__m256 a, __m256 b) noexcept { return _mm256_mul_ps(a, b); }
    static __m256 fmadd(__m256 a, __m256 b, __m256 c) noexcept { return _mm256_fmadd_ps(a, b, c); }
    static __m256 fnmadd(__m256 a, __m256 b, __m256 c) noexcept { return _mm256_fnmadd_ps(a, b, c); }
    static __m256 max(__m256 a, __m256 b) noexcept { return _mm256_max_ps(a, b); }
    static __m256 load(const float* p) noexcept { return _mm256_load_ps(p); }  // 32-byte aligned
    static __m256 loadu(const float* p) noexcept { return _mm256_loadu_ps(p); }
    static void store(float* p, __m256 v) noexcept { _mm256_store_ps(p, v); }
};
#endif

// t[k*ts] = sum_j BT[k][j] * d[j*ds], k = 0..5.
template <class S>
inline void bt6(const typename S::V* d, std::ptrdiff_t ds, typename S::V* t, std::ptrdiff_t ts) noexcept {
    using V = typename S::V;
    const V d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    const V four = S::splat(4.0f), five = S::splat(5.0f), two = S::splat(2.0f);
    t[0] = S::fmadd(four, d0, S::fnmadd(five, d2, d4));       // 4 d0 - 5 d2 + d4
    const V a = S::fnmadd(four, d2, d4);                       // d4 - 4 d2
    const V b = S::fnmadd(four, d1, d3);                       // d3 - 4 d1
    t[ts] = S::add(a, b);                                      // -4 d1 - 4 d2 + d3 + d4
    t[2 * ts] = S::sub(a, b);                                  //  4 d1 - 4 d2 - d3 + d4
    const V c = S::sub(d4, d2);                                // d4 - d2
    const V e = S::mul(two, S::sub(d3, d1));                   // 2 (d3 - d1)
    t[3 * ts] = S::add(c, e);                                  // -2 d1 - d2 + 2 d3 + d4
    t[4 * ts] = S::sub(c, e);                                  //  2 d1 - d2 - 2 d3 + d4
    t[5 * ts] = S::fmadd(four, d1, S::fnmadd(five, d3, d5));  // 4 d1 - 5 d3 + d5
}

// o[k*os] = sum_j AT[k][j] * m[j*ms], k = 0..3.
template <class S>
inline void at4(const typename S::V* m, std::ptrdiff_t ms, typename S::V* o, std::ptrdiff_t os) noexcept {
    using V = typename S::V;
    const V s12 = S::add(m[ms], m[2 * ms]), d12 = S::sub(m[ms], m[2 * ms]);
    const V s34 = S::add(m[3 * ms], m[4 * ms]), d34 = S::sub(m[3 * ms], m[4 * ms]);
    o[0] = S::add(S::add(m[0], s12), s34);
    o[os] = S::fmadd(S::splat(2.0f), d34, d12);
    o[2 * os] = S::fmadd(S::splat(4.0f), s34, s12);
    o[3 * os] = S::add(S::fmadd(S::splat(8.0f), d34, d12), m[5 * ms]);
}

// u[k*us] = sum_j G[k][j] * g[j*gs], k = 0..5.
template <class S>
inline void g6(const typename S::V* g, std::ptrdiff_t gs, typename S::V* u, std::ptrdiff_t us) noexcept {
    using V = typename S::V;
    const V g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
    const V p = S::add(g0, g2);
    const V sixth = S::splat(-1.0f / 6.0f);
    u[0] = S::mul(S::splat(0.25f), g0);
    u[us] = S::mul(sixth, S::add(p, g1));
    u[2 * us] = S::mul(sixth, S::sub(p, g1));
    const V q = S::fmadd(S::splat(1.0f / 24.0f), g0, S::mul(S::splat(1.0f / 6.0f), g2));
    const V r = S::mul(S::splat(1.0f / 12.0f), g1);
    u[3 * us] = S::add(q, r);
    u[4 * us] = S::sub(q, r);
    u[5 * us] = g2;
}

// V = BT d B for one vector of tiles: d[r*6+c] is input row r, column c; v[i*6+j] the
// transformed point.
template <class S>
inline void input_tile_t(const typename S::V* d, typename S::V* v) noexcept {
    using V = typename S::V;
    V t[36];
    for (int c = 0; c < 6; ++c) bt6<S>(d + c, 6, t + c, 6);         // columns
    for (int i = 0; i < 6; ++i) bt6<S>(t + 6 * i, 1, v + 6 * i, 1);  // rows
}

// Y = AT M A for one vector of tiles: m[i*6+j] the products, o[r*4+c] the 4 x 4 outputs.
template <class S>
inline void output_tile_t(const typename S::V* m, typename S::V* o) noexcept {
    using V = typename S::V;
    V t[24];
    for (int c = 0; c < 6; ++c) at4<S>(m + c, 6, t + c, 6);         // columns: t[k*6+c]
    for (int k = 0; k < 4; ++k) at4<S>(t + 6 * k, 1, o + 4 * k, 1);  // rows
}

// U = G g G^T for one vector of filters: g[r*3+c] the 3 x 3 taps, u[i*6+j] the transformed filter.
template <class S>
inline void filter_tile_t(const typename S::V* g, typename S::V* u) noexcept {
    using V = typename S::V;
    V t[18];
    for (int c = 0; c < 3; ++c) g6<S>(g + c, 3, t + c, 3);          // columns: t[k*3+c]
    for (int k = 0; k < 6; ++k) g6<S>(t + 3 * k, 1, u + 6 * k, 1);  // rows
}

// The backward-weights pass (winograd_wgrad.hpp) runs F(3x3, 4x4): the 3 x 3 weight gradient of a
// tile is the correlation of its 6 x 6 input window d with its 4 x 4 output gradient e. By the
// transposition of the forward identity, sum_i e[i] y[i] = sum_a (AT^T e)[a] (G g)[a] (BT d)[a]
// for every filter g, so the derivative in g[k] gives
//   dw = G^T ((AT^T e) .* (BT d))   (1-D),   dW = G^T ((AT^T E AT) .* (BT D B)) G   (2-D):
// the input transform is the forward's, the output gradient is transformed by AT^T (4 -> 6 points)
// and the sums over tiles by G^T (6 -> 3 taps).

// z[k*zs] = sum_i AT[i][k] * e[i*es], k = 0..5.
template <class S>
inline void a6(const typename S::V* e, std::ptrdiff_t es, typename S::V* z, std::ptrdiff_t zs) noexcept {
    using V = typename S::V;
    const V e0 = e[0], e1 = e[es], e2 = e[2 * es], e3 = e[3 * es];
    const V ev = S::add(e0, e2), od = S::add(e1, e3);                        // e0 + e2, e1 + e3
    const V ev4 = S::fmadd(S::splat(4.0f), e2, e0);                          // e0 + 4 e2
    const V od4 = S::mul(S::splat(2.0f), S::fmadd(S::splat(4.0f), e3, e1));  // 2 e1 + 8 e3
    z[0] = e0;
    z[zs] = S::add(ev, od);
    z[2 * zs] = S::sub(ev, od);
    z[3 * zs] = S::add(ev4, od4);
    z[4 * zs] = S::sub(ev4, od4);
    z[5 * zs] = e3;
}

// w[k*ws] = sum_a G[a][k] * m[a*ms], k = 0..2.
template <class S>
inline void gt3(const typename S::V* m, std::ptrdiff_t ms, typename S::V* w, std::ptrdiff_t ws) noexcept {
    using V = typename S::V;
    const V s12 = S::add(m[ms], m[2 * ms]), d12 = S::sub(m[2 * ms], m[ms]);       // m1 + m2, m2 - m1
    const V s34 = S::add(m[3 * ms], m[4 * ms]), d34 = S::sub(m[3 * ms], m[4 * ms]);  // m3 + m4, m3 - m4
    w[0] = S::add(S::mul(S::splat(0.25f), m[0]),
                  S::fmadd(S::splat(1.0f / 24.0f), s34, S::mul(S::splat(-1.0f / 6.0f), s12)));
    w[ws] = S::fmadd(S::splat(1.0f / 12.0f), d34, S::mul(S::splat(1.0f / 6.0f), d12));
    w[2 * ws] = S::add(S::mul(S::splat(1.0f / 6.0f), S::sub(s34, s12)), m[5 * ms]);
}

// Z = AT^T E AT for one vector of tiles: e[i*4+j] the 4 x 4 output gradients, z[k*6+l] the 36
// transformed points.
template <class S>
inline void out_grad_tile_t(const typename S::V* e, typename S::V* z) noexcept {
    using V = typename S::V;
    V t[24];
    for (int c = 0; c < 4; ++c) a6<S>(e + c, 4, t + c, 4);          // columns: t[k*4+c]
    for (int k = 0; k < 6; ++k) a6<S>(t + 4 * k, 1, z + 6 * k, 1);  // rows
}

// dW = G^T M G for one vector of (output, input channel) pairs: m[k*6+l] the sums over tiles of
// the 36 points, w[r*3+c] the 3 x 3 weight gradients.
template <class S>
inline void weight_grad_tile_t(const typename S::V* m, typename S::V* w) noexcept {
    using V = typename S::V;
    V t[18];
    for (int c = 0; c < 6; ++c) gt3<S>(m + c, 6, t + c, 6);          // columns: t[r*6+c]
    for (int r = 0; r < 3; ++r) gt3<S>(t + 6 * r, 1, w + 3 * r, 1);  // rows
}

}  // namespace detail::wino
#endif  // AVX-512 or AVX2 + FMA

}  // namespace unetpp::backend::cpu_kernels
