// libFuzzer target for the checkpoint reader (include/unetpp/train/checkpoint_file.hpp and
// checkpoint.hpp). Each input is checked as it is and, when it has one, with its header
// checksum key renamed (so that changed metadata reaches the bookkeeping parser). It is written
// as <tmp>/last.safetensors and read with
// train::read_checkpoint_info and train::find_resume_checkpoint; then the input is kept as
// last.prev.safetensors under a truncated last.safetensors, and find_resume_checkpoint must fall
// back to it exactly when it verifies. Where the compiler builds the model headers (they use
// floating-point template arguments: g++ >= 11, clang >= 18), the input is also loaded with
// train::load_checkpoint into a fixed tiny U-Net with Adam and with load_checkpoint_weights:
// a failure must leave the network and the optimiser exactly as they were (all-or-nothing), and
// a success must agree with read_checkpoint_info. Bad input must end in a std::runtime_error;
// a crash, a sanitizer report, a hang, running out of memory or a broken invariant is a finding.
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DUNETPP_FUZZ=ON -DUNETPP_BUILD_TESTS=ON
//   cmake --build build-fuzz --target fuzz_checkpoint fuzz_seeds
//   build-fuzz/tests/fuzz/fuzz_checkpoint -dict=tests/fuzz/fuzz_checkpoint.dict corpus/ build-fuzz/tests/fuzz/seeds/checkpoint
//
// Without libFuzzer (g++, which builds the model headers), -DUNETPP_FUZZ_STANDALONE gives a main
// that runs the inputs named on the command line (files or folders, e.g. a libFuzzer corpus)
// and, with -mutate=SECONDS, random mutations of them (byte changes, truncations, repeats):
//
//   g++ -std=c++20 -O1 -g -fsanitize=address,undefined -fopenmp -DUNETPP_FUZZ_STANDALONE -I include \
//       $(pkg-config --cflags eigen3) tests/fuzz/fuzz_checkpoint.cpp -o fuzz_checkpoint_replay
//   ./fuzz_checkpoint_replay -mutate=300 corpus/ seeds/
//
// The files live in <dir>/unetpp_fuzz_checkpoint_<pid>, which this target creates and removes
// at exit; nothing outside it is written. <dir> is $UNETPP_FUZZ_TMPDIR, else /dev/shm when it
// exists, else the temporary directory.
#include <unetpp/train/checkpoint_file.hpp>

#if defined(__cpp_nontype_template_args) && __cpp_nontype_template_args >= 201911L
#define UNETPP_FUZZ_CHECKPOINT_MODEL 1
#include <unetpp/backend/cpu.hpp>
#include <unetpp/models/unet.hpp>
#include <unetpp/optim/adam.hpp>
#include <unetpp/train/checkpoint.hpp>
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#if defined(_WIN32)
#include <process.h>
#define UNETPP_FUZZ_GETPID _getpid
#else
#include <unistd.h>
#define UNETPP_FUZZ_GETPID getpid
#endif

namespace fs = std::filesystem;

namespace {

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "fuzz_checkpoint: %s\n", what.c_str());
    std::abort();
}

struct work_dir {
    fs::path path;
    work_dir() {
        fs::path base;
        if (const char* e = std::getenv("UNETPP_FUZZ_TMPDIR"); e && *e)
            base = e;
        else if (std::error_code ec; fs::is_directory("/dev/shm", ec))
            base = "/dev/shm";
        else
            base = fs::temp_directory_path();
        path = base / ("unetpp_fuzz_checkpoint_" + std::to_string(UNETPP_FUZZ_GETPID()));
        fs::create_directories(path);
    }
    ~work_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};
const fs::path& dir() {
    static work_dir d;
    return d.path;
}

void write(const fs::path& p, const char* data, std::size_t n) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(n));
    if (!out) finding("cannot write " + p.string());
}

#ifdef UNETPP_FUZZ_CHECKPOINT_MODEL
// The network of tests/fuzz/make_seeds.cpp's checkpoint seeds.
using net_t = unetpp::unet<unetpp::unet_cfg{.in_channels = 1, .classes = 1, .base = 2, .depth = 1}>;

