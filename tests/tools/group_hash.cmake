# unetpp-train --group-hash (issue 19): BUSI's near-duplicate groups come from the image files at
# their own size, so a grouped fold holds the same images at every --size. Before the option they
# came from the images resized to --size, and fold 0 at 128 and at 192 shared a third of its
# validation images; --group-hash resized keeps that grouping so that older runs can be
# reproduced and resumed.
#
# On the real BUSI data (label `data`; skipped when it is absent), 1 epoch at 32 and 48 pixels:
#   - files (the default): fold 0's split.json is the same at both sizes;
#   - resized: it differs (the check above could fail, and the old grouping is still there);
#   - config.json and the checkpoint record the grouping; a run that recorded none (resized, as
#     every run before the option) resumes only with --group-hash resized, and says so;
#   - --group-hash with data that is not grouped by hash is refused.
# Variables: TRAIN, MAKE_DATA (programs), WORK (a scratch folder), DATA_DIR (the folder holding
# busi/; the environment variable UNETPP_DATA_DIR overrides it).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

if(DEFINED ENV{UNETPP_DATA_DIR} AND NOT "$ENV{UNETPP_DATA_DIR}" STREQUAL "")
    set(DATA_DIR "$ENV{UNETPP_DATA_DIR}")
endif()
set(busi "${DATA_DIR}/busi/Dataset_BUSI_with_GT")

# needs no data: only BUSI is grouped by hash
run_ok("${MAKE_DATA}" "${WORK}/folders")
expect_exit2("--group-hash chooses how BUSI" "${TRAIN}" --data-type folders --data "${WORK}/folders/images"
             --masks "${WORK}/folders/masks" --size 32 --group-hash files --out "${WORK}/refused" --quiet)
require_absent("${WORK}/refused")
expect_exit2("--group-hash 'x' is not one of" "${TRAIN}" --data-type busi --data "${busi}" --group-hash x
             --out "${WORK}/refused" --quiet)

if(NOT IS_DIRECTORY "${busi}")
    include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")
    unetpp_skip_not_available("BUSI not found at '${busi}' (set UNETPP_DATA_DIR to the folder holding busi/)")
    return()
endif()

set(common --data-type busi --data "${busi}" --folds 5 --fold 0 --base 8 --depth 3 --batch 16 --threads 1
    --quiet)
run_ok("${TRAIN}" ${common} --epochs 1 --size 32 --out "${WORK}/files32")
run_ok("${TRAIN}" ${common} --epochs 1 --size 48 --out "${WORK}/files48")
run_ok("${TRAIN}" ${common} --epochs 1 --size 32 --group-hash resized --out "${WORK}/resized32")
run_ok("${TRAIN}" ${common} --epochs 1 --size 48 --group-hash resized --out "${WORK}/resized48")

foreach(r files32 files48 resized32 resized48)
    read_val(${r} val_${r})
endforeach()
if(NOT val_files32 STREQUAL val_files48)
    message(FATAL_ERROR "fold 0 differs between --size 32 and 48 with the files' hashes:\n${val_files32}\n${val_files48}")
endif()
if(val_resized32 STREQUAL val_resized48)
    message(FATAL_ERROR "--group-hash resized gave fold 0 the same images at --size 32 and 48; the check of the "
                        "default cannot tell the two groupings apart")
endif()

# the record: config.json names the grouping; the checkpoint records "files" and nothing for resized
file(READ "${WORK}/files32/config.json" config_files)
file(READ "${WORK}/resized32/config.json" config_resized)
require_match("${config_files}" "\"group_hash\": \"files\"" "config.json of a default run")
require_match("${config_resized}" "\"group_hash\": \"resized\"" "config.json of a --group-hash resized run")
file(STRINGS "${WORK}/files32/last.safetensors" rec_files LIMIT_INPUT 100000 REGEX "unetpp\\.extra\\.group-hash\":\"files\"")
file(STRINGS "${WORK}/resized32/last.safetensors" rec_resized LIMIT_INPUT 100000 REGEX "group-hash")
if(rec_files STREQUAL "" OR NOT rec_resized STREQUAL "")
    message(FATAL_ERROR "the checkpoint records group-hash files by default and nothing for resized (as older runs)")
endif()

# a run without the record (resized, or any run from before the option) resumes only as it was split
expect_exit2("resume it with --group-hash resized" "${TRAIN}" ${common} --size 32 --out "${WORK}/resized32"
             --resume --epochs 2)
run_ok("${TRAIN}" ${common} --size 32 --group-hash resized --out "${WORK}/resized32" --resume --epochs 2)
read_val(resized32 val_resumed)
if(NOT val_resumed STREQUAL val_resized32)
    message(FATAL_ERROR "the resumed --group-hash resized run wrote another split.json")
endif()
expect_exit2("--group-hash files \\(the run\\) against \\(not given\\)" "${TRAIN}" ${common} --size 32
             --group-hash resized --out "${WORK}/files32" --resume --epochs 2)
file(REMOVE_RECURSE "${WORK}")
