#pragma once
// Small helpers for tests that check error messages. Test support only; not installed.

#include <string>
#include <string_view>
#include <utility>

namespace unetpp::test {

/// The message of the E that f throws, or `none` when it throws nothing. Other exceptions
/// propagate (and fail the test).
template <class E, class F>
std::string error_of(F&& f, std::string none = "") {
    try {
        std::forward<F>(f)();
    } catch (const E& e) {
        return e.what();
    }
    return none;
}

inline bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

}  // namespace unetpp::test
