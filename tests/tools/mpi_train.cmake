# `mpirun -np 2 unetpp-train` (issue 18, item 6; docs/DISTRIBUTED.md), on the built-in synthetic
# data: ronneberger2015 (no batch norm) with the BCE loss, whose gradient over a global batch is
# the mean of the two ranks' slice gradients, SGD with momentum, 2 epochs of 3 global batches of 4.
#   - the run writes one folder, holding the files of a one-process run and nothing else; its log
#     has one row per epoch, and stdout one copy of each progress line (rank 0 alone prints); with
#     each rank in a folder of its own, rank 1 writes no file
#   - its weights equal the one-process run's with the same seed and global batch up to the
#     rounding of the split gradient (BOUND; docs/DISTRIBUTED.md gives the measured difference)
#   - unetpp-predict uses its checkpoint; --resume continues it on 2 processes and refuses 1
#   - errors: one shared by both ranks is printed once naming both, one of rank 0 alone (its
#     output folder check) stops both; every rank exits 2 and nothing is written; an unreadable
#     image in one rank's slice ends the job (exit 2) after that rank's 10 s wait, not a hang
# Variables: TRAIN, PREDICT, MAKE_DATA, COMPARE (programs), MPIEXEC, NP_FLAG, MPI_FLAGS (mpiexec
# flags, comma-separated, e.g. --oversubscribe), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")
string(REPLACE "," ";" MPI_FLAGS "${MPI_FLAGS}")

set(BOUND 1e-6)
# The direct and GEMM kernels, in both runs: the two runs' per-rank batches differ (2 images
# against 4), and Winograd's backward-weights pass, chosen from 64 tiles on, would run on one
# side and not the other at the deepest level; its rounding (about 1e-6 of a gradient's sum of
# |products|, against 1e-8) grows over the 6 steps to 6.4e-5 (docs/DISTRIBUTED.md). The test is
# about the split gradient, so both runs take the same kernels.
set(ENV{UNETPP_CONV_ALGO} direct)
set(mpirun "${MPIEXEC}" ${NP_FLAG} 2 ${MPI_FLAGS})
set(common_args --data-type synthetic --synthetic-count 20 --split 0.6,0.4,0 --model ronneberger2015 --base 16
                --depth 3 --size 92 --loss bce --optimizer sgd --lr 0.01 --threads 1)
set(run_args ${common_args} --batch 4 --seed 7)

# Runs a command; returns its exit code, stdout and stderr.
function(run_any rc_var out_var err_var)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    set(${rc_var} "${rc}" PARENT_SCOPE)
    set(${out_var} "${out}" PARENT_SCOPE)
    set(${err_var} "${err}" PARENT_SCOPE)
endfunction()

# The number of matches of `regex` in `text` (whose semicolons are read as commas: a match
# holding one would count as two list elements).
function(count_matches var regex text)
    string(REPLACE ";" "," text "${text}")
    string(REGEX MATCHALL "${regex}" found "${text}")
    list(LENGTH found n)
    set(${var} ${n} PARENT_SCOPE)
endfunction()

function(require_count regex text want what)
    count_matches(n "${regex}" "${text}")
    if(NOT n EQUAL want)
        message(FATAL_ERROR "${what}: '${regex}' appears ${n} times, want ${want}:\n${text}")
    endif()
endfunction()

# --- one process, then two, with the same options ---------------------------------------------
run_ok("${TRAIN}" ${run_args} --epochs 2 --out "${WORK}/single/run" --quiet)
run_any(rc out err ${mpirun} "${TRAIN}" ${run_args} --epochs 2 --out "${WORK}/mpi/run")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mpirun -np 2 unetpp-train failed (${rc}):\nstdout:\n${out}\nstderr:\n${err}")
endif()
message(STATUS "mpirun -np 2 unetpp-train:\n${out}")

