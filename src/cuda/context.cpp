// The CUDA backend's run-time state (include/unetpp/backend/cuda/context.hpp): the caching device
// allocator, the per-thread context and the device memory space's copies.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <array>
#include <cstddef>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <unetpp/backend/cuda.hpp>
#include <unetpp/backend/cuda/context.hpp>
#include <unetpp/backend/cuda/kernels.hpp>

#include "conv_plans.hpp"

namespace unetpp::inline UNETPP_ABI::cuda_runtime {

void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess)
        throw std::runtime_error(std::string("unetpp cuda: ") + what + ": " + cudaGetErrorString(status));
}

device_status probe_device() {
    device_status s;
    const cudaError_t e = cudaGetDeviceCount(&s.devices);
    if (e != cudaSuccess) {
        s.devices = 0;
        s.reason = cudaGetErrorString(e);
        (void)cudaGetLastError();  // cleared, so that later calls report their own errors
    } else if (s.devices == 0) {
        s.reason = "no CUDA device found";
    } else {
        s.usable = true;
    }
    return s;
}

std::string summary() {
    std::string s = "compiled for sm_";
    for (const char c : std::string(UNETPP_CUDA_ARCHITECTURES))
        s += c == ',' ? std::string(", sm_") : std::string(1, c);
    int runtime = 0;
    (void)cudaRuntimeGetVersion(&runtime);
    int cublas_major = 0, cublas_minor = 0;
    (void)cublasGetProperty(MAJOR_VERSION, &cublas_major);
    (void)cublasGetProperty(MINOR_VERSION, &cublas_minor);
    const std::size_t cudnn = cudnnGetVersion();  // major * 10000 + minor * 100 + patch in cuDNN 9
    s += "; CUDA runtime " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) + ", cuDNN " +
         std::to_string(cudnn / 10000) + "." + std::to_string(cudnn % 10000 / 100) + "." + std::to_string(cudnn % 100) +
         ", cuBLAS " + std::to_string(cublas_major) + "." + std::to_string(cublas_minor) + "; ";
    const device_status d = probe_device();
    if (!d.usable) return s + "no usable device: " + d.reason;
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        return s + std::to_string(d.devices) + " device(s), properties unreadable";
    }
    return s + "device 0: " + prop.name + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
           std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

// --- device_allocator ---------------------------------------------------------------------------
namespace {

struct cached_block {
    void* p;
    cudaStream_t stream;  // the stream that freed it: reuse on another stream waits for that one
};

struct allocator_state {
    std::mutex mutex;
    std::multimap<std::size_t, cached_block> free_blocks;  // by size
    std::unordered_map<void*, std::size_t> live;           // address -> rounded size
    device_allocator::statistics stats;

    // Frees every cached block; the caller holds the mutex.
    void release_locked() noexcept {
        for (auto& [size, b] : free_blocks) {
            if (b.stream) (void)cudaStreamSynchronize(b.stream);
            (void)cudaFree(b.p);
            stats.bytes_reserved -= size;
        }
        free_blocks.clear();
    }
    // Blocks freed on `s` become usable on any stream (s is about to be destroyed, and drained).
    void forget_stream(cudaStream_t s) noexcept {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& [size, b] : free_blocks)
            if (b.stream == s) b.stream = nullptr;
    }
};

// Never destroyed: tensors freed during static destruction still find it.
allocator_state& allocator() {
    static auto* s = new allocator_state;
    return *s;
}

}  // namespace

