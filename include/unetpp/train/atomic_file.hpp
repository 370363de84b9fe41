#pragma once
/// \file Durable, atomic file replacement: write to a temporary file in the same folder, fsync
/// it, rename it over the target, then fsync the folder so the rename itself survives a crash.
/// A reader sees either the old file or the complete new one, never a partial file. Used for
/// checkpoints, logs and every output of the command-line tools.

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

namespace unetpp::train {

namespace detail {
inline std::runtime_error io_error(const std::string& what, const std::filesystem::path& p, int err) {
    return std::runtime_error(what + " '" + p.string() + "': " + std::strerror(err));
}
}  // namespace detail

/// Replaces `path` by `bytes` atomically and durably (see the file comment). The temporary file
/// is `path` + ".tmp"; it is removed when anything fails, and the old `path` is left untouched.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
    namespace fs = std::filesystem;
    fs::path tmp = path;
    tmp += ".tmp";
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
#ifdef UNETPP_HAS_POSIX_FSYNC
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw detail::io_error("cannot create", tmp, errno);
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ::ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw detail::io_error("cannot write (disk full?)", tmp, e);
        }
        done += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0) {
        const int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        throw detail::io_error("cannot fsync", tmp, e);
    }
    if (::close(fd) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        throw detail::io_error("cannot close", tmp, e);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        throw detail::io_error("cannot rename the temporary file onto", path, e);
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // some file systems refuse to open or sync folders; the data is safe anyway
        (void)::fsync(dfd);
        ::close(dfd);
    }
#else
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot create '" + tmp.string() + "'");
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            out.close();
            std::error_code ig;
            fs::remove(tmp, ig);
            throw std::runtime_error("cannot write '" + tmp.string() + "' (disk full?)");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ig;
        fs::remove(tmp, ig);
        throw std::runtime_error("cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + ec.message());
    }
#endif
}

}  // namespace unetpp::train
