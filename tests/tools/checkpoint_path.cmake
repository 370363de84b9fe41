# The user's path train -> predict -> evaluate with nothing repeated (issue 20, items 1 to 3):
# unetpp-train on 48 x 40 images at --size 32; unetpp-predict and unetpp-evaluate get only the
# checkpoint (no model, size or data options), predict at the trained scale and map the result back
# to each image's own size; evaluate --subset val scores exactly the images of the run's
# split.json and refuses split options that disagree with the run; a checkpoint with a flipped
# exponent bit is refused by the checksum, one with a NaN written with valid checksums by the
# finite check; ronneberger2015 (base 16, depth 3, one logit channel) trains and predicts too.
# Variables: TRAIN, PREDICT, EVALUATE, MAKE_DATA, DAMAGE (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

# Width and height of a PNG, from its IHDR chunk (bytes 16 to 23, big-endian).
function(png_size file out_w out_h)
    file(READ "${file}" hex OFFSET 16 LIMIT 8 HEX)
    string(SUBSTRING "${hex}" 0 8 wh)
    string(SUBSTRING "${hex}" 8 8 hh)
    math(EXPR w "0x${wh}")
    math(EXPR h "0x${hh}")
    set(${out_w} ${w} PARENT_SCOPE)
    set(${out_h} ${h} PARENT_SCOPE)
endfunction()

function(require_png_size file w h)
    require_file("${file}")
    png_size("${file}" gw gh)
    if(NOT gw EQUAL w OR NOT gh EQUAL h)
        message(FATAL_ERROR "'${file}' is ${gw}x${gh}, want the image's own size ${w}x${h}")
    endif()
endfunction()

run_ok("${MAKE_DATA}" "${WORK}/data" 48 40)
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model unet_bn --base 8 --depth 3 --size 32 --epochs 2 --batch 4 --split 0.5,0.5,0
       --lr 0.01 --seed 3 --out "${WORK}/run" --quiet)
set(ckpt "${WORK}/run/last.safetensors")

# predict: only the checkpoint; masks at the images' own size, and the output says what was done
run_capture(out "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred")
set(said "img_0\\.png -> [^\n]*img_0_mask\\.png \\(resized 48x40 -> 32x32 as in training, mask mapped back to 48x40\\)")
if(NOT out MATCHES "${said}")
    message(FATAL_ERROR "predict does not say that it predicted at the trained scale:\n${out}")
endif()
foreach(k RANGE 7)
    require_png_size("${WORK}/pred/img_${k}_mask.png" 48 40)
    require_png_size("${WORK}/pred/img_${k}_prob.png" 48 40)
endforeach()
# --weights is the same option; architecture options that agree are accepted, others refused
run_ok("${PREDICT}" --weights "${WORK}/run/best.safetensors" --input "${WORK}/data/images/img_1.png"
       --out "${WORK}/pred_best" --model unet_bn --base 8 --depth 3)
expect_exit2("another architecture" "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images"
             --out "${WORK}/pred_refused" --depth 4)
require_absent("${WORK}/pred_refused")

# evaluate --subset val: only the checkpoint; exactly the images split.json lists under "val"
run_capture(out "${EVALUATE}" --checkpoint "${ckpt}" --subset val --csv "${WORK}/val.csv"
            --out-masks "${WORK}/val_masks")
if(NOT out MATCHES "from the run's split.json" OR NOT out MATCHES "trained at 32x32")
    message(FATAL_ERROR "evaluate does not say where its subset and scale come from:\n${out}")
endif()
file(READ "${WORK}/run/split.json" split)
string(JSON n_val LENGTH "${split}" val)
set(want "")
math(EXPR last "${n_val} - 1")
foreach(k RANGE ${last})
    string(JSON name GET "${split}" val ${k})
    list(APPEND want "${name}")
endforeach()
file(STRINGS "${WORK}/val.csv" rows)
list(POP_FRONT rows header)
set(got "")
foreach(row IN LISTS rows)
    string(REGEX REPLACE ",.*" "" name "${row}")
    list(APPEND got "${name}")
endforeach()
list(SORT want)
list(SORT got)
if(NOT want STREQUAL got OR n_val EQUAL 0)
    message(FATAL_ERROR "evaluate --subset val scored '${got}', but split.json lists '${want}' under val")
endif()
# metrics at the data's own resolution: evaluate's masks are 48x40 and the same as predict's
foreach(name IN LISTS want)
    require_png_size("${WORK}/val_masks/${name}_pred.png" 48 40)
    file(SHA256 "${WORK}/val_masks/${name}_pred.png" a)
    file(SHA256 "${WORK}/pred/${name}_mask.png" b)
    if(NOT a STREQUAL b)
        message(FATAL_ERROR "evaluate's mask of ${name} differs from predict's")
    endif()
