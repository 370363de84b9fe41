#pragma once
/// \file What a U-Net is made of, before it is built: the configuration `unet_cfg` (a structural
/// aggregate passed as a template argument), the standard policies (`default_policies`: the block,
/// down, up, skip and head types of each level), and how models/unet.hpp reads them (the optional
/// bottleneck hook, and the corrected copy of a configuration that has mistakes).

#include <stdexcept>
#include <string>
#include <type_traits>

#include "../config/abi.hpp"
#include "../blocks/double_conv.hpp"
#include "../blocks/skip.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/sequential.hpp"
#include "../layers/upsample.hpp"

namespace unetpp::inline UNETPP_ABI {

enum class norm_kind { none, batch };

/// The boundary channel counts of a network object: image channels in, logit channels out.
struct io_channels {
    int in_channels = 0;
    int classes = 0;
    friend bool operator==(const io_channels&, const io_channels&) = default;
};
enum class up_mode {
    transposed,  ///< ConvTranspose2d(k=2, s=2) halving the channels (the original U-Net)
    bilinear,    ///< bilinear x2 upsampling followed by a 1x1 conv halving the channels
};

/// Configuration of a U-Net (a structural aggregate, used as a template argument).
/// `in_channels` and `classes` may be `runtime_channels`: the network is then built with its
/// counts, `unet<cfg>(seed, {.in_channels = 3, .classes = 4})`, and everything between the first
/// convolution and the head stays fixed at compile time (one type serves grey and colour images
/// and any number of classes, as the command-line programs need).
struct unet_cfg {
    int in_channels = 1;  ///< image channels (or runtime_channels)
    int classes = 1;      ///< output channels (logits) (or runtime_channels)
    int base = 64;        ///< channels of the first level; level L has base * 2^L
    int depth = 4;        ///< number of down-samplings (levels below the first)
    int kernel = 3;       ///< convolution kernel size in the level blocks
    padding pad = padding::same;
    norm_kind norm = norm_kind::batch;
    double dropout = 0.0;  ///< dropout after every level block (0 = none)
    up_mode up = up_mode::transposed;
};

/// The standard policies: double-conv blocks, 2x2 max pooling, transposed-conv or bilinear up,
/// concatenation skips (with centre crop for unpadded nets), a 1x1 convolution head.
struct default_policies {
    template <unet_cfg C, int In, int Out, class B, class T>
    using block = double_conv<double_conv_cfg{.in = In, .out = Out, .kernel = C.kernel, .pad = C.pad,
                                              .batch_norm = C.norm == norm_kind::batch, .dropout = C.dropout},
                              B, T>;
    template <unet_cfg C, int Channels, class B, class T>
    using down = max_pool2d<max_pool2d_cfg{.window = 2, .stride = 2}, B, T>;
    template <unet_cfg C, int In, int Out, class B, class T>
    using up = std::conditional_t<
        C.up == up_mode::transposed,
        conv_transpose2d<conv_transpose2d_cfg{.in = In, .out = Out, .kernel = 2, .stride = 2, .padding = 0}, B, T>,
        sequential<named<"upsample", upsample_bilinear2x<B, T>>,
                   named<"conv", conv2d<conv2d_cfg{.in = In, .out = Out, .kernel = 1, .pad = padding::valid}, B, T>>>>;
    template <unet_cfg C, int SkipChannels, int UpChannels, class B, class T>
    using skip = concat_skip<SkipChannels, UpChannels, C.pad == padding::valid, B, T>;
    template <unet_cfg C, int In, class B, class T>
    using head = conv2d<conv2d_cfg{.in = In, .out = C.classes, .kernel = 1, .pad = padding::valid}, B, T>;
};

namespace detail {
/// Optional policy hook: `P::bottleneck<C, In, Out, B, T>` replaces `P::block` for the bottom
/// level when a policy defines it (e.g. a residual bottleneck under plain level blocks).
template <class P, unet_cfg C, int In, int Out, class B, class T>
struct bottleneck_policy {
    using type = typename P::template block<C, In, Out, B, T>;
};
template <class P, unet_cfg C, int In, int Out, class B, class T>
    requires requires { typename P::template bottleneck<C, In, Out, B, T>; }
struct bottleneck_policy<P, C, In, Out, B, T> {
    using type = typename P::template bottleneck<C, In, Out, B, T>;
};
}  // namespace detail

namespace detail {
/// One boundary count of a network object (unet(seed, io_channels)): a runtime_channels one must
/// be given (1 to max_runtime_channels); a fixed one may be given as 0 or as its own value.
/// `what` names the network and the count in messages.
inline int boundary_count(int fixed, int given, const std::string& what) {
    if (fixed == runtime_channels) {
        check_runtime_channels(what, given);
        return given;
    }
    if (given != 0 && given != fixed)
        throw std::invalid_argument(what + " is fixed at " + std::to_string(fixed) + " by the configuration, but " +
                                    std::to_string(given) + " was given; give 0 or " + std::to_string(fixed));
    return fixed;
}

/// The configuration a unet builds its members from: `asked` when it is valid, otherwise `asked`
/// with every invalid field replaced by a harmless one. The class's static_asserts check
/// `asked` and report each mistake once; the members are then built from this corrected copy,
/// so one mistake gives one error instead of a cascade from every layer built with it.
constexpr unet_cfg usable_unet_cfg(unet_cfg asked) noexcept {
    unet_cfg c = asked;
    if (c.depth < 1 || c.depth > 10) c.depth = 1;
    if (c.in_channels < 1 && c.in_channels != runtime_channels) c.in_channels = 1;
    if (c.classes < 1 && c.classes != runtime_channels) c.classes = 1;
    if (c.base < 1 || c.base > ((1 << 20) >> c.depth)) c.base = 1;
    if (c.kernel < 1) c.kernel = 1;
    if (c.pad != padding::valid && c.kernel % 2 == 0) c.kernel += 1;
    if (!(c.dropout >= 0.0 && c.dropout < 1.0)) c.dropout = 0.0;
    return c;
}
}  // namespace detail

}  // namespace unetpp
