# unetpp-train's data options as nnU-Net and MONAI users work (issue 20, item 10): random patches
# from images larger than the network input with foreground oversampling, an augmentation list, a
# separate validation folder, region-of-interest masks; a resumed run ends as an uninterrupted
# one; config.json and split.json record the choices; a resume with another augmentation is refused.
# unetpp-evaluate --subset val then scores the run's validation folder.
# Variables: TRAIN, EVALUATE, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

# 48 x 40 images (larger than the 16 x 16 patches, not square); field-of-view masks in their own
# folder (the masks themselves, renamed: any 0/255 image is a valid region); img_6 and img_7 also
# form the validation folder
run_ok("${MAKE_DATA}" "${WORK}/data" 48 40)
file(MAKE_DIRECTORY "${WORK}/fov" "${WORK}/val/images" "${WORK}/val/masks")
foreach(k RANGE 7)
    file(COPY_FILE "${WORK}/data/masks/img_${k}.png" "${WORK}/fov/img_${k}_fov.png")
endforeach()
foreach(k 6 7)
    file(COPY_FILE "${WORK}/data/images/img_${k}.png" "${WORK}/val/images/img_${k}.png")
    file(COPY_FILE "${WORK}/data/masks/img_${k}.png" "${WORK}/val/masks/img_${k}.png")
endforeach()

set(common --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
    --val-data "${WORK}/val/images" --val-masks "${WORK}/val/masks" --roi-masks "${WORK}/fov" --roi-suffix _fov
    --patch 16 --fg-oversample 0.5 --augment flip,rot90,rotate=10,scale=0.9:1.1,gamma=0.8:1.25
    --base 8 --depth 3 --batch 3 --split 0.75,0.25,0 --lr 0.01 --seed 4 --threads 1)

# one epoch, then resumed to two; and two epochs at once
execute_process(COMMAND "${TRAIN}" ${common} --epochs 1 --out "${WORK}/a" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "training failed (${rc})\n${out}\n${err}")
endif()
# the program says what it matched, including the ROI, for the data and the validation folder
if(NOT out MATCHES "matched 8 images to their masks, e.g. '[^']*img_0.png' -> mask '[^']*img_0.png', region of interest '[^']*fov/img_0_fov.png'")
    message(FATAL_ERROR "no 'matched' line with the ROI file:\n${out}")
endif()
if(NOT out MATCHES "validation folder: matched 2 images")
    message(FATAL_ERROR "no 'matched' line for the validation folder:\n${out}")
endif()
run_ok("${TRAIN}" ${common} --epochs 2 --out "${WORK}/a" --resume --quiet)
run_ok("${TRAIN}" ${common} --epochs 2 --out "${WORK}/b" --quiet)

# the resumed run's log equals the uninterrupted one's (all but the seconds column)
function(log_without_seconds dir out_var)
    file(STRINGS "${dir}/log.csv" lines)
    set(kept)
    foreach(l IN LISTS lines)
        string(REGEX REPLACE ",[^,]*$" "" l "${l}")
        list(APPEND kept "${l}")
    endforeach()
    set(${out_var} "${kept}" PARENT_SCOPE)
endfunction()
log_without_seconds("${WORK}/a" log_a)
log_without_seconds("${WORK}/b" log_b)
list(LENGTH log_a n)
if(NOT n EQUAL 3 OR NOT log_a STREQUAL log_b)
    message(FATAL_ERROR "the resumed run differs from the uninterrupted one:\n${log_a}\nagainst\n${log_b}")
endif()
if(log_a MATCHES "nan")
    message(FATAL_ERROR "validation gave no Dice with ROI masks and patches:\n${log_a}")
endif()
file(SHA256 "${WORK}/a/last.safetensors" ha)
file(SHA256 "${WORK}/b/last.safetensors" hb)
if(NOT ha STREQUAL hb)
    message(FATAL_ERROR "the resumed run's last.safetensors differs from the uninterrupted run's")
endif()