endforeach()

# the run's split is the truth: other split options and a missing split.json are refused
expect_exit2("--seed 3 \\(the run\\) against 4 \\(this command\\)"
             "${EVALUATE}" --checkpoint "${ckpt}" --subset val --seed 4 --csv "${WORK}/refused.csv")
expect_exit2("--split 0\\.5,0\\.5,0 \\(the run\\) against 0\\.8,0\\.1,0\\.1"
             "${EVALUATE}" --checkpoint "${ckpt}" --subset val --split 0.8,0.1,0.1 --csv "${WORK}/refused.csv")
expect_exit2("needs the run's split.*nowhere\\.json.*--split-file"
             "${EVALUATE}" --checkpoint "${ckpt}" --subset val --split-file "${WORK}/nowhere.json"
             --csv "${WORK}/refused.csv")
expect_exit2("--size 64 disagrees with the checkpoint"
             "${EVALUATE}" --checkpoint "${ckpt}" --size 64 --csv "${WORK}/refused.csv")
require_absent("${WORK}/refused.csv")
# agreeing split options are accepted
run_ok("${EVALUATE}" --checkpoint "${ckpt}" --subset val --seed 3 --split 0.5,0.5,0 --csv "${WORK}/val2.csv")

# damaged weights: a flipped exponent bit fails the checksum; a NaN with valid checksums fails the
# finite check; in both cases nothing is written
run_ok("${DAMAGE}" flip "${ckpt}" "${WORK}/flipped.safetensors")
expect_exit2("fails its checksum" "${PREDICT}" --checkpoint "${WORK}/flipped.safetensors"
             --input "${WORK}/data/images" --out "${WORK}/pred_flipped")
expect_exit2("fails its checksum" "${EVALUATE}" --checkpoint "${WORK}/flipped.safetensors"
             --csv "${WORK}/flipped.csv")
run_ok("${DAMAGE}" nan "${ckpt}" "${WORK}/nan.safetensors")
expect_exit2("weights hold NaN/Inf in [^ ;]+; the file is damaged" "${PREDICT}" --checkpoint "${WORK}/nan.safetensors"
             --input "${WORK}/data/images" --out "${WORK}/pred_nan")
expect_exit2("weights hold NaN/Inf in [^ ;]+; the file is damaged" "${EVALUATE}"
             --checkpoint "${WORK}/nan.safetensors" --csv "${WORK}/nan.csv")
foreach(p pred_flipped flipped.csv pred_nan nan.csv)
    file(GLOB written "${WORK}/${p}/*")
    if(written OR (EXISTS "${WORK}/${p}" AND NOT IS_DIRECTORY "${WORK}/${p}"))
        message(FATAL_ERROR "a refused command wrote '${WORK}/${p}': ${written}")
    endif()
endforeach()

# a plain weights file (no training record) is predicted at the native scale, and predict says so
run_ok("${DAMAGE}" plain "${ckpt}" "${WORK}/plain.safetensors")
run_capture(out "${PREDICT}" --checkpoint "${WORK}/plain.safetensors" --input "${WORK}/data/images/img_0.png"
            --out "${WORK}/pred_plain")
if(NOT out MATCHES "predicted at the native 48x40 by tiling; no training scale is known")
    message(FATAL_ERROR "predict of a plain weights file does not say that no training scale is known:\n${out}")
endif()
require_png_size("${WORK}/pred_plain/img_0_mask.png" 48 40)

# every preset train offers loads in predict: ronneberger2015 (unpadded, one logit channel); 92 is
# its smallest valid input size at depth 3 (92 -> 88 -> 44 -> 40 -> 20 -> 16 -> 8 -> 4 -> ... -> 4)
set(RONNEBERGER_SIZE 92)
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model ronneberger2015 --base 16 --depth 3 --size ${RONNEBERGER_SIZE} --epochs 1 --batch 4
       --split 0.5,0.5,0 --seed 3 --out "${WORK}/run_r" --quiet)
run_capture(out "${PREDICT}" --checkpoint "${WORK}/run_r/last.safetensors" --input "${WORK}/data/images"
            --out "${WORK}/pred_r")
if(NOT out MATCHES "as in training, mask mapped back to 48x40")
    message(FATAL_ERROR "predict of the ronneberger2015 checkpoint does not say how it scaled:\n${out}")
endif()
require_png_size("${WORK}/pred_r/img_3_mask.png" 48 40)
run_ok("${EVALUATE}" --checkpoint "${WORK}/run_r/last.safetensors" --subset val --csv "${WORK}/val_r.csv")
file(REMOVE_RECURSE "${WORK}")
