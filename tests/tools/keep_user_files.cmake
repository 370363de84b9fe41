# No program deletes or overwrites a file it did not write (issue 14, item 1). Every program that
# writes (unetpp-train and its --export-data, unetpp-evaluate, unetpp-plot) is run against a folder
# that already holds a user's file: without --overwrite it is refused with exit 2 and writes
# nothing; with --overwrite it writes only its own files; the user's file survives byte for byte
# either way. "." as the output folder is tried too (it used to lose every file of the working
# folder). unetpp-predict is covered by tests/unit/infer/test_predict_cli.cpp.
# Variables: TRAIN, EVALUATE, PLOT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_DATA}" "${WORK}/data")
set(data --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --base 8 --depth 3
    --size 32 --split 0.75,0.25,0 --quiet)

# --- unetpp-train --out -------------------------------------------------------------------------
file(MAKE_DIRECTORY "${WORK}/run")
user_file("${WORK}/run/notes.txt")
expect_exit2("'${WORK}/run' already holds files that unetpp-train did not write \\(for example 'notes.txt'\\).*--overwrite"
    "${TRAIN}" ${data} --epochs 1 --out "${WORK}/run")
expect_user_file("${WORK}/run/notes.txt")
require_absent("${WORK}/run/last.safetensors")
require_absent("${WORK}/run/config.json")
run_ok("${TRAIN}" ${data} --epochs 1 --out "${WORK}/run" --overwrite)
expect_user_file("${WORK}/run/notes.txt")
require_file("${WORK}/run/last.safetensors")
# a resumed run keeps the user's file too
run_ok("${TRAIN}" ${data} --epochs 2 --out "${WORK}/run" --resume)
expect_user_file("${WORK}/run/notes.txt")

# --- unetpp-train --export-data -----------------------------------------------------------------
user_file("${WORK}/tensors.safetensors")
expect_exit2("--export-data '${WORK}/tensors.safetensors' already exists; choose another name, or pass --overwrite"
    "${TRAIN}" ${data} --epochs 1 --out "${WORK}/run_export" --export-data "${WORK}/tensors.safetensors")
expect_user_file("${WORK}/tensors.safetensors")
require_absent("${WORK}/run_export")  # refused before anything was written
# into a folder that holds a user's file under another name: written next to it
file(MAKE_DIRECTORY "${WORK}/exports")
user_file("${WORK}/exports/notes.txt")
run_ok("${TRAIN}" ${data} --epochs 1 --out "${WORK}/run_export" --export-data "${WORK}/exports/data.safetensors")
expect_user_file("${WORK}/exports/notes.txt")
require_file("${WORK}/exports/data.safetensors")
file(GLOB leftovers "${WORK}/exports/.*")
if(leftovers)
    message(FATAL_ERROR "temporary files left behind: ${leftovers}")
endif()

# --- unetpp-evaluate ----------------------------------------------------------------------------
set(eval "${EVALUATE}" --checkpoint "${WORK}/run/last.safetensors" --data-type folders
    --data "${WORK}/data/images" --masks "${WORK}/data/masks")
file(MAKE_DIRECTORY "${WORK}/pred")
user_file("${WORK}/pred/notes.txt")
expect_exit2("--out-masks '${WORK}/pred' already holds files that unetpp-evaluate did not write.*--overwrite"
    ${eval} --csv "${WORK}/e.csv" --out-masks "${WORK}/pred")
expect_user_file("${WORK}/pred/notes.txt")
require_absent("${WORK}/pred/img_0_pred.png")
require_absent("${WORK}/e.csv")  # nothing written when one output is refused
run_ok(${eval} --csv "${WORK}/e.csv" --out-masks "${WORK}/pred" --overwrite)
expect_user_file("${WORK}/pred/notes.txt")
require_file("${WORK}/pred/img_0_pred.png")
require_file("${WORK}/e.csv")
# the masks of a second run replace the program's own files; still nothing else is touched
run_ok(${eval} --csv "${WORK}/e2.csv" --out-masks "${WORK}/pred" --overwrite)
expect_user_file("${WORK}/pred/notes.txt")

# "." as the mask folder: refused in a folder with files; with --overwrite only *_pred.png added
file(MAKE_DIRECTORY "${WORK}/cwd")
user_file("${WORK}/cwd/notes.txt")
expect_exit2_at("${WORK}/cwd" "--out-masks '\\.' already holds files that unetpp-evaluate did not write"
    ${eval} --csv "${WORK}/e3.csv" --out-masks .)
expect_user_file("${WORK}/cwd/notes.txt")
file(GLOB cwd_files "${WORK}/cwd/*")
list(LENGTH cwd_files n)
if(NOT n EQUAL 1)
    message(FATAL_ERROR "a refused unetpp-evaluate wrote into '.': ${cwd_files}")
endif()
run_ok_at("${WORK}/cwd" ${eval} --csv "${WORK}/e3.csv" --out-masks . --overwrite)
expect_user_file("${WORK}/cwd/notes.txt")
require_file("${WORK}/cwd/img_0_pred.png")

# --csv / --summary naming a user's file
user_file("${WORK}/mine.csv")
expect_exit2("--csv '${WORK}/mine.csv' already exists; choose another name, or pass --overwrite"
    ${eval} --csv "${WORK}/mine.csv")
expect_user_file("${WORK}/mine.csv")
expect_exit2("--summary '${WORK}/mine.csv' already exists" ${eval} --csv "${WORK}/e4.csv" --summary "${WORK}/mine.csv")
expect_user_file("${WORK}/mine.csv")
require_absent("${WORK}/e4.csv")
# --overwrite replaces exactly the named file
run_ok(${eval} --csv "${WORK}/e.csv" --overwrite)
file(STRINGS "${WORK}/e.csv" rows)
list(GET rows 0 header)
if(NOT header STREQUAL "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,width,height,pixels")
    message(FATAL_ERROR "--overwrite did not replace e.csv: '${header}'")
endif()

# --- unetpp-plot --------------------------------------------------------------------------------
user_file("${WORK}/curves.svg")
expect_exit2("--out '${WORK}/curves.svg' already exists; choose another name, or pass --overwrite"
    "${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/curves.svg")
expect_user_file("${WORK}/curves.svg")
expect_exit2("names the --log file" "${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/run/log.csv" --overwrite)
file(MAKE_DIRECTORY "${WORK}/plots")
user_file("${WORK}/plots/notes.txt")
run_ok("${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/plots/curves.svg")
expect_user_file("${WORK}/plots/notes.txt")
require_file("${WORK}/plots/curves.svg")
expect_exit2("already exists" "${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/plots/curves.svg")
run_ok("${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/plots/curves.svg" --overwrite)
expect_user_file("${WORK}/plots/notes.txt")
file(REMOVE_RECURSE "${WORK}")
