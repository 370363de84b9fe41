#pragma once
// Support for the interop tests (tests/parity/test_interop_*.cpp): comparing tensors with a
// stated tolerance, a fresh work directory per case, and finding the Python environment with
// onnx and onnxruntime (the test venv made by scripts/install_deps.sh; tests install nothing). Builds on tests/parity/parity_harness.hpp (torch
// detection, shell quoting, running commands). Test support only; not installed.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "../parity/parity_harness.hpp"
#include "../support/skip.hpp"

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

/// The project's test virtual environment, made by scripts/install_deps.sh (never by a test):
/// $UNETPP_TEST_VENV, else $XDG_CACHE_HOME/unetpp/test-venv, else $HOME/.cache/unetpp/test-venv.
inline std::filesystem::path test_venv() {
    if (const char* v = std::getenv("UNETPP_TEST_VENV"); v && *v) return v;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "unetpp" / "test-venv";
    if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "unetpp" / "test-venv";
    return {};
}

/// The Python interpreter that imports onnx, onnxruntime and numpy, or "" when there is none:
/// $UNETPP_ONNX_PYTHON when set, else the test venv's bin/python. Nothing is installed here.
inline const std::string& onnx_python() {
    static const std::string found = []() -> std::string {
        const auto log = parity::work_dir() / "onnx_check.log";
        const auto works = [&](const std::string& py) {
            const bool ok = run_command(shell_quote(py) + " -c \"import onnx, onnxruntime, numpy\"", log);
            std::error_code ec;
            std::filesystem::remove(log, ec);
            return ok;
        };
        if (const char* py = std::getenv("UNETPP_ONNX_PYTHON"); py && *py) return works(py) ? py : "";
        const auto venv = test_venv();
        if (venv.empty()) return "";
        const std::string py = (venv / "bin" / "python").string();
        return std::filesystem::exists(py) && works(py) ? py : "";
    }();
    return found;
}

/// Skips the test case (tests/support/skip.hpp; a failure under CI=true) when onnx /
/// onnxruntime cannot be imported. Returns true when it skipped.
inline bool skip_without_onnxruntime() {
    if (!onnx_python().empty()) return false;
    const char* env_py = std::getenv("UNETPP_ONNX_PYTHON");
    const std::string where = env_py && *env_py ? std::string("UNETPP_ONNX_PYTHON=") + env_py
                                                : (test_venv() / "bin" / "python").string();
    return test::skip_missing_installable(
        "a Python with onnx, onnxruntime and numpy (looked for " + where + ")",
        "scripts/install_deps.sh installs them into the test venv ${XDG_CACHE_HOME:-~/.cache}/unetpp/test-venv "
        "(UNETPP_TEST_VENV overrides the path)");
}

}  // namespace unetpp::interop
