// The one doctest main shared by every unit and parity test executable. It is compiled once
// (the unetpp_doctest_main library) so each test file only pays for its own test cases.
//
// Exit status: doctest's (non-zero when a check failed or on bad options), else 77 when a test
// case asked to be skipped (tests/support/skip.hpp), after printing each reason on its own line
// as "[unetpp-skip] <reason>"; ctest reports 77 as "Skipped" (SKIP_RETURN_CODE). A failure always
// wins over a skip, so a broken case in an executable that also skips is reported as failed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>
#include <mutex>

#include "skip.hpp"

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    const int rc = context.run();
    if (context.shouldExit() || rc != 0) return rc;
    std::lock_guard lock(unetpp::test::skip_mutex());
    const auto& reasons = unetpp::test::skip_reasons();
    if (reasons.empty()) return 0;
    for (const auto& r : reasons) std::cout << "[unetpp-skip] " << r << '\n';
    std::cout.flush();
    return 77;
}
