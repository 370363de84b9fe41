#pragma once
/// \file Kernel bodies of the data movement operations (backend/cpu/kernels/resample.hpp):
/// padding and its adjoint, window copies (crop, concatenation) and bilinear x2 upsampling. The
/// forwards are one item per output. The adjoints that add (reflect padding, upsampling) are
/// gathers, one item per input pixel, that visit the contributions in the order the CPU's scatter
/// adds them, so the sums are the CPU's bit for bit and need no atomics.

#include <cstddef>

#include "../../../config/abi.hpp"
#include "../../backend.hpp"
#include "../hd.hpp"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels::bodies {

using numeric::reflect_index;  // the CPU's, a device function under nvcc

/// One element of the padded tensor (planes x (h+2p) x (w+2p)).
struct pad_forward {
    const float* x;
    float* y;
    int h, w, p;
    backend::pad_kind kind;
    UNETPP_HD void operator()(std::ptrdiff_t o) const {
        const int ph = h + 2 * p, pw = w + 2 * p;
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(ph) * pw;
        const std::ptrdiff_t pl = o / per;
        const int r = static_cast<int>(o % per) / pw, col = static_cast<int>(o % per) % pw;
        const float* xp = x + pl * h * w;
        const int sr = r - p, sc = col - p;
        if (kind == backend::pad_kind::zero)
            y[o] = sr < 0 || sr >= h || sc < 0 || sc >= w ? 0.0f : xp[sr * w + sc];
        else
            y[o] = xp[reflect_index(sr, h) * w + reflect_index(sc, w)];
    }
};

/// One pixel (iy, ix) of the unpadded gradient: the centre value, then (reflect) every border
/// element that mirrors onto it, rows then columns ascending: the CPU's copy-then-fold order.
struct pad_backward {
    const float* dy;
    float* dx;
    int h, w, p;
    backend::pad_kind kind;
    /// The next padded index after `from` (exclusive) that maps to `target` in a dimension of `n`
    /// pixels padded by p (border indices only, plus the centre index target + p); -1 when none.
    UNETPP_HD int next_source(int from, int target, int n) const {
        for (int r = from + 1; r < n + 2 * p; ++r) {
            if (r < p || r >= p + n) {
                if (reflect_index(r - p, n) == target) return r;
                continue;
            }
            if (r - p <= target) return target + p;  // the one centre index that maps to target
            r = p + n - 1;                           // past it: on to the far border
        }
        return -1;
    }
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(h) * w;
        const std::ptrdiff_t pl = i / per;
        const int iy = static_cast<int>(i % per) / w, ix = static_cast<int>(i % per) % w;
        const int pw = w + 2 * p;
        const float* dyp = dy + pl * (h + 2 * p) * pw;
        float v = dyp[static_cast<std::ptrdiff_t>(iy + p) * pw + ix + p];
        if (kind == backend::pad_kind::reflect && p > 0) {
            for (int r = next_source(-1, iy, h); r >= 0; r = next_source(r, iy, h))
                for (int c = next_source(-1, ix, w); c >= 0; c = next_source(c, ix, w)) {
                    if (r == iy + p && c == ix + p) continue;  // the centre, copied first
                    v += dyp[static_cast<std::ptrdiff_t>(r) * pw + c];
                }
        }
        dx[i] = v;
    }
};

/// One element of the destination window: item of n * c * th * tw.
struct copy_window_to_channels {
    const float* src;
    int c, h, w, oy, ox, th, tw;
    float* dst;
    int c_total, c_offset;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const std::ptrdiff_t win = static_cast<std::ptrdiff_t>(th) * tw;
        const std::ptrdiff_t sc = i / win;  // sample * c + channel
        const std::ptrdiff_t s = sc / c, ch = sc % c;
        const int r = static_cast<int>(i % win) / tw, q = static_cast<int>(i % win) % tw;
        dst[((s * c_total + c_offset + ch) * th + r) * tw + q] = src[((s * c + ch) * h + oy + r) * w + ox + q];
    }
};
/// One element of the source-shaped gradient: the window's gradient inside, 0 outside.
struct copy_channels_to_window {
    const float* dst_grad;
    int c_total, c_offset, c, h, w, oy, ox, th, tw;
    float* src_grad;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(h) * w;
        const std::ptrdiff_t sc = i / per, s = sc / c, ch = sc % c;
        const int r = static_cast<int>(i % per) / w - oy, q = static_cast<int>(i % per) % w - ox;
        src_grad[i] = r < 0 || r >= th || q < 0 || q >= tw
                          ? 0.0f
                          : dst_grad[((s * c_total + c_offset + ch) * th + r) * tw + q];
    }
};

