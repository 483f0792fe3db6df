# lib.sh - helpers for the integration tests; sourced by tests/integration/t_*.sh.
#
# Environment:
#   BUILD          build directory (default: build), relative to the repo root
#                  unless absolute; holds retentionfs, retentionctl, tests/
#   RFS_TEST_RAW=1 do not mount anything: MNT is a plain directory, so the
#                  test logic can be checked without the daemon.  Checks of
#                  the backing directory or of the daemon itself are skipped.
#
# Conventions: every check goes through check/check_sh/check_errno/ok/fail,
# every wait through wait_for (no bare sleeps), and the script ends with
# `finish`, whose line "t_NAME: N passed, N failed[, N skipped]" is what
# tests/run-all.sh counts.  Exit 77 (see skip_all) means "skipped".
#
# shellcheck shell=bash

set -u

RFS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$RFS_ROOT/$BUILD ;;
esac
RFS_TEST_RAW=${RFS_TEST_RAW:-0}
PATH=$PATH:/usr/sbin:/sbin
[ "$RFS_TEST_RAW" = 1 ] || RFS_TEST_RAW=0
TNAME=$(basename "$0" .sh)
RFS_PY=/usr/bin/python3
[ -x "$RFS_PY" ] || RFS_PY=$(command -v python3 || echo python3)

RFS_PASSED=0
RFS_FAILED=0
RFS_SKIPPED=0
RFS_MOUNTS=()          # mount points to detach at exit
RFS_PIDS=()            # daemon pids to end at exit
declare -A RFS_PID_OF=()    # MNT -> daemon pid
declare -A RFS_CHILD_OF=()  # MNT -> 1 when the pid is our child (foreground)
declare -A RFS_LOG_OF=()    # MNT -> the daemon's stderr log
RFS_PID=
RFS_KEY=
RFS_AUTH=              # -o option naming the secret; default keyfile=$RFS_KEY
RFS_NLOG=0

T=$(mktemp -d "/tmp/rfs-$TNAME.XXXXXX") || { echo "mktemp failed" >&2; exit 1; }

# rfs_stop_daemons: detaches every mount a test made (dead daemons'
# included) and ends every daemon still running (TERM, then KILL).
rfs_stop_daemons() {
	local m p
	for m in "${RFS_MOUNTS[@]}"; do
		# mountpoint(1) fails with ENOTCONN on a dead daemon's mount:
		# look in mountinfo instead, so dead mounts are detached too.
		if awk -v m="$m" '$5 == m { f = 1 } END { exit !f }' \
		    /proc/self/mountinfo 2>/dev/null; then
			fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		fi
	done
	for p in "${RFS_PIDS[@]}"; do
		rfs_end_pid "$p"
	done
}

# rfs_end_pid PID: TERM, up to 5 s to go, then KILL.
rfs_end_pid() {
	local i
	rfs_pid_alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		rfs_pid_alive "$1" || return 0
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
}

rfs_cleanup() {
	trap - EXIT INT TERM HUP
	cd / || true
	rfs_stop_daemons
	rm -rf "$T"
}
trap rfs_cleanup EXIT
trap 'echo "$TNAME: interrupted" >&2; exit 130' INT
trap 'echo "$TNAME: terminated" >&2; exit 143' TERM HUP

# ---------------------------------------------------------------- results

ok() {
	RFS_PASSED=$((RFS_PASSED + 1))
	printf 'ok   %s\n' "$1"
}

# fail NAME [DETAIL...]: each DETAIL is printed indented below (at most 40
# lines and 4000 bytes of each, control bytes made visible).
fail() {
	local name=$1 line
	shift
	RFS_FAILED=$((RFS_FAILED + 1))
	printf 'FAIL %s\n' "$name"
	for line in "$@"; do
		printf '%s\n' "$line" | head -c 4000 | cat -v | head -n 40 | sed -e 's/^/     | /'
	done
}

