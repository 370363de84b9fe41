// The Ctrl-C test of unetpp-train (issue 20, item 11), POSIX only:
//
//   unetpp_interrupt_resume TRAIN WORK
//
// 1. trains 4 epochs without interruption into WORK/straight;
// 2. trains the same run into WORK/cut and sends SIGINT once the progress bar shows batch 5 of
//    epoch 2 (the program's output is a pseudo-terminal, so it draws the bar after every batch),
//    then a second SIGINT once the program has said that it is saving: the program must exit
//    with 130, print "interrupted: saved epoch 2 step S to .../last.safetensors; continue with
//    --resume" (S >= 5, S < 48 batches), and leave a checkpoint that verifies and records epoch 2, batch S;
// 3. resumes with --resume and sends SIGTERM once the bar shows batch 5 of epoch 3: exit 143 and
//    a mid-epoch checkpoint again;
// 4. resumes to the end, and compares the tensor data of last.safetensors and best.safetensors
//    and the rows of log.csv (without the seconds) with the uninterrupted run's: they must be
//    identical. All runs use --threads 2.
// No timing is asserted: the signals are sent when the program's output shows where it is.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../support/spawn.hpp"

#include <unetpp/train/checkpoint_file.hpp>

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what) {
    std::cout << "FAIL: " << what << std::endl;
    std::exit(1);
}

struct run_result {
    std::string output;  ///< stdout and stderr
    int exit_code = -1;  ///< -1: ended by a signal
};

