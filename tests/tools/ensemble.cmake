# Fold ensembles and test-time augmentation in unetpp-evaluate and unetpp-predict (issue 19): two
# tiny runs of one ratio split, A (unet_bn base 8 depth 3 at --size 32) and B (base 8 depth 4 at
# --size 48, so B's images are resized and mapped back), are scored and predicted as an ensemble;
# numpy checks that the ensemble's probabilities (--out-probs) are the mean of the two single
# models', in both programs, and for two 3-class runs the mean of the class planes. A planned run P (unetpp-train --plan, which records the plan's
# test-time mirroring) is predicted with and without it, and --tta against the 8 flips and
# rotations of the images predicted alone (mapped back and averaged by numpy); evaluate applies
# the same. Refused with exit 2, the message, and nothing written: members of different classes,
# a damaged or missing checkpoint, --subset val across two folds, --subset test of fold runs (they
# hold no test images out), a checkpoint given twice.
# Variables: TRAIN, PREDICT, EVALUATE, MAKE_DATA, DAMAGE (programs), PYTHON, WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/../cmake/unetppSkip.cmake")

# numpy: the test venv's python (scripts/install_deps.sh), else PYTHON
unetpp_numpy_python(py "the .npy files are not checked")
if(py STREQUAL "")
    return()
endif()
set(helper "${CMAKE_CURRENT_LIST_DIR}/ensemble.py")

# The two files hold the same bytes.
function(require_same_bytes a b what)
    file(SHA256 "${a}" ha)
    file(SHA256 "${b}" hb)
    if(NOT ha STREQUAL hb)
        message(FATAL_ERROR "${what}: '${a}' and '${b}' differ")
    endif()
endfunction()

# --- the runs: A and B share one ratio split (the same test images), F0 and F1 are two folds ----
set(data "${WORK}/data")
run_ok("${MAKE_DATA}" "${data}")
set(common --data-type folders --data "${data}/images" --masks "${data}/masks" --epochs 1 --batch 4 --quiet)
run_ok("${TRAIN}" ${common} --model unet_bn --base 8 --depth 3 --size 32 --split 0.5,0.25,0.25 --seed 3 --out "${WORK}/A")
run_ok("${TRAIN}" ${common} --model unet_bn --base 8 --depth 4 --size 48 --split 0.5,0.25,0.25 --seed 3 --out "${WORK}/B")
run_ok("${TRAIN}" ${common} --base 8 --depth 3 --size 32 --folds 2 --fold 0 --seed 3 --out "${WORK}/F0")
run_ok("${TRAIN}" ${common} --base 8 --depth 3 --size 32 --folds 2 --fold 1 --seed 3 --out "${WORK}/F1")
run_ok("${TRAIN}" ${common} --base 8 --depth 3 --size 32 --classes 2 --split 0.5,0.25,0.25 --seed 3 --out "${WORK}/C")
# a planned run: its checkpoint records the plan's test-time mirroring (plan.tta = hflip)
run_ok("${TRAIN}" --plan-only --budget 30s --out "${WORK}/plan" --data-type folders --data "${data}/images"
       --masks "${data}/masks" --size 32 --base 8 --depth 3 --batch 4)
run_ok("${TRAIN}" --plan "${WORK}/plan/plan.json" ${common} --size 32 --base 8 --depth 3 --split 0.5,0.25,0.25
       --seed 3 --out "${WORK}/P")
set(A "${WORK}/A/last.safetensors")
set(B "${WORK}/B/last.safetensors")
set(P "${WORK}/P/last.safetensors")

# --- evaluate: the ensemble's probabilities are the mean of the members' ----------------------
run_ok("${EVALUATE}" --checkpoint "${A}" --subset test --csv "${WORK}/a.csv" --out-probs "${WORK}/ea")
run_ok("${EVALUATE}" --checkpoint "${B}" --subset test --csv "${WORK}/b.csv" --out-probs "${WORK}/eb")
run_capture(out "${EVALUATE}" --checkpoint "${A}" --checkpoint "${B}" --subset test --csv "${WORK}/ab.csv"
            --summary "${WORK}/ab.txt" --out-probs "${WORK}/eab")
require_match("${out}" "unetpp-evaluate: ensemble of 2 checkpoints, 2 images \\(test, from the run's split.json\\)"
              "evaluate names the ensemble")
require_match("${out}" "member 1: [^\n]*A/last\\.safetensors \\([^\n]*base=8, depth=3[^\n]*at its trained 32x32; TTA: none\\)"
              "evaluate lists member 1")
require_match("${out}" "member 2: [^\n]*B/last\\.safetensors \\([^\n]*base=8, depth=4[^\n]*at its trained 48x48; TTA: none\\)"
              "evaluate lists member 2")
file(READ "${WORK}/ab.txt" summary)
require_match("${summary}" "member 2: [^\n]*B/last\\.safetensors" "the --summary file lists the members")
run_ok("${py}" "${helper}" mean "${WORK}/eab" "${WORK}/ea" "${WORK}/eb")
# A and B record the same split, so they share their validation images too
run_capture(out "${EVALUATE}" --checkpoint "${A}" --checkpoint "${B}" --subset val --csv "${WORK}/ab_val.csv")
require_match("${out}" "ensemble of 2 checkpoints, 2 images \\(val, from the run's split.json\\)" "--subset val of one split")

