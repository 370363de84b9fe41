// Trains presets::unet_bn<16, 3> a few Adam steps with a fixed seed, set up as the command-line
// programs set up threads (adapt_threads_to_load(), then the requested count), and prints a hash
// of the resulting weights. run_under_load.sh compares the hash of runs on a quiet machine, beside
// a CPU hog and with OMP_DYNAMIC=false.
//
// Usage: determinism_train_hash [--threads N] [--steps N]   (defaults 2 and 6)
// Output: a line "openmp: ..." describing the thread set-up, then "hash <16 hex digits>".
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <unetpp/threads.hpp>

#include "train_steps.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

int positive_arg(const char* flag, const char* value) {
    char* end = nullptr;
    const long v = value ? std::strtol(value, &end, 10) : 0;
    if (!value || *end != '\0' || v < 1 || v > 1024) {
        std::fprintf(stderr, "determinism_train_hash: %s needs an integer from 1 to 1024, got '%s'\n", flag,
                     value ? value : "");
        std::exit(2);
    }
    return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 2, steps = 6;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads")
            threads = positive_arg("--threads", i + 1 < argc ? argv[++i] : nullptr);
        else if (a == "--steps")
            steps = positive_arg("--steps", i + 1 < argc ? argv[++i] : nullptr);
        else {
            std::fprintf(stderr, "determinism_train_hash: unknown argument '%s' (use --threads N, --steps N)\n",
                         a.c_str());
            return 2;
        }
    }
    const bool dynamic = unetpp::adapt_threads_to_load();
    unetpp::set_num_threads(threads);
#ifdef _OPENMP
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
    std::printf("openmp: on, %d threads requested, dynamic %s, a region opened now got %d\n", omp_get_max_threads(),
                dynamic ? "on" : "off", team);
#else
    (void)dynamic;
    std::printf("openmp: off\n");
#endif
    try {
        const std::uint64_t h = unetpp::test::fnv1a(unetpp::test::train_unet_bn_steps(steps, 7));
        std::printf("hash %016llx\n", static_cast<unsigned long long>(h));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "determinism_train_hash: %s\n", e.what());
        return 1;
    }
    return 0;
}
