// File errors in plain words and start-up progress of the command-line programs
// (tools/cli_messages.hpp): a read-only disk, a permission problem, a full disk and a file where a
// folder should be each get a sentence that says what to do; real std::filesystem errors are
// turned into it; the progress of a long step is shown, a quick one stays silent.

#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <unistd.h>

#include "../../../tools/cli_messages.hpp"

namespace fs = std::filesystem;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("file errors: each cause gets plain words and what to do") {
    using std::errc;
    CHECK(cli::file_error_advice(std::make_error_code(errc::read_only_file_system), "--out") ==
          "the disk is read-only; choose another --out on a writable disk");
    CHECK(contains(cli::file_error_advice(std::make_error_code(errc::permission_denied)), "no permission to write there"));
    CHECK(contains(cli::file_error_advice(std::make_error_code(errc::no_space_on_device)), "the disk is full"));
    CHECK(contains(cli::file_error_advice(std::make_error_code(errc::not_a_directory)), "a part of the path is a file"));
    CHECK(cli::file_error_advice(std::make_error_code(errc::invalid_argument)).empty());
    CHECK(cli::file_error_text("cannot create the folder", "run", std::make_error_code(errc::read_only_file_system),
                               "--out") ==
          "cannot create the folder 'run': the disk is read-only; choose another --out on a writable disk");
    // without advice the system's wording stays
    CHECK(contains(cli::file_error_text("cannot open", "x", std::make_error_code(errc::invalid_argument)), "'x': "));
}

TEST_CASE("file errors: a real std::filesystem error and an io writer's message are rewritten") {
    const fs::path dir = fs::temp_directory_path() / ("unetpp_cli_messages_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    { std::ofstream(dir / "file") << "x"; }
    std::string text;
    try {
        fs::create_directories(dir / "file" / "run");  // a file where a folder should be
    } catch (const fs::filesystem_error& e) {
        text = cli::file_error_text(e);
    }
    fs::remove_all(dir);
    CHECK(contains(text, "a part of the path is a file, not a folder"));
    CHECK_FALSE(contains(text, "filesystem error"));
    // the io writers end their messages with strerror's text
    CHECK(cli::with_file_advice(std::string("cannot write (disk full?) 'a': ") + std::strerror(ENOSPC)) ==
          "cannot write (disk full?) 'a': the disk is full (or your quota is used up); free some space or choose "
          "another place on another disk");
    CHECK(contains(cli::with_file_advice(std::string("--out: cannot create the folder 'r' (") + std::strerror(EROFS) +
                                         "); choose a writable place"),
                   "(the disk is read-only; choose another place on a writable disk)"));
    CHECK(cli::with_file_advice("unrelated") == "unrelated");
}

TEST_CASE("start-up progress: a long step reports, a quick one is silent") {
    std::ostringstream quick;
    {
        cli::step_progress p("hashing 3 images", false, quick);
        for (std::size_t i = 1; i <= 3; ++i) p(i, 3);
    }
    CHECK(quick.str().empty());
    std::ostringstream slow;
    {
        cli::step_progress p("hashing 2 images", false, slow);
        p(1, 2);
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        p(2, 2);
    }
    CHECK(contains(slow.str(), "hashing 2 images: done in 1."));
    std::ostringstream silent;
    {
        cli::step_progress p("x", true, silent);
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        p(1, 1);
    }
    CHECK(silent.str().empty());
}
