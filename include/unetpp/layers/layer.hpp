#pragma once
/// \file The layer contract shared by every layer, block and model.
///
/// A layer is a type with compile-time hyper-parameters and run-time state (parameters,
/// gradients, its last output). The contract, checked by the `Layer` concept:
///
///   using value_type, backend_type, tensor_type;
///   static constexpr std::size_t parameter_count;        // trainable scalars
///   static constexpr std::size_t buffer_count;           // non-trainable state (BN running stats)
///   static constexpr std::optional<shape4> try_output_shape(shape4 in);   // nullopt: impossible
///   shape4 output_shape(shape4 in) const;                 // throws naming the layer
///   const tensor_type& forward(const tensor_type& x);     // result owned by the layer
///   const tensor_type& backward(const tensor_type& x, const tensor_type& dy);
///        // x: the input of the last forward; returns dL/dx, ADDS dL/dparam to the gradients
///   const tensor_type& output() const;                    // result of the last forward
///   void train(bool); bool training() const;
///   void visit_parameters(std::string_view prefix, F f);  // f(name, value, grad)
///   void visit_buffers(std::string_view prefix, F f);     // f(name, value)
///   void init(rng&);                                      // re-initialise parameters
///
/// Layers own their output and gradient tensors and resize them per call, so repeated calls at
/// one shape allocate nothing.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../config/abi.hpp"
#include "../backend/backend.hpp"
#include "../exec/inference_mode.hpp"
#include "../tensor/rng.hpp"
#include "../tensor/tensor.hpp"

namespace unetpp::inline UNETPP_ABI {

/// A compile-time string usable as a template argument (layer names in blocks).
template <std::size_t N>
struct fixed_string {
    char data[N]{};
    constexpr fixed_string(const char (&s)[N]) { std::copy_n(s, N, data); }
    [[nodiscard]] constexpr std::string_view view() const noexcept { return {data, N - 1}; }
};

/// Error raised for a tensor whose shape a layer cannot take.
class shape_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// Joins a parameter-name prefix and a leaf name with a dot ("enc1.conv1" + "weight").
inline std::string join_name(std::string_view prefix, std::string_view leaf) {
    if (prefix.empty()) return std::string(leaf);
    std::string s;
    s.reserve(prefix.size() + 1 + leaf.size());
    s.append(prefix).append(".").append(leaf);
    return s;
}

/// A non-owning, type-erased reference to a parameter visitor, called as f(name, value, grad).
/// Models walk their layer tree with this one type whatever callable the user passes, so the walk
/// (and every layer's visit_parameters) is compiled once per model instead of once per callable:
/// a checkpoint writer, a loader, an optimiser and zero_grad then share one instantiation. The
/// referenced callable must outlive the reference (it is used only during the call it is made for).
template <class Tensor>
class parameter_visitor_ref {
public:
    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, parameter_visitor_ref>)
    parameter_visitor_ref(F& f) noexcept  // NOLINT(google-explicit-constructor): a reference adaptor
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* o, std::string_view name, Tensor& value, Tensor& grad) {
              (*static_cast<F*>(o))(name, value, grad);
          }) {}
    void operator()(std::string_view name, Tensor& value, Tensor& grad) const { call_(object_, name, value, grad); }

private:
    void* object_;
    void (*call_)(void*, std::string_view, Tensor&, Tensor&);
};

/// As parameter_visitor_ref, for buffer visitors called as f(name, value).
template <class Tensor>
class buffer_visitor_ref {
public:
    template <class F>
        requires(!std::same_as<std::remove_cvref_t<F>, buffer_visitor_ref>)
    buffer_visitor_ref(F& f) noexcept  // NOLINT(google-explicit-constructor): a reference adaptor
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* o, std::string_view name, Tensor& value) { (*static_cast<F*>(o))(name, value); }) {}
    void operator()(std::string_view name, Tensor& value) const { call_(object_, name, value); }

