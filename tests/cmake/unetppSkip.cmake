# Skips for tests written as `cmake -P` scripts (include this file from the script). The test
# must be registered through tests/support/run_skippable.sh, which turns a recorded skip into
# ctest's skip code 77 (SKIP_RETURN_CODE) when the script otherwise succeeds:
#
#   unetpp_skip_installable("conan 2 is missing" "scripts/install_deps.sh installs it into ...")
#   return()
#   unetpp_skip_not_available("no GPU")
#   return()
#
# Like tests/support/skip.hpp: under CI=true or UNETPP_STRICT_SKIPS=1 an installable skip is a
# failure (FATAL_ERROR) with the same message; UNETPP_STRICT_SKIPS=0 overrides CI.

function(unetpp_strict_skips out_var)
    set(strict OFF)
    if(DEFINED ENV{UNETPP_STRICT_SKIPS} AND NOT "$ENV{UNETPP_STRICT_SKIPS}" STREQUAL "")
        if(NOT "$ENV{UNETPP_STRICT_SKIPS}" MATCHES "^(0|false|FALSE|False|no)$")
            set(strict ON)
        endif()
    elseif(DEFINED ENV{CI} AND NOT "$ENV{CI}" STREQUAL "" AND NOT "$ENV{CI}" MATCHES "^(0|false|FALSE|False|no)$")
        set(strict ON)
    endif()
    set(${out_var} ${strict} PARENT_SCOPE)
endfunction()

function(unetpp_record_skip reason)
    if(NOT DEFINED ENV{UNETPP_SKIP_FILE} OR "$ENV{UNETPP_SKIP_FILE}" STREQUAL "")
        message(FATAL_ERROR "[unetpp-skip requested outside tests/support/run_skippable.sh] ${reason}")
    endif()
    string(REPLACE "\n" " " line "${reason}")
    file(APPEND "$ENV{UNETPP_SKIP_FILE}" "${line}\n")
    message(STATUS "[unetpp-skip] ${line}")
endfunction()

# `what` is missing although scripts/install_deps.sh provides it; the remaining arguments,
# joined, say where it puts it (several strings may be given, as CMake does not join adjacent
# quoted arguments).
function(unetpp_skip_installable what)
    string(JOIN "" how ${ARGN})
    unetpp_strict_skips(strict)
    if(strict)
        message(FATAL_ERROR "[unetpp-strict-skip] ${what} is missing; ${how} (CI=true or UNETPP_STRICT_SKIPS=1: a "
            "dependency the install script provides must be present; run scripts/install_deps.sh)")
    endif()
    unetpp_record_skip("${what} is missing; ${how} [installable]")
endfunction()

# A reason the install script cannot fix (all arguments, joined); never a failure.
function(unetpp_skip_not_available)
    string(JOIN "" reason ${ARGN})
    unetpp_record_skip("${reason} [not installable]")
endfunction()
