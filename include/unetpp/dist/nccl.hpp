#pragma once
/// \file The NCCL implementation of dist::communicator, for data-parallel training of networks on
/// backend::cuda, one GPU per rank, bootstrapped over MPI (unetpp built with UNETPP_WITH_CUDA=ON and
/// UNETPP_WITH_MPI=ON; a target that links unetpp::nccl gets NCCL, MPI, unetpp::cuda and
/// UNETPP_WITH_NCCL=1):
///
///   unetpp::dist::mpi_environment env(argc, argv);
///   unetpp::dist::mpi_communicator host;           // the ranks, and the operations on host memory
///   unetpp::dist::nccl_communicator comm(host);    // before any other CUDA work of this process
///   ... train a unet<cfg, backend::cuda> with cfg.comm = &comm; run with `mpirun -np N ./program`
///
/// Spans of device memory (a device tensor's data) are summed and broadcast by NCCL on the calling
/// thread's CUDA stream (cuda_runtime::context), so they are ordered with the backend's kernels and
/// no host synchronisation happens; spans of host memory (the trainer's per-step totals, validation
/// sums) go through the MPI communicator, as do allgather and barrier. Which one a span is, is asked
/// of the CUDA runtime (cudaPointerGetAttributes). The constructor picks the GPU: the rank's index
/// among the ranks on its machine, modulo the machine's GPU count, unless a device is given.
///
/// Errors: NCCL and CUDA failures throw std::runtime_error naming the call and the library's
/// message. Not run in this project's CI (no GPU): its CUDA build compiles and links it, and the
/// test `unit_dist_nccl_cuda` runs it where there is a device (docs/DISTRIBUTED.md, "GPUs").
#if !defined(UNETPP_WITH_NCCL)
#error "unetpp/dist/nccl.hpp needs NCCL: configure unetpp with -DUNETPP_WITH_CUDA=ON -DUNETPP_WITH_MPI=ON and link unetpp::nccl (the CUDA toolkit ships NCCL as libnccl); CPU networks train over MPI with dist::mpi_communicator alone"
#endif

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>

#include "../config/abi.hpp"
#include "../backend/cuda/context.hpp"
#include "communicator.hpp"
#include "mpi.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

namespace detail {
inline void nccl_check(ncclResult_t rc, const char* call) {
    if (rc != ncclSuccess)
        throw std::runtime_error(std::string("nccl_communicator: ") + call + " failed: " + ncclGetErrorString(rc));
}
inline void cuda_check(cudaError_t rc, const char* call) {
    if (rc != cudaSuccess)
        throw std::runtime_error(std::string("nccl_communicator: ") + call + " failed: " + cudaGetErrorString(rc));
}
/// Whether p points into device (or managed) memory; host and unregistered memory are not.
inline bool is_device_memory(const void* p) {
    if (!p) return false;
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError();  // an unknown pointer is host memory; clear the error
        return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}
}  // namespace detail

/// The ranks of an MPI communicator, with device memory summed by NCCL (see the file comment).
class nccl_communicator final : public communicator {
public:
    /// Joins the ranks of `host`, which must outlive this object. device < 0: the rank's index on
    /// its machine modulo the number of GPUs there.
    explicit nccl_communicator(mpi_communicator& host, int device = -1) : host_(&host) {
        int devices = 0;
        detail::cuda_check(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
        if (device < 0) device = host.local_rank() % devices;
        if (device >= devices)
            throw std::invalid_argument("nccl_communicator: device " + std::to_string(device) + " of " +
                                        std::to_string(devices) + " GPUs on this machine");
        detail::cuda_check(cudaSetDevice(device), "cudaSetDevice");
        ncclUniqueId id{};
        if (host.is_root()) detail::nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        host.broadcast(std::span<std::byte>(reinterpret_cast<std::byte*>(&id), sizeof id), 0);
        detail::nccl_check(ncclCommInitRank(&comm_, host.size(), id, host.rank()), "ncclCommInitRank");
    }
    nccl_communicator(const nccl_communicator&) = delete;
    nccl_communicator& operator=(const nccl_communicator&) = delete;
    ~nccl_communicator() override {
        if (comm_) ncclCommDestroy(comm_);
    }

    [[nodiscard]] int rank() const noexcept override { return host_->rank(); }
    [[nodiscard]] int size() const noexcept override { return host_->size(); }
    [[nodiscard]] bool sums_device_memory() const noexcept override { return true; }
    [[nodiscard]] bool spans_machines() const noexcept override { return host_->spans_machines(); }

    void allreduce_sum(std::span<float> v) override { sum(v, ncclFloat); }
    void allreduce_sum(std::span<double> v) override { sum(v, ncclDouble); }
    void broadcast(std::span<float> v, int root) override { bcast(v, ncclFloat, root); }
    void broadcast(std::span<double> v, int root) override { bcast(v, ncclDouble, root); }
    void broadcast(std::span<std::byte> v, int root) override { host_->broadcast(v, root); }
    [[nodiscard]] std::vector<double> allgather(std::span<const double> mine) override { return host_->allgather(mine); }
    [[nodiscard]] std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> mine) override {
        return host_->allgather(mine);
    }
    void barrier() override { host_->barrier(); }

private:
    template <class T>
    void sum(std::span<T> v, ncclDataType_t type) {
        if (v.empty()) return;
        if (!detail::is_device_memory(v.data())) return host_->allreduce_sum(v);
        detail::nccl_check(ncclAllReduce(v.data(), v.data(), v.size(), type, ncclSum, comm_,
                                         cuda_runtime::context::current().stream()),
                           "ncclAllReduce");
    }
    template <class T>
    void bcast(std::span<T> v, ncclDataType_t type, int root) {
        check_root(root, "broadcast");
        if (v.empty()) return;
        if (!detail::is_device_memory(v.data())) return host_->broadcast(v, root);
        detail::nccl_check(ncclBroadcast(v.data(), v.data(), v.size(), type, root, comm_,
                                         cuda_runtime::context::current().stream()),
                           "ncclBroadcast");
    }
    mpi_communicator* host_;
    ncclComm_t comm_ = nullptr;
};

}  // namespace unetpp::dist
