#pragma once
/// \file Durable, atomic file replacement: write to a temporary file in the same folder, fsync
/// it, rename it over the target, then fsync the folder so the rename itself survives a crash.
/// A reader sees either the old file or the complete new one, never a partial file. Used for
/// safetensors files (weights, checkpoints), ONNX exports, logs and every output of the
/// command-line tools.
///
///   io::write_file_atomic("model.onnx", bytes);
///   io::replace_file_keeping_previous("run/last.safetensors", "run/last.prev.safetensors", bytes);
///
/// replace_file_keeping_previous keeps the file it replaces as `previous`, in four steps that
/// each leave complete files behind: (1) the new bytes go to a temporary file and are fsynced;
/// (2) the current `path` is hard-linked (copied where links are not supported) to a second
/// temporary file; (3) the first temporary file is renamed over `path`; (4) the second one is
/// renamed over `previous`. A crash between any two steps leaves `path` complete (old or new) and
/// `previous` complete (older or old), and they are always two different files: renaming the
/// link over `previous` before `path` was replaced would leave both names on one file in that
/// window, and damage to that one file would then take both (the kill -9 test found it).
///
/// Temporary files are created new (O_EXCL) under names of their own,
/// `.<file name>.<process id>-<n>.unetpp-tmp` in the target's folder, so a user's file is never
/// taken for one (a file called `last.safetensors.tmp` is left alone). The only leftovers of a
/// crash are such files; the next write of the same target removes those whose process has
/// ended, and nothing else.

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#define UNETPP_HAS_POSIX_FSYNC 1
#endif

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io {

namespace atomic_detail {

inline std::runtime_error io_error(const std::string& what, const std::filesystem::path& p, int err) {
    return std::runtime_error(what + " '" + p.string() + "': " + std::strerror(err));
}

inline std::filesystem::path folder_of(const std::filesystem::path& p) {
    return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}

#ifdef UNETPP_HAS_POSIX_FSYNC
/// Writes all of `bytes` to the open descriptor `fd`, fsyncs and closes it. Errors name `file`
/// (the file behind `fd`); the descriptor is closed either way, and removing the file is the
/// caller's choice. Public as io::write_fd_synced (below).
inline void write_fd_synced(int fd, std::string_view bytes, const std::filesystem::path& file) {
    const auto fail = [&](const char* what, int e) {
        ::close(fd);
        return io_error(what, file, e);
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ::ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw fail("cannot write (disk full?)", errno);
        }
        done += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0) throw fail("cannot fsync", errno);
    if (::close(fd) != 0) throw io_error("cannot close", file, errno);
}
#endif

/// The name prefix and suffix of this module's temporary files for `target` (see the file comment).
inline std::string temp_prefix(const std::filesystem::path& target) {
    std::string p(1, '.');
    p += target.filename().string();
    p += '.';
    return p;
}
inline constexpr std::string_view temp_suffix = ".unetpp-tmp";

inline long this_process_id() {
#ifdef UNETPP_HAS_POSIX_FSYNC
    return static_cast<long>(::getpid());
#else
    return 0;
#endif
}

/// The process id in `name` when it is exactly `<prefix><pid>-<n><temp_suffix>`, else -1.
inline long temp_owner(std::string_view name, std::string_view prefix) {
    if (name.size() <= prefix.size() + temp_suffix.size() || !name.starts_with(prefix) || !name.ends_with(temp_suffix))
        return -1;
    const std::string_view mid = name.substr(prefix.size(), name.size() - prefix.size() - temp_suffix.size());
    const auto dash = mid.find('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == mid.size()) return -1;
    long pid = 0;
    unsigned long n = 0;
    const auto r1 = std::from_chars(mid.data(), mid.data() + dash, pid);
    const auto r2 = std::from_chars(mid.data() + dash + 1, mid.data() + mid.size(), n);
    if (r1.ec != std::errc() || r1.ptr != mid.data() + dash || r2.ec != std::errc() || r2.ptr != mid.data() + mid.size())
        return -1;
    return pid;
}

/// Removes temporary files of `target` left by crashed writers: names of this module's exact
/// pattern whose process no longer runs. Nothing else is touched; errors are ignored (a leftover
/// costs disk space, never correctness).
inline void remove_stale_temps(const std::filesystem::path& target) {
#ifdef UNETPP_HAS_POSIX_FSYNC
    namespace fs = std::filesystem;
    const std::string prefix = temp_prefix(target);
    std::error_code ec;
    fs::directory_iterator it(folder_of(target), ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const long pid = temp_owner(name, prefix);
        if (pid <= 0 || pid == this_process_id()) continue;
        if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or cannot tell
        std::error_code ig;
        if (it->is_regular_file(ig)) fs::remove(it->path(), ig);
    }
#else
    (void)target;
#endif
}

/// A fresh temporary file name for `target`, in its folder (not created).
inline std::filesystem::path temp_name(const std::filesystem::path& target) {
    static std::atomic<unsigned long> counter{0};
    return folder_of(target) / (temp_prefix(target) + std::to_string(this_process_id()) + "-" +
                                std::to_string(counter.fetch_add(1)) + std::string(temp_suffix));
}

/// Creates a new temporary file for `target` (never an existing one), writes `bytes` and fsyncs
/// it; returns its path. On failure nothing is left behind.
inline std::filesystem::path write_temp_synced(const std::filesystem::path& target, std::string_view bytes) {
#ifdef UNETPP_HAS_POSIX_FSYNC
    for (int attempt = 0;; ++attempt) {
        const std::filesystem::path file = temp_name(target);
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            if (errno == EEXIST && attempt < 100) continue;
            throw io_error("cannot create a temporary file for", target, errno);
        }
        try {
            write_fd_synced(fd, bytes, file);
        } catch (...) {
            ::unlink(file.c_str());
            throw;
        }
        return file;
    }
#else
    const std::filesystem::path file = temp_name(target);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot create '" + file.string() + "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
        out.close();
        std::error_code ig;
        std::filesystem::remove(file, ig);
        throw std::runtime_error("cannot write '" + file.string() + "' (disk full?)");
    }
    return file;
#endif
}