# rfs_capture CMD...: runs CMD in a subshell (so cd, exit and assignments
# stay there) with its output in $T/capture.out; sets RFS_OUT (the output,
# or a note of its size when it is binary) and returns CMD's status.
rfs_capture() {
	local rc
	("$@") >"$T/capture.out" 2>&1 </dev/null
	rc=$?
	if LC_ALL=C grep -q '[^[:print:][:space:]]' "$T/capture.out"; then
		RFS_OUT="($(stat -c %s "$T/capture.out") bytes of binary output)"
	else
		RFS_OUT=$(head -c 8000 "$T/capture.out")
	fi
	return "$rc"
}

skip() {
	RFS_SKIPPED=$((RFS_SKIPPED + 1))
	printf 'skip %s: %s\n' "$1" "${2:-}"
}

# check NAME CMD...: passes when CMD exits 0.  CMD's output is shown on failure.
check() {
	local name=$1 rc
	shift
	rfs_capture "$@"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$name"
		return 0
	fi
	fail "$name" "command: $*" "exit status $rc" "${RFS_OUT:-(no output)}"
	return 1
}

# check_not NAME CMD...: passes when CMD exits non-zero.
check_not() {
	local name=$1 rc
	shift
	rfs_capture "$@"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		ok "$name"
		return 0
	fi
	fail "$name" "command unexpectedly succeeded: $*" "${RFS_OUT:-(no output)}"
	return 1
}

# check_sh NAME 'shell code': runs the code in a subshell (set -e is NOT on,
# so chain with && or end with a test).
check_sh() {
	local name=$1 code=$2 rc
	rfs_capture eval "$code"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$name"
		return 0
	fi
	fail "$name" "code: $code" "exit status $rc" "${RFS_OUT:-(no output)}"
	return 1
}

# check_eq NAME EXPECTED ACTUAL (multi-line values are shown as a diff)
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
		return 0
	fi
	case $2$3 in
	*$'\n'*)
		fail "$1" "expected (-) and actual (+) differ:" \
		    "$(diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | tail -n +3)"
		;;
	*)
		fail "$1" "expected: $2" "actual:   $3"
		;;
	esac
	return 1
}

# Python with a few helpers.  Code sees A = the extra arguments.
RFS_PY_PRELUDE='import os, sys, errno, stat, fcntl, ctypes, mmap
A = sys.argv[2:]
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
_libc = ctypes.CDLL(None, use_errno=True)
def renameat2(a, b, flags):
    if _libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)
def syncfs(fd):
    if _libc.syncfs(fd) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), "syncfs")
def rd(p):
    with open(p, "rb") as f:
        return f.read()
def wr(p, data, mode="wb"):
    with open(p, mode) as f:
        f.write(data)
'

# RFS_AS: a command prefix for pyrun/pyerrno/check_errno, e.g. to run the
# Python code as another user (see t_perm.sh).  Empty: as ourselves.
RFS_AS=()

# pyrun CODE [ARGS...]: runs CODE; a Python exception is a non-zero exit.
pyrun() {
	local code=$1
	shift
	"${RFS_AS[@]}" "$RFS_PY" -c "$RFS_PY_PRELUDE
exec(compile(sys.argv[1], '<test>', 'exec'))" "$code" "$@"
}

# pyerrno CODE [ARGS...]: prints OK, or the errno name of the OSError raised.
pyerrno() {
	local code=$1
	shift
	"${RFS_AS[@]}" "$RFS_PY" -c "$RFS_PY_PRELUDE
try:
    exec(compile(sys.argv[1], '<test>', 'exec'))
    print('OK')
except OSError as e:
    print(errno.errorcode.get(e.errno, 'errno %s' % e.errno) if e.errno else repr(e))
" "$code" "$@"
}

