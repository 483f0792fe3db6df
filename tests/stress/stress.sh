#!/usr/bin/env bash
# stress.sh - the concurrent workload of stress.c against a real mount.
#
#   BUILD=build STRESS_SECONDS=10 tests/stress/stress.sh
#
# Makes a store and a policy (sweeps and key windows every second, *.tmp
# kept 1 s, trash 5 s, everything else forever), mounts it with the daemon
# in the foreground, runs tests/stress/stress.c for STRESS_SECONDS while
# retentionctl polls status and metrics, runs extra sweeps, restores
# deleted rotations from the trash, sets and clears holds and events over the
# control socket, and SIGHUP reloads the policy; then checks:
#   - the workload's own checks (see stress.c);
#   - the sweeper shreds every expired *.tmp file and purges the trash
#     without an error, leaving one object per live file in the backing;
#   - unmount: the daemon exits 0 and its log holds no sanitizer report
#     (ASan, UBSan, ThreadSanitizer);
#   - `retentionctl fsck` of the unmounted store exits 0;
#   - after a remount the tree reads back identical, then unmounts cleanly.
#
# Environment:
#   BUILD            build directory: build, build-san or build-tsan
#   STRESS_SECONDS   length of the workload (default 10)
#   STRESS_*         passed on to stress (see tests/stress/stress.c)
#   STRESS_BIN       the stress binary (default $BUILD/tests/stress, compiled
#                    into a temporary directory when missing)
#   STRESS_VALGRIND=1  a short session instead: the daemon runs under
#                    valgrind --leak-check=full --errors-for-leak-kinds=definite
#                    --error-exitcode=99; datacheck, appender, namespace and
#                    admin operations and a 4 s stress; any valgrind error
#                    or definite leak fails (the daemon then exits 99);
#                    then retentionctl fsck and status, offline, under
#                    valgrind too.
#                    (make valgrind runs this after the unit tests.)
#   RFS_TEST_RAW=1   run the workload on a plain directory (no daemon)
#
# tests/integration/t_stress.sh sources this file for a 5 s run; its last
# line is then "t_stress: N passed, N failed".
#
# shellcheck shell=bash

. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

STRESS_SECONDS=${STRESS_SECONDS:-10}
STRESS_VALGRIND=${STRESS_VALGRIND:-0}
export STRESS_SECONDS

B=$T/backing
K=$T/key
M=$T/mnt
P=$T/policy.ini
mkdir -p "$M"

# ---------------------------------------------------------------- helpers

# The stress binary: $STRESS_BIN, $BUILD/tests/stress, or compiled now.
stress_bin() {
	if [ -n "${STRESS_BIN:-}" ]; then
		echo "$STRESS_BIN"
	elif [ -x "$BUILD/tests/stress" ]; then
		echo "$BUILD/tests/stress"
	else
		cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -pthread \
		    -o "$T/stress" "$RFS_ROOT/tests/stress/stress.c" >&2 || return 1
		echo "note: $BUILD/tests/stress not built; compiled $T/stress" >&2
		echo "$T/stress"
	fi
}

VG_LOG=$T/valgrind.log
VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=99 --num-callers=30 --log-file="$VG_LOG")

# stress_mount BACKING MNT [OPTS...]: rfs_mount, or in valgrind mode the
# same with the daemon under valgrind (it needs longer to come up).
stress_mount() {
	local backing=$1 mnt=$2 opts log pid
	shift 2
	if [ "$STRESS_VALGRIND" != 1 ]; then
		rfs_mount "$backing" "$mnt" "$@"
		return
	fi
	opts=$(rfs_mount_opts "$@")
	RFS_NLOG=$((RFS_NLOG + 1))
	log=$T/daemon.$RFS_NLOG.log
	"${VG[@]}" "$BUILD/retentionfs" "$backing" "$mnt" -f -o "$opts" >"$log" 2>&1 &
	pid=$!
	RFS_PIDS+=("$pid")
	RFS_MOUNTS+=("$mnt")
	if ! poll_until 180 rfs_mounted_or_dead "$mnt" "$pid" || ! mountpoint -q "$mnt"; then
		fail "mount $mnt under valgrind" "$(rfs_log_tail "$log")" \
		    "$(tail -n 40 "$VG_LOG" 2>/dev/null)"
		return 1
	fi
	RFS_PID=$pid
	RFS_PID_OF[$mnt]=$pid
	RFS_CHILD_OF[$mnt]=1
	RFS_LOG_OF[$mnt]=$log
	ok "mount $mnt (daemon under valgrind)"
}

