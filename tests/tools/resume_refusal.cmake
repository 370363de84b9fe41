# --resume refuses options that change the run (issue 14, item 7): unetpp-train records every
# run-defining option in its checkpoints; a resume with another --lr and --size must exit with 2,
# name both, and leave the run as it was; a resume with more --epochs (which may change) continues,
# also from the checkpoint kept before a corrupt last.safetensors.
# Variables: TRAIN, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_DATA}" "${WORK}/data")
set(run_args --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --base 8 --depth 3
    --split 0.75,0.25,0 --seed 3 --out "${WORK}/run" --quiet)
run_ok("${TRAIN}" ${run_args} --size 32 --lr 0.01 --batch 4 --loss dice_bce --epochs 1)
file(SHA256 "${WORK}/run/last.safetensors" before)

expect_exit2("--lr 0\\.01 \\(the run\\) against 0\\.02 \\(this command\\).*--size 32 \\(the run\\) against 64"
    "${TRAIN}" ${run_args} --size 64 --lr 0.02 --batch 4 --loss dice_bce --epochs 2 --resume)
expect_exit2("--loss dice_bce \\(the run\\) against bce"
    "${TRAIN}" ${run_args} --size 32 --lr 0.01 --batch 4 --loss bce --epochs 2 --resume)
expect_exit2("--batch 4 \\(the run\\) against 2"
    "${TRAIN}" ${run_args} --size 32 --lr 0.01 --batch 2 --loss dice_bce --epochs 2 --resume)
expect_exit2("--model unet_bn \\(the run\\) against ronneberger2015"
    "${TRAIN}" ${run_args} --size 32 --lr 0.01 --batch 4 --loss dice_bce --epochs 2 --resume --model ronneberger2015)
file(SHA256 "${WORK}/run/last.safetensors" after)
file(STRINGS "${WORK}/run/log.csv" lines)
list(LENGTH lines n)
if(NOT before STREQUAL after OR NOT n EQUAL 2)
    message(FATAL_ERROR "a refused resume changed the run (checkpoint or log with ${n} lines)")
endif()

# the same value in another spelling is the same option; --epochs may change
run_ok("${TRAIN}" --lr 1e-2 ${run_args} --size 32 --batch 4 --loss dice_bce --epochs 2 --resume)
file(STRINGS "${WORK}/run/log.csv" lines)
list(LENGTH lines n)
if(NOT n EQUAL 3)
    message(FATAL_ERROR "log.csv after --resume --epochs 2 has ${n} lines, want header + 2 epochs")
endif()

# a corrupt last.safetensors: the options are compared with the checkpoint kept before it, which
# the trainer then resumes from (and a changed option is still refused)
file(WRITE "${WORK}/run/last.safetensors" "not a checkpoint")
expect_exit2("--lr 0\\.01 \\(the run\\) against 0\\.5"
    "${TRAIN}" ${run_args} --size 32 --lr 0.5 --batch 4 --loss dice_bce --epochs 3 --resume)
run_ok("${TRAIN}" ${run_args} --size 32 --lr 0.01 --batch 4 --loss dice_bce --epochs 3 --resume)
file(STRINGS "${WORK}/run/log.csv" lines)
list(LENGTH lines n)
if(NOT n EQUAL 4)
    message(FATAL_ERROR "log.csv after resuming from last.prev.safetensors has ${n} lines, want header + 3 epochs")
endif()
file(REMOVE_RECURSE "${WORK}")
