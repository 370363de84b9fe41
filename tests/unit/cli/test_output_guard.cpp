// The output policy of the command-line programs (tools/output_guard.hpp) on temporary folders:
// a user's file survives with and without --overwrite, "." as the output folder, file outputs,
// the writability probe and the no-replace writer.

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../../../tools/output_guard.hpp"
#include "../../support/error_of.hpp"

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

/// The message of the usage_error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
    return unetpp::test::error_of<cli::usage_error>(std::forward<F>(f));
}
using unetpp::test::contains;

std::size_t entries(const fs::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

/// A fresh scratch folder, removed at the end.
struct scratch {
    fs::path dir = fs::temp_directory_path() / ("unetpp_output_guard_" + std::to_string(::getpid()));
    scratch() {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~scratch() { fs::remove_all(dir); }
};

}  // namespace

TEST_CASE("output folder: new and empty folders pass, a folder holding a user's file is refused") {
    scratch s;
    CHECK(error_of([&] { cli::check_output_folder(s.dir / "new", "--out", "unetpp-test", false); }).empty());
    CHECK(error_of([&] { cli::check_output_folder(s.dir, "--out", "unetpp-test", false); }).empty());  // empty
    write(s.dir / "notes.txt", "mine");
    const std::string m = error_of([&] { cli::check_output_folder(s.dir, "--out-masks", "unetpp-test", false); });
    CHECK(contains(m, "--out-masks '" + s.dir.string() + "' already holds files that unetpp-test did not write"));
    CHECK(contains(m, "notes.txt"));
    CHECK(contains(m, "pass --overwrite"));
    CHECK(read(s.dir / "notes.txt") == "mine");
    // with --overwrite the check passes, and writing the program's own files leaves the user's alone
    CHECK(error_of([&] { cli::check_output_folder(s.dir, "--out-masks", "unetpp-test", true); }).empty());
    cli::prepare_folder(s.dir, "--out-masks");
    cli::write_file(s.dir / "a_pred.png", "ours", true);
    cli::write_file(s.dir / "a_pred.png", "ours again", true);
    CHECK(read(s.dir / "a_pred.png") == "ours again");
    CHECK(read(s.dir / "notes.txt") == "mine");
    CHECK(entries(s.dir) == 2);  // no probe or temporary file left behind
    // a file in place of the folder
    CHECK(contains(error_of([&] { cli::check_output_folder(s.dir / "notes.txt", "--out", "unetpp-test", true); }),
                   "exists and is not a folder"));
}

TEST_CASE("'.' as the output folder") {
    scratch s;
    write(s.dir / "keep.txt", "user data");
    const fs::path old = fs::current_path();
    fs::current_path(s.dir);
    const std::string m = error_of([] { cli::check_output_folder(".", "--out-masks", "unetpp-evaluate", false); });
    CHECK(contains(m, "--out-masks '.' already holds files that unetpp-evaluate did not write"));
    // with --overwrite: only the named file is written, nothing removed
    cli::prepare_folder(".", "--out-masks");
    cli::write_file(fs::path(".") / "x_pred.png", "p", true);
    cli::write_file("y.csv", "c", false);  // no parent path: the current folder
    fs::current_path(old);
    CHECK(read(s.dir / "keep.txt") == "user data");
    CHECK(read(s.dir / "x_pred.png") == "p");
    CHECK(read(s.dir / "y.csv") == "c");
    CHECK(entries(s.dir) == 3);
}

TEST_CASE("output file: an existing file is refused unless --overwrite; never a folder") {
    scratch s;
    const fs::path f = s.dir / "eval.csv";
    CHECK(error_of([&] { cli::check_output_file(f, "--csv", "unetpp-evaluate", false); }).empty());
    write(f, "user's table");
    const std::string m = error_of([&] { cli::check_output_file(f, "--csv", "unetpp-evaluate", false); });
    CHECK(contains(m, "--csv '" + f.string() + "' already exists; choose another name, or pass --overwrite"));
    CHECK(error_of([&] { cli::check_output_file(f, "--csv", "unetpp-evaluate", true); }).empty());
    CHECK(contains(error_of([&] { cli::check_output_file(s.dir, "--csv", "unetpp-evaluate", true); }), "is a folder"));
    // the writer itself refuses to replace without permission (a file that appeared after the check)
    CHECK(contains(error_of([&] { cli::write_file(f, "new", false); }), "appeared while the program ran"));
    CHECK(read(f) == "user's table");
    CHECK(entries(s.dir) == 1);  // the temporary file is gone
    cli::write_file(f, "new", true);
    CHECK(read(f) == "new");
    // a user's file named like a temporary file of the old writer (<name>.tmp) is not touched
    write(s.dir / "eval.csv.tmp", "also mine");
    cli::write_file(f, "newer", true);
    CHECK(read(s.dir / "eval.csv.tmp") == "also mine");
    CHECK(read(f) == "newer");
}

TEST_CASE("prepare: creates missing folders, reports unwritable ones, leaves no probe") {
    scratch s;
    cli::prepare_file_parent(s.dir / "a" / "b" / "data.safetensors", "--export-data");
    CHECK(fs::is_directory(s.dir / "a" / "b"));
    CHECK(entries(s.dir / "a" / "b") == 0);
    if (::geteuid() == 0) {
        MESSAGE("running as root: permission bits do not stop writes, the read-only folder case is not checked");
        return;
    }
    fs::create_directories(s.dir / "ro");
    fs::permissions(s.dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    const std::string m = error_of([&] { cli::prepare_folder(s.dir / "ro", "--out"); });
    fs::permissions(s.dir / "ro", fs::perms::owner_all);
    CHECK(contains(m, "--out: cannot write into '" + (s.dir / "ro").string() + "'"));
    CHECK(contains(error_of([&] { cli::write_file(s.dir / "missing" / "x.csv", "x", false); }), "cannot create"));
}
