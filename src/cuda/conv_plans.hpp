#pragma once
// cuDNN execution plans for the convolutions, built with the graph (backend descriptor) API and
// cached per context by problem (include/unetpp/backend/cuda/conv.hpp), pointer alignment and
// math mode. Private to unetpp::cuda.

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include <unetpp/backend/cuda/conv.hpp>

namespace unetpp::inline UNETPP_ABI::cuda_runtime {

class conv_plan_cache {
public:
    explicit conv_plan_cache(cudnnHandle_t handle);
    ~conv_plan_cache();
    conv_plan_cache(const conv_plan_cache&) = delete;
    conv_plan_cache& operator=(const conv_plan_cache&) = delete;

    /// Runs problem p with the device pointers of its forward convolution's x, w and y (for the
    /// backward passes: the gradient of the one the pass writes). workspace is a device buffer of
    /// at least workspace_bytes(p, ...) bytes.
    struct plan {
        cudnnBackendDescriptor_t descriptor = nullptr;
        std::int64_t workspace = 0;
    };
    /// The plan for p at this alignment and math mode, built on first use.
    const plan& get(const cuda_conv::problem& p, std::int64_t alignment, bool tf32);
    void execute(const plan& pl, const void* x, const void* w, const void* y, void* workspace);
    /// Plans built so far (constant after warm-up).
    [[nodiscard]] std::size_t size() const noexcept { return plans_.size(); }

private:
    struct key {
        cuda_conv::problem p;
        std::int64_t alignment;
        bool tf32;
        bool operator==(const key&) const = default;
    };
    struct key_hash {
        std::size_t operator()(const key& k) const noexcept {
            return cuda_conv::hash(k.p) * 31 + static_cast<std::size_t>(k.alignment) * 2 + (k.tf32 ? 1 : 0);
        }
    };
    plan build(const key& k);

    cudnnHandle_t handle_;
    cudnnBackendDescriptor_t device_ = nullptr;  // the device's properties, from the handle
    std::unordered_map<key, plan, key_hash> plans_;
};

}  // namespace unetpp::cuda_runtime
