# unetpp-train --auto (issue 19, item 2): on the built-in synthetic data set with a 20 s budget it
# plans, writes plan.json into the run folder and trains a checkpoint with the plan's choices;
# --plan-only plans and trains nothing; options given replace the plan's (and the printout says
# so); --plan FILE trains with a written plan; --auto --resume continues with the run's plan.json;
# hostile plan files and missing or bad budgets are refused with exit 2; a folder holding a
# user's file is refused and the file kept.
# unetpp-predict applies the plan's test-time mirroring to the run's checkpoint.
# Variables: TRAIN, PREDICT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

# Reads DIR/plan.json into the JSON text `var`, checking its format.
function(read_plan dir var)
    require_file("${dir}/plan.json")
    file(READ "${dir}/plan.json" text)
    string(JSON format GET "${text}" format)
    if(NOT format STREQUAL "unetpp.plan")
        message(FATAL_ERROR "${dir}/plan.json: format '${format}'")
    endif()
    set(${var} "${text}" PARENT_SCOPE)
endfunction()

# --- --auto --budget 20s: plan, plan.json, a trained checkpoint with the plan's options ---------
execute_process(COMMAND "${TRAIN}" --auto --budget 20s --out "${WORK}/run" --seed 2
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "--auto failed (${rc}):\n${out}\n${err}")
endif()
foreach(line "plan: data: 48 images" "plan: input [0-9]+ x [0-9]+" "plan: epochs [0-9]+: a budget of"
             "plan: loss dice_bce" "done: [0-9]+ epochs")
    if(NOT out MATCHES "${line}")
        message(FATAL_ERROR "the printout lacks '${line}':\n${out}")
    endif()
endforeach()
read_plan("${WORK}/run" plan)
string(JSON epochs GET "${plan}" epochs)
string(JSON size GET "${plan}" input_size)
string(JSON patch GET "${plan}" patch)
# the input side is --size, or (large images of one size, or a tight budget) --patch
set(geometry size)
if(patch GREATER 0)
    set(geometry patch)
endif()
string(JSON batch GET "${plan}" batch)
string(JSON base GET "${plan}" base)
string(JSON loss GET "${plan}" loss)
string(JSON images GET "${plan}" fingerprint images)
string(JSON budget GET "${plan}" budget seconds)
if(NOT images EQUAL 48 OR NOT loss STREQUAL "dice_bce" OR epochs LESS 1 OR budget GREATER 20)
    message(FATAL_ERROR "unexpected plan: images ${images}, loss ${loss}, epochs ${epochs}, budget ${budget}")
endif()
require_file("${WORK}/run/last.safetensors")
require_file("${WORK}/run/best.safetensors")
# the run trained with the plan: config.json holds its options, log.csv one row per planned epoch
file(READ "${WORK}/run/config.json" config)
foreach(key_value "${geometry};${size}" "batch;${batch}" "base;${base}" "epochs;${epochs}" "loss;${loss}")
    list(GET key_value 0 key)
    list(GET key_value 1 want)
    string(JSON got GET "${config}" "${key}")
    if(NOT got STREQUAL want)
        message(FATAL_ERROR "config.json: ${key} is '${got}', the plan says '${want}'")
    endif()
endforeach()
file(STRINGS "${WORK}/run/log.csv" rows)
list(LENGTH rows n)
math(EXPR n "${n} - 1")
if(NOT n EQUAL epochs)
    message(FATAL_ERROR "log.csv has ${n} epochs, the plan ${epochs}")
endif()
# the checkpoint records the plan's prediction mirroring
file(READ "${WORK}/run/last.safetensors" head OFFSET 8 LIMIT 65536)  # the JSON header
if(NOT head MATCHES "\"unetpp\\.extra\\.plan\\.tta\" *: *\"hflip\"")
    message(FATAL_ERROR "last.safetensors does not record unetpp.extra.plan.tta")
endif()

# --- unetpp-predict applies the plan's mirroring to the run's checkpoint (--no-tta: not) --------
run_ok("${MAKE_DATA}" "${WORK}/data")
execute_process(COMMAND "${PREDICT}" --checkpoint "${WORK}/run/best.safetensors" --input "${WORK}/data/images"
    --out "${WORK}/pred" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "the run's plan mirrors at test time")
    message(FATAL_ERROR "predict with the plan's mirroring (${rc}):\n${out}\n${err}")
