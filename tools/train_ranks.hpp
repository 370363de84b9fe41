// The processes of one unetpp-train run: this process alone, or the ranks of an MPI job
// (`mpirun -np N unetpp-train ...` with unetpp built with -DUNETPP_WITH_MPI=ON; docs/DISTRIBUTED.md).
//
// A launcher is recognised by the variables it sets before the program starts:
// OMPI_COMM_WORLD_SIZE (Open MPI) or PMI_SIZE (MPICH, Intel MPI). With more than one process,
// a build with MPI initialises it and trains data parallel; a build without MPI refuses (each
// process would train its own copy of the model and write the same files).
//
// Errors and exit codes: every rank ends through process_group::finish. The ranks exchange
// their exit codes and a hash of their error texts (a non-blocking allgather on a communicator of
// its own), so that each distinct error is printed once, with the ranks that had it, and every
// rank exits with the same code (the first failing rank's). The setup (options, data, output
// folder) ends with agree_setup(), the same exchange, so that an error on one rank during setup
// (rank 0's output folder check, say) stops every rank before training starts. During training
// the library's trainer agrees on the step's loss, NaN and stop flag; an error it does not agree
// on (an unreadable file on one rank) leaves the other ranks waiting in a collective operation, so
// a failing rank that is not joined by the others within stuck_grace prints its error and ends the
// job with MPI_Abort.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unetpp/dist/communicator.hpp>
#ifdef UNETPP_WITH_MPI
#include <unetpp/dist/mpi.hpp>
#endif

#include "cli_common.hpp"

namespace cli {

/// What an MPI launcher tells the processes it starts (read before MPI is initialised).
struct launch_info {
    int size = 1;          ///< processes of the job (1: no launcher, or one process)
    int rank = 0;          ///< this process's rank as the launcher numbers them
    std::string variable;  ///< the variable that gave the size, e.g. "OMPI_COMM_WORLD_SIZE=2"
};

namespace detail {
/// The value of an environment variable as a number in [lo, hi], or nullopt.
inline std::optional<long> environment_number(const char* name, long lo, long hi) {
    const char* s = std::getenv(name);
    if (!s || !*s) return std::nullopt;
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi) return std::nullopt;
    return v;
}
}  // namespace detail