void* device_allocator::allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t size = rounded_size(bytes);
    const cudaStream_t stream = context::current_stream_if_any();
    auto& a = allocator();
    {
        std::lock_guard<std::mutex> lock(a.mutex);
        ++a.stats.requests;
        // The smallest cached block that fits, if it wastes at most half of itself.
        if (const auto it = a.free_blocks.lower_bound(size); it != a.free_blocks.end() && it->first <= 2 * size) {
            const cached_block b = it->second;
            if (b.stream && b.stream != stream) check(cudaStreamSynchronize(b.stream), "waiting for a freed block");
            a.live.emplace(b.p, it->first);
            a.stats.bytes_in_use += it->first;
            ++a.stats.cache_hits;
            a.free_blocks.erase(it);
            return b.p;
        }
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        release_cached();
        e = cudaMalloc(&p, size);
    }
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        throw std::bad_alloc();
    }
    check(e, "cudaMalloc");
    std::lock_guard<std::mutex> lock(a.mutex);
    ++a.stats.device_allocations;
    a.stats.bytes_reserved += size;
    a.stats.bytes_in_use += size;
    a.live.emplace(p, size);
    return p;
}

void device_allocator::deallocate(void* p) noexcept {
    if (!p) return;
    auto& a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    const auto it = a.live.find(p);
    if (it == a.live.end()) return;  // not ours: never happens for memory::cuda_device tensors
    a.stats.bytes_in_use -= it->second;
    a.free_blocks.emplace(it->second, cached_block{p, context::current_stream_if_any()});
    a.live.erase(it);
}

device_allocator::statistics device_allocator::stats() {
    auto& a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    return a.stats;
}

void device_allocator::release_cached() {
    auto& a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    a.release_locked();
}

// --- context --------------------------------------------------------------------------------------
namespace {
thread_local context* this_thread_context = nullptr;

void check_cudnn(cudnnStatus_t s, const char* what) {
    if (s != CUDNN_STATUS_SUCCESS)
        throw std::runtime_error(std::string("unetpp cuda: ") + what + ": " + cudnnGetErrorString(s));
}
void check_cublas(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error(std::string("unetpp cuda: ") + what + ": " + cublasGetStatusString(s));
}

// cuBLAS gets a fixed workspace of its own, so that it never allocates inside a step.
constexpr std::size_t cublas_workspace_bytes = std::size_t(32) << 20;
}  // namespace

struct context::impl {
    cudaStream_t stream = nullptr;
    cudnnHandle_t cudnn = nullptr;
    cublasHandle_t cublas = nullptr;
    void* cublas_workspace = nullptr;
    std::array<void*, static_cast<std::size_t>(scratch_slot::count)> scratch{};
    std::array<std::size_t, static_cast<std::size_t>(scratch_slot::count)> scratch_size{};
    std::unique_ptr<conv_plan_cache> plans;
    bool tf32 = false;

    impl() = default;
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    // Also cleans up after a constructor that threw half-way.
    ~impl() {
        if (stream) (void)cudaStreamSynchronize(stream);
        plans.reset();
        for (void* p : scratch) device_allocator::deallocate(p);
        device_allocator::deallocate(cublas_workspace);
        if (stream) allocator().forget_stream(stream);
        if (cublas) (void)cublasDestroy(cublas);
        if (cudnn) (void)cudnnDestroy(cudnn);
        if (stream) (void)cudaStreamDestroy(stream);
    }
};