private:
    void* object_;
    void (*call_)(void*, std::string_view, Tensor&);
};

namespace detail {
struct param_visitor_archetype {
    template <class T>
    void operator()(std::string_view, tensor<T>&, tensor<T>&) const {}
};
struct buffer_visitor_archetype {
    template <class T>
    void operator()(std::string_view, tensor<T>&) const {}
};
}  // namespace detail

/// Channels a layer takes and produces, when fixed at compile time; `any_channels` for layers that
/// pass any channel count through (activations, pooling) or do not work on channels (dense).
inline constexpr int any_channels = -1;

/// In a layer or network configuration: the channel count is chosen at run time, when the
/// object is built (e.g. `unet_cfg{.in_channels = runtime_channels, .classes = runtime_channels}`
/// and `unet(seed, {.in_channels = 3, .classes = 4})`). The same value as any_channels, so the
/// compile-time channel bookkeeping accepts whatever count arrives; the object checks it.
inline constexpr int runtime_channels = any_channels;

/// The largest channel count a runtime_channels side takes (input bands or classes).
inline constexpr int max_runtime_channels = 4096;

/// "3", or "run-time" for runtime_channels (layer and network names in messages).
inline std::string channels_text(int c) { return c == runtime_channels ? std::string("run-time") : std::to_string(c); }

/// Throws std::invalid_argument unless 1 <= c <= max_runtime_channels; `what` names the side.
inline void check_runtime_channels(const std::string& what, int c) {
    if (c < 1 || c > max_runtime_channels)
        throw std::invalid_argument(what + ": " + std::to_string(c) + " is not a channel count; give 1 to " +
                                    std::to_string(max_runtime_channels));
}

namespace detail {
/// A compile-time count of a layer (parameters, multiply-adds) that exists only when its channel
/// counts are fixed at compile time; reading it for a runtime_channels layer is this error.
template <bool Known>
constexpr std::size_t compile_time_count(std::size_t n) noexcept {
    static_assert(Known, "this count depends on channel counts chosen at run time (runtime_channels): count the "
                         "object's parameters instead (e.g. net.count_parameters())");
    return n;
}

template <class L>
constexpr int in_channels_of() noexcept {
    if constexpr (requires { L::in_channels; })
        return L::in_channels;
    else
        return any_channels;
}
template <class L>
constexpr int out_channels_of() noexcept {
    if constexpr (requires { L::out_channels; })
        return L::out_channels;
    else
        return any_channels;
}
}  // namespace detail

/// The layer contract described in this file's header comment.
template <class L>
concept Layer = requires(L& l, const L& cl, const typename L::tensor_type& t, shape4 s, rng& r) {
    typename L::value_type;
    typename L::backend_type;
    { L::parameter_count } -> std::convertible_to<std::size_t>;
    { L::buffer_count } -> std::convertible_to<std::size_t>;
    { L::try_output_shape(s) } -> std::same_as<std::optional<shape4>>;
    { cl.output_shape(s) } -> std::same_as<shape4>;
    { l.forward(t) } -> std::same_as<const typename L::tensor_type&>;
    { l.backward(t, t) } -> std::same_as<const typename L::tensor_type&>;
    { cl.output() } -> std::same_as<const typename L::tensor_type&>;
    l.train(true);
    { cl.training() } -> std::same_as<bool>;
    l.visit_parameters(std::string_view{}, detail::param_visitor_archetype{});
    l.visit_buffers(std::string_view{}, detail::buffer_visitor_archetype{});
    l.init(r);
};

/// Told during backward when a layer's parameter gradients are final for this pass. Data-parallel
/// training listens, so that it can start summing a bucket of gradients over the ranks as soon as
/// every gradient in it is final, while backward goes on with the layers below
/// (dist::overlapped_exchange). Each parameterised layer reports its gradient tensors once per
/// backward, by the address of their data, after the last write to them.
class gradient_listener {
public:
    virtual void gradient_final(const void* grad_data) = 0;

protected:
    ~gradient_listener() = default;
};

