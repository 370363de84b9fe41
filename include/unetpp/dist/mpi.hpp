#pragma once
/// \file The MPI implementation of dist::communicator, for unetpp built with UNETPP_WITH_MPI=ON
/// (a target that links unetpp::mpi gets <mpi.h>, the MPI library and UNETPP_WITH_MPI=1).
///
///   int main(int argc, char** argv) {
///       unetpp::dist::mpi_environment env(argc, argv);    // MPI_Init ... MPI_Finalize
///       unetpp::dist::mpi_communicator comm;              // a private copy of MPI_COMM_WORLD
///       ... train with cfg.comm = &comm; run with `mpirun -np 2 ./program`
///   }
///
/// Errors: MPI calls on the communicator return their error codes (MPI_ERRORS_RETURN) and fail
/// with std::runtime_error naming the call and MPI's message. Counts above INT_MAX elements are
/// sent in several calls. Only the thread that created the environment may call MPI
/// (MPI_THREAD_FUNNELED; the loaders' worker threads never do).

#ifndef UNETPP_WITH_MPI
#error "unetpp/dist/mpi.hpp needs MPI: configure unetpp with -DUNETPP_WITH_MPI=ON and link unetpp::mpi (Debian: apt-get install libopenmpi-dev openmpi-bin); single-process code can use dist::world_of_one from unetpp/dist/communicator.hpp"
#endif

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <memory>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config/abi.hpp"
#include "communicator.hpp"

namespace unetpp::inline UNETPP_ABI::dist {

namespace detail {
/// Throws std::runtime_error for an MPI error code, naming the call.
inline void mpi_check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
    throw std::runtime_error(std::string("mpi_communicator: ") + call + " failed: " +
                             (len > 0 ? std::string(text, static_cast<std::size_t>(len)) : "error " + std::to_string(rc)));
}
template <class T>
MPI_Datatype mpi_type() {
    if constexpr (std::is_same_v<T, float>)
        return MPI_FLOAT;
    else if constexpr (std::is_same_v<T, double>)
        return MPI_DOUBLE;
    else if constexpr (std::is_same_v<T, std::uint64_t>)
        return MPI_UINT64_T;
    else
        return MPI_BYTE;
}
/// The most elements one MPI call takes (its counts are ints).
inline constexpr std::size_t mpi_max_count = static_cast<std::size_t>(INT_MAX);
}  // namespace detail
/// Throws std::runtime_error for an MPI error code, naming the call (public for programs that
/// make MPI calls of their own beside the communicator, as unetpp-train does).
using detail::mpi_check;

/// Initialises MPI for the life of this object (MPI_Init_thread with MPI_THREAD_FUNNELED) and
/// finalises it in the destructor. When MPI is already initialised it does neither.
///
/// Errors: a rank that stops on an error while the others wait in a collective operation would
/// leave them waiting, and MPI_Finalize may wait for them too. So the destructor aborts the whole
/// job (MPI_Abort) instead of finalising when it runs during stack unwinding (an exception leaving
/// the scope that holds the environment), and a program that catches an error itself and exits
/// should call mpi_environment::abort(code) rather than return.
class mpi_environment {
public:
    mpi_environment(int& argc, char**& argv) { init(&argc, &argv); }
    mpi_environment() { init(nullptr, nullptr); }
    mpi_environment(const mpi_environment&) = delete;
    mpi_environment& operator=(const mpi_environment&) = delete;
    ~mpi_environment() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!owner_ || finalized) return;
        if (std::uncaught_exceptions() > 0) abort(1);  // the other ranks may be waiting for this one
        MPI_Finalize();
    }

    /// Ends every rank of the job with `code` (MPI_Abort on MPI_COMM_WORLD); does not return.
    [[noreturn]] static void abort(int code) {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);  // MPI_Abort does not return; this is in case an implementation does
    }

private:
    void init(int* argc, char*** argv) {
        int initialized = 0;
        detail::mpi_check(MPI_Initialized(&initialized), "MPI_Initialized");
        if (initialized) return;
        int provided = 0;
        detail::mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owner_ = true;
    }
    bool owner_ = false;
};

