# Evaluation and prediction options of issue 20, item 10, as a user runs them: unetpp-train on
# non-square 48 x 40 images at --size 32; unetpp-evaluate --full-size (each image predicted whole
# by tiling, metrics at 48 x 40) with --roi-masks (a region mask per image, left three quarters),
# --out-probs and --probs-png16. numpy (the test venv's python) loads every .npy and recomputes
# the CSV's Dice, IoU, precision, recall, ROC-AUC, AP and pixel counts inside the regions from the
# probabilities; the 16-bit PNGs must equal round(p * 65535). unetpp-predict --full-size
# --out-probs writes the same probabilities (up to float rounding). The --mask-dir look-up says what it
# matched and refuses two candidates and the image itself; evaluate refuses a region mask that is
# the ground truth, a missing one, and options that do not go together. A run on --patch 32 of the
# own-size images with --roi-masks is evaluated at full size inside its regions by default.
# Variables: TRAIN, PREDICT, EVALUATE, MAKE_DATA (programs), PYTHON, WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")

# numpy: the test venv's python (scripts/install_deps.sh), else PYTHON
unetpp_numpy_python(py "the .npy files are not checked")
if(py STREQUAL "")
    return()
endif()
set(helper "${CMAKE_CURRENT_LIST_DIR}/eval_options.py")

run_ok("${MAKE_DATA}" "${WORK}/data" 48 40)
run_ok("${py}" "${helper}" roi "${WORK}/data/images" "${WORK}/fov" _fov)
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model unet_bn --base 8 --depth 3 --size 32 --epochs 2 --batch 4 --split 0.5,0.5,0
       --lr 0.01 --seed 3 --out "${WORK}/run" --quiet)
set(ckpt "${WORK}/run/last.safetensors")

# evaluate at full size inside the regions, with the probabilities as floats
run_capture(out "${EVALUATE}" --checkpoint "${ckpt}" --full-size --roi-masks "${WORK}/fov" --roi-suffix _fov
            --out-probs "${WORK}/probs" --probs-png16 --csv "${WORK}/e.csv" --summary "${WORK}/summary.txt")
require_match("${out}" "full size \\(--full-size\\)" "evaluate names the scale")
require_match("${out}" "predicted at the native 48x40 by tiling" "evaluate names the first image's scale")
require_match("${out}" "note: the network was trained on images resized to 32x32" "evaluate warns about the scale")
require_match("${out}" "matched: '[^']*img_0\\.png' \\+ '[^']*masks/img_0\\.png'( with region mask | \\(ROI )'[^']*fov/img_0_fov\\.png'"
              "evaluate names the files it matched")
require_match("${out}" "roc_auc +[0-9.]+ ± [0-9.]+\navg_prec +[0-9.]+ ± " "evaluate summarises ROC-AUC and AP")
require_match("${out}" "pooled over 8 images \\(11520 pixels\\): roc_auc [0-9.]+ \\(within [0-9.e-]+ of the exact value\\), avg_prec [0-9.]+ \\(exact value in \\[[0-9.]+, [0-9.]+\\]\\)"
              "evaluate pools ROC-AUC and AP over the regions (8 x 40 x 36 = 11520 pixels)")
file(STRINGS "${WORK}/e.csv" rows)
list(GET rows 0 header)
if(NOT header STREQUAL "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,width,height,pixels")
    message(FATAL_ERROR "unexpected CSV columns: ${header}")
endif()
list(LENGTH rows n)
if(NOT n EQUAL 9)
    message(FATAL_ERROR "want 8 images in e.csv, got ${n} lines")
endif()
foreach(k RANGE 7)
    require_file("${WORK}/probs/img_${k}_prob.npy")
    require_file("${WORK}/probs/img_${k}_prob16.png")
endforeach()
run_ok("${py}" "${helper}" check "${WORK}/e.csv" "${WORK}/data/masks" "${WORK}/fov" _fov "${WORK}/probs" 0.5)

# the same run without regions scores all 48 x 40 pixels; at the trained scale by default
run_capture(out "${EVALUATE}" --checkpoint "${ckpt}" --csv "${WORK}/trained.csv")
require_match("${out}" "trained at 32x32; each prediction mapped back" "evaluate defaults to the trained scale")
require_match("${out}" "pooled over 8 images \\(15360 pixels\\)" "evaluate scores every pixel without regions")

# predict: the same probabilities at full size; the ground-truth look-up names its match
run_capture(out "${PREDICT}" --checkpoint "${ckpt}" --full-size --input "${WORK}/data/images" --out "${WORK}/pred"
            --out-probs "${WORK}/pred_probs" --mask-dir "${WORK}/data/masks")
