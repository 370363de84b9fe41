#!/usr/bin/env bash
# Install what the tests need, build unetpp and run its tests, in stages:
#
#   release  ./build (Release, the default compiler): build everything, run every ctest
#   mpi      ./build, configured by both stages with UNETPP_WITH_MPI=ON when this stage is
#            selected (so the release stage builds the mpi tests with everything else and leaves
#            their label to this stage): runs the `mpi` label, each test on 2 ranks under mpirun
#   asan     ./build-asan (g++, -fsanitize=address,undefined, -Og -g1): the `unit` label
#   tsan     ./build-tsan (g++, -fsanitize=thread, OpenMP off): the `tsan` label (tests/tsan)
#   fuzz     ./build-fuzz (clang++, libFuzzer + ASan + UBSan): every tests/fuzz target for
#            UNETPP_FUZZ_SECONDS (default 30) on its seed corpus
#   cuda     ./build-cuda (UNETPP_WITH_CUDA=ON, sm_80 and sm_90): builds unetpp::cuda and the
#            `cuda` tests only (every preset instantiated on backend::cuda, every operation
#            against backend::cpu, unetpp-predict --device cuda) and runs them; without a GPU they
#            exit 77 and say so (the predict test checks the program's refusal instead). Without
#            nvcc or cuDNN the stage builds nothing and lists itself as skipped
#
#   scripts/test.sh                        all six stages
#   scripts/test.sh -L unit                extra arguments go to the release stage's ctest
#   scripts/test.sh --stages=release,tsan  only these stages (also UNETPP_STAGES=release,tsan)
#   scripts/test.sh --skip=asan,fuzz       all but these (also UNETPP_SKIP_STAGES=asan,fuzz)
#
# Every stage is timed; the end of the output lists each stage with its result and time, then
# every skipped test with its reason. A sanitizer report fails its test (reports are fatal), so a
# passing asan or tsan stage means zero reports. Exit status: 0 when every selected stage passed.
#
# Skips: a test that cannot run exits 77 and says why; with CI=true (set by .ci/run) or
# UNETPP_STRICT_SKIPS=1, a skip of something scripts/install_deps.sh installs is a failure, and
# so is a failure of install_deps.sh to install it (docs/INSTALL.md).
#
# Labels: unit, parity, interop, static, compile_fail, package, slow, data, tsan, fuzz, cuda, mpi (README.md).
# Build directories: UNETPP_BUILD_DIR (build), UNETPP_ASAN_BUILD_DIR (build-asan),
# UNETPP_TSAN_BUILD_DIR (build-tsan), UNETPP_FUZZ_BUILD_DIR (build-fuzz), UNETPP_CUDA_BUILD_DIR
# (build-cuda). UNETPP_NVCC: the CUDA compiler (default: nvcc on PATH, then /usr/local/cuda/bin);
# CUDNN_ROOT: where cuDNN is (default /usr/local/cuda). Compilers: UNETPP_ASAN_CXX,
# UNETPP_TSAN_CXX (g++), UNETPP_FUZZ_CXX (clang++). UNETPP_ASAN_EXCLUDE: a ctest regex of unit
# tests the asan stage leaves out (default below, with the reasons). UNETPP_JOBS: parallel build
# and test jobs (default: the number of cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_stages="release,mpi,asan,tsan,fuzz,cuda"
stages="${UNETPP_STAGES:-$all_stages}"
skip_stages="${UNETPP_SKIP_STAGES:-}"
ctest_args=()
for arg in "$@"; do
    case "$arg" in
        --stages=*) stages="${arg#--stages=}" ;;
        --skip=*) skip_stages="${arg#--skip=}" ;;
        *) ctest_args+=("$arg") ;;
    esac
done
for s in ${stages//,/ } ${skip_stages//,/ }; do
    case ",$all_stages," in
        *",$s,"*) ;;
        *) echo "test.sh: unknown stage '$s' (stages: $all_stages)" >&2; exit 2 ;;
    esac
done
selected() {
    [[ ",$stages," == *",$1,"* && ",$skip_stages," != *",$1,"* ]]
}
# UNETPP_NO_MPI=1: install_deps.sh leaves OpenMPI out, so the mpi stage cannot run.
if [[ "${UNETPP_NO_MPI:-0}" == "1" ]]; then skip_stages="${skip_stages:+$skip_stages,}mpi"; fi

jobs="${UNETPP_JOBS:-$(nproc 2>/dev/null || echo 2)}"
build_dir="${UNETPP_BUILD_DIR:-build}"
asan_dir="${UNETPP_ASAN_BUILD_DIR:-build-asan}"
tsan_dir="${UNETPP_TSAN_BUILD_DIR:-build-tsan}"
fuzz_dir="${UNETPP_FUZZ_BUILD_DIR:-build-fuzz}"
cuda_dir="${UNETPP_CUDA_BUILD_DIR:-build-cuda}"
# Unit tests the asan stage leaves out, and why: none. Every unit test runs under ASan + UBSan
# (measured: the build takes about 1300 s of CPU, the tests about 40 s, plus about 70 s for
# unit_data_datasets_data when the BUSI and ISBI data are present).
asan_exclude="${UNETPP_ASAN_EXCLUDE:-}"