/// Installs a gradient_listener on this thread for the life of the scope (the previous one, if
/// any, is restored at its end). Without one, layers report to no one, at the cost of one test.
class gradient_listener_scope {
public:
    explicit gradient_listener_scope(gradient_listener* listener) noexcept : previous_(slot()) { slot() = listener; }
    ~gradient_listener_scope() { slot() = previous_; }
    gradient_listener_scope(const gradient_listener_scope&) = delete;
    gradient_listener_scope& operator=(const gradient_listener_scope&) = delete;
    /// The listener of this thread, or null.
    [[nodiscard]] static gradient_listener* current() noexcept { return slot(); }

private:
    static gradient_listener*& slot() noexcept {
        thread_local gradient_listener* listener = nullptr;
        return listener;
    }
    gradient_listener* previous_;
};

/// State every layer shares: mode, the shape of the last forward input, the output buffer.
/// `Derived::layer_name` names the layer in error messages.
template <class B, class T>
class layer_base {
    static_assert(backend::defined<B>, "this backend is declared but its header was not included: for backend::cpu "
                                       "include <unetpp/backend/cpu.hpp> (or <unetpp/unet.hpp>, which includes it)");
    static_assert(B::available, "this backend is not available in this build (for backend::cuda: configure with "
                                "-DUNETPP_WITH_CUDA=ON, which needs the CUDA Toolkit and cuDNN, and link "
                                "unetpp::cuda)");

public:
    using value_type = T;
    using backend_type = B;
    using tensor_type = tensor<T, typename B::memory>;

    void train(bool on) noexcept { training_ = on; }
    [[nodiscard]] bool training() const noexcept { return training_; }
    /// Whether backward must compute the input gradient. The first layer of a network sets this
    /// to false (the image needs no gradient), which saves its backward-data pass; its backward
    /// then returns an empty tensor. Layers for which the input gradient is free ignore it.
    void need_input_grad(bool on) noexcept { need_input_grad_ = on; }
    [[nodiscard]] bool needs_input_grad() const noexcept { return need_input_grad_; }
    [[nodiscard]] const tensor_type& output() const noexcept { return y_; }
    /// The output buffer, resized to `out`, for a fused pass (see inference_mode) that computes
    /// this layer's output for input shape `in` without running the layer itself. The layer then
    /// counts as having run an inference-only forward: its backward throws until the next forward.
    tensor_type& fused_output(const shape4& in, const shape4& out) {
        remember_inference_input(in);
        y_.resize(out);
        return y_;
    }
    /// Exchanges the input-gradient buffer with `other`. sequential lends its layers shared
    /// buffers this way, so that a gradient which only passes from one layer of a chain to the
    /// previous one does not keep a buffer of its own (see sequential::backward).
    void swap_input_grad(tensor_type& other) noexcept { std::swap(dx_, other); }
    /// Exchanges the output buffer with `other`: under inference_mode a network lends a layer
    /// whose result is short-lived a shared buffer this way (see unet's level buffers), then
    /// takes it back and marks the layer with mark_fused_elsewhere.
    void swap_output(tensor_type& other) noexcept { std::swap(y_, other); }
    /// As fused_output, for a fused pass whose result went to a buffer the layer does not own:
    /// the layer's own output is left as it is (and is not this pass's result).
    void mark_fused_elsewhere(const shape4& in) noexcept { remember_inference_input(in); }
    template <class F>
    void visit_parameters(std::string_view, F&&) {}
    template <class F>
    void visit_buffers(std::string_view, F&&) {}
    void init(rng&) {}

protected:
    /// Records the input shape of a forward pass.
    void remember_input(const shape4& s) noexcept {
        in_shape_ = s;
        has_forward_ = true;
        inference_only_ = false;
    }
    /// Records the input shape of a fused inference-only forward, after which backward throws.
    void remember_inference_input(const shape4& s) noexcept {
        in_shape_ = s;
        has_forward_ = true;
        inference_only_ = true;
    }
    /// Tells this thread's gradient_listener, if any, that these gradient tensors are final for
    /// this backward pass (empty ones, such as an absent bias's, are left out).
    template <class... G>
    static void gradients_final(const G&... grads) {
        if (gradient_listener* l = gradient_listener_scope::current())
            ((grads.size() ? l->gradient_final(memory::address_of(grads.data())) : void()), ...);
    }
    /// Checks that backward receives the input and a gradient of the last forward's shapes.
    void check_backward(std::string_view layer, const tensor_type& x, const tensor_type& dy) const {
        check_backward(layer, x.shape(), dy);
    }
    /// The same for an input of shape `in` (a layer whose input is two tensors: conv2d::backward_two).
    void check_backward(std::string_view layer, const shape4& in, const tensor_type& dy) const {
        if (!has_forward_)
            throw std::logic_error(std::string(layer) + ": backward called before forward; run forward on the batch first");
        if (inference_only_)
            throw std::logic_error(std::string(layer) +
                                   ": backward after a forward run under unetpp::inference_mode, which keeps no "
                                   "intermediate results; run the forward pass again outside the inference_mode scope");
        if (in != in_shape_)
            throw shape_error(std::string(layer) + ": backward received input of shape " + in.str() +
                              " but the last forward saw " + in_shape_.str() + "; pass the same input to both");
        if (dy.shape() != y_.shape())
            throw shape_error(std::string(layer) + ": output gradient has shape " + dy.shape().str() +
                              ", expected the output shape " + y_.shape().str());
    }