template <class Net>
std::vector<float> state_of(Net& net, unetpp::optim::adam<>& opt) {
    std::vector<float> v;
    net.visit_parameters([&](std::string_view, unetpp::tensor<float>& p, unetpp::tensor<float>&) {
        v.insert(v.end(), p.data(), p.data() + p.size());
    });
    net.visit_buffers([&](std::string_view, unetpp::tensor<float>& b) { v.insert(v.end(), b.data(), b.data() + b.size()); });
    opt.visit_state([&](const std::string&, unetpp::tensor<float>& t) { v.insert(v.end(), t.data(), t.data() + t.size()); });
    v.push_back(static_cast<float>(opt.steps()));
    return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void load_into_model(const fs::path& p, const unetpp::train::checkpoint_info* info) {
    static net_t net(1);
    static unetpp::optim::adam opt(net, {.lr = 1e-3});
    const auto before = state_of(net, opt);
    try {
        const auto got = unetpp::train::load_checkpoint(p, net, opt);
        if (!info) finding("load_checkpoint accepted a file that read_checkpoint_info refuses");
        if (got.epoch != info->epoch || got.step != info->step || got.seed != info->seed || got.extra != info->extra)
            finding("load_checkpoint and read_checkpoint_info disagree");
    } catch (const std::runtime_error& e) {
        if (!std::string(e.what()).starts_with("checkpoint '")) finding(std::string("unexpected message: ") + e.what());
        if (!same_bits(before, state_of(net, opt))) finding("a refused checkpoint changed the network or the optimiser");
    }
    net_t fresh(2);
    try {
        unetpp::train::load_checkpoint_weights(p, fresh);
    } catch (const std::runtime_error&) {
    }
}
#endif

void check_one(const char* data, std::size_t size) {
    using namespace unetpp;
    const fs::path last = dir() / "last.safetensors", prev = dir() / "last.prev.safetensors";
    std::error_code ec;
    fs::remove(prev, ec);
    write(last, data, size);

    std::optional<train::checkpoint_info> info;
    try {
        info = train::read_checkpoint_info(last);
        if (info->epoch < 0 || info->step < 0) finding("negative epoch or step accepted");
    } catch (const std::runtime_error& e) {
        if (!std::string(e.what()).starts_with("checkpoint '")) finding(std::string("unexpected message: ") + e.what());
    }
    try {
        std::string msg;
        const auto c = train::find_resume_checkpoint(dir(), &msg);
        if (!info || c.path != last || c.fell_back || !msg.empty() || c.info.epoch != info->epoch)
            finding("find_resume_checkpoint chose a file that read_checkpoint_info refuses");
    } catch (const std::runtime_error&) {
        if (info) finding("find_resume_checkpoint refused a file that read_checkpoint_info accepts");
    }

    // The input as the previous checkpoint, under a damaged last one: fall back exactly when it verifies.
    write(prev, data, size);
    write(last, data, size / 2);
    try {
        std::string msg;
        const auto c = train::find_resume_checkpoint(last, &msg);
        if (c.path == prev && (!info || !c.fell_back || msg.find("resuming from") == std::string::npos))
            finding("fallback to a file that does not verify, or without a message");
    } catch (const std::runtime_error&) {
        if (info) finding("no fallback to a previous checkpoint that verifies");
    }
#ifdef UNETPP_FUZZ_CHECKPOINT_MODEL
    write(last, data, size);
    load_into_model(last, info ? &*info : nullptr);
#endif
}

/// Runs the input, and a copy whose header checksum key is renamed (same length, so the file
/// stays valid): the header checksum is then absent, and changed metadata reaches the
/// checkpoint's bookkeeping parser instead of stopping at the checksum.
void one_input(const char* data, std::size_t size) {
    check_one(data, size);
    static const std::string key = "unetpp.crc32c_header";
    std::string copy(data, size);
    const auto at = copy.find(key);
    if (at == std::string::npos) return;
    copy[at + 7] = 'C';  // "unetpp.Crc32c_header": an ordinary metadata key
    check_one(copy.data(), copy.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    one_input(reinterpret_cast<const char*>(data), size);
    return 0;
}

#ifdef UNETPP_FUZZ_STANDALONE
#include <algorithm>
#include <chrono>
#include <iostream>
#include <iterator>
#include <random>

int main(int argc, char** argv) {
    double seconds = 0;
    std::vector<std::string> inputs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.starts_with("-mutate=")) {
            seconds = std::atof(a.c_str() + 8);
            continue;
        }
        std::vector<fs::path> files;
        if (fs::is_directory(a))
            for (const auto& e : fs::directory_iterator(a)) files.push_back(e.path());
        else
            files.push_back(a);
        for (const auto& f : files) {
            std::ifstream in(f, std::ios::binary);
            inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
    }
    long runs = 0;
    for (const auto& s : inputs) {
        one_input(s.data(), s.size());
        ++runs;
    }
    std::cout << "replayed " << runs << " inputs" << std::endl;
    if (seconds > 0 && !inputs.empty()) {
        std::mt19937_64 gen(12345);
        const auto t0 = std::chrono::steady_clock::now();
        long mutated = 0;
        while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
            std::string s = inputs[gen() % inputs.size()];
            const int k = 1 + static_cast<int>(gen() % 4);
            for (int j = 0; j < k && !s.empty(); ++j) {
                switch (gen() % 4) {
                    case 0: s[gen() % s.size()] = static_cast<char>(gen()); break;                  // byte anywhere
                    case 1:                                                                           // in the header
                        if (s.size() > 8) s[8 + gen() % std::min<std::size_t>(s.size() - 8, 4096)] = static_cast<char>(gen());
                        break;
                    case 2: s.resize(gen() % s.size()); break;                                        // truncation
                    default: {                                                                        // repeat a slice
                        const std::size_t a = gen() % s.size(), n = gen() % 64;
                        s.insert(a, s.substr(a, n));
                    }
                }
            }
            one_input(s.data(), s.size());
            ++mutated;
        }
        std::cout << "ran " << mutated << " mutated inputs in " << seconds << " s" << std::endl;
    }
    return 0;
}
#endif
