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

# Patches (--patch without --size: the 32 x 32 images keep their size, 16 x 16 patches train and
# one fixed patch per image validates). The reference trains on its own random crops, validates
# on unetpp's patches and scores the whole images too (full_val.json).
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model unet_bn --base 8 --depth 3 --patch 16 --epochs 2 --batch 4 --split 0.75,0.25,0
       --loss dice_bce --optimizer adam --lr 0.01 --seed 5 --out "${WORK}/patch" --quiet
       --export-data "${WORK}/patch/data.safetensors")
run_ok("${PYTHON}" "${SCRIPT}" --run "${WORK}/patch" --out "${WORK}/patch/torch" --threads 1)
file(STRINGS "${WORK}/patch/torch/log.csv" theirs)
list(LENGTH theirs n)
if(NOT n EQUAL 3)
    message(FATAL_ERROR "patch run: torch/log.csv has ${n} lines (want 3)")
endif()
require_file("${WORK}/patch/torch/full_val.json")
file(READ "${WORK}/patch/torch/full_val.json" full)
string(JSON full_h GET "${full}" height)
string(JSON full_n GET "${full}" images)
if(NOT full_h EQUAL 32 OR NOT full_n EQUAL 2)
    message(FATAL_ERROR "patch run: full_val.json scores ${full_n} images of height ${full_h} (want 2 of 32): ${full}")
endif()

# The validation patches are unetpp's: unetpp's final weights, read into the PyTorch twin and
# scored on the reference's validation patches, give the loss of the last row of unetpp's log
# (to 1e-4 relative; another patch place changes it far more), and the whole images are 32 x 32.
execute_process(COMMAND "${PYTHON}" "${SCRIPT}" --run "${WORK}/patch" --out "${WORK}/patch/score" --score-unetpp
                        --threads 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE scored ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "--score-unetpp failed (${rc}): ${err}")
endif()
string(JSON torch_loss GET "${scored}" val val_loss)
string(JSON val_h GET "${scored}" val height)
string(JSON full_w GET "${scored}" full_val width)
file(STRINGS "${WORK}/patch/log.csv" ours)
list(GET ours 2 last)
string(REPLACE "," ";" cells "${last}")
list(GET cells 2 our_loss)
execute_process(COMMAND "${PYTHON}" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-4 * abs(b))"
                        "${torch_loss}" "${our_loss}" RESULT_VARIABLE differ)
if(NOT differ EQUAL 0 OR NOT val_h EQUAL 16 OR NOT full_w EQUAL 32)
    message(FATAL_ERROR "--score-unetpp: val_loss ${torch_loss} on ${val_h} x ${val_h} patches, unetpp's log "
                        "${our_loss}; whole images ${full_w} wide (want 16 x 16 patches, equal losses, 32): ${scored}")
endif()

# What the reference cannot reproduce is refused: foreground-oversampled patches.
file(MAKE_DIRECTORY "${WORK}/fg")
file(READ "${WORK}/patch/config.json" cfg)
string(REPLACE "\"patch\": \"16\"" "\"patch\": \"16\",\n  \"fg-oversample\": \"0.5\"" cfg "${cfg}")
file(WRITE "${WORK}/fg/config.json" "${cfg}")
file(COPY "${WORK}/patch/split.json" "${WORK}/patch/data.safetensors" DESTINATION "${WORK}/fg")
expect_exit2("fg-oversample 0.5" "${PYTHON}" "${SCRIPT}" --run "${WORK}/fg" --out "${WORK}/fg/torch")
