#pragma once
/// \file The communicator interface of data-parallel training, and its single-process
/// implementation.
///
/// A communicator joins `size()` processes (ranks 0..size-1) that train one model together.
/// Every operation is collective: each rank must call it, in the same order, with spans of the
/// same length (allgather excepted, whose contributions may differ in length). Implementations:
///
///   dist::world_of_one     this header, always available: one process, every operation is the
///                          identity. Single-process training runs the same code path with it.
///   dist::mpi_communicator dist/mpi.hpp, only when unetpp is built with UNETPP_WITH_MPI=ON
///                          (link unetpp::mpi).
///
/// The operations are blocking, except start_allreduce_sum, which returns a pending operation. Sums are element-wise; the order in which the ranks' values are
/// added is the MPI library's, so with more than two ranks a sum may differ in the last bits
/// from a sequential one (with two ranks a + b == b + a exactly). See docs/DISTRIBUTED.md.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

/// A collective operation in flight (communicator::start_allreduce_sum). Its buffer must stay
/// untouched until wait() has returned; the destructor waits for it if no one did.
class pending_operation {
public:
    virtual ~pending_operation() = default;
    /// Whether it has completed. Calling it now and then lets the library make progress (MPI
    /// moves a non-blocking message along only inside MPI calls).
    virtual bool test() = 0;
    /// Returns when it has completed.
    virtual void wait() = 0;
};

/// A pending_operation that completed when it was started.
class completed_operation final : public pending_operation {
public:
    bool test() override { return true; }
    void wait() override {}
};

/// A group of processes that train one model together.
class communicator {
public:
    virtual ~communicator() = default;

    /// This process's rank, 0..size()-1. Rank 0 writes the checkpoints and logs.
    [[nodiscard]] virtual int rank() const noexcept = 0;
    /// The number of processes.
    [[nodiscard]] virtual int size() const noexcept = 0;

    /// Replaces every element by its sum over all ranks.
    virtual void allreduce_sum(std::span<float> values) = 0;
    virtual void allreduce_sum(std::span<double> values) = 0;
    /// Starts replacing every element by its sum over all ranks and returns at once; the sum is
    /// in `values` when the returned operation has completed. The same element-wise sum as
    /// allreduce_sum. This default runs allreduce_sum and returns a completed operation, so every
    /// communicator has it; mpi_communicator overrides it with MPI_Iallreduce.
    [[nodiscard]] virtual std::unique_ptr<pending_operation> start_allreduce_sum(std::span<float> values) {
        allreduce_sum(values);
        return std::make_unique<completed_operation>();
    }
    [[nodiscard]] virtual std::unique_ptr<pending_operation> start_allreduce_sum(std::span<double> values) {
        allreduce_sum(values);
        return std::make_unique<completed_operation>();
    }
    /// Replaces every element by rank `root`'s.
    virtual void broadcast(std::span<float> values, int root) = 0;
    virtual void broadcast(std::span<double> values, int root) = 0;
    virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
    /// Every rank's contribution, concatenated in rank order (the contributions may differ in
    /// length; every rank receives the same vector).
    [[nodiscard]] virtual std::vector<double> allgather(std::span<const double> mine) = 0;
    [[nodiscard]] virtual std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> mine) = 0;
    /// Returns once every rank has called it.
    virtual void barrier() = 0;

    /// Whether the spans given to allreduce_sum and broadcast may also be device memory (a device
    /// backend's tensor data): dist::nccl_communicator's may, the host-only ones' may not. The
    /// trainer runs a device network data parallel only with such a communicator.
    [[nodiscard]] virtual bool sums_device_memory() const noexcept { return false; }
    /// Whether the ranks run on more than one machine. The trainer overlaps the gradient exchange
    /// with backward by default only then: on one machine the sums compete with backward for the
    /// same cores and took longer than they hid (docs/DISTRIBUTED.md).
    [[nodiscard]] virtual bool spans_machines() const noexcept { return false; }

    /// Rank 0: the process that writes files and prints.
    [[nodiscard]] bool is_root() const noexcept { return rank() == 0; }

protected:
    /// Throws std::invalid_argument unless 0 <= root < size().
    void check_root(int root, const char* what) const {
        if (root < 0 || root >= size())
            throw std::invalid_argument(std::string("communicator::") + what + ": root rank " + std::to_string(root) +
                                        " outside 0.." + std::to_string(size() - 1));
    }
};

/// One process: rank 0 of a world of size 1. Every collective operation leaves its data as it is
/// (a sum over one rank is the value itself), so training with it is bit-identical to training
/// without a communicator.
class world_of_one final : public communicator {
public:
    [[nodiscard]] int rank() const noexcept override { return 0; }
    [[nodiscard]] int size() const noexcept override { return 1; }
    void allreduce_sum(std::span<float>) override {}
    void allreduce_sum(std::span<double>) override {}
    void broadcast(std::span<float>, int root) override { check_root(root, "broadcast"); }
    void broadcast(std::span<double>, int root) override { check_root(root, "broadcast"); }
    void broadcast(std::span<std::byte>, int root) override { check_root(root, "broadcast"); }
    [[nodiscard]] std::vector<double> allgather(std::span<const double> mine) override {
        return {mine.begin(), mine.end()};
    }
    [[nodiscard]] std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> mine) override {
        return {mine.begin(), mine.end()};
    }
    void barrier() override {}
};

/// True on every rank when `flag` is true on at least one (a collective call).
[[nodiscard]] inline bool any_rank(communicator& comm, bool flag) {
    if (comm.size() == 1) return flag;
    double v = flag ? 1.0 : 0.0;
    comm.allreduce_sum(std::span<double>(&v, 1));
    return v > 0.0;
}

}  // namespace unetpp::dist
