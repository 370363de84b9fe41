# ctest `unit_support_skips`: checks the exit codes of the skip mechanism, for doctest
# executables (SELFTEST, built from skip_selftest.cpp) and for cmake -P tests
# (run_skippable.sh + skip_selftest.cmake):
#   passing -> 0; skip -> 77 and "[unetpp-skip] <reason>" printed; a skip next to a failure -> a
#   failure (not 77); an installable skip -> 77, but a failure under CI=true or
#   UNETPP_STRICT_SKIPS=1; a not-installable skip -> 77 also under CI=true.
# Variables: SELFTEST (executable), SOURCE_DIR (tests/support), CMAKE_EXE.
set(failures 0)

function(expect what want_rc want_text)
    execute_process(COMMAND "${CMAKE_EXE}" -E env --unset=CI --unset=UNETPP_STRICT_SKIPS ${ARGN}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    set(ok TRUE)
    if(NOT rc STREQUAL "${want_rc}")
        set(ok FALSE)
    endif()
    if(NOT want_text STREQUAL "")
        string(FIND "${out}${err}" "${want_text}" at)
        if(at EQUAL -1)
            set(ok FALSE)
        endif()
    endif()
    if(ok)
        message(STATUS "ok: ${what}: exit ${rc}")
    else()
        message(STATUS "FAIL: ${what}: exit ${rc} (want ${want_rc}), output must contain '${want_text}':\n${out}${err}")
        math(EXPR n "${failures} + 1")
        set(failures ${n} PARENT_SCOPE)
    endif()
endfunction()

set(wrap sh "${SOURCE_DIR}/run_skippable.sh" "${CMAKE_EXE}")
set(script "${SOURCE_DIR}/skip_selftest.cmake")
foreach(kind IN ITEMS doctest cmake)
    if(kind STREQUAL "doctest")
        set(pass UNETPP_SKIP_SELFTEST=pass "${SELFTEST}")
        set(skip UNETPP_SKIP_SELFTEST=skip "${SELFTEST}")
        set(both UNETPP_SKIP_SELFTEST=skip_and_fail "${SELFTEST}")
        set(inst UNETPP_SKIP_SELFTEST=installable "${SELFTEST}")
    else()
        set(pass ${wrap} -DMODE=pass -P "${script}")
        set(skip ${wrap} -DMODE=skip -P "${script}")
        set(both ${wrap} -DMODE=skip_and_fail -P "${script}")
        set(inst ${wrap} -DMODE=installable -P "${script}")
    endif()
    expect("${kind}: passing" 0 "" ${pass})
    expect("${kind}: skip" 77 "[unetpp-skip] self-test data not found at /nonexistent" ${skip})
    expect("${kind}: skip with CI=true" 77 "[unetpp-skip] self-test data" CI=true ${skip})
    expect("${kind}: skip next to a failure" 1 "" ${both})
    expect("${kind}: installable skip" 77 "[unetpp-skip] self-test dependency is missing" ${inst})
    expect("${kind}: installable skip with CI=true" 1 "[unetpp-strict-skip] self-test dependency" CI=true ${inst})
    expect("${kind}: installable skip with UNETPP_STRICT_SKIPS=1" 1 "[unetpp-strict-skip]" UNETPP_STRICT_SKIPS=1 ${inst})
    expect("${kind}: installable skip with CI=true UNETPP_STRICT_SKIPS=0" 77 "[unetpp-skip]"
        CI=true UNETPP_STRICT_SKIPS=0 ${inst})
endforeach()

if(failures GREATER 0)
    message(FATAL_ERROR "${failures} skip-mechanism check(s) failed")
endif()
