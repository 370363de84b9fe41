# unetpp-train --export-data (2 epochs) -> tools/torch_reference_train.py on the same run: the
# PyTorch reference of docs/RESULTS.md reads the run's config, split and tensors, trains, and
# writes a log with unetpp-train's columns and one row per epoch, and the final weights (last.pt).
# Skipped (through tests/support/run_skippable.sh) when PYTHON cannot import torch.
# Variables: TRAIN, MAKE_DATA (programs), PYTHON, SCRIPT (torch_reference_train.py), WORK.
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")

execute_process(COMMAND "${PYTHON}" -c "import torch" RESULT_VARIABLE has_torch OUTPUT_QUIET ERROR_QUIET)
if(NOT has_torch EQUAL 0)
    unetpp_skip_installable("PyTorch for ${PYTHON} (the PyTorch reference trainer is not tested)"
        "scripts/install_deps.sh installs Debian's python3-torch")
    return()
endif()

run_ok("${MAKE_DATA}" "${WORK}/data")
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model unet_bn --base 8 --depth 3 --size 32 --epochs 2 --batch 4 --split 0.75,0.25,0
       --loss tversky --optimizer adam --lr 0.01 --seed 3 --out "${WORK}/run" --quiet
       --export-data "${WORK}/run/data.safetensors")
run_ok("${PYTHON}" "${SCRIPT}" --run "${WORK}/run" --out "${WORK}/run/torch" --threads 1)
require_file("${WORK}/run/torch/last.pt")  # the weights after the last epoch

file(STRINGS "${WORK}/run/log.csv" ours)
file(STRINGS "${WORK}/run/torch/log.csv" theirs)
list(GET ours 0 our_header)
list(GET theirs 0 their_header)
list(LENGTH theirs n)
if(NOT their_header STREQUAL our_header OR NOT n EQUAL 3)
    message(FATAL_ERROR "torch/log.csv: header '${their_header}' (want '${our_header}') and ${n} lines (want 3)")
endif()
# Every metric of the last epoch is a number in its range (Dice, IoU, pixel error in [0, 1]).
list(GET theirs 2 last)
string(REPLACE "," ";" cells "${last}")
list(GET cells 3 dice)
list(GET cells 5 err)
foreach(v IN ITEMS "${dice}" "${err}")
    if(NOT v MATCHES "^[0-9.e+-]+$" OR v LESS 0 OR v GREATER 1)
        message(FATAL_ERROR "torch/log.csv: last row '${last}' has a metric outside [0, 1]")
    endif()
endforeach()

# Bad input: a run folder without config.json is exit code 2 with a message naming the file.
expect_exit2("config.json does not exist" "${PYTHON}" "${SCRIPT}" --run "${WORK}/data" --out "${WORK}/x")