/// The launcher's job size and this process's rank: OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_RANK
/// (Open MPI), else PMI_SIZE / PMI_RANK (MPICH, Intel MPI); one process when neither is set.
inline launch_info launch_from_environment() {
    const std::pair<const char*, const char*> vars[] = {{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"},
                                                        {"PMI_SIZE", "PMI_RANK"}};
    for (const auto& [size_var, rank_var] : vars) {
        const auto n = detail::environment_number(size_var, 1, INT_MAX);
        if (!n) continue;
        const auto r = detail::environment_number(rank_var, 0, *n - 1);
        return {static_cast<int>(*n), static_cast<int>(r.value_or(0)), std::string(size_var) + "=" + std::to_string(*n)};
    }
    return {};
}

/// Why a build without MPI refuses to run as several processes.
inline std::string mpi_missing_text(const char* tool, const launch_info& l) {
    return std::string("started as ") + std::to_string(l.size) + " processes (" + l.variable +
           ", e.g. mpirun -np " + std::to_string(l.size) + "), but this " + tool +
           " was built without MPI: each process would train its own copy of the model and write the same "
           "files. Rebuild unetpp with -DUNETPP_WITH_MPI=ON (Debian: apt-get install libopenmpi-dev openmpi-bin) "
           "for data-parallel training, or run one process without mpirun";
}

/// Thrown on the ranks whose own setup succeeded when another rank's failed (that rank prints).
struct other_rank_failed {
    int code = 2;
};

/// "rank 1", "ranks 0-3, 5": the ranks in `r` (ascending), consecutive ones as ranges.
inline std::string rank_list(const std::vector<int>& r) {
    std::string s = r.size() == 1 ? "rank " : "ranks ";
    for (std::size_t i = 0; i < r.size();) {
        std::size_t j = i;
        while (j + 1 < r.size() && r[j + 1] == r[j] + 1) ++j;
        s += (i ? ", " : "") + std::to_string(r[i]) + (j > i ? "-" + std::to_string(r[j]) : std::string());
        i = j + 1;
    }
    return s;
}

/// This process, or the ranks of an MPI job (see the file comment).
class process_group {
public:
    /// How long a failing rank waits, during training, for the others to fail with it before it
    /// ends the job (they may be waiting for it in a collective operation).
    static constexpr std::chrono::seconds stuck_grace{10};

    process_group() = default;
#ifdef UNETPP_WITH_MPI
    /// The ranks of the running MPI job (MPI initialised by the caller).
    struct mpi_job {};
    explicit process_group(mpi_job) : train_(std::in_place), exit_(std::in_place) {}
#endif
    process_group(const process_group&) = delete;
    process_group& operator=(const process_group&) = delete;

    [[nodiscard]] int rank() const noexcept { return comm() ? comm()->rank() : 0; }
    [[nodiscard]] int size() const noexcept { return comm() ? comm()->size() : 1; }
    /// Rank 0: the process that prints and writes files.
    [[nodiscard]] bool root() const noexcept { return rank() == 0; }
    /// The communicator of the training (trainer_options::comm); null for one process.
    [[nodiscard]] unetpp::dist::communicator* comm() noexcept {
#ifdef UNETPP_WITH_MPI
        if (train_) return &*train_;
#endif
        return nullptr;
    }
    [[nodiscard]] const unetpp::dist::communicator* comm() const noexcept {
        return const_cast<process_group*>(this)->comm();
    }

    /// Collective, at the end of the setup: returns when every rank's setup succeeded, throws
    /// other_rank_failed when another rank's failed. Nothing to do for one process.
    void agree_setup() {
        if (size() == 1) return;
        const std::vector<std::uint64_t> all = exchange(0, 0, false);
        if (const int code = first_code(all); code != 0) {
            decided_ = code;
            throw other_rank_failed{code};
        }
        training_ = true;
    }

    /// Ends this process's part of the run with `code` (0: success) and the error `text` (empty:
    /// nothing to print) and returns the exit status; with several ranks a collective call (see
    /// the file comment) that may end the whole job instead of returning.
    int finish(const char* tool, int code, const std::string& text) {
        if (size() == 1) {
            if (!text.empty()) std::cerr << tool << ": error: " << text << '\n';
            return code;
        }
        if (decided_) return *decided_;  // agree_setup found another rank's failure; it printed
        const std::uint64_t hash = text.empty() ? 0 : std::hash<std::string>{}(text) | 1u;
        std::vector<std::uint64_t> all;
        try {
            all = exchange(static_cast<std::uint64_t>(code), hash, code != 0 && training_);
        } catch (const std::exception& e) {
            all.clear();
            if (!text.empty()) std::cerr << tool << ": error on rank " << rank() << " of " << size() << ": " << text << '\n';
            std::cerr << tool << ": rank " << rank() << " could not reach the other ranks (" << e.what()
                      << "); ending the job\n"
                      << std::flush;
            abort(code != 0 ? code : 1);
        }
        if (all.empty()) {  // the other ranks did not stop: they wait for this one
            std::cerr << tool << ": error on rank " << rank() << " of " << size() << ": " << text
                      << " (the other ranks did not stop within " << stuck_grace.count() << " s; ending the job)\n"
                      << std::flush;
            abort(code != 0 ? code : 1);
        }
        // each distinct text once, by the lowest rank that has it, naming every rank that has it
        if (hash != 0) {
            std::vector<int> same;
            for (int r = 0; r < size(); ++r)
                if (all[2 * static_cast<std::size_t>(r) + 1] == hash) same.push_back(r);
            if (same.front() == rank())
                std::cerr << tool << ": error on " << rank_list(same) << " of " << size() << ": " << text << '\n'
                          << std::flush;
        }
        return first_code(all);
    }

private:
    /// The exit code of the lowest rank that failed (0: none did).
    static int first_code(const std::vector<std::uint64_t>& all) {
        for (std::size_t r = 0; 2 * r < all.size(); ++r)
            if (all[2 * r] != 0) return static_cast<int>(all[2 * r]);
        return 0;
    }

    /// Every rank's (code, hash), in rank order; empty when `limited` and the other ranks did not
    /// take part within stuck_grace. Waits without spinning a core (the others may be computing).
    std::vector<std::uint64_t> exchange(std::uint64_t code, std::uint64_t hash, bool limited) {
#ifdef UNETPP_WITH_MPI
        namespace d = unetpp::dist;
        std::uint64_t mine[2] = {code, hash};
        std::vector<std::uint64_t> all(2 * static_cast<std::size_t>(size()));
        MPI_Request req = MPI_REQUEST_NULL;
        d::mpi_check(MPI_Iallgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, exit_->native(), &req),
                     "MPI_Iallgather");
        const auto until = std::chrono::steady_clock::now() + stuck_grace;
        for (;;) {
            int done = 0;
            d::mpi_check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
            if (done) return all;
            if (limited && std::chrono::steady_clock::now() > until) return {};
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
#else
        (void)limited;
        return {code, hash};
#endif
    }

    [[noreturn]] static void abort(int code) {
#ifdef UNETPP_WITH_MPI
        unetpp::dist::mpi_environment::abort(code);
#else
        std::_Exit(code);
#endif
    }

#ifdef UNETPP_WITH_MPI
    std::optional<unetpp::dist::mpi_communicator> train_;  ///< the trainer's messages
    std::optional<unetpp::dist::mpi_communicator> exit_;   ///< the setup and exit agreement
#endif
    std::optional<int> decided_;  ///< set when agree_setup found another rank's failure
    bool training_ = false;       ///< past agree_setup: other ranks may wait in a collective
};

/// Runs body(group) on this process or on the ranks of an MPI job and returns the exit status:
/// errors become one stderr line and exit codes as in cli::guarded (with several ranks, each
/// distinct error once, naming its ranks). A build without MPI started as several processes
/// refuses (exit 2; rank 0 says why).
inline int run_on_ranks(const char* tool, int& argc, char**& argv, const std::function<int(process_group&)>& body) {
    const launch_info launch = launch_from_environment();
#ifndef UNETPP_WITH_MPI
    (void)argc;
    (void)argv;
    if (launch.size > 1) {
        if (launch.rank == 0) std::cerr << tool << ": error: " << mpi_missing_text(tool, launch) << '\n';
        return 2;
    }
    process_group group;
#else
    std::optional<unetpp::dist::mpi_environment> env;  // MPI_Init ... MPI_Finalize (after finish)
    std::optional<process_group> job;
    try {
        if (launch.size > 1) {
            env.emplace(argc, argv);
            job.emplace(process_group::mpi_job{});
        } else {
            job.emplace();
        }
    } catch (const std::exception& e) {
        std::cerr << tool << ": error: cannot start MPI (" << launch.variable << "): " << e.what() << '\n' << std::flush;
        if (env) unetpp::dist::mpi_environment::abort(2);
        return 2;
    }
    process_group& group = *job;
#endif
    int code = 0;
    std::string text;
    try {
        code = body(group);
    } catch (const other_rank_failed& e) {
        code = e.code;
    } catch (const std::exception&) {
        const error_report r = describe_error(std::current_exception());
        code = r.code;
        text = r.text;
    }
    return group.finish(tool, code, text);
}

}  // namespace cli
