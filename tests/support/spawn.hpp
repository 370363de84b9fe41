#pragma once
// Starting a program from a test driver with its output on a descriptor of the driver's (a pipe
// or a pseudo-terminal). POSIX only; test support, not installed.

#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace unetpp::test {

/// Forks and runs `args[0]` with `args`. In the child, stdout (and stderr when `also_stderr`)
/// goes to `child_fd`, and both `child_fd` and `parent_fd` are closed after that; the parent
/// closes `child_fd`. Returns the child's pid, or -1 when fork failed (errno set). A child whose
/// exec fails exits with 127.
inline pid_t spawn(const std::vector<std::string>& args, int parent_fd, int child_fd, bool also_stderr) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(child_fd, 1);
        if (also_stderr) ::dup2(child_fd, 2);
        ::close(parent_fd);
        ::close(child_fd);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::_Exit(127);
    }
    if (pid > 0) ::close(child_fd);
    return pid;
}

}  // namespace unetpp::test
