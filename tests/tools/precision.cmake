# --precision fp32|bf16 of unetpp-train, unetpp-predict and unetpp-evaluate (issue 15, item 3;
# tools/cli_device.hpp, docs/PERFORMANCE.md "bf16 compute").
#
# Where the program and the processor have AVX512-BF16 (the --help line says "here: both"):
#   - train --precision bf16 trains (same seed, so the same initial weights and batches as the fp32
#     run): its first epoch's training loss lies within 5% of the fp32 run's, and its checkpoint
#     predicts in fp32 (trained in bf16, deployed in fp32);
#   - predict and evaluate --precision bf16 on the fp32 checkpoint say "compute: bf16" and score the
#     same images: the pooled ROC-AUC (no threshold) within 0.01 of fp32's.
# Where either lacks it ("here: no"): all three programs refuse --precision bf16 with exit 2,
# naming the instruction set and --precision fp32, and write nothing; a processor whose
# /proc/cpuinfo lists avx512_bf16 must not be refused for lacking it.
# Both: --precision fp16 is refused as an unknown value; --precision fp32 is the default (the same
# bytes as without the option).
# Variables: TRAIN, PREDICT, EVALUATE, MAKE_DATA (programs), WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_DATA}" "${WORK}/data")
set(train_args --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --size 32 --base 8
               --depth 3 --epochs 1 --batch 2 --seed 3 --quiet)

expect_exit2("--precision[^\n]*fp16[^\n]*fp32[^\n]*bf16" "${PREDICT}" --precision fp16)

run_ok("${TRAIN}" ${train_args} --out "${WORK}/run32")
set(ckpt "${WORK}/run32/last.safetensors")
require_file("${ckpt}")
run_ok("${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred_default")
run_ok("${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred_fp32" --precision fp32)
file(GLOB names RELATIVE "${WORK}/pred_default" "${WORK}/pred_default/*")
if(NOT names)
    message(FATAL_ERROR "unetpp-predict wrote no masks")
endif()
foreach(n IN LISTS names)
    execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${WORK}/pred_default/${n}" "${WORK}/pred_fp32/${n}"
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "--precision fp32 and no --precision wrote different files: ${n}")
    endif()
endforeach()