    tensor_type y_;   // output of the last forward
    tensor_type dx_;  // input gradient of the last backward
    shape4 in_shape_{0, 0, 0, 0};
    bool has_forward_ = false;
    bool inference_only_ = false;  // the last forward was a fused inference-only pass
    bool training_ = true;
    bool need_input_grad_ = true;
};

/// Throws the shape_error of a layer that cannot take input `in`. Kept out of line and cold, so
/// that the message is built once here rather than inlined into every layer's shape check.
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_shape_error(std::string_view layer,
                                                                    std::string_view expectation, const shape4& in) {
    throw shape_error(std::string(layer) + ": cannot take input of shape " + in.str() + "; expected " +
                      std::string(expectation));
}

/// Throws a shape_error naming the layer when `try_output_shape` rejects the input.
template <class L>
shape4 checked_output_shape(std::string_view layer, std::string_view expectation, const shape4& in) {
    if (auto s = L::try_output_shape(in)) return *s;
    throw_shape_error(layer, expectation, in);
}

/// Fills with uniform values in [-bound, bound). The values are drawn on the host in element
/// order and copied into the tensor's memory space, so every backend starts from the same weights
/// for the same seed.
template <class T, class Memory>
void init_uniform(tensor<T, Memory>& t, rng& r, double bound) {
    if constexpr (Memory::host_accessible) {
        for (auto& v : t) v = static_cast<T>(r.uniform(-bound, bound));
    } else {
        tensor<T> h(t.shape());
        init_uniform(h, r, bound);
        t.assign(h);
    }
}

/// He (Kaiming) uniform initialisation for weights followed by ReLU: bound = sqrt(6 / fan_in),
/// which gives variance 2 / fan_in (He et al. 2015). Biases use PyTorch's default bound
/// 1 / sqrt(fan_in).
template <class T, class Memory>
void init_he(tensor<T, Memory>& weight, tensor<T, Memory>* bias, rng& r, std::size_t fan_in) {
    init_uniform(weight, r, std::sqrt(6.0 / static_cast<double>(fan_in)));
    if (bias) init_uniform(*bias, r, 1.0 / std::sqrt(static_cast<double>(fan_in)));
}

}  // namespace unetpp
