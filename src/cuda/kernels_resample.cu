// Launchers of the data movement kernels (include/unetpp/backend/cuda/kernels.hpp): padding,
// window copies, bilinear x2 upsampling. The work is in bodies/resample.hpp; the adjoints are
// gathers (one thread per input pixel), so nothing is added with atomics.

#include "unetpp/backend/cuda/bodies/resample.hpp"
#include "unetpp/backend/cuda/kernels.hpp"

#include "kernels_launch.cuh"

namespace unetpp::inline UNETPP_ABI_DEVICE::cuda_kernels {

using detail::launch_elementwise;

void pad_forward(cudaStream_t stream, const float* x, float* y, int planes, int h, int w, int p,
                 backend::pad_kind kind) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * (h + 2 * p) * (w + 2 * p),
                       bodies::pad_forward{x, y, h, w, p, kind}, "pad_forward");
}

void pad_backward(cudaStream_t stream, const float* dy, float* dx, int planes, int h, int w, int p,
                  backend::pad_kind kind) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * h * w, bodies::pad_backward{dy, dx, h, w, p, kind},
                       "pad_backward");
}

void copy_window_to_channels(cudaStream_t stream, const float* src, int n, int c, int h, int w, int oy, int ox,
                             int th, int tw, float* dst, int c_total, int c_offset) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * c * th * tw,
                       bodies::copy_window_to_channels{src, c, h, w, oy, ox, th, tw, dst, c_total, c_offset},
                       "copy_window_to_channels");
}

void copy_channels_to_window(cudaStream_t stream, const float* dst_grad, int c_total, int c_offset, int n, int c,
                             int h, int w, int oy, int ox, int th, int tw, float* src_grad) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(n) * c * h * w,
                       bodies::copy_channels_to_window{dst_grad, c_total, c_offset, c, h, w, oy, ox, th, tw, src_grad},
                       "copy_channels_to_window");
}

void upsample_bilinear2x_forward(cudaStream_t stream, const float* x, float* y, int planes, int h, int w) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * 4 * h * w,
                       bodies::upsample_bilinear2x_forward{x, y, h, w}, "upsample_bilinear2x_forward");
}

void upsample_bilinear2x_backward(cudaStream_t stream, const float* dy, float* dx, int planes, int h, int w) {
    launch_elementwise(stream, static_cast<std::ptrdiff_t>(planes) * h * w,
                       bodies::upsample_bilinear2x_backward{dy, dx, h, w}, "upsample_bilinear2x_backward");
}

}  // namespace unetpp::cuda_kernels