summary=()
failed=0
# The stages run in subshells; they append their skipped tests here.
skip_list="$(mktemp "${TMPDIR:-/tmp}/unetpp_test_skips.XXXXXX")"
trap 'rm -f "$skip_list"' EXIT

now() { date +%s; }
fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Lists the tests a ctest run skipped, with the "[unetpp-skip]" lines of their output, from the
# JUnit file ctest wrote.
collect_skips() {
    local stage="$1" junit="$2"
    [[ -f "$junit" ]] || return 0
    local lines
    lines="$(/usr/bin/env python3 - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    skipped = case.find("skipped")
    if skipped is None:
        continue
    out = case.findtext("system-out") or ""
    reasons = []
    for line in out.splitlines():
        if line.startswith("[unetpp-skip] ") and line[14:] not in reasons:
            reasons.append(line[14:])
    if not reasons:
        reasons = ["(no reason printed; ctest: %s)" % skipped.get("message", "")]
    for r in reasons:
        print("%s: %s" % (case.get("name"), r))
PY
)" || { echo "test.sh: could not read $junit" >&2; return 0; }
    while IFS= read -r line; do
        if [[ -n "$line" ]]; then
            echo "[$stage] $line" >>"$skip_list"
        fi
    done <<<"$lines"
}

# run_stage NAME FUNCTION: runs the stage, times it, records the result, never stops the script.
run_stage() {
    local name="$1" fn="$2" start rc
    echo
    echo "==================== test.sh: stage $name ===================="
    start="$(now)"
    set +e
    ( set -e; "$fn" )
    rc=$?
    set -e
    local took=$(( $(now) - start ))
    if [[ $rc -eq 0 ]]; then
        summary+=("$(printf '%-8s passed  %s' "$name" "$(fmt_time "$took")")")
    else
        summary+=("$(printf '%-8s FAILED  %s (exit %d)' "$name" "$(fmt_time "$took")" "$rc")")
        failed=1
    fi
    echo "test.sh: stage $name took $(fmt_time "$took") (${took} s), exit $rc"
}