# config.json and split.json record the choices
file(READ "${WORK}/b/config.json" config)
foreach(want "\"augment_steps\": \"flip@0.5,rot90@0.75,rotate=10@0.5,scale=0.9:1.1@0.5,gamma=0.8:1.25@0.5\""
             "\"patch\": \"16\"" "\"fg-oversample\": \"0.5\"" "\"image_size\": \"own\"" "\"roi-suffix\": \"_fov\"")
    string(FIND "${config}" "${want}" at)
    if(at LESS 0)
        message(FATAL_ERROR "config.json lacks ${want}:\n${config}")
    endif()
endforeach()
file(READ "${WORK}/b/split.json" split)
foreach(want "\"val\": [\"img_6\", \"img_7\"]" "\"val_data\": [\"" "/val/images\"]" "\"val_masks\": [\""
             "\"roi_masks\": [\"")
    string(FIND "${split}" "${want}" at)
    if(at LESS 0)
        message(FATAL_ERROR "split.json lacks ${want}:\n${split}")
    endif()
endforeach()
# every image of --data trains (the split's validation part joins training; test part is empty)
if(NOT split MATCHES "\"train\": \\[\"img_0\", \"img_1\", \"img_2\", \"img_3\", \"img_4\", \"img_5\", \"img_6\", \"img_7\"\\]")
    message(FATAL_ERROR "split.json: the training part is not all of --data:\n${split}")
endif()

# a resume with another augmentation list (or patch size) is refused, naming it
string(REPLACE "rotate=10" "rotate=20" other "${common}")
expect_exit2("--augment flip@0.5,rot90@0.75,rotate=10@0.5.*against.*rotate=20@0.5"
    "${TRAIN}" ${other} --epochs 3 --out "${WORK}/a" --resume)
string(REPLACE "--patch;16" "--patch;24" other "${common}")
expect_exit2("--patch 16 \\(the run\\) against 24 \\(this command\\)" "${TRAIN}" ${other} --epochs 3 --out "${WORK}/a" --resume)

# --augment on is still the preset, and whole images at --size still train
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --augment on
       --size 32 --base 8 --depth 3 --epochs 1 --split 0.75,0.25,0 --out "${WORK}/c" --quiet)
file(READ "${WORK}/c/config.json" config)
string(FIND "${config}" "\"augment_steps\": \"on\"" at)
if(at LESS 0)
    message(FATAL_ERROR "config.json of --augment on:\n${config}")
endif()

# a validation folder whose images are not in --data: unetpp-evaluate --subset val scores that
# folder, read from the run's split.json, and refuses --data beside it
file(MAKE_DIRECTORY "${WORK}/val2/images" "${WORK}/val2/masks")
foreach(k 6 7)
    file(COPY_FILE "${WORK}/data/images/img_${k}.png" "${WORK}/val2/images/held_${k}.png")
    file(COPY_FILE "${WORK}/data/masks/img_${k}.png" "${WORK}/val2/masks/held_${k}.png")
endforeach()
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --val-data "${WORK}/val2/images" --val-masks "${WORK}/val2/masks" --size 32 --base 8 --depth 3 --epochs 1
       --split 0.75,0.25,0 --out "${WORK}/d" --quiet)
execute_process(COMMAND "${EVALUATE}" --checkpoint "${WORK}/d/last.safetensors" --subset val --csv "${WORK}/d_val.csv"
                        --threads 1
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "evaluate --subset val of a run with --val-data failed (${rc})\n${out}\n${err}")
endif()
if(NOT out MATCHES "the run's validation folder '[^']*val2/images'")
    message(FATAL_ERROR "evaluate did not say it scored the run's validation folder:\n${out}")
endif()
file(STRINGS "${WORK}/d_val.csv" rows)
list(LENGTH rows n)
list(GET rows 1 first)
list(GET rows 2 second)
if(NOT n EQUAL 3 OR NOT first MATCHES "^held_6," OR NOT second MATCHES "^held_7,")
    message(FATAL_ERROR "evaluate --subset val did not score the validation folder's images:\n${rows}")
endif()
expect_exit2("the run validated on the folder .*drop --data and --masks"
    "${EVALUATE}" --checkpoint "${WORK}/d/last.safetensors" --subset val --data "${WORK}/data/images"
    --masks "${WORK}/data/masks" --csv "${WORK}/d_val2.csv")
file(REMOVE_RECURSE "${WORK}")
