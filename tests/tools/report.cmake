# The pictures and the run report (issue 20, item 7): unetpp-train --tensorboard (3 epochs) ->
# unetpp-evaluate --overlays -> unetpp-plot (SVG + PNG) -> unetpp-report, then the page is
# rendered in headless Chromium and its parts are read back from the DOM: the score table sorted
# by Dice by its own script, every embedded picture decoded, the image names escaped; and the
# TensorBoard event file is read back with the tensorboard package (check_tensorboard.py).
# Chromium or the test venv's tensorboard missing: those parts are skipped (exit 77 through
# tests/support/run_skippable.sh), the rest still runs.
# Variables: TRAIN, EVALUATE, PLOT, REPORT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")

# a data set with one image whose name needs HTML escaping
run_ok("${MAKE_DATA}" "${WORK}/data")
set(odd "a&b<x>'q")
file(RENAME "${WORK}/data/images/img_0.png" "${WORK}/data/images/${odd}.png")
file(RENAME "${WORK}/data/masks/img_0.png" "${WORK}/data/masks/${odd}.png")

run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --base 8 --depth 3 --size 32 --epochs 3 --batch 4 --split 0.75,0.25,0 --lr 0.01 --seed 3
       --out "${WORK}/run" --tensorboard "${WORK}/tb" --quiet)
run_ok("${EVALUATE}" --checkpoint "${WORK}/run/best.safetensors" --csv "${WORK}/scores.csv"
       --overlays "${WORK}/overlays")
file(GLOB overlays "${WORK}/overlays/*_overlay.png")
list(LENGTH overlays n)
if(NOT n EQUAL 8)
    message(FATAL_ERROR "want 8 overlay pictures, found ${n}: ${overlays}")
endif()
require_file("${WORK}/overlays/${odd}_overlay.png")
# a PNG, wider than four 32-pixel panels enlarged to 160
file(READ "${WORK}/overlays/img_1_overlay.png" head LIMIT 24 HEX)
string(SUBSTRING "${head}" 32 8 width_hex)
math(EXPR width "0x${width_hex}")
if(NOT head MATCHES "^89504e470d0a1a0a" OR width LESS 640)
    message(FATAL_ERROR "img_1_overlay.png is not a PNG of at least 640 pixels wide (${head}, width ${width})")
endif()
expect_exit2("already holds files" "${EVALUATE}" --checkpoint "${WORK}/run/best.safetensors"
             --csv "${WORK}/scores2.csv" --overlays "${WORK}/overlays")

# curves: SVG and PNG, whole-epoch ticks only
run_ok("${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/curves.svg")
file(READ "${WORK}/curves.png" head LIMIT 8 HEX)
if(NOT head STREQUAL "89504e470d0a1a0a")
    message(FATAL_ERROR "curves.png is not a PNG")
endif()
file(READ "${WORK}/curves.svg" svg)
# the epoch ticks are the centred size-11 labels (value ticks are right-aligned)
if(svg MATCHES "text-anchor=\"middle\" font-size=\"11\">[0-9]*\\.[0-9]+</text>"
   OR NOT svg MATCHES "text-anchor=\"middle\" font-size=\"11\">2</text>" OR NOT svg MATCHES ">epoch</text>")
    message(FATAL_ERROR "curves.svg: want whole-epoch ticks and an epoch axis label")
endif()

# the report; a second run without --overwrite is refused
run_ok("${REPORT}" --run "${WORK}/run" --csv "${WORK}/scores.csv" --overlays "${WORK}/overlays"
       --out "${WORK}/report.html")
expect_exit2("already exists" "${REPORT}" --run "${WORK}/run" --out "${WORK}/report.html")
# bad input: exit 2, a message naming it, and no page
expect_exit2("--run DIR is required" "${REPORT}" --out "${WORK}/r2.html")
expect_exit2("is not a folder" "${REPORT}" --run "${WORK}/no-such-run" --out "${WORK}/r2.html")
expect_exit2("--worst" "${REPORT}" --run "${WORK}/run" --worst 101 --out "${WORK}/r2.html")
file(WRITE "${WORK}/bad.csv" "name,score\nx,1\n")
expect_exit2("'image,dice,...' header" "${REPORT}" --run "${WORK}/run" --csv "${WORK}/bad.csv" --out "${WORK}/r2.html")
file(WRITE "${WORK}/bad.csv" "image,dice\nx,good\n")
expect_exit2("'good' in column dice" "${REPORT}" --run "${WORK}/run" --csv "${WORK}/bad.csv" --out "${WORK}/r2.html")
require_absent("${WORK}/r2.html")
expect_exit2("same file" "${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/c.svg" --png "${WORK}/c.svg")
file(READ "${WORK}/report.html" page)
if(page MATCHES "a&b<x>" OR NOT page MATCHES "a&amp;b&lt;x&gt;&#39;q")
    message(FATAL_ERROR "report.html: the image name '${odd}' is not HTML-escaped")