# one progress stream: each line of rank 0, once; the other rank prints nothing
require_count("unetpp-train: unet<[^\n]*unpadded>, 20 images \\(12 train, 8 val, 0 test\\)" "${out}" 1 "start line")
require_count("epoch 1/2  train_loss" "${out}" 1 "epoch 1 summary")
require_count("epoch 2/2  train_loss" "${out}" 1 "epoch 2 summary")
require_count("done: 2 epochs" "${out}" 1 "final line")

# one run folder with the files of the one-process run, and nothing else
file(GLOB top RELATIVE "${WORK}/mpi" "${WORK}/mpi/*")
if(NOT top STREQUAL "run")
    message(FATAL_ERROR "mpirun -np 2 wrote '${top}' into ${WORK}/mpi, want only the folder 'run'")
endif()
file(GLOB single_files RELATIVE "${WORK}/single/run" "${WORK}/single/run/*")
file(GLOB mpi_files RELATIVE "${WORK}/mpi/run" "${WORK}/mpi/run/*")
list(SORT single_files)
list(SORT mpi_files)
if(NOT mpi_files STREQUAL single_files)
    message(FATAL_ERROR "the 2-process run wrote '${mpi_files}', the one-process run '${single_files}'")
endif()
file(STRINGS "${WORK}/mpi/run/log.csv" rows)
list(LENGTH rows n)
if(NOT n EQUAL 3)
    message(FATAL_ERROR "log.csv of the 2-process run has ${n} lines, want a header and 2 rows:\n${rows}")
endif()
file(READ "${WORK}/mpi/run/config.json" config)
if(NOT config MATCHES "\"world_size\": 2")
    message(FATAL_ERROR "config.json does not record the 2 processes:\n${config}")
endif()

# rank 1 writes nothing, not even the --out folder: each rank started in its own folder (MPMD),
# with relative outputs, --tensorboard and --export-data
file(MAKE_DIRECTORY "${WORK}/rank0" "${WORK}/rank1")
set(outputs --epochs 1 --quiet --out run --tensorboard tb --export-data data.safetensors)
run_ok("${MPIEXEC}" ${MPI_FLAGS} ${NP_FLAG} 1 -wdir "${WORK}/rank0" "${TRAIN}" ${run_args} ${outputs}
       : ${NP_FLAG} 1 -wdir "${WORK}/rank1" "${TRAIN}" ${run_args} ${outputs})
foreach(f run/last.safetensors run/log.csv run/config.json run/split.json data.safetensors)
    require_file("${WORK}/rank0/${f}")
endforeach()
file(GLOB tb_files "${WORK}/rank0/tb/*")
list(LENGTH tb_files n)
if(NOT n EQUAL 1)
    message(FATAL_ERROR "rank 0 wrote ${n} TensorBoard files, want 1: ${tb_files}")
endif()
file(GLOB_RECURSE rank1_files LIST_DIRECTORIES false RELATIVE "${WORK}/rank1" "${WORK}/rank1/*")
file(GLOB rank1_top RELATIVE "${WORK}/rank1" "${WORK}/rank1/*")
if(rank1_files OR rank1_top)
    message(FATAL_ERROR "rank 1 wrote '${rank1_files}' (folders: '${rank1_top}'); only rank 0 may write")
endif()

# the weights: the one-process run's up to the rounding of the split gradient
foreach(f last best)
    run_any(rc out err "${COMPARE}" "${WORK}/mpi/run/${f}.safetensors" "${WORK}/single/run/${f}.safetensors" ${BOUND})
    message(STATUS "${f}.safetensors, 2 processes against 1: ${out}${err}")
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "the 2-process run's ${f}.safetensors is not within ${BOUND} of the one-process run's")
    endif()
endforeach()
# the comparison can fail: another seed gives other weights
run_ok("${TRAIN}" ${common_args} --batch 4 --epochs 1 --seed 8 --out "${WORK}/other" --quiet)
run_any(rc out err "${COMPARE}" "${WORK}/other/last.safetensors" "${WORK}/single/run/last.safetensors" ${BOUND})
if(NOT rc EQUAL 1)
    message(FATAL_ERROR "the weights of another seed pass the comparison (${rc}): ${out}${err}")
