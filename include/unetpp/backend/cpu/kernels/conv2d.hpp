// Dense 2-D convolution kernels for the CPU backend (NCHW, contiguous, row-major).
//
// Two families live here:
//   * *_ref  : plain nested loops for any scalar type. They are the oracle of the tests and are
//              written to be obviously correct, not fast.
//   * fast   : float kernels. Stride-1 convolutions on a machine with AVX-512 use a
//              register-blocked direct convolution (6 output channels x 4 vectors of 16 output
//              pixels = 24 zmm accumulators). Everything else (other strides, machines without
//              AVX-512) goes through im2col + Eigen GEMM, which is correct for every geometry.
//
// The fast kernels never allocate: the caller passes a 64-byte aligned workspace of at least
// *_workspace_floats(g) floats and may reuse it between calls.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <Eigen/Core>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace unetpp::backend::cpu_kernels {

// Geometry of an unpadded ("valid") 2-D cross-correlation. Padding is applied by the layer before
// the call, so x is already padded.
//   y[n,co,oy,ox] = b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy*stride+ky,ox*stride+kx]
// (PyTorch Conv2d semantics, weight layout OIHW.)
struct conv_geometry {
    int n, cin, h, w;  // input (already padded), NCHW
    int cout, kh, kw;
    int stride = 1;
    constexpr int oh() const noexcept { return (h - kh) / stride + 1; }
    constexpr int ow() const noexcept { return (w - kw) / stride + 1; }
};

// ------------------------------------------------------------------------------------------------
// Reference kernels
// ------------------------------------------------------------------------------------------------

// y is overwritten. b may be null (no bias).
template <class T>
void conv2d_forward_ref(const conv_geometry& g, const T* x, const T* w, const T* b, T* y) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co)
            for (std::ptrdiff_t oy = 0; oy < OH; ++oy)
                for (std::ptrdiff_t ox = 0; ox < OW; ++ox) {
                    T s = b ? b[co] : T(0);
                    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
                        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                                const T wv = w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx];
                                const T xv = x[((n * g.cin + ci) * H + oy * g.stride + ky) * W +
                                               ox * g.stride + kx];
                                s += wv * xv;
                            }
                    y[((n * g.cout + co) * OH + oy) * OW + ox] = s;
                }
}

// dx (n, cin, h, w) is overwritten: dx = conv^T(dy).
template <class T>
void conv2d_backward_data_ref(const conv_geometry& g, const T* dy, const T* w, T* dx) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    std::fill(dx, dx + std::ptrdiff_t(g.n) * g.cin * H * W, T(0));
    for (std::ptrdiff_t n = 0; n < g.n; ++n)
        for (std::ptrdiff_t co = 0; co < g.cout; ++co)
            for (std::ptrdiff_t oy = 0; oy < OH; ++oy)
                for (std::ptrdiff_t ox = 0; ox < OW; ++ox) {
                    const T d = dy[((n * g.cout + co) * OH + oy) * OW + ox];
                    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
                        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx)
                                dx[((n * g.cin + ci) * H + oy * g.stride + ky) * W + ox * g.stride +
                                   kx] += w[((co * g.cin + ci) * g.kh + ky) * g.kw + kx] * d;
                }
}

