#pragma once
/// \file The CUDA backend's dense (fully connected) layers through cuBLAS, defined in
/// src/cuda/dense.cpp. Layouts are backend::cpu's (backend/cpu/kernels/dense.hpp), row-major:
/// x [n, in], w [out, in], y [n, out]:
///   forward   y = x * w^T + b
///   backward  dx = dy * w (overwritten), dw += dy^T * x, db += column sums of dy
/// Row-major A is column-major A^T, so each product is one cublasSgemm on the same buffers.

#include "../../config/abi.hpp"

namespace unetpp::inline UNETPP_ABI::cuda_dense {

void dense_forward(const float* x, const float* w, const float* b, float* y, int n, int in, int out);
void dense_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int n, int in,
                    int out);

}  // namespace unetpp::cuda_dense
