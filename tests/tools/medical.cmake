# A NIfTI folder data set through the programs (issue 20, item 9; io/medical.hpp): 4 volumes of
# 4 slices each become 16 samples ('case0.nii.gz#0' ..., named case0#0 in split.json), split by volume; unetpp-train trains on
# them, unetpp-evaluate scores them from the checkpoint, unetpp-predict segments a 2-D NIfTI file,
# a volume slice by slice, one slice 'file#k', and a folder of volumes against mask volumes.
# Variables: TRAIN, EVALUATE, PREDICT, MAKE_MEDICAL (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_MEDICAL}" "${WORK}/data")
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --mask-suffix _seg --model unet_bn --base 8 --depth 3 --size 32 --epochs 2 --batch 4
       --split 0.5,0.5,0 --lr 0.01 --seed 3 --out "${WORK}/run" --quiet)
foreach(f last.safetensors best.safetensors log.csv split.json)
    require_file("${WORK}/run/${f}")
endforeach()
# Every slice is a sample, recorded as case<c>#k, and the slices of one volume stay in one part of
# the split (one group per file).
file(READ "${WORK}/run/split.json" split)
foreach(c RANGE 3)
    foreach(k RANGE 3)
        if(NOT split MATCHES "\"case${c}#${k}\"")
            message(FATAL_ERROR "split.json does not list slice ${k} of case${c}.nii.gz:\n${split}")
        endif()
    endforeach()
endforeach()
string(REGEX MATCH "\"val\"[^]]*]" val "${split}")
foreach(c RANGE 3)
    string(REGEX MATCHALL "case${c}#" in_val "${val}")
    list(LENGTH in_val n)
    if(NOT n EQUAL 0 AND NOT n EQUAL 4)
        message(FATAL_ERROR "case${c}.nii.gz has ${n} of its 4 slices in the validation part: a volume must stay "
                            "in one part\n${split}")
    endif()
endforeach()

run_ok("${EVALUATE}" --checkpoint "${WORK}/run/last.safetensors" --data-type folders
       --data "${WORK}/data/images" --masks "${WORK}/data/masks" --mask-suffix _seg --csv "${WORK}/eval.csv")
file(STRINGS "${WORK}/eval.csv" eval_lines)
list(LENGTH eval_lines n)
if(NOT n EQUAL 17)
    message(FATAL_ERROR "eval.csv has ${n} lines, want a header and 16 slices")
endif()

run_ok("${PREDICT}" --checkpoint "${WORK}/run/last.safetensors" --input "${WORK}/data/single.nii"
       --out "${WORK}/pred")
require_file("${WORK}/pred/single_mask.png")
file(READ "${WORK}/pred/single_mask.png" hex OFFSET 16 LIMIT 8 HEX)
if(NOT hex STREQUAL "0000002800000024")
    message(FATAL_ERROR "single_mask.png is not 40 x 36 (IHDR ${hex})")
endif()

# A volume is predicted slice by slice (case0#k_mask.png), one slice as 'file#k', and a folder of
# volumes with --mask-dir scores slice k against slice k of the mask volume of the same name.
run_ok("${PREDICT}" --checkpoint "${WORK}/run/last.safetensors" --input "${WORK}/data/images/case0.nii.gz"
       --out "${WORK}/pred_volume")
foreach(k RANGE 3)
    require_file("${WORK}/pred_volume/case0#${k}_mask.png")
endforeach()
run_ok("${PREDICT}" --checkpoint "${WORK}/run/last.safetensors" --input "${WORK}/data/images/case1.nii.gz#2"
       --out "${WORK}/pred_slice")
require_file("${WORK}/pred_slice/case1#2_mask.png")
file(GLOB slice_outputs "${WORK}/pred_slice/*")
list(LENGTH slice_outputs n)
if(NOT n EQUAL 2)
    message(FATAL_ERROR "predict of one slice wrote ${n} files, want its _prob.png and _mask.png: ${slice_outputs}")
endif()
file(MAKE_DIRECTORY "${WORK}/vol_images" "${WORK}/vol_masks")
file(COPY_FILE "${WORK}/data/images/case2.nii.gz" "${WORK}/vol_images/case2.nii.gz")
file(COPY_FILE "${WORK}/data/masks/case2_seg.nii.gz" "${WORK}/vol_masks/case2_mask.nii.gz")
run_ok("${PREDICT}" --checkpoint "${WORK}/run/last.safetensors" --input "${WORK}/vol_images"
       --mask-dir "${WORK}/vol_masks" --out "${WORK}/pred_folder")
foreach(k RANGE 3)
    require_file("${WORK}/pred_folder/case2#${k}_compare.png")
endforeach()
execute_process(COMMAND "${PREDICT}" --checkpoint "${WORK}/run/last.safetensors"
                        --input "${WORK}/data/images/case0.nii.gz#9" --out "${WORK}/pred_bad_slice"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "case0.nii.gz")
    message(FATAL_ERROR "predict of slice 9 of a 4-slice volume: want a refusal naming the file, got ${rc}:\n${out}\n${err}")
endif()
file(REMOVE_RECURSE "${WORK}")
