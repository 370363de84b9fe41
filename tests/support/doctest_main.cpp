// The one doctest main shared by every unit and parity test executable. It is compiled once
// (the unetpp_doctest_main library) so each test file only pays for its own test cases.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
