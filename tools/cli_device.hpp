// --device cpu|cuda of unetpp-train, unetpp-predict and unetpp-evaluate (docs/CUDA.md, "Programs").
//
// The programs' CPU networks are compiled in their usual files; the backend::cuda variants of the
// same model set (model_set.hpp) live in the programs' *_cuda.cpp files, which tools/CMakeLists.txt
// adds only when UNETPP_WITH_CUDA=ON (and then links the programs to unetpp::cuda), so the CPU
// build compiles nothing more. Light: cli_args.hpp only; no CUDA header.
#pragma once

#include <cstddef>
#include <string>

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

/// In a CUDA build (the programs' *_cuda.cpp files): throws usage_error "no usable CUDA device:
/// <reason>; use --device cpu" unless cudaGetDeviceCount finds a device. Defined in
/// cuda_device.cpp.
void require_cuda_device();

/// The backend::cuda entry of unetpp-train (train_run.hpp's train_network<Net> for the cuda
/// variants of the model set; tools/train_networks_cuda_*.cpp, a CUDA build only).
struct train_job;
int train_on_cuda(const std::string& model, int base, int depth, const train_job& job);

}  // namespace cli
