#pragma once
/// \file The backend contract: what a backend is, the operations it provides and their
/// descriptors. Layers, blocks and models include this header and no backend implementation;
/// `backend/cpu.hpp` is one implementation (xsimd + OpenMP), a device backend is another.
///
/// A backend is a type with
///   - `memory`, a memory space (tensor/memory.hpp): where its tensors live;
///   - `name` and `available` (false for a backend this build cannot run, with a reason);
///   - one static function per operation below, on pointers of its memory space
///     (`memory::pointer_t<memory, T>`: `T*` on the host, `device_ptr<T>` on a device).
/// There is no run-time dispatch: `unet<cfg, B>` hands B to every layer, each layer calls
/// `B::op(...)`. The `Backend` concept lists every operation; `static_assert(Backend<B>)` in a
/// backend's header checks it whole, and docs/DESIGN.md ("Adding a backend") lists them.
///
/// Operations take descriptors (geometries) by value or reference and do their own padding and
/// workspace management: a layer never sees a padded copy or a scratch buffer. This header needs
/// only the standard library, so g++ and nvcc read it alike.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "../config/abi.hpp"
#include "../tensor/memory.hpp"

namespace unetpp::inline UNETPP_ABI::backend {

/// How a convolution's border pixels are made: zeros, or the image mirrored without repeating the
/// edge (PyTorch padding_mode="reflect").
enum class pad_kind { zero, reflect };

/// Geometry of a 2-D cross-correlation (PyTorch Conv2d semantics, weight layout OIHW), with `pad`
/// pixels of padding of kind `padding` on all four sides; h and w are the sizes of the stored,
/// unpadded input:
///   y[n,co,oy,ox] = b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * xp[n,ci,oy*stride+ky,ox*stride+kx]
/// where xp is x padded.
struct conv_geometry {
    int n, cin, h, w;  // input, NCHW
    int cout, kh, kw;
    int stride = 1;
    int pad = 0;
    pad_kind padding = pad_kind::zero;
    constexpr int oh() const noexcept { return (h + 2 * pad - kh) / stride + 1; }
    constexpr int ow() const noexcept { return (w + 2 * pad - kw) / stride + 1; }
};

/// Geometry of a transposed convolution (PyTorch ConvTranspose2d, weight layout [in, out, k, k]).
struct conv_transpose_geometry {
    int n, cin, h, w;
    int cout, kh, kw;
    int stride = 2;
    int pad = 0;
    constexpr int oh() const noexcept { return stride * (h - 1) + kh - 2 * pad; }
    constexpr int ow() const noexcept { return stride * (w - 1) + kw - 2 * pad; }
};

/// Geometry of a depthwise k x k convolution (one filter per channel, weight [c, 1, k, k]), with
/// padding as conv_geometry's.
struct depthwise_geometry {
    int n, c, h, w;  // input, NCHW, unpadded
    int k;
    int stride = 1;
    int pad = 0;
    pad_kind padding = pad_kind::zero;
    constexpr int oh() const noexcept { return (h + 2 * pad - k) / stride + 1; }
    constexpr int ow() const noexcept { return (w + 2 * pad - k) / stride + 1; }
};

/// One SGD step's constants (optim/sgd.hpp has the update rule).
struct sgd_step {
    double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
    bool nesterov = false;
    bool first = true;  // the first step copies the gradient into the momentum buffer
};

/// One Adam step's constants (optim/adam.hpp has the update rule): step_size = lr / (1 - beta1^t),
/// inv_sqrt_c2 = 1 / sqrt(1 - beta2^t).
struct adam_step {
    double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
    bool decoupled_weight_decay = false;
    double step_size = 0, inv_sqrt_c2 = 1;
};

/// The layout of a loss's inputs (the loss operations below): logits and gradient
/// [n, c, plane]; the target has the logits' shape, or [n, 1, plane] for class indices
/// (multiclass_loss_params::index_target); per-pixel weights (a null pointer: none) are
/// [n, 1, plane], shared by the channels, when `shared_weights`, else the logits' shape.
/// include/unetpp/losses/ has the formulas; backend/loss_formulas.hpp their per-pixel terms.
struct loss_geometry {
    int n = 1, c = 1;
    std::ptrdiff_t plane = 1;
    bool shared_weights = false;
    [[nodiscard]] constexpr std::ptrdiff_t size() const noexcept {
        return static_cast<std::ptrdiff_t>(n) * c * plane;
    }
};

/// Which overlap score region_loss computes from TP, SP and ST (losses/region.hpp).
enum class region_kind { dice, iou, tversky };

/// The constants of region_loss: the score, its smoothing, Tversky's weights of false positives
/// (alpha) and false negatives (beta), and whether pixels pool per image (else per batch).
struct region_loss_params {
    region_kind kind = region_kind::dice;
    double smooth = 1.0, alpha = 0.3, beta = 0.7;
    bool per_image = false;
};

/// The constants of the softmax losses (losses/cross_entropy.hpp, losses/softmax_dice.hpp): the
/// target encoding (class indices [n, 1, plane], else one-hot / soft [n, c, plane]), the index
/// that marks pixels to skip, and softmax Dice's class 0, smoothing and pooling.
struct multiclass_loss_params {
    bool index_target = true;
    int ignore_index = -100;
    bool include_background = true;
    double smooth = 1e-5;
    bool per_image = true;
};

/// Which per-pixel loss pointwise_loss computes (losses/weighted_bce.hpp, losses/focal.hpp,
/// losses/mae.hpp): each pixel's term depends on its logit and target alone.
enum class pointwise_kind { weighted_bce, balanced_bce, focal, mae };

/// The constants of pointwise_loss: weighted_bce's pos_weight (a); balanced_bce's beta (a, the
/// batch's share of negative pixels, which the loss computes from the host target); focal's alpha
/// (a; negative: no class weight) and gamma (b); mae has none.
struct pointwise_loss_params {
    pointwise_kind kind = pointwise_kind::weighted_bce;
    double a = 1.0, b = 0.0;
};

// The CPU backend, declared here so that `class B = backend::cpu` can be every layer's default
// without every layer including the CPU kernels; backend/cpu.hpp defines it.
template <bool Fast>
struct basic_cpu;
/// The default backend: optimised CPU kernels (backend/cpu.hpp).
using cpu = basic_cpu<true>;
/// Reference CPU kernels (plain loops) for every type: the oracle for tests (backend/cpu.hpp).
using cpu_reference = basic_cpu<false>;

/// Whether B is a complete type: a backend declared (as backend::cpu is here) but whose header
/// was not included is not.
template <class B>
concept defined = requires { sizeof(B); };

/// The operations of a backend for element type T: the list a new backend implements
/// (docs/DESIGN.md, "Adding a backend"). P is a pointer to T in the backend's memory space, C the
/// pointer to const T, I a pointer to int32 (pooling's argmax), n an element count.
// backend-ops:begin
template <class B, class T, class P = memory::pointer_t<typename B::memory, T>,
          class C = memory::pointer_t<typename B::memory, const T>,
          class I = memory::pointer_t<typename B::memory, std::int32_t>,
          class CI = memory::pointer_t<typename B::memory, const std::int32_t>>
concept backend_operations = requires(P p, C c, I i, CI ci, std::ptrdiff_t n, int k, T s, bool flag, std::uint64_t seed,
                                      double d, const conv_geometry& conv, const conv_transpose_geometry& convt,
                                      const depthwise_geometry& dw, const sgd_step& sgd, const adam_step& adam,
                                      const loss_geometry& loss, const region_loss_params& region,
                                      const multiclass_loss_params& multiclass, const pointwise_loss_params& pointwise) {
    B::conv2d_forward(conv, c, c, c, p);                         // x, w, b (may be null), y
    B::conv2d_forward_fused(conv, c, c, c, c, c, flag, p);       // x, w, b, scale, shift, relu, y
    B::conv2d_backward_data(conv, c, c, p);                      // dy, w, dx (overwritten)
    B::conv2d_backward_weights(conv, c, c, p, p);                // x, dy, dw, db (added to)
    { B::conv2d_algorithm(conv) } -> std::convertible_to<std::string_view>;  // the forward's algorithm, for build_info
    B::conv_transpose2d_forward(convt, c, c, c, p);              // x, w, b, y
    B::conv_transpose2d_backward_data(convt, c, c, p);           // dy, w, dx
    B::conv_transpose2d_backward_weights(convt, c, c, p, p);     // x, dy, dw, db (added to)
    B::depthwise_conv2d_forward(dw, c, c, c, p);                 // x, w, b, y
    B::depthwise_conv2d_backward(dw, c, c, c, p, p, p);          // x, w, dy, dx, dw, db
    B::dense_forward(c, c, c, p, k, k, k);                       // x, w, b, y, n, in, out
    B::dense_backward(c, c, c, p, p, p, k, k, k);                // x, w, dy, dx, dw, db, n, in, out
    B::relu_forward(c, p, n);                                    // x, y
    B::relu_backward(c, c, p, n);                                // x, dy, dx
    B::leaky_relu_forward(c, p, n, s);                           // x, y, n, slope
    B::leaky_relu_backward(c, c, p, n, s);                       // x, dy, dx, n, slope
    B::sigmoid_forward(c, p, n);                                 // x, y
    B::sigmoid_backward(c, c, p, n);                             // y, dy, dx
    B::softmax_channels_forward(c, p, k, k, n);                  // x, y, n, c, plane
    B::softmax_channels_backward(c, c, p, k, k, n);              // y, dy, dx, n, c, plane
    B::multiply(c, c, p, n);                                     // y = a * b
    B::add(c, c, p, n);                                          // y = a + b
    B::accumulate(c, p, n);                                      // y += x
    B::scale(p, n, s);                                           // x *= s
    B::clamp(p, n, s, s);                                        // x = min(max(x, lo), hi)
    B::multiply_planes(c, c, p, k, k, n);                        // y[n,c] = x[n,c] * g[n,0]; n, c, plane
    B::multiply_planes_backward(c, c, c, p, p, k, k, n);         // x, g, dy, dx, dg (added to)
    B::max_pool2d_forward(c, p, i, k, k, k, k, k);               // x, y, argmax, planes, h, w, k, stride
    B::max_pool2d_backward(c, ci, p, k, k, k, k, k);             // dy, argmax, dx, planes, h, w, oh, ow
    B::max_pool2d_same_forward(c, p, i, k, k, k, k);             // x, y, argmax, planes, h, w, k (stride 1)
    B::global_avg_pool_forward(c, p, k, n);                      // x, y, planes, plane
    B::global_avg_pool_backward(c, p, k, n);                     // dy, dx, planes, plane
    B::batch_norm_forward_train(c, p, k, k, n, c, c, s, s, p, p, p, p, flag);
    // x, y, n, c, plane, gamma, beta, eps, momentum, running mean, running var, saved mean, saved invstd, relu
    B::batch_norm_apply_saved(c, p, k, k, n, c, c, c, c, flag);  // x, y, n, c, plane, gamma, beta, saved, relu
    B::batch_norm_forward_eval(c, p, k, k, n, c, c, s, c, c, flag);  // ..., eps, running mean, var, relu
    B::batch_norm_backward_train(c, c, p, k, k, n, c, c, c, p, p, c);
    // x, dy, dx, n, c, plane, gamma, saved mean, saved invstd, dgamma, dbeta, relu_out (may be null)
    B::batch_norm_backward_eval(c, c, p, k, k, n, c, s, c, c, p, p, c);
    // x, dy, dx, n, c, plane, gamma, eps, running mean, running var, dgamma, dbeta, relu_out
    B::batch_norm_fold(c, c, s, c, c, k, p, p);  // gamma, beta, eps, mean, var, c -> scale, shift
    B::pad_forward(c, p, k, k, k, k, pad_kind::zero);            // x, y, planes, h, w, pad, kind
    B::pad_backward(c, p, k, k, k, k, pad_kind::zero);           // dy (padded), dx, planes, h, w, pad, kind
    B::copy_window_to_channels(c, k, k, k, k, k, k, k, k, p, k, k);
    // src, n, c, h, w, oy, ox, th, tw, dst, c_total, c_offset
    B::copy_channels_to_window(c, k, k, k, k, k, k, k, k, k, k, p);
    // dst_grad, c_total, c_offset, n, c, h, w, oy, ox, th, tw, src_grad
    B::upsample_bilinear2x_forward(c, p, k, k, k);               // x, y, planes, h, w
    B::upsample_bilinear2x_backward(c, p, k, k, k);              // dy, dx, planes, h, w (of x)
    B::dropout_mask(p, n, d, seed);                              // mask, n, p: 0 or 1/(1-p), from seed
    B::sgd_update(p, c, p, n, sgd);                              // param, grad, momentum buffer
    B::adam_update(p, c, p, p, n, adam);                         // param, grad, m, v
    { B::sum_squares(c, n) } -> std::same_as<double>;           // in double, fixed order
    { B::all_finite(c, n) } -> std::same_as<bool>;              // no NaN, no infinity
    { B::bce_with_logits_loss(loss, c, c, c, p) } -> std::same_as<double>;
    // logits, target, weights, grad (null: none; else overwritten); returns the mean, reads back one value
    { B::region_loss(loss, c, c, c, p, region) } -> std::same_as<double>;
    // logits, target, weights, grad; Dice / IoU / Tversky on sigmoids; NaN for 0/0
    { B::cross_entropy_loss(loss, c, c, c, c, p, multiclass) } -> std::same_as<double>;
    // logits, target, weights, class weights (c values; null: all 1), grad
    { B::softmax_dice_loss(loss, c, c, c, p, multiclass) } -> std::same_as<double>;
    // logits, target, weights, grad
    { B::pointwise_loss(loss, c, c, c, p, pointwise) } -> std::same_as<double>;
    // logits, target, weights, grad; the mean of a per-pixel term (weighted: sum w l / sum w)
};
// backend-ops:end

/// A backend (this file's comment): a memory space, a name, and every operation for float.
template <class B>
concept Backend = defined<B> && requires {
    typename B::memory;
    { B::name } -> std::convertible_to<std::string_view>;
    { B::available } -> std::convertible_to<bool>;
} && memory::MemorySpace<typename B::memory> && backend_operations<B, float>;

/// What the backend parameter of a layer, block, model or optimiser must be: a class (the whole
/// contract, Backend, is asserted where each backend is defined). It is only a class test because
/// the default, backend::cpu, is still incomplete where most layers are named (it is declared
/// above and defined in backend/cpu.hpp), and a constraint must give the same answer wherever it is
/// checked. Every template that takes both puts the backend before the element type,
/// `<cfg..., B, T>` (docs/DESIGN.md, Naming), so a type spelled in the old order, such as
/// `conv2d<cfg, double>`, fails here with B = double instead of deep inside the layer.
/// (Spelled as a requires-expression: nvcc 13 rejects `std::is_class_v<B>` as an atomic
/// constraint inside unet's requires-expressions, "atomic constraint must have type bool".)
template <class B>
concept backend_type = requires { typename std::enable_if_t<std::is_class_v<B>>; };

/// Whether tensors of backend B may be read on the host (losses, metrics, image and file I/O
/// work on host tensors; a device backend's results are copied with to_host first).
template <class B>
inline constexpr bool host_backend = B::memory::host_accessible;

}  // namespace unetpp::backend
