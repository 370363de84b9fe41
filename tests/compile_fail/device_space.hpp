#pragma once
// A memory space whose addresses the host may not dereference, for the compile_fail cases that
// prove a device tensor cannot be read on the host (not a test of its own: no .cpp suffix).
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <unetpp/tensor/tensor.hpp>

struct device_space {
    static constexpr bool host_accessible = false;
    template <class T>
    using pointer = unetpp::memory::device_ptr<T>;
    static void* allocate(std::size_t b) { return b ? std::malloc(b) : nullptr; }
    static void deallocate(void* p) noexcept { std::free(p); }
    static void copy(void* d, const void* s, std::size_t b) { std::memcpy(d, s, b); }
    static void copy_from_host(void* d, const void* s, std::size_t b) { std::memcpy(d, s, b); }
    static void copy_to_host(void* d, const void* s, std::size_t b) { std::memcpy(d, s, b); }
    static void zero(void* p, std::size_t b) { std::memset(p, 0, b); }
    template <class T>
    static void fill(T*, std::size_t, T) {}
};
