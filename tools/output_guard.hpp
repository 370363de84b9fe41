// The output policy of the unetpp command-line programs: a program never deletes or overwrites a
// file it did not create.
//
//   output folder (evaluate --out-masks, predict --out, train --out): a folder that exists and
//       is not empty is refused, unless --overwrite is given; even then only the files the program
//       writes (fixed names such as <stem>_pred.png) are replaced, nothing is removed.
//   output file (--csv, --summary, --export-data, plot --out): an existing file is refused unless
//       --overwrite is given; a folder in its place is always refused.
//
// The checks read only; prepare_folder / prepare_file_parent then create what is missing and prove
// that the folder is writable with a probe file of a unique name that only this program can have
// created (and that it removes again), so that a read-only or full folder is reported before any
// computing. write_file writes through a uniquely named temporary file in the same folder
// (fsync, then rename or link), so a reader sees the old file or the complete new one, and an
// existing file is never clobbered when replacing is not allowed.
//
// Light on purpose (standard library, POSIX, and unetpp/io/atomic_file.hpp, which is no more):
// tested by tests/unit/cli/test_output_guard.cpp.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define UNETPP_CLI_POSIX_FILES 1
#endif

#include <unetpp/io/atomic_file.hpp>

#include "cli_args.hpp"

namespace cli {

namespace fs = std::filesystem;

/// The text that tells the user how to get past a refusal.
inline std::string overwrite_hint(std::string_view tool) {
    return "pass --overwrite to replace only the files " + std::string(tool) +
           " writes (nothing else is changed or removed)";
}

/// Refuses an output folder that exists and is not empty, unless `overwrite`; refuses a path that
/// exists and is not a folder. `option` names the option in messages ("--out-masks").
inline void check_output_folder(const fs::path& dir, std::string_view option, std::string_view tool, bool overwrite) {
    if (dir.empty()) throw usage_error(std::string(option) + " needs a folder name");
    std::error_code ec;
    const auto st = fs::status(dir, ec);
    if (!fs::exists(st)) return;  // created later by prepare_folder
    if (!fs::is_directory(st))
        throw usage_error(std::string(option) + " '" + dir.string() +
                          "' exists and is not a folder; choose a new or empty folder");
    fs::directory_iterator it(dir, ec);
    if (ec)
        throw usage_error(std::string(option) + " '" + dir.string() + "' cannot be read (" + ec.message() +
                          "); choose another folder");
    if (it == fs::directory_iterator() || overwrite) return;
    throw usage_error(std::string(option) + " '" + dir.string() + "' already holds files that " + std::string(tool) +
                      " did not write (for example '" + it->path().filename().string() +
                      "'); choose an empty or new folder, or " + overwrite_hint(tool));
}

/// Refuses an output file that exists, unless `overwrite`; always refuses a folder (or anything
/// else that is not a regular file) in its place.
inline void check_output_file(const fs::path& file, std::string_view option, std::string_view tool, bool overwrite) {
    if (file.empty()) throw usage_error(std::string(option) + " needs a file name");
    std::error_code ec;
    const auto st = fs::symlink_status(file, ec);
    if (!fs::exists(st)) return;
    if (fs::is_directory(st))
        throw usage_error(std::string(option) + " '" + file.string() + "' is a folder; give the name of a file");
    if (!fs::is_regular_file(st))
        throw usage_error(std::string(option) + " '" + file.string() +
                          "' exists and is not a regular file; give another name");
    if (!overwrite)
        throw usage_error(std::string(option) + " '" + file.string() + "' already exists; choose another name, or " +
                          overwrite_hint(tool));
}

namespace detail {
inline usage_error write_error(const std::string& what, const fs::path& p, int err) {
    return usage_error(what + " '" + p.string() + "': " + std::strerror(err));
}

#ifdef UNETPP_CLI_POSIX_FILES
/// Creates an empty file of a unique name "<dir>/.<stem>.XXXXXX" (O_EXCL, so never an existing
/// file); returns its descriptor and sets `tmp`, or returns -1 with errno set.
inline int make_unique_file(const fs::path& dir, const std::string& stem, fs::path& tmp) {
    std::string name = (dir.empty() ? fs::path(".") : dir) / ("." + stem + ".XXXXXX");
    const int fd = ::mkstemp(name.data());
    if (fd >= 0) tmp = name;
    return fd;
}
#endif
}  // namespace detail

/// Creates `dir` (and its parents) when missing and proves it writable with a probe file that is
/// removed again. Throws usage_error naming `option` when it cannot.
inline void prepare_folder(const fs::path& dir, std::string_view option) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw usage_error(std::string(option) + ": cannot create the folder '" + dir.string() + "' (" + ec.message() +
                          "); choose a writable place");
#ifdef UNETPP_CLI_POSIX_FILES
    fs::path probe;
    const int fd = detail::make_unique_file(dir, "unetpp-write-probe", probe);
    if (fd < 0)
        throw usage_error(std::string(option) + ": cannot write into '" + dir.string() + "' (" + std::strerror(errno) +
                          "); choose a writable folder");
    ::close(fd);
    ::unlink(probe.c_str());  // our own probe: the unique name was created by mkstemp above
#endif
}

