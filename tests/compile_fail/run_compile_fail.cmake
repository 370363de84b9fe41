# ctest driver for one must-not-compile case:
#
#   cmake -DCOMPILER=<c++> -DSOURCE=<file.cpp> -DFLAGS_FILE=<flags.cmake> -P run_compile_fail.cmake
#
# SOURCE's first line is `// expect: <regex>` (a CMake regular expression). The test passes only
# when the compiler rejects the file and its output matches the regex. Otherwise it prints the
# compiler output and fails, so a case that breaks for the wrong reason (a typo, a missing
# include) does not pass silently.
#
# An optional second line `// errors: N` also requires that the compiler report at most N errors:
# one mistake should give one message, not a cascade.
cmake_minimum_required(VERSION 3.23)
foreach(var IN ITEMS COMPILER SOURCE FLAGS_FILE)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run_compile_fail.cmake: -D${var}=... is required")
    endif()
endforeach()

include("${FLAGS_FILE}")

file(STRINGS "${SOURCE}" first_line LIMIT_COUNT 1)
if(NOT first_line MATCHES "^[ \t]*//[ \t]*expect:[ \t]*(.*[^ \t\r])[ \t\r]*$")
    message(FATAL_ERROR
        "${SOURCE}: the first line must be `// expect: <regex>`, got: `${first_line}`")
endif()
set(expect "${CMAKE_MATCH_1}")
file(STRINGS "${SOURCE}" head_lines LIMIT_COUNT 2)
set(max_errors "")
list(LENGTH head_lines head_count)
if(head_count GREATER 1)
    list(GET head_lines 1 second_line)
    if(second_line MATCHES "^[ \t]*//[ \t]*errors:[ \t]*([0-9]+)")
        set(max_errors "${CMAKE_MATCH_1}")
    endif()
endif()

set(args -std=c++20 -fsyntax-only -fdiagnostics-color=never)
# The compiler's own directories are left out: -I/usr/include breaks #include_next in libstdc++.
foreach(dir IN LISTS UNETPP_CF_INCLUDES)
    if(NOT dir IN_LIST UNETPP_CF_IMPLICIT_INCLUDES)
        list(APPEND args "-I${dir}")
    endif()
endforeach()
foreach(def IN LISTS UNETPP_CF_DEFINES)
    list(APPEND args "-D${def}")
endforeach()
list(APPEND args "${SOURCE}")

# LC_ALL=C keeps GCC's quotes plain ASCII so expressions need not match typographic quotes.
execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C LANG=C "${COMPILER}" ${args}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE out)

string(REPLACE ";" " " shown "${COMPILER} ${args}")
# message(FATAL_ERROR) re-wraps its text, so the compiler output is printed verbatim first.
if(rc EQUAL 0)
    message(NOTICE "command: ${shown}\noutput:\n${out}")
    message(FATAL_ERROR "FAIL: ${SOURCE} compiled, but it must not.")
endif()
if(NOT out MATCHES "${expect}")
    message(NOTICE "command: ${shown}\noutput:\n${out}")
    message(FATAL_ERROR "FAIL: ${SOURCE} failed to compile (exit ${rc}), but the output above "
        "does not match the expected regular expression `${expect}`.")
endif()
if(NOT max_errors STREQUAL "")
    string(REGEX MATCHALL ": error: " error_lines "${out}")
    list(LENGTH error_lines error_count)
    if(error_count GREATER max_errors)
        message(NOTICE "command: ${shown}\noutput:\n${out}")
        message(FATAL_ERROR "FAIL: ${SOURCE} gave ${error_count} errors; at most ${max_errors} expected "
            "(one mistake should give one error, not a cascade).")
    endif()
endif()
message(STATUS "PASS: ${SOURCE} was rejected with a diagnostic matching `${expect}`")
