#!/bin/bash
# t_progress: long admin operations show progress on a terminal and stay
# quiet in scripts.
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the daemon"
command -v script >/dev/null || skip_all "script(1) not installed"
B=$T/backing M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key"
rfs_mount "$B" "$M" || abort "mount failed"
CTL=$BUILD/retentionctl
mkdir "$M/d"
for i in $(seq 1 300); do echo "$i" >"$M/d/f$i"; done
rm -r "$M/d"
check_sh "300 files in the trash" \
    "[ \$('$CTL' trash list '$M' --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 300 ]"
# On a terminal (script(1) gives the command a pty): a running count.
script -qec "'$CTL' trash empty '$M' --yes" "$T/tty.out" >/dev/null 2>&1
check_sh "on a terminal: progress is drawn" "grep -q 'files\.\.\.' '$T/tty.out'"
check_sh "on a terminal: the summary follows" \
    "grep -q 'destroyed 300 file' '$T/tty.out'"
# In a script: only the summary.
for i in $(seq 1 100); do echo "$i" >"$M/g$i"; rm "$M/g$i"; done
"$CTL" trash empty "$M" --yes >"$T/plain.out" 2>"$T/plain.err"
check_sh "in a script: no progress output" \
    "! grep -q 'files\.\.\.' '$T/plain.out' '$T/plain.err' && grep -q 'destroyed 100 file' '$T/plain.out'"
rfs_umount "$M"
finish
