// Dense layers through cuBLAS (include/unetpp/backend/cuda/dense.hpp), on the calling thread's
// context (its stream, its handle, pedantic FP32 unless the context allows TF32).

#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include <unetpp/backend/cuda/context.hpp>
#include <unetpp/backend/cuda/dense.hpp>
#include <unetpp/backend/cuda/kernels.hpp>

namespace unetpp::inline UNETPP_ABI::cuda_dense {

namespace {
void check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error(std::string("unetpp cuda: cuBLAS ") + what + ": " + cublasGetStatusString(s));
}
}  // namespace

// Column-major views of the row-major buffers: x is X^T [in x n] (ld in), w is W^T [in x out]
// (ld in), y is Y^T [out x n] (ld out), dy is DY^T [out x n] (ld out), dw is DW^T [in x out].

void dense_forward(const float* x, const float* w, const float* b, float* y, int n, int in, int out) {
    if (n == 0 || out == 0) return;
    auto& ctx = cuda_runtime::context::current();
    const float one = 1.0f, zero = 0.0f;
    // Y^T [out x n] = (W^T)^T [out x in] * X^T [in x n]
    check(cublasSgemm(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &zero, y, out),
          "dense forward");
    if (b) cuda_kernels::add_channel_bias(ctx.stream(), y, b, n, out, 1);
}

void dense_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int n, int in,
                    int out) {
    if (n == 0) return;
    auto& ctx = cuda_runtime::context::current();
    const float one = 1.0f, zero = 0.0f;
    // DX^T [in x n] = W^T [in x out] * DY^T [out x n]
    if (dx)
        check(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out, &zero, dx, in),
              "dense backward data");
    // DW^T [in x out] += X^T [in x n] * (DY^T)^T [n x out]
    check(cublasSgemm(ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out, &one, dw, in),
          "dense backward weights");
    if (db) cuda_kernels::channel_sum_accumulate(ctx.stream(), dy, db, n, out, 1);
}

}  // namespace unetpp::cuda_dense
