#!/usr/bin/env bash
# bench.sh - retentionfs against the raw directory and gocryptfs.
#
#   make bench                       (BUILD=build tests/bench/bench.sh)
#   BENCH_QUICK=1 make bench         every default size / 8: a smoke run
#   BENCH_ONLY=append,meta make bench
#   BENCH_TARGETS=raw,gocryptfs tests/bench/bench.sh
#
# Every workload runs on a fresh store and a fresh mount for every target,
# the targets taking turns within each repetition (their order rotates from
# one repetition to the next), REPS times.  The table holds medians over the
# repetitions; a ratio to raw is computed within each repetition and its
# median taken.  The table goes to stdout and to $BUILD/bench/results.md,
# the raw samples to $BUILD/bench/results.tsv, daemon logs of failed runs
# to $BUILD/bench/logs/.  docs/performance.md describes every figure.
#
# Environment (sizes: explicit values are used as given, BENCH_QUICK only
# shrinks the defaults):
#   BENCH_REPS=3  BENCH_QUICK=0  BENCH_ONLY=all  BENCH_TARGETS=all
#   BENCH_DIR=$BUILD/bench (holds the temporary stores; the raw target is a
#     directory there too, so raw and the backing dirs share a filesystem)
#   BENCH_APPEND_MB=64 BENCH_APPEND_PROCS=4 BENCH_APPEND_LINE=200
#   BENCH_APPEND1_MB=32 BENCH_APPEND1_LINE=100
#   BENCH_APPEND_FSYNC_MB=8 BENCH_APPEND_FSYNC_EVERY=50
#   BENCH_SEQ_MB=512 BENCH_SEQ_BLOCK=131072
#   BENCH_META_FILES=10000 BENCH_META_DIRS=10 BENCH_META_SIZE=1024
#   BENCH_ROTATE_MB=16
#   BENCH_SCALE_FILES=200000 BENCH_SCALE_BASE=1000 BENCH_SCALE_OPS=2000
#     BENCH_SCALE_DIRS=100 BENCH_SCALE_PASSES=5 (lookup passes, each after
#     the dentry cache is dropped)
#   BENCH_TREE_FILES=10000 BENCH_TREE_DIRS=50 BENCH_TREE_MAXSIZE=16384
#   BENCH_SHRED_FILES=50000 BENCH_SHRED_TIMEOUT=600 (seconds)
#   BENCH_MOUNT_TIMEOUT=30 BENCH_CMD_TIMEOUT=1800 (seconds)
set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
OUT=$BUILD/bench
BIN=$OUT

REPS=${BENCH_REPS:-3}
QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 0 ]] && QUICK=
# size VAR DEFAULT: $VAR if set, else DEFAULT (/8 under BENCH_QUICK, >= 1).
size() {
	local v=${!1:-}
	if [[ -n $v ]]; then echo "$v"; return; fi
	v=$2
	[[ -n $QUICK ]] && v=$(( v / 8 > 0 ? v / 8 : 1 ))
	echo "$v"
}
APPEND_MB=$(size BENCH_APPEND_MB 64)
APPEND_PROCS=${BENCH_APPEND_PROCS:-4}
APPEND_LINE=${BENCH_APPEND_LINE:-200}
APPEND1_MB=$(size BENCH_APPEND1_MB 32)
APPEND1_LINE=${BENCH_APPEND1_LINE:-100}
FSYNC_MB=$(size BENCH_APPEND_FSYNC_MB 8)
FSYNC_EVERY=${BENCH_APPEND_FSYNC_EVERY:-50}
SEQ_MB=$(size BENCH_SEQ_MB 512)
SEQ_BLOCK=${BENCH_SEQ_BLOCK:-131072}
META_FILES=$(size BENCH_META_FILES 10000)
META_DIRS=${BENCH_META_DIRS:-10}
META_SIZE=${BENCH_META_SIZE:-1024}
ROTATE_MB=$(size BENCH_ROTATE_MB 16)
SCALE_FILES=$(size BENCH_SCALE_FILES 200000)
SCALE_BASE=$(size BENCH_SCALE_BASE 1000)
SCALE_OPS=$(size BENCH_SCALE_OPS 2000)
SCALE_DIRS=${BENCH_SCALE_DIRS:-100}
SCALE_PASSES=${BENCH_SCALE_PASSES:-5}
TREE_FILES=$(size BENCH_TREE_FILES 10000)
TREE_DIRS=${BENCH_TREE_DIRS:-50}
TREE_MAXSIZE=${BENCH_TREE_MAXSIZE:-16384}
SHRED_FILES=$(size BENCH_SHRED_FILES 50000)
SHRED_TIMEOUT=${BENCH_SHRED_TIMEOUT:-600}
MOUNT_TIMEOUT=${BENCH_MOUNT_TIMEOUT:-30}
CMD_TIMEOUT=${BENCH_CMD_TIMEOUT:-1800}

