#pragma once
/// \file Owning, 64-byte-aligned NCHW tensor and non-owning views.
///
/// Layout: unetpp stores activations as NCHW (see docs/DESIGN.md for the measurement that chose
/// it). Users only see shapes and element access; kernels receive pointers of the tensor's memory
/// space (tensor/memory.hpp). Bulk operations (resize, assign, fill, zero, copies between spaces)
/// go through the memory space; element access, iterators, spans and views exist only where the
/// host may read the memory (`Memory::host_accessible`). A device tensor is read on the host by
/// copying it: `to_host(t)`, `t.copy_to_host(span)`.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../config/abi.hpp"
#include "memory.hpp"
#include "shape.hpp"

namespace unetpp::inline UNETPP_ABI {


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
/// checks) in memory space `Memory`. Storage is 64-byte aligned on the host. `resize` keeps the
/// storage when it is large enough, so layers that resize their outputs every call allocate only
/// when a larger shape first appears.
template <class T, class Memory = memory::host>
class tensor {
    static_assert(memory::MemorySpace<Memory>, "tensor: Memory must model unetpp::memory::MemorySpace");

public:
    using value_type = T;
    using memory_space = Memory;
    /// What data() hands out: T* in host memory, memory::device_ptr<T> in a device space.
    using pointer = memory::pointer_t<Memory, T>;
    using const_pointer = memory::pointer_t<Memory, const T>;
    /// Whether the host may read the elements (element access, iterators, spans and views).
    static constexpr bool host_accessible = Memory::host_accessible;

    tensor() = default;
    explicit tensor(shape4 s) { resize_zeroed(s); }
    tensor(shape4 s, T fill_value) { resize(s); fill(fill_value); }
    tensor(shape4 s, std::initializer_list<T> values) {
        if (values.size() != s.size())
            throw std::invalid_argument("tensor: " + std::to_string(values.size()) +
                                        " values given for shape " + s.str() + " (needs " +
                                        std::to_string(s.size()) + ")");
        resize(s);
        Memory::copy_from_host(data_.get(), values.begin(), values.size() * sizeof(T));
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
    void resize(shape4 s) { (void)set_shape(s, false); }
    /// Set the shape and zero every element. Where the storage grows in a memory space that can
    /// hand out zeroed memory (host: memory::host::allocate_zeroed), nothing is written, so pages
    /// never used afterwards take no physical memory.
    void resize_zeroed(shape4 s) {
        if (!set_shape(s, true)) zero();
    }
    /// Copy shape and contents of another tensor, reusing storage when possible.
    void assign(const tensor& o) {
        resize(o.shape_);
        Memory::copy(data_.get(), o.data_.get(), o.size() * sizeof(T));
    }
    /// Copy shape and contents of a tensor in another memory space (host <-> device).
    template <class Other>
        requires(!std::is_same_v<Other, Memory>)
    void assign(const tensor<T, Other>& o) {
        resize(o.shape());
        const std::size_t bytes = o.size() * sizeof(T);
        if constexpr (Other::host_accessible) {
            Memory::copy_from_host(data_.get(), memory::address_of(o.data()), bytes);
        } else if constexpr (Memory::host_accessible) {
            Other::copy_to_host(data_.get(), memory::address_of(o.data()), bytes);
        } else {  // device to another device space: through the host
            tensor<T, memory::host> staging;
            staging.assign(o);
            assign(staging);
        }
    }
    /// Copies the elements into host memory `dst`, which must hold size() elements.
    void copy_to_host(std::span<T> dst) const {
        if (dst.size() != size())
            throw std::invalid_argument("tensor::copy_to_host: destination holds " + std::to_string(dst.size()) +
                                        " elements, the tensor " + std::to_string(size()));
        Memory::copy_to_host(dst.data(), data_.get(), size() * sizeof(T));
    }
    /// Replaces the elements with `src` from host memory, which must hold size() elements.
    void copy_from_host(std::span<const T> src) {
        if (src.size() != size())
            throw std::invalid_argument("tensor::copy_from_host: source holds " + std::to_string(src.size()) +
                                        " elements, the tensor " + std::to_string(size()));
        Memory::copy_from_host(data_.get(), src.data(), size() * sizeof(T));
    }

    void fill(T v) { Memory::fill(data_.get(), size(), v); }
    void zero() { Memory::zero(data_.get(), size() * sizeof(T)); }

    [[nodiscard]] const shape4& shape() const noexcept { return shape_; }
    [[nodiscard]] std::size_t size() const noexcept { return shape_.size(); }
    /// Elements the storage holds (at least size(); resize never shrinks it).
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] pointer data() noexcept { return pointer(data_.get()); }
    [[nodiscard]] const_pointer data() const noexcept { return const_pointer(data_.get()); }

