#pragma once
/// \file Data movement kernels: padding (zero / reflect) and its adjoint, centre crop, channel
/// concatenation, bilinear x2 upsampling (PyTorch align_corners=False).

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "../../../tensor/numeric.hpp"
#include "parallel.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

using backend::pad_kind;  // backend/backend.hpp

using numeric::reflect_index;  // tensor/numeric.hpp

/// y (planes x (h+2p) x (w+2p)) = x padded by p on every side.
template <class T>
void pad_forward(const T* x, T* y, int planes, int h, int w, int p, pad_kind kind) {
    const int ph = h + 2 * p, pw = w + 2 * p;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * ph * pw > parallel_grain)
    for (int pl = 0; pl < planes; ++pl) {
        const T* xp = x + static_cast<std::ptrdiff_t>(pl) * h * w;
        T* yp = y + static_cast<std::ptrdiff_t>(pl) * ph * pw;
        for (int r = 0; r < ph; ++r) {
            T* row = yp + static_cast<std::ptrdiff_t>(r) * pw;
            const int sr = r - p;
            if (kind == pad_kind::zero && (sr < 0 || sr >= h)) {
                std::fill_n(row, pw, T(0));
                continue;
            }
            const T* src = xp + static_cast<std::ptrdiff_t>(kind == pad_kind::zero ? sr : reflect_index(sr, h)) * w;
            for (int c = 0; c < p; ++c) row[c] = kind == pad_kind::zero ? T(0) : src[reflect_index(c - p, w)];
            std::memcpy(row + p, src, sizeof(T) * static_cast<std::size_t>(w));
            for (int c = p + w; c < pw; ++c) row[c] = kind == pad_kind::zero ? T(0) : src[reflect_index(c - p, w)];
        }
    }
}

/// Adjoint of pad_forward: dx = gradient of the padded tensor folded back onto the original
/// pixels (zero padding drops the border; reflect padding adds each mirrored pixel to its source).
template <class T>
void pad_backward(const T* dy, T* dx, int planes, int h, int w, int p, pad_kind kind) {
    const int ph = h + 2 * p, pw = w + 2 * p;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * ph * pw > parallel_grain)
    for (int pl = 0; pl < planes; ++pl) {
        const T* dyp = dy + static_cast<std::ptrdiff_t>(pl) * ph * pw;
        T* dxp = dx + static_cast<std::ptrdiff_t>(pl) * h * w;
        for (int r = 0; r < h; ++r)
            std::memcpy(dxp + static_cast<std::ptrdiff_t>(r) * w, dyp + static_cast<std::ptrdiff_t>(r + p) * pw + p,
                        sizeof(T) * static_cast<std::size_t>(w));
        if (kind == pad_kind::zero) continue;
        for (int r = 0; r < ph; ++r) {
            const bool border_row = r < p || r >= p + h;
            const int sr = reflect_index(r - p, h);
            for (int c = 0; c < pw; ++c) {
                if (!border_row && c >= p && c < p + w) continue;
                dxp[static_cast<std::ptrdiff_t>(sr) * w + reflect_index(c - p, w)] +=
                    dyp[static_cast<std::ptrdiff_t>(r) * pw + c];
            }
        }
    }
}

/// Copy a (th x tw) window starting at (oy, ox) of each source plane into channels
/// [c_offset, c_offset + c) of a destination with c_total channels. Used by centre crop and
/// concatenation (a crop of offset 0 and full size is a plain copy).
template <class T>
void copy_window_to_channels(const T* src, int n, int c, int h, int w, int oy, int ox, int th, int tw, T* dst,
                             int c_total, int c_offset) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * th * tw > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int ch = 0; ch < c; ++ch) {
            const T* sp = src + ((static_cast<std::ptrdiff_t>(s) * c + ch) * h + oy) * w + ox;
            T* dp = dst + (static_cast<std::ptrdiff_t>(s) * c_total + c_offset + ch) * th * tw;
            if (tw == w) {
                std::memcpy(dp, sp, sizeof(T) * static_cast<std::size_t>(th) * tw);
            } else {
                for (int r = 0; r < th; ++r)
                    std::memcpy(dp + static_cast<std::ptrdiff_t>(r) * tw, sp + static_cast<std::ptrdiff_t>(r) * w,
                                sizeof(T) * static_cast<std::size_t>(tw));
            }
        }
}