# stress_umount MNT: rfs_umount, plus no ThreadSanitizer report and, under
# valgrind, a clean valgrind summary.
stress_umount() {
	local mnt=$1 log=${RFS_LOG_OF[$1]:-} rc=0
	rfs_umount "$mnt" || rc=1
	if [ -n "$log" ] && [ -f "$log" ]; then
		if grep -q 'WARNING: ThreadSanitizer' "$log"; then
			fail "umount $mnt: no ThreadSanitizer report" \
			    "$(grep -c 'WARNING: ThreadSanitizer' "$log") reports; the first:" \
			    "$(sed -n '/WARNING: ThreadSanitizer/,/^SUMMARY/p' "$log" | head -n 60)"
			rc=1
		else
			ok "umount $mnt: no ThreadSanitizer report in the daemon's log"
		fi
	fi
	if [ "$STRESS_VALGRIND" = 1 ]; then
		if [ -f "$VG_LOG" ] && grep -q 'ERROR SUMMARY: 0 errors' "$VG_LOG" &&
		    ! grep -q 'definitely lost: [1-9]' "$VG_LOG"; then
			ok "valgrind: 0 errors, no definite leak"
		else
			fail "valgrind: errors or definite leaks in the daemon" \
			    "$(grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost' "$VG_LOG" 2>/dev/null)" \
			    "$(head -c 3500 "$VG_LOG" 2>/dev/null)"
			rc=1
		fi
		grep -E 'in use at exit|All heap blocks|ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable' \
		    "$VG_LOG" 2>/dev/null | sed -e 's/^==[0-9]*== */     valgrind: /'
	fi
	return "$rc"
}

# One metric's value from `retentionctl metrics` (0 when absent).
METRICS=
metric() {
	local v
	v=$(printf '%s\n' "$METRICS" | awk -v k="$1" '$1 == k { print $2; exit }')
	echo "${v:-0}"
}

# True once the sweeper has nothing left to do: no expired *.tmp pending and
# an empty trash.
swept() {
	METRICS=$(timeout 30 "$BUILD/retentionctl" metrics "$M" 2>&1) || return 1
	[ "$(metric 'retentionfs_expired_pending{class="tmp"}')" = 0 ] &&
	    [ "$(metric retentionfs_trash_files)" = 0 ]
}

# Dumps every thread's stack of the daemon (a hang or a watchdog abort).
daemon_stacks() {
	[ -n "${RFS_PID:-}" ] && rfs_pid_alive "$RFS_PID" || return 0
	command -v gdb >/dev/null || { echo "(gdb not installed: no daemon stacks)"; return 0; }
	timeout 60 gdb -p "$RFS_PID" -batch -ex 'thread apply all bt' 2>/dev/null |
	    grep -E '^(Thread|#)' | head -n 300
}

# Restores the first file in the trash (a deleted rotation) to restored/rN,
# outside the workload's directories.  It may be purged (trash retention 5 s)
# between the listing and the restore, or be past its purge deadline and not
# yet purged (refused as such): a failure counts only if it is still listed
# afterwards for another reason.
admin_restore() {
	local n=$1 id out
	out=$(timeout 30 "$BUILD/retentionctl" trash list "$M" --json 2>&1) || {
		echo "trash list failed (call $n): $out" >>"$T/admin.fail"
		return
	}
	id=$(printf '%s\n' "$out" | grep -o '"id":[0-9]*' | head -n 1 | cut -d: -f2)
	[ -n "$id" ] || return 0
	if out=$(timeout 30 "$BUILD/retentionctl" trash restore "$M" "$id" --to "restored/r$n" 2>&1); then
		echo "restored/r$n" >>"$T/restored"
	elif [[ $out == *"past its purge deadline"* ]]; then
		return 0
	elif timeout 30 "$BUILD/retentionctl" trash list "$M" --json 2>/dev/null |
	    grep -q "\"id\":$id,"; then
		echo "trash restore $id failed (call $n): $out" >>"$T/admin.fail"
	fi
}