/// Source taps of output index o of a x2 bilinear upsampling, align_corners=False:
/// src = (o + 0.5) / 2 - 0.5 clamped at 0 (PyTorch's area_pixel_compute_source_index).
struct lerp_tap {
    int i0, i1;
    float l1;  // weight of i1; i0 gets 1 - l1
};
UNETPP_HD inline lerp_tap bilinear_tap(int o, int in) {
    float src = (static_cast<float>(o) + 0.5f) * 0.5f - 0.5f;
    if (src < 0) src = 0;
    const int i0 = static_cast<int>(src);
    const int i1 = i0 + 1 < in ? i0 + 1 : in - 1;
    return {i0, i1, src - static_cast<float>(i0)};
}

/// One output pixel of the upsampling (planes x 2h x 2w).
struct upsample_bilinear2x_forward {
    const float* x;
    float* y;
    int h, w;
    UNETPP_HD void operator()(std::ptrdiff_t o) const {
        const int oh = 2 * h, ow = 2 * w;
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(oh) * ow;
        const float* xp = x + (o / per) * h * w;
        const int oy = static_cast<int>(o % per) / ow, ox = static_cast<int>(o % per) % ow;
        const lerp_tap ty = bilinear_tap(oy, h), tx = bilinear_tap(ox, w);
        const float ly1 = ty.l1, ly0 = 1.0f - ly1, lx1 = tx.l1, lx0 = 1.0f - lx1;
        y[o] = ly0 * (lx0 * xp[ty.i0 * w + tx.i0] + lx1 * xp[ty.i0 * w + tx.i1]) +
               ly1 * (lx0 * xp[ty.i1 * w + tx.i0] + lx1 * xp[ty.i1 * w + tx.i1]);
    }
};

/// One input pixel (iy, ix) of the upsampling's gradient: the outputs whose taps reach it lie in
/// rows 2 iy - 2 .. 2 iy + 2 (columns likewise); they are visited rows then columns ascending, each
/// output's four taps in the CPU's order, so dx gets the CPU's sum exactly.
struct upsample_bilinear2x_backward {
    const float* dy;
    float* dx;
    int h, w;
    UNETPP_HD void operator()(std::ptrdiff_t i) const {
        const int oh = 2 * h, ow = 2 * w;
        const std::ptrdiff_t per = static_cast<std::ptrdiff_t>(h) * w;
        const float* dyp = dy + (i / per) * oh * ow;
        const int iy = static_cast<int>(i % per) / w, ix = static_cast<int>(i % per) % w;
        const int y0 = 2 * iy - 2 < 0 ? 0 : 2 * iy - 2, y1 = 2 * iy + 3 < oh ? 2 * iy + 3 : oh;
        const int x0 = 2 * ix - 2 < 0 ? 0 : 2 * ix - 2, x1 = 2 * ix + 3 < ow ? 2 * ix + 3 : ow;
        float v = 0.0f;
        for (int oy = y0; oy < y1; ++oy) {
            const lerp_tap ty = bilinear_tap(oy, h);
            if (ty.i0 != iy && ty.i1 != iy) continue;
            const float ly1 = ty.l1, ly0 = 1.0f - ly1;
            for (int ox = x0; ox < x1; ++ox) {
                const lerp_tap tx = bilinear_tap(ox, w);
                if (tx.i0 != ix && tx.i1 != ix) continue;
                const float lx1 = tx.l1, lx0 = 1.0f - lx1;
                const float g = dyp[static_cast<std::ptrdiff_t>(oy) * ow + ox];
                if (ty.i0 == iy && tx.i0 == ix) v += g * ly0 * lx0;
                if (ty.i0 == iy && tx.i1 == ix) v += g * ly0 * lx1;
                if (ty.i1 == iy && tx.i0 == ix) v += g * ly1 * lx0;
                if (ty.i1 == iy && tx.i1 == ix) v += g * ly1 * lx1;
            }
        }
        dx[i] = v;
    }
};

}  // namespace unetpp::cuda_kernels::bodies