require_match("${out}" "img_3\\.png -> [^\n]*\\(predicted at the native 48x40 by tiling; --full-size; ground truth [^\n]*masks/img_3\\.png\\)"
              "predict names the scale and the ground-truth file")
foreach(k RANGE 7)
    run_ok("${py}" "${helper}" same "${WORK}/probs/img_${k}_prob.npy" "${WORK}/pred_probs/img_${k}_prob.npy")
endforeach()
# --scale 0.5 predicts at 24 x 20 and maps back to 48 x 40
run_capture(out "${PREDICT}" --checkpoint "${ckpt}" --full-size --scale 0.5 --input "${WORK}/data/images/img_1.png"
            --out "${WORK}/pred_half" --out-probs "${WORK}/pred_half_probs")
require_match("${out}" "scaled 48x40 by 0\\.5 -> 24x20, predicted by tiling, mask mapped back to 48x40" "predict --scale")

# a run on patches of own-size images with region masks: evaluate predicts at full size by default,
# and takes the run's region masks without being told
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --roi-masks "${WORK}/fov" --roi-suffix _fov --patch 32 --model unet_bn --base 8 --depth 3 --epochs 1
       --batch 4 --split 0.5,0.5,0 --seed 3 --out "${WORK}/run_patch" --quiet)
run_capture(out "${EVALUATE}" --checkpoint "${WORK}/run_patch/last.safetensors" --csv "${WORK}/patch.csv")
require_match("${out}" "full size \\(the run kept its images at their own size\\)" "evaluate of a patch run")
require_match("${out}" "region masks from the run: '[^']*fov' \\(suffix '_fov'\\)" "evaluate takes the run's regions")
require_match("${out}" "pooled over 8 images \\(11520 pixels\\)" "evaluate of a patch run scores inside the regions")
run_capture(out "${PREDICT}" --checkpoint "${WORK}/run_patch/last.safetensors" --input "${WORK}/data/images/img_2.png"
            --out "${WORK}/pred_patch")
require_match("${out}" "trained at the images' own size on 32x32 patches" "predict of a patch run")

# ambiguous or wrong ground-truth look-ups are refused, naming the files
file(MAKE_DIRECTORY "${WORK}/two")
file(COPY "${WORK}/data/masks/img_0.png" DESTINATION "${WORK}/two")
file(COPY_FILE "${WORK}/data/masks/img_0.png" "${WORK}/two/img_0_mask.png")
expect_exit2("2 files could be its ground-truth mask \\('[^']*two/img_0\\.png', '[^']*two/img_0_mask\\.png'\\)"
             "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images/img_0.png" --out "${WORK}/pred_two"
             --mask-dir "${WORK}/two")
expect_exit2("no ground-truth mask for this image.*other than the image itself"
             "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images/img_0.png" --out "${WORK}/pred_self"
             --mask-dir "${WORK}/data/images")

# evaluate refuses region masks that are the ground truth, missing ones, and options that do not fit
expect_exit2("ground-truth mask" "${EVALUATE}" --checkpoint "${ckpt}"
             --roi-masks "${WORK}/data/masks" --csv "${WORK}/bad1.csv")
file(REMOVE "${WORK}/fov/img_5_fov.png")
expect_exit2("(no region mask for '[^']*img_5\\.png'|img_5\\.png' has no region-of-interest mask).*img_5_fov" "${EVALUATE}" --checkpoint "${ckpt}"
             --roi-masks "${WORK}/fov" --roi-suffix _fov --csv "${WORK}/bad2.csv")
expect_exit2("--scale 0\\.5 applies to --full-size" "${EVALUATE}" --checkpoint "${ckpt}" --scale 0.5
             --csv "${WORK}/bad3.csv")
expect_exit2("--scale '0' is out of range|--scale 0 is out of range" "${EVALUATE}" --checkpoint "${ckpt}" --full-size
             --scale 0 --csv "${WORK}/bad4.csv")
expect_exit2("--probs-png16 adds 16-bit PNGs to the --out-probs folder" "${EVALUATE}" --checkpoint "${ckpt}"
             --probs-png16 --csv "${WORK}/bad5.csv")
expect_exit2("--out-probs .[^']*probs. already holds files" "${EVALUATE}" --checkpoint "${ckpt}"
             --out-probs "${WORK}/probs" --csv "${WORK}/bad6.csv")
foreach(f bad1.csv bad2.csv bad3.csv bad4.csv bad5.csv bad6.csv)
    if(EXISTS "${WORK}/${f}")
        message(FATAL_ERROR "a refused evaluate wrote '${WORK}/${f}'")
    endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