# A legal hold on admin/hold.dat and an event on admin/, set and cleared
# (neither changes a deadline of this policy's classes; with an event set,
# every visibility check walks the parents of the file in the catalog).
# Not on the workload's files: a held rotation, once deleted, would stay in
# the trash for good.
admin_toggle() {
	local n=$1 verb=set
	[ $((n % 2)) = 0 ] && verb=clear
	timeout 30 "$BUILD/retentionctl" hold "$verb" "$M" admin/hold.dat >/dev/null 2>>"$T/admin.err" ||
	    echo "hold $verb failed (call $n)" >>"$T/admin.fail"
	if [ "$verb" = set ]; then
		timeout 30 "$BUILD/retentionctl" event set "$M" admin --at 2099-01-01T00:00:00Z \
		    --reason stress >/dev/null 2>>"$T/admin.err"
	else
		timeout 30 "$BUILD/retentionctl" event clear "$M" admin >/dev/null 2>>"$T/admin.err"
	fi || echo "event $verb failed (call $n)" >>"$T/admin.fail"
}

# stress_ended PID: the workload exited, or its watchdog fired.
stress_ended() {
	! rfs_pid_alive "$1" || grep -q '^stress: WATCHDOG' "$T/stress.out"
}

# fuse_abort MNT: aborts MNT's FUSE connection (fusectl): every pending and
# later request fails, so processes stuck on a hung daemon can finish.
fuse_abort() {
	local dev
	dev=$(awk -v m="$1" '$5 == m { print $3; exit }' /proc/self/mountinfo)
	[ -n "$dev" ] && [ -w "/sys/fs/fuse/connections/${dev#*:}/abort" ] &&
	    echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort"
}

# After the workload: a hang (watchdog, timeout) or a dead daemon ends the
# script here, as no later check could run.
STRESS_HUNG=0
bail_if_broken() {
	if [ "$STRESS_HUNG" = 1 ]; then
		fail "the workload ended on its own (no hang)" \
		    "see the watchdog's report and the daemon's threads above;" \
		    "the FUSE connection was aborted to release stuck processes"
		# An aborted mount fails mountpoint(1), so lib.sh's cleanup
		# would leave it: detach it here.
		is_raw || fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
		finish
	fi
	if [ -n "${RFS_PID:-}" ] && ! rfs_pid_alive "$RFS_PID"; then
		# A sanitizer halting, a crash: report how, and stop.
		fail "the daemon is still running after the workload" \
		    "$(rfs_log_tail "${RFS_LOG_OF[$M]:-}")"
		stress_umount "$M"
		finish
	fi
}

# Admin traffic during the run over the control socket - status, metrics,
# extra sweeps, trash restores, holds, events - and policy reloads (SIGHUP),
# paced, until $T/stress.done appears.
admin_poller() {
	local n=0
	while [ ! -e "$T/stress.done" ]; do
		n=$((n + 1))
		timeout 30 "$BUILD/retentionctl" metrics "$M" >/dev/null 2>>"$T/admin.err" ||
		    echo "metrics failed (call $n)" >>"$T/admin.fail"
		timeout 30 "$BUILD/retentionctl" status "$M" --json >/dev/null 2>>"$T/admin.err" ||
		    echo "status failed (call $n)" >>"$T/admin.fail"
		# SIGHUP: the policy is reloaded (swapped under the workload).
		if [ $((n % 3)) = 0 ] && [ -n "${RFS_PID:-}" ]; then
			kill -HUP "$RFS_PID" 2>/dev/null ||
			    echo "SIGHUP failed (call $n)" >>"$T/admin.fail"
		fi
		if [ $((n % 4)) = 0 ]; then
			timeout 30 "$BUILD/retentionctl" shred "$M" >/dev/null 2>>"$T/admin.err" ||
			    echo "shred failed (call $n)" >>"$T/admin.fail"
		fi
		if [ $((n % 5)) = 0 ]; then
			admin_restore "$n"
			admin_toggle "$n"
		fi
		sleep 0.3
	done
}

