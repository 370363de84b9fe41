# --device cpu|cuda of unetpp-train, unetpp-predict and unetpp-evaluate (issue 17, item 6;
# docs/CUDA.md, "Programs").
#
# MODE=refusal (a build without UNETPP_WITH_CUDA, label tools): --device cuda is refused by all
# three programs before any work (exit 2, "built without the CUDA backend", how to build it) and
# writes nothing; --device gpu is refused as an unknown value; --device cpu trains, predicts and
# evaluates, and predict writes the same bytes as without --device.
#
# MODE=cuda (a build with UNETPP_WITH_CUDA=ON, label cuda): unetpp-predict --device cuda on a
# weights file (made by MAKE_WEIGHTS) and on input images (MAKE_DATA).
#   - no usable device (cudaGetDeviceCount fails, e.g. no driver): exit 2 with "no usable CUDA
#     device: <reason>; use --device cpu" and nothing written; the same for unetpp-train and
#     unetpp-evaluate when they are built. That is a failure where nvidia-smi lists a GPU.
#   - a device: the masks equal those of --device cpu, except pixels whose CPU probability lies
#     within 1e-4 of the threshold; the probabilities (--out-probs, checked with numpy when
#     PYTHON has it) agree within 1e-4 absolute. When unetpp-train is built: one epoch with
#     --device cuda, then predict --device cpu from its checkpoint (trained on the GPU, deployed
#     on the CPU) and evaluate --device cuda on it.
# Variables: MODE, TRAIN, PREDICT, EVALUATE, MAKE_DATA, MAKE_WEIGHTS (programs; in MODE=cuda
# TRAIN and EVALUATE may name files that were not built), PYTHON, WORK (a scratch folder).
include("${CMAKE_CURRENT_LIST_DIR}/tool_test_helpers.cmake")

run_ok("${MAKE_DATA}" "${WORK}/data")
set(train_args --data-type folders --data "${WORK}/data/images" --masks "${WORK}/data/masks" --size 32 --base 8
               --depth 3 --epochs 1 --batch 2 --quiet)

# Compares the files NAMES of two folders byte for byte; sets `var` to the names that differ.
function(differing_files var dir_a dir_b)
    set(diff "")
    file(GLOB names RELATIVE "${dir_a}" "${dir_a}/*")
    foreach(n IN LISTS names)
        execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${dir_a}/${n}" "${dir_b}/${n}" RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
            list(APPEND diff "${n}")
        endif()
    endforeach()
    set(${var} "${diff}" PARENT_SCOPE)
endfunction()

if(MODE STREQUAL "refusal")
    set(built_without "--device cuda: this unetpp-[a-z]+ was built without the CUDA backend; configure with cmake -DUNETPP_WITH_CUDA=ON \\(which links the programs to unetpp::cuda[^\n]*or use --device cpu")
    expect_exit2("unetpp-train: [^\n]*${built_without}" "${TRAIN}" ${train_args} --out "${WORK}/run_cuda" --device cuda)
    require_absent("${WORK}/run_cuda")
    # refused before anything else is looked at: also with no other option
    expect_exit2("${built_without}" "${PREDICT}" --device cuda)
    expect_exit2("${built_without}" "${EVALUATE}" --device cuda)
    expect_exit2("--device[^\n]*gpu[^\n]*cpu[^\n]*cuda" "${PREDICT}" --device gpu)

    # --device cpu: as before
    run_ok("${TRAIN}" ${train_args} --out "${WORK}/run" --device cpu)
    require_file("${WORK}/run/last.safetensors")
    set(ckpt "${WORK}/run/last.safetensors")
    expect_exit2("unetpp-predict: error: ${built_without}"
                 "${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred_cuda" --device cuda)
    require_absent("${WORK}/pred_cuda")
    expect_exit2("unetpp-evaluate: [^\n]*${built_without}"
                 "${EVALUATE}" --checkpoint "${ckpt}" --csv "${WORK}/eval_cuda.csv" --out-masks "${WORK}/masks_cuda"
                 --device cuda)
    require_absent("${WORK}/eval_cuda.csv")
    require_absent("${WORK}/masks_cuda")
    run_ok("${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred_cpu" --device cpu)
    run_ok("${PREDICT}" --checkpoint "${ckpt}" --input "${WORK}/data/images" --out "${WORK}/pred_default")
    differing_files(diff "${WORK}/pred_default" "${WORK}/pred_cpu")
    if(diff)
        message(FATAL_ERROR "--device cpu and no --device wrote different files: ${diff}")
    endif()
    run_ok("${EVALUATE}" --checkpoint "${ckpt}" --csv "${WORK}/eval_cpu.csv" --device cpu)
    require_file("${WORK}/eval_cpu.csv")
    foreach(program IN ITEMS "${TRAIN}" "${PREDICT}" "${EVALUATE}")
        execute_process(COMMAND "${program}" --help RESULT_VARIABLE rc OUTPUT_VARIABLE help)
        if(NOT rc EQUAL 0 OR NOT help MATCHES "--device D +cpu \\(default\\) or cuda[^\n]*\n[^-]*-DUNETPP_WITH_CUDA=ON \\(this one: built without it\\)")
            message(FATAL_ERROR "${program} --help does not describe --device for a build without CUDA:\n${help}")
        endif()
    endforeach()
    file(REMOVE_RECURSE "${WORK}")
    return()
endif()

if(NOT MODE STREQUAL "cuda")
    message(FATAL_ERROR "MODE must be refusal or cuda, not '${MODE}'")