endif()
foreach(part "id=\"curves\"" "<svg" "id=\"scores\"" "id=\"worst\"" "data:image/png;base64," "id=\"config\""
             "unetpp-train" "id=\"split\"" "data-part=\"train\"" "data-part=\"val\"")
    string(FIND "${page}" "${part}" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "report.html lacks '${part}'")
    endif()
endforeach()

# --- headless Chromium: the page's script ran, the table is sorted, the pictures decoded -------
find_program(CHROMIUM NAMES chromium chromium-browser google-chrome)
if(NOT CHROMIUM)
    unetpp_skip_installable("chromium (the report is not rendered in a browser)"
        "scripts/install_deps.sh installs Debian's chromium")
else()
    set(chrome_args --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=${WORK}/chrome-profile
        --virtual-time-budget=10000)
    execute_process(COMMAND "${CHROMIUM}" ${chrome_args} --dump-dom "file://${WORK}/report.html"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE err TIMEOUT 60)
    if(NOT rc EQUAL 0 OR dom STREQUAL "")
        message(FATAL_ERROR "chromium --dump-dom failed (${rc}):\n${err}")
    endif()
    if(NOT dom MATCHES "data-images-decoded=\"6/6\"")
        string(REGEX MATCH "data-images-decoded=\"[^\"]*\"" got "${dom}")
        message(FATAL_ERROR "want the 6 worst-case pictures decoded, the page says: '${got}'")
    endif()
    if(NOT dom MATCHES "data-sorted=\"dice ascending\"")
        message(FATAL_ERROR "the table was not sorted by its script (no data-sorted=\"dice ascending\")")
    endif()
    string(REGEX MATCHALL "data-dice=\"[^\"]*\"" dice "${dom}")
    list(LENGTH dice rows)
    if(NOT rows EQUAL 8)
        message(FATAL_ERROR "want 8 table rows in the rendered page, found ${rows}")
    endif()
    set(previous -1)
    foreach(d IN LISTS dice)
        string(REGEX REPLACE "data-dice=\"([^\"]*)\"" "\\1" v "${d}")
        if(v LESS previous)
            message(FATAL_ERROR "rendered rows are not in ascending Dice order: ${dice}")
        endif()
        set(previous "${v}")
    endforeach()
    if(NOT dom MATCHES "a&amp;b&lt;x&gt;'q")
        message(FATAL_ERROR "the rendered page does not show the name '${odd}' as text")
    endif()
    string(REGEX MATCHALL "<script" scripts "${dom}")
    list(LENGTH scripts n)
    if(NOT n EQUAL 1)
        message(FATAL_ERROR "want the page's one script element, the DOM has ${n}")
    endif()
    execute_process(COMMAND "${CHROMIUM}" ${chrome_args} --window-size=1280,2000
                            --screenshot=${WORK}/report-screenshot.png "file://${WORK}/report.html"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
    file(READ "${WORK}/report-screenshot.png" head LIMIT 8 HEX)
    if(NOT rc EQUAL 0 OR NOT head STREQUAL "89504e470d0a1a0a")
        message(FATAL_ERROR "chromium --screenshot failed (${rc}):\n${err}")
    endif()
    message(STATUS "report rendered: 8 rows sorted by Dice, 6 pictures decoded, screenshot written")
endif()

# --- TensorBoard: the event file read back with the tensorboard package ---------------------------
unetpp_test_venv(venv)
set(python "${venv}/bin/python")
set(has_tb 1)
if(EXISTS "${python}")
    execute_process(COMMAND "${python}" -c "import tensorboard.backend.event_processing.event_accumulator"
                    RESULT_VARIABLE has_tb OUTPUT_QUIET ERROR_QUIET)
endif()
if(NOT has_tb EQUAL 0)
    unetpp_skip_installable("the tensorboard package in the test venv ${venv} (the event file is not read back)"
        "scripts/install_deps.sh installs it (install_test_venv)")
else()
    run_ok("${python}" "${CMAKE_CURRENT_LIST_DIR}/check_tensorboard.py" "${WORK}/tb" "${WORK}/run/log.csv")
endif()
file(REMOVE_RECURSE "${WORK}")
