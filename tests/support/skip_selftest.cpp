// Test program for the skip mechanism itself (tests/support/skip.hpp and doctest_main.cpp),
// driven by tests/support/check_skips.cmake: UNETPP_SKIP_SELFTEST selects what it does.
//   pass           one passing case
//   skip           a case that skips for a reason the install script cannot fix
//   installable    a case that skips for a dependency the install script provides
//   skip_and_fail  one case skips, another fails (the failure must win)
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "skip.hpp"

namespace {
std::string mode() {
    const char* m = std::getenv("UNETPP_SKIP_SELFTEST");
    return m ? m : "";
}
}  // namespace

TEST_CASE("skip self-test: first case") {
    const std::string m = mode();
    if (m == "skip" || m == "skip_and_fail") {
        unetpp::test::skip_not_available("self-test data not found at /nonexistent");
        return;
    }
    if (m == "installable") {
        unetpp::test::skip_missing_installable("self-test dependency", "scripts/install_deps.sh installs it");
        return;
    }
    CHECK(m == "pass");
}

TEST_CASE("skip self-test: second case") {
    // A real check that fails in skip_and_fail mode, the way a broken option-error case would in
    // an executable whose other cases skip.
    CHECK(mode() != "skip_and_fail");
}
