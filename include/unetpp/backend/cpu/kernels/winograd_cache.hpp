// Transformed Winograd weights kept across inference calls (winograd.hpp).
//
// Why: every Winograd forward transforms its weights, U = G g G^T for 36 points per filter, 4x the
// size of the weights. On the small, deep levels of a U-Net (16 x 16 images, 512-1024 channels)
// writing U costs about as much as the multiplications, and at inference the weights do not
// change between calls.
//
// The invariant: an entry is used only when the weights (and the folded BatchNorm scale) it was
// made from are bit for bit those of the call. Each entry keeps a copy of them and every lookup
// compares the call's arrays with the copy (memcmp, split over the threads) before using U. So no
// write can make it serve stale weights, whatever wrote them and however (an optimiser step,
// load_weights, init, a BatchNorm's running statistics moving in training mode, a user's raw
// pointer, a new layer allocated at a freed layer's address). The pointers only find the entry.
// A version counter bumped by every weight write would save the comparison but would have to be
// threaded from every writer through the backend to here, and a write it misses would serve
// stale weights silently; the comparison reads the weights once (a quarter of what writing U
// costs) and cannot miss.
//
// Scope: only conv2d_forward_fused uses it, the path that runs under unetpp::inference_mode with
// an eval-mode BatchNorm or a ReLU after the convolution. Training never calls it, so a training
// step neither fills the cache nor pays for it; the first inference after training finds the
// weights changed, re-transforms them once and replaces the entry.
//
// Memory: U plus the copy, 5x the layer's 3x3 weights, for every cached layer, held until the
// entry is evicted (least recently used first) to keep the total under the limit:
// UNETPP_WINOGRAD_CACHE_MB (default 0: off; e.g. 1024 keeps up to 1 GiB), or
// set_winograd_cache_limit_bytes(). Off by default because of that memory (unet_bn<64,4>: about
// 430 MiB more at inference); a program that has it to spare turns it on for 1.13-1.26x more. A layer larger than the limit is transformed per call as
// without the cache. Thread-safe: entries are immutable once published and shared by pointer,
// so an entry evicted while another thread uses it stays alive until that call ends.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

namespace detail::wino {

/// The limit from UNETPP_WINOGRAD_CACHE_MB (megabytes, default 0 = off).
inline std::size_t cache_limit_from_env() {
    const char* v = std::getenv("UNETPP_WINOGRAD_CACHE_MB");
    if (!v || !*v) return 0;
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(v, &end, 10);
    if (*end != '\0' || v[0] == '-' || mb > (1ull << 30))
        throw std::invalid_argument("UNETPP_WINOGRAD_CACHE_MB='" + std::string(v) +
                                    "': expected a whole number of megabytes (0 turns the cache of transformed "
                                    "Winograd weights off)");
    return std::size_t(mb) << 20;
}

/// Whether a and b hold the same n floats bit for bit (read in parallel for large arrays).
inline bool same_bits(const float* a, const float* b, std::size_t n) {
    constexpr std::size_t chunk = std::size_t(1) << 16;
    const std::ptrdiff_t parts = std::ptrdiff_t((n + chunk - 1) / chunk);
    int differs = 0;
#pragma omp parallel for schedule(static) reduction(| : differs) if (parts > 4)
    for (std::ptrdiff_t p = 0; p < parts; ++p) {
        const std::size_t lo = std::size_t(p) * chunk, len = std::min(chunk, n - lo);
        if (!differs && std::memcmp(a + lo, b + lo, len * sizeof(float)) != 0) differs = 1;
    }
    return !differs;
}

/// One layer's transformed weights and the weights (and scale) they were made from.
class cached_weights {
public:
    cached_weights(const float* w, const float* scale, int cout, int cin, std::size_t u_floats)
        : w_(w), scale_(scale), cout_(cout), cin_(cin), w_copy_(w, w + std::size_t(cout) * cin * 9),
          scale_copy_(scale ? std::vector<float>(scale, scale + cout) : std::vector<float>()),
          u_(static_cast<float*>(::operator new(u_floats * sizeof(float), std::align_val_t(64)))), u_floats_(u_floats) {}
    ~cached_weights() { ::operator delete(u_, std::align_val_t(64)); }
    cached_weights(const cached_weights&) = delete;
    cached_weights& operator=(const cached_weights&) = delete;

