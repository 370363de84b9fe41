#pragma once
/// \file Fully connected layer kernels (PyTorch Linear: weight [out, in]) on Eigen GEMM.

#include "api.hpp"

#if UNETPP_KERNEL_DEFINITIONS
#include <Eigen/Core>
#endif

namespace unetpp::backend::cpu_kernels {

/// y[n, out] = x[n, in] * W^T + b.
template <class T>
void dense_forward(const T* x, const T* w, const T* b, T* y, int n, int in, int out);
/// dx = dy * W (overwritten); dW += dy^T * x; db += column sums of dy.
template <class T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int n, int in, int out);

// With UNETPP_SEPARATE_KERNELS the definitions below are compiled once, for float and double, by
// the unetpp::kernels library.
#if UNETPP_KERNEL_DEFINITIONS

template <class T>
void dense_forward(const T* x, const T* w, const T* b, T* y, int n, int in, int out) {
    using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> X(x, n, in), W(w, out, in);
    Eigen::Map<mat> Y(y, n, out);
    Y.noalias() = X * W.transpose();
    if (b)
        for (int s = 0; s < n; ++s)
            for (int o = 0; o < out; ++o) Y(s, o) += b[o];
}

template <class T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int n, int in, int out) {
    using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const mat> X(x, n, in), W(w, out, in), DY(dy, n, out);
    Eigen::Map<mat> DX(dx, n, in), DW(dw, out, in);
    DX.noalias() = DY * W;
    DW.noalias() += DY.transpose() * X;
    if (db)
        for (int s = 0; s < n; ++s)
            for (int o = 0; o < out; ++o) db[o] += DY(s, o);
}
#endif

}  // namespace unetpp::backend::cpu_kernels
