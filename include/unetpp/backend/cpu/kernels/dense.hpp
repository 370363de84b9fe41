#pragma once
/// \file Fully connected layer kernels (PyTorch Linear: weight [out, in]) on Eigen GEMM.

#include "../../../config/abi.hpp"
#include "api.hpp"
#include "parallel.hpp"

#if UNETPP_KERNEL_DEFINITIONS
#include <Eigen/Core>
#endif

namespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI {

/// y[n, out] = x[n, in] * W^T + b.
template <class T>
void dense_forward(const T* x, const T* w, const T* b, T* y, int n, int in, int out);
/// dx = dy * W (overwritten); dW += dy^T * x; db += column sums of dy.
template <class T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int n, int in, int out);

// With UNETPP_SEPARATE_KERNELS the definitions below are compiled once, for float and double, by
// the unetpp::kernels library.
//
// Threading: each product is cut into max_threads() fixed blocks (detail::gemm_share), which the
// team of one parallel region takes in turn, with Eigen single-threaded on each block. Eigen's own
// parallel GEMM would split by the team it actually gets, so the rounding would change with the
// machine's load in dynamic mode (parallel.hpp).
#if UNETPP_KERNEL_DEFINITIONS

namespace detail {
// dst[M, N] (= or +=) lhs[M, K] * rhs[K, N] over the fixed blocks of gemm_share.
template <bool Accumulate, class Dst, class Lhs, class Rhs>
void dense_gemm(Dst& dst, const Lhs& lhs, const Rhs& rhs) {
    const std::ptrdiff_t M = dst.rows(), N = dst.cols(), K = lhs.cols();
    const int parts = max_threads();
#pragma omp parallel if (parts > 1 && M * N * K > parallel_grain)
    {
        serial_nested_regions();
        for_each_part(parts, [&](int part) {
            const gemm_block s = gemm_share(M, N, part, parts);
            if (s.empty()) return;
            auto d = dst.block(s.r0, s.c0, s.r1 - s.r0, s.c1 - s.c0);
            const auto l = lhs.middleRows(s.r0, s.r1 - s.r0);
            const auto r = rhs.middleCols(s.c0, s.c1 - s.c0);
            if constexpr (Accumulate)
                d.noalias() += l * r;
            else
                d.noalias() = l * r;
        });
    }
}
}  // namespace detail

template <class T>
void dense_forward(const T* x, const T* w, const T* b, T* y, int n, int in, int out) {
    using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> X(x, n, in), W(w, out, in);
    Eigen::Map<mat> Y(y, n, out);
    detail::dense_gemm<false>(Y, X, W.transpose());
    if (b)
        for (int s = 0; s < n; ++s)
            for (int o = 0; o < out; ++o) Y(s, o) += b[o];
}

template <class T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int n, int in, int out) {
    using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> X(x, n, in), W(w, out, in), DY(dy, n, out);
    Eigen::Map<mat> DX(dx, n, in), DW(dw, out, in);
    detail::dense_gemm<false>(DX, DY, W);
    detail::dense_gemm<true>(DW, DY.transpose(), X);
    if (db)
        for (int s = 0; s < n; ++s)
            for (int o = 0; o < out; ++o) db[o] += DY(s, o);
}
#endif

}  // namespace unetpp::backend::cpu_kernels