endif()
require_file("${WORK}/pred/img_0_mask.png")
execute_process(COMMAND "${PREDICT}" --checkpoint "${WORK}/run/best.safetensors" --input "${WORK}/data/images"
    --out "${WORK}/pred_plain" --no-tta RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR out MATCHES "mirrors at test time")
    message(FATAL_ERROR "predict --no-tta (${rc}):\n${out}\n${err}")
endif()
expect_exit2("--tta and --no-tta contradict each other" "${PREDICT}" --checkpoint "${WORK}/run/best.safetensors"
    --input "${WORK}/data/images" --out "${WORK}/pred_both" --tta --no-tta)

# --- --auto --resume: continues with the run's plan.json (more epochs may be given) ------------
math(EXPR more "${epochs} + 1")
run_ok("${TRAIN}" --auto --resume --out "${WORK}/run" --seed 2 --epochs ${more} --quiet)
file(STRINGS "${WORK}/run/log.csv" rows)
list(LENGTH rows n)
math(EXPR lines "${more} + 1")
if(NOT n EQUAL lines)
    message(FATAL_ERROR "after --auto --resume --epochs ${more}, log.csv has ${n} lines")
endif()
expect_exit2("The run was planned: resume it with --auto --resume"
    "${TRAIN}" --resume --out "${WORK}/run" --seed 2 --epochs 40 --quiet)
expect_exit2("already holds a run.*--auto --resume" "${TRAIN}" --auto --budget 20s --out "${WORK}/run")

# --- --plan-only: plan, trains nothing; a given option replaces the plan's ---------------------
execute_process(COMMAND "${TRAIN}" --plan-only --budget 30s --out "${WORK}/plan" --size 32 --batch 3
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "--batch 3 \\(given\\) replaces the plan's" OR NOT out MATCHES "--size \\(given\\)")
    message(FATAL_ERROR "--plan-only (${rc}):\n${out}\n${err}")
endif()
read_plan("${WORK}/plan" plan2)
require_absent("${WORK}/plan/last.safetensors")

# --- --plan FILE: trains with the written plan (and keeps a copy in the run folder) ------------
run_ok("${TRAIN}" --plan "${WORK}/plan/plan.json" --epochs 1 --out "${WORK}/run2" --quiet)
read_plan("${WORK}/run2" copy)
string(JSON b2 GET "${plan2}" batch)
file(READ "${WORK}/run2/config.json" config2)
string(JSON got GET "${config2}" batch)
if(NOT got STREQUAL b2)
    message(FATAL_ERROR "--plan FILE: batch '${got}', the plan says '${b2}'")
endif()

# --- refusals ---------------------------------------------------------------------------------
expect_exit2("--auto needs --budget" "${TRAIN}" --auto --out "${WORK}/x")
expect_exit2("--budget '1h30x' is not a duration" "${TRAIN}" --auto --budget 1h30x --out "${WORK}/x")
expect_exit2("--budget '0s' is shorter than one second" "${TRAIN}" --plan-only --budget 0s)
expect_exit2("--budget is the time budget of --auto or --plan-only" "${TRAIN}" --budget 45m --out "${WORK}/x")
expect_exit2("--auto plans now and --plan FILE reads a plan" "${TRAIN}" --auto --budget 1m
    --plan "${WORK}/plan/plan.json" --out "${WORK}/x")
file(WRITE "${WORK}/bad.json" "{\"format\": \"unetpp.plan\", \"version\": 1, \"input_size\": 99999}")
expect_exit2("bad.json: input_size is 99999, outside \\[8, 4096\\].*--plan-only"
    "${TRAIN}" --plan "${WORK}/bad.json" --out "${WORK}/x")
file(WRITE "${WORK}/broken.json" "{\"format\": ")
expect_exit2("broken.json: malformed JSON at byte" "${TRAIN}" --plan "${WORK}/broken.json" --out "${WORK}/x")
require_absent("${WORK}/x")
file(MAKE_DIRECTORY "${WORK}/user")
user_file("${WORK}/user/notes.txt")
expect_exit2("already holds files that unetpp-train did not write" "${TRAIN}" --auto --budget 20s --out "${WORK}/user")
expect_user_file("${WORK}/user/notes.txt")
require_absent("${WORK}/user/plan.json")