/// The ranks of an MPI communicator (a duplicate of MPI_COMM_WORLD by default, so that the
/// training's messages never mix with the program's own).
class mpi_communicator final : public communicator {
public:
    explicit mpi_communicator(MPI_Comm base = MPI_COMM_WORLD) {
        int initialized = 0;
        detail::mpi_check(MPI_Initialized(&initialized), "MPI_Initialized");
        if (!initialized)
            throw std::logic_error("mpi_communicator: MPI is not initialised; create a dist::mpi_environment "
                                   "(or call MPI_Init) first");
        detail::mpi_check(MPI_Comm_dup(base, &comm_), "MPI_Comm_dup");
        detail::mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
        MPI_Comm local = MPI_COMM_NULL;  // the ranks that share this rank's memory (its machine)
        detail::mpi_check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
                          "MPI_Comm_split_type");
        int here = 0;
        int rc = MPI_Comm_size(local, &here);
        if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(local, &local_rank_);
        MPI_Comm_free(&local);
        detail::mpi_check(rc, "MPI_Comm_size / MPI_Comm_rank of the machine's ranks");
        // collective, so that every rank agrees: some rank shares its machine with fewer than all
        int fewer = here < size_ ? 1 : 0, any = 0;
        detail::mpi_check(MPI_Allreduce(&fewer, &any, 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
        spans_machines_ = any != 0;
    }
    mpi_communicator(const mpi_communicator&) = delete;
    mpi_communicator& operator=(const mpi_communicator&) = delete;
    ~mpi_communicator() override {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    }

    [[nodiscard]] int rank() const noexcept override { return rank_; }
    [[nodiscard]] int size() const noexcept override { return size_; }
    /// Whether the ranks run on more than one machine (MPI's shared-memory split, at construction).
    [[nodiscard]] bool spans_machines() const noexcept override { return spans_machines_; }
    /// This rank's index among the ranks on its machine (the same split): which GPU it takes.
    [[nodiscard]] int local_rank() const noexcept { return local_rank_; }
    /// The underlying MPI communicator (for the program's own MPI calls).
    [[nodiscard]] MPI_Comm native() const noexcept { return comm_; }

    void allreduce_sum(std::span<float> v) override { allreduce(v); }
    void allreduce_sum(std::span<double> v) override { allreduce(v); }
    void broadcast(std::span<float> v, int root) override { bcast(v, root); }
    void broadcast(std::span<double> v, int root) override { bcast(v, root); }
    void broadcast(std::span<std::byte> v, int root) override { bcast(v, root); }
    [[nodiscard]] std::vector<double> allgather(std::span<const double> mine) override { return gather(mine); }
    [[nodiscard]] std::vector<std::uint64_t> allgather(std::span<const std::uint64_t> mine) override {
        return gather(mine);
    }
    void barrier() override { detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier"); }
    /// MPI_Iallreduce in place (one request per INT_MAX elements).
    [[nodiscard]] std::unique_ptr<pending_operation> start_allreduce_sum(std::span<float> v) override {
        return start_allreduce(v);
    }
    [[nodiscard]] std::unique_ptr<pending_operation> start_allreduce_sum(std::span<double> v) override {
        return start_allreduce(v);
    }

private:
    /// Requests of a non-blocking operation; the destructor waits for any still in flight, so
    /// that MPI never writes into a buffer after its owner has let it go.
    class mpi_pending final : public pending_operation {
    public:
        explicit mpi_pending(std::vector<MPI_Request> requests) : requests_(std::move(requests)) {}
        mpi_pending(const mpi_pending&) = delete;
        mpi_pending& operator=(const mpi_pending&) = delete;
        ~mpi_pending() override {
            int finalized = 0;
            MPI_Finalized(&finalized);
            if (!finalized && !requests_.empty())
                MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
        }
        bool test() override {
            int done = 0;
            detail::mpi_check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done,
                                          MPI_STATUSES_IGNORE),
                              "MPI_Testall");
            return done != 0;
        }
        void wait() override {
            detail::mpi_check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE),
                              "MPI_Waitall");
        }

    private:
        std::vector<MPI_Request> requests_;  // MPI sets each to MPI_REQUEST_NULL when it completes
    };

    template <class T>
    std::unique_ptr<pending_operation> start_allreduce(std::span<T> v) {
        std::vector<MPI_Request> requests;
        for (std::size_t at = 0; at < v.size(); at += detail::mpi_max_count) {
            const int n = static_cast<int>(std::min(detail::mpi_max_count, v.size() - at));
            MPI_Request r = MPI_REQUEST_NULL;
            const int rc = MPI_Iallreduce(MPI_IN_PLACE, v.data() + at, n, detail::mpi_type<T>(), MPI_SUM, comm_, &r);
            if (rc != MPI_SUCCESS) {
                if (!requests.empty())  // the parts already started complete before the error leaves
                    MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
                detail::mpi_check(rc, "MPI_Iallreduce");
            }
            requests.push_back(r);
        }
        return std::make_unique<mpi_pending>(std::move(requests));
    }

    template <class T>
    void allreduce(std::span<T> v) {
        for (std::size_t at = 0; at < v.size(); at += detail::mpi_max_count) {
            const int n = static_cast<int>(std::min(detail::mpi_max_count, v.size() - at));
            detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, v.data() + at, n, detail::mpi_type<T>(), MPI_SUM, comm_),
                              "MPI_Allreduce");
        }
    }
    template <class T>
    void bcast(std::span<T> v, int root) {
        check_root(root, "broadcast");
        for (std::size_t at = 0; at < v.size(); at += detail::mpi_max_count) {
            const int n = static_cast<int>(std::min(detail::mpi_max_count, v.size() - at));
            detail::mpi_check(MPI_Bcast(v.data() + at, n, detail::mpi_type<T>(), root, comm_), "MPI_Bcast");
        }
    }
    template <class T>
    std::vector<T> gather(std::span<const T> mine) {
        if (mine.size() > detail::mpi_max_count)
            throw std::length_error("mpi_communicator::allgather: " + std::to_string(mine.size()) +
                                    " elements from one rank; at most INT_MAX are supported");
        int count = static_cast<int>(mine.size());
        std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
        detail::mpi_check(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_), "MPI_Allgather");
        std::size_t total = 0;
        for (int r = 0; r < size_; ++r) {
            if (total > detail::mpi_max_count - static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]))
                throw std::length_error("mpi_communicator::allgather: more than INT_MAX elements in all");
            offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
            total += static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]);
        }
        std::vector<T> all(total);
        detail::mpi_check(MPI_Allgatherv(mine.data(), count, detail::mpi_type<T>(), all.data(), counts.data(),
                                         offsets.data(), detail::mpi_type<T>(), comm_),
                          "MPI_Allgatherv");
        return all;
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0;
    int size_ = 1;
    int local_rank_ = 0;
    bool spans_machines_ = false;
};

}  // namespace unetpp::dist
