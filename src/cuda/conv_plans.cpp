// cuDNN execution plans through the graph (backend descriptor) API: one operation graph of one
// convolution pass, the engine configurations heuristics mode A proposes, the first that
// finalizes among those that are deterministic (and TF32-free unless the context allows TF32).
// The legacy cudnnConvolution* functions are deprecated in cuDNN 9 and are not used.

#include "conv_plans.hpp"

#include <cudnn.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace unetpp::inline UNETPP_ABI::cuda_runtime {

namespace {

void check(cudnnStatus_t s, const char* what) {
    if (s != CUDNN_STATUS_SUCCESS)
        throw std::runtime_error(std::string("unetpp cuda: cuDNN ") + what + ": " + cudnnGetErrorString(s));
}

// One backend descriptor, destroyed with its owner.
class descriptor {
public:
    explicit descriptor(cudnnBackendDescriptorType_t type) { check(cudnnBackendCreateDescriptor(type, &d_), "create"); }
    ~descriptor() {
        if (d_) (void)cudnnBackendDestroyDescriptor(d_);
    }
    descriptor(const descriptor&) = delete;
    descriptor& operator=(const descriptor&) = delete;
    descriptor(descriptor&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }

    template <class V>
    descriptor& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, std::int64_t count,
                    const V* values) {
        check(cudnnBackendSetAttribute(d_, name, type, count, values), "set attribute");
        return *this;
    }
    descriptor& set(cudnnBackendAttributeName_t name, const descriptor& other) {
        return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &other.d_);
    }
    void finalize() { check(cudnnBackendFinalize(d_), "finalize"); }
    cudnnStatus_t try_finalize() noexcept { return cudnnBackendFinalize(d_); }
    [[nodiscard]] cudnnBackendDescriptor_t get() const noexcept { return d_; }
    cudnnBackendDescriptor_t release() noexcept {
        const auto d = d_;
        d_ = nullptr;
        return d;
    }

private:
    cudnnBackendDescriptor_t d_ = nullptr;
};

// Unique ids of the three tensors in every graph: the forward convolution's x, w, y.
constexpr std::int64_t uid_x = 1, uid_w = 2, uid_y = 3;

descriptor tensor(const cuda_conv::tensor_desc& t, std::int64_t uid, std::int64_t alignment) {
    descriptor d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const cudnnDataType_t type = CUDNN_DATA_FLOAT;
    d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type)
        .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, t.dims.data())
        .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, t.strides.data())
        .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid)
        .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    d.finalize();
    return d;
}

descriptor convolution(const cuda_conv::problem& p) {
    descriptor d(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    const std::int64_t dims = 2;
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    const std::int64_t pad[2] = {p.pad, p.pad}, stride[2] = {p.stride, p.stride}, dilation[2] = {1, 1};
    d.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims)
        .set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute)
        .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)
        .set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad)
        .set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad)
        .set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilation)
        .set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride);
    d.finalize();
    return d;
}

// The operation of pass p: the attribute names of its x, w, y tensors, its descriptor type.
struct operation_names {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
};
operation_names names_of(cuda_conv::pass p) {
    switch (p) {
        case cuda_conv::pass::forward:
            return {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA};
        case cuda_conv::pass::backward_data:
            return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA};
        case cuda_conv::pass::backward_filter:
        default:
            return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA};
    }
}

// Whether an engine configuration's numerics are acceptable: deterministic always; no tensor-core
// (TF32) or down-converted inputs unless TF32 is allowed. A configuration whose notes cannot be
// read is not used.
bool acceptable(cudnnBackendDescriptor_t config, bool tf32) {
    descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    std::int64_t count = 0;
    cudnnBackendDescriptor_t e = engine.get();
    if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &e) !=
        CUDNN_STATUS_SUCCESS)
        return false;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    std::int64_t n = 0;
    if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, notes) != CUDNN_STATUS_SUCCESS)
        return false;
    for (std::int64_t i = 0; i < n; ++i) {
        if (notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) return false;
        if (!tf32 &&
            (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS))
            return false;
    }
    return true;
}

}  // namespace

