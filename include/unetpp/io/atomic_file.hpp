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
/// replace_file_keeping_previous keeps the file it replaces as `previous`, in three steps that
/// each leave complete files behind: (1) the new bytes go to `path`.tmp and are fsynced; (2) the
/// current `path` is hard-linked (copied where links are not supported) to `previous`.tmp and
/// renamed over `previous`; (3) `path`.tmp is renamed over `path`. A crash between any two steps
/// leaves `path` complete (old or new) and `previous` complete (older or old); the only leftovers
/// are the .tmp files, which the next call replaces.

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define UNETPP_HAS_POSIX_FSYNC 1
#endif

namespace unetpp::io {

namespace atomic_detail {

inline std::runtime_error io_error(const std::string& what, const std::filesystem::path& p, int err) {
    return std::runtime_error(what + " '" + p.string() + "': " + std::strerror(err));
}

inline std::filesystem::path with_suffix(const std::filesystem::path& p, const char* suffix) {
    std::filesystem::path t = p;
    t += suffix;
    return t;
}

inline std::filesystem::path folder_of(const std::filesystem::path& p) {
    return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}

#ifdef UNETPP_HAS_POSIX_FSYNC
/// Writes all of `bytes` to the open descriptor `fd`, fsyncs and closes it. Errors name `file`
/// (the file behind `fd`); the descriptor is closed either way, and removing the file is the
/// caller's choice. Shared with the command-line tools' writer (tools/output_guard.hpp).
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

/// Creates (or truncates) `file`, writes `bytes` and fsyncs it. On failure the file is removed.
inline void write_synced(const std::filesystem::path& file, std::string_view bytes) {
#ifdef UNETPP_HAS_POSIX_FSYNC
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw io_error("cannot create", file, errno);
    try {
        write_fd_synced(fd, bytes, file);
    } catch (...) {
        ::unlink(file.c_str());
        throw;
    }
#else
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

/// Replaces `path` by `bytes` atomically and durably (see the file comment). The temporary file
/// is `path` + ".tmp"; it is removed when anything fails, and the old `path` is left untouched.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
    const std::filesystem::path tmp = atomic_detail::with_suffix(path, ".tmp");
    atomic_detail::write_synced(tmp, bytes);
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
    const fs::path tmp = atomic_detail::with_suffix(path, ".tmp");
    atomic_detail::write_synced(tmp, bytes);
    std::error_code ec;
    if (keep_current && fs::is_regular_file(path, ec)) {
        const fs::path prev_tmp = atomic_detail::with_suffix(previous, ".tmp");
        fs::remove(prev_tmp, ec);  // a leftover of an interrupted call of ours
        ec.clear();
        fs::create_hard_link(path, prev_tmp, ec);
        if (ec) {  // no hard links here (some network and FAT file systems): copy instead
            ec.clear();
            fs::copy_file(path, prev_tmp, fs::copy_options::overwrite_existing, ec);
            if (ec) {
                std::error_code ig;
                fs::remove(prev_tmp, ig);
                fs::remove(tmp, ig);
                throw std::runtime_error("cannot keep '" + path.string() + "' as '" + previous.string() +
                                         "': " + ec.message());
            }
            try {
                atomic_detail::sync_file(prev_tmp);
            } catch (...) {
                std::error_code ig;
                fs::remove(prev_tmp, ig);
                fs::remove(tmp, ig);
                throw;
            }
        }
        try {
            atomic_detail::rename_over(prev_tmp, previous);
        } catch (...) {
            std::error_code ig;
            fs::remove(tmp, ig);
            throw;
        }
        atomic_detail::sync_folder(atomic_detail::folder_of(previous));
    }
    atomic_detail::rename_over(tmp, path);
    atomic_detail::sync_folder(atomic_detail::folder_of(path));
}

}  // namespace unetpp::io
