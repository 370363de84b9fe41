// io/json.hpp: the strict lexer, the tree reader with its limits, and the writer helpers.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include <unetpp/io/json.hpp>

namespace {

using namespace unetpp::io;

std::string error_of(std::string_view text, const json_limits& lim = {}) {
    try {
        (void)json_parse(text, "t.json: malformed JSON", lim);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("json_parse: every kind of value, in file order") {
    const auto v = json_parse(R"( {"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "x\u00e9\n"}, "d": ""} )", "t");
    REQUIRE(v.is_object());
    REQUIRE(v.object_if()->size() == 3);
    CHECK(v.object_if()->at(0).key == "a");
    CHECK(v.object_if()->at(2).key == "d");
    const auto* a = v.find("a")->array_if();
    REQUIRE(a);
    REQUIRE(a->size() == 6);
    CHECK(*(*a)[0].number_text_if() == "1");
    CHECK((*a)[1].as_number() == -2500.0);
    CHECK(*(*a)[1].number_text_if() == "-2.5e3");
    CHECK(std::get<bool>((*a)[3].v));
    CHECK_FALSE(std::get<bool>((*a)[4].v));
    CHECK((*a)[4].is_bool());
    CHECK((*a)[5].is_null());
    CHECK(*v.find("b")->find("c")->string_if() == "x\xc3\xa9\n");
    CHECK(v.find("missing") == nullptr);
    CHECK(v.find("a")->find("x") == nullptr);  // not an object
    CHECK(std::isnan(v.find("d")->as_number()));
}

TEST_CASE("json_parse: surrogate pairs and raw UTF-8 are kept; bad UTF-8 and escapes are refused") {
    CHECK(*json_parse(R"("\ud83d\ude00")", "t").string_if() == "\xf0\x9f\x98\x80");
    CHECK(*json_parse("\"\xf0\x9f\x98\x80\"", "t").string_if() == "\xf0\x9f\x98\x80");
    CHECK(error_of(R"("\ud83d")").find("high surrogate") != std::string::npos);
    CHECK(error_of(R"("\ude00")").find("lone low surrogate") != std::string::npos);
    CHECK(error_of("\"\xc0\xaf\"").find("overlong") != std::string::npos);
    CHECK(error_of("\"\xed\xa0\x80\"").find("surrogate") != std::string::npos);
    CHECK(error_of("\"\xff\"").find("invalid UTF-8") != std::string::npos);
    CHECK(error_of(R"("\x")").find("unknown escape") != std::string::npos);
    CHECK(error_of("\"a\nb\"").find("control character") != std::string::npos);
    CHECK(error_of(R"("\u12G4")").find("bad hex digit") != std::string::npos);
}

TEST_CASE("json_parse: the number grammar is exactly JSON's") {
    for (const char* good : {"0", "-0", "12", "1.5", "1e9", "1E+9", "-3.25e-7"})
        CHECK_MESSAGE(error_of(good).empty(), good);
    for (const char* bad : {"01", "+1", "1.", ".5", "1e", "-", "1.e3", "0x10", "NaN", "Infinity"})
        CHECK_MESSAGE(!error_of(bad).empty(), bad);
    CHECK(error_of(std::string(70, '1')).find("longer than 64") != std::string::npos);
}

TEST_CASE("json_parse: structure errors name the byte") {
    CHECK(error_of(R"({"a":1,})") == "t.json: malformed JSON at byte 7: expected a string");
    CHECK(error_of(R"({"a":1 "b":2})").find("expected ',' or '}' in an object") != std::string::npos);
    CHECK(error_of(R"([1 2])").find("expected ',' or ']' in an array") != std::string::npos);
    CHECK(error_of(R"({"a":1,"a":2})").find("duplicate key \"a\"") != std::string::npos);
    CHECK(error_of(R"({"a":1} x)").find("unexpected bytes after the value") != std::string::npos);
    CHECK(error_of(R"({"a":)").find("the text ends early") != std::string::npos);
    CHECK(error_of("").find("expected a value") != std::string::npos);
    CHECK(error_of("tru").find("expected a value") != std::string::npos);
}

TEST_CASE("json_parse: nesting and size limits stop hostile documents without exhausting the stack") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK(error_of(deep).find("nested deeper than 64 levels") != std::string::npos);
    CHECK(error_of("[[1]]", {.max_depth = 1}).find("nested deeper than 1 levels") != std::string::npos);
    CHECK(error_of("[1]", {.max_depth = 1}).empty());
    CHECK(error_of("[1,2,3]", {.max_values = 3}).find("more than 3 values") != std::string::npos);
    CHECK(error_of("[1,2]", {.max_values = 3}).empty());
}

TEST_CASE("json_cursor: integers for sizes and offsets") {
    json_cursor c("18446744073709551615 18446744073709551616", "h");
    CHECK(c.parse_uint() == std::numeric_limits<std::uint64_t>::max());
    c.skip_ws();
    CHECK_THROWS_WITH_AS(c.parse_uint(), "h at byte 40: integer too large", std::runtime_error);
    json_cursor n("-1", "h");
    CHECK_THROWS_WITH_AS(n.parse_uint(), doctest::Contains("negative"), std::runtime_error);
    json_cursor f("1.5", "h");
    CHECK_THROWS_WITH_AS(f.parse_uint(), doctest::Contains("only integers"), std::runtime_error);
}

TEST_CASE("json_write: compact text that parses back to the same tree") {
    const std::string text = R"( { "a" : [ 1 , -2.5e3 , true , null , { } , [ ] ] , "b\n" : "x\u00e9" } )";
    const std::string compact = json_write(json_parse(text, "t"));
    CHECK(compact == "{\"a\":[1,-2.5e3,true,null,{},[]],\"b\\n\":\"x\xc3\xa9\"}");
    CHECK(json_write(json_parse(compact, "t")) == compact);
}

TEST_CASE("json_quote and json_number write text json_parse reads back exactly") {
    const std::string nasty = std::string("a\"b\\c\n\r\t\x01\x1f") + "\xc3\xa9";
    const std::string q = json_quote(nasty);
    CHECK(q == "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u001f\xc3\xa9\"");
    CHECK(*json_parse(q, "t").string_if() == nasty);
    for (const double v : {0.1, 1.0 / 3.0, 1e-300, 123456789.0, -2.5, 5e-324}) {
        const std::string t = json_number(v);
        CHECK_MESSAGE(json_parse(t, "t").as_number() == v, t);
    }
    CHECK(json_number(0.1) == "0.1");
    CHECK(json_number(std::numeric_limits<double>::quiet_NaN()) == "nan");
    CHECK(json_number(-std::numeric_limits<double>::infinity()) == "-inf");
}