    bool same_key(const float* w, const float* scale, int cout, int cin) const noexcept {
        return w == w_ && scale == scale_ && cout == cout_ && cin == cin_;
    }
    /// Whether the call's weights and scale are bit for bit the ones U was made from.
    bool still_valid(const float* w, const float* scale) const {
        if ((scale != nullptr) != !scale_copy_.empty()) return false;
        if (scale && !same_bits(scale, scale_copy_.data(), scale_copy_.size())) return false;
        return same_bits(w, w_copy_.data(), w_copy_.size());
    }
    float* u() noexcept { return u_; }
    const float* u() const noexcept { return u_; }
    std::size_t bytes() const noexcept { return (u_floats_ + w_copy_.size() + scale_copy_.size()) * sizeof(float); }
    std::uint64_t last_use = 0;  // guarded by the cache's mutex

private:
    const float* w_;
    const float* scale_;
    int cout_, cin_;
    std::vector<float> w_copy_, scale_copy_;
    float* u_;
    std::size_t u_floats_;
};

/// Counters for tests and profiling: lookups that reused U, that re-transformed (new layer or
/// changed weights), and entries dropped to stay under the limit.
struct cache_stats {
    std::uint64_t hits = 0, misses = 0, evictions = 0;
    std::size_t bytes = 0, entries = 0;
};

class weight_cache {
public:
    /// U for (w, scale, cout, cin): the cached one when the weights are unchanged, else packed by
    /// pack(float* u) into a new entry. Null when the cache is off or the entry would not fit
    /// (the caller then packs into its workspace).
    template <class Pack>
    std::shared_ptr<const cached_weights> get(const float* w, const float* scale, int cout, int cin,
                                              std::size_t u_floats, Pack&& pack) {
        std::shared_ptr<cached_weights> found;
        {
            std::lock_guard lock(mutex_);
            const std::size_t need = (u_floats + std::size_t(cout) * cin * 9 + (scale ? cout : 0)) * sizeof(float);
            if (need > limit_) return nullptr;
            for (auto& e : entries_)
                if (e->same_key(w, scale, cout, cin)) {
                    found = e;
                    e->last_use = ++tick_;
                    break;
                }
        }
        if (found && found->still_valid(w, scale)) {
            hits_.fetch_add(1, std::memory_order_relaxed);
            return found;
        }
        misses_.fetch_add(1, std::memory_order_relaxed);
        auto fresh = std::make_shared<cached_weights>(w, scale, cout, cin, u_floats);
        pack(fresh->u());
        std::lock_guard lock(mutex_);
        if (fresh->bytes() > limit_) return fresh;  // the limit shrank meanwhile: use it once, keep nothing
        for (std::size_t i = 0; i < entries_.size(); ++i)  // the stale entry of this layer
            if (entries_[i]->same_key(w, scale, cout, cin)) {
                remove(i);
                break;
            }
        evict_until(limit_ - fresh->bytes());
        fresh->last_use = ++tick_;
        bytes_ += fresh->bytes();
        entries_.push_back(fresh);
        return fresh;
    }

    void set_limit(std::size_t bytes) {
        std::lock_guard lock(mutex_);
        limit_ = bytes;
        evict_until(limit_);
    }
    std::size_t limit() {
        std::lock_guard lock(mutex_);
        return limit_;
    }
    void clear() {
        std::lock_guard lock(mutex_);
        clear_locked();
    }
    cache_stats stats() {
        std::lock_guard lock(mutex_);
        return {hits_.load(), misses_.load(), evictions_.load(), bytes_, entries_.size()};
    }

private:
    // Drops the least recently used entries until at most `bytes` are held.
    void evict_until(std::size_t bytes) {
        while (bytes_ > bytes && !entries_.empty()) {
            std::size_t oldest = 0;
            for (std::size_t i = 1; i < entries_.size(); ++i)
                if (entries_[i]->last_use < entries_[oldest]->last_use) oldest = i;
            remove(oldest);
            evictions_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    void remove(std::size_t i) {
        bytes_ -= entries_[i]->bytes();
        entries_.erase(entries_.begin() + std::ptrdiff_t(i));
    }
    void clear_locked() {
        entries_.clear();
        bytes_ = 0;
    }

    std::mutex mutex_;
    std::vector<std::shared_ptr<cached_weights>> entries_;
    std::size_t bytes_ = 0, limit_ = cache_limit_from_env();
    std::uint64_t tick_ = 0;
    std::atomic<std::uint64_t> hits_{0}, misses_{0}, evictions_{0};
};

/// The process's cache (one per program: an inline function's static).
inline weight_cache& the_weight_cache() {
    static weight_cache c;
    return c;
}

}  // namespace detail::wino

/// Limits the memory held by transformed Winograd weights kept for inference (bytes; 0 turns the
/// cache off and frees it). Default: UNETPP_WINOGRAD_CACHE_MB megabytes, else 1 GiB.
inline void set_winograd_cache_limit_bytes(std::size_t bytes) { detail::wino::the_weight_cache().set_limit(bytes); }
/// The current limit in bytes.
inline std::size_t winograd_cache_limit_bytes() { return detail::wino::the_weight_cache().limit(); }
/// Frees every cached transform (they are rebuilt on the next inference call).
inline void clear_winograd_cache() { detail::wino::the_weight_cache().clear(); }
/// Hits, misses, evictions and the memory held, since the program started.
inline detail::wino::cache_stats winograd_cache_stats() { return detail::wino::the_weight_cache().stats(); }

}  // namespace unetpp::backend::cpu_kernels
