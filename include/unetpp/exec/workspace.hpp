#pragma once
/// \file Memory planning: the workspace of a network, its named slots and the scoped loans that
/// lend a slot to a layer.
///
/// A forward or backward pass produces many results that die young: a pooling result once the
/// level below has read it, a concatenation once the decoder has read it, a gradient once the
/// layer before has consumed it. Instead of each layer keeping a buffer for such a result, a
/// network lends the layer a slot of its workspace for the call and takes it back afterwards, so
/// one buffer (grown to the largest use) serves every level and block. Which result may go where
/// is the network's plan (models/unet.hpp, nested_unet.hpp, classifier.hpp and
/// layers/sequential.hpp say why each loan is safe); this header holds the storage and the
/// mechanics, so that the rules for lending live in one place:
///
///   workspace<Tensor>     the slots, owned by a network (each network object has its own; a copy
///                         starts empty). share_workspace lets networks that never run at the
///                         same time (ensemble members, the stages of a cascade) use one.
///   bind_workspace        makes a workspace the one that the blocks inside a network's pass use
///                         (sequential finds it with current<Tensor>()); scopes nest. Outside any
///                         network (a block used on its own) each thread has a workspace of its own.
///   output_loan           a layer writes its output into a slot for the scope; at the end the
///                         slot holds the result and the layer is marked so that its backward
///                         throws (the result is not the layer's any more).
///   grad_loan             a layer writes its input gradient into a buffer for the scope.
///   fused_loan            the even fused slot is another buffer for the scope (a network lends
///                         its blocks a level buffer that is dead while the block runs).
///
/// Slots are grow-only: a pass at an already-seen shape allocates nothing. release() frees them
/// (after a one-off large image, say). Neither a workspace nor a network is meant to run passes
/// on two threads at once.

#include <array>
#include <cstddef>
#include <utility>

#include "../config/abi.hpp"
#include "../tensor/shape.hpp"

namespace unetpp::inline UNETPP_ABI::exec {

/// The named slots of a workspace (the comments say who writes each and when it dies).
enum class slot : std::size_t {
    // Results of a network's levels under inference_mode (unet, nested_unet, encoder_classifier):
    pool_up,    ///< a pooling result (dead once the next block read it) and an up-sampled map
                ///< (dead once concatenated, or once a decoder reading it in place has); then a
                ///< unet's level-0 decoder output when that decoder reads it in place
    merged,     ///< a concatenation (dead once the decoder read it); a classifier's encoder output
    level_out,  ///< the bottleneck's and the decoders' outputs (dead once up-sampled by the
                ///< level above; level 0's once the head has read it)
    // Gradients a unet passes between its levels in backward:
    dec_grad,    ///< the gradient of a decoder's input (dead once the skip split it)
    up_grad,     ///< the gradient of an up-sampled map (dead once the up-sampling's backward ran)
    below_grad,  ///< the gradient of a level's input from above (dead once the level below used it)
    pool_grad,   ///< the gradient of a pooling input, then that plus the skip's (dead once the
                 ///< encoder's backward ran)
    enc_grad,    ///< the gradient of an encoder's input below level 0 (dead once pooled back)
    // Inside a chain of layers (sequential):
    fused_even,  ///< under inference_mode: the result of a fused pair that only feeds the next
    fused_odd,   ///< fused pair; consecutive pairs alternate, so a pair never writes what it reads
    recompute,   ///< in training: the output of a norm or ReLU between two convolutions, written
                 ///< again in backward instead of kept
    count
};
inline constexpr std::size_t slot_count = static_cast<std::size_t>(slot::count);

/// Depths of nested chains (a sequential inside a sequential's backward) that get lent gradient
/// buffers; deeper chains keep their own.
inline constexpr int grad_lending_depths = 8;

template <class Tensor>
class fused_loan;

/// The buffers of a network (see the file comment).
template <class Tensor>
class workspace {
public:
    workspace() = default;
    /// A copy (of a network) starts with empty buffers: they only ever hold values of one pass.
    workspace(const workspace&) noexcept {}
    workspace& operator=(const workspace&) noexcept { return *this; }
    workspace(workspace&&) noexcept {}
    workspace& operator=(workspace&&) noexcept { return *this; }
    ~workspace() = default;

