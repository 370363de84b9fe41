// Messages of the unetpp command-line programs that are not about options: file errors in plain
// words with what to do (instead of std::filesystem's "filesystem error: cannot create
// directories: Read-only file system [run]"), and progress during long start-up steps. Light
// (standard library and unetpp/train/callbacks.hpp): tests/unit/cli/test_cli_messages.cpp.
//
// For the programs' own file errors:
//   throw usage_error(cli::file_error_text("cannot write", path, ec, "--out"));
// cli::guarded (cli_common.hpp) applies file_error_text / with_file_advice to every error that
// reaches it, so the programs need not catch file errors themselves.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

#include <unetpp/train/callbacks.hpp>

namespace cli {

namespace fs = std::filesystem;

// --- messages --------------------------------------------------------------------------------

/// What a file-system error means and what to do, in plain words, or "" for an error without
/// advice. `option` names the option whose path failed ("--out"), or is empty.
inline std::string file_error_advice(std::error_code ec, std::string_view option = {}) {
    const std::string other = option.empty() ? std::string("another place") : "another " + std::string(option);
    if (ec == std::errc::read_only_file_system)
        return "the disk is read-only; choose " + other + " on a writable disk";
    if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted)
        return "you have no permission to write there; choose " + other + " in a folder of your own, or change the "
               "folder's permissions";
    if (ec == std::errc::no_space_on_device || ec.value() == EDQUOT)
        return "the disk is full (or your quota is used up); free some space or choose " + other + " on another disk";
    if (ec == std::errc::not_a_directory)
        return "a part of the path is a file, not a folder; choose " + other;
    if (ec == std::errc::is_a_directory) return "the path is a folder; give the name of a file";
    if (ec == std::errc::file_exists) return "something else already has that name; choose " + other;
    if (ec == std::errc::filename_too_long) return "the path is too long; choose a shorter one";
    if (ec == std::errc::no_such_file_or_directory) return "a folder on the way does not exist; check the path";
    if (ec == std::errc::too_many_files_open) return "too many files are open; close other programs and try again";
    return {};
}

/// "cannot create the folder 'run': the disk is read-only; choose another --out on a writable
/// disk", for any file-system error (the system's wording is kept only when there is no advice).
/// The function the programs call when they report a failed file operation themselves.
inline std::string file_error_text(std::string_view action, const fs::path& path, std::error_code ec,
                                   std::string_view option = {}) {
    const std::string advice = file_error_advice(ec, option);
    return std::string(action) + " '" + path.string() + "': " + (advice.empty() ? ec.message() : advice);
}

/// The message of a std::filesystem error in plain words (the raw text is "filesystem error:
/// cannot create directories: Read-only file system [run]").
inline std::string file_error_text(const fs::filesystem_error& e) {
    const std::string advice = file_error_advice(e.code());
    const fs::path p = e.path1();
    std::string m = "a file operation failed";
    if (!p.empty()) m += " on '" + p.string() + "'";
    return m + ": " + (advice.empty() ? e.code().message() : advice);
}

/// Adds advice to a message that ends in the system's wording of an errno ("...: Read-only file
/// system"), as the io writers' errors do; other messages are returned unchanged.
inline std::string with_file_advice(std::string message) {
    for (const int e : {EROFS, EACCES, EPERM, ENOSPC, EDQUOT, ENOTDIR, EISDIR, ENAMETOOLONG}) {
        const std::string sys = std::strerror(e);
        const std::string advice = file_error_advice(std::make_error_code(static_cast<std::errc>(e)));
        if (message.size() >= sys.size() && message.compare(message.size() - sys.size(), sys.size(), sys) == 0)
            return message.substr(0, message.size() - sys.size()) + advice;
        if (const auto at = message.find("(" + sys + ")"); at != std::string::npos)
            return message.replace(at, sys.size() + 2, "(" + advice + ")");
    }
    return message;
}

/// Progress of a long start-up step ("hashing 780 images"): at most one update per half second,
/// redrawn in place on a terminal and one line every few seconds otherwise, and a closing line
/// with the time taken when the step lasted longer than a second. Silent when `quiet`.
class step_progress {
public:
    step_progress(std::string what, bool quiet, std::ostream& out = std::cout)
        : what_(std::move(what)), quiet_(quiet), out_(out), terminal_(unetpp::train::stdout_is_terminal() && &out == &std::cout),
          start_(clock::now()), last_(start_) {}
    step_progress(const step_progress&) = delete;
    step_progress& operator=(const step_progress&) = delete;
    ~step_progress() { finish(); }

    /// Reports `done` of `total` items.
    void operator()(std::size_t done, std::size_t total) {
        if (quiet_ || finished_) return;
        const auto now = clock::now();
        const double since = std::chrono::duration<double>(now - last_).count();
        if (since < (terminal_ ? 0.5 : 5.0) && done < total) return;
        if (done >= total) return;  // finish() closes the step (when it took long)
        last_ = now;
        shown_ = true;
        const double el = std::chrono::duration<double>(now - start_).count();
        const double eta = done ? el / double(done) * double(total - std::min(done, total)) : 0.0;
        out_ << (terminal_ ? "\r" : "") << what_ << ": " << done << '/' << total << " (ETA "
             << unetpp::train::format_duration(eta) << ")" << (terminal_ ? "   " : "\n") << std::flush;
    }
    /// Ends the step (called by the destructor).
    void finish() {
        if (quiet_ || finished_) return;
        finished_ = true;
        const double el = std::chrono::duration<double>(clock::now() - start_).count();
        if (!shown_ && el < 1.0) return;
        char b[32];
        std::snprintf(b, sizeof b, "%.1f", el);
        out_ << (terminal_ ? "\r" : "") << what_ << ": done in " << b << " s" << (terminal_ ? "          \n" : "\n")
             << std::flush;
    }

private:
    using clock = std::chrono::steady_clock;
    std::string what_;
    bool quiet_;
    std::ostream& out_;
    bool terminal_;
    clock::time_point start_, last_;
    bool shown_ = false, finished_ = false;
};

}  // namespace cli
