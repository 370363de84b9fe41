// The option parser of the command-line programs (tools/cli_args.hpp): typed getters with range
// checks, unknown and repeated options, values that are missing or look like options, --split.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../../../tools/cli_args.hpp"
#include "../../support/error_of.hpp"

namespace {

/// Parses a command line given as words (the program name is added).
cli::args parse(std::vector<std::string> words, std::set<std::string> flags = {"quiet", "overwrite"},
                std::set<std::string> keys = {"batch", "size", "lr", "threshold", "seed", "loss", "out", "momentum"}) {
    std::vector<const char*> argv{"prog"};
    for (const auto& w : words) argv.push_back(w.c_str());
    return cli::args(static_cast<int>(argv.size()), argv.data(), std::move(flags), std::move(keys));
}

/// The message of the usage_error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
    return unetpp::test::error_of<cli::usage_error>(std::forward<F>(f));
}
using unetpp::test::contains;

}  // namespace

TEST_CASE("integers: values in range, defaults, and --key=value") {
    const auto a = parse({"--batch", "8", "--size=4096", "--seed", "0"});
    CHECK(a.integer("batch", 4, cli::range::batch) == 8);
    CHECK(a.integer("size", 64, cli::range::size) == 4096);
    CHECK(a.integer("seed", 1, cli::range::seed) == 0);
    CHECK(a.integer("threads", 0, cli::range::threads) == 0);  // absent: the default, unchecked
    CHECK(cli::parse_integer("--seed", "9223372036854775807", cli::range::seed) == 9223372036854775807LL);
    CHECK(cli::parse_integer("--x", "-5", {-10, 10}) == -5);
}

TEST_CASE("integers: truncation, overflow, fractions and junk are rejected with the range") {
    // the values of issue 14 that used to run as 1 and 64
    const std::string big = error_of([] {
        (void)parse({"--batch", "4294967297"}).integer("batch", 4, cli::range::batch);
    });
    CHECK(big == "--batch 4294967297 is out of range; use 1 to 4096");
    const std::string size = error_of([] {
        (void)parse({"--size", "4294967360"}).integer("size", 64, cli::range::size);
    });
    CHECK(size == "--size 4294967360 is out of range; use 8 to 4096");
    // beyond 64 bits
    const std::string huge =
        error_of([] { (void)cli::parse_integer("--seed", "99999999999999999999", cli::range::seed); });
    CHECK(contains(huge, "--seed 99999999999999999999 is out of range; use 0 to 9223372036854775807"));
    for (const char* bad : {"1.5", "1e3", "12abc", "", " 4", "4 ", "+4", "0x10", "--", "-"}) {
        CAPTURE(bad);
        const std::string m = error_of([&] { (void)cli::parse_integer("--batch", bad, cli::range::batch); });
        CHECK(contains(m, "is not a whole number; use 1 to 4096"));
        CHECK(contains(m, "--batch '" + std::string(bad) + "'"));
    }
    CHECK(error_of([] { (void)cli::parse_integer("--threads", "0", cli::range::threads); }) ==
          "--threads 0 is out of range; use 1 to 1024");
    CHECK(error_of([] { (void)cli::parse_integer("--threads", "-3", cli::range::threads); }) ==
          "--threads -3 is out of range; use 1 to 1024");
    CHECK(error_of([] { (void)cli::parse_integer("--threads", "1025", cli::range::threads); }) ==
          "--threads 1025 is out of range; use 1 to 1024");
}

TEST_CASE("reals: ranges with open and closed ends, non-finite values") {
    const auto a = parse({"--lr", "1e-3", "--threshold", "1", "--momentum", "0"});
    CHECK(a.real("lr", 0.1, cli::range::lr) == doctest::Approx(1e-3));
    CHECK(a.real("threshold", 0.5, cli::range::threshold) == 1.0);
    CHECK(a.real("momentum", 0.9, cli::range::momentum) == 0.0);
    CHECK(a.real("absent", 0.25, 0.0, 1.0) == 0.25);
    CHECK(error_of([] { (void)cli::parse_real("--lr", "-1", cli::range::lr); }) ==
          "--lr -1 is out of range; use a number > 0 and <= 10");
    CHECK(contains(error_of([] { (void)cli::parse_real("--lr", "0", cli::range::lr); }), "out of range"));
    CHECK(cli::parse_real("--lr", "10", cli::range::lr) == 10.0);
    CHECK(contains(error_of([] { (void)cli::parse_real("--lr", "10.0001", cli::range::lr); }), "out of range"));
    CHECK(error_of([] { (void)cli::parse_real("--momentum", "1", cli::range::momentum); }) ==
          "--momentum 1 is out of range; use a number >= 0 and < 1");
    for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity"}) {
        CAPTURE(bad);
        CHECK(contains(error_of([&] { (void)cli::parse_real("--threshold", bad, cli::range::threshold); }),
                       "is not a finite number; use a number >= 0 and <= 1"));
    }
    for (const char* bad : {"", "0.5x", "abc", " 0.5", "0x1p-1", "1,5", "+0.5"}) {
        CAPTURE(bad);
        CHECK(contains(error_of([&] { (void)cli::parse_real("--threshold", bad, cli::range::threshold); }),
                       "is not a number; use a number >= 0 and <= 1"));
    }
    CHECK(contains(error_of([] { (void)cli::parse_real("--lr", "1e999", cli::range::lr); }),
                   "--lr 1e999 is out of range"));
}

