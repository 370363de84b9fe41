# Bad input: each command must exit with 2 and one clear line on stderr, writing nothing.
# Variables: TRAIN, EVALUATE, PLOT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

expect_exit2("'${WORK}/missing' does not exist"
    "${TRAIN}" --data-type folders --data "${WORK}/missing" --masks "${WORK}/missing" --out "${WORK}/run")
if(EXISTS "${WORK}/run")
    message(FATAL_ERROR "a failed unetpp-train left '${WORK}/run' behind")
endif()
expect_exit2("not compiled in; supported: unet_bn" "${TRAIN}" --base 12 --out "${WORK}/run")
expect_exit2("nearest valid sizes: 24 and 32" "${TRAIN}" --base 8 --depth 3 --size 30 --out "${WORK}/run")
expect_exit2("unknown option --bogus" "${TRAIN}" --bogus 1 --out "${WORK}/run")

# an unreadable image: the message names the file
execute_process(COMMAND "${MAKE_DATA}" "${WORK}/data" RESULT_VARIABLE rc)
file(WRITE "${WORK}/data/images/img_0.png" "not a png")
expect_exit2("img_0.png"
    "${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --base 8 --depth 3
    --size 32 --out "${WORK}/run")

# evaluate: missing checkpoint; checkpoint of another architecture
expect_exit2("does not exist" "${EVALUATE}" --checkpoint "${WORK}/none.safetensors" --csv "${WORK}/e.csv")
execute_process(COMMAND "${MAKE_DATA}" "${WORK}/data2" RESULT_VARIABLE rc)
execute_process(COMMAND "${TRAIN}" --data-type folders --data "${WORK}/data2/images" --masks "${WORK}/data2/masks"
    --base 8 --depth 3 --size 32 --epochs 1 --split 0.75,0.25,0 --out "${WORK}/run2" --quiet RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "training for the architecture test failed (${rc})")
endif()
expect_exit2("enc1.conv1.weight"
    "${EVALUATE}" --checkpoint "${WORK}/run2/last.safetensors" --base 16 --data-type folders
    --data "${WORK}/data2/images" --masks "${WORK}/data2/masks" --csv "${WORK}/e.csv")
if(EXISTS "${WORK}/e.csv")
    message(FATAL_ERROR "a failed unetpp-evaluate left '${WORK}/e.csv' behind")
endif()
# plot: missing log
expect_exit2("cannot read" "${PLOT}" --log "${WORK}/nolog.csv" --out "${WORK}/c.svg")
file(REMOVE_RECURSE "${WORK}")
