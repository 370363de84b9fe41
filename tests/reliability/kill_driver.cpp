// The kill -9 test: starts reliability_kill_target (a tiny training with checkpoints), kills it
// with SIGKILL after a random delay, checks that the folder always holds a checkpoint that loads
// and verifies and that no completed epoch was lost (only the epoch in progress), resumes, and
// repeats. Then it damages the latest checkpoint on purpose (one flipped byte, then a truncation)
// and checks that the resume falls back to last.prev.safetensors and says so, and finally lets
// the training complete.
//
//   reliability_kill_driver TARGET [SEED] [KILLS]
//
// The delays come from std::mt19937_64(SEED) and are printed, so a failing sequence can be
// replayed (the timing of the target itself still varies with the machine's load).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../support/spawn.hpp"

namespace fs = std::filesystem;

namespace {

/// Temporary files of io/atomic_file.hpp in `dir` (`.<name>.<pid>-<n>.unetpp-tmp`): a new
/// leftover means the kill landed inside a checkpoint (or log) write.
/// Counts the ones not in `seen` and adds them to it.
std::size_t new_temporary_files(const fs::path& dir, std::set<std::string>& seen) {
    std::size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() > 11 && name.front() == '.' && name.ends_with(".unetpp-tmp") && seen.insert(name).second) ++n;
    }
    return n;
}

struct run_result {
    std::string output;
    bool killed = false;
    int exit_code = -1;
};

[[noreturn]] void fail(const std::string& what) {
    std::cout << "FAIL: " << what << std::endl;
    std::exit(1);
}

/// Runs `args`, collecting its stdout; sends SIGKILL after `kill_after_ms` (< 0: never).
run_result run(const std::vector<std::string>& args, long kill_after_ms, long timeout_ms = 120000) {
    int fds[2];
    if (::pipe(fds) != 0) fail(std::string("pipe: ") + std::strerror(errno));
    const pid_t pid = unetpp::test::spawn(args, fds[0], fds[1], /*also_stderr=*/false);
    if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
    run_result r;
    const auto t0 = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    };
    bool open = true;
    char buf[4096];
    while (open) {
        long wait = kill_after_ms >= 0 ? kill_after_ms - elapsed() : timeout_ms - elapsed();
        if (wait <= 0) {
            if (kill_after_ms < 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
                fail("the target did not finish within " + std::to_string(timeout_ms) + " ms; output:\n" + r.output);
            }
            ::kill(pid, SIGKILL);
            r.killed = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(wait));
        if (n > 0) {
            const ::ssize_t got = ::read(fds[0], buf, sizeof buf);
            if (got > 0)
                r.output.append(buf, static_cast<std::size_t>(got));
            else if (got == 0)
                open = false;  // the target closed stdout: it is exiting
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (::ssize_t got; (got = ::read(fds[0], buf, sizeof buf)) > 0;) r.output.append(buf, static_cast<std::size_t>(got));
    ::close(fds[0]);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) r.killed = true;  // it may have exited first
    else if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (r.killed && WIFEXITED(status)) r.killed = false;
    return r;
}

/// The largest N of the "epoch N" lines (0 when none).
long last_epoch_line(const std::string& out) {
    long e = 0;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("epoch ")) e = std::max(e, std::atol(line.c_str() + 6));
    return e;
}

struct verified {
    bool none = false;
    long epoch = 0;
    bool fell_back = false;
    std::string path, note, raw;
};

verified verify(const std::string& target, const fs::path& dir) {
    const auto r = run({target, "verify", dir.string()}, -1);
    verified v;
    v.raw = r.output;
    if (r.exit_code != 0 || r.killed) fail("verify failed: no checkpoint loads and verifies:\n" + r.output);
    std::istringstream in(r.output);
    std::string word;
    in >> word;
    if (word == "none") {
        v.none = true;
        return v;
    }
    if (word != "ok") fail("verify printed something unexpected:\n" + r.output);
    int fb = 0;
    in >> v.epoch >> fb >> v.path;
    v.fell_back = fb != 0;
    std::getline(in, v.note);
    std::getline(in, v.note);
    return v;
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const fs::path& p, const std::string& b) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(b.data(), static_cast<std::streamsize>(b.size()));
}

