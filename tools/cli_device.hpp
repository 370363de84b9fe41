// --device cpu|cuda of unetpp-train, unetpp-predict and unetpp-evaluate (docs/CUDA.md, "Programs").
//
// The programs' CPU networks are compiled in their usual files; the backend::cuda variants of the
// same model set (model_set.hpp) live in the programs' *_cuda.cpp files, which tools/CMakeLists.txt
// adds only when UNETPP_WITH_CUDA=ON (and then links the programs to unetpp::cuda), so the CPU
// build compiles nothing more. Light: cli_args.hpp only; no CUDA header.
//
// --precision fp32|bf16 of the same programs: bf16 runs the network on backend::cpu_bf16 (its
// forward convolutions in bf16 with fp32 sums, AVX512-BF16's vdpbf16ps; docs/PERFORMANCE.md,
// "bf16 compute"). Those variants of the model set are compiled in every build (the type compiles
// anywhere), in files of their own: tools/train_networks_bf16_*.cpp (train) and
// ensemble_members_bf16.cpp (predict, evaluate). Where the build or the processor lacks
// AVX512-BF16, --precision bf16 is refused before anything is read or written.
#pragma once

#include <cstddef>
#include <string>

#include <unetpp/backend/cpu/kernels/bf16_support.hpp>

#include "cli_args.hpp"

namespace cli {

enum class device_kind { cpu, cuda };

/// Whether this program was linked to unetpp::cuda (which defines UNETPP_WITH_CUDA=1).
#if defined(UNETPP_WITH_CUDA) && UNETPP_WITH_CUDA
inline constexpr bool cuda_built = true;
#else
inline constexpr bool cuda_built = false;
#endif

/// The --help lines of --device, the descriptions starting at `column` (as the program's others).
inline std::string device_help(std::size_t column) {
    const std::string pad(column, ' ');
    std::string first = "  --device D";
    first.resize(column, ' ');
    return first + "cpu (default) or cuda: the network runs on backend::cuda, on GPU 0, from the\n" + pad +
           "same checkpoint (the files are the same whichever backend wrote them). cuda needs\n" + pad +
           "a program built with -DUNETPP_WITH_CUDA=ON (this one: " +
           (cuda_built ? "built with it" : "built without it") + ") and a usable\n" + pad +
           "CUDA device; otherwise exit 2 before anything is written\n";
}

/// --device, parsed; refuses cuda at once (usage_error, exit 2) in a build without the CUDA
/// backend, before the program reads or writes anything.
inline device_kind device_option(const args& a, const std::string& program) {
    const device_kind d = a.choice("device", "cpu", {"cpu", "cuda"}) == "cuda" ? device_kind::cuda : device_kind::cpu;
    if (d == device_kind::cuda && !cuda_built)
        throw usage_error("--device cuda: this " + program +
                          " was built without the CUDA backend; configure with cmake -DUNETPP_WITH_CUDA=ON "
                          "(which links the programs to unetpp::cuda; needs the CUDA toolkit and cuDNN 9) and "
                          "rebuild, or use --device cpu");
    return d;
}

enum class precision_kind { fp32, bf16 };

/// The --help lines of --precision, the descriptions starting at `column`.
inline std::string precision_help(std::size_t column) {
    const std::string pad(column, ' ');
    std::string first = "  --precision P";
    first.resize(column, ' ');
    const bool here = unetpp::backend::cpu_kernels::bf16::available();
    return first + "fp32 (default) or bf16: the convolutions multiply in bf16 and sum in fp32\n" + pad +
           "(backend::cpu_bf16, AVX512-BF16), every other operation and every tensor stays\n" + pad +
           "fp32; the same checkpoints. bf16 needs --device cpu, a build compiled for\n" + pad +
           "AVX512-BF16 and a processor with it (here: " + (here ? "both" : "no") +
           "); otherwise exit 2\n" + pad + "before anything is written\n";
}

/// --precision, parsed; refuses bf16 at once (usage_error, exit 2) with --device cuda, or where
/// the build or the processor lacks AVX512-BF16, before the program reads or writes anything.
inline precision_kind precision_option(const args& a, const std::string& program, device_kind device) {
    if (a.choice("precision", "fp32", {"fp32", "bf16"}) == "fp32") return precision_kind::fp32;
    if (device == device_kind::cuda)
        throw usage_error("--precision bf16 runs on --device cpu (backend::cpu_bf16); with --device cuda use "
                          "--precision fp32");
    namespace bf16 = unetpp::backend::cpu_kernels::bf16;
    if (!bf16::compiled)
        throw usage_error("--precision bf16 needs AVX512-BF16 (vdpbf16ps), and this " + program +
                          " was compiled without it: rebuild on a processor that has it (the project's "
                          "-march=native, UNETPP_NATIVE=ON) or with -mavx512f -mavx512bw -mavx512bf16, or use "
                          "--precision fp32");
    if (!bf16::cpu_has_avx512_bf16())
        throw usage_error("--precision bf16 needs AVX512-BF16 (vdpbf16ps), and this processor does not have it; "
                          "use --precision fp32");
    return precision_kind::bf16;
}

/// The backend::cpu_bf16 entry of unetpp-train (train_network<Net> for the bf16 variants of the
/// model set; tools/train_networks_bf16_*.cpp).
struct train_job;
int train_on_bf16(const std::string& model, int base, int depth, const train_job& job);

/// In a CUDA build (the programs' *_cuda.cpp files): throws usage_error "no usable CUDA device:
/// <reason>; use --device cpu" unless cudaGetDeviceCount finds a device. Defined in
/// cuda_device.cpp.
void require_cuda_device();

/// The backend::cuda entry of unetpp-train (train_run.hpp's train_network<Net> for the cuda
/// variants of the model set; tools/train_networks_cuda_*.cpp, a CUDA build only).
int train_on_cuda(const std::string& model, int base, int depth, const train_job& job);

}  // namespace cli
