# unetpp-train built without MPI, started as one of several processes (issue 18, item 6): it must
# refuse instead of training a copy of the model per process. A launcher is recognised by the
# variables it sets (OMPI_COMM_WORLD_SIZE and OMPI_COMM_WORLD_RANK from Open MPI, PMI_SIZE and
# PMI_RANK from MPICH), set here by hand: no mpirun is needed. Rank 0 says why and what to do, the
# other ranks exit 2 silently; nothing is written. One process (size 1) is not refused.
# Variables: TRAIN (the program), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

set(args --data-type synthetic --synthetic-count 8 --size 32 --base 8 --epochs 1 --out "${WORK}/run")
set(advice "started as 2 processes \\(OMPI_COMM_WORLD_SIZE=2, e\\.g\\. mpirun -np 2\\)[^\n]*built without MPI[^\n]*Rebuild unetpp with -DUNETPP_WITH_MPI=ON")
expect_exit2("${advice}" "${CMAKE_COMMAND}" -E env OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "${TRAIN}" ${args})
require_absent("${WORK}/run")
expect_exit2("started as 4 processes \\(PMI_SIZE=4[^\n]*-DUNETPP_WITH_MPI=ON"
             "${CMAKE_COMMAND}" -E env PMI_SIZE=4 PMI_RANK=0 "${TRAIN}" ${args})
require_absent("${WORK}/run")

# rank 1: the same refusal, without a second copy of the message
execute_process(COMMAND "${CMAKE_COMMAND}" -E env OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 "${TRAIN}" ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err STREQUAL "" OR NOT out STREQUAL "")
    message(FATAL_ERROR "rank 1 of a build without MPI: want exit 2 and no output, got ${rc}:\n${out}\n${err}")
endif()
require_absent("${WORK}/run")

# a job of one process is this process alone: it trains
run_ok("${CMAKE_COMMAND}" -E env OMPI_COMM_WORLD_SIZE=1 OMPI_COMM_WORLD_RANK=0 "${TRAIN}" ${args} --quiet)
require_file("${WORK}/run/last.safetensors")
file(REMOVE_RECURSE "${WORK}")