endif()

run_ok("${MAKE_WEIGHTS}" "${WORK}/weights.safetensors")
set(predict_args --checkpoint "${WORK}/weights.safetensors" --input "${WORK}/data/images")
execute_process(COMMAND "${PREDICT}" ${predict_args} --out "${WORK}/pred_cuda" --out-probs "${WORK}/probs_cuda"
                        --device cuda
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 2 AND err MATCHES "no usable CUDA device")
    # this machine has no usable device: the refusal must be complete and write nothing
    if(NOT err MATCHES "^unetpp-predict: error: no usable CUDA device: [^\n;]+; use --device cpu\n$")
        message(FATAL_ERROR "unetpp-predict --device cuda without a device: unexpected message:\n${err}")
    endif()
    require_absent("${WORK}/pred_cuda")
    require_absent("${WORK}/probs_cuda")
    find_program(nvidia_smi nvidia-smi)
    if(nvidia_smi)
        execute_process(COMMAND "${nvidia_smi}" -L RESULT_VARIABLE smi_rc OUTPUT_VARIABLE gpus ERROR_QUIET)
        if(smi_rc EQUAL 0 AND gpus MATCHES "GPU [0-9]")
            message(FATAL_ERROR "nvidia-smi lists ${gpus}but unetpp-predict found no usable CUDA device:\n${err}")
        endif()
    endif()
    message(STATUS "no usable CUDA device here; predict refused as it should: ${err}")
    if(NOT EXISTS "${TRAIN}" OR NOT EXISTS "${EVALUATE}")
        message(STATUS "unetpp-train or unetpp-evaluate is not built (scripts/test.sh's cuda stage builds "
                       "unetpp-predict only): checked where built")
    endif()
    if(EXISTS "${TRAIN}")
        expect_exit2("^unetpp-train: error: no usable CUDA device: [^\n;]+; use --device cpu\n$"
                     "${TRAIN}" ${train_args} --out "${WORK}/run_cuda" --device cuda)
        require_absent("${WORK}/run_cuda")
    endif()
    if(EXISTS "${EVALUATE}")
        expect_exit2("^unetpp-evaluate: error: no usable CUDA device: [^\n;]+; use --device cpu\n$"
                     "${EVALUATE}" --checkpoint "${WORK}/weights.safetensors" --base 8 --depth 3 --data-type folders
                     --data "${WORK}/data/images" --masks "${WORK}/data/masks" --csv "${WORK}/eval_cuda.csv" --device cuda)
        require_absent("${WORK}/eval_cuda.csv")
    endif()
    file(REMOVE_RECURSE "${WORK}")
    return()
endif()
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "unetpp-predict --device cuda failed (${rc}):\nstdout:\n${out}\nstderr:\n${err}")
endif()
message(STATUS "${out}")

# a device: the same masks as on the CPU (up to pixels at the threshold), probabilities within 1e-4
run_ok("${PREDICT}" ${predict_args} --out "${WORK}/pred_cpu" --out-probs "${WORK}/probs_cpu" --device cpu)
differing_files(diff "${WORK}/pred_cpu" "${WORK}/pred_cuda")
set(py "${PYTHON}")
execute_process(COMMAND "${py}" -c "import numpy" RESULT_VARIABLE has_numpy OUTPUT_QUIET ERROR_QUIET)
if(has_numpy EQUAL 0)
    set(check [=[
import glob, os, sys
import numpy as np
cpu_dir, cuda_dir = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(cpu_dir, "*_prob.npy")))
assert files, "no probabilities in " + cpu_dir
worst = 0.0
for f in files:
    a = np.load(f)
    b = np.load(os.path.join(cuda_dir, os.path.basename(f)))
    assert a.shape == b.shape, (f, a.shape, b.shape)
    d = float(np.max(np.abs(a.astype(np.float64) - b)))
    worst = max(worst, d)
    flipped = (a >= 0.5) != (b >= 0.5)
    near = np.abs(a - 0.5) <= 1e-4
    if d > 1e-4 or np.any(flipped & ~near):
        sys.exit("%s: max |p_cpu - p_cuda| = %g, %d mask pixels differ away from the threshold"
                 % (os.path.basename(f), d, int(np.sum(flipped & ~near))))
print("probabilities of %d images agree, max |p_cpu - p_cuda| = %g" % (len(files), worst))
]=])
    run_ok("${py}" -c "${check}" "${WORK}/probs_cpu" "${WORK}/probs_cuda")
elseif(diff)
    message(FATAL_ERROR "--device cuda and --device cpu wrote different files (${diff}), and without numpy for "
                        "'${py}' the probabilities cannot be compared within the tolerance")
endif()

if(EXISTS "${TRAIN}")  # trained on the GPU, deployed on the CPU
    run_ok("${TRAIN}" ${train_args} --out "${WORK}/run_cuda" --device cuda)
    require_file("${WORK}/run_cuda/last.safetensors")
    run_ok("${PREDICT}" --checkpoint "${WORK}/run_cuda/last.safetensors" --input "${WORK}/data/images"
           --out "${WORK}/pred_from_gpu" --device cpu)
    if(EXISTS "${EVALUATE}")
        run_ok("${EVALUATE}" --checkpoint "${WORK}/run_cuda/last.safetensors" --csv "${WORK}/eval_cuda.csv"
               --device cuda)
        require_file("${WORK}/eval_cuda.csv")
    endif()
endif()
file(REMOVE_RECURSE "${WORK}")