/// Adjoint of copy_window_to_channels: gradient of the window written into a zeroed source-shaped
/// gradient (outside the window the gradient is 0).
template <class T>
void copy_channels_to_window(const T* dst_grad, int c_total, int c_offset, int n, int c, int h, int w, int oy, int ox,
                             int th, int tw, T* src_grad) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<std::ptrdiff_t>(n) * c * h * w > parallel_grain)
    for (int s = 0; s < n; ++s)
        for (int ch = 0; ch < c; ++ch) {
            T* sp = src_grad + (static_cast<std::ptrdiff_t>(s) * c + ch) * h * w;
            const T* dp = dst_grad + (static_cast<std::ptrdiff_t>(s) * c_total + c_offset + ch) * th * tw;
            if (th != h || tw != w) std::fill_n(sp, static_cast<std::ptrdiff_t>(h) * w, T(0));
            for (int r = 0; r < th; ++r)
                std::memcpy(sp + static_cast<std::ptrdiff_t>(oy + r) * w + ox, dp + static_cast<std::ptrdiff_t>(r) * tw,
                            sizeof(T) * static_cast<std::size_t>(tw));
        }
}

namespace detail {
/// Source coordinate for output index o of a x2 bilinear upsampling with align_corners=False:
/// src = (o + 0.5) / 2 - 0.5 clamped at 0 (PyTorch's area_pixel_compute_source_index).
struct lerp_tap {
    int i0, i1;
    float l1;  // weight of i1; i0 gets 1 - l1
};
constexpr lerp_tap bilinear_tap(int o, int in) noexcept {
    float src = (static_cast<float>(o) + 0.5f) * 0.5f - 0.5f;
    if (src < 0) src = 0;
    const int i0 = static_cast<int>(src);
    const int i1 = i0 + 1 < in ? i0 + 1 : in - 1;
    return {i0, i1, src - static_cast<float>(i0)};
}
}  // namespace detail

template <class T>
void upsample_bilinear2x_forward(const T* x, T* y, int planes, int h, int w) {
    const int oh = 2 * h, ow = 2 * w;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * oh * ow > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        const T* xp = x + static_cast<std::ptrdiff_t>(p) * h * w;
        T* yp = y + static_cast<std::ptrdiff_t>(p) * oh * ow;
        for (int oy = 0; oy < oh; ++oy) {
            const auto ty = detail::bilinear_tap(oy, h);
            const T ly1 = static_cast<T>(ty.l1), ly0 = T(1) - ly1;
            for (int ox = 0; ox < ow; ++ox) {
                const auto tx = detail::bilinear_tap(ox, w);
                const T lx1 = static_cast<T>(tx.l1), lx0 = T(1) - lx1;
                yp[static_cast<std::ptrdiff_t>(oy) * ow + ox] =
                    ly0 * (lx0 * xp[ty.i0 * w + tx.i0] + lx1 * xp[ty.i0 * w + tx.i1]) +
                    ly1 * (lx0 * xp[ty.i1 * w + tx.i0] + lx1 * xp[ty.i1 * w + tx.i1]);
            }
        }
    }
}

template <class T>
void upsample_bilinear2x_backward(const T* dy, T* dx, int planes, int h, int w) {
    const int oh = 2 * h, ow = 2 * w;
#pragma omp parallel for schedule(static) if (static_cast<std::ptrdiff_t>(planes) * oh * ow > parallel_grain)
    for (int p = 0; p < planes; ++p) {
        T* dxp = dx + static_cast<std::ptrdiff_t>(p) * h * w;
        std::fill_n(dxp, static_cast<std::ptrdiff_t>(h) * w, T(0));
        const T* dyp = dy + static_cast<std::ptrdiff_t>(p) * oh * ow;
        for (int oy = 0; oy < oh; ++oy) {
            const auto ty = detail::bilinear_tap(oy, h);
            const T ly1 = static_cast<T>(ty.l1), ly0 = T(1) - ly1;
            for (int ox = 0; ox < ow; ++ox) {
                const auto tx = detail::bilinear_tap(ox, w);
                const T lx1 = static_cast<T>(tx.l1), lx0 = T(1) - lx1;
                const T g = dyp[static_cast<std::ptrdiff_t>(oy) * ow + ox];
                dxp[ty.i0 * w + tx.i0] += g * ly0 * lx0;
                dxp[ty.i0 * w + tx.i1] += g * ly0 * lx1;
                dxp[ty.i1 * w + tx.i0] += g * ly1 * lx0;
                dxp[ty.i1 * w + tx.i1] += g * ly1 * lx1;
            }
        }
    }
}

}  // namespace unetpp::backend::cpu_kernels