context::context() : impl_(std::make_unique<impl>()) {
    const device_status d = probe_device();
    if (!d.usable) throw std::runtime_error("unetpp cuda: no usable CUDA device: " + d.reason);
    check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cudnn(cudnnCreate(&impl_->cudnn), "cudnnCreate");
    check_cudnn(cudnnSetStream(impl_->cudnn, impl_->stream), "cudnnSetStream");
    check_cublas(cublasCreate(&impl_->cublas), "cublasCreate");
    check_cublas(cublasSetStream(impl_->cublas, impl_->stream), "cublasSetStream");
    check_cublas(cublasSetMathMode(impl_->cublas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
    impl_->cublas_workspace = device_allocator::allocate(cublas_workspace_bytes);
    check_cublas(cublasSetWorkspace(impl_->cublas, impl_->cublas_workspace, cublas_workspace_bytes),
                 "cublasSetWorkspace");
    impl_->plans = std::make_unique<conv_plan_cache>(impl_->cudnn);
}

context::~context() {
    if (this_thread_context == this) this_thread_context = nullptr;
}

context& context::current() {
    // Made once per thread; the destructor runs at thread exit (for the main thread, at exit()).
    thread_local std::unique_ptr<context> mine;
    if (!mine) {
        mine.reset(new context());
        this_thread_context = mine.get();
    }
    return *mine;
}

cudaStream_t context::current_stream_if_any() noexcept {
    return this_thread_context ? this_thread_context->impl_->stream : nullptr;
}

cudaStream_t context::stream() const noexcept { return impl_->stream; }
cudnnContext* context::cudnn() const noexcept { return impl_->cudnn; }
cublasContext* context::cublas() const noexcept { return impl_->cublas; }
conv_plan_cache& context::plans() noexcept { return *impl_->plans; }
std::size_t context::plans_built() const noexcept { return impl_->plans->size(); }

void* context::scratch(scratch_slot s, std::size_t bytes) {
    const auto i = static_cast<std::size_t>(s);
    if (bytes > impl_->scratch_size[i]) {
        // Freed on this stream: a later allocation on this stream reuses it in stream order.
        device_allocator::deallocate(impl_->scratch[i]);
        impl_->scratch[i] = nullptr;
        impl_->scratch_size[i] = 0;
        impl_->scratch[i] = device_allocator::allocate(bytes);
        impl_->scratch_size[i] = device_allocator::rounded_size(bytes);
    }
    return impl_->scratch[i];
}

std::size_t context::scratch_bytes() const noexcept {
    std::size_t total = 0;
    for (const std::size_t b : impl_->scratch_size) total += b;
    return total;
}

void context::synchronize() { check(cudaStreamSynchronize(impl_->stream), "cudaStreamSynchronize"); }

bool context::tf32() const noexcept { return impl_->tf32; }

void context::set_tf32(bool on) {
    impl_->tf32 = on;
    check_cublas(cublasSetMathMode(impl_->cublas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH),
                 "cublasSetMathMode");
}

}  // namespace unetpp::cuda_runtime

// --- memory::cuda_device ------------------------------------------------------------------------
namespace unetpp::inline UNETPP_ABI::memory {

void* cuda_device::allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    (void)cuda_runtime::context::current();  // allocations are tagged with this thread's stream
    return cuda_runtime::device_allocator::allocate(bytes);
}

void cuda_device::deallocate(void* p) noexcept { cuda_runtime::device_allocator::deallocate(p); }

void cuda_device::copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    auto& ctx = cuda_runtime::context::current();
    cuda_runtime::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream()), "copy");
}

void cuda_device::copy_from_host(void* dst, const void* host_src, std::size_t bytes) {
    if (bytes == 0) return;
    auto& ctx = cuda_runtime::context::current();
    // From pageable memory the call returns once the source is staged, so the caller may reuse it.
    cuda_runtime::check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, ctx.stream()), "copy_from_host");
}

void cuda_device::copy_to_host(void* host_dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    auto& ctx = cuda_runtime::context::current();
    cuda_runtime::check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()), "copy_to_host");
    ctx.synchronize();  // the host reads the result next
}

void cuda_device::zero(void* p, std::size_t bytes) {
    if (bytes == 0) return;
    auto& ctx = cuda_runtime::context::current();
    cuda_runtime::check(cudaMemsetAsync(p, 0, bytes, ctx.stream()), "zero");
}

void cuda_device::fill_floats(float* p, std::size_t n, float v) {
    if (n == 0) return;
    cuda_kernels::fill(cuda_runtime::context::current().stream(), p, static_cast<std::ptrdiff_t>(n), v);
}

void cuda_device::fill_int32(std::int32_t* p, std::size_t n, std::int32_t v) {
    if (n == 0) return;
    cuda_kernels::fill(cuda_runtime::context::current().stream(), p, static_cast<std::ptrdiff_t>(n), v);
}

std::size_t cuda_device::allocation_count() noexcept { return cuda_runtime::device_allocator::stats().requests; }

std::size_t cuda_device::device_allocation_count() noexcept {
    return cuda_runtime::device_allocator::stats().device_allocations;
}

}  // namespace unetpp::memory