TEST_CASE("enumerations list the accepted words") {
    const auto a = parse({"--loss", "dice"});
    CHECK(a.choice("loss", "bce", {"bce", "dice"}) == "dice");
    CHECK(a.choice("out", "x", {"x", "y"}) == "x");  // absent
    const auto b = parse({"--loss", "dicee"});
    CHECK(error_of([&] {
              (void)b.choice("loss", "bce", {"bce", "dice", "focal"});
          }) == "--loss 'dicee' is not one of bce, dice or focal");
}

TEST_CASE("unknown, repeated and value-less options") {
    // unknown is unknown even at the end of the line (it used to be "needs a value")
    CHECK(error_of([] { (void)parse({"--batch", "2", "--mistyped"}); }) == "unknown option --mistyped (see --help)");
    CHECK(error_of([] { (void)parse({"--mistyped=3"}); }) == "unknown option --mistyped (see --help)");
    CHECK(error_of([] { (void)parse({"--batch"}); }) == "option --batch needs a value (see --help)");
    CHECK(contains(error_of([] {
                       (void)parse({"--out", "--quiet"});
                   }),
                   "option --out needs a value, but --quiet follows it"));
    CHECK(parse({"--out=--quiet"}).str("out") == "--quiet");                     // explicit form
    CHECK(parse({"--out", "--not-an-option"}).str("out") == "--not-an-option");  // not one of ours: a value
    CHECK(error_of([] {
              (void)parse({"--batch", "2", "--batch", "3"});
          }) == "option --batch is given twice; give it once");
    CHECK(error_of([] { (void)parse({"--quiet=1"}); }) == "option --quiet is a switch and takes no value");
    CHECK(contains(error_of([] { (void)parse({"stray"}); }), "unexpected argument 'stray'"));
    CHECK(contains(error_of([] { (void)parse({"--"}); }), "unexpected argument '--'"));
    const auto h = parse({"-h"});
    CHECK(h.has("help"));
    const auto f = parse({"--quiet", "--out", "-"});
    CHECK(f.has("quiet"));
    CHECK(f.str("out") == "-");
    CHECK(f.str("lr", "d") == "d");
}

TEST_CASE("a repeatable key keeps every value in order; the others stay single") {
    const std::vector<const char*> argv{"prog", "--checkpoint", "a", "--out", "o", "--checkpoint=b", "--checkpoint", "c"};
    const cli::args a(static_cast<int>(argv.size()), argv.data(), {"quiet"}, {"checkpoint", "out"}, {"checkpoint"});
    CHECK(a.values("checkpoint") == std::vector<std::string>{"a", "b", "c"});
    CHECK(a.str("checkpoint") == "a");
    CHECK(a.values("out") == std::vector<std::string>{"o"});
    CHECK(a.values("quiet").empty());
    const std::vector<const char*> twice{"prog", "--checkpoint", "a", "--out", "o", "--out", "p"};
    CHECK(error_of([&] {
              (void)cli::args(static_cast<int>(twice.size()), twice.data(), {}, {"checkpoint", "out"}, {"checkpoint"});
          }) == "option --out is given twice; give it once");
}

TEST_CASE("--split: three fractions") {
    const auto s = cli::parse_split("0.75,0.25,0");
    CHECK(s.train == 0.75);
    CHECK(s.val == 0.25);
    CHECK(s.test == 0.0);
    CHECK(contains(error_of([] { (void)cli::parse_split("0.8,0.2"); }), "must be three fractions"));
    CHECK(contains(error_of([] { (void)cli::parse_split("0.8,0.1,0.1,0"); }), "must be three fractions"));
    CHECK(contains(error_of([] { (void)cli::parse_split("0.8,nan,0.1"); }),
                   "--split validation fraction 'nan' is not a finite"));
    CHECK(contains(error_of([] { (void)cli::parse_split("0.8,0,0.2"); }), "validation fraction above 0"));
    CHECK(contains(error_of([] { (void)cli::parse_split("0,0.5,0.5"); }), "training fraction above 0"));
    CHECK(contains(error_of([] { (void)cli::parse_split("0.8,0.3,0.1"); }), "adds up to more than 1"));
    CHECK(contains(error_of([] { (void)cli::parse_split("2,0.1,0.1"); }), "--split train fraction 2 is out of range"));
    CHECK(contains(error_of([] { (void)cli::parse_split("0.8,0.1,0.1x"); }), "is not a number"));
}

TEST_CASE("the unranged getters of the experiment programs: int-sized whole numbers, finite reals") {
    const auto a = parse({"--batch", "-3", "--lr", "-0.5"});
    CHECK(a.integer("batch", 4) == -3);
    CHECK(a.num("lr", 1.0) == -0.5);
    CHECK(a.integer("size", 64) == 64);
    CHECK(error_of([] {
              (void)parse({"--size", "4294967360"}).integer("size", 64);
          }) == "--size 4294967360 is out of range; use -2147483648 to 2147483647");
    CHECK(contains(error_of([] { (void)parse({"--lr", "inf"}).num("lr", 1.0); }), "is not a finite number"));
    CHECK(contains(error_of([] { (void)parse({"--lr", "1e-3x"}).num("lr", 1.0); }), "is not a number"));
}
