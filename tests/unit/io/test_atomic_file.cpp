// io/atomic_file.hpp: atomic replacement through temporary files of the module's own names, which
// never take a user's file for a temporary one, leave nothing behind on success or failure, and
// clean up only the leftovers of writers that have died.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <unetpp/io/atomic_file.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/wait.h>
#include <unistd.h>
#define UNETPP_TEST_FORK 1
#endif

namespace {

namespace fs = std::filesystem;
using namespace unetpp;

struct scratch {
    fs::path dir;
    scratch() {
        std::random_device rd;
        dir = fs::temp_directory_path() / ("unetpp_test_atomic_" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(dir);
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
}

#ifdef UNETPP_TEST_FORK
/// The id of a process that has ended (a child that exited at once and was reaped).
long dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return static_cast<long>(child);
}
#endif

}  // namespace

TEST_CASE("write_file_atomic: content in place, no temporary left, a user's look-alike files untouched") {
    scratch s;
    const fs::path target = s.dir / "model.safetensors";
    write(s.dir / "model.safetensors.tmp", "user 1");  // the old writer's fixed name
    write(s.dir / ".model.safetensors.tmp", "user 2");
    io::write_file_atomic(target, "first");
    io::write_file_atomic(target, "second");
    CHECK(read(target) == "second");
    CHECK(read(s.dir / "model.safetensors.tmp") == "user 1");
    CHECK(read(s.dir / ".model.safetensors.tmp") == "user 2");
    CHECK(names_in(s.dir) == std::vector<std::string>{".model.safetensors.tmp", "model.safetensors",
                                                      "model.safetensors.tmp"});
}

TEST_CASE("write_file_atomic: a folder that does not exist fails, naming the file, and creates nothing") {
    scratch s;
    const fs::path target = s.dir / "missing" / "x.bin";
    CHECK_THROWS_WITH_AS(io::write_file_atomic(target, "x"), doctest::Contains("x.bin"), std::runtime_error);
    CHECK(names_in(s.dir).empty());
}

TEST_CASE("replace_file_keeping_previous: keeps the replaced file; a user's .tmp files are not used or removed") {
    scratch s;
    const fs::path last = s.dir / "last.safetensors", prev = s.dir / "last.prev.safetensors";
    write(s.dir / "last.safetensors.tmp", "user a");
    write(s.dir / "last.prev.safetensors.tmp", "user b");
    io::replace_file_keeping_previous(last, prev, "epoch 1");
    CHECK(read(last) == "epoch 1");
    CHECK_FALSE(fs::exists(prev));  // nothing to keep yet
    io::replace_file_keeping_previous(last, prev, "epoch 2");
    io::replace_file_keeping_previous(last, prev, "epoch 3");
    CHECK(read(last) == "epoch 3");
    CHECK(read(prev) == "epoch 2");
    SUBCASE("keep_current = false leaves previous as it is") {
        io::replace_file_keeping_previous(last, prev, "epoch 4", false);
        CHECK(read(last) == "epoch 4");
        CHECK(read(prev) == "epoch 2");
    }
    CHECK(read(s.dir / "last.safetensors.tmp") == "user a");
    CHECK(read(s.dir / "last.prev.safetensors.tmp") == "user b");
    CHECK(names_in(s.dir) == std::vector<std::string>{"last.prev.safetensors", "last.prev.safetensors.tmp",
                                                      "last.safetensors", "last.safetensors.tmp"});
}

TEST_CASE("temporary names: only the module's exact pattern is recognised") {
    const std::string prefix = io::atomic_detail::temp_prefix("run/last.safetensors");
    CHECK(prefix == ".last.safetensors.");
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.123-0.unetpp-tmp", prefix) == 123);
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.123-45.unetpp-tmp", prefix) == 123);
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.123-0.unetpp-tmp.bak", prefix) == -1);
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.abc-0.unetpp-tmp", prefix) == -1);
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.123-.unetpp-tmp", prefix) == -1);
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.-1.unetpp-tmp", prefix) == -1);
    CHECK(io::atomic_detail::temp_owner(".last.safetensors.12x-1.unetpp-tmp", prefix) == -1);
    CHECK(io::atomic_detail::temp_owner(".other.safetensors.123-0.unetpp-tmp", prefix) == -1);
    CHECK(io::atomic_detail::temp_owner("last.safetensors.tmp", prefix) == -1);
    const fs::path t = io::atomic_detail::temp_name("run/last.safetensors");
    CHECK(t.parent_path() == fs::path("run"));
    CHECK(io::atomic_detail::temp_owner(t.filename().string(), prefix) == io::atomic_detail::this_process_id());
}

#ifdef UNETPP_TEST_FORK
TEST_CASE("leftovers of a dead writer are removed by the next write; live writers' and look-alikes are kept") {
    scratch s;
    const fs::path target = s.dir / "last.safetensors";
    const std::string dead = ".last.safetensors." + std::to_string(dead_pid()) + "-0.unetpp-tmp";
    const std::string live = ".last.safetensors.1-0.unetpp-tmp";  // process 1 always runs
    const std::string mine = ".last.safetensors." + std::to_string(io::atomic_detail::this_process_id()) +
                             "-999999.unetpp-tmp";  // this process: possibly another thread's write
    const std::string other_target = ".best.safetensors." + std::to_string(dead_pid()) + "-0.unetpp-tmp";
    const std::string near_miss = ".last.safetensors." + std::to_string(dead_pid()) + "-0.unetpp-tmp.keep";
    for (const auto& n : {dead, live, mine, other_target, near_miss}) write(s.dir / n, "partial");
    fs::create_directory(s.dir / (".last.safetensors." + std::to_string(dead_pid()) + "-1.unetpp-tmp"));

    io::write_file_atomic(target, "new");
    CHECK(read(target) == "new");
    CHECK_FALSE(fs::exists(s.dir / dead));
    for (const auto& n : {live, mine, other_target, near_miss}) CHECK(read(s.dir / n) == "partial");
    CHECK(names_in(s.dir).size() == 6);  // the target, four kept files and the folder
}
#endif
