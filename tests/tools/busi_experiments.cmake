# Tests of the BUSI experiment programs (examples/busi_multitask.cpp, busi_hierarchical.cpp).
# Variables: MULTITASK, HIERARCHICAL (programs), WORK (a scratch folder), MODE (bad_input |
# multitask | hierarchical), DATA_DIR (the folder holding busi/; the environment variable
# UNETPP_DATA_DIR overrides it, as for the *_data.cpp tests).
#
#   bad_input     needs no data: a missing --data folder must give exit 2 and a message naming
#                 the path, and write nothing; so must a size the program does not take
#   multitask     a tiny run (size 64, 1 epoch, 2 folds, 6 images per class) must write the
#                 per-fold, per-image and summary files with metrics in [0, 1]
#   hierarchical  the same for the hierarchical classifier (size 32, all three classes), and a
#                 run of its flat 3-class control (--mode flat) with thresholds from a held-out
#                 part of the training fold
# The data runs ask to be skipped (tests/cmake/unetppSkip.cmake) when BUSI is absent.
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

if(DEFINED ENV{UNETPP_DATA_DIR} AND NOT "$ENV{UNETPP_DATA_DIR}" STREQUAL "")
    set(DATA_DIR "$ENV{UNETPP_DATA_DIR}")
endif()
set(busi "${DATA_DIR}/busi/Dataset_BUSI_with_GT")

# Checks that every listed column of a CSV file holds numbers in [0, 1] (NaN allowed with
# allow_nan) and that the file has `rows` data rows.
function(check_csv file rows allow_nan)
    require_file("${file}")
    file(STRINGS "${file}" lines)
    list(LENGTH lines n)
    math(EXPR data_rows "${n} - 1")
    if(NOT data_rows EQUAL rows)
        message(FATAL_ERROR "'${file}' has ${data_rows} data rows, expected ${rows}")
    endif()
    list(GET lines 0 header)
    string(REPLACE "," ";" columns "${header}")
    list(REMOVE_AT lines 0)
    foreach(line IN LISTS lines)
        string(REPLACE "," ";" values "${line}")
        set(k 0)
        foreach(col IN LISTS columns)
            list(GET values ${k} v)
            math(EXPR k "${k} + 1")
            if(col MATCHES "^(dice|iou|accuracy|f1|sensitivity|specificity|auc|macro_f1|precision_.*|recall_.*|f1_.*|stage[12]_auc)$"
               OR col MATCHES "^(threshold|(accuracy|sensitivity|specificity)_t)$"
               OR col MATCHES "^(stage[12]_accuracy|t_abnormal|t_malignant|holdout_accuracy)$"
               OR col MATCHES "^fixed_(accuracy|macro_f1|stage[12]_accuracy)$")
                if(v STREQUAL "nan" OR v STREQUAL "-nan")
                    if(NOT allow_nan)
                        message(FATAL_ERROR "'${file}': ${col} is NaN")
                    endif()
                elseif(NOT v MATCHES "^[01]\\.[0-9]+$" OR v GREATER 1)
                    message(FATAL_ERROR "'${file}': ${col} = '${v}' is not in [0, 1]")
                endif()
            endif()
        endforeach()
    endforeach()
endfunction()