# run_stress NAME [ENV=VALUE...]: runs the workload on $M, shows its output,
# adds its counts to ours.
run_stress() {
	local name=$1 bin rc last p f spid
	shift
	if ! bin=$(stress_bin); then
		fail "$name: cannot build the stress program"
		return 1
	fi
	rm -f "$T/stress.done"
	if ! is_raw; then
		mkdir -p "$M/admin" && echo held >"$M/admin/hold.dat"
		admin_poller &
		POLLER=$!
	fi
	# In the background: a process with threads stuck in requests the
	# daemon has read cannot exit, not even on SIGKILL, until the
	# connection is aborted.  So watch for the watchdog's report (or the
	# time limit) instead of waiting for the exit.
	env "$@" "$bin" "$M" >"$T/stress.out" 2>&1 &
	spid=$!
	if poll_until $((STRESS_SECONDS + 300)) stress_ended "$spid"; then
		if grep -q '^stress: WATCHDOG' "$T/stress.out"; then
			poll_until 10 grep -q '^stress: [0-9]* passed' "$T/stress.out"
			rc=134
		else
			wait "$spid"
			rc=$?
		fi
	else
		echo "stress: still running $((STRESS_SECONDS + 300)) s after its start"
		rc=124
	fi
	touch "$T/stress.done"
	sed -e '/^stress: [0-9]* passed, [0-9]* failed$/d' "$T/stress.out"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
		# Watchdog (SIGABRT), time limit or crash: show where the daemon
		# is, then cut the connection so nothing stays stuck on it.
		echo "stress ended with status $rc; the daemon's threads:"
		daemon_stacks
		STRESS_HUNG=1
		is_raw || fuse_abort "$M"
		kill -KILL "$spid" 2>/dev/null
		poll_until 30 eval "! kill -0 $spid 2>/dev/null" ||
		    echo "stress (pid $spid) is still stuck after the abort"
	fi
	if [ -n "${POLLER:-}" ]; then
		if ! poll_until 60 eval "! kill -0 $POLLER 2>/dev/null"; then
			kill "$POLLER" 2>/dev/null
		fi
		wait "$POLLER" 2>/dev/null
		POLLER=
		if [ -s "$T/admin.fail" ]; then
			fail "$name: admin commands and SIGHUP during the run" \
			    "$(head -n 5 "$T/admin.fail")" "$(tail -n 5 "$T/admin.err")"
		else
			ok "$name: admin commands and SIGHUP during the run"
		fi
	fi
	last=$(grep -E '^stress: [0-9]+ passed, [0-9]+ failed$' "$T/stress.out" | tail -n 1)
	if [ -n "$last" ]; then
		p=$(echo "$last" | awk '{ print $2 }')
		f=$(echo "$last" | awk '{ print $4 }')
		RFS_PASSED=$((RFS_PASSED + p))
		RFS_FAILED=$((RFS_FAILED + f))
	else
		f=0
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "$name: stress exited with status $rc" "$(tail -n 30 "$T/stress.out")"
	fi
	[ "$rc" -eq 0 ]
}

tree_nontmp() {
	(cd "$1" && find . -name '*.tmp' -prune -o -type f -print0 | LC_ALL=C sort -z |
	    xargs -0 -r sha256sum)
}

count_objects() {
	find "$B/objects" -type f | wc -l
}

# ---------------------------------------------------------------- setup

cat >"$P" <<'EOF'
[shred]
interval = 1s
[keys]
period = 1s
[trash]
retention = 5s
[class tmp]
retention = 1s
match = *.tmp
[class default]
retention = forever
EOF

rfs_init "$B" "$K" || abort "init failed"
if ! is_raw; then
	check "the stress policy is valid" "$BUILD/retentionctl" policy check "$P"
fi

# ---------------------------------------------------------------- raw

if is_raw; then
	mkdir -p "$M"
	run_stress "stress on a plain directory" STRESS_RAW=1
	bail_if_broken
	finish
fi

# ---------------------------------------------------------------- valgrind

