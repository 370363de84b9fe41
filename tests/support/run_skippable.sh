#!/bin/sh
# Runs a test command that may ask to be skipped, and turns that request into ctest's skip code:
#
#   run_skippable.sh COMMAND [ARGS...]
#
# The command asks for a skip by appending one line, its reason, to the file named by
# $UNETPP_SKIP_FILE (a `cmake -P` script does it with unetpp_skip() from
# tests/cmake/unetppSkip.cmake, since cmake -P cannot exit with 77 itself before CMake 3.29) and
# then finishing normally. Exit status:
#   the command's own status when it is not 0 (a failing test fails, whatever it printed)
#   77 when it exited 0 and asked for a skip, after printing "[unetpp-skip] <reason>" per line
#   0  when it exited 0 without asking
# The reason file is created here in a fresh temporary directory and removed afterwards.
set -u
dir=$(mktemp -d "${TMPDIR:-/tmp}/unetpp_skip.XXXXXX") || exit 1
UNETPP_SKIP_FILE="$dir/reasons"
export UNETPP_SKIP_FILE
"$@"
rc=$?
status=$rc
if [ "$rc" -eq 0 ] && [ -s "$UNETPP_SKIP_FILE" ]; then
    while IFS= read -r line; do
        echo "[unetpp-skip] $line"
    done <"$UNETPP_SKIP_FILE"
    status=77
fi
rm -f "$UNETPP_SKIP_FILE"
rmdir "$dir"
exit "$status"