# Sums, over the data rows of a CSV file, the columns whose names match `pattern` (integers).
function(csv_column_sum file pattern out_var)
    require_file("${file}")
    file(STRINGS "${file}" lines)
    list(GET lines 0 header)
    string(REPLACE "," ";" columns "${header}")
    list(REMOVE_AT lines 0)
    set(total 0)
    set(matched 0)
    foreach(line IN LISTS lines)
        string(REPLACE "," ";" values "${line}")
        set(k 0)
        foreach(col IN LISTS columns)
            if(col MATCHES "${pattern}")
                list(GET values ${k} v)
                math(EXPR total "${total} + ${v}")
                math(EXPR matched "${matched} + 1")
            endif()
            math(EXPR k "${k} + 1")
        endforeach()
    endforeach()
    if(matched EQUAL 0)
        message(FATAL_ERROR "'${file}' has no column matching ${pattern}: ${header}")
    endif()
    set(${out_var} ${total} PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "bad_input")
    foreach(prog IN ITEMS "${MULTITASK}" "${HIERARCHICAL}")
        expect_exit2("'${WORK}/missing' does not exist" "${prog}" --data "${WORK}/missing" --out "${WORK}/run")
        if(EXISTS "${WORK}/run")
            message(FATAL_ERROR "a failed ${prog} left '${WORK}/run' behind")
        endif()
        expect_exit2("unknown option --bogus" "${prog}" --bogus 1 --data "${WORK}" --out "${WORK}/run")
        expect_exit2("--fold 7 is outside 0..4" "${prog}" --fold 7 --data "${WORK}" --out "${WORK}/run")
        expect_exit2("--data PATH is required" "${prog}" --out "${WORK}/run")
    endforeach()
    expect_exit2("--size 96 is not compiled in" "${MULTITASK}" --size 96 --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--cls-head must be flatten, gap or gap_deep" "${MULTITASK}" --cls-head dense --data "${WORK}"
        --out "${WORK}/run")
    expect_exit2("--schedule must be constant or cosine" "${MULTITASK}" --schedule step --data "${WORK}"
        --out "${WORK}/run")
    expect_exit2("--grad-probe must be a whole number >= 0" "${MULTITASK}" --grad-probe 1.5 --data "${WORK}"
        --out "${WORK}/run")
    expect_exit2("--body must be residual or unet_bn" "${MULTITASK}" --body resnet --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--body unet_bn takes --cls-head gap only" "${MULTITASK}" --body unet_bn --cls-head flatten
        --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--pos-weight must be a positive number or auto" "${MULTITASK}" --pos-weight -2 --data "${WORK}"
        --out "${WORK}/run")
    expect_exit2("--threshold-from must be train or holdout" "${MULTITASK}" --threshold-from val --data "${WORK}"
        --out "${WORK}/run")
    expect_exit2("--cls-detach must be on or off" "${MULTITASK}" --cls-detach yes --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--holdout must be in \\(0, 0.5\\)" "${MULTITASK}" --holdout 0.7 --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--size 40 is not a multiple of 16" "${HIERARCHICAL}" --size 40 --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--mode must be hierarchical or flat" "${HIERARCHICAL}" --mode tree --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--threshold-from must be fixed or holdout" "${HIERARCHICAL}" --threshold-from train --data "${WORK}"
        --out "${WORK}/run")
    expect_exit2("--holdout must be in \\(0, 0.5\\)" "${HIERARCHICAL}" --threshold-from holdout --holdout 0
        --data "${WORK}" --out "${WORK}/run")
    expect_exit2("--t-abnormal and --t-malignant are the hierarchical mode's" "${HIERARCHICAL}" --mode flat
        --t-abnormal 0.4 --data "${WORK}" --out "${WORK}/run")
    # a folder that is not BUSI: the message names the class folder that is missing
    file(MAKE_DIRECTORY "${WORK}/not_busi")
    expect_exit2("not_busi/benign' does not exist" "${MULTITASK}" --data "${WORK}/not_busi" --out "${WORK}/run")
    file(REMOVE_RECURSE "${WORK}")
    return()
endif()

if(NOT IS_DIRECTORY "${busi}/benign")
    include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")
    unetpp_skip_not_available("BUSI not found at '${busi}' (set UNETPP_DATA_DIR to the folder holding busi/)")
    return()
endif()