    /// The buffer of slot `s` (fused_even: the lent buffer while a fused_loan lives).
    Tensor& operator[](slot s) noexcept {
        if (s == slot::fused_even && fused_lent_) return *fused_lent_;
        return slots_[static_cast<std::size_t>(s)];
    }
    /// The fused slot of the k-th fused pair of a chain (even and odd pairs alternate).
    Tensor& fused(std::size_t k) noexcept { return (*this)[k % 2 == 0 ? slot::fused_even : slot::fused_odd]; }

    /// Gradient buffer `index % 2` of chain nesting depth `depth`, or null past
    /// grad_lending_depths (see layers/sequential.hpp).
    Tensor* lent_grad(int depth, std::size_t index) noexcept {
        if (depth < 0 || depth >= grad_lending_depths) return nullptr;
        return &grads_[static_cast<std::size_t>(depth)][index % 2];
    }
    /// Chain nesting depth of the running backward pass (a sequential's backward enters one level).
    int enter_backward() noexcept { return depth_++; }
    void leave_backward() noexcept { --depth_; }

    /// Bytes of storage the buffers hold now.
    [[nodiscard]] std::size_t bytes() const noexcept {
        std::size_t elements = 0;
        for (const auto& t : slots_) elements += t.capacity();
        for (const auto& pair : grads_)
            for (const auto& t : pair) elements += t.capacity();
        return elements * sizeof(typename Tensor::value_type);
    }
    /// Frees every buffer (the next pass allocates again). Not during a pass.
    void release() noexcept {
        for (auto& t : slots_) t = Tensor{};
        for (auto& pair : grads_)
            for (auto& t : pair) t = Tensor{};
    }

private:
    friend class fused_loan<Tensor>;
    std::array<Tensor, slot_count> slots_;
    std::array<std::array<Tensor, 2>, grad_lending_depths> grads_;
    Tensor* fused_lent_ = nullptr;
    int depth_ = 0;
};

/// Makes `ws` the workspace of the passes on this thread for the life of the scope (the previous
/// one comes back at its end). A network binds its own at the start of forward and backward.
template <class Tensor>
class bind_workspace {
public:
    explicit bind_workspace(workspace<Tensor>& ws) noexcept : previous_(std::exchange(bound(), &ws)) {}
    ~bind_workspace() { bound() = previous_; }
    bind_workspace(const bind_workspace&) = delete;
    bind_workspace& operator=(const bind_workspace&) = delete;
    /// The bound workspace of this thread, or null.
    static workspace<Tensor>*& bound() noexcept {
        thread_local workspace<Tensor>* ws = nullptr;
        return ws;
    }

private:
    workspace<Tensor>* previous_;
};

/// The workspace the running pass uses: the bound one, else this thread's own.
template <class Tensor>
workspace<Tensor>& current() noexcept {
    if (workspace<Tensor>* ws = bind_workspace<Tensor>::bound()) return *ws;
    thread_local workspace<Tensor> own;
    return own;
}

/// A network's workspace: its own, or one it shares with other networks (share_workspace).
template <class Tensor>
class workspace_handle {
public:
    workspace<Tensor>& get() noexcept { return shared_ ? *shared_ : own_; }
    /// Use `ws` from now on (it must outlive the network's passes); null: the network's own again.
    void share(workspace<Tensor>* ws) noexcept { shared_ = ws; }
    /// A copy uses its own workspace, empty, whatever the original used.
    workspace_handle() = default;
    workspace_handle(const workspace_handle&) noexcept {}
    workspace_handle& operator=(const workspace_handle&) noexcept { return *this; }

private:
    workspace<Tensor> own_;
    workspace<Tensor>* shared_ = nullptr;
};

/// A layer whose output buffer a network can exchange for a workspace slot (output_loan).
template <class L, class Tensor>
concept lends_output = requires(L& l, Tensor& t, const shape4& s) {
    l.swap_output(t);
    l.mark_fused_elsewhere(s);
};
/// A layer whose input-gradient buffer a network can exchange for a workspace buffer (grad_loan).
template <class L, class Tensor>
concept lends_grad = requires(L& l, Tensor& t) { l.swap_input_grad(t); };

/// While it lives, `layer` writes its output into `buffer`; at its end `buffer` holds the
/// result, the layer gets its own buffer back and is marked as having run an inference-only pass
/// on input shape `in` (its backward throws until the next forward). Also on an exception.
template <class Layer, class Tensor>
class output_loan {
public:
    output_loan(Layer& layer, Tensor& buffer, const shape4& in) noexcept : layer_(layer), buffer_(buffer), in_(in) {
        layer_.swap_output(buffer_);
    }
    ~output_loan() {
        layer_.swap_output(buffer_);
        layer_.mark_fused_elsewhere(in_);
    }
    output_loan(const output_loan&) = delete;
    output_loan& operator=(const output_loan&) = delete;

private:
    Layer& layer_;
    Tensor& buffer_;
    shape4 in_;
};

/// While it lives, `layer` writes its input gradient into `buffer` (and its own gradient buffer
/// waits in `buffer`'s place); at its end they are exchanged back, so `buffer` holds the gradient.
template <class Layer, class Tensor>
class grad_loan {
public:
    grad_loan(Layer& layer, Tensor& buffer) noexcept : layer_(layer), buffer_(buffer) { layer_.swap_input_grad(buffer_); }
    ~grad_loan() { layer_.swap_input_grad(buffer_); }
    grad_loan(const grad_loan&) = delete;
    grad_loan& operator=(const grad_loan&) = delete;

private:
    Layer& layer_;
    Tensor& buffer_;
};

/// While it lives, the even fused slot of `ws` is `t` instead of the slot's own buffer. `t` must
/// be dead for the scope and must not be the input of the block that runs in it.
template <class Tensor>
class fused_loan {
public:
    fused_loan(workspace<Tensor>& ws, Tensor& t) noexcept : ws_(ws), previous_(std::exchange(ws.fused_lent_, &t)) {}
    ~fused_loan() { ws_.fused_lent_ = previous_; }
    fused_loan(const fused_loan&) = delete;
    fused_loan& operator=(const fused_loan&) = delete;

private:
    workspace<Tensor>& ws_;
    Tensor* previous_;
};

/// Runs `run` (a forward of `layer` on input shape `in`) with the layer's output lent slot `s`
/// of `ws` when `lend` is set and the layer can be lent one, and returns where the result is: the
/// slot (the layer is then marked so that its backward throws) or the layer's own output.
template <class Layer, class Tensor, class F>
const Tensor& lent_forward(bool lend, workspace<Tensor>& ws, slot s, Layer& layer, const shape4& in, F&& run) {
    if constexpr (lends_output<Layer, Tensor>) {
        if (lend) {
            Tensor& buffer = ws[s];
            {
                const output_loan<Layer, Tensor> loan(layer, buffer, in);
                run();
            }
            return buffer;
        }
    }
    return run();
}

/// Runs `run` (the forward of a block on `input`) with the intermediate results of its fused
/// pairs in slot `s` of `ws` when `lend` is set (fused_loan), unless `input` is that slot's
/// buffer. The slot must be dead while the block runs.
template <class Tensor, class F>
const Tensor& with_fused_slot(bool lend, workspace<Tensor>& ws, slot s, const Tensor& input, F&& run) {
    Tensor& buffer = ws[s];
    if (!lend || &input == &buffer) return run();
    const fused_loan<Tensor> loan(ws, buffer);
    return run();
}

/// Runs `run` (a backward of `layer`) with the layer's input-gradient buffer lent slot `s` of
/// `ws`, and returns where the gradient is: the slot, or what `run` returned when that is not the
/// layer's gradient buffer (a layer that cannot be lent one, or returns another tensor).
template <class Layer, class Tensor, class F>
const Tensor& lent_backward(workspace<Tensor>& ws, slot s, Layer& layer, F&& run) {
    if constexpr (lends_grad<Layer, Tensor>) {
        Tensor& buffer = ws[s];
        const Tensor* g;
        typename Tensor::const_pointer result;
        {
            const grad_loan<Layer, Tensor> loan(layer, buffer);
            g = &run();
            result = g->data();
        }
        // When g was the layer's gradient buffer, its storage is now the slot's.
        if (std::as_const(buffer).data() == result) return buffer;
        return *g;
    } else {
        return run();
    }
}

}  // namespace unetpp::exec
