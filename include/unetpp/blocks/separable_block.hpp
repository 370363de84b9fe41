#pragma once
/// \file The B-Cir U-Net skip path (seed 003, Table 1): each skip connection runs the encoder's
/// feature map through a block of depthwise-separable convolutions before it is concatenated
/// with the upsampled map.
///
///   sep1 -> bn1 -> ReLU -> sep2 -> bn2 -> ReLU -> sep3 -> ReLU -> sep4 -> pool (2x2, stride 1)
///
/// Every separable convolution keeps the channel count and has no bias (Table 1's counts:
/// C*k*k + C*C per layer), the pooling keeps the size (Keras MaxPooling2D(2, strides=1,
/// padding="same")). `bcir_skip` is the skip policy that wraps the block for `unet`:
/// y = dropout(cat([up, block(skip)])), concatenating in Keras's order (upsampled map first).
///
/// Parameter names: skip{L}.path.sep1.depthwise.weight, skip{L}.path.bn1.weight, ...

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../layers/activations.hpp"
#include "../layers/batch_norm2d.hpp"
#include "../layers/depthwise_conv2d.hpp"
#include "../layers/dropout.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/merge.hpp"
#include "../layers/sequential.hpp"

namespace unetpp {

/// Configuration of the B-Cir separable skip block.
struct separable_block_cfg {
    int channels = 16;
    int kernel = 3;       ///< separable kernel (Table 1's counts imply 3; see docs/ARCHITECTURES.md)
    int pool = 2;         ///< stride-1 "same" max-pool window at the end of the path
    double bn_eps = 1e-3;         ///< Keras BatchNormalization defaults
    double bn_momentum = 0.01;    ///< PyTorch convention (Keras momentum 0.99)
};

template <separable_block_cfg C, class T = float, class B = backend::cpu>
using separable_block = sequential<
    named<"sep1", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, T, B>>,
    named<"bn1", batch_norm2d<batch_norm2d_cfg{.channels = C.channels, .momentum = C.bn_momentum, .eps = C.bn_eps, .relu = true}, T, B>>,
    named<"sep2", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, T, B>>,
    named<"bn2", batch_norm2d<batch_norm2d_cfg{.channels = C.channels, .momentum = C.bn_momentum, .eps = C.bn_eps, .relu = true}, T, B>>,
    named<"sep3", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, T, B>>,
    named<"relu3", relu<T, B>>,
    named<"sep4", separable_conv2d<separable_conv2d_cfg{.in = C.channels, .out = C.channels, .kernel = C.kernel, .pad = padding::same, .bias = false}, T, B>>,
    named<"pool", max_pool2d_same<C.pool, T, B>>>;

/// Skip policy of the B-Cir U-Net: y = dropout(cat([up, separable_block(skip)])).
/// Implements the two-input backward `backward(skip, up, dy)` that unet calls for skip policies
/// with parameters on their inputs. Parameter names: path.*.
template <int SkipChannels, int UpChannels, separable_block_cfg Path, double Dropout, class T = float,
          class B = backend::cpu>
class bcir_skip {
    static_assert(Path.channels == SkipChannels, "bcir_skip: the separable block must keep the skip's channels");
    using path_t = separable_block<Path, T, B>;
    using concat_t = concat_channels<false, T, B>;
    using drop_t = dropout<Dropout, T, B>;

public:
    using tensor_type = tensor<T, typename B::memory>;
    static constexpr int out_channels = SkipChannels + UpChannels;
    static constexpr std::size_t parameter_count = path_t::parameter_count;
    static constexpr std::size_t buffer_count = path_t::buffer_count;

    static constexpr std::optional<shape4> try_output_shape(shape4 skip, shape4 up) noexcept {
        if (skip.c != SkipChannels || up.c != UpChannels) return std::nullopt;
        const auto p = path_t::try_output_shape(skip);
        return p ? concat_t::try_output_shape(up, *p) : std::nullopt;
    }
    const tensor_type& forward(const tensor_type& skip, const tensor_type& up) {
        if (!try_output_shape(skip.shape(), up.shape()))
            throw shape_error(describe() + ": cannot join skip " + skip.shape().str() + " with upsampled " +
                              up.shape().str() + "; expected " + std::to_string(SkipChannels) + " and " +
                              std::to_string(UpChannels) + " channels of one size");
        const tensor_type& m = concat_.forward(up, path_.forward(skip));
        return drop_.forward(m);
    }
    /// (dskip, dup) for the inputs of the last forward.
    std::pair<const tensor_type&, const tensor_type&> backward(const tensor_type& skip, const tensor_type& up,
                                                               const tensor_type& dy) {
        (void)up;
        const tensor_type& dm = drop_.backward(concat_.output(), dy);
        auto [dup, dpath] = concat_.backward(dm);
        const tensor_type& dskip = path_.backward(skip, dpath);
        return {dskip, dup};
    }
    const tensor_type& output() const noexcept { return drop_.output(); }
    void train(bool on) {
        path_.train(on);
        drop_.train(on);
    }
    void init(rng& r) {
        path_.init(r);
        drop_.init(r);
    }
    template <class F>
    void visit_parameters(std::string_view prefix, F&& f) {
        path_.visit_parameters(join_name(prefix, "path"), f);
    }
    template <class F>
    void visit_buffers(std::string_view prefix, F&& f) {
        path_.visit_buffers(join_name(prefix, "path"), f);
    }
    auto& path() noexcept { return path_; }
    static std::string describe() {
        return "bcir_skip<skip=" + std::to_string(SkipChannels) + ", up=" + std::to_string(UpChannels) + ">";
    }

private:
    path_t path_;
    concat_t concat_;
    drop_t drop_;
};

}  // namespace unetpp