/// fsyncs an existing file (a copy made by std::filesystem::copy_file).
inline void sync_file(const std::filesystem::path& file) {
#ifdef UNETPP_HAS_POSIX_FSYNC
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw io_error("cannot open", file, errno);
    const int r = ::fsync(fd);
    const int e = errno;
    ::close(fd);
    if (r != 0) throw io_error("cannot fsync", file, e);
#else
    (void)file;
#endif
}

/// fsyncs a folder so that renames inside it are durable. Some file systems refuse to open or
/// sync folders; the renamed files are complete anyway, so that is not an error.
inline void sync_folder(const std::filesystem::path& dir) {
#ifdef UNETPP_HAS_POSIX_FSYNC
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
#else
    (void)dir;
#endif
}

/// Renames `from` over `to`; on failure removes `from` (a temporary this module created).
inline void rename_over(const std::filesystem::path& from, const std::filesystem::path& to) {
    std::error_code ec;
    std::filesystem::rename(from, to, ec);
    if (ec) {
        std::error_code ig;
        std::filesystem::remove(from, ig);
        throw std::runtime_error("cannot rename the temporary file '" + from.string() + "' onto '" + to.string() +
                                 "': " + ec.message());
    }
}

}  // namespace atomic_detail

// Public for programs that write their own files the same way (unetpp's command-line tools do):
#ifdef UNETPP_HAS_POSIX_FSYNC
/// Writes all of `bytes` to the open descriptor `fd`, fsyncs and closes it; errors name `file`.
using atomic_detail::write_fd_synced;
#endif
/// fsyncs a folder so that renames inside it are durable (a refusal to sync is not an error).
using atomic_detail::sync_folder;

/// Replaces `path` by `bytes` atomically and durably (see the file comment). The temporary file
/// is removed when anything fails, and the old `path` is left untouched.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
    atomic_detail::remove_stale_temps(path);
    const std::filesystem::path tmp = atomic_detail::write_temp_synced(path, bytes);
    atomic_detail::rename_over(tmp, path);
    atomic_detail::sync_folder(atomic_detail::folder_of(path));
}

/// Replaces `path` by `bytes` like write_file_atomic and keeps the replaced file as `previous`
/// (see the file comment for the steps and why every crash point leaves complete files). With
/// `keep_current` false the current `path` is not kept (use it when `path` is known to be
/// damaged, so that a good `previous` is not replaced by it); `previous` is then left as it is.
/// `previous` must be in the same folder as `path`.
inline void replace_file_keeping_previous(const std::filesystem::path& path, const std::filesystem::path& previous,
                                          std::string_view bytes, bool keep_current = true) {
    namespace fs = std::filesystem;
    atomic_detail::remove_stale_temps(path);
    atomic_detail::remove_stale_temps(previous);
    const fs::path tmp = atomic_detail::write_temp_synced(path, bytes);
    std::error_code ec;
    if (keep_current && fs::is_regular_file(path, ec)) {
        fs::path prev_tmp;
        for (int attempt = 0;; ++attempt) {  // a new name: create_hard_link never replaces a file
            prev_tmp = atomic_detail::temp_name(previous);
            ec.clear();
            fs::create_hard_link(path, prev_tmp, ec);
            if (ec != std::errc::file_exists || attempt >= 100) break;
        }
        if (ec && ec != std::errc::file_exists) {  // no hard links here (some network and FAT file systems): copy
            ec.clear();
            fs::copy_file(path, prev_tmp, fs::copy_options::none, ec);
            if (!ec) {
                try {
                    atomic_detail::sync_file(prev_tmp);
                } catch (...) {
                    std::error_code ig;
                    fs::remove(prev_tmp, ig);
                    fs::remove(tmp, ig);
                    throw;
                }
            }
        }
        if (ec) {
            std::error_code ig;
            if (ec != std::errc::file_exists) fs::remove(prev_tmp, ig);
            fs::remove(tmp, ig);
            throw std::runtime_error("cannot keep '" + path.string() + "' as '" + previous.string() +
                                     "': " + ec.message());
        }
        try {
            atomic_detail::rename_over(tmp, path);  // (3): path is the new file, prev_tmp the old one
        } catch (...) {
            std::error_code ig;
            fs::remove(prev_tmp, ig);
            fs::remove(tmp, ig);
            throw;
        }
        atomic_detail::sync_folder(atomic_detail::folder_of(path));
        // (4). Where `previous` already is the old file (a folder left by a crash of the three-step
        // order this replaced), rename would do nothing and keep prev_tmp: drop it instead.
        std::error_code same_ec;
        if (fs::equivalent(prev_tmp, previous, same_ec) && !same_ec) {
            std::error_code ig;
            fs::remove(prev_tmp, ig);
        } else {
            try {
                atomic_detail::rename_over(prev_tmp, previous);
            } catch (const std::exception& e) {
                std::error_code ig;
                fs::remove(prev_tmp, ig);
                throw std::runtime_error("'" + path.string() + "' holds the new file, but the file it replaced could " +
                                         "not be kept as '" + previous.string() + "': " + e.what());
            }
        }
        atomic_detail::sync_folder(atomic_detail::folder_of(previous));
        return;
    }
    atomic_detail::rename_over(tmp, path);
    atomic_detail::sync_folder(atomic_detail::folder_of(path));
}

}  // namespace unetpp::io