if(MODE STREQUAL "multitask")
    run_ok("${MULTITASK}" --data "${busi}" --out "${WORK}/run" --size 64 --epochs 1 --folds 2 --max-per-class 6
        --batch 4 --threads 1 --augment on)
    check_csv("${WORK}/run/folds.csv" 2 FALSE)
    check_csv("${WORK}/run/fold0_val.csv" 6 FALSE)  # 12 images, stratified: 6 per fold
    check_csv("${WORK}/run/fold1_log.csv" 1 FALSE)
    file(READ "${WORK}/run/summary.md" summary)
    if(NOT summary MATCHES "\\| mean ± std \\|")
        message(FATAL_ERROR "summary.md lacks the mean ± std row:\n${summary}")
    endif()
    if(NOT summary MATCHES "highest accuracy on the fold's training images")
        message(FATAL_ERROR "summary.md lacks the table at the training images' threshold:\n${summary}")
    endif()
    # a finished run is not overwritten
    expect_exit2("already holds a finished run" "${MULTITASK}" --data "${busi}" --out "${WORK}/run" --size 64
        --max-per-class 6 --folds 2)
    # the pooled head, the cosine schedule and the classification warm-up: the same files, and the
    # summary names the choices
    run_ok("${MULTITASK}" --data "${busi}" --out "${WORK}/run_gap" --size 64 --epochs 2 --folds 2 --fold 1
        --max-per-class 6 --batch 4 --threads 1 --cls-head gap_deep --schedule cosine --cls-warmup 1 --grad-probe 4)
    check_csv("${WORK}/run_gap/folds.csv" 1 FALSE)
    check_csv("${WORK}/run_gap/fold1_log.csv" 2 FALSE)
    # 6 training images in batches of 4: 2 steps per epoch, so the 4 probed steps span both
    # epochs; in the warm-up epoch the classification term (and its gradient) is zero, after it not
    check_csv("${WORK}/run_gap/fold1_grad.csv" 4 FALSE)
    file(STRINGS "${WORK}/run_gap/fold1_grad.csv" probe)
    list(GET probe 1 first)
    list(GET probe 4 last)
    if(NOT first MATCHES ",0\\.000000$" OR last MATCHES ",0\\.000000$" OR NOT last MATCHES "^2,3,")
        message(FATAL_ERROR "fold1_grad.csv: expected a zero classification gradient in epoch 1 only:\n${probe}")
    endif()
    file(READ "${WORK}/run_gap/summary.md" summary)
    if(NOT summary MATCHES "classification head gap_deep" OR NOT summary MATCHES "\\(cosine\\)"
       OR NOT summary MATCHES "BCE\\(classification\\) \\(from epoch 2\\)")
        message(FATAL_ERROR "summary.md does not name the head, schedule and warm-up:\n${summary}")
    endif()
    # the unet_bn body, the class-weighted classification term and the threshold from a held-out
    # part of the training fold: the trained and held-out images and the validation fold are the
    # 20 images, the held-out part is not empty, and the summary names the choices
    run_ok("${MULTITASK}" --data "${busi}" --out "${WORK}/run_bn" --size 64 --epochs 1 --folds 2 --fold 0
        --max-per-class 10 --batch 4 --threads 1 --body unet_bn --cls-head gap --pos-weight auto
        --threshold-from holdout --holdout 0.3 --cls-detach on)
    check_csv("${WORK}/run_bn/folds.csv" 1 FALSE)
    file(STRINGS "${WORK}/run_bn/folds.csv" csv)
    list(GET csv 0 header)
    list(GET csv 1 row)
    string(REPLACE "," ";" header "${header}")
    string(REPLACE "," ";" row "${row}")
    foreach(col IN ITEMS train_images val_images holdout_images pos_weight)
        list(FIND header ${col} k)
        if(k LESS 0)
            message(FATAL_ERROR "folds.csv has no column ${col}: ${header}")
        endif()
        list(GET row ${k} ${col})
    endforeach()
    math(EXPR all "${train_images} + ${val_images} + ${holdout_images}")
    if(NOT all EQUAL 20 OR holdout_images LESS 1 OR train_images LESS holdout_images)
        message(FATAL_ERROR "folds.csv: train ${train_images} + validation ${val_images} + held out "
                            "${holdout_images} should be the 20 images, with a small non-empty held-out part")
    endif()
    if(NOT pos_weight MATCHES "^[0-9]+\\.[0-9]+$" OR pos_weight LESS_EQUAL 0)
        message(FATAL_ERROR "folds.csv: pos_weight '${pos_weight}' is not a positive number")
    endif()
    file(READ "${WORK}/run_bn/summary.md" summary)
    if(NOT summary MATCHES "unet_bn's body" OR NOT summary MATCHES "pos_weight auto"
       OR NOT summary MATCHES "held out of training" OR NOT summary MATCHES "gradient kept out of the body")
        message(FATAL_ERROR "summary.md does not name the body, pos_weight, detached head and held-out "
                            "threshold:\n${summary}")
    endif()
