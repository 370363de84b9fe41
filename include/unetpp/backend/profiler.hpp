#pragma once
/// \file Per-operation timing for the CPU backend. Off by default (one relaxed atomic load per
/// call); switch on with `profiler::enable()` or the environment variable UNETPP_PROFILE=1 and
/// print `profiler::report()` to see where a forward or training step spends its time.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace unetpp::profiler {

namespace detail {
struct entry {
    const char* name = nullptr;
    double seconds = 0;
    long calls = 0;
};
struct state {
    std::atomic<bool> on{[] {
        const char* v = std::getenv("UNETPP_PROFILE");
        return v && *v && std::strcmp(v, "0") != 0;
    }()};
    std::mutex m;
    std::vector<entry> entries;
};
inline state& get() {
    static state s;
    return s;
}
inline void record(const char* name, double seconds) {
    auto& s = get();
    std::lock_guard lock(s.m);
    for (auto& e : s.entries)
        if (e.name == name || std::strcmp(e.name, name) == 0) {
            e.seconds += seconds;
            ++e.calls;
            return;
        }
    s.entries.push_back({name, seconds, 1});
}
}  // namespace detail

inline void enable(bool on = true) { detail::get().on.store(on, std::memory_order_relaxed); }
inline bool enabled() { return detail::get().on.load(std::memory_order_relaxed); }
inline void reset() {
    auto& s = detail::get();
    std::lock_guard lock(s.m);
    s.entries.clear();
}

/// Times the enclosing scope under `name` (a string literal) when profiling is on.
class scope {
public:
    explicit scope(const char* name) noexcept : name_(enabled() ? name : nullptr) {
        if (name_) t0_ = std::chrono::steady_clock::now();
    }
    ~scope() {
        if (name_)
            detail::record(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

private:
    const char* name_;
    std::chrono::steady_clock::time_point t0_{};
};

/// Table of operations by total time: name, calls, total ms, share.
inline std::string report() {
    auto& s = detail::get();
    std::vector<detail::entry> e;
    {
        std::lock_guard lock(s.m);
        e = s.entries;
    }
    std::sort(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    double total = 0;
    for (const auto& x : e) total += x.seconds;
    std::string out = "operation                            calls    total ms   share\n";
    char line[160];
    for (const auto& x : e) {
        std::snprintf(line, sizeof line, "%-34s %7ld %11.2f %6.1f%%\n", x.name, x.calls, x.seconds * 1e3,
                      total > 0 ? 100.0 * x.seconds / total : 0.0);
        out += line;
    }
    std::snprintf(line, sizeof line, "%-34s %7s %11.2f\n", "total", "", total * 1e3);
    out += line;
    return out;
}

}  // namespace unetpp::profiler
