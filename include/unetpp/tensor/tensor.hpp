#pragma once
/// \file Owning, 64-byte-aligned NCHW tensor and non-owning views.
///
/// Layout: unetpp stores activations as NCHW (see docs/DESIGN.md for the measurement that chose
/// it). Users only see shapes and element access; kernels receive raw pointers.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <utility>

#include "shape.hpp"

namespace unetpp {

namespace memory {
/// Host (CPU) memory space. A device backend supplies its own space with the same interface.
struct host {
    static constexpr std::size_t alignment = 64;

    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
        void* p = std::aligned_alloc(alignment, rounded);
        if (!p) throw std::bad_alloc();
        counter().fetch_add(1, std::memory_order_relaxed);
        byte_counter().fetch_add(rounded, std::memory_order_relaxed);
        return p;
    }
    static void deallocate(void* p) noexcept { std::free(p); }

    /// Number of tensor allocations made so far in this process. Tests use it to prove that a
    /// forward pass at an already-seen shape allocates nothing.
    static std::size_t allocation_count() noexcept { return counter().load(std::memory_order_relaxed); }
    /// Bytes of those allocations, summed (frees are not subtracted).
    static std::size_t allocated_bytes() noexcept { return byte_counter().load(std::memory_order_relaxed); }

private:
    static std::atomic<std::size_t>& counter() noexcept {
        static std::atomic<std::size_t> c{0};
        return c;
    }
    static std::atomic<std::size_t>& byte_counter() noexcept {
        static std::atomic<std::size_t> c{0};
        return c;
    }
};
}  // namespace memory

/// Non-owning view of NCHW data (a whole tensor or a range of samples).
template <class T>
struct tensor_view {
    T* ptr = nullptr;
    shape4 shape{};

    [[nodiscard]] T* data() const noexcept { return ptr; }
    [[nodiscard]] std::size_t size() const noexcept { return shape.size(); }
    [[nodiscard]] T& operator()(int n, int c, int h, int w) const noexcept {
        return ptr[((static_cast<std::size_t>(n) * shape.c + c) * shape.h + h) * shape.w + w];
    }
    [[nodiscard]] std::span<T> span() const noexcept { return {ptr, size()}; }
};

/// Owning tensor of element type T (float for training and inference, double for gradient
/// checks). Storage is 64-byte aligned. `resize` keeps the storage when it is large enough, so
/// layers that resize their outputs every call allocate only when a larger shape first appears.
template <class T, class Memory = memory::host>
class tensor {
public:
    using value_type = T;
    using memory_space = Memory;

    tensor() = default;
    explicit tensor(shape4 s) { resize(s); zero(); }
    tensor(shape4 s, T fill_value) { resize(s); fill(fill_value); }
    tensor(shape4 s, std::initializer_list<T> values) {
        if (values.size() != s.size())
            throw std::invalid_argument("tensor: " + std::to_string(values.size()) +
                                        " values given for shape " + s.str() + " (needs " +
                                        std::to_string(s.size()) + ")");
        resize(s);
        std::copy(values.begin(), values.end(), data_.get());
    }

    tensor(const tensor& o) : tensor() { assign(o); }
    tensor& operator=(const tensor& o) {
        if (this != &o) assign(o);
        return *this;
    }
    tensor(tensor&& o) noexcept
        : shape_(std::exchange(o.shape_, shape4{0, 0, 0, 0})),
          capacity_(std::exchange(o.capacity_, 0)),
          data_(std::move(o.data_)) {}
    tensor& operator=(tensor&& o) noexcept {
        shape_ = std::exchange(o.shape_, shape4{0, 0, 0, 0});
        capacity_ = std::exchange(o.capacity_, 0);
        data_ = std::move(o.data_);
        return *this;
    }
    ~tensor() = default;

    /// Set the shape; contents are unspecified afterwards unless the size is unchanged.
    void resize(shape4 s) {
        if (s.n < 0 || s.c < 0 || s.h < 0 || s.w < 0)
            throw std::invalid_argument("tensor: negative dimension in shape " + s.str());
        const std::size_t need = s.size();
        if (need > capacity_) {
            data_.reset(static_cast<T*>(Memory::allocate(need * sizeof(T))));
            capacity_ = need;
        }
        shape_ = s;
    }
    /// Copy shape and contents of another tensor, reusing storage when possible.
    void assign(const tensor& o) {
        resize(o.shape_);
        if (o.size()) std::memcpy(data_.get(), o.data_.get(), o.size() * sizeof(T));
    }