conv_plan_cache::conv_plan_cache(cudnnHandle_t handle) : handle_(handle) {
    descriptor d(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR);
    d.set(CUDNN_ATTR_DEVICEPROP_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_);
    d.finalize();
    device_ = d.release();
}

conv_plan_cache::~conv_plan_cache() {
    for (auto& [k, pl] : plans_) (void)cudnnBackendDestroyDescriptor(pl.descriptor);
    if (device_) (void)cudnnBackendDestroyDescriptor(device_);
}

const conv_plan_cache::plan& conv_plan_cache::get(const cuda_conv::problem& p, std::int64_t alignment, bool tf32) {
    const key k{p, alignment, tf32};
    if (const auto it = plans_.find(k); it != plans_.end()) return it->second;
    return plans_.emplace(k, build(k)).first->second;
}

conv_plan_cache::plan conv_plan_cache::build(const key& k) {
    const cuda_conv::problem& p = k.p;
    if (!cuda_conv::consistent(p)) throw std::invalid_argument("unetpp cuda: inconsistent convolution geometry");
    const descriptor x = tensor(p.x, uid_x, k.alignment), w = tensor(p.w, uid_w, k.alignment),
                     y = tensor(p.y, uid_y, k.alignment);
    const descriptor conv = convolution(p);
    const operation_names names = names_of(p.kind);
    const float alpha = 1.0f, beta = p.beta;
    descriptor op(names.type);
    op.set(names.x, x).set(names.w, w).set(names.y, y).set(names.conv, conv);
    op.set(names.alpha, CUDNN_TYPE_FLOAT, 1, &alpha).set(names.beta, CUDNN_TYPE_FLOAT, 1, &beta);
    op.finalize();

    descriptor graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    const cudnnBackendDescriptor_t ops[1] = {op.get()};
    graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, ops);
    graph.finalize();

    // Mode A's proposals first, then the fallback list; the first acceptable one that finalizes.
    for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
        descriptor heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
        heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph)
            .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode)
            .set(CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &device_);
        if (heur.try_finalize() != CUDNN_STATUS_SUCCESS) continue;
        std::int64_t count = 0;
        check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                       &count, nullptr),
              "heuristics results");
        std::vector<descriptor> configs;
        std::vector<cudnnBackendDescriptor_t> raw;
        for (std::int64_t i = 0; i < count; ++i) {
            configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
            raw.push_back(configs.back().get());
        }
        std::int64_t got = 0;
        check(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                       &got, raw.data()),
              "heuristics results");
        for (std::int64_t i = 0; i < std::min(got, count); ++i) {
            if (!acceptable(raw[static_cast<std::size_t>(i)], k.tf32)) continue;
            descriptor plan_d(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
            plan_d
                .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                     &raw[static_cast<std::size_t>(i)])
                .set(CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &device_);
            if (plan_d.try_finalize() != CUDNN_STATUS_SUCCESS) continue;
            plan result;
            check(cudnnBackendGetAttribute(plan_d.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                           nullptr, &result.workspace),
                  "workspace size");
            result.descriptor = plan_d.release();
            return result;
        }
    }
    throw std::runtime_error("unetpp cuda: cuDNN has no deterministic engine for a convolution of input " +
                             std::to_string(p.x.dims[0]) + "x" + std::to_string(p.x.dims[1]) + "x" +
                             std::to_string(p.x.dims[2]) + "x" + std::to_string(p.x.dims[3]) + ", kernel " +
                             std::to_string(p.w.dims[2]) + ", stride " + std::to_string(p.stride));
}

void conv_plan_cache::execute(const plan& pl, const void* x, const void* w, const void* y, void* workspace) {
    descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    void* pointers[3] = {const_cast<void*>(x), const_cast<void*>(w), const_cast<void*>(y)};
    const std::int64_t uids[3] = {uid_x, uid_w, uid_y};
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, pointers)
        .set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids)
        .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    pack.finalize();
    check(cudnnBackendExecute(handle_, pl.descriptor, pack.get()), "execute");
}

}  // namespace unetpp::cuda_runtime