# check_errno NAME WANT CODE [ARGS...]: WANT is OK or an errno name (EACCES).
check_errno() {
	local name=$1 want=$2 code=$3 got
	shift 3
	got=$(pyerrno "$code" "$@" 2>&1)
	if [ "$got" = "$want" ]; then
		ok "$name"
		return 0
	fi
	fail "$name" "expected $want, got: $got" "code: $code"
	return 1
}

# finish: prints the closing line and exits (1 if any check failed).
finish() {
	local line="$TNAME: $RFS_PASSED passed, $RFS_FAILED failed"
	[ "$RFS_SKIPPED" -gt 0 ] && line="$line, $RFS_SKIPPED skipped"
	echo "$line"
	[ "$RFS_FAILED" -eq 0 ] && exit 0
	exit 1
}

# abort MSG: a failure that makes the rest of the script meaningless.
abort() {
	fail "$TNAME cannot go on" "$@"
	finish
}

# skip_all REASON: the whole script is skipped (run-all counts it as such).
skip_all() {
	echo "SKIP: $*"
	exit 77
}

is_raw() { [ "$RFS_TEST_RAW" = 1 ]; }

# ---------------------------------------------------------------- waiting

# Microseconds since the epoch.
rfs_now_us() {
	local t=$EPOCHREALTIME
	echo $((10#${t%.*} * 1000000 + 10#${t#*.}))
}

# poll_until SECONDS CMD...: quietly polls CMD every 0.05 s; 1 on timeout.
poll_until() {
	local secs=$1 deadline
	shift
	deadline=$(($(rfs_now_us) + $(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000000 }')))
	until "$@"; do
		if [ "$(rfs_now_us)" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# wait_for SECONDS CMD...: as poll_until, but a timeout is a failed check.
wait_for() {
	local secs=$1
	shift
	poll_until "$secs" "$@" && return 0
	fail "wait_for: timed out after ${secs}s waiting for: $*"
	return 1
}

# ---------------------------------------------------------------- store helpers

# ctl ARGS...: the admin tool of this build.
ctl() { "$BUILD/retentionctl" "$@"; }
# xa NAME FILE: the value of user.retention.NAME (nothing on error).
xa() { getfattr --only-values -n "user.retention.$1" -- "$2" 2>/dev/null; }
# obj BACKING INO: path of the object holding inode INO (docs/format.md).
obj() {
	local h
	h=$(printf %016x "$2")
	echo "$1/objects/${h:14:2}/$h"
}
ino_of() { stat -c %i -- "$1"; }
epoch_of() { date -u -d "$1" +%s 2>/dev/null; }   # RFC 3339 -> epoch

# ---------------------------------------------------------------- daemon

rfs_pid_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	# A zombie has exited; only its parent's wait is missing.
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

rfs_need_binaries() {
	is_raw && return 0
	local b
	for b in retentionfs retentionctl; do
		if [ ! -x "$BUILD/$b" ]; then
			abort "$BUILD/$b is not built (run make first)"
		fi
	done
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		skip_all "/dev/fuse or fusermount3 not available"
	fi
}

# rfs_tool NAME: path of a test tool (datacheck, appender), built by make as
# $BUILD/tests/NAME; compiled into $T when missing (development convenience).
rfs_tool() {
	local name=$1
	if [ -x "$BUILD/tests/$name" ]; then
		echo "$BUILD/tests/$name"
		return 0
	fi
	if [ ! -x "$T/$name" ]; then
		cc -std=c11 -D_GNU_SOURCE -O2 -Wall -o "$T/$name" \
		    "$RFS_ROOT/tests/integration/$name.c" >&2 || return 1
		echo "note: $BUILD/tests/$name not built; compiled $T/$name" >&2
	fi
	echo "$T/$name"
}

# rfs_init BACKING KEY: makes BACKING a store whose key file is KEY.
rfs_init() {
	local backing=$1 key=$2 out
	RFS_KEY=$key
	if is_raw; then
		mkdir -p "$backing" || return 1
		if [ ! -e "$key" ]; then
			(umask 077 && head -c 32 /dev/urandom >"$key") || return 1
		fi
		return 0
	fi
	if ! out=$("$BUILD/retentionctl" init "$backing" --keyfile "$key" 2>&1); then
		fail "retentionctl init $backing --keyfile $key" "$out"
		return 1
	fi
	return 0
}

# rfs_mount_opts [EXTRA...]: the -o argument for a mount.
rfs_mount_opts() {
	local opts=${RFS_AUTH:-keyfile=$RFS_KEY} o
	for o in "$@"; do
		opts="$opts,$o"
	done
	echo "$opts"
}

rfs_log_tail() {
	[ -n "${1:-}" ] && [ -f "$1" ] && tail -n 20 "$1"
}

# rfs_mount BACKING MNT [EXTRA -o OPTIONS...]: starts the daemon in the
# foreground (-f) as our child, waits until MNT is mounted.  RFS_PID = pid.
rfs_mount() {
	local backing=$1 mnt=$2 opts log pid rc
	shift 2
	RFS_PID=
	if is_raw; then
		mkdir -p "$mnt"
		return $?
	fi
	opts=$(rfs_mount_opts "$@")
	RFS_NLOG=$((RFS_NLOG + 1))
	log=$T/daemon.$RFS_NLOG.log
	"$BUILD/retentionfs" "$backing" "$mnt" -f -o "$opts" >"$log" 2>&1 &
	pid=$!
	RFS_PIDS+=("$pid")
	RFS_MOUNTS+=("$mnt")
	if ! poll_until 30 rfs_mounted_or_dead "$mnt" "$pid" || ! mountpoint -q "$mnt"; then
		if rfs_pid_alive "$pid"; then
			fail "mount $mnt" "not mounted after 30 s; daemon pid $pid still running" \
			    "$(rfs_log_tail "$log")"
		else
			wait "$pid"
			rc=$?
			rfs_forget_pid "$pid"
			fail "mount $mnt" "$BUILD/retentionfs $backing $mnt -f -o $opts" \
			    "daemon exited with status $rc before mounting" "$(rfs_log_tail "$log")"
		fi
		return 1
	fi
	RFS_PID=$pid
	RFS_PID_OF[$mnt]=$pid
	RFS_CHILD_OF[$mnt]=1
	RFS_LOG_OF[$mnt]=$log
	ok "mount $mnt"
	return 0
}

# Drops PID from the cleanup list once it is known to be gone (its number may
# then be reused by an unrelated process).
rfs_forget_pid() {
	local p keep=()
	for p in "${RFS_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	RFS_PIDS=("${keep[@]}")
}

# rfs_kill_daemon MNT: SIGKILLs MNT's daemon (a crash) and clears the stale
# mount it leaves.
rfs_kill_daemon() {
	local mnt=$1 pid=${RFS_PID_OF[$1]}
	{
		kill -KILL "$pid"
		poll_until 10 eval "! rfs_pid_alive $pid"
		wait "$pid"
	} 2>/dev/null
	rfs_forget_pid "$pid"
	unset "RFS_PID_OF[$mnt]"
	fusermount3 -u -z "$mnt"
}

rfs_mounted_or_dead() {
	mountpoint -q "$1" || ! rfs_pid_alive "$2"
}

# rfs_find_daemon MNT: pid of the retentionfs process serving MNT (argv
# holds our binary and this exact mount point; no pattern matching).
rfs_find_daemon() {
	local mnt=$1 p a
	local -a argv
	for p in /proc/[0-9]*; do
		mapfile -d '' -t argv <"$p/cmdline" 2>/dev/null || continue
		[ "${#argv[@]}" -gt 2 ] || continue
		[ "${argv[0]##*/}" = retentionfs ] || continue
		for a in "${argv[@]:1}"; do
			if [ "$a" = "$mnt" ]; then
				echo "${p#/proc/}"
				return 0
			fi
		done
	done
	return 1
}

# rfs_mount_daemon BACKING MNT [EXTRA...]: the daemonizing form: the command
# must exit 0 once MNT is mounted.  RFS_PID = the daemon found afterwards.
rfs_mount_daemon() {
	local backing=$1 mnt=$2 opts out rc pid
	shift 2
	RFS_PID=
	if is_raw; then
		mkdir -p "$mnt"
		return $?
	fi
	opts=$(rfs_mount_opts "$@")
	RFS_MOUNTS+=("$mnt")
	# To a file, not $(...): a daemon that kept the pipe open would hang us.
	timeout 30 "$BUILD/retentionfs" "$backing" "$mnt" -o "$opts" >"$T/mount-daemon.out" 2>&1
	rc=$?
	out=$(cat "$T/mount-daemon.out")
	if [ "$rc" -ne 0 ]; then
		fail "mount (daemonized) $mnt" "$BUILD/retentionfs $backing $mnt -o $opts" \
		    "exit status $rc" "$out"
		return 1
	fi
	if ! mountpoint -q "$mnt"; then
		fail "mount (daemonized) $mnt" "command exited 0 but $mnt is not mounted" "$out"
		return 1
	fi
	if ! pid=$(rfs_find_daemon "$mnt"); then
		fail "mount (daemonized) $mnt" "mounted, but no retentionfs process serves it"
		return 1
	fi
	RFS_PIDS+=("$pid")
	RFS_PID=$pid
	RFS_PID_OF[$mnt]=$pid
	RFS_CHILD_OF[$mnt]=0
	RFS_LOG_OF[$mnt]=
	ok "mount (daemonized) $mnt"
	return 0
}

# rfs_umount MNT: fusermount3 -u, then the daemon must exit (status 0 when
# it is our child) within 30 s.  Counts as a check.
rfs_umount() {
	local mnt=$1 pid out rc log
	is_raw && return 0
	pid=${RFS_PID_OF[$mnt]:-}
	log=${RFS_LOG_OF[$mnt]:-}
	if ! out=$(fusermount3 -u "$mnt" 2>&1); then
		fail "umount $mnt" "fusermount3 -u $mnt: $out" \
		    "$(fuser -vm "$mnt" 2>&1 | grep -v '^Cannot stat' | head -n 10)"
		return 1
	fi
	if [ -z "$pid" ]; then
		ok "umount $mnt"
		return 0
	fi
	if ! poll_until 30 eval "! rfs_pid_alive $pid"; then
		fail "umount $mnt" "daemon pid $pid still running 30 s after fusermount3 -u" \
		    "$(rfs_log_tail "$log")"
		return 1
	fi
	unset "RFS_PID_OF[$mnt]"
	rfs_forget_pid "$pid"
	if [ "${RFS_CHILD_OF[$mnt]:-0}" = 1 ]; then
		wait "$pid"
		rc=$?
		if [ "$rc" -ne 0 ]; then
			fail "umount $mnt: daemon exit status" "daemon exited with status $rc" \
			    "$(rfs_log_tail "$log")"
			return 1
		fi
		if [ -n "$log" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
			fail "umount $mnt: sanitizer report" "$(head -n 40 "$log")"
			return 1
		fi
		ok "umount $mnt: daemon exited 0"
	else
		ok "umount $mnt: daemon exited"
	fi
	return 0
}

# ---------------------------------------------------------------- misc

# tree_sum DIR: a listing of DIR (names, types, modes, sizes, symlink
# targets, content checksums) for before/after comparisons.
tree_sum() {
	(
		cd "$1" || exit 1
		find . -printf '%p %y %m %s %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

# sha FILE: sha256 of FILE, alone.
sha() {
	local s
	s=$(sha256sum <"$1") || return 1
	echo "${s%% *}"
}

# same_file A B: byte-identical regular files.
same_file() {
	cmp -- "$1" "$2"
}

rfs_need_binaries
