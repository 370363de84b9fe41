# unetpp-train (2 epochs) -> unetpp-evaluate -> unetpp-plot on a tiny folder data set.
# Variables: TRAIN, EVALUATE, PLOT, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_DATA}" "${WORK}/data")
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model unet_bn --base 8 --depth 3 --size 32 --epochs 2 --batch 4 --split 0.75,0.25,0
       --loss dice_bce --optimizer adam --lr 0.01 --seed 3 --out "${WORK}/run" --quiet
       --export-data "${WORK}/run/data.safetensors")
foreach(f last.safetensors best.safetensors log.csv log.jsonl config.json split.json data.safetensors)
    require_file("${WORK}/run/${f}")
endforeach()
file(STRINGS "${WORK}/run/log.csv" log_lines)
list(LENGTH log_lines n)
list(GET log_lines 0 header)
if(NOT header STREQUAL "epoch,train_loss,val_loss,val_dice,val_iou,val_pixel_error,lr,seconds" OR NOT n EQUAL 3)
    message(FATAL_ERROR "log.csv: unexpected header '${header}' or ${n} lines (want header + 2 epochs)")
endif()

run_ok("${EVALUATE}" --checkpoint "${WORK}/run/best.safetensors" --data-type folders
       --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --csv "${WORK}/eval.csv" --summary "${WORK}/summary.txt" --out-masks "${WORK}/pred")
require_file("${WORK}/eval.csv")
require_file("${WORK}/summary.txt")
require_file("${WORK}/pred/img_0_pred.png")
file(STRINGS "${WORK}/eval.csv" eval_lines)
list(LENGTH eval_lines n)
list(GET eval_lines 0 header)
if(NOT header STREQUAL "image,dice,iou,precision,recall,hd95,roc_auc,average_precision,width,height,pixels"
   OR NOT n EQUAL 9)
    message(FATAL_ERROR "eval.csv: unexpected header '${header}' or ${n} lines (want header + 8 images)")
endif()
file(READ "${WORK}/summary.txt" summary)
if(NOT summary MATCHES "dice")
    message(FATAL_ERROR "summary.txt lacks the dice row:\n${summary}")
endif()

run_ok("${PLOT}" --log "${WORK}/run/log.csv" --out "${WORK}/curves.svg")
file(READ "${WORK}/curves.svg" svg)
if(NOT svg MATCHES "<svg" OR NOT svg MATCHES "polyline")
    message(FATAL_ERROR "curves.svg is not an SVG with curves")
endif()

# --resume continues to epoch 3 and keeps the log consistent
run_ok("${TRAIN}" --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks"
       --model unet_bn --base 8 --depth 3 --size 32 --epochs 3 --batch 4 --split 0.75,0.25,0
       --loss dice_bce --optimizer adam --lr 0.01 --seed 3 --out "${WORK}/run" --quiet --resume)
file(STRINGS "${WORK}/run/log.csv" log_lines)
list(LENGTH log_lines n)
if(NOT n EQUAL 4)
    message(FATAL_ERROR "log.csv after --resume has ${n} lines, want header + 3 epochs")
endif()
file(REMOVE_RECURSE "${WORK}")
