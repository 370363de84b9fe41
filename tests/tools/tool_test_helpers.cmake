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

# run_ok / expect_exit2 with the command started in the folder `dir` (for "." as an output).
function(run_ok_at dir)
    execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${dir}" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                    ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}) in '${dir}': ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
    endif()
endfunction()

function(expect_exit2_at dir regex)
    execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${dir}" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                    ERROR_VARIABLE err)
    if(NOT rc EQUAL 2)
        message(FATAL_ERROR "want exit 2, got ${rc} in '${dir}': ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
    endif()
    if(NOT err MATCHES "${regex}")
        message(FATAL_ERROR "stderr does not match '${regex}': ${ARGN}\nstderr:\n${err}")
    endif()
    message(STATUS "ok: ${err}")
endfunction()

# A user's file: `user_file(path)` writes known bytes to it, `expect_user_file(path)` checks that
# they are still there, byte for byte.
set(USER_FILE_BYTES "a user's notes\nline two, not written by unetpp\n")
function(user_file path)
    file(WRITE "${path}" "${USER_FILE_BYTES}")
endfunction()
function(expect_user_file path)
    if(NOT EXISTS "${path}")
        message(FATAL_ERROR "the user's file '${path}' is gone")
    endif()
    file(READ "${path}" got)
    if(NOT got STREQUAL USER_FILE_BYTES)
        message(FATAL_ERROR "the user's file '${path}' was changed:\n${got}")
    endif()
endfunction()

# Fails when `path` exists (an output that a refused command must not have written).
function(require_absent path)
    if(EXISTS "${path}")
        message(FATAL_ERROR "'${path}' exists, but the command that would write it was refused")
    endif()
endfunction()

# Runs a command that must succeed, prints its output and returns its stdout in `var`.
function(run_capture var)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}): ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
    endif()
    message(STATUS "${out}")
    set(${var} "${out}" PARENT_SCOPE)
endfunction()

# Fails naming `what` unless `text` matches `regex`.
function(require_match text regex what)
    if(NOT text MATCHES "${regex}")
        message(FATAL_ERROR "${what}: no match for '${regex}' in:\n${text}")
    endif()
endfunction()

# The test venv of scripts/install_deps.sh: UNETPP_TEST_VENV, else $XDG_CACHE_HOME/unetpp/test-venv,
# else ~/.cache/unetpp/test-venv.
function(unetpp_test_venv var)
    if(NOT "$ENV{UNETPP_TEST_VENV}" STREQUAL "")
        set(${var} "$ENV{UNETPP_TEST_VENV}" PARENT_SCOPE)
    elseif(NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
        set(${var} "$ENV{XDG_CACHE_HOME}/unetpp/test-venv" PARENT_SCOPE)
    else()
        set(${var} "$ENV{HOME}/.cache/unetpp/test-venv" PARENT_SCOPE)
    endif()
endfunction()

# A python that imports numpy in `var`: the test venv's, else PYTHON. Without one it records the
# test's skip (`what`: what goes unchecked; installable) and sets `var` empty: the caller returns.
function(unetpp_numpy_python var what)
    unetpp_test_venv(venv)
    set(py "${PYTHON}")
    if(EXISTS "${venv}/bin/python")
        set(py "${venv}/bin/python")
    endif()
    execute_process(COMMAND "${py}" -c "import numpy" RESULT_VARIABLE has_numpy OUTPUT_QUIET ERROR_QUIET)
    if(NOT has_numpy EQUAL 0)
        unetpp_skip_installable("numpy for '${py}' (${what})" "scripts/install_deps.sh installs it into the test venv ${venv}")
        set(py "")
    endif()
    set(${var} "${py}" PARENT_SCOPE)
endfunction()

# The "val" list of the split.json of run folder WORK/<run> (the text of the JSON entry), into out_var.
function(read_val run out_var)
    file(READ "${WORK}/${run}/split.json" s)
    string(REGEX MATCH "\"val\": \\[[^]]*\\]" v "${s}")
    if(v STREQUAL "")
        message(FATAL_ERROR "${run}/split.json lists no val part:\n${s}")
    endif()
    set(${out_var} "${v}" PARENT_SCOPE)
endfunction()
