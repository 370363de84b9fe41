#pragma once
/// \file The CUDA backend policy (cuDNN / cuBLAS), selected as `unet<cfg, backend::cuda>`.
///
/// Layers call their backend's static functions with raw pointers in the backend's memory space
/// (see backend/cpu.hpp for the full list), so a device backend supplies the same functions and
/// a `memory` type with allocate/deallocate and no layer code changes. In a build without
/// UNETPP_WITH_CUDA the type exists so that asking for it gives one readable error instead of a
/// page of missing functions or, worse, a link error.

namespace unetpp::backend {

#if defined(UNETPP_WITH_CUDA) && UNETPP_WITH_CUDA
/// CUDA backend: the device memory space and kernels arrive with the CUDA backend issue. Until
/// then it is reported as unavailable, with a message that says so.
struct cuda {
    static constexpr bool available = false;
    static constexpr const char* name = "cuda";
    static constexpr const char* unavailable_reason =
        "the CUDA backend's kernels are not part of this version of unetpp yet; use backend::cpu";
};
#else
/// Placeholder in builds without CUDA: `unet<cfg, backend::cuda>` fails to compile with a message
/// telling the user to configure with -DUNETPP_WITH_CUDA=ON.
struct cuda {
    static constexpr bool available = false;
    static constexpr const char* name = "cuda";
    static constexpr const char* unavailable_reason =
        "unetpp was built without CUDA: configure with -DUNETPP_WITH_CUDA=ON";
};
#endif

}  // namespace unetpp::backend