/// prepare_folder for the folder an output file goes into.
inline void prepare_file_parent(const fs::path& file, std::string_view option) {
    prepare_folder(file.has_parent_path() ? file.parent_path() : fs::path("."), option);
}

/// Writes `bytes` to `path` atomically and durably through a temporary file of a unique name in
/// the same folder. With `replace`, an existing file at `path` is replaced; without, the call
/// fails (usage_error) when `path` exists, even when it appeared after the checks above.
inline void write_file(const fs::path& path, std::string_view bytes, bool replace) {
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
#ifdef UNETPP_CLI_POSIX_FILES
    fs::path tmp;
    const int fd = detail::make_unique_file(dir, path.filename().string(), tmp);
    if (fd < 0) throw detail::write_error("cannot create a temporary file next to", path, errno);
    const auto fail = [&](const std::string& what, const fs::path& p, int e) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return detail::write_error(what, p, e);
    };
    const ::mode_t mask = ::umask(0);  // mkstemp makes 0600 files; give the usual 0666 & ~umask
    ::umask(mask);
    if (::fchmod(fd, 0666 & ~mask) != 0) throw fail("cannot set the permissions of", tmp, errno);
    try {
        unetpp::io::write_fd_synced(fd, bytes, tmp);  // closes fd
    } catch (const std::runtime_error& e) {
        ::unlink(tmp.c_str());
        throw usage_error(e.what());
    }
    if (replace) {
        if (::rename(tmp.c_str(), path.c_str()) != 0) {
            const int e = errno;
            ::unlink(tmp.c_str());
            throw detail::write_error("cannot rename the temporary file onto", path, e);
        }
    } else if (::link(tmp.c_str(), path.c_str()) == 0) {
        ::unlink(tmp.c_str());  // the data now has its final name; drop the temporary one
    } else {
        const int e = errno;
        if (e == EEXIST) {
            ::unlink(tmp.c_str());
            throw usage_error("'" + path.string() + "' appeared while the program ran; it is left as it is");
        }
        // file systems without hard links: check, then rename (a small window, but no data loss
        // unless another program creates the file in between)
        std::error_code ec;
        if (fs::exists(fs::symlink_status(path, ec))) {
            ::unlink(tmp.c_str());
            throw usage_error("'" + path.string() + "' appeared while the program ran; it is left as it is");
        }
        if (::rename(tmp.c_str(), path.c_str()) != 0) {
            const int e2 = errno;
            ::unlink(tmp.c_str());
            throw detail::write_error("cannot rename the temporary file onto", path, e2);
        }
    }
    unetpp::io::sync_folder(dir);  // the rename itself survives a crash
#else
    std::error_code ec;
    if (!replace && fs::exists(path, ec))
        throw usage_error("'" + path.string() + "' appeared while the program ran; it is left as it is");
    fs::path tmp = dir / ("." + path.filename().string() + ".unetpp-partial");
    if (fs::exists(tmp, ec)) throw usage_error("'" + tmp.string() + "' exists; remove it or choose another name");
    {
        std::ofstream out(tmp, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            out.close();
            fs::remove(tmp, ec);
            throw usage_error("cannot write '" + tmp.string() + "' (disk full?)");
        }
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw usage_error("cannot rename the temporary file onto '" + path.string() + "'");
    }
#endif
}

}  // namespace cli