# --- predict: the same mean over a folder of images; one member alone is unchanged -------------
run_capture(out "${PREDICT}" --checkpoint "${A}" --input "${data}/images" --out "${WORK}/pa" --out-probs "${WORK}/pa_probs")
require_match("${out}" "img_0\\.png -> [^\n]*\\(32x32, the trained size\\)" "predict of one checkpoint as before")
run_ok("${PREDICT}" --checkpoint "${B}" --input "${data}/images" --out "${WORK}/pb" --out-probs "${WORK}/pb_probs")
run_capture(out "${PREDICT}" --checkpoint "${A}" --checkpoint "${B}" --input "${data}/images" --out "${WORK}/pab"
            --out-probs "${WORK}/pab_probs")
require_match("${out}" "unetpp-predict: ensemble of 2 checkpoints" "predict names the ensemble")
require_match("${out}" "member 2: [^\n]*B/last\\.safetensors" "predict lists the members")
require_match("${out}" "img_7\\.png -> [^\n]*img_7_mask\\.png \\(the mean of 2 members at 32x32\\)" "predict's lines")
run_ok("${py}" "${helper}" mean "${WORK}/pab_probs" "${WORK}/pa_probs" "${WORK}/pb_probs")
# three classes (label masks): the mean of the K x H x W class planes
run_ok("${MAKE_DATA}" "${WORK}/data3" 32 32 --classes 3)
set(common3 --data-type folders --data "${WORK}/data3/images" --masks "${WORK}/data3/masks" --classes 3 --epochs 1
    --batch 4 --split 0.5,0.25,0.25 --seed 3 --quiet)
run_ok("${TRAIN}" ${common3} --base 8 --depth 3 --size 32 --out "${WORK}/K1")
run_ok("${TRAIN}" ${common3} --base 8 --depth 4 --size 48 --out "${WORK}/K2")
foreach(k K1 K2)
    run_ok("${PREDICT}" --checkpoint "${WORK}/${k}/last.safetensors" --input "${WORK}/data3/images" --out "${WORK}/p${k}"
           --out-probs "${WORK}/p${k}_probs")
endforeach()
run_ok("${PREDICT}" --checkpoint "${WORK}/K1/last.safetensors" --checkpoint "${WORK}/K2/last.safetensors"
       --input "${WORK}/data3/images" --out "${WORK}/pK" --out-probs "${WORK}/pK_probs")
run_ok("${py}" "${helper}" mean "${WORK}/pK_probs" "${WORK}/pK1_probs" "${WORK}/pK2_probs")
# the checkpoint's plan has no mirroring: --no-tta gives the same bytes as the default
run_ok("${PREDICT}" --checkpoint "${A}" --input "${data}/images" --out "${WORK}/pa_plain" --out-probs "${WORK}/pa_plain_probs"
       --no-tta)
require_same_bytes("${WORK}/pa_probs/img_3_prob.npy" "${WORK}/pa_plain_probs/img_3_prob.npy" "A's default is no TTA")

# --- test-time augmentation: the plan's mirroring and --tta against numpy ----------------------
run_ok("${py}" "${helper}" dihedral "${data}/images" "${WORK}/dihedral")
run_ok("${PREDICT}" --checkpoint "${P}" --input "${WORK}/dihedral" --out "${WORK}/pd" --out-probs "${WORK}/pd_probs"
       --no-tta)
run_capture(out "${PREDICT}" --checkpoint "${P}" --input "${data}/images" --out "${WORK}/pp" --out-probs "${WORK}/pp_probs")
require_match("${out}" "the run's plan mirrors at test time" "predict applies the plan's mirroring")
run_ok("${py}" "${helper}" tta "${WORK}/pd_probs" "${WORK}/pp_probs" 2)
run_ok("${PREDICT}" --checkpoint "${P}" --input "${data}/images" --out "${WORK}/pt" --out-probs "${WORK}/pt_probs" --tta)
run_ok("${py}" "${helper}" tta "${WORK}/pd_probs" "${WORK}/pt_probs" 8)
# --no-tta of P is the image alone: the d0 (identity) predictions of the transformed folder
run_ok("${PREDICT}" --checkpoint "${P}" --input "${data}/images" --out "${WORK}/pn" --out-probs "${WORK}/pn_probs" --no-tta)
require_same_bytes("${WORK}/pn_probs/img_2_prob.npy" "${WORK}/pd_probs/img_2_d0_prob.npy" "P --no-tta is the image alone")
run_ok("${py}" "${helper}" differ "${WORK}/pn_probs/img_2_prob.npy" "${WORK}/pp_probs/img_2_prob.npy")
# evaluate mirrors too (the plan's by default; --no-tta not), as predict does
run_capture(out "${EVALUATE}" --checkpoint "${P}" --subset test --csv "${WORK}/p.csv" --out-probs "${WORK}/ep")
require_match("${out}" "TTA: the plan's mirroring: the image and its left-right mirror averaged" "evaluate names its TTA")
run_capture(out "${EVALUATE}" --checkpoint "${P}" --subset test --csv "${WORK}/pn.csv" --out-probs "${WORK}/epn" --no-tta)
require_match("${out}" "TTA: none \\(--no-tta; the plan mirrors\\)" "evaluate --no-tta")
run_ok("${EVALUATE}" --checkpoint "${P}" --subset test --csv "${WORK}/pt.csv" --out-probs "${WORK}/ept" --tta)
foreach(pair "ep;pp_probs" "epn;pn_probs" "ept;pt_probs")
    list(GET pair 0 e)
    list(GET pair 1 p)
    run_ok("${py}" "${CMAKE_CURRENT_LIST_DIR}/eval_options.py" same "${WORK}/${e}/img_2_prob.npy" "${WORK}/${p}/img_2_prob.npy")
