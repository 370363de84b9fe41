#pragma once
// Honest skips for the doctest executables. A test case that cannot run calls one of
//
//   test::skip_missing_installable(what, how)   the dependency is one scripts/install_deps.sh
//                                               provides; `how` says where it puts it
//   test::skip_not_available(reason)            something the install script cannot provide
//                                               (a data set, a GPU, ...)
//
// and returns. The shared main (tests/support/doctest_main.cpp) then prints every reason as
// "[unetpp-skip] <reason>" and exits with 77, ctest's skip code (SKIP_RETURN_CODE on every
// test), provided no check failed; a failure anywhere in the executable wins and it exits 1.
//
// Strict mode: with CI=true (any value but empty, 0 or false) or UNETPP_STRICT_SKIPS=1, a skip of
// an installable dependency is a test failure carrying the same message, because on a machine
// set up by the install script it means the set-up or the detection is broken. UNETPP_STRICT_SKIPS=0
// turns strict mode off even under CI. Test support only; not installed.

#include <doctest/doctest.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace unetpp::test {

/// The reasons recorded so far in this process (read by the shared main).
inline std::vector<std::string>& skip_reasons() {
    static std::vector<std::string> reasons;
    return reasons;
}
inline std::mutex& skip_mutex() {
    static std::mutex m;
    return m;
}

/// Whether installable skips are failures: UNETPP_STRICT_SKIPS=1, or CI set to a true value
/// (UNETPP_STRICT_SKIPS=0 overrides CI).
inline bool strict_skips() {
    const auto truthy = [](const char* v) {
        if (!v) return false;
        const std::string s(v);
        return !(s.empty() || s == "0" || s == "false" || s == "FALSE" || s == "False" || s == "no");
    };
    if (const char* s = std::getenv("UNETPP_STRICT_SKIPS"); s && *s) return truthy(s);
    return truthy(std::getenv("CI"));
}

namespace detail {
inline void record_skip(const std::string& reason) {
    {
        std::lock_guard lock(skip_mutex());
        skip_reasons().push_back(reason);
    }
    MESSAGE("[unetpp-skip] " << reason);
}
}  // namespace detail

/// Skips the current test case because `what` is missing although scripts/install_deps.sh
/// provides it (`how`: where and how it does). In strict mode this is a failure instead.
/// Returns true; call as `if (...) return test::skip_missing_installable(...), void();` or on its
/// own line followed by `return;`.
inline bool skip_missing_installable(std::string_view what, std::string_view how) {
    const std::string reason = std::string(what) + " is missing; " + std::string(how);
    if (strict_skips()) {
        FAIL_CHECK("[unetpp-strict-skip] " << reason
                   << " (CI=true or UNETPP_STRICT_SKIPS=1: a dependency the install script provides must be "
                      "present; run scripts/install_deps.sh)");
        return true;
    }
    detail::record_skip(reason + " [installable]");
    return true;
}

/// Skips the current test case for a reason the install script cannot fix (missing data set,
/// hardware). Never a failure, also not in strict mode. Returns true.
inline bool skip_not_available(std::string_view reason) {
    detail::record_skip(std::string(reason) + " [not installable]");
    return true;
}

}  // namespace unetpp::test
