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

#include "../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::profiler {

namespace detail {
struct entry {
    const char* name = nullptr;
    double seconds = 0;
    long calls = 0;
    double flops = 0;  // arithmetic work of the calls, when the caller states it (multiply-add = 2)
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
inline void record(const char* name, double seconds, double flops) {
    auto& s = get();
    std::lock_guard lock(s.m);
    for (auto& e : s.entries)
        if (e.name == name || std::strcmp(e.name, name) == 0) {
            e.seconds += seconds;
            ++e.calls;
            e.flops += flops;
            return;
        }
    s.entries.push_back({name, seconds, 1, flops});
}
}  // namespace detail

inline void enable(bool on = true) { detail::get().on.store(on, std::memory_order_relaxed); }
inline bool enabled() { return detail::get().on.load(std::memory_order_relaxed); }
inline void reset() {
    auto& s = detail::get();
    std::lock_guard lock(s.m);
    s.entries.clear();
}

/// Times the enclosing scope under `name` (a string literal) when profiling is on. `flops` is the
/// arithmetic work of the operation (multiply-add counted as 2), or 0 when it is not meaningful;
/// the report then shows GFLOP/s per operation.
class scope {
public:
    explicit scope(const char* name, double flops = 0) noexcept : name_(enabled() ? name : nullptr), flops_(flops) {
        if (name_) t0_ = std::chrono::steady_clock::now();
    }
    ~scope() {
        if (name_)
            detail::record(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(),
                           flops_);
    }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

private:
    const char* name_;
    double flops_;
    std::chrono::steady_clock::time_point t0_{};
};

/// A copy of the recorded operations, largest total time first.
inline std::vector<detail::entry> entries() {
    auto& s = detail::get();
    std::vector<detail::entry> e;
    {
        std::lock_guard lock(s.m);
        e = s.entries;
    }
    std::sort(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    return e;
}

/// Table of operations by total time: name, calls, total ms, share, GFLOP/s (where the work is
/// known).
inline std::string report() {
    const std::vector<detail::entry> e = entries();
    double total = 0;
    for (const auto& x : e) total += x.seconds;
    std::string out = "operation                            calls    total ms   share   GFLOP/s\n";
    char line[160];
    for (const auto& x : e) {
        char rate[24] = "";
        if (x.flops > 0 && x.seconds > 0) std::snprintf(rate, sizeof rate, "%9.1f", x.flops / x.seconds * 1e-9);
        std::snprintf(line, sizeof line, "%-34s %7ld %11.2f %6.1f%% %s\n", x.name, x.calls, x.seconds * 1e3,
                      total > 0 ? 100.0 * x.seconds / total : 0.0, rate);
        out += line;
    }
    std::snprintf(line, sizeof line, "%-34s %7s %11.2f\n", "total", "", total * 1e3);
    out += line;
    return out;
}

}  // namespace unetpp::profiler