endforeach()
# an ensemble of A (no plan) and P (the plan's mirroring): each member its own TTA
run_capture(out "${EVALUATE}" --checkpoint "${A}" --checkpoint "${P}" --subset test --csv "${WORK}/ap.csv"
            --out-probs "${WORK}/eap")
require_match("${out}" "member 1: [^\n]*TTA: none\\)\n  member 2: [^\n]*TTA: the plan's mirroring" "members' own TTA")
run_ok("${py}" "${helper}" mean "${WORK}/eap" "${WORK}/ea" "${WORK}/ep")

# --- fold runs: scored together on the whole data set ------------------------------------------
run_ok("${EVALUATE}" --checkpoint "${WORK}/F0/last.safetensors" --checkpoint "${WORK}/F1/last.safetensors"
       --csv "${WORK}/folds.csv")
file(STRINGS "${WORK}/folds.csv" rows)
list(LENGTH rows n)
if(NOT n EQUAL 9)
    message(FATAL_ERROR "the fold ensemble scored ${n} lines, want a header and 8 images")
endif()

# --- refusals: exit 2, the message, nothing written --------------------------------------------
set(no_csv "${WORK}/refused.csv")
set(no_dir "${WORK}/refused")
expect_exit2("--checkpoint '[^']*A/last\\.safetensors' and --checkpoint '[^']*C/last\\.safetensors' disagree on the number of classes: 1 against 2"
             "${EVALUATE}" --checkpoint "${A}" --checkpoint "${WORK}/C/last.safetensors" --csv "${no_csv}"
             --out-probs "${no_dir}")
expect_exit2("disagree on the number of classes: 1 against 2; an ensemble averages" "${PREDICT}" --checkpoint "${A}"
             --checkpoint "${WORK}/C/last.safetensors" --input "${data}/images" --out "${no_dir}")
run_ok("${DAMAGE}" flip "${B}" "${WORK}/flipped.safetensors")
expect_exit2("flipped\\.safetensors" "${EVALUATE}" --checkpoint "${A}" --checkpoint "${WORK}/flipped.safetensors"
             --csv "${no_csv}" --out-probs "${no_dir}")
expect_exit2("flipped\\.safetensors" "${PREDICT}" --checkpoint "${A}" --checkpoint "${WORK}/flipped.safetensors"
             --input "${data}/images" --out "${no_dir}")
run_ok("${DAMAGE}" nan "${B}" "${WORK}/nan.safetensors")
expect_exit2("nan\\.safetensors': weights hold NaN/Inf" "${PREDICT}" --checkpoint "${A}" --checkpoint "${WORK}/nan.safetensors"
             --input "${data}/images" --out "${no_dir}" --out-probs "${no_dir}_probs")
expect_exit2("--checkpoint '[^']*missing\\.safetensors' does not exist" "${EVALUATE}" --checkpoint "${A}"
             --checkpoint "${WORK}/missing.safetensors" --csv "${no_csv}")
expect_exit2("missing\\.safetensors: weights file not found" "${PREDICT}" --checkpoint "${A}"
             --checkpoint "${WORK}/missing.safetensors" --input "${data}/images" --out "${no_dir}")
expect_exit2("disagree on the split \\(fold\\): 0 against 1; --subset val would score images that some members trained on"
             "${EVALUATE}" --checkpoint "${WORK}/F0/last.safetensors" --checkpoint "${WORK}/F1/last.safetensors"
             --subset val --csv "${no_csv}")
expect_exit2("has no test images \\(--folds holds no test images out"
             "${EVALUATE}" --checkpoint "${WORK}/F0/last.safetensors" --checkpoint "${WORK}/F1/last.safetensors"
             --subset test --csv "${no_csv}")
expect_exit2("is given twice; an ensemble takes each checkpoint once" "${EVALUATE}" --checkpoint "${A}"
             --checkpoint "${WORK}/A/../A/last.safetensors" --csv "${no_csv}")
require_absent("${no_csv}")
require_absent("${no_dir}")
require_absent("${no_dir}_probs")
file(REMOVE_RECURSE "${WORK}")
