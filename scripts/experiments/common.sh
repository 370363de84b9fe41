# Shared by the experiment scripts in this folder (source it; it defines functions only).

# need_data SCRIPT DATA WHAT SUBDIR...: exit 2 with a message unless every DATA/SUBDIR exists.
need_data() {
    local script=$1 data=$2 what=$3
    shift 3
    local d list
    list="$(printf '%s/, ' "$@")"
    for d in "$@"; do
        if [ ! -d "$data/$d" ]; then
            echo "$script: '$data' is not the $what folder (${list%, }); set DATA" >&2
            exit 2
        fi
    done
}

# need_programs ROOT BUILD THREADS DIR/TARGET...: configure BUILD and build the targets when one
# of the executables BUILD/DIR/TARGET is missing (e.g. tools/unetpp-train).
need_programs() {
    local root=$1 build=$2 threads=$3
    shift 3
    local p missing=0 targets=()
    for p in "$@"; do
        [ -x "$build/$p" ] || missing=1
        targets+=("$(basename "$p")")
    done
    if [ "$missing" = 1 ]; then
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$build" --target "${targets[@]}" --parallel "$threads"
    fi
}

# group_hash RUN: the --group-hash of a BUSI run in folder RUN: GROUP_HASH [files], except for a
# folder whose config.json records no grouping (a run from before unetpp-train's --group-hash),
# which keeps its own (resized) so that it resumes. GROUP_HASH=resized reproduces the BUSI tables
# of docs/RESULTS.md made before the option (their folds depended on --size).
group_hash() {
    if [ -f "$1/config.json" ] && ! grep -q '"group_hash"' "$1/config.json"; then
        echo resized
    else
        echo "${GROUP_HASH:-files}"
    fi
}