    // Host-side element access: only where the host may read the memory.
    [[nodiscard]] std::span<T> span() noexcept
        requires host_accessible
    {
        return {data_.get(), size()};
    }
    [[nodiscard]] std::span<const T> span() const noexcept
        requires host_accessible
    {
        return {data_.get(), size()};
    }
    [[nodiscard]] T* begin() noexcept
        requires host_accessible
    {
        return data_.get();
    }
    [[nodiscard]] T* end() noexcept
        requires host_accessible
    {
        return data_.get() + size();
    }
    [[nodiscard]] const T* begin() const noexcept
        requires host_accessible
    {
        return data_.get();
    }
    [[nodiscard]] const T* end() const noexcept
        requires host_accessible
    {
        return data_.get() + size();
    }

    [[nodiscard]] T& operator[](std::size_t i) noexcept
        requires host_accessible
    {
        return data_[i];
    }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept
        requires host_accessible
    {
        return data_[i];
    }
    [[nodiscard]] T& operator()(int n, int c, int h, int w) noexcept
        requires host_accessible
    {
        return data_[index(n, c, h, w)];
    }
    [[nodiscard]] const T& operator()(int n, int c, int h, int w) const noexcept
        requires host_accessible
    {
        return data_[index(n, c, h, w)];
    }
    /// Bounds-checked element access.
    [[nodiscard]] T& at(int n, int c, int h, int w)
        requires host_accessible
    {
        check_index(n, c, h, w);
        return data_[index(n, c, h, w)];
    }
    [[nodiscard]] const T& at(int n, int c, int h, int w) const
        requires host_accessible
    {
        check_index(n, c, h, w);
        return data_[index(n, c, h, w)];
    }

    [[nodiscard]] tensor_view<T> view() noexcept
        requires host_accessible
    {
        return {data_.get(), shape_};
    }
    [[nodiscard]] tensor_view<const T> view() const noexcept
        requires host_accessible
    {
        return {data_.get(), shape_};
    }
    /// View of samples [first, first + count).
    [[nodiscard]] tensor_view<T> samples(int first, int count)
        requires host_accessible
    {
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
    // Sets the shape, growing the storage when it is too small. Growing does not keep the
    // contents, so the old storage goes first: allocating the new one before would hold both at
    // once and raise the peak memory by the old size; if the allocation throws, the tensor is
    // left empty. With `zeroed`, new storage comes zero-filled where the memory space can hand it
    // out so (Memory::allocate_zeroed); returns whether it did.
    bool set_shape(shape4 s, bool zeroed) {
        if (s.n < 0 || s.c < 0 || s.h < 0 || s.w < 0)
            throw std::invalid_argument("tensor: negative dimension in shape " + s.str());
        const std::size_t need = s.size();
        bool fresh_zeros = false;
        if (need > capacity_) {
            data_.reset();
            capacity_ = 0;
            shape_ = shape4{0, 0, 0, 0};
            if constexpr (requires { Memory::allocate_zeroed(need); }) {
                fresh_zeros = zeroed;
                data_.reset(static_cast<T*>(zeroed ? Memory::allocate_zeroed(need * sizeof(T))
                                                   : Memory::allocate(need * sizeof(T))));
            } else {
                data_.reset(static_cast<T*>(Memory::allocate(need * sizeof(T))));
            }
            capacity_ = need;
        }
        shape_ = s;
        return fresh_zeros;
    }
    struct deleter {
        void operator()(T* p) const noexcept { Memory::deallocate(p); }
    };

    shape4 shape_{0, 0, 0, 0};
    std::size_t capacity_ = 0;
    std::unique_ptr<T[], deleter> data_;
};

/// A host copy of a tensor in any memory space (a plain copy for a host tensor).
template <class T, class Memory>
[[nodiscard]] tensor<T, memory::host> to_host(const tensor<T, Memory>& t) {
    tensor<T, memory::host> h;
    h.assign(t);
    return h;
}

/// A copy of a host tensor in memory space `Memory`.
template <class Memory, class T>
[[nodiscard]] tensor<T, Memory> to_memory(const tensor<T, memory::host>& t) {
    tensor<T, Memory> d;
    d.assign(t);
    return d;
}

/// `t` as a tensor of memory space `To` reads it, without a copy where it already lives there:
/// `t` itself when the spaces are the same, else `staging` after copying `t` into it (reusing
/// staging's storage). The trainer and tiled inference pass host batches to a device network and
/// read its logits back this way, so the host path copies nothing.
template <class To, class T, class From>
[[nodiscard]] const tensor<T, To>& in_space(const tensor<T, From>& t, tensor<T, To>& staging) {
    if constexpr (std::is_same_v<To, From>) {
        return t;
    } else {
        staging.assign(t);
        return staging;
    }
}
/// A temporary would be returned dangling where the spaces agree: keep the tensor in a variable.
template <class To, class T, class From>
const tensor<T, To>& in_space(tensor<T, From>&& t, tensor<T, To>& staging) = delete;

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