elseif(MODE STREQUAL "hierarchical")
    run_ok("${HIERARCHICAL}" --data "${busi}" --out "${WORK}/run" --size 32 --epochs 1 --folds 2 --max-per-class 6
        --batch 4 --threads 1)
    check_csv("${WORK}/run/folds.csv" 2 TRUE)
    check_csv("${WORK}/run/fold0_val.csv" 9 FALSE)  # 18 images, stratified: 9 per fold
    file(READ "${WORK}/run/summary.md" summary)
    if(NOT summary MATCHES "summed over the folds" OR NOT summary MATCHES "\\| malignant \\| [0-9]+ \\| [0-9]+ \\| [0-9]+ \\|")
        message(FATAL_ERROR "summary.md lacks the summed confusion matrix:\n${summary}")
    endif()
    # the summed matrix holds every image once
    csv_column_sum("${WORK}/run/folds.csv" "^cm_" total)
    if(NOT total EQUAL 18)
        message(FATAL_ERROR "the confusion matrices of the two folds hold ${total} images, expected 18")
    endif()

    # the flat control: one 3-logit network, thresholds chosen on a held-out part of the training
    # fold; the trained, held-out and validation images are the 30, the held-out part is not
    # empty, both confusion matrices (chosen thresholds and arg-max) hold the 15 validation images
    run_ok("${HIERARCHICAL}" --data "${busi}" --out "${WORK}/flat" --mode flat --size 32 --epochs 2 --folds 2 --fold 1
        --max-per-class 10 --batch 4 --threads 1 --threshold-from holdout --holdout 0.3)
    check_csv("${WORK}/flat/folds.csv" 1 FALSE)
    check_csv("${WORK}/flat/fold1_val.csv" 15 FALSE)
    check_csv("${WORK}/flat/fold1_log.csv" 2 FALSE)
    file(STRINGS "${WORK}/flat/fold1_log.csv" log)
    list(GET log 2 epoch2)
    if(NOT epoch2 MATCHES "^flat,2,")
        message(FATAL_ERROR "fold1_log.csv: expected the flat network's epochs:\n${log}")
    endif()
    csv_column_sum("${WORK}/flat/folds.csv" "^(train|holdout|val)_images$" all)
    csv_column_sum("${WORK}/flat/folds.csv" "^holdout_images$" held_out)
    csv_column_sum("${WORK}/flat/folds.csv" "^cm_" in_cm)
    csv_column_sum("${WORK}/flat/folds.csv" "^fixed_cm_" in_fixed_cm)
    if(NOT all EQUAL 30 OR held_out LESS 1 OR NOT in_cm EQUAL 15 OR NOT in_fixed_cm EQUAL 15)
        message(FATAL_ERROR "folds.csv: train + held out + validation = ${all} (expected 30), held out ${held_out} "
                            "(expected > 0), confusion matrices ${in_cm} and ${in_fixed_cm} (expected 15 each)")
    endif()
    file(READ "${WORK}/flat/summary.md" summary)
    if(NOT summary MATCHES "flat 3-class classifier" OR NOT summary MATCHES "held out of training"
       OR NOT summary MATCHES "at the arg-max")
        message(FATAL_ERROR "summary.md does not name the flat model, the held-out thresholds and the arg-max:\n${summary}")
    endif()
else()
    message(FATAL_ERROR "MODE must be bad_input, multitask or hierarchical, got '${MODE}'")
endif()
file(REMOVE_RECURSE "${WORK}")