// dw (cout, cin, kh, kw) and db (cout, may be null) are ACCUMULATED (+=).
template <class T>
void conv2d_backward_weights_ref(const conv_geometry& g, const T* x, const T* dy, T* dw, T* db) {
    const std::ptrdiff_t OH = g.oh(), OW = g.ow(), H = g.h, W = g.w;
    for (std::ptrdiff_t co = 0; co < g.cout; ++co) {
        for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
            for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
                for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                    T s = T(0);
                    for (std::ptrdiff_t n = 0; n < g.n; ++n)
                        for (std::ptrdiff_t oy = 0; oy < OH; ++oy)
                            for (std::ptrdiff_t ox = 0; ox < OW; ++ox)
                                s += dy[((n * g.cout + co) * OH + oy) * OW + ox] *
                                     x[((n * g.cin + ci) * H + oy * g.stride + ky) * W +
                                       ox * g.stride + kx];
                    dw[((co * g.cin + ci) * g.kh + ky) * g.kw + kx] += s;
                }
        if (db) {
            T s = T(0);
            for (std::ptrdiff_t n = 0; n < g.n; ++n)
                for (std::ptrdiff_t p = 0; p < OH * OW; ++p) s += dy[(n * g.cout + co) * OH * OW + p];
            db[co] += s;
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Implementation details of the fast kernels
// ------------------------------------------------------------------------------------------------
namespace detail {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_strided_map = Eigen::Map<const row_matrix, 0, Eigen::OuterStride<>>;
using strided_map = Eigen::Map<row_matrix, 0, Eigen::OuterStride<>>;

// ---- im2col + GEMM path (any geometry) --------------------------------------------------------

// Upper bound on the im2col tile, in floats; a tile is always at least one output row.
inline constexpr std::size_t im2col_tile_cap = std::size_t(1) << 21;

// Number of output rows per im2col tile for g.
inline int im2col_rows_per_tile(const conv_geometry& g) noexcept {
    const std::size_t row = std::size_t(g.cin) * g.kh * g.kw * std::size_t(g.ow());
    if (row == 0) return 1;
    const std::size_t r = im2col_tile_cap / row;
    return int(std::clamp<std::size_t>(r, 1, std::size_t(std::max(1, g.oh()))));
}

inline std::size_t im2col_workspace_floats(const conv_geometry& g) noexcept {
    return std::size_t(g.cin) * g.kh * g.kw * std::size_t(g.ow()) * std::size_t(im2col_rows_per_tile(g));
}

// col[(ci*kh+ky)*kw+kx][(oy-r0)*OW+ox] = x[ci][oy*s+ky][ox*s+kx] for oy in [r0, r1).
inline void im2col_rows(const conv_geometry& g, const float* x, int r0, int r1, float* col) {
    const std::ptrdiff_t OW = g.ow(), H = g.h, W = g.w, s = g.stride;
    const std::ptrdiff_t P = std::ptrdiff_t(r1 - r0) * OW;
    const std::ptrdiff_t K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
#pragma omp parallel for schedule(static) if (K * P > 65536)
    for (std::ptrdiff_t k = 0; k < K; ++k) {
        const std::ptrdiff_t kx = k % g.kw, ky = (k / g.kw) % g.kh, ci = k / (std::ptrdiff_t(g.kw) * g.kh);
        float* dst = col + k * P;
        for (std::ptrdiff_t oy = r0; oy < r1; ++oy) {
            const float* src = x + (ci * H + oy * s + ky) * W + kx;
            float* d = dst + (oy - r0) * OW;
            if (s == 1) {
                std::memcpy(d, src, sizeof(float) * std::size_t(OW));
            } else {
                for (std::ptrdiff_t ox = 0; ox < OW; ++ox) d[ox] = src[ox * s];
            }
        }
    }
}

// dx[ci][oy*s+ky][ox*s+kx] += col[...] for oy in [r0, r1); parallel over ci (no races).
inline void col2im_rows_add(const conv_geometry& g, const float* col, int r0, int r1, float* dx) {
    const std::ptrdiff_t OW = g.ow(), H = g.h, W = g.w, s = g.stride;
    const std::ptrdiff_t P = std::ptrdiff_t(r1 - r0) * OW;
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(g.cin) * g.kh * g.kw * P > 65536)
    for (std::ptrdiff_t ci = 0; ci < g.cin; ++ci)
        for (std::ptrdiff_t ky = 0; ky < g.kh; ++ky)
            for (std::ptrdiff_t kx = 0; kx < g.kw; ++kx) {
                const float* src = col + ((ci * g.kh + ky) * g.kw + kx) * P;
                for (std::ptrdiff_t oy = r0; oy < r1; ++oy) {
                    float* d = dx + (ci * H + oy * s + ky) * W + kx;
                    const float* c = src + (oy - r0) * OW;
                    if (s == 1) {
                        for (std::ptrdiff_t ox = 0; ox < OW; ++ox) d[ox] += c[ox];
                    } else {
                        for (std::ptrdiff_t ox = 0; ox < OW; ++ox) d[ox * s] += c[ox];
                    }
                }
            }
}

inline void gemm_forward(const conv_geometry& g, const float* x, const float* w, const float* b, float* y,
                         float* ws) {
    const int OH = g.oh(), OW = g.ow();
    const std::ptrdiff_t P = std::ptrdiff_t(OH) * OW, K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
    const int rows = im2col_rows_per_tile(g);
    const Eigen::Map<const row_matrix> wm(w, g.cout, K);
    for (int n = 0; n < g.n; ++n) {
        const float* xn = x + std::ptrdiff_t(n) * g.cin * g.h * g.w;
        float* yn = y + std::ptrdiff_t(n) * g.cout * P;
        for (int r0 = 0; r0 < OH; r0 += rows) {
            const int r1 = std::min(OH, r0 + rows);
            const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * OW;
            im2col_rows(g, xn, r0, r1, ws);
            const Eigen::Map<const row_matrix> col(ws, K, pt);
            strided_map ym(yn + std::ptrdiff_t(r0) * OW, g.cout, pt, Eigen::OuterStride<>(P));
            ym.noalias() = wm * col;
            if (b)
                for (int co = 0; co < g.cout; ++co) ym.row(co).array() += b[co];
        }
    }
}

inline void gemm_backward_data(const conv_geometry& g, const float* dy, const float* w, float* dx, float* ws) {
    const int OH = g.oh(), OW = g.ow();
    const std::ptrdiff_t P = std::ptrdiff_t(OH) * OW, K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
    const int rows = im2col_rows_per_tile(g);
    const Eigen::Map<const row_matrix> wm(w, g.cout, K);
    std::fill(dx, dx + std::ptrdiff_t(g.n) * g.cin * g.h * g.w, 0.0f);
    for (int n = 0; n < g.n; ++n) {
        const float* dyn = dy + std::ptrdiff_t(n) * g.cout * P;
        float* dxn = dx + std::ptrdiff_t(n) * g.cin * g.h * g.w;
        for (int r0 = 0; r0 < OH; r0 += rows) {
            const int r1 = std::min(OH, r0 + rows);
            const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * OW;
            const_strided_map dym(dyn + std::ptrdiff_t(r0) * OW, g.cout, pt, Eigen::OuterStride<>(P));
            Eigen::Map<row_matrix> col(ws, K, pt);
            col.noalias() = wm.transpose() * dym;
            col2im_rows_add(g, ws, r0, r1, dxn);
        }
    }
}

inline void gemm_backward_weights(const conv_geometry& g, const float* x, const float* dy, float* dw, float* db,
                                  float* ws) {
    const int OH = g.oh(), OW = g.ow();
    const std::ptrdiff_t P = std::ptrdiff_t(OH) * OW, K = std::ptrdiff_t(g.cin) * g.kh * g.kw;
    const int rows = im2col_rows_per_tile(g);
    Eigen::Map<row_matrix> dwm(dw, g.cout, K);
    for (int n = 0; n < g.n; ++n) {
        const float* xn = x + std::ptrdiff_t(n) * g.cin * g.h * g.w;
        const float* dyn = dy + std::ptrdiff_t(n) * g.cout * P;
        for (int r0 = 0; r0 < OH; r0 += rows) {
            const int r1 = std::min(OH, r0 + rows);
            const std::ptrdiff_t pt = std::ptrdiff_t(r1 - r0) * OW;
            im2col_rows(g, xn, r0, r1, ws);
            const Eigen::Map<const row_matrix> col(ws, K, pt);
            const_strided_map dym(dyn + std::ptrdiff_t(r0) * OW, g.cout, pt, Eigen::OuterStride<>(P));
            dwm.noalias() += dym * col.transpose();
        }
        if (db) {
            const Eigen::Map<const row_matrix> dyall(dyn, g.cout, P);
            for (int co = 0; co < g.cout; ++co) db[co] += dyall.row(co).sum();
        }
    }
}

// ---- Direct AVX-512 path (stride 1) -----------------------------------------------------------

inline constexpr int co_block = 6;   // output channels per micro-kernel (broadcast operand)
inline constexpr int seg_count = 4;  // 16-pixel segments per micro-kernel (vector operand)

inline std::size_t round_up(std::size_t v, std::size_t m) noexcept { return (v + m - 1) / m * m; }

// Packs weights for the direct kernel: dst[cb][ci][ky][kx][j] = get(cb*6+j, ci, ky, kx), zero for
// output channels >= nco. get(co, ci, ky, kx) is any accessor, so the same routine packs the
// forward weights and the flipped/transposed weights of the backward-data pass.
template <class Get>
inline void pack_direct_weights(int nco, int nci, int kh, int kw, Get get, float* dst) {
    const int nblocks = (nco + co_block - 1) / co_block;
    const std::ptrdiff_t per_block = std::ptrdiff_t(nci) * kh * kw * co_block;
#pragma omp parallel for schedule(static) if (per_block * nblocks > 32768)
    for (int cb = 0; cb < nblocks; ++cb) {
        // One output channel at a time: the source is read in order and the writes stay inside
        // this block, which is small enough to live in cache.
        float* d = dst + cb * per_block;
        for (int j = 0; j < co_block; ++j) {
            const int co = cb * co_block + j;
            std::ptrdiff_t k = j;
            for (int ci = 0; ci < nci; ++ci)
                for (int ky = 0; ky < kh; ++ky)
                    for (int kx = 0; kx < kw; ++kx, k += co_block) d[k] = co < nco ? get(co, ci, ky, kx) : 0.0f;
        }
    }
}

inline std::size_t direct_packed_floats(int nco, int nci, int kh, int kw) noexcept {
    return round_up(std::size_t(nco), co_block) * std::size_t(nci) * kh * kw;
}

// Input channels processed per pass over the output tile: the x slice of one tile
// (cic * kh rows * 4 segments) should stay in L1 while all output-channel blocks sweep over it.
inline int direct_ci_chunk(int kh, int kw) noexcept {
    const int taps = kh * kw;
    if (taps <= 1) return 128;
    if (taps <= 4) return 64;
    if (taps <= 9) return 32;
    return 16;
}

#if defined(__AVX512F__)

// One micro-kernel call: 6 output channels x 4 segments of 16 pixels, summed over cic input
// channels. xs[v]/ys[v] point at the first pixel of segment v in input channel 0 / output
// channel 0 of the block; ms[v] masks the valid pixels (0 for an absent segment). wp points at
// the packed weights [ci][ky][kx][6] of this block and chunk. When init is true the accumulators
// start at the bias (or zero), otherwise at the current y.
template <int KH, int KW>
inline void direct_tile(const float* const* xs, const __mmask16* ms, float* const* ys, std::ptrdiff_t in_plane,
                        std::ptrdiff_t out_plane, std::ptrdiff_t in_w, const float* wp, int cic, int kh_rt,
                        int kw_rt, int nco, const float* bias, bool init) {
    const int kh = KH > 0 ? KH : kh_rt;
    const int kw = KW > 0 ? KW : kw_rt;
    __m512 acc[co_block][seg_count];
#pragma GCC unroll 6
    for (int j = 0; j < co_block; ++j) {
#pragma GCC unroll 4
        for (int v = 0; v < seg_count; ++v) {
            if (init)
                acc[j][v] = (bias && j < nco) ? _mm512_set1_ps(bias[j]) : _mm512_setzero_ps();
            else
                acc[j][v] = j < nco ? _mm512_maskz_loadu_ps(ms[v], ys[v] + j * out_plane) : _mm512_setzero_ps();
        }
    }
    const float* p0 = xs[0];
    const float* p1 = xs[1];
    const float* p2 = xs[2];
    const float* p3 = xs[3];
    const __mmask16 m0 = ms[0], m1 = ms[1], m2 = ms[2], m3 = ms[3];
    for (int ci = 0; ci < cic; ++ci) {
        for (int ky = 0; ky < kh; ++ky) {
            const std::ptrdiff_t row = ky * in_w;
#pragma GCC unroll 8
            for (int kx = 0; kx < kw; ++kx) {
                const std::ptrdiff_t off = row + kx;
                const __m512 a0 = _mm512_maskz_loadu_ps(m0, p0 + off);
                const __m512 a1 = _mm512_maskz_loadu_ps(m1, p1 + off);
                const __m512 a2 = _mm512_maskz_loadu_ps(m2, p2 + off);
                const __m512 a3 = _mm512_maskz_loadu_ps(m3, p3 + off);
#pragma GCC unroll 6
                for (int j = 0; j < co_block; ++j) {
                    const __m512 wv = _mm512_set1_ps(wp[j]);
                    acc[j][0] = _mm512_fmadd_ps(wv, a0, acc[j][0]);
                    acc[j][1] = _mm512_fmadd_ps(wv, a1, acc[j][1]);
                    acc[j][2] = _mm512_fmadd_ps(wv, a2, acc[j][2]);
                    acc[j][3] = _mm512_fmadd_ps(wv, a3, acc[j][3]);
                }
                wp += co_block;
            }
        }
        p0 += in_plane;
        p1 += in_plane;
        p2 += in_plane;
        p3 += in_plane;
    }
#pragma GCC unroll 6
    for (int j = 0; j < co_block; ++j) {
        if (j >= nco) break;
#pragma GCC unroll 4
        for (int v = 0; v < seg_count; ++v) _mm512_mask_storeu_ps(ys[v] + j * out_plane, ms[v], acc[j][v]);
    }
}

// Stride-1 direct convolution of all images: y = conv(x, packed weights) + b.
// cin/cout/h/w describe the (already padded) input; wpk is packed by pack_direct_weights.
template <int KH, int KW>
inline void direct_conv_run(int n, int cin, int h, int w, int cout, int kh, int kw, const float* x,
                            const float* wpk, const float* b, float* y) {
    const int OH = h - kh + 1, OW = w - kw + 1;
    const int spr = (OW + 15) / 16;  // segments per output row
    const std::ptrdiff_t segs = std::ptrdiff_t(OH) * spr;
    const std::ptrdiff_t groups = (segs + seg_count - 1) / seg_count;
    const std::ptrdiff_t in_plane = std::ptrdiff_t(h) * w, out_plane = std::ptrdiff_t(OH) * OW;
    const int nblocks = (cout + co_block - 1) / co_block;
    const int chunk = direct_ci_chunk(kh, kw);
    const std::ptrdiff_t wblock = std::ptrdiff_t(cin) * kh * kw * co_block;
    const std::ptrdiff_t total = groups * n;
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t it = 0; it < total; ++it) {
        const std::ptrdiff_t img = it / groups, grp = it % groups;
        const float* xn = x + img * cin * in_plane;
        float* yn = y + img * cout * out_plane;
        const float* xs[seg_count];
        float* ys[seg_count];
        __mmask16 ms[seg_count];
        for (int v = 0; v < seg_count; ++v) {
            const std::ptrdiff_t s = grp * seg_count + v;
            if (s < segs) {
                const std::ptrdiff_t oy = s / spr, ox = (s % spr) * 16;
                const int len = int(std::min<std::ptrdiff_t>(16, OW - ox));
                xs[v] = xn + oy * w + ox;
                ys[v] = yn + oy * OW + ox;
                ms[v] = __mmask16((1u << len) - 1u);
            } else {
                xs[v] = xn;
                ys[v] = yn;
                ms[v] = 0;
            }
        }
        for (int c0 = 0; c0 < cin; c0 += chunk) {
            const int cic = std::min(chunk, cin - c0);
            const float* xs_c[seg_count];
            for (int v = 0; v < seg_count; ++v) xs_c[v] = xs[v] + c0 * in_plane;
            for (int cb = 0; cb < nblocks; ++cb) {
                float* ys_b[seg_count];
                for (int v = 0; v < seg_count; ++v) ys_b[v] = ys[v] + std::ptrdiff_t(cb) * co_block * out_plane;
                const int nco = std::min(co_block, cout - cb * co_block);
                direct_tile<KH, KW>(xs_c, ms, ys_b, in_plane, out_plane, w,
                                    wpk + cb * wblock + std::ptrdiff_t(c0) * kh * kw * co_block, cic, kh, kw, nco,
                                    b ? b + cb * co_block : nullptr, c0 == 0);
            }
        }
    }
}

inline void direct_conv(int n, int cin, int h, int w, int cout, int kh, int kw, const float* x, const float* wpk,
                        const float* b, float* y) {
    if (kh == 3 && kw == 3)
        direct_conv_run<3, 3>(n, cin, h, w, cout, kh, kw, x, wpk, b, y);
    else if (kh == 1 && kw == 1)
        direct_conv_run<1, 1>(n, cin, h, w, cout, kh, kw, x, wpk, b, y);
    else if (kh == 2 && kw == 2)
        direct_conv_run<2, 2>(n, cin, h, w, cout, kh, kw, x, wpk, b, y);
    else
        direct_conv_run<0, 0>(n, cin, h, w, cout, kh, kw, x, wpk, b, y);
}


// ---- Direct AVX-512 backward-weights path (stride 1) ------------------------------------------
//
// dw[co,ci,ky,kx] is a reduction over output pixels. The micro-kernel keeps one zmm accumulator
// per (co, ci, tap) of a small tile (CO_T x CI_T x KH*KW <= 27 accumulators), whose 16 lanes are
// partial sums over 16 pixels of a row. After a tile of pixels the accumulators are reduced with a
// 16-way transpose-and-add and added into dw. Each thread owns a fixed range of (co, ci) tiles,
// so dw needs no locking and no per-thread copies.

// Lane i of the result is the horizontal sum of v[i] (v[k] for k >= count are taken as zero).
// (The maskz forms with a full mask are used because GCC's plain forms read an undefined
// pass-through vector, which -Wall reports as maybe-uninitialized after inlining.)
inline __m512 hsum16(const __m512* v, int count) {
    const __mmask16 full = 0xFFFF;
    __m512 t[16];
    for (int i = 0; i < 16; ++i) t[i] = i < count ? v[i] : _mm512_setzero_ps();
    __m512 l1[8], l2[4], l3[2];
    for (int i = 0; i < 8; ++i)  // halves of 512 bits
        l1[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(full, t[2 * i], t[2 * i + 1], 0x44),
                              _mm512_maskz_shuffle_f32x4(full, t[2 * i], t[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; ++i)  // 128-bit quarters
        l2[i] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(full, l1[2 * i], l1[2 * i + 1], 0x88),
                              _mm512_maskz_shuffle_f32x4(full, l1[2 * i], l1[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; ++i)  // pairs of floats inside each 128-bit lane
        l3[i] = _mm512_add_ps(_mm512_maskz_shuffle_ps(full, l2[2 * i], l2[2 * i + 1], 0x44),
                              _mm512_maskz_shuffle_ps(full, l2[2 * i], l2[2 * i + 1], 0xEE));
    const __m512 r = _mm512_add_ps(_mm512_maskz_shuffle_ps(full, l3[0], l3[1], 0x88), _mm512_maskz_shuffle_ps(full, l3[0], l3[1], 0xDD));
    // The tree leaves the sum of v[k] in lane (k % 4) * 4 + k / 4; undo that 4x4 transpose.
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_maskz_permutexvar_ps(full, idx, r);
}

// Accumulates dw for output channels [co0, co0+CO_T) x input channels [ci0, ci0+CI_T) over output
// rows [r0, r1) of one image. Channels past the end are clamped to a valid plane and their
// results dropped.
template <int CO_T, int CI_T, int KH, int KW>
inline void bwdw_tile(const float* xn, const float* dyn, int cin, int cout, int h, int w, int co0, int ci0, int r0,
                      int r1, float* dw) {
    constexpr int taps = KH * KW;
    constexpr int nacc = CO_T * CI_T * taps;
    static_assert(nacc <= 32, "too many accumulators");
    (void)h;
    const int OW = w - KW + 1, OH = h - KH + 1;
    const std::ptrdiff_t in_plane = std::ptrdiff_t(h) * w, out_plane = std::ptrdiff_t(OH) * OW;
    const float* dp[CO_T];
    const float* xp[CI_T];
    for (int c = 0; c < CO_T; ++c) dp[c] = dyn + std::min(co0 + c, cout - 1) * out_plane;
    for (int c = 0; c < CI_T; ++c) xp[c] = xn + std::min(ci0 + c, cin - 1) * in_plane;
    __m512 acc[nacc];
    for (int i = 0; i < nacc; ++i) acc[i] = _mm512_setzero_ps();
    for (int oy = r0; oy < r1; ++oy) {
        const std::ptrdiff_t orow = std::ptrdiff_t(oy) * OW, irow = std::ptrdiff_t(oy) * w;
        for (int ox = 0; ox < OW; ox += 16) {
            const int len = std::min(16, OW - ox);
            const __mmask16 m = __mmask16((1u << len) - 1u);
            __m512 d[CO_T];
#pragma GCC unroll 8
            for (int c = 0; c < CO_T; ++c) d[c] = _mm512_maskz_loadu_ps(m, dp[c] + orow + ox);
#pragma GCC unroll 8
            for (int c = 0; c < CI_T; ++c) {
#pragma GCC unroll 8
                for (int ky = 0; ky < KH; ++ky) {
#pragma GCC unroll 8
                    for (int kx = 0; kx < KW; ++kx) {
                        const __m512 xv = _mm512_maskz_loadu_ps(m, xp[c] + irow + ky * w + kx + ox);
#pragma GCC unroll 8
                        for (int o = 0; o < CO_T; ++o) {
                            __m512& a = acc[(o * CI_T + c) * taps + ky * KW + kx];
                            a = _mm512_fmadd_ps(d[o], xv, a);
                        }
                    }
                }
            }
        }
    }
    alignas(64) float sums[32];
    _mm512_store_ps(sums, hsum16(acc, std::min(nacc, 16)));
    if constexpr (nacc > 16) _mm512_store_ps(sums + 16, hsum16(acc + 16, nacc - 16));
    for (int o = 0; o < CO_T; ++o) {
        if (co0 + o >= cout) break;
        for (int c = 0; c < CI_T; ++c) {
            if (ci0 + c >= cin) break;
            float* d = dw + (std::ptrdiff_t(co0 + o) * cin + (ci0 + c)) * taps;
            for (int t = 0; t < taps; ++t) d[t] += sums[(o * CI_T + c) * taps + t];
        }
    }
}

template <int CO_T, int CI_T, int KH, int KW>
inline void bwdw_run(const conv_geometry& g, const float* x, const float* dy, float* dw) {
    const int OH = g.oh(), OW = g.ow();
    const int cot = (g.cout + CO_T - 1) / CO_T, cit = (g.cin + CI_T - 1) / CI_T;
    const std::ptrdiff_t items = std::ptrdiff_t(cot) * cit;
    // Rows per pixel tile: about 2048 pixels, so the dy rows of a co tile stay in L1 while the
    // reduction cost (one transpose-sum per tile) stays small.
    const int rows = std::clamp(2048 / std::max(1, OW), 1, std::max(1, OH));
    const std::ptrdiff_t in_img = std::ptrdiff_t(g.cin) * g.h * g.w, out_img = std::ptrdiff_t(g.cout) * OH * OW;
#pragma omp parallel
    {
        int tid = 0, nt = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        const std::ptrdiff_t i0 = items * tid / nt, i1 = items * (tid + 1) / nt;
        for (int n = 0; n < g.n; ++n)
            for (int r0 = 0; r0 < OH; r0 += rows) {
                const int r1 = std::min(OH, r0 + rows);
                for (std::ptrdiff_t it = i0; it < i1; ++it) {
                    const int co0 = int(it / cit) * CO_T, ci0 = int(it % cit) * CI_T;
                    bwdw_tile<CO_T, CI_T, KH, KW>(x + n * in_img, dy + n * out_img, g.cin, g.cout, g.h, g.w, co0,
                                                  ci0, r0, r1, dw);
                }
            }
    }
}

// Which kernel sizes have a direct backward-weights micro-kernel, and whether it is worth using:
// for few pixels and many channels the reduction overhead dominates and GEMM wins.
inline bool bwdw_direct_supported(const conv_geometry& g) noexcept {
    if (g.stride != 1) return false;
    const bool ksize = (g.kh == 3 && g.kw == 3) || (g.kh == 1 && g.kw == 1) || (g.kh == 2 && g.kw == 2);
    if (!ksize) return false;
    // Measured (2 threads, 3x3, 128->128 @128x128): this kernel ~120 GFLOP/s, im2col + Eigen
    // GEMM ~210-270 GFLOP/s once cin*kh*kw is large; the 9 shifted (cache-line splitting) loads
    // per 27 FMAs limit it. It wins where GEMM is starved: few input channels (first layer) and
    // 1x1 kernels with few output channels (memory bound heads).
    if (g.kh == 1 && g.kw == 1) return true;
    return std::ptrdiff_t(g.cin) * g.kh * g.kw < 64;
}

inline void bwdw_direct(const conv_geometry& g, const float* x, const float* dy, float* dw) {
    if (g.kh == 3)
        bwdw_run<3, 1, 3, 3>(g, x, dy, dw);
    else if (g.kh == 2)
        bwdw_run<3, 2, 2, 2>(g, x, dy, dw);
    else
        bwdw_run<4, 6, 1, 1>(g, x, dy, dw);
}

inline constexpr bool have_direct = true;
#else
inline constexpr bool have_direct = false;
inline bool bwdw_direct_supported(const conv_geometry&) noexcept { return false; }
#endif

inline bool use_direct(const conv_geometry& g) noexcept { return have_direct && g.stride == 1; }

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Fast float kernels
// ------------------------------------------------------------------------------------------------

inline std::size_t conv2d_forward_workspace_floats(const conv_geometry& g) {
    if (detail::use_direct(g)) return detail::direct_packed_floats(g.cout, g.cin, g.kh, g.kw);
    return detail::im2col_workspace_floats(g);
}

inline std::size_t conv2d_backward_data_workspace_floats(const conv_geometry& g) {
    if (detail::use_direct(g)) {
        const std::size_t ph = std::size_t(g.oh()) + 2 * std::size_t(g.kh - 1);
        const std::size_t pw = std::size_t(g.ow()) + 2 * std::size_t(g.kw - 1);
        return detail::round_up(detail::direct_packed_floats(g.cin, g.cout, g.kh, g.kw), 16) +
               std::size_t(g.cout) * ph * pw;
    }
    return detail::im2col_workspace_floats(g);
}

inline std::size_t conv2d_backward_weights_workspace_floats(const conv_geometry& g) {
    if (detail::bwdw_direct_supported(g)) return 0;
    return detail::im2col_workspace_floats(g);
}

inline const char* conv2d_forward_algorithm(const conv_geometry& g) {
    if (detail::use_direct(g)) {
        if (g.kh == 3 && g.kw == 3) return "direct-avx512 6x64 (3x3)";
        if (g.kh == 1 && g.kw == 1) return "direct-avx512 6x64 (1x1)";
        return "direct-avx512 6x64 (generic kernel size)";
    }
    return "im2col+eigen-gemm";
}

inline void conv2d_forward(const conv_geometry& g, const float* x, const float* w, const float* b, float* y,
                           float* ws) {
#if defined(__AVX512F__)
    if (detail::use_direct(g)) {
        const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
        detail::pack_direct_weights(
            g.cout, g.cin, g.kh, g.kw,
            [&](int co, int ci, int ky, int kx) { return w[(std::ptrdiff_t(co) * g.cin + ci) * kk + ky * g.kw + kx]; },
            ws);
        detail::direct_conv(g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, x, ws, b, y);
        return;
    }
#endif
    detail::gemm_forward(g, x, w, b, y, ws);
}

inline void conv2d_backward_data(const conv_geometry& g, const float* dy, const float* w, float* dx, float* ws) {
#if defined(__AVX512F__)
    if (detail::use_direct(g)) {
        // dx is the full correlation of dy (zero padded by k-1 on every side) with the weights
        // flipped in space and with input/output channels swapped.
        const int OH = g.oh(), OW = g.ow();
        const int ph = OH + 2 * (g.kh - 1), pw = OW + 2 * (g.kw - 1);
        const std::ptrdiff_t kk = std::ptrdiff_t(g.kh) * g.kw;
        float* wpk = ws;
        float* pad = ws + detail::round_up(detail::direct_packed_floats(g.cin, g.cout, g.kh, g.kw), 16);
        detail::pack_direct_weights(
            g.cin, g.cout, g.kh, g.kw,
            [&](int ci, int co, int ky, int kx) {
                return w[(std::ptrdiff_t(co) * g.cin + ci) * kk + (g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)];
            },
            wpk);
        const std::ptrdiff_t pplane = std::ptrdiff_t(ph) * pw, oplane = std::ptrdiff_t(OH) * OW;
        for (int n = 0; n < g.n; ++n) {
            const float* dyn = dy + std::ptrdiff_t(n) * g.cout * oplane;
#pragma omp parallel for schedule(static)
            for (int co = 0; co < g.cout; ++co) {
                float* p = pad + co * pplane;
                const float* s = dyn + co * oplane;
                std::fill(p, p + std::ptrdiff_t(g.kh - 1) * pw, 0.0f);
                for (int r = 0; r < OH; ++r) {
                    float* d = p + std::ptrdiff_t(r + g.kh - 1) * pw;
                    std::fill(d, d + (g.kw - 1), 0.0f);
                    std::memcpy(d + (g.kw - 1), s + std::ptrdiff_t(r) * OW, sizeof(float) * std::size_t(OW));
                    std::fill(d + (g.kw - 1) + OW, d + pw, 0.0f);
                }
                std::fill(p + std::ptrdiff_t(OH + g.kh - 1) * pw, p + pplane, 0.0f);
            }
            detail::direct_conv(1, g.cout, ph, pw, g.cin, g.kh, g.kw, pad, wpk, nullptr,
                                dx + std::ptrdiff_t(n) * g.cin * g.h * g.w);
        }
        return;
    }
#endif
    detail::gemm_backward_data(g, dy, w, dx, ws);
}

inline void conv2d_backward_weights(const conv_geometry& g, const float* x, const float* dy, float* dw, float* db,
                                    float* ws) {
#if defined(__AVX512F__)
    if (detail::bwdw_direct_supported(g)) {
        detail::bwdw_direct(g, x, dy, dw);
        if (db) {
            const std::ptrdiff_t P = std::ptrdiff_t(g.oh()) * g.ow();
#pragma omp parallel for schedule(static) if (std::ptrdiff_t(g.cout) * P * g.n > 65536)
            for (int co = 0; co < g.cout; ++co) {
                double s = 0.0;
                for (int n = 0; n < g.n; ++n) {
                    const float* d = dy + (std::ptrdiff_t(n) * g.cout + co) * P;
                    float part = 0.0f;
                    for (std::ptrdiff_t p = 0; p < P; ++p) part += d[p];
                    s += part;
                }
                db[co] += float(s);
            }
        }
        return;
    }
#endif
    detail::gemm_backward_weights(g, x, dy, dw, db, ws);
}

}  // namespace unetpp::backend::cpu_kernels
