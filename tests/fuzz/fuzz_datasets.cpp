// libFuzzer target for the data-set readers (include/unetpp/data/busi.hpp, isbi2012.hpp,
// folder.hpp). Each input is decoded into a small file tree (tests/fuzz/fuzz_datasets.hpp:
// folder and file names, sizes, contents such as PNG/JPEG/BMP bytes), written under a temporary
// folder of this process, and opened with data::busi, data::isbi2012 and/or
// data::paired_folders with the options the input selects; every sample is then read with
// get() (twice with the cache on) and the data set is validated. Bad trees and bad images must
// end in a std::exception naming the problem; a crash, a sanitizer report, a hang or running
// out of memory is a finding. The results are also checked: a sample's image and mask have the
// same height and width, the mask is 0/1 and the image in [0, 1].
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DUNETPP_FUZZ=ON -DUNETPP_BUILD_TESTS=ON
//   cmake --build build-fuzz --target fuzz_datasets fuzz_seeds
//   build-fuzz/tests/fuzz/fuzz_datasets -dict=tests/fuzz/fuzz_datasets.dict corpus/ build-fuzz/tests/fuzz/seeds/datasets
//
// The tree lives in <dir>/unetpp_fuzz_datasets_<pid>/tree, which this target creates for each
// input and removes after it; nothing outside it is written. <dir> is
// $UNETPP_FUZZ_TMPDIR, else /dev/shm when it exists (about 800 inputs/s there against 90 on
// disk, on a 2-core machine), else the temporary directory.
#include <unetpp/data/busi.hpp>
#include <unetpp/data/folder.hpp>
#include <unetpp/data/isbi2012.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "fuzz_datasets.hpp"

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

namespace fs = std::filesystem;
namespace data = unetpp::data;

namespace {

// <dir>/unetpp_fuzz_datasets_<pid>: made for each input and removed after it, because libFuzzer
// may end the process without running atexit handlers.
const fs::path& work_root() {
    static const fs::path root = [] {
#if defined(_WIN32)
        const int pid = _getpid();
#else
        const int pid = static_cast<int>(getpid());
#endif
        // A file system in memory when there is one: on disk the tree's creation and removal
        // make each input about ten times slower.
        fs::path base = fs::temp_directory_path();
        std::error_code ec;
        if (const char* d = std::getenv("UNETPP_FUZZ_TMPDIR"); d && *d)
            base = d;
        else if (fs::is_directory("/dev/shm", ec))
            base = "/dev/shm";
        return base / ("unetpp_fuzz_datasets_" + std::to_string(pid));
    }();
    return root;
}

// Writes the tree; entries that collide with what is already there (a file where a folder is
// wanted, ...) are left out, as a file system would refuse them.
fs::path write_tree(const unetpp::fuzz::tree_input& t) {
    const fs::path root = work_root() / "tree";
    std::error_code ec;
    fs::remove_all(work_root(), ec);
    fs::create_directories(root);
    for (const auto& f : t.files) {
        const fs::path dir = root / unetpp::fuzz::tree_folders()[f.folder];
        fs::create_directories(dir, ec);
        if (ec) continue;
        const fs::path path = dir / f.name;
        if (f.is_folder) {
            fs::create_directories(path, ec);
            continue;
        }
        if (fs::is_directory(path, ec)) continue;
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(f.content.data(), static_cast<std::streamsize>(f.content.size()));
    }
    return root;
}

void check(bool ok) {
    if (!ok) __builtin_trap();
}

// UNETPP_FUZZ_VERBOSE=1 prints what each reader found (to check that the seeds reach the
// samples: `fuzz_datasets -runs=0 seeds/datasets`).
bool verbose() {
    static const bool v = [] {
        const char* e = std::getenv("UNETPP_FUZZ_VERBOSE");
        return e && std::string(e) == "1";
    }();
    return v;
}

void report(const std::string& what) {
    if (verbose()) std::fprintf(stderr, "fuzz_datasets: %s\n", what.c_str());
}

void read_all(const data::paired_dataset& ds, bool twice) {
    std::size_t ok = 0;
    for (int pass = 0; pass < (twice ? 2 : 1); ++pass)
        for (std::size_t i = 0; i < ds.size(); ++i) {
            try {
                const data::sample s = ds.get(i);
                const auto is = s.image.shape(), ms = s.mask.shape();
                check(is.n == 1 && ms.n == 1 && ms.c == 1 && is.h == ms.h && is.w == ms.w);
                for (float v : s.mask) check(v == 0.0f || v == 1.0f);
                for (float v : s.image) check(v >= 0.0f && v <= 1.0f);
                (void)ds.source(i);
                ++ok;
            } catch (const std::exception& e) {
                report(ds.name() + ": sample " + std::to_string(i) + ": " + e.what());
            }
        }
    report(ds.name() + ": " + std::to_string(ds.size()) + " samples, " + std::to_string(ok) + " reads succeeded");
    try {
        ds.validate();
    } catch (const std::exception&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const unetpp::fuzz::tree_input t = unetpp::fuzz::decode_tree(bytes, size);
    const fs::path root = write_tree(t);
    static constexpr int channel_choice[4] = {0, 1, 3, 4};

    data::reader_options ro;
    ro.channels = channel_choice[(t.options >> 2) & 3];
    ro.mask.strict = (t.options & 0x10) != 0;
    ro.on_missing_mask = (t.options & 0x20) ? data::missing_mask::skip : data::missing_mask::error;
    ro.cache = (t.options & 0x40) != 0;
    ro.warn = [](const std::string& msg) { check(!msg.empty()); };
    const bool alt = (t.options & 0x80) != 0;
    const int which = t.options & 3;

    if (which == 0 || which == 3) {
        try {
            // Both accepted roots: the folder holding Dataset_BUSI_with_GT and that folder itself.
            read_all(data::busi(alt ? root / "Dataset_BUSI_with_GT" : root, {.reader = ro}), ro.cache);
        } catch (const std::exception& e) {
            report(std::string("busi: ") + e.what());
        }
    }
    if (which == 1 || which == 3) {
        try {
            data::isbi_options io{.reader = ro};
            if (alt) io.foreground = data::isbi_foreground::cell_interior;
            read_all(data::isbi2012(root, io), ro.cache);
        } catch (const std::exception& e) {
            report(std::string("isbi2012: ") + e.what());
        }
    }
    if (which == 2 || which == 3) {
        try {
            data::folder_options fo{.reader = ro};
            if (alt) fo.mask_suffix = "_mask";
            read_all(data::paired_folders(root / "images", root / "masks", fo), ro.cache);
        } catch (const std::exception& e) {
            report(std::string("paired_folders: ") + e.what());
        }
    }
    std::error_code ec;
    fs::remove_all(work_root(), ec);
    return 0;
}
