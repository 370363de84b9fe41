#pragma once
// A backend whose memory the host may not read: host memory that declares itself a device space
// (memory::device_ptr pointers, host_accessible = false), with every operation forwarded to
// backend::cpu after unwrapping its pointers. A network that compiles and runs on it touches its
// tensors only through backend operations and memory-space copies, as a CUDA backend needs, and
// computes exactly what backend::cpu computes. Test support only; not installed.
//
// The forwarding is strict: an argument that is a raw pointer (a host address where the
// contract wants one of the backend's pointers) is a compile error naming the operation.

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include <unetpp/backend/backend.hpp>
#include <unetpp/backend/cpu.hpp>

namespace unetpp::test {

/// Host memory posing as a device: counts its allocations and its transfers to and from the host.
struct fake_device_memory {
    static constexpr std::size_t alignment = 64;
    static constexpr bool host_accessible = false;
    template <class T>
    using pointer = memory::device_ptr<T>;

    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        void* p = std::aligned_alloc(alignment, (bytes + alignment - 1) / alignment * alignment);
        if (!p) throw std::bad_alloc();
        ++stats().allocations;
        return p;
    }
    static void deallocate(void* p) noexcept { std::free(p); }
    static void copy(void* dst, const void* src, std::size_t bytes) noexcept {
        if (bytes) std::memmove(dst, src, bytes);
    }
    static void copy_from_host(void* dst, const void* src, std::size_t bytes) noexcept {
        ++stats().uploads;
        copy(dst, src, bytes);
    }
    static void copy_to_host(void* dst, const void* src, std::size_t bytes) noexcept {
        ++stats().downloads;
        copy(dst, src, bytes);
    }
    static void zero(void* p, std::size_t bytes) noexcept {
        if (bytes) std::memset(p, 0, bytes);
    }
    template <class T>
    static void fill(T* p, std::size_t n, T v) noexcept {
        for (std::size_t i = 0; i < n; ++i) p[i] = v;
    }

    struct counters {
        std::size_t allocations = 0, uploads = 0, downloads = 0;
    };
    static counters& stats() noexcept {
        static counters c;
        return c;
    }
};

namespace detail {
template <class A>
decltype(auto) unwrap(A&& a) {
    using D = std::remove_cvref_t<A>;
    static_assert(!std::is_pointer_v<D>,
                  "fake_device_backend: an operation received a raw (host) pointer; a device backend takes only "
                  "pointers of its memory space (tensor::data())");
    if constexpr (requires { a.device_address(); })
        return a.device_address();
    else
        return std::forward<A>(a);
}
}  // namespace detail

/// The backend over fake_device_memory. Inner is the backend that computes (backend::cpu).
template <class Inner = backend::cpu>
struct fake_device_backend {
    using memory = fake_device_memory;
    static constexpr bool available = true;
    static constexpr bool is_reference = Inner::is_reference;
    static constexpr std::string_view name = "fake_device";

#define UNETPP_FAKE_OP(op)                                                     \
    template <class... A>                                                      \
    static decltype(auto) op(A&&... a) {                                       \
        return Inner::op(detail::unwrap(std::forward<A>(a))...);               \
    }
    UNETPP_FAKE_OP(conv2d_forward)
    UNETPP_FAKE_OP(conv2d_forward_fused)
    UNETPP_FAKE_OP(conv2d_backward_data)
    UNETPP_FAKE_OP(conv2d_backward_weights)
    UNETPP_FAKE_OP(conv2d_algorithm)
    UNETPP_FAKE_OP(conv_transpose2d_forward)
    UNETPP_FAKE_OP(conv_transpose2d_backward_data)
    UNETPP_FAKE_OP(conv_transpose2d_backward_weights)
    UNETPP_FAKE_OP(depthwise_conv2d_forward)
    UNETPP_FAKE_OP(depthwise_conv2d_backward)
    UNETPP_FAKE_OP(dense_forward)
    UNETPP_FAKE_OP(dense_backward)
    UNETPP_FAKE_OP(relu_forward)
    UNETPP_FAKE_OP(relu_backward)
    UNETPP_FAKE_OP(leaky_relu_forward)
    UNETPP_FAKE_OP(leaky_relu_backward)
    UNETPP_FAKE_OP(sigmoid_forward)
    UNETPP_FAKE_OP(sigmoid_backward)
    UNETPP_FAKE_OP(softmax_channels_forward)
    UNETPP_FAKE_OP(softmax_channels_backward)
    UNETPP_FAKE_OP(multiply)
    UNETPP_FAKE_OP(add)
    UNETPP_FAKE_OP(accumulate)
    UNETPP_FAKE_OP(scale)
    UNETPP_FAKE_OP(clamp)
    UNETPP_FAKE_OP(multiply_planes)
    UNETPP_FAKE_OP(multiply_planes_backward)
    UNETPP_FAKE_OP(max_pool2d_forward)
    UNETPP_FAKE_OP(max_pool2d_backward)
    UNETPP_FAKE_OP(max_pool2d_same_forward)
    UNETPP_FAKE_OP(global_avg_pool_forward)
    UNETPP_FAKE_OP(global_avg_pool_backward)
    UNETPP_FAKE_OP(batch_norm_forward_train)
    UNETPP_FAKE_OP(batch_norm_apply_saved)
    UNETPP_FAKE_OP(batch_norm_forward_eval)
    UNETPP_FAKE_OP(batch_norm_backward_train)
    UNETPP_FAKE_OP(batch_norm_backward_eval)
    UNETPP_FAKE_OP(batch_norm_fold)
    UNETPP_FAKE_OP(pad_forward)
    UNETPP_FAKE_OP(pad_backward)
    UNETPP_FAKE_OP(copy_window_to_channels)
    UNETPP_FAKE_OP(copy_channels_to_window)
    UNETPP_FAKE_OP(upsample_bilinear2x_forward)
    UNETPP_FAKE_OP(upsample_bilinear2x_backward)
    UNETPP_FAKE_OP(dropout_mask)
    UNETPP_FAKE_OP(sgd_update)
    UNETPP_FAKE_OP(adam_update)
    UNETPP_FAKE_OP(sum_squares)
    UNETPP_FAKE_OP(all_finite)
    UNETPP_FAKE_OP(bce_with_logits_loss)
    UNETPP_FAKE_OP(region_loss)
    UNETPP_FAKE_OP(cross_entropy_loss)
    UNETPP_FAKE_OP(softmax_dice_loss)
    UNETPP_FAKE_OP(pointwise_loss)
#undef UNETPP_FAKE_OP
};

static_assert(memory::MemorySpace<fake_device_memory>);
static_assert(backend::Backend<fake_device_backend<>>);
static_assert(!backend::host_backend<fake_device_backend<>>);

}  // namespace unetpp::test