ALL_WORKLOADS=append,append1,append_fsync,seqwrite,meta,rotate,tree,scale,shred
ONLY=${BENCH_ONLY:-all}
[[ $ONLY == all ]] && ONLY=$ALL_WORKLOADS
ONLY=${ONLY//seqread/seqwrite}
TARGETS=${BENCH_TARGETS:-raw,retentionfs,gocryptfs}
[[ $TARGETS == all ]] && TARGETS=raw,retentionfs,gocryptfs

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FATAL: $*"; exit 1; }
has() { [[ ,$1, == *,$2,* ]]; }

for w in ${ONLY//,/ }; do
	has "$ALL_WORKLOADS" "$w" || die "unknown workload '$w' in BENCH_ONLY ($ALL_WORKLOADS)"
done
for t in ${TARGETS//,/ }; do
	has raw,retentionfs,gocryptfs "$t" || die "unknown target '$t' in BENCH_TARGETS"
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
(( APPEND_MB * 1048576 >= APPEND_LINE * APPEND_PROCS )) || die "BENCH_APPEND_MB too small"
(( SCALE_FILES > SCALE_BASE )) || die "BENCH_SCALE_FILES must exceed BENCH_SCALE_BASE"

# ---------------------------------------------------------------- drivers
mkdir -p "$OUT" "$OUT/logs" || die "cannot create $OUT"
CC=${CC:-cc}
NOTES=()
note() { NOTES+=("$*"); say "note: $*"; }
# The workload drivers must build; any other tests/bench/*.c (aeadbench, on
# libsodium) is optional.  A driver that includes <sodium.h> gets -lsodium.
for src in "$HERE"/*.c; do
	name=$(basename "$src" .c)
	exe=$BIN/$name
	libs=()
	grep -q '^#include <sodium.h>' "$src" && libs=(-lsodium)
	if [[ ! -x $exe || $src -nt $exe ]]; then
		if ! "$CC" -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$exe" "$src" \
			"${libs[@]}" 2>"$OUT/logs/cc-$name.log"; then
			rm -f "$exe"
			case $name in
			appendbench|seqbench|metabench|timeit)
				cat "$OUT/logs/cc-$name.log" >&2
				die "cannot compile $src" ;;
			*)	note "$name: not built (see $OUT/logs/cc-$name.log)" ;;
			esac
		fi
	fi
done

# ---------------------------------------------------------------- targets

if has "$TARGETS" retentionfs; then
	if [[ ! -x $BUILD/retentionfs || ! -x $BUILD/retentionctl ]]; then
		note "retentionfs: skipped ($BUILD/retentionfs or retentionctl missing; run make)"
		TARGETS=$(echo ",$TARGETS," | sed 's/,retentionfs,/,/; s/^,//; s/,$//')
	fi
fi
if has "$TARGETS" gocryptfs && ! command -v gocryptfs >/dev/null; then
	say "gocryptfs missing: apt-get install -y gocryptfs"
	if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y gocryptfs ||
	       { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gocryptfs; }; } \
	       >"$OUT/logs/apt-gocryptfs.log" 2>&1 || ! command -v gocryptfs >/dev/null; then
		note "gocryptfs: skipped (could not be installed, see $OUT/logs/apt-gocryptfs.log)"
		TARGETS=$(echo ",$TARGETS," | sed 's/,gocryptfs,/,/; s/^,//; s/,$//')
	fi
fi
[[ -n $TARGETS ]] || die "no target left to run"
command -v fusermount3 >/dev/null || die "fusermount3 missing (apt-get install fuse3)"

DROP_OK=1
if ! { sync && echo 1 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
	DROP_OK=
	note "cannot write /proc/sys/vm/drop_caches (not root?): 'cold' figures are warm-cache"
fi
# drop_caches 3 (page cache + dentries/inodes) or 2 (dentries/inodes only).
drop_caches() {
	sync
	[[ -n $DROP_OK ]] && echo "$1" > /proc/sys/vm/drop_caches
	return 0
}

# ---------------------------------------------------------------- cleanup
BASE=${BENCH_DIR:-$OUT}
mkdir -p "$BASE" || die "cannot create $BASE"
WORK=$(mktemp -d "$BASE/run.XXXXXX") || die "mktemp in $BASE failed"
RES=$WORK/results.tsv
: > "$RES"
BGPIDS=()        # helper processes to stop on exit
CUR_T='' CUR_MNT='' CUR_DIR='' CUR_PID='' CUR_LOG='' CUR_OPTS=''

cleanup() {
	local p m
	trap - EXIT INT TERM
	# Only processes still running as ours: a stale pid may be anyone's now.
	for p in $DRVPID "${BGPIDS[@]}"; do
		alive "$p" && kill "$p" 2>/dev/null
	done
	for p in $DRVPID "${BGPIDS[@]}"; do
		wait_until 15 not_alive "$p" || kill -9 "$p" 2>/dev/null
	done
	[[ -n $CUR_MNT ]] && tgt_umount quiet
	# Anything still mounted under WORK (should not happen): lazy unmount.
	while read -r _ m _; do
		m=$(printf '%b' "$m")
		[[ $m == "$WORK"/* ]] && { fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"; }
	done < /proc/mounts
	if grep -q " $WORK/" /proc/mounts; then
		say "leaving $WORK: still mounted"
	else
		rm -rf --one-file-system "$WORK"
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- helpers
now() { "$BIN/timeit" now; }
# kv KEY TEXT: the value of KEY=value in TEXT.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { n = index($i, "=");
	if (n && substr($i, 1, n - 1) == k) { print substr($i, n + 1); exit } } }' <<<"$2"; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.6g", a / b; else print "" }'; }
# drv VAR CMD...: runs a driver under the time limit, its output (stdout and
# stderr) into VAR.  In the background and waited for, so that INT/TERM
# reach the trap at once; timeout(1) then takes the driver's whole process
# group down.
DRVPID=''
drv() {
	local __var=$1 rc
	shift
	timeout -k 10 "$CMD_TIMEOUT" "$@" > "$WORK/drv.out" 2>&1 < /dev/null &
	DRVPID=$!
	wait "$DRVPID"
	rc=$?
	DRVPID=''
	printf -v "$__var" '%s' "$(< "$WORK/drv.out")"
	(( rc == 124 )) && printf -v "$__var" '%s' "timed out after ${CMD_TIMEOUT}s: ${!__var}"
	return $rc
}

REP=0
rec() { printf '%s\t%s\t%s\t%s\n' "$REP" "$1" "$CUR_T" "$2" >> "$RES"; }
FAILS=()
fail() {
	FAILS+=("rep $REP $CUR_W on $CUR_T: $*")
	say "FAIL: $CUR_W on $CUR_T: $*"
	if [[ -n $CUR_LOG && -s $CUR_LOG ]]; then
		local keep=$OUT/logs/$CUR_T-$CUR_W-rep$REP.log
		cp "$CUR_LOG" "$keep"
		say "daemon log ($keep), last lines:"
		tail -n 15 "$CUR_LOG" | sed 's/^/    /' >&2
	fi
	return 1
}

# proc_state PID: the one-letter state, or nothing when gone.
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	echo "${s%% *}"
}
alive() { local s; s=$(proc_state "$1"); [[ -n $s && $s != Z && $s != X ]]; }

# wait_until TIMEOUT_S CMD...: poll CMD every 20 ms until it succeeds.
wait_until() {
	local limit=$1 t0; shift
	t0=$(now)
	until "$@"; do
		if awk -v a="$(now)" -v b="$t0" -v l="$limit" 'BEGIN { exit !(a - b > l) }'; then
			return 1
		fi
		sleep 0.02
	done
}

mounted() { mountpoint -q "$1"; }
not_alive() { ! alive "$1"; }
mount_or_death() { mounted "$1" || not_alive "$2"; }

# tgt_mount: mounts the store of the current target ($CUR_DIR).
tgt_mount() {
	case $CUR_T in
	raw)
		CUR_MNT=$CUR_DIR/raw
		mkdir -p "$CUR_MNT"
		return 0 ;;
	retentionfs)
		CUR_MNT=$CUR_DIR/mnt
		mkdir -p "$CUR_MNT"
		"$BUILD/retentionfs" "$CUR_DIR/backing" "$CUR_MNT" \
			-o "keyfile=$CUR_DIR/key$CUR_OPTS" -f </dev/null >>"$CUR_LOG" 2>&1 &
		CUR_PID=$! ;;
	gocryptfs)
		CUR_MNT=$CUR_DIR/mnt
		mkdir -p "$CUR_MNT"
		gocryptfs -fg -extpass 'echo pw' "$CUR_DIR/cipher" "$CUR_MNT" \
			</dev/null >>"$CUR_LOG" 2>&1 &
		CUR_PID=$! ;;
	esac
	if ! wait_until "$MOUNT_TIMEOUT" mount_or_death "$CUR_MNT" "$CUR_PID" ||
	   ! mounted "$CUR_MNT"; then
		if alive "$CUR_PID"; then
			kill "$CUR_PID"
			wait_until 10 not_alive "$CUR_PID" || kill -9 "$CUR_PID"
		fi
		wait "$CUR_PID" 2>/dev/null
		local rc=$?
		CUR_PID=''
		fail "mount failed (daemon exit status $rc, timeout ${MOUNT_TIMEOUT}s)"
		CUR_MNT=''
		return 1
	fi
}

# tgt_setup TARGET [POLICY_FILE]: a fresh store, mounted.
tgt_setup() {
	CUR_T=$1 CUR_OPTS=''
	CUR_DIR=$WORK/$CUR_T-$CUR_W-$REP
	CUR_LOG=$CUR_DIR.log
	CUR_PID=''
	mkdir -p "$CUR_DIR"
	: > "$CUR_LOG"
	case $CUR_T in
	retentionfs)
		[[ -n ${2:-} ]] && CUR_OPTS=",policy=$2"
		if ! "$BUILD/retentionctl" init "$CUR_DIR/backing" --keyfile "$CUR_DIR/key" \
			</dev/null >>"$CUR_LOG" 2>&1; then
			fail "retentionctl init $CUR_DIR/backing --keyfile $CUR_DIR/key failed"
			return 1
		fi ;;
	gocryptfs)
		mkdir -p "$CUR_DIR/cipher"
		if ! gocryptfs -q -init -extpass 'echo pw' "$CUR_DIR/cipher" \
			</dev/null >>"$CUR_LOG" 2>&1; then
			fail "gocryptfs -init failed"
			return 1
		fi ;;
	esac
	drop_caches 3
	tgt_mount
}

# tgt_stats WORKLOAD: records the daemon's peak RSS and CPU seconds.
TCK=$(getconf CLK_TCK)
tgt_stats() {
	[[ -n $CUR_PID ]] || return 0
	local hwm st
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$CUR_PID/status" 2>/dev/null)
	st=$(cat "/proc/$CUR_PID/stat" 2>/dev/null)
	if [[ -z $hwm || -z $st ]]; then
		fail "daemon pid $CUR_PID gone before unmount"
		return 1
	fi
	st=${st##*) }
	rec "rss.$1" "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
	rec "cpu.$1" "$(awk -v s="$st" -v t="$TCK" 'BEGIN { split(s, f, " ");
		printf "%.2f", (f[12] + f[13]) / t }')"
}

# tgt_umount [quiet]: unmounts and waits (bounded) for the daemon to exit.
tgt_umount() {
	local m=$CUR_MNT p=$CUR_PID rc=0
	CUR_MNT=''
	[[ -n $m ]] || return 0
	if [[ $CUR_T == raw ]]; then return 0; fi
	if mounted "$m"; then
		if ! wait_until 20 fusermount3 -u "$m" 2>/dev/null; then
			[[ -z ${1:-} ]] && fail "fusermount3 -u $m kept failing; lazy unmount"
			fusermount3 -uz "$m" 2>/dev/null
			rc=1
		fi
	fi
	if [[ -n $p ]]; then
		if ! wait_until 60 not_alive "$p"; then
			[[ -z ${1:-} ]] && fail "daemon pid $p still running 60 s after unmount; killed"
			kill "$p" 2>/dev/null
			wait_until 10 not_alive "$p" || kill -9 "$p" 2>/dev/null
			rc=1
		fi
		wait "$p" 2>/dev/null
		local st=$?
		if (( st != 0 )) && [[ -z ${1:-} ]] && (( rc == 0 )); then
			fail "daemon exited with status $st after unmount"
			rc=1
		fi
	fi
	CUR_PID=''
	return $rc
}

tgt_destroy() {
	tgt_umount "${1:-}"
	local rc=$?
	[[ -n $CUR_DIR ]] && ! grep -q " $CUR_DIR/" /proc/mounts &&
		rm -rf --one-file-system "$CUR_DIR" "$CUR_LOG"
	CUR_DIR=''
	return $rc
}

# ---------------------------------------------------------------- workloads
# Each wl_NAME runs on the mounted fresh store $CUR_MNT, records its
# figures with rec, and returns nonzero on failure.

append_common() {   # FIG PROCS LINE MB FSYNC_EVERY
	local f=$CUR_MNT/log/app.log out v bytes=$(( $4 * 1048576 ))
	mkdir -p "$CUR_MNT/log" || { fail "mkdir"; return 1; }
	drv out "$BIN/appendbench" write "$f" "$2" "$3" "$bytes" "$5" ||
		{ fail "appendbench write: $out"; return 1; }
	drv v "$BIN/appendbench" verify "$f" "$2" "$3" "$bytes"
	if [[ $(kv verify "$v") != ok ]]; then
		rec "$1.mbps" FAIL
		fail "content check: $v"
		return 1
	fi
	rec "$1.mbps" "$(kv mbps "$out")"
}
wl_append()       { append_common append "$APPEND_PROCS" "$APPEND_LINE" "$APPEND_MB" 0; }
wl_append1()      { append_common append1 1 "$APPEND1_LINE" "$APPEND1_MB" 0; }
wl_append_fsync() { append_common append_fsync "$APPEND_PROCS" "$APPEND_LINE" "$FSYNC_MB" "$FSYNC_EVERY"; }

wl_seqwrite() {
	local f=$CUR_MNT/seq.dat out
	drv out "$BIN/seqbench" write "$f" "$SEQ_MB" "$SEQ_BLOCK" ||
		{ fail "seqbench write: $out"; return 1; }
	rec seqwrite.mbps "$(kv mbps "$out")"
	# Cold: a new daemon and empty caches (raw: just empty caches).
	if [[ $CUR_T != raw ]]; then
		tgt_stats seqwrite
		tgt_umount || return 1
		drop_caches 3
		tgt_mount || return 1
		f=$CUR_MNT/seq.dat
	else
		drop_caches 3
	fi
	drv out "$BIN/seqbench" read "$f" "$SEQ_MB" "$SEQ_BLOCK" ||
		{ fail "seqbench read (cold): $out"; return 1; }
	rec seqread_cold.mbps "$(kv mbps "$out")"
	drv out "$BIN/seqbench" read "$f" "$SEQ_MB" "$SEQ_BLOCK" ||
		{ fail "seqbench read (hot): $out"; return 1; }
	rec seqread_hot.mbps "$(kv mbps "$out")"
	STATS_AS=seqread
}

wl_meta() {
	local root=$CUR_MNT/meta n=$META_FILES out lsout=$WORK/ls.out got
	drv out "$BIN/metabench" create "$root" "$META_DIRS" 0 "$n" "$META_SIZE" ||
		{ fail "create: $out"; return 1; }
	rec meta_create.ops "$(kv opsps "$out")"
	# stat, ls -lR and rm each start with the kernel's dentry and inode
	# caches dropped (page cache kept), so the daemon answers them.
	drop_caches 2
	drv out "$BIN/metabench" stat "$root" "$META_DIRS" 0 "$n" ||
		{ fail "stat: $out"; return 1; }
	rec meta_stat.ops "$(kv opsps "$out")"
	drop_caches 2
	drv out "$BIN/timeit" "$WORK/t.out" sh -c 'ls -lR "$1" > "$2"' sh "$root" "$lsout" ||
		{ fail "ls -lR failed"; return 1; }
	got=$(grep -c '^-' "$lsout")
	if (( got != n )); then
		rec meta_ls.ops FAIL
		fail "ls -lR listed $got files, expected $n"
		return 1
	fi
	rec meta_ls.ops "$(fdiv "$n" "$(kv seconds "$(cat "$WORK/t.out")")")"
	rm -f "$lsout"
	drop_caches 2
	drv out "$BIN/metabench" unlink "$root" "$META_DIRS" 0 "$n" rmdir ||
		{ fail "unlink: $out"; return 1; }
	rec meta_rm.ops "$(kv opsps "$out")"
}

ROTATE_SUM=''
wl_rotate() {
	local d=$CUR_MNT/rot out sum
	mkdir -p "$d"
	drv out "$BIN/seqbench" genlog "$d/app.log" "$ROTATE_MB" ||
		{ fail "genlog: $out"; return 1; }
	drv out "$BIN/timeit" "$WORK/t.out" sh -c \
		'cd "$1" && mv app.log app.log.1 && gzip -1 app.log.1 && : > app.log' sh "$d" ||
		{ fail "rotation (mv, gzip -1, new log) failed"; return 1; }
	sum=$(gzip -dc "$d/app.log.1.gz" | md5sum)
	if [[ $sum != "$ROTATE_SUM" || ! -f $d/app.log || -s $d/app.log || -e $d/app.log.1 ]]; then
		rec rotate.mbps FAIL
		fail "rotated log differs from what was written (or app.log/app.log.1 wrong)"
		return 1
	fi
	rec rotate.mbps "$(fdiv "$ROTATE_MB" "$(kv seconds "$(cat "$WORK/t.out")")")"
}

# tree: a source-like tree of TREE_FILES files (built once, tarred on the
# work directory) unpacked with tar, copied with cp -r and with rsync -a,
# both copies checked against the original, then all three removed.
TREE_SUM=''
tree_sum() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) | md5sum; }
# tree_step FIGURE FILES CMD...: times CMD, records FILES per second.
tree_step() {
	local fig=$1 n=$2 out
	shift 2
	drv out "$BIN/timeit" "$WORK/t.out" "$@" || { fail "$*: $out"; return 1; }
	rec "$fig" "$(fdiv "$n" "$(kv seconds "$(cat "$WORK/t.out")")")"
}
wl_tree() {
	local m=$CUR_MNT d
	tree_step tree_untar.ops "$TREE_FILES" tar -C "$m" -xf "$WORK/tree.tar" || return 1
	tree_step tree_cp.ops "$TREE_FILES" cp -r "$m/tree" "$m/copy" || return 1
	if [[ -n $HAVE_RSYNC ]]; then
		tree_step tree_rsync.ops "$TREE_FILES" rsync -a "$m/tree/" "$m/sync/" || return 1
	fi
	for d in tree copy ${HAVE_RSYNC:+sync}; do
		if [[ $(tree_sum "$m/$d") != "$TREE_SUM" ]]; then
			rec tree_untar.ops FAIL
			fail "$d differs from the tree that was packed"
			return 1
		fi
	done
	drop_caches 2
	tree_step tree_rm.ops "$(( TREE_FILES * (${HAVE_RSYNC:+1}+2) ))" \
		rm -rf "$m/tree" "$m/copy" "$m/sync" || return 1
}

# scale_point NFILES TAG FIRST: lookups and creates at the current size.
scale_point() {
	local root=$CUR_MNT/scale n=$1 out lk p secs=0 ops=0
	# Distinct random files: a repeat would be answered by the kernel cache.
	# At 1,000 files one pass takes ~10 ms, so passes over cold dentries
	# are summed to keep one scheduling hiccup from deciding the ratio.
	lk=$(( SCALE_OPS < n ? SCALE_OPS : n ))
	for (( p = 0; p < SCALE_PASSES; p++ )); do
		drop_caches 2
		stat "$root"/d* > /dev/null || { fail "stat dirs"; return 1; }
		drv out "$BIN/metabench" lookup "$root" "$SCALE_DIRS" "$n" "$lk" \
		    "$(( REP * 100 + p ))" || { fail "lookup at $n: $out"; return 1; }
		secs=$(awk -v a="$secs" -v b="$(kv seconds "$out")" 'BEGIN { print a + b }')
		ops=$(( ops + $(kv ops "$out") ))
	done
	rec "scale_lookup_$2.ops" "$(fdiv "$ops" "$secs")"
	drv out "$BIN/metabench" create "$root" "$SCALE_DIRS" "$3" "$SCALE_OPS" 0 ||
		{ fail "create at $n: $out"; return 1; }
	rec "scale_create_$2.ops" "$(kv opsps "$out")"
	drv out "$BIN/metabench" unlink "$root" "$SCALE_DIRS" "$3" "$SCALE_OPS" ||
		{ fail "unlink at $n: $out"; return 1; }
}

wl_scale() {
	local root=$CUR_MNT/scale out t0
	drv out "$BIN/metabench" create "$root" "$SCALE_DIRS" 0 "$SCALE_BASE" 0 ||
		{ fail "populate: $out"; return 1; }
	scale_point "$SCALE_BASE" small 8000000 || return 1
	say "  populating $CUR_T to $SCALE_FILES files"
	drv out "$BIN/metabench" create "$root" "$SCALE_DIRS" "$SCALE_BASE" \
		$(( SCALE_FILES - SCALE_BASE )) 0 || { fail "populate: $out"; return 1; }
	rec scale_populate.ops "$(kv opsps "$out")"
	scale_point "$SCALE_FILES" big 9000000 || return 1
}

# shred: retentionfs only, and only with a shred subcommand.
SHRED_KEEP=20
shred_remaining() {
	# Files of class default left (live, hidden-but-expired and trash), from
	# retentionctl status --json; else the backing objects dir (which also
	# holds the SHRED_KEEP untouched files).
	local js n
	if js=$("$BUILD/retentionctl" status "$CUR_MNT" --json 2>/dev/null); then
		n=$(grep -o '"class":"default","files":[0-9]*' <<<"$js" | grep -o '[0-9]*$')
		[[ $n =~ ^[0-9]+$ ]] && { echo "$n"; return 0; }
	fi
	if [[ -d $CUR_DIR/backing/objects ]]; then
		echo $(( $(find "$CUR_DIR/backing/objects" -type f | wc -l) - SHRED_KEEP ))
		return 0
	fi
	return 1
}
shred_done() { local n; n=$(shred_remaining) && (( n <= 0 )); }
past() { awk -v a="$(now)" -v b="$1" 'BEGIN { exit !(a >= b) }'; }

wl_shred() {
	local root=$CUR_MNT/old keep=$CUR_MNT/keep out idle sweep t0 t1 lat
	drv out "$BIN/metabench" create "$keep" 1 0 "$SHRED_KEEP" 1024 ||
		{ fail "create keep: $out"; return 1; }
	drv out "$BIN/metabench" create "$root" 100 0 "$SHRED_FILES" 1024 ||
		{ fail "create: $out"; return 1; }
	# Expiry is a deadline: poll the clock until every file is past 1 s.
	t0=$(now)
	wait_until 30 past "$(awk -v t="$t0" 'BEGIN { print t + 2 }')"
	# The untouched files must be in their own class, or the sweep takes them.
	out=$("$BUILD/retentionctl" status "$CUR_MNT" --json 2>&1)
	if ! grep -q "\"class\":\"keep\",\"files\":$SHRED_KEEP," <<<"$out"; then
		fail "untouched files not in class keep: $out"
		return 1
	fi
	# As many samples as the sweep gives (~7,000): a p99 of 2,000 is the
	# 20th slowest, and moved 3x between runs.
	drv idle "$BIN/metabench" statlat "$keep" 1 0 "$SHRED_KEEP" 1000 6000 ||
		{ fail "idle statlat: $idle"; return 1; }
	lat=$WORK/statlat.out
	"$BIN/metabench" statlat "$keep" 1 0 "$SHRED_KEEP" 1000 0 > "$lat" 2>&1 &
	local lpid=$!
	BGPIDS+=("$lpid")
	t0=$(now)
	if ! drv out "$BUILD/retentionctl" shred "$CUR_MNT"; then
		kill "$lpid"; wait "$lpid"; BGPIDS=()
		fail "retentionctl shred $CUR_MNT: $out"
		return 1
	fi
	if ! wait_until "$SHRED_TIMEOUT" shred_done; then
		kill "$lpid"; wait "$lpid"; BGPIDS=()
		fail "files left after ${SHRED_TIMEOUT}s: $(shred_remaining)"
		return 1
	fi
	t1=$(now)
	kill "$lpid"; wait "$lpid"; BGPIDS=()
	sweep=$(cat "$lat")
	rec shred.fps "$(fdiv "$SHRED_FILES" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')")"
	rec shred.p50_idle "$(kv p50_us "$idle")"
	rec shred.p99_idle "$(kv p99_us "$idle")"
	rec shred.p50_sweep "$(kv p50_us "$sweep")"
	rec shred.p99_sweep "$(kv p99_us "$sweep")"
	rec shred.p99_ratio "$(fdiv "$(kv p99_us "$sweep")" "$(kv p99_us "$idle")")"
	say "  $(head -n1 <<<"$out")"
	if [[ -n $(ls -A "$root"/d000 2>/dev/null) ]]; then
		fail "expired files still listed under $root after the sweep"
		return 1
	fi
}

SHRED_OK=''
if has "$ONLY" shred; then
	if has "$TARGETS" retentionfs && "$BUILD/retentionctl" shred --help >/dev/null 2>&1; then
		SHRED_OK=1
		printf '[class keep]\nretention = forever\nmatch = keep/**\n\n[class default]\nretention = 1s\n' \
			> "$WORK/policy.ini"
	else
		if has "$TARGETS" retentionfs; then
			echo "shred: n/a (not implemented)"
			NOTES+=("shred: n/a (not implemented: \`retentionctl shred --help\` fails)")
		else
			NOTES+=("shred: n/a (retentionfs not measured)")
		fi
	fi
fi

# run_one WORKLOAD TARGET: a fresh store and mount, the workload, teardown.
CUR_W=''
STATS_AS=''
run_one() {
	CUR_W=$1
	local t=$2 pol='' rc=0
	if [[ $CUR_W == shred ]]; then
		[[ $t == retentionfs && -n $SHRED_OK ]] || return 0
		pol=$WORK/policy.ini
	fi
	say "rep $REP/$REPS: $CUR_W on $t"
	tgt_setup "$t" "$pol" || { tgt_destroy quiet; return 1; }
	STATS_AS=$CUR_W
	"wl_$CUR_W" || rc=1
	if (( rc == 0 )); then
		tgt_stats "$STATS_AS" || rc=1
	fi
	tgt_destroy || rc=1
	return $rc
}

# ---------------------------------------------------------------- header
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
fsinfo=$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")
libfuse=$(pkg-config --modversion fuse3 2>/dev/null || fusermount3 --version 2>&1 | awk '{ print $NF }')
gcv=$(command -v gocryptfs >/dev/null && gocryptfs -version 2>/dev/null | head -n1 | cut -d';' -f1)
rfsv=$(git -C "$SRCROOT" describe --always --dirty --tags 2>/dev/null || echo "no commits yet (working tree)")
# The AEAD microbenchmark behind crypto.h's choice, when it was built.
aead=''
if [[ -x $BIN/aeadbench ]]; then
	aead=$("$BIN/aeadbench" 2>/dev/null | paste -sd ';' | sed 's/;/; /g')
fi
HEADER=$(cat <<EOF
date:     $(date -u '+%Y-%m-%d %H:%M UTC')
machine:  nproc=$(nproc), $cpu_model, $mem RAM, kernel $(uname -r)
work dir: $fsinfo ($BASE); raw = a plain directory there
versions: libfuse $libfuse, ${gcv:-gocryptfs n/a}, retentionfs $rfsv
aead:     ${aead:-n/a} (tests/bench/aeadbench, one core, MB = 10^6 B)
load:     loadavg at start $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)
run:      reps=$REPS${QUICK:+, BENCH_QUICK=1}, targets=$TARGETS, workloads=$ONLY
sizes:    append ${APPEND_PROCS}x${APPEND_LINE} B ${APPEND_MB} MiB; append1 1x${APPEND1_LINE} B ${APPEND1_MB} MiB; append_fsync ${APPEND_PROCS}x${APPEND_LINE} B fsync/${FSYNC_EVERY} ${FSYNC_MB} MiB;
          seq ${SEQ_MB} MiB in $((SEQ_BLOCK / 1024)) KiB; meta ${META_FILES} x ${META_SIZE} B in ${META_DIRS} dirs; rotate ${ROTATE_MB} MiB;
          tree ${TREE_FILES} files of < ${TREE_MAXSIZE} B in ${TREE_DIRS}x8 dirs; scale ${SCALE_OPS} ops at ${SCALE_FILES} vs ${SCALE_BASE} files in ${SCALE_DIRS} dirs;
          shred ${SHRED_FILES} files
EOF
)
printf '%s\n\n' "$HEADER" >&2

# Reference checksum of the generated log (deterministic) for rotate.
if has "$ONLY" rotate; then
	"$BIN/seqbench" genlog "$WORK/ref.log" "$ROTATE_MB" >/dev/null || die "genlog"
	ROTATE_SUM=$(md5sum < "$WORK/ref.log")
	rm -f "$WORK/ref.log"
fi

# The tree, packed once on the work directory, and its checksum.
HAVE_RSYNC=''
if has "$ONLY" tree; then
	"$BIN/metabench" tree "$WORK/tree" "$TREE_DIRS" 1 "$TREE_FILES" "$TREE_MAXSIZE" ||
		die "metabench tree"
	TREE_SUM=$(tree_sum "$WORK/tree")
	tar -C "$WORK" -cf "$WORK/tree.tar" tree || die "tar -c of the tree"
	rm -rf "$WORK/tree"
	if command -v rsync >/dev/null; then
		HAVE_RSYNC=1
	else
		note "tree: rsync missing (apt-get install rsync), rsync step skipped"
	fi
fi

# ---------------------------------------------------------------- main loop
read -r -a TLIST <<<"${TARGETS//,/ }"
for (( REP = 1; REP <= REPS; REP++ )); do
	# Rotate the order of targets every repetition.
	order=()
	for (( i = 0; i < ${#TLIST[@]}; i++ )); do
		order+=("${TLIST[(i + REP - 1) % ${#TLIST[@]}]}")
	done
	for w in ${ONLY//,/ }; do
		for t in "${order[@]}"; do
			run_one "$w" "$t"
		done
	done
done
CUR_W=''

# ---------------------------------------------------------------- table
# id|label|check (r: retentionfs/raw ratio >= x; g: value >= x; l: value <= x)|x
SPEC=$WORK/spec
{
	echo "append.mbps|append, ${APPEND_PROCS} procs x ${APPEND_LINE} B lines (MB/s)|r|0.5"
	echo "append1.mbps|append1, 1 proc x ${APPEND1_LINE} B lines (MB/s)|r|0.5"
	echo "append_fsync.mbps|append_fsync, fsync every ${FSYNC_EVERY} lines (MB/s)|r|0.25"
	echo "seqwrite.mbps|seqwrite ${SEQ_MB} MiB + fsync (MB/s)|r|0.4"
	echo "seqread_cold.mbps|seqread cold (MB/s)|r|0.3"
	echo "seqread_hot.mbps|seqread hot (MB/s)||"
	echo "meta_create.ops|meta create ${META_SIZE} B files (files/s)|r|0.25"
	echo "meta_stat.ops|meta stat (files/s)|r|0.1"
	echo "meta_ls.ops|meta ls -lR (files/s)|r|0.5"
	echo "meta_rm.ops|meta rm (files/s)|r|0.3"
	echo "rotate.mbps|rotate ${ROTATE_MB} MiB: mv, gzip -1, new log (MB/s)|r|0.5"
	echo "tree_untar.ops|tree: tar -x ${TREE_FILES} files (files/s)||"
	echo "tree_cp.ops|tree: cp -r (files/s)||"
	echo "tree_rsync.ops|tree: rsync -a (files/s)||"
	echo "tree_rm.ops|tree: rm -rf of all copies (files/s)||"
	echo "scale_lookup.ratio|scale lookup: ops/s at ${SCALE_FILES} / at ${SCALE_BASE}|g|0.8"
	echo "scale_create.ratio|scale create: ops/s at ${SCALE_FILES} / at ${SCALE_BASE}|g|0.8"
	echo "scale_lookup_small.ops|scale lookup at ${SCALE_BASE} (ops/s)||"
	echo "scale_lookup_big.ops|scale lookup at ${SCALE_FILES} (ops/s)||"
	echo "scale_create_small.ops|scale create at ${SCALE_BASE} (ops/s)||"
	echo "scale_create_big.ops|scale create at ${SCALE_FILES} (ops/s)||"
	echo "scale_populate.ops|scale populate to ${SCALE_FILES} (files/s)||"
	echo "shred.fps|shred ${SHRED_FILES} expired files (files/s)|g|5000"
	echo "shred.p50_idle|stat p50 idle (us)||"
	echo "shred.p50_sweep|stat p50 during sweep (us)||"
	echo "shred.p99_idle|stat p99 idle (us)||"
	echo "shred.p99_sweep|stat p99 during sweep (us)||"
	echo "shred.p99_ratio|stat p99 sweep / idle|l|2"
	for w in append append1 append_fsync seqwrite seqread meta rotate tree scale shred; do
		echo "rss.$w|daemon peak RSS, $w (MiB)|l|32"
	done
	for w in append append1 append_fsync seqwrite seqread meta rotate tree scale shred; do
		echo "cpu.$w|daemon CPU, $w (s)||"
	done
} > "$SPEC"

# Derived per-repetition figures: scale ratios (each target against itself).
awk -F'\t' -v OFS='\t' '
	{ v[$1 SUBSEP $2 SUBSEP $3] = $4; reps[$1]; tg[$3] }
	END {
		for (r in reps) for (t in tg) {
			split("lookup create", k, " ")
			for (j = 1; j <= 2; j++) {
				s = v[r SUBSEP "scale_" k[j] "_small.ops" SUBSEP t]
				b = v[r SUBSEP "scale_" k[j] "_big.ops" SUBSEP t]
				if (s + 0 > 0 && b + 0 > 0)
					print r, "scale_" k[j] ".ratio", t, b / s
			}
		}
	}' "$RES" >> "$RES"
cp "$RES" "$OUT/results.tsv"

TABLE=$(awk -F'\t' -v spec="$SPEC" '
	function isnum(x) { return x ~ /^[0-9.eE+-]+$/ }
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		if (n == 0) return ""
		for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function fmt(x) {
		if (x == "") return "-"
		if (!isnum(x)) return x
		x += 0
		if (x >= 1000) return sprintf("%.0f", x)
		if (x >= 100) return sprintf("%.0f", x)
		if (x >= 10) return sprintf("%.1f", x)
		return sprintf("%.2f", x)
	}
	{
		key = $2 SUBSEP $3
		if ($4 == "FAIL") { failed[key] = 1; next }
		vals[key] = vals[key] " " $4
		v[$1 SUBSEP key] = $4; reps[$1]
	}
	END {
		print "| figure | raw | retentionfs | rfs/raw | target | gocryptfs | gcfs/raw |"
		print "|---|---:|---:|---:|---|---:|---:|"
		while ((getline line < spec) > 0) {
			split(line, s, "|"); id = s[1]
			any = 0
			for (k in vals) { split(k, kk, SUBSEP); if (kk[1] == id) any = 1 }
			for (k in failed) { split(k, kk, SUBSEP); if (kk[1] == id) any = 1 }
			if (!any) continue
			row = "| " s[2]
			for (ti = 1; ti <= 3; ti++) {
				t = ti == 1 ? "raw" : ti == 2 ? "retentionfs" : "gocryptfs"
				key = id SUBSEP t
				m = (key in failed) ? "FAIL" : median(vals[key])
				row = row " | " fmt(m)
				if (t == "raw") continue
				rl = ""
				for (r in reps) {
					a = v[r SUBSEP id SUBSEP t]; b = v[r SUBSEP id SUBSEP "raw"]
					if (a != "" && b + 0 > 0) rl = rl " " a / b
				}
				# Rows checked on the value itself (scale ratios, RSS,
				# shred) compare a target with itself, not with raw.
				ratio = (key in failed || s[3] == "g" || s[3] == "l") ? "" : median(rl)
				row = row " | " (ratio == "" ? "-" : sprintf("%.2f", ratio))
				if (t == "retentionfs") {
					chk = ""
					if (s[3] == "r") {
						chk = ">= " s[4] " x raw"
						x = ratio
					} else if (s[3] == "g") {
						chk = ">= " s[4]; x = m
					} else if (s[3] == "l") {
						chk = "<= " s[4]; x = m
					}
					if (chk != "") {
						if (key in failed) chk = chk " MISS (failed)"
						else if (x == "" || !isnum(x)) chk = chk " (n/a)"
						else if ((s[3] == "l" && x + 0 <= s[4] + 0) ||
						    (s[3] != "l" && x + 0 >= s[4] + 0)) chk = chk " PASS"
						else chk = chk " MISS"
					}
					row = row " | " chk
				}
			}
			print row " |"
		}
	}' "$RES")

{
	echo '```'
	echo "$HEADER"
	echo '```'
	echo
	echo "$TABLE"
	echo
	echo "Medians over $REPS repetition(s); ratios to raw are taken within each repetition, then the median."
	echo "Finished $(date -u '+%Y-%m-%d %H:%M UTC'), loadavg at end $(cut -d' ' -f1-3 /proc/loadavg)."
	if (( ${#NOTES[@]} )); then
		echo
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
	if (( ${#FAILS[@]} )); then
		echo
		echo "Failures:"
		for n in "${FAILS[@]}"; do echo "- $n"; done
	fi
} > "$OUT/results.md"
echo
cat "$OUT/results.md"
say "table written to $OUT/results.md, samples to $OUT/results.tsv"
(( ${#FAILS[@]} == 0 ))