    void fill(T v) noexcept { std::fill_n(data_.get(), size(), v); }
    void zero() noexcept {
        if (size()) std::memset(static_cast<void*>(data_.get()), 0, size() * sizeof(T));
    }

    [[nodiscard]] const shape4& shape() const noexcept { return shape_; }
    [[nodiscard]] std::size_t size() const noexcept { return shape_.size(); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] T* data() noexcept { return data_.get(); }
    [[nodiscard]] const T* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::span<T> span() noexcept { return {data_.get(), size()}; }
    [[nodiscard]] std::span<const T> span() const noexcept { return {data_.get(), size()}; }
    [[nodiscard]] T* begin() noexcept { return data_.get(); }
    [[nodiscard]] T* end() noexcept { return data_.get() + size(); }
    [[nodiscard]] const T* begin() const noexcept { return data_.get(); }
    [[nodiscard]] const T* end() const noexcept { return data_.get() + size(); }

    [[nodiscard]] T& operator[](std::size_t i) noexcept { return data_[i]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    [[nodiscard]] T& operator()(int n, int c, int h, int w) noexcept { return data_[index(n, c, h, w)]; }
    [[nodiscard]] const T& operator()(int n, int c, int h, int w) const noexcept {
        return data_[index(n, c, h, w)];
    }
    /// Bounds-checked element access.
    [[nodiscard]] T& at(int n, int c, int h, int w) {
        check_index(n, c, h, w);
        return data_[index(n, c, h, w)];
    }
    [[nodiscard]] const T& at(int n, int c, int h, int w) const {
        check_index(n, c, h, w);
        return data_[index(n, c, h, w)];
    }

    [[nodiscard]] tensor_view<T> view() noexcept { return {data_.get(), shape_}; }
    [[nodiscard]] tensor_view<const T> view() const noexcept { return {data_.get(), shape_}; }
    /// View of samples [first, first + count).
    [[nodiscard]] tensor_view<T> samples(int first, int count) {
        if (first < 0 || count < 0 || first + count > shape_.n)
            throw std::out_of_range("tensor::samples: range [" + std::to_string(first) + ", " +
                                    std::to_string(first + count) + ") outside batch of " +
                                    std::to_string(shape_.n));
        return {data_.get() + static_cast<std::size_t>(first) * shape_.sample_size(),
                shape4{count, shape_.c, shape_.h, shape_.w}};
    }

    /// Reinterpret the same elements with another shape of equal size (e.g. flatten).
    void reshape(shape4 s) {
        if (s.size() != size())
            throw std::invalid_argument("tensor::reshape: cannot view " + shape_.str() + " as " + s.str() +
                                        " (element counts differ)");
        shape_ = s;
    }

private:
    [[nodiscard]] std::size_t index(int n, int c, int h, int w) const noexcept {
        return ((static_cast<std::size_t>(n) * shape_.c + c) * shape_.h + h) * shape_.w + w;
    }
    void check_index(int n, int c, int h, int w) const {
        if (n < 0 || c < 0 || h < 0 || w < 0 || n >= shape_.n || c >= shape_.c || h >= shape_.h || w >= shape_.w)
            throw std::out_of_range("tensor::at: index (" + std::to_string(n) + ", " + std::to_string(c) + ", " +
                                    std::to_string(h) + ", " + std::to_string(w) + ") outside shape " +
                                    shape_.str());
    }
    struct deleter {
        void operator()(T* p) const noexcept { Memory::deallocate(p); }
    };

    shape4 shape_{0, 0, 0, 0};
    std::size_t capacity_ = 0;
    std::unique_ptr<T[], deleter> data_;
};

/// Largest absolute element-wise difference of two tensors of equal shape.
template <class T, class U>
[[nodiscard]] double max_abs_diff(const tensor<T>& a, const tensor<U>& b) {
    if (a.shape() != b.shape())
        throw std::invalid_argument("max_abs_diff: shapes " + a.shape().str() + " and " + b.shape().str() +
                                    " differ");
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    return m;
}

}  // namespace unetpp
