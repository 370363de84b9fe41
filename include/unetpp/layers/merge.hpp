#pragma once
/// \file Layers that combine or reshape feature maps by position: channel concatenation (with an
/// optional centre crop of the first input, the original U-Net's "copy and crop"), centre crop,
/// and residual addition. Two-input layers return both input gradients from backward.

#include <optional>
#include <string>
#include <utility>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "layer.hpp"

namespace unetpp::inline UNETPP_ABI {

/// Offset of a centred window of size `target` inside `size` (floor, as torchvision's center_crop
/// rounds the left/top margin down when the difference is odd).
constexpr int centre_offset(int size, int target) noexcept { return (size - target) / 2; }

/// y = cat([crop(a), b], dim=1): a is centre-cropped to b's height and width when `Crop` (the
/// sizes must otherwise match).
template <bool Crop, backend::backend_type B = backend::cpu, class T = float>
class concat_channels {
public:
    using tensor_type = tensor<T, typename B::memory>;

    static constexpr std::optional<shape4> try_output_shape(shape4 a, shape4 b) noexcept {
        if (a.n != b.n || !a.valid() || !b.valid()) return std::nullopt;
        if (Crop ? (a.h < b.h || a.w < b.w) : (a.h != b.h || a.w != b.w)) return std::nullopt;
        return shape4{a.n, a.c + b.c, b.h, b.w};
    }

    const tensor_type& forward(const tensor_type& a, const tensor_type& b) {
        const auto out = try_output_shape(a.shape(), b.shape());
        if (!out)
            throw shape_error(describe() + ": cannot join " + a.shape().str() + " with " + b.shape().str() +
                              (Crop ? "; the skip input must be at least as large as the upsampled one and the batch sizes equal"
                                    : "; both inputs need the same batch, height and width"));
        a_ = a.shape();
        b_ = b.shape();
        has_forward_ = true;
        inference_only_ = false;
        y_.resize(*out);
        const shape4 as = a.shape(), bs = b.shape();
        B::copy_window_to_channels(a.data(), as.n, as.c, as.h, as.w, centre_offset(as.h, bs.h), centre_offset(as.w, bs.w),
                                   bs.h, bs.w, y_.data(), out->c, 0);
        B::copy_window_to_channels(b.data(), bs.n, bs.c, bs.h, bs.w, 0, 0, bs.h, bs.w, y_.data(), out->c, as.c);
        return y_;
    }

    /// Gradients for a and b (a's is zero outside the cropped window).
    std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& dy) {
        if (!has_forward_) throw std::logic_error(describe() + ": backward called before forward");
        if (inference_only_)
            throw std::logic_error(describe() + ": backward after a forward run under unetpp::inference_mode, which "
                                                "keeps no intermediate results; run the forward pass again outside "
                                                "the inference_mode scope");
        if (dy.shape() != y_.shape())
            throw shape_error(describe() + ": output gradient has shape " + dy.shape().str() + ", expected " +
                              y_.shape().str());
        da_.resize(a_);
        db_.resize(b_);
        B::copy_channels_to_window(dy.data(), y_.shape().c, 0, a_.n, a_.c, a_.h, a_.w, centre_offset(a_.h, b_.h),
                                   centre_offset(a_.w, b_.w), b_.h, b_.w, da_.data());
        B::copy_channels_to_window(dy.data(), y_.shape().c, a_.c, b_.n, b_.c, b_.h, b_.w, 0, 0, b_.h, b_.w, db_.data());
        return {da_, db_};
    }
    const tensor_type& output() const noexcept { return y_; }
    static std::string describe() { return Crop ? "crop_concat" : "concat"; }

    /// Exchanges the output buffer with `other` (a network lends its short-lived results a shared
    /// buffer this way; see unet's level buffers), as layer_base::swap_output.
    void swap_output(tensor_type& other) noexcept { std::swap(y_, other); }
    /// Exchanges the buffer of b's gradient with `other`, as layer_base::swap_input_grad.
    void swap_second_input_grad(tensor_type& other) noexcept { std::swap(db_, other); }
    /// The last forward's output went to a buffer this layer does not own; backward throws until
    /// the next forward (see layer_base::mark_fused_elsewhere).
    void mark_fused_elsewhere(const shape4&) noexcept { inference_only_ = true; }

private:
    tensor_type y_, da_, db_;
    shape4 a_{}, b_{};
    bool has_forward_ = false;
    bool inference_only_ = false;
};

/// Centre crop to a run-time target size (set_target), e.g. to match an unpadded U-Net's output.
template <backend::backend_type B = backend::cpu, class T = float>
class center_crop : public layer_base<B, T> {
public:
    using tensor_type = typename layer_base<B, T>::tensor_type;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::optional<shape4> try_output_shape(shape4 in) noexcept {
        if (!in.valid()) return std::nullopt;
        return in;
    }
    void set_target(int h, int w) {
        if (h < 1 || w < 1) throw shape_error("center_crop: target size must be positive");
        th_ = h;
        tw_ = w;
    }
    shape4 output_shape(shape4 in) const {
        const int h = th_ ? th_ : in.h, w = tw_ ? tw_ : in.w;
        if (!in.valid() || h > in.h || w > in.w)
            throw shape_error("center_crop: cannot crop " + in.str() + " to " + std::to_string(h) + "x" +
                              std::to_string(w) + "; the target must not exceed the input");
        return {in.n, in.c, h, w};
    }
    const tensor_type& forward(const tensor_type& x) {
        const shape4 out = output_shape(x.shape());
        const shape4 s = x.shape();
        this->remember_input(s);
        this->y_.resize(out);
        B::copy_window_to_channels(x.data(), s.n, s.c, s.h, s.w, centre_offset(s.h, out.h), centre_offset(s.w, out.w),
                                   out.h, out.w, this->y_.data(), s.c, 0);
        return this->y_;
    }
    const tensor_type& backward(const tensor_type& x, const tensor_type& dy) {
        this->check_backward(describe(), x, dy);
        const shape4 s = x.shape(), o = dy.shape();
        this->dx_.resize(s);
        B::copy_channels_to_window(dy.data(), s.c, 0, s.n, s.c, s.h, s.w, centre_offset(s.h, o.h),
                                   centre_offset(s.w, o.w), o.h, o.w, this->dx_.data());
        return this->dx_;
    }
    static std::string describe() { return "center_crop"; }

private:
    int th_ = 0, tw_ = 0;
};

/// y = a + b (residual connection); both gradients equal dy.
template <backend::backend_type B = backend::cpu, class T = float>
class residual_add {
public:
    using tensor_type = tensor<T, typename B::memory>;
    const tensor_type& forward(const tensor_type& a, const tensor_type& b) {
        if (a.shape() != b.shape())
            throw shape_error("residual_add: shapes " + a.shape().str() + " and " + b.shape().str() +
                              " differ; the shortcut must produce the block's output shape");
        y_.resize(a.shape());
        B::add(a.data(), b.data(), y_.data(), static_cast<std::ptrdiff_t>(a.size()));
        return y_;
    }
    std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& dy) const { return {dy, dy}; }
    const tensor_type& output() const noexcept { return y_; }

private:
    tensor_type y_;
};

}  // namespace unetpp
