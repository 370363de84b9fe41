#pragma once
/// \file Memory spaces: where a tensor's elements live, and the `MemorySpace` contract.
///
/// A memory space is a type with static functions over raw addresses in that space:
///
///   static void* allocate(std::size_t bytes);                 // nullptr for 0 bytes; throws bad_alloc
///   static void deallocate(void* p) noexcept;
///   static void* allocate_zeroed(std::size_t bytes);          // optional: allocate, all bytes 0
///   static void copy(void* dst, const void* src, std::size_t bytes);           // within the space
///   static void copy_from_host(void* dst, const void* host_src, std::size_t bytes);
///   static void copy_to_host(void* host_dst, const void* src, std::size_t bytes);
///   static void zero(void* p, std::size_t bytes);
///   template <class T> static void fill(T* p, std::size_t n, T value);
///   template <class T> using pointer = ...;   // what tensor::data() hands out for elements of T
///   static constexpr bool host_accessible;    // may the host dereference its addresses?
///
/// `memory::host` is ordinary memory: its pointer type is `T*`. A device space (CUDA) sets
/// host_accessible to false and hands out `device_ptr<T>`, an address that the host can pass to
/// the backend's kernels, offset and compare, but not dereference: `t[i]`, `*t.data()` or a range
/// loop over a device tensor is a compile error rather than a crash. This header needs only the
/// standard library, so g++ and nvcc read it alike.

#include <algorithm>
#include <atomic>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::memory {

/// An address in memory the host cannot read (see the file comment). It converts to the
/// pointer-to-const of the same address and supports offsets and comparison; the raw address is
/// there for a backend's kernels only, under a name that says so.
template <class T>
class device_ptr {
public:
    using element_type = T;

    constexpr device_ptr() noexcept = default;
    constexpr device_ptr(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor): null is null anywhere
    constexpr explicit device_ptr(T* address) noexcept : p_(address) {}
    template <class U>
        requires(std::is_convertible_v<U*, T*> && !std::is_same_v<U, T>)
    constexpr device_ptr(device_ptr<U> o) noexcept : p_(o.device_address()) {}  // NOLINT: T* -> const T*

    /// The address in device memory, to hand to a kernel that runs there. Never dereference it
    /// on the host.
    [[nodiscard]] constexpr T* device_address() const noexcept { return p_; }
    constexpr explicit operator bool() const noexcept { return p_ != nullptr; }

    constexpr device_ptr operator+(std::ptrdiff_t k) const noexcept { return device_ptr(p_ + k); }
    constexpr device_ptr operator-(std::ptrdiff_t k) const noexcept { return device_ptr(p_ - k); }
    constexpr device_ptr& operator+=(std::ptrdiff_t k) noexcept { return p_ += k, *this; }
    constexpr std::ptrdiff_t operator-(device_ptr o) const noexcept { return p_ - o.p_; }
    constexpr bool operator==(const device_ptr&) const noexcept = default;
    constexpr auto operator<=>(const device_ptr&) const noexcept = default;
    constexpr bool operator==(std::nullptr_t) const noexcept { return p_ == nullptr; }

private:
    T* p_ = nullptr;
};

/// The raw address behind a pointer of any memory space: the pointer itself for host memory,
/// the device address for a device_ptr. For backends, which run their kernels on raw addresses.
template <class T>
[[nodiscard]] constexpr T* address_of(T* p) noexcept {
    return p;
}
template <class T>
[[nodiscard]] constexpr T* address_of(device_ptr<T> p) noexcept {
    return p.device_address();
}

/// The contract in this file's comment.
template <class M>
concept MemorySpace = requires(void* p, const void* cp, std::size_t bytes, float* fp, float v) {
    { M::allocate(bytes) } -> std::same_as<void*>;
    M::deallocate(p);
    M::copy(p, cp, bytes);
    M::copy_from_host(p, cp, bytes);
    M::copy_to_host(p, cp, bytes);
    M::zero(p, bytes);
    M::fill(fp, bytes, v);
    typename M::template pointer<float>;
    typename M::template pointer<const float>;
    { M::host_accessible } -> std::convertible_to<bool>;
    requires std::is_convertible_v<typename M::template pointer<float>, typename M::template pointer<const float>>;
};

/// `pointer_t<M, T>`: what a tensor in memory space M hands out for elements of type T.
template <class M, class T>
using pointer_t = typename M::template pointer<T>;

/// Host (CPU) memory, 64-byte aligned. Counts its allocations so that tests can prove a forward
/// pass at an already-seen shape allocates nothing.
struct host {
    static constexpr std::size_t alignment = 64;
    static constexpr bool host_accessible = true;
    template <class T>
    using pointer = T*;

    static void* allocate(std::size_t bytes) { return allocate_block(bytes, false); }
    /// Zero-filled memory. It comes from calloc, which takes a large block fresh from the operating
    /// system (already zero) without writing it, so the pages of a zeroed tensor that the program
    /// never touches take no physical memory: the gradients of a network that only runs inference
    /// cost address space, not RAM.
    static void* allocate_zeroed(std::size_t bytes) { return allocate_block(bytes, true); }
    static void deallocate(void* p) noexcept {
        if (p) std::free(static_cast<void**>(p)[-1]);
    }
    static void copy(void* dst, const void* src, std::size_t bytes) noexcept {
        if (bytes) std::memcpy(dst, src, bytes);
    }
    static void copy_from_host(void* dst, const void* src, std::size_t bytes) noexcept { copy(dst, src, bytes); }
    static void copy_to_host(void* dst, const void* src, std::size_t bytes) noexcept { copy(dst, src, bytes); }
    static void zero(void* p, std::size_t bytes) noexcept {
        if (bytes) std::memset(p, 0, bytes);
    }
    template <class T>
    static void fill(T* p, std::size_t n, T value) noexcept {
        std::fill_n(p, n, value);
    }

    /// Number of tensor allocations made so far in this process.
    static std::size_t allocation_count() noexcept { return counter().load(std::memory_order_relaxed); }
    /// Bytes of those allocations, summed (frees are not subtracted).
    static std::size_t allocated_bytes() noexcept { return byte_counter().load(std::memory_order_relaxed); }

private:
    // malloc or calloc of `alignment` bytes more, the returned address rounded up to `alignment`
    // and the block's own address stored just before it (malloc's blocks are 16-byte aligned, so
    // there are at least 16 bytes to hold it), for deallocate.
    static void* allocate_block(std::size_t bytes, bool zeroed) {
        if (bytes == 0) return nullptr;
        const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
        if (rounded < bytes || rounded + alignment < rounded) throw std::bad_alloc();
        void* raw = zeroed ? std::calloc(rounded + alignment, 1) : std::malloc(rounded + alignment);
        if (!raw) throw std::bad_alloc();
        const std::uintptr_t a = (reinterpret_cast<std::uintptr_t>(raw) + alignment) & ~std::uintptr_t(alignment - 1);
        void* p = reinterpret_cast<void*>(a);
        static_cast<void**>(p)[-1] = raw;
        counter().fetch_add(1, std::memory_order_relaxed);
        byte_counter().fetch_add(rounded, std::memory_order_relaxed);
        return p;
    }
    static std::atomic<std::size_t>& counter() noexcept {
        static std::atomic<std::size_t> c{0};
        return c;
    }
    static std::atomic<std::size_t>& byte_counter() noexcept {
        static std::atomic<std::size_t> c{0};
        return c;
    }
};

static_assert(MemorySpace<host>);

}  // namespace unetpp::memory
