#pragma once
// Support for the interop tests (tests/parity/test_interop_*.cpp): comparing tensors with a
// stated tolerance, a fresh work directory per case, and finding (or creating) the Python
// environment with onnx and onnxruntime. Builds on tests/parity/parity_harness.hpp (torch
// detection, shell quoting, running commands). Test support only; not installed.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "../parity/parity_harness.hpp"

namespace unetpp::interop {

using parity::read_text;
using parity::run_command;
using parity::shell_quote;

/// Agreement rule: max_i |ours_i - ref_i| <= rtol * max_i |ref_i| + atol. Reports both errors.
template <class A, class B>
bool compare(const std::string& what, const A& ours, const B& ref, double rtol, double atol) {
    REQUIRE(ours.size() == ref.size());
    double max_abs = 0, scale = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        const double d = std::abs(static_cast<double>(ours[i]) - static_cast<double>(ref[i]));
        max_abs = std::isnan(d) ? INFINITY : std::max(max_abs, d);
        scale = std::max(scale, std::abs(static_cast<double>(ref[i])));
    }
    const double bound = rtol * scale + atol;
    MESSAGE(what << ": max abs err " << max_abs << ", output scale max|ref| " << scale << ", relative "
                 << (scale > 0 ? max_abs / scale : max_abs) << " (bound " << bound << ")");
    CHECK(max_abs <= bound);
    return max_abs <= bound;
}

/// An empty directory for one case: <temp>/unetpp_interop_<pid>/<name>.
inline std::filesystem::path case_dir(const std::string& name) {
    const auto d = std::filesystem::temp_directory_path() /
                   ("unetpp_interop_" + std::to_string(parity::process_id())) / name;
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
    std::filesystem::create_directories(d);
    return d;
}
inline void remove_case_dir(const std::filesystem::path& d) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
    std::filesystem::remove(d.parent_path(), ec);  // only succeeds when empty
}

/// The build directory: the nearest ancestor of the test executable holding CMakeCache.txt,
/// else <source>/build.
inline std::filesystem::path build_dir() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec)
        for (p = p.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
            if (std::filesystem::exists(p / "CMakeCache.txt")) return p;
    return std::filesystem::path(UNETPP_SOURCE_DIR) / "build";
}

/// The Python interpreter that imports onnx and onnxruntime, or "" when there is none. Looks at
/// $UNETPP_ONNX_PYTHON, then the venv $UNETPP_INTEROP_VENV or <build>/interop-venv, creating the
/// venv with tests/interop/setup_onnx_venv.sh (idempotent; gives up at once when an earlier
/// attempt found PyPI unreachable) unless UNETPP_INTEROP_NO_SETUP=1.
inline const std::string& onnx_python() {
    static const std::string found = []() -> std::string {
        const auto log = parity::work_dir() / "onnx_check.log";
        const auto works = [&](const std::string& py) {
            return run_command(shell_quote(py) + " -c \"import onnx, onnxruntime, numpy\"", log);
        };
        if (const char* py = std::getenv("UNETPP_ONNX_PYTHON"); py && *py) return works(py) ? py : "";
        const char* env_venv = std::getenv("UNETPP_INTEROP_VENV");
        const std::filesystem::path venv = env_venv && *env_venv ? std::filesystem::path(env_venv)
                                                                 : build_dir() / "interop-venv";
        const std::string py = (venv / "bin" / "python").string();
        if (std::filesystem::exists(py) && works(py)) return py;
        const char* no_setup = std::getenv("UNETPP_INTEROP_NO_SETUP");
        if (no_setup && std::string(no_setup) == "1") return "";
        const std::string script = std::string(UNETPP_SOURCE_DIR) + "/tests/interop/setup_onnx_venv.sh";
        if (run_command("sh " + shell_quote(script) + " " + shell_quote(venv.string()), log) && works(py)) return py;
        MESSAGE("onnx venv setup: " << read_text(log));
        return "";
    }();
    return found;
}

/// Prints the skip notice and returns true when onnx / onnxruntime cannot be imported.
inline bool skip_without_onnxruntime() {
    if (!onnx_python().empty()) return false;
    MESSAGE("[unetpp-skip] skipped: no Python with onnx and onnxruntime (run tests/interop/setup_onnx_venv.sh "
            "<build>/interop-venv, which needs PyPI, or set UNETPP_ONNX_PYTHON)");
    return true;
}

}  // namespace unetpp::interop
