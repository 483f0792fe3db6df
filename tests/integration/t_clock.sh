#!/bin/bash
# t_clock: the trusted clock.  Uses a test build (TESTCLOCK=1, into
# build-test/) whose wall clock is shifted by the seconds in
# $RFS_TEST_CLOCK_FILE; release builds do not contain that code.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RELEASE_BUILD=${BUILD:-build}
case $RELEASE_BUILD in /*) ;; *) RELEASE_BUILD=$ROOT/$RELEASE_BUILD ;; esac
if ! make -s -C "$ROOT" BUILD=build-test TESTCLOCK=1 \
    build-test/retentionfs build-test/retentionctl >/dev/null; then
	echo "t_clock: cannot build the test-clock variant" >&2
	exit 1
fi
BUILD=build-test
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the daemon"

check_not "release build has no test clock" \
    grep -q RFS_TEST_CLOCK_FILE "$RELEASE_BUILD/retentionfs"
check "test build has the test clock" \
    grep -q RFS_TEST_CLOCK_FILE "$BUILD/retentionfs"

export RFS_TEST_CLOCK_FILE=$T/clock
echo 0 >"$RFS_TEST_CLOCK_FILE"
cat >"$T/policy" <<'POL'
[shred]
interval = 1s
max_clock_jump = 1h
[keys]
period = 1s
[class short]
retention = 2s
match = *.log
[class default]
retention = forever
POL
B=$T/backing M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key"
rfs_mount "$B" "$M" "policy=$T/policy" || abort "mount failed"
CTL=$BUILD/retentionctl
is_gone() { ! stat -- "$1" >/dev/null 2>&1; }

# 1. Expired, then the clock is set back: the file stays hidden.
echo secret >"$M/a.log"
ino_a=$(stat -c %i "$M/a.log")
wait_for 10 test ! -e "$M/a.log"
echo -3600 >"$RFS_TEST_CLOCK_FILE"
check_not "clock set back 1 h: a.log stays hidden (stat)" stat "$M/a.log"
check_sh "clock set back 1 h: ls does not show a.log" "! ls '$M' | grep -q a.log"
check_sh "new files get the trusted time, not the wall clock" \
    "echo x >'$M/keep.txt' && c=\$(getfattr --only-values -n user.retention.created '$M/keep.txt') && \
     [ \"\$(date -u -d \"\$c\" +%s)\" -ge \$(( \$(date +%s) - 5 )) ]"
wait_for 10 test ! -e "$(obj "$B" "$ino_a")"
ok "a.log shredded while the clock was behind"

# 2. After a remount with the clock still behind, nothing comes back.
rfs_umount "$M"
rfs_mount "$B" "$M" "policy=$T/policy" || abort "remount failed"
check_not "after remount with the clock behind: a.log still gone" stat "$M/a.log"
echo 0 >"$RFS_TEST_CLOCK_FILE"

# 3. A forward jump hides but does not shred.
echo data >"$M/b.log"
ino_b=$(stat -c %i "$M/b.log")
"$CTL" shred "$M" >/dev/null
echo 86400 >"$RFS_TEST_CLOCK_FILE"      # one day ahead, more than 1 h allowed
check_not "after a forward jump: b.log hidden at once" stat "$M/b.log"
wait_for 10 sh -c "'$CTL' status '$M' | grep -q SUSPECT"
"$CTL" shred "$M" >/dev/null 2>&1
check "after a forward jump: b.log's object is not shredded" test -e "$(obj "$B" "$ino_b")"
check_sh "status --json reports the clock as suspect" \
    "'$CTL' status '$M' --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"clock\"] == \"suspect\"'"
check_sh "metrics report the clock as suspect" \
    "'$CTL' metrics '$M' | grep -q '^retentionfs_clock_suspect 1'"
check "shred --confirm-clock shreds" "$CTL" shred "$M" --confirm-clock
check_not "after confirmation: b.log's object is gone" test -e "$(obj "$B" "$ino_b")"
check_sh "audit shows the expiry" "'$CTL' audit '$M' | grep -q 'expire.*file=$ino_b '"

# 4. Past its purge deadline a trashed file is gone, even before the sweep
#    shreds it (here the jump past the 30-day trash leaves the clock suspect,
#    so nothing is shredded).
echo "trash me" >"$M/t.txt"
ino_t=$(stat -c %i "$M/t.txt")
rm "$M/t.txt"
echo $(( 86400 + 31 * 86400 )) >"$RFS_TEST_CLOCK_FILE"
wait_for 10 sh -c "'$CTL' status '$M' | grep -q SUSPECT"
check_sh "a trashed file past its purge deadline is not restored (exit 1, says why)" '
	out=$("$CTL" trash restore "$M" "$ino_t" 2>&1); rc=$?; echo "$out"
	[ "$rc" = 1 ] && [[ $out == *"past its purge deadline"* ]]'
check_not "it does not come back" stat "$M/t.txt"
check "its object waits for a trusted clock" test -e "$(obj "$B" "$ino_t")"
rfs_umount "$M"

# 5. A longer [keys] period, reloaded with SIGHUP while the old window is
#    current: files created after it land in a window with the same start
#    but a later end, and their key must live to that end.
now=$(date +%s)
W=$(( (now / 604800 + 1) * 604800 ))      # a week boundary to come
echo $(( W + 3600 - now )) >"$RFS_TEST_CLOCK_FILE"
cat >"$T/policy5" <<'POL'
[shred]
interval = 1h
max_clock_jump = forever
[keys]
period = 1d
[class c]
retention = 2d
match = *.c
[class default]
retention = forever
POL
B5=$T/backing5 M5=$T/mnt5
mkdir -p "$M5"
rfs_init "$B5" "$T/key5"
rfs_mount "$B5" "$M5" "policy=$T/policy5" || abort "mount 5 failed"
echo first >"$M5/a.c"
sed -i 's/^period = 1d/period = 1w/' "$T/policy5"
nrel=$(grep -c reloaded "${RFS_LOG_OF[$M5]}")
kill -HUP "${RFS_PID_OF[$M5]}"
check "the daemon reloads the policy (key period 1 week)" \
    wait_for 5 eval '[ "$(grep -c reloaded "${RFS_LOG_OF[$M5]}")" -gt "$nrel" ]'
echo $(( W + 2 * 86400 - now )) >"$RFS_TEST_CLOCK_FILE"
echo second >"$M5/b.c"
echo $(( W + 3 * 86400 - now )) >"$RFS_TEST_CLOCK_FILE"
check "shred at day 3 (a.c's day-long window is past)" "$CTL" shred "$M5"
check_eq "b.c (week-long window, expires day 4) still opens" second "$(cat "$M5/b.c")"
rfs_umount "$M5"

# 6. A crash between sweeps, then the clock set back: what was hidden
#    stays hidden (the mark is not only saved by the hourly sweep).
echo 0 >"$RFS_TEST_CLOCK_FILE"
cat >"$T/policy6" <<'POL'
[shred]
interval = 1h
max_clock_jump = 1h
[class short]
retention = 60s
match = *.log
[class default]
retention = forever
POL
B6=$T/backing6 M6=$T/mnt6
mkdir -p "$M6"
rfs_init "$B6" "$T/key6"
rfs_mount "$B6" "$M6" "policy=$T/policy6" || abort "mount 6 failed"
echo secret >"$M6/a.log"
echo 120 >"$RFS_TEST_CLOCK_FILE"
check "two minutes on, a.log (60 s) is hidden" wait_for 3 is_gone "$M6/a.log"
echo kept >"$M6/b.txt"
sync "$M6/b.txt"
rfs_kill_daemon "$M6"
echo 0 >"$RFS_TEST_CLOCK_FILE"
rfs_mount "$B6" "$M6" "policy=$T/policy6" || abort "remount 6 failed"
check "after kill -9 and the clock set back 2 min: a.log stays hidden" is_gone "$M6/a.log"
check_eq "b.txt is there" kept "$(cat "$M6/b.txt")"
rfs_umount "$M6"

# 7. A forward jump, then the daemon restarted before its next sweep: the
#    new process judges the jump from the last sweep's clocks (catalog).
echo 0 >"$RFS_TEST_CLOCK_FILE"
cat >"$T/policy7" <<'POL'
[shred]
interval = 1h
max_clock_jump = 1d
[class month]
retention = 30d
match = *.log
[class default]
retention = forever
POL
B7=$T/backing7 M7=$T/mnt7
mkdir -p "$M7"
rfs_init "$B7" "$T/key7"
rfs_mount "$B7" "$M7" "policy=$T/policy7" || abort "mount 7 failed"
echo data >"$M7/m.log"
ino_m=$(stat -c %i "$M7/m.log")
check "a sweep records its clocks" "$CTL" shred "$M7"
echo $(( 365 * 86400 )) >"$RFS_TEST_CLOCK_FILE"
rfs_umount "$M7"
rfs_mount "$B7" "$M7" "policy=$T/policy7" || abort "remount 7 failed"
"$CTL" shred "$M7" >/dev/null 2>&1
check "after a year's jump and a restart: m.log's object is not shredded" \
    test -e "$(obj "$B7" "$ino_m")"
check_sh "and the clock is reported suspect" "'$CTL' status '$M7' | grep -q SUSPECT"
rfs_umount "$M7"
"$CTL" shred --store "$B7" --keyfile "$T/key7" --policy "$T/policy7" >/dev/null 2>&1
check "offline shred of the unmounted store does not shred it" test -e "$(obj "$B7" "$ino_m")"
echo 0 >"$RFS_TEST_CLOCK_FILE"
finish