/// Runs `args` with stdout and stderr on a pseudo-terminal (no output translation), so that the
/// program draws its progress bar. Each action (regular expression, signal) in turn: once the
/// output matches, the signal is sent. A run that has not ended after 10 minutes is killed (a
/// hang, not a timing check).
run_result run(const std::vector<std::string>& args, const std::vector<std::pair<std::string, int>>& actions = {}) {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0)
        fail(std::string("pseudo-terminal: ") + std::strerror(errno));
    const std::string slave_name = ::ptsname(master);
    const int slave = ::open(slave_name.c_str(), O_RDWR | O_NOCTTY);
    if (slave < 0) fail("open " + slave_name + ": " + std::strerror(errno));
    termios t{};
    if (::tcgetattr(slave, &t) == 0) {
        t.c_oflag &= ~static_cast<tcflag_t>(OPOST);  // "\n" stays "\n"
        ::tcsetattr(slave, TCSANOW, &t);
    }
    const pid_t pid = unetpp::test::spawn(args, master, slave, /*also_stderr=*/true);
    if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
    run_result r;
    std::vector<std::regex> patterns;
    for (const auto& a : actions) patterns.emplace_back(a.first);
    std::size_t next_action = 0;
    const auto t0 = std::chrono::steady_clock::now();
    char buf[4096];
    for (;;) {
        while (next_action < actions.size() && std::regex_search(r.output, patterns[next_action]))
            ::kill(pid, actions[next_action++].second);
        if (std::chrono::steady_clock::now() - t0 > std::chrono::minutes(10)) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            fail("the program did not end within 10 minutes; output:\n" + r.output);
        }
        pollfd p{master, POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) continue;
        const ::ssize_t got = ::read(master, buf, sizeof buf);
        if (got > 0)
            r.output.append(buf, static_cast<std::size_t>(got));
        else if (got == 0 || errno != EINTR)
            break;  // the program closed its output (EIO on a pseudo-terminal): it is exiting
    }
    ::close(master);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    return r;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) fail("cannot read " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// The tensor data of a safetensors file: what follows the 8-byte header length and the header.
std::string tensor_data(const fs::path& p) {
    const std::string b = read_all(p);
    if (b.size() < 8) fail(p.string() + " is too short for a safetensors file");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
    if (n > b.size() - 8) fail(p.string() + ": header length past the end");
    return b.substr(8 + n);
}

/// log.csv without the last column (seconds).
std::string log_rows(const fs::path& dir) {
    std::istringstream in(read_all(dir / "log.csv"));
    std::string out;
    for (std::string line; std::getline(in, line);) out += line.substr(0, line.rfind(',')) + '\n';
    return out;
}

/// Checks an interrupted run: exit code, message, and a verified checkpoint of batch S of epoch
/// `expected_epoch` (1-based) with 5 <= S < 48 (the signal was sent after batch 5 was drawn).
void check_interrupted(const run_result& r, int code, const fs::path& dir, long expected_epoch, const char* what) {
    const std::string where = std::string(what) + ": ";
    if (r.exit_code != code)
        fail(where + "exit code " + std::to_string(r.exit_code) + ", expected " + std::to_string(code) + "; output:\n" +
             r.output);
    const std::string head = "interrupted: saved epoch ";
    const auto at = r.output.find(head);
    if (at == std::string::npos) fail(where + "no \"" + head + "...\" line; output:\n" + r.output);
    long epoch = 0, step = 0;
    char rest[4096] = {};
    if (std::sscanf(r.output.c_str() + at, "interrupted: saved epoch %ld step %ld to %4095[^\n]", &epoch, &step, rest) != 3)
        fail(where + "cannot read the interrupted line; output:\n" + r.output);
    const fs::path last = dir / "last.safetensors";
    const std::string tail = last.string() + "; continue with --resume";
    if (rest != tail) fail(where + "the line ends with \"" + rest + "\", expected \"" + tail + "\"");
    unetpp::train::checkpoint_info info;
    try {
        info = unetpp::train::read_checkpoint_info(last);  // the whole file verified (checksums included)
    } catch (const std::exception& e) {
        fail(where + "the checkpoint does not load: " + e.what());
    }
    if (epoch != expected_epoch || step < 5 || step >= 48 || info.epoch_step != step || info.epoch != epoch - 1)
        fail(where + "the message says epoch " + std::to_string(epoch) + " step " + std::to_string(step) +
             ", the checkpoint holds " + std::to_string(info.epoch) + " complete epochs and batch " +
             std::to_string(info.epoch_step) + " of the next (expected batch 5 to 47 of epoch " +
             std::to_string(expected_epoch) + ", the same in both)");
    // no log row for the unfinished epoch
    const std::string rows = log_rows(dir);
    const long lines = static_cast<long>(std::count(rows.begin(), rows.end(), '\n'));
    if (lines != epoch) fail(where + "log.csv has " + std::to_string(lines - 1) + " rows, expected " + std::to_string(epoch - 1));
    std::cout << what << ": exit " << code << ", stopped at epoch " << epoch << " step " << step << '\n';
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: unetpp_interrupt_resume TRAIN WORK\n";
        return 2;
    }
    const std::string train = argv[1];
    const fs::path work = argv[2];
    fs::remove_all(work / "straight");
    fs::remove_all(work / "cut");
    fs::create_directories(work);
    const std::vector<std::string> common{train,      "--data-type", "synthetic", "--synthetic-count", "120",
                                          "--size",   "32",          "--base",    "8",                 "--depth",
                                          "3",        "--epochs",    "4",         "--batch",           "2",
                                          "--seed",   "7",           "--threads", "2",                 "--augment",
                                          "on",       "--schedule",  "step",      "--out"};
    const auto args = [&](const fs::path& out, bool resume) {
        std::vector<std::string> a = common;
        a.push_back(out.string());
        if (resume) a.push_back("--resume");
        return a;
    };

    const run_result straight = run(args(work / "straight", false));
    if (straight.exit_code != 0) fail("the uninterrupted run failed; output:\n" + straight.output);

    const fs::path cut = work / "cut";
    // SIGINT after batch 5 of epoch 2, and a second one while it saves (it must not stop the save)
    const run_result first = run(args(cut, false), {{R"(epoch 2/4 \[[^\]]*\] 5/48 )", SIGINT},
                                                    {"stopping after the current step", SIGINT}});
    check_interrupted(first, 130, cut, 2, "SIGINT");
    if (unetpp::train::read_checkpoint_info(unetpp::train::previous_checkpoint_path(cut / "last.safetensors")).epoch != 1)
        fail("last.prev.safetensors does not hold epoch 1, the checkpoint before the interrupted one");

    // SIGTERM after batch 5 of epoch 3 of the resumed run
    const run_result second = run(args(cut, true), {{R"(epoch 3/4 \[[^\]]*\] 5/48 )", SIGTERM}});
    check_interrupted(second, 143, cut, 3, "SIGTERM after --resume");

    const run_result rest = run(args(cut, true));
    if (rest.exit_code != 0 || rest.output.find("done: 4 epochs") == std::string::npos)
        fail("the final --resume failed; output:\n" + rest.output);

    for (const char* f : {"last.safetensors", "best.safetensors"})
        if (tensor_data(cut / f) != tensor_data(work / "straight" / f))
            fail(std::string(f) + ": the tensors of the interrupted and resumed run differ from the uninterrupted run's");
    if (log_rows(cut) != log_rows(work / "straight"))
        fail("log.csv differs from the uninterrupted run's:\n" + log_rows(cut) + "---\n" + log_rows(work / "straight"));
    std::cout << "interrupted and resumed run == uninterrupted run (last and best tensors, log rows)\n";
    return 0;
}