if [ "$STRESS_VALGRIND" = 1 ]; then
	command -v valgrind >/dev/null || skip_all "valgrind not installed"
	stress_mount "$B" "$M" "policy=$P" || abort "mount under valgrind failed"
	DC=$(rfs_tool datacheck) && AP=$(rfs_tool appender) || abort "test tools"
	check "datacheck under valgrind" "$DC" -n 400 -S $((1 << 20)) "$M/dc.dat"
	check "appender (3 writers) under valgrind" "$AP" "$M/app.log" 3 60 150
	check_sh "namespace operations" '
	mkdir -p "$M/a/b" && echo one >"$M/a/b/f" && ln "$M/a/b/f" "$M/a/h" &&
	mv "$M/a/b/f" "$M/a/g" && ln -s g "$M/a/s" && [ "$(cat "$M/a/s")" = one ] &&
	cp "$M/app.log" "$M/a/copy" && truncate -s 100 "$M/a/copy" &&
	getfattr -n user.retention.class "$M/a/g" >/dev/null &&
	rm "$M/a/g" "$M/a/h" "$M/a/s" && ls -la "$M/a" >/dev/null'
	check "retentionctl status over the control socket" \
	    "$BUILD/retentionctl" status "$M"
	check "retentionctl trash list" "$BUILD/retentionctl" trash list "$M"
	STRESS_SECONDS=4
	run_stress "stress (4 s) under valgrind" STRESS_WRITERS=2 STRESS_READERS=1 \
	    STRESS_RENAMERS=1 STRESS_DELETERS=1 STRESS_TMP=1 STRESS_TMP_RATE=10 \
	    STRESS_KEEP=1 STRESS_EXPIRY_MARGIN_MS=1500 STRESS_WATCHDOG=120 \
	    STRESS_MAX_LINES=3000
	bail_if_broken
	if poll_until 60 swept; then
		ok "the sweeper shredded every expired file and purged the trash"
	else
		fail "sweeper under valgrind: work left after 60 s" "$METRICS"
	fi
	stress_umount "$M"
	# The offline tool too: fsck and status on the unmounted store.
	VGT=(valgrind --leak-check=full --errors-for-leak-kinds=definite
	    --error-exitcode=99 --num-callers=30 -q)
	check "retentionctl fsck --store B --keyfile K, under valgrind" \
	    "${VGT[@]}" "$BUILD/retentionctl" fsck --store "$B" --keyfile "$K"
	check "retentionctl status --store B --keyfile K, under valgrind" \
	    "${VGT[@]}" "$BUILD/retentionctl" status --store "$B" --keyfile "$K" --policy "$P"
	finish
fi

# ---------------------------------------------------------------- stress

rfs_mount "$B" "$M" "policy=$P" || abort "mount failed"
run_stress "stress"
bail_if_broken

if poll_until $((STRESS_SECONDS + 30)) swept; then
	ok "sweeper: no expired *.tmp file pending, trash purged"
else
	fail "sweeper: work still pending $((STRESS_SECONDS + 30)) s after the run" "$METRICS"
fi
SHREDDED=$(metric retentionfs_shredded_total)
SHRED_ERRORS=$(metric retentionfs_shred_errors_total)
check_sh "sweeper: files were shredded ($SHREDDED), with no error ($SHRED_ERRORS)" \
    "[ '$SHREDDED' -gt 0 ] && [ '$SHRED_ERRORS' = 0 ]"
NREST=$(cat "$T/restored" 2>/dev/null | wc -l)
check_eq "trash restores during the run: every restored file is there" \
    "$NREST" "$(find "$M/restored" -type f 2>/dev/null | wc -l)"
NFILES=$(find "$M" -type f | wc -l)
# The sweep removes a group of files' rows, then shreds their objects (one
# device flush per group): the last objects may still be going.
poll_until 10 eval '[ "$(count_objects)" = "$NFILES" ]'
check_eq "backing: one object per live file (no object left behind)" \
    "$NFILES" "$(count_objects)"
check_eq "no *.tmp file visible" "" "$(find "$M" -name '*.tmp')"
tree_nontmp "$M" >"$T/before.sum"

stress_umount "$M"
check "retentionctl fsck --store B --keyfile K" \
    "$BUILD/retentionctl" fsck --store "$B" --keyfile "$K"

rfs_mount "$B" "$M" "policy=$P" || abort "remount failed"
tree_nontmp "$M" >"$T/after.sum"
check_sh "remount: every file reads back identical ($(wc -l <"$T/before.sum") files)" \
    "cmp -s '$T/before.sum' '$T/after.sum'"
stress_umount "$M"

finish
