#pragma once
/// \file The CUDA backend's run-time state: the caching device allocator and the per-thread
/// context (one stream, the cuDNN and cuBLAS handles bound to it, grow-only scratch memory and the
/// convolution plan cache). Defined in src/cuda/context.cpp, compiled into unetpp::cuda.
///
/// Every operation of backend::cuda runs on the calling thread's context: kernels, cuDNN and
/// cuBLAS calls and memory-space copies are enqueued on its stream in program order, so they need
/// no synchronisation between them; only results the host reads (copy_to_host, the two
/// reductions) wait for the stream. A device tensor belongs to one thread at a time.
///
/// "No cudaMalloc in a training step after warm-up" is what device_allocator's counters show:
/// freed blocks are cached (by size, on the stream that freed them) and handed out again, the
/// scratch slots and the cuBLAS workspace only grow, and convolution plans are built once per
/// geometry. g++ reads this header: it needs only <cuda_runtime_api.h>, a C header.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../../config/abi.hpp"

struct cudnnContext;   // cudnnHandle_t is cudnnContext*
struct cublasContext;  // cublasHandle_t is cublasContext*

namespace unetpp::inline UNETPP_ABI::cuda_runtime {

/// Throws std::runtime_error "unetpp cuda: <what>: <cudaGetErrorString>" unless status is cudaSuccess.
void check(cudaError_t status, const char* what);

/// Whether this process can use a CUDA device, and if not why (cudaGetDeviceCount's error text).
struct device_status {
    bool usable = false;
    int devices = 0;
    std::string reason;  // empty when usable
};
device_status probe_device();

/// One line for build_info(): the architectures unetpp::cuda was compiled for, the CUDA runtime,
/// cuDNN and cuBLAS versions, and device 0 (name, compute capability, memory) or why no device
/// is usable.
std::string summary();

/// Device memory, cached. allocate() reuses a freed block of a close size (at least the request,
/// at most twice it) before it asks the device; blocks go back to the device only on
/// release_cached(). Thread safe.
class device_allocator {
public:
    struct statistics {
        std::size_t requests = 0;            // allocate() calls for more than 0 bytes
        std::size_t device_allocations = 0;  // cudaMalloc calls: constant after warm-up
        std::size_t cache_hits = 0;          // requests served from the cache
        std::size_t bytes_reserved = 0;      // held from the device: in use plus cached
        std::size_t bytes_in_use = 0;
    };
    /// nullptr for 0 bytes; throws std::bad_alloc when the device is out of memory (after one
    /// retry with the cache released) and std::runtime_error for any other CUDA error.
    static void* allocate(std::size_t bytes);
    static void deallocate(void* p) noexcept;
    static statistics stats();
    /// Returns every cached (free) block to the device.
    static void release_cached();
    /// The size a request is rounded up to: 512-byte granules, whole MiB above 1 MiB.
    static constexpr std::size_t rounded_size(std::size_t bytes) noexcept {
        constexpr std::size_t small = 512, large = std::size_t(1) << 20;
        return bytes < large ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
    }
};

/// Named grow-only device buffers of a context. Two slots may be live in one operation (a
/// reflect-padded input and cuDNN's workspace), never one slot twice.
enum class scratch_slot : int { padded_input = 0, padded_grad = 1, conv_workspace = 2, reduction = 3, count = 4 };

class conv_plan_cache;  // src/cuda/conv_plans.cpp: cuDNN execution plans keyed by geometry

/// The calling thread's CUDA state, made on first use on the current device and destroyed (after
/// its stream drains) when the thread ends.
class context {
public:
    /// This thread's context; throws std::runtime_error when no device is usable.
    static context& current();
    /// This thread's stream if it has a context, else nullptr (the legacy default stream); never
    /// creates one.
    static cudaStream_t current_stream_if_any() noexcept;

    context(const context&) = delete;
    context& operator=(const context&) = delete;
    ~context();

    [[nodiscard]] cudaStream_t stream() const noexcept;
    [[nodiscard]] cudnnContext* cudnn() const noexcept;
    [[nodiscard]] cublasContext* cublas() const noexcept;
    /// At least `bytes` of device memory in slot s, valid until the slot is asked for more.
    /// Growing frees the old buffer on this stream, after the work already enqueued.
    void* scratch(scratch_slot s, std::size_t bytes);
    /// Bytes held by the scratch slots.
    [[nodiscard]] std::size_t scratch_bytes() const noexcept;
    conv_plan_cache& plans() noexcept;
    /// cuDNN execution plans built by this context so far: constant after warm-up.
    [[nodiscard]] std::size_t plans_built() const noexcept;
    /// Waits for everything enqueued on the stream; throws on an asynchronous error.
    void synchronize();
    /// TensorFloat-32 in cuDNN convolutions and cuBLAS products (off by default: results then
    /// match backend::cpu to float rounding; on is faster on Ampere and later).
    [[nodiscard]] bool tf32() const noexcept;
    void set_tf32(bool on);

private:
    context();
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace unetpp::cuda_runtime