endif()

# unetpp-predict uses the checkpoint alone
run_ok("${MAKE_DATA}" "${WORK}/data" 48 40)
run_ok("${PREDICT}" --checkpoint "${WORK}/mpi/run/best.safetensors" --input "${WORK}/data/images/img_0.png"
       --out "${WORK}/pred")
require_file("${WORK}/pred/img_0_mask.png")

# --resume: on 2 processes it continues; one process is refused (the run had 2)
expect_exit2("the number of processes: 2 \\(the run\\) against 1 \\(this command; resume with mpirun -np 2\\)"
             "${TRAIN}" ${run_args} --epochs 3 --out "${WORK}/mpi/run" --resume)
run_any(rc out err ${mpirun} "${TRAIN}" ${run_args} --epochs 3 --out "${WORK}/mpi/run" --resume)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mpirun -np 2 unetpp-train --resume failed (${rc}):\nstdout:\n${out}\nstderr:\n${err}")
endif()
require_count("epoch 3/3  train_loss" "${out}" 1 "resumed epoch 3 summary")
file(STRINGS "${WORK}/mpi/run/log.csv" rows)
list(LENGTH rows n)
if(NOT n EQUAL 4)
    message(FATAL_ERROR "log.csv after the resume has ${n} lines, want a header and 3 rows:\n${rows}")
endif()

# --- errors ----------------------------------------------------------------------------------
# the same error on both ranks: printed once, naming both; exit 2
run_any(rc out err ${mpirun} "${TRAIN}" ${common_args} --batch 1 --seed 7 --epochs 1 --out "${WORK}/batch1")
if(NOT rc EQUAL 2)
    message(FATAL_ERROR "--batch 1 on 2 processes: want exit 2, got ${rc}:\n${out}\n${err}")
endif()
require_count("unetpp-train: error on ranks 0-1 of 2: --batch 1 is the global batch" "${err}" 1 "--batch 1 error")
require_absent("${WORK}/batch1")
# an error of rank 0 alone (the output folder holds a user's file): both stop, nothing is written
file(MAKE_DIRECTORY "${WORK}/taken")
user_file("${WORK}/taken/notes.txt")
run_any(rc out err ${mpirun} "${TRAIN}" ${run_args} --epochs 1 --out "${WORK}/taken")
if(NOT rc EQUAL 2)
    message(FATAL_ERROR "an --out that holds a user's file, on 2 processes: want exit 2, got ${rc}:\n${out}\n${err}")
endif()
require_count("unetpp-train: error on rank 0 of 2: [^\n]*taken" "${err}" 1 "rank 0's output folder error")
require_count("error on rank 1" "${err}" 0 "rank 1 (its setup succeeded)")
expect_user_file("${WORK}/taken/notes.txt")
file(GLOB taken RELATIVE "${WORK}/taken" "${WORK}/taken/*")
if(NOT taken STREQUAL "notes.txt")
    message(FATAL_ERROR "a refused run wrote into the user's folder: ${taken}")
endif()
# an error of one rank during training (an unreadable image in its slice) that the other does not
# share: the other waits in the step's exchange, so the failing rank ends the job after 10 s
file(COPY "${WORK}/data" DESTINATION "${WORK}/broken")
file(WRITE "${WORK}/broken/data/images/img_2.png" "not an image")
run_any(rc out err ${mpirun} "${TRAIN}" --data-type folders --data "${WORK}/broken/data/images"
        --masks "${WORK}/broken/data/masks" --size 32 --base 8 --batch 2 --epochs 1 --threads 1
        --out "${WORK}/broken/run")
if(NOT rc EQUAL 2)
    message(FATAL_ERROR "an unreadable image on one rank: want exit 2, got ${rc}:\n${out}\n${err}")
endif()
require_count("unetpp-train: error on rank [01] of 2: [^\n]*img_2\\.png[^\n]*the other ranks did not stop within 10 s"
              "${err}" 1 "the failing rank's error")
file(REMOVE_RECURSE "${WORK}")