# ctest with a JUnit file for the skip list; the list is collected even when tests fail.
run_ctest() {
    local stage="$1" dir="$2"
    shift 2
    local junit="$dir/test-results-$stage.xml"
    [[ "$junit" == /* ]] || junit="$root/$junit"
    rm -f "$junit"
    local rc=0
    ctest --test-dir "$dir" --output-on-failure --parallel "$jobs" --output-junit "$junit" "$@" || rc=$?
    collect_skips "$stage" "$junit"
    return $rc
}

# UNETPP_WITH_MPI of ./build: ON when the mpi stage runs. Both stages configure with the same value,
# because switching it regenerates the mpi tests' build rules and recompiles them (about 60 s of
# CPU); with it ON the option only adds the unetpp::mpi target and the mpi tests, nothing else is
# rebuilt.
mpi_option=OFF
if selected mpi; then mpi_option=ON; fi

stage_release() {
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DUNETPP_BUILD_TESTS=ON -DUNETPP_WITH_MPI="$mpi_option"
    cmake --build "$build_dir" --parallel "$jobs"
    local args=("${ctest_args[@]}")
    [[ "$mpi_option" == "ON" ]] && args+=(-LE '^mpi$')   # run by the mpi stage
    run_ctest release "$build_dir" "${args[@]}"
}

stage_mpi() {
    # Measured on 2 shared cores: the two mpi tests and their main compile in about 60 s of CPU
    # (in the release stage when it runs first); they run in about 2 s.
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DUNETPP_BUILD_TESTS=ON -DUNETPP_WITH_MPI=ON
    cmake --build "$build_dir" --target unetpp_mpi_tests --parallel "$jobs"
    # '^mpi$': a bare `-L mpi` is a regular expression that also matches compile_fail
    run_ctest mpi "$build_dir" -L '^mpi$'
}

sanitizer_configure() {
    local dir="$1" cxx="$2"
    shift 2
    CXX="$cxx" cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUNETPP_BUILD_TESTS=ON \
        -DUNETPP_BUILD_EXAMPLES=OFF -DUNETPP_BUILD_BENCH=OFF -DUNETPP_BUILD_TOOLS=OFF "$@"
}

stage_asan() {
    # The tools stay on: unit_infer_predict_cli runs the unetpp-predict program.
    sanitizer_configure "$asan_dir" "${UNETPP_ASAN_CXX:-g++}" -DUNETPP_SANITIZE=address,undefined \
        -DUNETPP_BUILD_TOOLS=ON
    cmake --build "$asan_dir" --target unetpp_unit_tests --parallel "$jobs"
    local args=(-L unit)
    [[ -n "$asan_exclude" ]] && args+=(-E "$asan_exclude")
    run_ctest asan "$asan_dir" "${args[@]}"
}

stage_tsan() {
    sanitizer_configure "$tsan_dir" "${UNETPP_TSAN_CXX:-g++}" -DUNETPP_SANITIZE=thread -DUNETPP_WITH_OPENMP=OFF
    cmake --build "$tsan_dir" --target unetpp_tsan_tests --parallel "$jobs"
    run_ctest tsan "$tsan_dir" -L tsan
}

stage_fuzz() {
    sanitizer_configure "$fuzz_dir" "${UNETPP_FUZZ_CXX:-clang++}" -DUNETPP_FUZZ=ON \
        "-DUNETPP_FUZZ_SECONDS=${UNETPP_FUZZ_SECONDS:-30}"
    cmake --build "$fuzz_dir" --target unetpp_fuzz_targets --parallel "$jobs"
    # One target per core (run_ctest's --parallel $jobs): each libFuzzer run is single-threaded and
    # runs for UNETPP_FUZZ_SECONDS whatever else runs, so two at a time on two cores do the same
    # executions per target in half the stage's time (fuzz_seeds runs first: a fixture).
    local rc=0
    run_ctest fuzz "$fuzz_dir" -L fuzz || rc=$?
    return $rc
}

stage_cuda() {
    local nvcc="${UNETPP_NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
    local cudnn_root="${CUDNN_ROOT:-/usr/local/cuda}"
    if [[ ! -x "$nvcc" ]] || [[ ! -f "$cudnn_root/include/cudnn.h" && ! -f /usr/include/cudnn.h ]]; then
        echo "test.sh: no nvcc ($nvcc) or no cudnn.h (CUDNN_ROOT=$cudnn_root): the cuda stage builds nothing"
        echo "[cuda] stage: the CUDA toolkit or cuDNN is not installed (nvcc: $nvcc, CUDNN_ROOT: $cudnn_root)" >>"$skip_list"
        return 0
    fi
    # Measured on 2 shared cores with UNETPP_JOBS=1, from an empty build-cuda, no GPU: 3m01s
    # (configure, unetpp::cuda for sm_80 and sm_90, the test that instantiates every preset on
    # backend::cuda, the operations test; running them is a skip). The tools are on for
    # tools_device_cuda (unetpp-predict --device cuda; unetpp_cuda_tests depends on unetpp-predict
    # and two small helpers): about 3.5 more minutes of compiling (unetpp-predict's CPU file 57 s,
    # its backend::cuda file and the device check 139 s, the helpers 18 s of CPU time, measured on
    # a loaded machine). unetpp-train and unetpp-evaluate are not built here; the test checks them
    # where they are. With MPI (unless UNETPP_NO_MPI=1), for unetpp::nccl and its test
    # (dist::nccl_communicator).
    local with_mpi=ON
    [[ "${UNETPP_NO_MPI:-0}" == "1" ]] && with_mpi=OFF
    cmake -S . -B "$cuda_dir" -DCMAKE_BUILD_TYPE=Release -DUNETPP_BUILD_TESTS=ON -DUNETPP_WITH_CUDA=ON \
        -DUNETPP_WITH_MPI="$with_mpi" \
        -DCMAKE_CUDA_COMPILER="$nvcc" -DUNETPP_BUILD_EXAMPLES=OFF -DUNETPP_BUILD_BENCH=ON -DUNETPP_BUILD_TOOLS=ON
    # bench_unet_gpu: the GPU benchmark scripts/gpu_check.sh runs, compiled and linked here
    cmake --build "$cuda_dir" --target unetpp_cuda unetpp_cuda_tests bench_unet_gpu --parallel "$jobs"
    # '^cuda$': a bare `-L cuda` also matches cuda_host (nvcc_model_headers, run by the release stage)
    run_ctest cuda "$cuda_dir" -L '^cuda$'
}

total_start="$(now)"
echo "==================== test.sh: install_deps ===================="
deps_start="$(now)"
scripts/install_deps.sh
summary+=("$(printf '%-8s passed  %s' deps "$(fmt_time $(( $(now) - deps_start )))")")

for s in release mpi asan tsan fuzz cuda; do
    if selected "$s"; then
        run_stage "$s" "stage_$s"
    else
        summary+=("$(printf '%-8s not selected' "$s")")
    fi
done

echo
echo "==================== test.sh: summary ===================="
for line in "${summary[@]}"; do echo "  $line"; done
echo "  total    $(fmt_time $(( $(now) - total_start )))"
if [[ ! -s "$skip_list" ]]; then
    echo "Skipped tests: none"
else
    echo "Skipped tests ($(wc -l <"$skip_list")):"
    sed 's/^/  /' "$skip_list"
fi
exit "$failed"
