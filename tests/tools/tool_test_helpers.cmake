# Helpers of the command-line program tests (included by the scripts in tests/tools/).

# Empties the scratch folder WORK.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

# Runs a command that must succeed; prints its output.
function(run_ok)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}): ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
    endif()
    message(STATUS "${out}")
endfunction()

# Runs a command that must exit with 2 and say something matching `regex` on stderr.
function(expect_exit2 regex)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 2)
        message(FATAL_ERROR "want exit 2, got ${rc}: ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
    endif()
    if(NOT err MATCHES "${regex}")
        message(FATAL_ERROR "stderr does not match '${regex}': ${ARGN}\nstderr:\n${err}")
    endif()
    message(STATUS "ok: ${err}")
endfunction()

function(require_file f)
    if(NOT EXISTS "${f}")
        message(FATAL_ERROR "expected output '${f}' is missing")
    endif()
endfunction()