/// Damages dir/last.safetensors with `damage`, then checks the fallback (verify and a training
/// run that completes `more` further epochs) and returns the new checkpoint epoch.
template <class F>
long damaged_resume(const std::string& target, const fs::path& dir, long epoch, const char* what, const char* expect,
                    F damage) {
    const fs::path last = dir / "last.safetensors";
    const long prev_epoch = verify(target, dir).epoch - 1;  // last.prev holds the epoch before
    damage(last);
    const auto v = verify(target, dir);
    if (!v.fell_back || v.path != (dir / "last.prev.safetensors").string() || v.epoch != prev_epoch)
        fail(std::string(what) + ": expected a fallback to last.prev.safetensors (epoch " + std::to_string(prev_epoch) +
             "), verify said:\n" + v.raw);
    if (v.note.find(expect) == std::string::npos || v.note.find("resuming from") == std::string::npos)
        fail(std::string(what) + ": the fallback message does not say why (expected \"" + expect + "\"):\n" + v.note);
    const long target_epochs = epoch + 2;
    const auto r = run({target, "train", dir.string(), std::to_string(target_epochs)}, -1);
    if (r.exit_code != 0) fail(std::string(what) + ": the resumed training failed:\n" + r.output);
    if (r.output.find("resuming from") == std::string::npos || r.output.find(expect) == std::string::npos)
        fail(std::string(what) + ": the resumed training did not say that it fell back:\n" + r.output);
    const auto after = verify(target, dir);
    if (after.fell_back || after.epoch != target_epochs)
        fail(std::string(what) + ": after the resumed training, expected last.safetensors at epoch " +
             std::to_string(target_epochs) + ":\n" + after.raw);
    std::cout << what << ": fell back to last.prev.safetensors (epoch " << prev_epoch << ") and said so: " << v.note
              << "\n  then trained to epoch " << target_epochs << std::endl;
    return target_epochs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: reliability_kill_driver TARGET [SEED] [KILLS]\n";
        return 2;
    }
    const std::string target = fs::absolute(argv[1]).string();
    const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20261206;
    const int kills = argc > 3 ? std::atoi(argv[3]) : 60;
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<long> delay_ms(0, 600);

    char templ[] = "/tmp/unetpp_kill_XXXXXX";
    const char* made = ::mkdtemp(templ);
    if (!made) fail(std::string("mkdtemp: ") + std::strerror(errno));
    const fs::path dir = made;
    std::cout << "seed " << seed << ", " << kills << " kills, folder " << dir.string() << std::endl;

    const long endless = 1000000;
    long checkpoint_epoch = 0;  // of the last verification
    int survived = 0, during_startup = 0, during_write = 0, unreported = 0;
    std::set<std::string> leftovers;  // temporary files seen so far (the next write removes them)
    for (int k = 1; k <= kills; ++k) {
        const long d = delay_ms(gen);
        const auto r = run({target, "train", dir.string(), std::to_string(endless)}, d);
        if (!r.killed) fail("kill " + std::to_string(k) + ": the target ended by itself:\n" + r.output);
        if (r.output.find("error:") != std::string::npos) fail("kill " + std::to_string(k) + ": the target failed:\n" + r.output);
        const long seen = last_epoch_line(r.output);
        if (seen == 0) ++during_startup;
        // A leftover temporary file: the kill landed inside a checkpoint (or log) write.
        if (new_temporary_files(dir, leftovers) > 0) ++during_write;
        const auto v = verify(target, dir);
        if (v.none) {
            if (checkpoint_epoch != 0 || seen != 0)
                fail("kill " + std::to_string(k) + ": no checkpoint, but epoch " + std::to_string(std::max(seen, checkpoint_epoch)) +
                     " had completed");
        } else {
            if (v.fell_back)
                fail("kill " + std::to_string(k) + ": last.safetensors did not verify after a plain kill: " + v.note);
            // Every epoch the target reported (after its checkpoints) is in the checkpoint; at most
            // one more (written, not yet reported) may be; nothing goes backwards.
            if (v.epoch < seen || v.epoch > std::max(seen, checkpoint_epoch) + 1 || v.epoch < checkpoint_epoch)
                fail("kill " + std::to_string(k) + ": checkpoint epoch " + std::to_string(v.epoch) + " after epoch " +
                     std::to_string(seen) + " was reported (previous checkpoint epoch " +
                     std::to_string(checkpoint_epoch) + ")");
            if (v.epoch == seen + 1) ++unreported;
            checkpoint_epoch = v.epoch;
            // The fallback needs two files: a kill inside a write must never leave both names on one
            // (hard-linked) file, which damage would then take together.
            std::error_code ec;
            const fs::path last = dir / "last.safetensors", prev = dir / "last.prev.safetensors";
            if (fs::exists(last, ec) && fs::exists(prev, ec) && fs::equivalent(last, prev, ec) && !ec)
                fail("kill " + std::to_string(k) + ": last.safetensors and last.prev.safetensors are one file");
        }
        ++survived;
        std::cout << "kill " << k << " after " << d << " ms: epochs reported " << seen << ", checkpoint epoch "
                  << checkpoint_epoch << std::endl;
    }
    if (checkpoint_epoch < 2) fail("the kills left fewer than 2 epochs done; the test needs a slower kill rate");

    // A kill between the last two steps of a write leaves last.prev two epochs behind last (complete,
    // and another file). The damage checks below expect it one epoch behind: one epoch without a
    // kill first, whose write moves last to last.prev.
    {
        const long next = checkpoint_epoch + 1;
        const auto r = run({target, "train", dir.string(), std::to_string(next)}, -1);
        if (r.exit_code != 0) fail("the epoch after the kills failed:\n" + r.output);
        const auto v = verify(target, dir);
        if (v.fell_back || v.epoch != next) fail("after the epoch that followed the kills:\n" + v.raw);
        checkpoint_epoch = next;
    }

    long epoch = damaged_resume(target, dir, checkpoint_epoch, "flipped byte", "fails its checksum", [](const fs::path& p) {
        std::string b = read_all(p);
        b[b.size() / 2] = static_cast<char>(b[b.size() / 2] ^ 0x20);
        write_all(p, b);
    });
    epoch = damaged_resume(target, dir, epoch, "truncated file", "cannot be loaded", [](const fs::path& p) {
        const std::string b = read_all(p);
        write_all(p, b.substr(0, b.size() * 2 / 3));
    });

    // Training completes: two more epochs without a kill.
    const auto r = run({target, "train", dir.string(), std::to_string(epoch + 2)}, -1);
    if (r.exit_code != 0 || r.output.find("done " + std::to_string(epoch + 2)) == std::string::npos)
        fail("the final run did not complete:\n" + r.output);
    const auto v = verify(target, dir);
    if (v.fell_back || v.epoch != epoch + 2) fail("after the final run:\n" + v.raw);

    std::cout << "PASS: " << survived << " kills survived (" << during_startup
              << " before a run completed its first epoch, " << during_write
              << " inside a checkpoint write, " << unreported
              << " after a checkpoint was written but before its epoch was reported); every checkpoint loaded and "
                 "verified, no completed epoch lost; fallback on a flipped byte and on a truncation; training "
                 "completed at epoch "
              << epoch + 2 << std::endl;
    std::error_code ec;
    fs::remove_all(dir, ec);  // the folder this program created
    return 0;
}
