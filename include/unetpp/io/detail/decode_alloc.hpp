#pragma once
/// \file A counting allocator with a per-thread budget, through which stb_image allocates
/// (STBI_MALLOC, STBI_REALLOC, STBI_FREE in detail/stb_image_impl.hpp). Private: include
/// <unetpp/io/image.hpp> instead.
///
/// Checking the dimensions in an image header before decoding is not enough on its own: a
/// header can lie, and stb sizes some buffers from other data (its zlib decoder doubles its
/// output buffer for as long as the compressed stream goes on, IDAT chunks are concatenated
/// into one growing buffer). So every allocation stb makes is counted against a budget, the
/// most bytes the decoder may hold at once while decoding one image; an allocation that would
/// go above it fails (stb then fails cleanly with "outofmem") and the budget remembers that it
/// refused one, so the caller can say which limit was hit.
///
///   decode_alloc::budget_scope scope(limits.max_decoded_bytes);
///   ... stb calls ...
///   if (scope.refused()) ...
///
/// The budget is thread_local: decoders on different threads have a budget each. Outside a
/// budget_scope there is no limit. Every block carries its size in a header of
/// alignof(std::max_align_t) bytes, so realloc and free know what to give back.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::io::detail::decode_alloc {

/// The budget of the current thread.
struct budget_state {
    std::size_t limit = std::numeric_limits<std::size_t>::max();  ///< most bytes live at once
    std::size_t live = 0;                                         ///< bytes allocated and not freed
    std::size_t peak = 0;                                         ///< highest `live` seen
    std::size_t largest_refused = 0;  ///< size of the largest allocation refused (0: none)
};

inline thread_local budget_state state;

/// Bytes in front of every block: its size, padded so the block keeps malloc's alignment.
inline constexpr std::size_t header_bytes =
    alignof(std::max_align_t) > sizeof(std::size_t) ? alignof(std::max_align_t) : sizeof(std::size_t);

namespace impl {
/// Whether `extra` more bytes fit in the budget; records a refusal if they do not.
inline bool admit(budget_state& s, std::size_t extra, std::size_t total) noexcept {
    const std::size_t room = s.live < s.limit ? s.limit - s.live : 0;
    if (extra > room || total > std::numeric_limits<std::size_t>::max() - header_bytes) {
        s.largest_refused = std::max(s.largest_refused, total);
        return false;
    }
    return true;
}
inline unsigned char* base_of(void* p) noexcept { return static_cast<unsigned char*>(p) - header_bytes; }
inline std::size_t size_of(const unsigned char* base) noexcept {
    std::size_t n = 0;
    std::memcpy(&n, base, sizeof n);
    return n;
}
inline void* finish(budget_state& s, void* base, std::size_t n) noexcept {
    std::memcpy(base, &n, sizeof n);
    s.peak = std::max(s.peak, s.live);
    return static_cast<unsigned char*>(base) + header_bytes;
}
}  // namespace impl

/// malloc within the budget; nullptr when the budget or the system refuses.
inline void* allocate(std::size_t n) noexcept {
    budget_state& s = state;
    if (!impl::admit(s, n, n)) return nullptr;
    void* base = std::malloc(n + header_bytes);
    if (base == nullptr) return nullptr;
    s.live += n;
    return impl::finish(s, base, n);
}

/// free for blocks from allocate / reallocate.
inline void release(void* p) noexcept {
    if (p == nullptr) return;
    unsigned char* base = impl::base_of(p);
    const std::size_t n = impl::size_of(base);
    budget_state& s = state;
    s.live -= std::min(n, s.live);  // a block freed after its scope ended counts against nothing
    std::free(base);
}

/// realloc within the budget; on failure the old block is left as it was (as realloc does).
inline void* reallocate(void* p, std::size_t n) noexcept {
    if (p == nullptr) return allocate(n);
    unsigned char* base = impl::base_of(p);
    const std::size_t old = impl::size_of(base);
    budget_state& s = state;
    if (n > old && !impl::admit(s, n - old, n)) return nullptr;
    void* grown = std::realloc(base, n + header_bytes);
    if (grown == nullptr) return nullptr;
    s.live = s.live - std::min(old, s.live) + n;
    return impl::finish(s, grown, n);
}

/// Sets the current thread's budget for its lifetime, and restores the previous one after.
class budget_scope {
public:
    explicit budget_scope(std::size_t limit) noexcept : saved_(state) {
        state = budget_state{};
        state.limit = limit;
    }
    ~budget_scope() { state = saved_; }
    budget_scope(const budget_scope&) = delete;
    budget_scope& operator=(const budget_scope&) = delete;

    /// Whether an allocation was refused because it would have gone above the budget.
    [[nodiscard]] bool refused() const noexcept { return state.largest_refused != 0; }
    /// The largest allocation refused (bytes), 0 if none.
    [[nodiscard]] std::size_t largest_refused() const noexcept { return state.largest_refused; }
    /// The most bytes live at once so far in this scope.
    [[nodiscard]] std::size_t peak() const noexcept { return state.peak; }
    /// Bytes live now.
    [[nodiscard]] std::size_t live() const noexcept { return state.live; }

private:
    budget_state saved_;
};

}  // namespace unetpp::io::detail::decode_alloc