execute_process(COMMAND "${PREDICT}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT help MATCHES "--precision P +fp32 \\(default\\) or bf16[^\n]*\n[^-]*AVX512-BF16[^(]*\\(here: (both|no)\\)")
    message(FATAL_ERROR "unetpp-predict --help does not describe --precision:\n${help}")
endif()
set(here "${CMAKE_MATCH_1}")

if(here STREQUAL "no")
    set(refused "--precision bf16 needs AVX512-BF16 \\(vdpbf16ps\\), and this (unetpp-[a-z]+ was compiled without it: rebuild|processor does not have it)[^\n]*use --precision fp32")
    expect_exit2("^unetpp-train: error: ${refused}" "${TRAIN}" ${train_args} --out "${WORK}/run16" --precision bf16)
    require_absent("${WORK}/run16")
    expect_exit2("^unetpp-predict: error: ${refused}" "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images"
                 --out "${WORK}/pred_bf16" --precision bf16)
    require_absent("${WORK}/pred_bf16")
    execute_process(COMMAND "${EVALUATE}" --checkpoint "${ckpt}" --csv "${WORK}/eval_bf16.csv" --precision bf16
                    RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
    require_match("${err}" "^unetpp-evaluate: error: ${refused}" "evaluate --precision bf16 without AVX512-BF16")
    require_absent("${WORK}/eval_bf16.csv")
    if(EXISTS /proc/cpuinfo)
        file(STRINGS /proc/cpuinfo flags REGEX "^flags" LIMIT_COUNT 1)
        if(flags MATCHES " avx512_bf16( |$)" AND err MATCHES "processor does not have it")
            message(FATAL_ERROR "/proc/cpuinfo lists avx512_bf16, but the programs say the processor lacks it:\n${err}")
        endif()
    endif()
    message(STATUS "no AVX512-BF16 in this build or on this processor: --precision bf16 refused as it should")
    file(REMOVE_RECURSE "${WORK}")
    return()
endif()

# `var` = the plain decimal `text` (e.g. 1.60106651 or 1) in units of 10^-digits (cmake's math is
# integer only); a text that is not a plain decimal fails the test, naming `what`.
function(decimal_units var text digits what)
    if(NOT text MATCHES "^([0-9]+)(\\.([0-9]*))?$")
        message(FATAL_ERROR "${what}: '${text}' is not a plain decimal")
    endif()
    set(whole "${CMAKE_MATCH_1}")
    string(REPEAT "0" ${digits} zeros)
    string(SUBSTRING "${CMAKE_MATCH_3}${zeros}" 0 ${digits} frac)
    string(REGEX REPLACE "^0+([0-9])" "\\1" frac "${frac}")
    math(EXPR units "${whole} * 1${zeros} + ${frac}")
    set(${var} "${units}" PARENT_SCOPE)
endfunction()

# bf16 training: the same seed, so the same initial weights and batches as run32
run_ok("${TRAIN}" ${train_args} --out "${WORK}/run16" --precision bf16)
require_file("${WORK}/run16/last.safetensors")
function(first_train_loss var log)
    file(STRINGS "${log}" rows)
    list(GET rows 1 row)
    string(REPLACE "," ";" cells "${row}")
    list(GET cells 1 loss)
    if(NOT loss MATCHES "^[0-9.eE+-]+$")
        message(FATAL_ERROR "${log}: no training loss in '${row}'")
    endif()
    set(${var} "${loss}" PARENT_SCOPE)
endfunction()
first_train_loss(loss32 "${WORK}/run32/log.csv")
first_train_loss(loss16 "${WORK}/run16/log.csv")
# |loss16 - loss32| <= 0.05 * loss32, in millionths
decimal_units(loss32_u "${loss32}" 6 "fp32 training loss")
decimal_units(loss16_u "${loss16}" 6 "bf16 training loss")
math(EXPR diff "${loss16_u} - ${loss32_u}")
if(diff LESS 0)
    math(EXPR diff "-${diff}")
endif()
math(EXPR limit "${loss32_u} / 20")
if(diff GREATER limit)
    message(FATAL_ERROR "first-epoch training loss: bf16 ${loss16} against fp32 ${loss32}, more than 5% apart")
endif()
message(STATUS "first-epoch training loss: bf16 ${loss16}, fp32 ${loss32}")
# trained in bf16, deployed in fp32
run_ok("${PREDICT}" --checkpoint "${WORK}/run16/last.safetensors" --input "${WORK}/data/images" --out "${WORK}/pred_from16")

# bf16 inference of the fp32 checkpoint
run_capture(out "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred_bf16" --precision bf16)
require_match("${out}" "compute: bf16 convolutions, fp32 sums" "predict --precision bf16 says what it computes")
function(pooled_auc var precision)
    run_capture(out "${EVALUATE}" --checkpoint "${ckpt}" --csv "${WORK}/eval_${precision}.csv" --precision ${precision})
    if(NOT out MATCHES "pooled over [0-9]+ images \\([0-9]+ pixels\\): roc_auc ([01](\\.[0-9]+)?)[ (]")
        message(FATAL_ERROR "evaluate --precision ${precision} prints no pooled ROC-AUC:\n${out}")
    endif()
    decimal_units(auc "${CMAKE_MATCH_1}" 4 "pooled ROC-AUC")  # in units of 1e-4
    set(${var} "${auc}" PARENT_SCOPE)
    set(${var}_text "${out}" PARENT_SCOPE)
endfunction()
pooled_auc(auc32 fp32)
pooled_auc(auc16 bf16)
require_match("${auc16_text}" "compute: bf16 convolutions, fp32 sums" "evaluate --precision bf16 says what it computes")
if(auc32_text MATCHES "compute:")
    message(FATAL_ERROR "evaluate --precision fp32 claims bf16 compute:\n${auc32_text}")
endif()
math(EXPR d "${auc16} - ${auc32}")  # in 1e-4
if(d LESS -100 OR d GREATER 100)
    message(FATAL_ERROR "pooled ROC-AUC (in 1e-4): bf16 ${auc16} against fp32 ${auc32}, more than 0.01 apart")
endif()
message(STATUS "pooled ROC-AUC (in 1e-4): bf16 ${auc16}, fp32 ${auc32}")
file(REMOVE_RECURSE "${WORK}")
