#!/bin/bash
# t_crash: a short sample of the crash test (make crashtest runs hundreds).
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the daemon"
out=$(BUILD=$BUILD python3 "$RFS_ROOT/tests/crash/crashtest.py" \
    "${CRASH_ITERS:-6}" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^crashtest: [0-9]* passed'
if [ "$rc" -eq 0 ]; then
	ok "SIGKILL at random points: every fsynced byte and trashed file survives"
else
	fail "crash test" "$(printf '%s\n' "$out" | tail -20)"
fi
finish
