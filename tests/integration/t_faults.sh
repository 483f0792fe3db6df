#!/usr/bin/env bash
# t_faults.sh - real faults, no fault-injection build:
#   1. the backing filesystem fills up (a small tmpfs), then space returns;
#      1b. a file whose write was cut by ENOSPC must stay usable;
#      1c. destroying a sparse object with little space left must free it;
#      1d. the catalog's own log must not fill a small backing;
#      1e. an allocation that fills the backing must not cost the changes
#          waiting to be committed;
#      1f. nor may another program filling it;
#      1g. freeing space (truncating, emptying the trash) on a backing that
#          another program keeps full;
#   2. the backing filesystem becomes read-only;
#      2b. a copy of a live store (commits in its WAL) on read-only media;
#   3. the key store (-o keystore=DIR) disappears, live and between mounts;
#   4. another process tries to lock the SQLite catalog of a live mount;
#   5. control-channel clients that misbehave (garbage, partial requests,
#      killed, idle, trickling, never reading the reply);
#   6. the daemon is SIGKILLed mid-write (stale mount, lazy unmount, remount).
# Needs root (tmpfs and remounts).  Every wait is bounded; about 70 s.
. "$(dirname "$0")/lib.sh"

is_raw && skip_all "t_faults injects faults under the daemon (RFS_TEST_RAW=1)"
[ "$(id -u)" = 0 ] || skip_all "t_faults needs root (tmpfs mounts)"
cd "$T" || exit 1

CTL=$BUILD/retentionctl
TD=$T/td                # the small tmpfs holding the stores of parts 1-2
TD_MOUNTED=0
TD2=$T/td2              # part 1e's tmpfs
HELPERS=()              # background helper processes (python clients)

faults_cleanup() {
	local p
	for p in "${HELPERS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	touch "$T/release" 2>/dev/null
	# The daemons hold files on the tmpfs: detach and end them first.
	rfs_stop_daemons
	if [ "$TD_MOUNTED" = 1 ]; then
		umount "$TD" 2>/dev/null || umount -l "$TD" 2>/dev/null
	fi
	if mountpoint -q "$TD2" 2>/dev/null; then
		umount "$TD2" 2>/dev/null || umount -l "$TD2" 2>/dev/null
	fi
	rfs_cleanup
}
trap faults_cleanup EXIT

# ---------------------------------------------------------------- helpers

PY_TRY='
try:
    exec(compile(sys.argv[1], "<test>", "exec"))
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, "errno %s" % e.errno) if e.errno else repr(e))
'

# terrno SECS CODE [ARGS...]: pyerrno under a time limit.  Sets GOT (OK, an
# errno name, or TIMEOUT) and MS (elapsed milliseconds).
terrno() {
	local secs=$1 code=$2 t0 rc
	shift 2
	t0=$(rfs_now_us)
	GOT=$(timeout -k 2 "$secs" "$RFS_PY" -c "$RFS_PY_PRELUDE$PY_TRY" "$code" "$@" 2>&1)
	rc=$?
	MS=$((($(rfs_now_us) - t0) / 1000))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		GOT=TIMEOUT
	fi
	GOT=$(printf '%s' "$GOT" | tail -n 1)
}

# check_outcome NAME "ALLOWED WORDS" MAXMS: after terrno, GOT must be one
# of the allowed words and the call must have taken at most MAXMS.
check_outcome() {
	local name=$1 allowed=$2 maxms=$3 w
	for w in $allowed; do
		if [ "$GOT" = "$w" ]; then
			if [ "$MS" -le "$maxms" ]; then
				ok "$name: $GOT in ${MS} ms"
				return 0
			fi
			fail "$name" "got $GOT, but after ${MS} ms (limit ${maxms} ms)"
			return 1
		fi
	done
	fail "$name" "expected one of: $allowed (within ${maxms} ms)" "got: $GOT after ${MS} ms"
	return 1
}

# tctl SECS ARGS...: retentionctl under a time limit; sets CTL_RC, MS, CTL_OUT.
tctl() {
	local secs=$1 t0
	shift
	t0=$(rfs_now_us)
	CTL_OUT=$(timeout -k 2 "$secs" "$CTL" "$@" 2>&1 </dev/null)
	CTL_RC=$?
	MS=$((($(rfs_now_us) - t0) / 1000))
}

# bgpy CODE [ARGS...]: runs Python CODE in the background as a helper; BGPID.
bgpy() {
	local code=$1
	shift
	( exec "$RFS_PY" -c "$RFS_PY_PRELUDE
exec(compile(sys.argv[1], '<test>', 'exec'))" "$code" "$@" </dev/null >/dev/null 2>&1 ) &
	BGPID=$!
	disown "$BGPID"      # no "Killed" notices; stop_helper and cleanup end it
	HELPERS+=("$BGPID")
}

helper_gone() { ! kill -0 "$1" 2>/dev/null; }

# stop_helper PID: asks helpers to go (release flag), then kills PID.
stop_helper() {
	touch "$T/release"
	poll_until 5 helper_gone "$1" || kill -KILL "$1" 2>/dev/null
	rm -f "$T/release"
}

# fresh_sha FILE: sha256 of FILE read through the daemon (page cache dropped).
fresh_sha() {
	pyrun 'import hashlib
fd = os.open(A[0], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
h = hashlib.sha256()
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    h.update(b)
os.close(fd)
print(h.hexdigest())' "$1" 2>&1
}

# fs_bytes DIR avail|used: bytes available to root / used on DIR's filesystem.
fs_bytes() {
	pyrun 's = os.statvfs(A[0])
print(s.f_bavail * s.f_frsize if A[1] == "avail" else (s.f_blocks - s.f_bfree) * s.f_frsize)' "$1" "$2"
}

# fill_fs DIR KEEP: a file outside any store leaving KEEP bytes free.
fill_fs() {
	local avail
	avail=$(fs_bytes "$1" avail)
	if [ "$avail" -gt "$2" ]; then
		fallocate -l $((avail - $2)) "$1/filler" 2>/dev/null ||
		    head -c $((avail - $2)) /dev/zero >"$1/filler" 2>/dev/null
	fi
}

used_dropped() { [ $((USED_BEFORE - $(fs_bytes "$TD" used))) -ge $((4 << 20)) ]; }

# write_fill PATH TOTAL [append]: writes TOTAL bytes in 1 MiB chunks until
# an error, then fsync and close; prints "written=N" and stage:ERRNO words.
PY_FILL='
name = lambda e: errno.errorcode.get(e.errno, str(e.errno))
flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if len(A) > 2 else os.O_TRUNC)
fd = os.open(A[0], flags, 0o644)
buf = os.urandom(1 << 20)
n, where = 0, []
try:
    while n < int(A[1]):
        n += os.write(fd, buf)
except OSError as e:
    where.append("write:" + name(e))
try:
    os.fsync(fd)
except OSError as e:
    where.append("fsync:" + name(e))
try:
    os.close(fd)
except OSError as e:
    where.append("close:" + name(e))
print("written=%d %s" % (n, " ".join(where) or "no-error-at-all"))
'

# check_enospc NAME OUT: OUT (from PY_FILL) reports ENOSPC and nothing else.
check_enospc() {
	local others
	others=$(printf '%s\n' "$2" | grep -oE '[a-z]+:E[A-Z0-9]+' | grep -v ':ENOSPC$')
	if [[ $2 == *ENOSPC* ]] && [ -z "$others" ]; then
		ok "$1: $2"
	else
		fail "$1" "expected ENOSPC at write, fsync or close (and no other error)" "got: $2"
	fi
}

# try_mount BACKING MNT [EXTRA...]: like rfs_mount, but a daemon that exits
# is a result, not a failure.  TRY_STATE = mounted | exited | hung.
try_mount() {
	local backing=$1 mnt=$2 opts log pid
	shift 2
	opts=$(rfs_mount_opts "$@")
	RFS_NLOG=$((RFS_NLOG + 1))
	log=$T/daemon.$RFS_NLOG.log
	"$BUILD/retentionfs" "$backing" "$mnt" -f -o "$opts" >"$log" 2>&1 &
	pid=$!
	RFS_PIDS+=("$pid")
	RFS_MOUNTS+=("$mnt")
	TRY_LOG=$log TRY_RC=
	if ! poll_until 30 rfs_mounted_or_dead "$mnt" "$pid"; then
		TRY_STATE=hung
		RFS_PID_OF[$mnt]=$pid
		return
	fi
	if mountpoint -q "$mnt"; then
		TRY_STATE=mounted
		RFS_PID=$pid
		RFS_PID_OF[$mnt]=$pid
		RFS_CHILD_OF[$mnt]=1
		RFS_LOG_OF[$mnt]=$log
		return
	fi
	wait "$pid"
	TRY_RC=$?
	rfs_forget_pid "$pid"
	TRY_STATE=exited
}

mount_opts_of() { awk -v m="$1" '$2 == m { print $4 }' /proc/mounts | tail -n 1; }

daemon_alive() {
	if rfs_pid_alive "$1"; then
		ok "$2: the daemon is alive"
	else
		fail "$2: the daemon is alive" "pid $1 is gone" "$(rfs_log_tail "${3:-}")"
	fi
}

fsck_store() {   # NAME BACKING KEY [--keystore DIR]
	local name=$1
	shift
	check "$name" timeout 60 "$CTL" fsck --store "$@"
}

# ======================================================= 1. backing full

mkdir -p "$TD"
if ! mount -t tmpfs -o size=8m,mode=0700 tmpfs "$TD" 2>"$T/tmpfs.err"; then
	skip_all "cannot mount a tmpfs: $(cat "$T/tmpfs.err")"
fi
TD_MOUNTED=1

B1=$TD/b K1=$T/key1 M1=$T/m1
mkdir -p "$M1"
rfs_init "$B1" "$K1" || abort "init on the tmpfs failed"
rfs_mount "$B1" "$M1" || abort "mount failed"
PID1=$RFS_PID LOG1=${RFS_LOG_OF[$M1]}

for i in 1 2 3; do
	head -c 100000 /dev/urandom >"$T/early$i"
done
check "early files written and fsynced" pyrun '
for i in (1, 2, 3):
    src = open(A[1] + "/early%d" % i, "rb").read()
    fd = os.open(A[0] + "/early%d" % i, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, src)
    os.fsync(fd)
    os.close(fd)' "$M1" "$T"
early_ok() {    # DIR: the three early files read back through the daemon
	local i
	for i in 1 2 3; do
		[ "$(fresh_sha "$1/early$i")" = "$(sha "$T/early$i")" ] || return 1
	done
}

# 16 MiB into an 8 MiB filesystem.  With the writeback cache write() itself
# may succeed; the error must then come at fsync or close.
FILL=$(timeout -k 2 60 "$RFS_PY" -c "$RFS_PY_PRELUDE$PY_FILL" - "$M1/big" $((16 << 20)) 2>&1)
check_enospc "filling the backing: ENOSPC surfaces (write/fsync/close)" "$FILL"
check_sh "the backing filesystem is full (< 2 MiB free: the catalog gives its WAL's space back)" '[ "$(fs_bytes "$TD" avail)" -lt $((2 << 20)) ]'

terrno 15 'open(A[0], "w").close()' "$M1/new-while-full"
check_outcome "while full: create fails cleanly" "ENOSPC EIO OK" 10000
terrno 15 'os.mkdir(A[0])' "$M1/dir-while-full"
check_outcome "while full: mkdir fails cleanly" "ENOSPC EIO OK" 10000
terrno 15 'os.setxattr(A[0], "user.note", b"n" * 200)' "$M1/early1"
check_outcome "while full: setxattr fails cleanly" "ENOSPC EIO OK" 10000
check "while full: the early files read back right" early_ok "$M1"
tctl 15 status "$M1"
check_sh "while full: retentionctl status answers (${MS} ms)" '[ "$CTL_RC" = 0 ]'
daemon_alive "$PID1" "while full" "$LOG1"

# Deleting is how a user frees space: it must work on a full backing (the
# file only moves to the trash, which is then emptied).
terrno 15 'os.unlink(A[0])' "$M1/big"
if ! check_outcome "while full: rm big (to the trash) works" "OK" 10000; then
	echo "note: rm on the full store gave $GOT; growing the tmpfs to 24m (an admin adding space) to go on"
	mount -o remount,size=24m "$TD"
	terrno 15 'os.unlink(A[0])' "$M1/big"
	check_outcome "after adding space: rm big works" "OK" 10000
fi
USED_BEFORE=$(fs_bytes "$TD" used)
tctl 60 trash empty "$M1" --yes
check_sh "trash empty --yes exits 0 ($CTL_OUT)" '[ "$CTL_RC" = 0 ]'
if poll_until 10 used_dropped; then
	ok "trash empty gave the big file's space back"
else
	fail "trash empty gave the big file's space back" \
	    "used before: $USED_BEFORE bytes, now: $(fs_bytes "$TD" used)" \
	    "$(find "$B1/objects" -type f -size +1M -printf '%p %s bytes, %b blocks\n')"
fi
head -c 300000 /dev/urandom >"$T/after"
check "after the trash is emptied: a new file can be written and fsynced" pyrun '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open(A[1], "rb").read()); os.fsync(fd); os.close(fd)' "$M1/after" "$T/after"
check_eq "... and reads back" "$(sha "$T/after")" "$(fresh_sha "$M1/after")"
daemon_alive "$PID1" "after the full episode" "$LOG1"
rfs_umount "$M1"
fsck_store "fsck after the full episode exits 0" "$B1" --keyfile "$K1"
if rfs_mount "$B1" "$M1"; then
	check "remount: the early files match their checksums" early_ok "$M1"
	check_eq "remount: the file written after recovery matches" "$(sha "$T/after")" "$(fresh_sha "$M1/after")"
	rfs_umount "$M1"
fi

# ================================================== 2. read-only backing

if mount -o remount,ro "$TD"; then
	try_mount "$B1" "$M1"
	case $TRY_STATE in
	exited)
		check_sh "ro backing, rw mount: refused (exit $TRY_RC) with one line: $(head -n 1 "$TRY_LOG")" \
		    '[ "$TRY_RC" -ne 0 ] && [ "$(grep -c . "$TRY_LOG")" = 1 ] && ! mountpoint -q "$M1" ||
		    { echo "exit $TRY_RC, output:"; cat "$TRY_LOG"; false; }'
		;;
	hung)
		fail "ro backing, rw mount: neither mounted nor exited within 30 s" "$(rfs_log_tail "$TRY_LOG")"
		;;
	mounted)
		opts=$(mount_opts_of "$M1")
		check_sh "ro backing, rw mount: refused with one line, or mounted read-only (mount options: $opts)" \
		    '[[ ,$opts, == *,ro,* ]]'
		terrno 15 'open(A[0], "w").close()' "$M1/new-on-ro"
		check_outcome "ro backing, rw mount: create gives EROFS" "EROFS" 10000
		terrno 15 'fd = os.open(A[0], os.O_WRONLY | os.O_APPEND); os.write(fd, b"lost?"); os.close(fd)' "$M1/early2"
		check_outcome "ro backing, rw mount: append + close (no fsync) reports an error" "EROFS EIO EBADF" 10000
		check "ro backing, rw mount: the early files read back right" early_ok "$M1"
		rfs_umount "$M1"
		;;
	esac
	if rfs_mount "$B1" "$M1" ro; then
		check "ro backing, -o ro: the early files read back right" early_ok "$M1"
		terrno 15 'open(A[0], "w").close()' "$M1/new-on-ro"
		check_outcome "ro backing, -o ro: create gives EROFS" "EROFS" 10000
		tctl 15 status "$M1"
		check_sh "ro backing, -o ro: status answers" '[ "$CTL_RC" = 0 ]'
		rfs_umount "$M1"
	fi
	mount -o remount,rw "$TD"
	fsck_store "fsck after the read-only episode exits 0" "$B1" --keyfile "$K1"
else
	fail "mount -o remount,ro $TD"
fi

# ========================== 1b, 1c. a write cut by ENOSPC; sparse shred

B2=$TD/b2 K2=$T/key2
rfs_init "$B2" "$K2"
if rfs_mount "$B2" "$M1"; then
	head -c 12288 /dev/urandom >"$T/applog.head"
	check "applog: 12 KiB written and fsynced" pyrun '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, open(A[1], "rb").read()); os.fsync(fd); os.close(fd)' "$M1/applog" "$T/applog.head"
	fill_fs "$TD" $((96 << 10))
	FILL=$(timeout -k 2 60 "$RFS_PY" -c "$RFS_PY_PRELUDE$PY_FILL" - "$M1/applog" $((1 << 20)) append 2>&1)
	check_enospc "applog: a 1 MiB append with 96 KiB free hits ENOSPC" "$FILL"
	rm -f "$TD/filler"
	terrno 15 'fd = os.open(A[0], os.O_WRONLY | os.O_APPEND); os.write(fd, b"after-enospc\n"); os.fsync(fd); os.close(fd)' "$M1/applog"
	check_outcome "applog: once space is back, append + fsync works" "OK" 10000
	terrno 15 '
fd = os.open(A[0], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
data = b""
while True:
    b = os.read(fd, 1 << 16)
    if not b:
        break
    data += b
assert data[:12288] == open(A[1], "rb").read(), "the fsynced head changed"
assert data.endswith(b"after-enospc\n"), "the last append is missing"' "$M1/applog" "$T/applog.head"
	check_outcome "applog: the whole file reads back (fsynced head intact, no EIO)" "OK" 10000

	check "sparse: 1 byte at 0 and 1 byte at 6 MiB, fsynced" pyrun '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b"s", 0); os.pwrite(fd, b"e", 6 << 20); os.fsync(fd); os.close(fd)' "$M1/sparse"
	check "sparse: rm (to the trash)" rm "$M1/sparse"
	fill_fs "$TD" $((512 << 10))
	tctl 60 trash empty "$M1" --yes
	check_sh "sparse: trash empty with 512 KiB free exits 0 ($CTL_OUT)" '[ "$CTL_RC" = 0 ]'
	check_sh "sparse: its object is gone from the backing" '
	out=$(find "$B2/objects" -type f -size +4M -printf "%p: %s bytes, %b blocks\n")
	[ -z "$out" ] || { echo "left behind: $out"; false; }'
	rm -f "$TD/filler"
	rfs_umount "$M1"
	fsck_store "fsck after the cut write and the sparse shred exits 0" "$B2" --keyfile "$K2"
fi

# ========================== 1d. the catalog's WAL on a small backing
# Every change the catalog commits is appended to its WAL until a
# checkpoint lets the WAL start over.  SQLite checkpoints by page count, and
# 64 MiB of WAL (where the daemon checkpoints on a roomy disk) would not fit
# here: the WAL may take only a share of the free space.

B3=$TD/b3 K3=$T/key3
rfs_init "$B3" "$K3"
if rfs_mount "$B3" "$M1"; then
	FREE3=$(fs_bytes "$TD" avail)
	terrno 120 '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644); os.close(fd)
for i in range(4000):
    os.chmod(A[0], 0o600 if i % 2 else 0o644)
    os.utime(A[0], (i, i))' "$M1/churn"
	check_outcome "4,000 chmod + utime (8,000 catalog commits) with $((FREE3 >> 10)) KiB free" "OK" 120000
	check_sh "the WAL stayed under a quarter of the free space" '
	wal=$(stat -c %s "$B3/catalog.db-wal" 2>/dev/null || echo 0)
	[ "$wal" -lt $((FREE3 / 4)) ] || { echo "WAL $wal bytes, $FREE3 free at the start"; false; }'
	check_eq "the last utime is the file's mtime" "3999" "$(stat -c %Y "$M1/churn")"
	daemon_alive "$RFS_PID" "after the churn" "${RFS_LOG_OF[$M1]}"
	rfs_umount "$M1"
	fsck_store "fsck after the churn exits 0" "$B3" --keyfile "$K3"
	rm -rf "$B3"
fi

# ================== 1e, 1f. the backing fills while changes are pending
# Catalog changes wait in a batch (here for up to 10 minutes, -o
# commit_ms); a COMMIT that fails for space is rolled back whole by SQLite.
# 1e: an allocation through the mount, which can take all the space left
# at once, commits what is pending first.  1f: another program takes every
# byte left; the catalog keeps space allocated past its WAL for its
# commits.  288 MiB of tmpfs: a batch opens only with more than 256 MiB free.

fill_by_allocation() {
	# Objects take 4,136 bytes of backing per 4,096 of file.
	local hog=$(( ($(fs_bytes "$TD2" avail) - (16 << 10)) / 4136 * 4096 ))
	terrno 60 '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644)
os.posix_fallocate(fd, 0, int(A[1]))
os.close(fd)' "$M1/hog" "$hog"
	# ENOSPC when committing the batch took what was measured free.
	check_outcome "fallocate of all but ~16 KiB of the backing" "OK ENOSPC" 60000
}
fill_from_outside() {
	fill_fs "$TD2" 0
	check_sh "another program filled the backing" '[ "$(fs_bytes "$TD2" avail)" -lt 4096 ]'
}

# pending_batch_survives PART FILL: 20 files whose catalog rows wait in a
# batch, then FILL; after a remount all 20 must be there, fsck clean.
pending_batch_survives() {
	local part=$1 fill=$2 b=$TD2/b$1 k=$T/key$1
	rfs_init "$b" "$k"
	rfs_mount "$b" "$M1" commit_ms=600000 || return
	check "$part: 20 files written, their catalog rows waiting in a batch" pyrun '
for i in range(20):
    with open(A[0] + "/pending%02d" % i, "w") as f:
        f.write("pending %d\n" % i)' "$M1"
	"$fill"
	rfs_umount "$M1"
	rm -f "$TD2/filler"
	if rfs_mount "$b" "$M1"; then
		check_sh "$part: after a remount the 20 files are there, with their contents" '
		for i in $(seq 0 19); do
			f=$(printf "%s/pending%02d" "$M1" "$i")
			[ "$(cat "$f" 2>&1)" = "pending $i" ] || { echo "$f: $(cat "$f" 2>&1)"; exit 1; }
		done'
		rfs_umount "$M1"
	fi
	fsck_store "$part: fsck exits 0" "$b" --keyfile "$k"
	rm -rf "$b"
}

mkdir -p "$TD2"
if mount -t tmpfs -o size=288m,mode=0700 tmpfs "$TD2"; then
	pending_batch_survives 1e fill_by_allocation
	pending_batch_survives 1f fill_from_outside
	umount "$TD2"
else
	fail "mount a 288 MiB tmpfs for parts 1e and 1f"
fi

# ================== 1g. freeing space on a backing that stays full
# Another program takes every byte the store frees.  A delete moves a file
# to the trash and frees nothing; cutting a file short and emptying the
# trash free space, but each must first commit to the catalog, which needs
# space: the reserve's second half is kept for them (a cut by `: >` once
# failed with ENOSPC here, leaving the file whole).

fill_up() {     # N: a filler taking all that is free on TD2
	local a
	a=$(fs_bytes "$TD2" avail)
	[ "$a" -le 0 ] || fallocate -l "$a" "$TD2/filler.$1"
}
if mount -t tmpfs -o size=16m,mode=0700 tmpfs "$TD2"; then
	B7=$TD2/b K7=$T/key1g
	rfs_init "$B7" "$K7"
	if rfs_mount "$B7" "$M1"; then
		check "1g: files written (a 6 MiB one removed to the trash)" pyrun '
for n, size in (("small1", 10), ("small2", 10), ("log", 2 << 20),
    ("data2", 1 << 20), ("data", 6 << 20)):
    with open(A[0] + "/" + n, "wb") as f:
        f.write(os.urandom(size))
        os.fsync(f.fileno())
os.unlink(A[0] + "/data")' "$M1"
		fill_up 1
		check_sh "1g: the backing is full" '[ "$(fs_bytes "$TD2" avail)" = 0 ]'
		terrno 15 'os.unlink(A[0])' "$M1/small1"
		check_outcome "1g: rm on the full backing" "OK" 10000
		fill_up 2
		terrno 15 'open(A[0], "w").close()' "$M1/log"
		check_outcome "1g: ': > log' (2 MiB) on the full backing" "OK" 10000
		check_eq "1g: ... and log is empty" 0 "$(stat -c %s "$M1/log")"
		fill_up 3
		terrno 15 'os.truncate(A[0], 1000)' "$M1/data2"
		check_outcome "1g: truncate -s 1000 of a 1 MiB file on the full backing" "OK" 10000
		check_eq "1g: ... and it is 1000 bytes" 1000 "$(stat -c %s "$M1/data2")"
		fill_up 4
		USED_BEFORE=$(fs_bytes "$TD2" used)
		tctl 60 trash empty "$M1" --yes
		check_sh "1g: trash empty on the full backing exits 0 ($CTL_OUT)" '
		[ "$CTL_RC" = 0 ] && [[ $CTL_OUT == "destroyed 2 file(s)"* ]]'
		check_sh "1g: ... gave the 6 MiB file's space back" '
		[ $((USED_BEFORE - $(fs_bytes "$TD2" used))) -ge $((4 << 20)) ]'
		check_eq "1g: ... and refilled the reserve from it" 2097152 "$(stat -c %s "$B7/reserve")"
		rfs_umount "$M1"
		# An offline reader needed space for SQLite's -shm file.
		fill_up 5
		fsck_store "1g: fsck of the store on the full backing exits 0" "$B7" --keyfile "$K7"
	fi
	# A store mounted on a backing that filled while it was not: a first
	# read sets the atime (relatime), which cannot be committed; the
	# reader's close must not fail for it (cat failed with ENOSPC).
	rm -rf "$B7" "$TD2"/filler.*
	rfs_init "$B7" "$K7"
	if rfs_mount "$B7" "$M1"; then
		check "1g: a new store, 3 files" pyrun '
for i in (1, 2, 3):
    p = A[0] + "/f%d" % i
    with open(p, "w") as f:
        f.write("%d\n" % i)
    os.utime(p, (1, 1000))      # an atime the first read must update' "$M1"
		rfs_umount "$M1"
		# ... and whose undo log (264 KiB) cannot be made there: the
		# mount goes on without it.
		rm -f "$B7/undo"
		fill_up 6
		if rfs_mount "$B7" "$M1"; then
			terrno 15 'fd = os.open(A[0], os.O_RDONLY); assert os.read(fd, 10) == b"1\n"; os.close(fd)' "$M1/f1"
			check_outcome "1g: mounted on the full backing: reading a file" "OK" 10000
			check_sh "1g: ... and listing the directory" 'ls -la "$M1" >/dev/null'
			rfs_umount "$M1"
		else
			fail "1g: mount on the full backing, without room for the undo log"
		fi
	fi
	umount "$TD2"
else
	fail "mount a 16 MiB tmpfs for part 1g"
fi

# ================= 2b. a copy of a live store, on read-only media
# A copy taken while the store is mounted (cp -a, a snapshot) has commits
# in its WAL.  On read-only media SQLite can make no -shm file, and an
# immutable open skips the WAL: the copy mounted with -o ro listed nothing.

if mount -t tmpfs -o size=32m,mode=0700 tmpfs "$TD2"; then
	B8=$TD2/live K8=$T/key2b
	rfs_init "$B8" "$K8"
	if rfs_mount "$B8" "$M1"; then
		check "2b: five files written and synced" pyrun '
for i in range(5):
    with open(A[0] + "/w%d" % i, "w") as f:
        f.write("written %d\n" % i)
        os.fsync(f.fileno())' "$M1"
		check "2b: cp -a of the live store" cp -a "$B8" "$TD2/copy"
		rfs_umount "$M1"
		check_sh "2b: the copy's WAL holds commits" '[ -s "$TD2/copy/catalog.db-wal" ]'
		mount -o remount,ro "$TD2"
		if rfs_mount "$TD2/copy" "$M1" ro; then
			check_sh "2b: the read-only copy lists and reads the five files" '
			for i in 0 1 2 3 4; do
				[ "$(cat "$M1/w$i" 2>&1)" = "written $i" ] || { ls -la "$M1"; exit 1; }
			done'
			rfs_umount "$M1"
		fi
		fsck_store "2b: fsck of the read-only copy exits 0" "$TD2/copy" --keyfile "$K8"
		check_sh "2b: no private copy of the catalog left behind" '
		[ -z "$(ls -d "${TMPDIR:-/tmp}"/rfs-catalog.* 2>/dev/null)" ]'
	fi
	umount "$TD2"
else
	fail "mount a 32 MiB tmpfs for part 2b"
fi

# ===================================================== 3. key store gone

BK=$T/bk KK=$T/keyk KD=$T/kd MK=$T/mk P3=$T/classes.ini
mkdir -p "$KD" "$MK"
cat >"$P3" <<'EOF'
[keys]
period = 1y
[class a]
retention = forever
match = *.a
[class b]
retention = forever
match = *.b
[class c]
retention = forever
match = *.c
[class d]
retention = forever
match = *.d
[class default]
retention = forever
EOF
check "init --keystore" "$CTL" init "$BK" --keyfile "$KK" --keystore "$KD"
RFS_KEY=$KK
if rfs_mount "$BK" "$MK" "keystore=$KD" "policy=$P3"; then
	PIDK=$RFS_PID LOGK=${RFS_LOG_OF[$MK]}
	check "class a and b files written" pyrun '
for n, t in (("f.a", b"alpha\n"), ("g.b", b"bravo\n")):
    fd = os.open(A[0] + "/" + n, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, t); os.fsync(fd); os.close(fd)' "$MK"
	check_sh "the key store holds the windows of a and b" 'ls "$KD" | grep -q "^a@" && ls "$KD" | grep -q "^b@"'
	# A reader that opened f.a before the key store goes away.
	bgpy '
import time
fd = os.open(A[0], os.O_RDONLY)
open(A[1], "w").write("open\n")
t = time.time() + 60
while not os.path.exists(A[2]) and time.time() < t:
    time.sleep(0.02)
try:
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    r = "READ " + os.pread(fd, 100, 0).decode(errors="replace").strip()
except OSError as e:
    r = "ERR " + errno.errorcode.get(e.errno, str(e.errno))
open(A[3], "w").write(r + "\n")' "$MK/f.a" "$T/holder.ready" "$T/holder.go" "$T/holder.out"
	HOLDER=$BGPID
	wait_for 10 test -s "$T/holder.ready"

	# 3a: renamed.  The daemon holds an fd to the directory, so it follows.
	mv "$KD" "$KD.gone"
	terrno 15 'open(A[0], "w").write("charlie\n")' "$MK/x.c"
	X_C=$GOT
	mv "$KD.gone" "$KD"
	check_outcome "key store renamed away: new class c file (observed outcome)" "OK EIO" 10000
	if [ "$X_C" = OK ]; then
		check_sh "... the daemon followed the renamed directory: c's key is in KDIR after mv back" \
		    'ls "$KD" | grep -q "^c@" && [ "$(cat "$MK/x.c")" = charlie ]'
	fi

	# 3b: removed (its keys copied away first, then put back).
	mkdir -p "$KD.saved"
	cp -a "$KD/." "$KD.saved/"
	rm -rf "$KD"
	terrno 15 'open(A[0], "w").write("delta\n")' "$MK/y.d"
	check_outcome "key store removed: new class d file fails with EIO" "EIO" 10000
	check_sh "key store removed: the failed create left no name" '[ ! -e "$MK/y.d" ]'
	touch "$T/holder.go"
	wait_for 10 test -s "$T/holder.out"
	check_eq "key store removed: a descriptor opened before still reads" "READ alpha" "$(cat "$T/holder.out" 2>&1)"
	terrno 15 'open(A[0]).read()' "$MK/g.b"
	check_outcome "key store removed: an existing file whose window key is cached (observed)" "OK EIO" 10000
	daemon_alive "$PIDK" "key store removed" "$LOGK"
	mkdir "$KD"
	cp -a "$KD.saved/." "$KD/"
	terrno 15 'open(A[0], "w").write("delta\n")' "$MK/z.d"
	check_outcome "key store restored (same path): new class d file works again" "OK" 10000
	rfs_umount "$MK"
fi

# 3c: the key store is missing when the daemon starts (a key disk that did
# not mount).  Files must not become unreadable once it is back.
mkdir -p "$KD.away"
mv "$KD"/* "$KD.away/" 2>/dev/null
try_mount "$BK" "$MK" "keystore=$KD" "policy=$P3"
case $TRY_STATE in
exited)
	ok "empty key store at mount: refused (exit $TRY_RC): $(head -n 1 "$TRY_LOG")"
	;;
hung)
	fail "empty key store at mount: neither mounted nor exited within 30 s"
	;;
mounted)
	ok "empty key store at mount: mounted (the daemon cannot tell)"
	terrno 15 'open(A[0]).read()' "$MK/f.a"
	check_outcome "empty key store: reading f.a gives EIO" "EIO" 10000
	terrno 15 'open(A[0], "w").write("new in a\n")' "$MK/n.a"
	check_outcome "empty key store: a new file in window a@ (which exists, elsewhere) gives EIO" "EIO" 10000
	check_sh "empty key store: no second key was minted for an existing window" \
	    '! ls "$KD" | grep -q "^a@"'
	rfs_umount "$MK"
	;;
esac
cp -f "$KD.away"/* "$KD/"
if rfs_mount "$BK" "$MK" "keystore=$KD" "policy=$P3"; then
	bad=
	for f in "$MK"/*; do
		head -c 1 "$f" >/dev/null 2>&1 || bad="$bad ${f##*/}"
	done
	check_eq "key store restored: every file is readable" "" "$bad"
	rfs_umount "$MK"
fi
fsck_store "fsck after the key store episodes exits 0" "$BK" --keyfile "$KK" --keystore "$KD"

# ==================================================== 4. catalog locked
# The daemon owns its catalog: SQLite's exclusive locking mode holds the
# lock for the life of the mount, so no other process can lock, change or
# even read the live catalog (the store's flock keeps our own tools out;
# this keeps out everything else).  Unmounted, the catalog is free again.

BC=$T/bc KC=$T/keyc MC=$T/mc
mkdir -p "$MC"
rfs_init "$BC" "$KC"
rfs_mount "$BC" "$MC" || abort "mount of the third store failed"
PIDC=$RFS_PID LOGC=${RFS_LOG_OF[$MC]}
check "pre: written and fsynced" pyrun '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"hello\n"); os.fsync(fd); os.close(fd)' "$MC/pre"

PY_LOCK='
import sqlite3
c = sqlite3.connect(A[0], timeout=0.5, isolation_level=None)
for sql in ("BEGIN IMMEDIATE", "SELECT count(*) FROM inode"):
    try:
        c.execute(sql)
        print("allowed")
    except sqlite3.OperationalError as e:
        print("refused (%s)" % e)
c.close()'
check_eq "catalog locked: another process can neither lock nor read the live catalog" \
    "refused (database is locked) refused (database is locked)" \
    "$(pyrun "$PY_LOCK" "$BC/catalog.db" | tr '\n' ' ' | sed 's/ $//')"
check_sh "after the attempt: touch, mkdir and an append work" \
    'touch "$MC/after-lock" && mkdir "$MC/dir-after-lock" && echo appended >>"$MC/pre"'
daemon_alive "$PIDC" "catalog locked" "$LOGC"
rfs_umount "$MC"
check_eq "unmounted, the catalog can be locked and read again" "allowed allowed" \
    "$(pyrun "$PY_LOCK" "$BC/catalog.db" | tr '\n' ' ' | sed 's/ $//')"
fsck_store "fsck after the locked catalog exits 0" "$BC" --keyfile "$KC"
rfs_mount "$BC" "$MC" || abort "remount of the third store failed"
PIDC=$RFS_PID LOGC=${RFS_LOG_OF[$MC]}
check_eq "remount: pre holds the append made after the attempt" "hello
appended" "$(cat "$MC/pre" 2>&1)"

# ============================================ 5. control channel clients

SOCK=$(pyrun 'import hashlib
print("/run/retentionfs/%s.sock" % hashlib.blake2b(os.path.realpath(A[0]).encode(), digest_size=16).hexdigest())' "$MC")
check_sh "the control socket is at $SOCK" '[ -S "$SOCK" ]'
PY_SOCK='
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(A[0])
def wait_release():
    t = time.time() + 60
    while not os.path.exists(A[1]) and time.time() < t:
        time.sleep(0.02)
mode = A[2]
'
status_works() {   # NAME LIMIT_S
	tctl "$2" status "$MC"
	if [ "$CTL_RC" = 0 ]; then
		ok "$1: status answered in ${MS} ms"
	else
		fail "$1: status answers within $2 s" "exit $CTL_RC after ${MS} ms" "$CTL_OUT"
	fi
}

rm -f "$T/release"
REPLY_GARBAGE=$(timeout -k 2 15 "$RFS_PY" -c "$RFS_PY_PRELUDE$PY_SOCK
s.sendall(b'\\xffgarbage\\x00\\x01\\x02' * 50)
s.shutdown(socket.SHUT_WR)
s.settimeout(12)
d = b''
while True:
    b = s.recv(65536)
    if not b:
        break
    d += b
print(d.decode(errors='replace'))" - "$SOCK" "$T/release" garbage 2>&1)
check_sh "garbage request: a 'malformed request' reply" \
    '[[ $REPLY_GARBAGE == *"malformed request"*"RFS-EXIT 2"* ]] || { echo "$REPLY_GARBAGE"; false; }'
check "partial request, then close" pyrun "$PY_SOCK
s.sendall(b'RFS1\\x02stat'); s.close()" "$SOCK" "$T/release" partial
status_works "after a partial request" 5
bgpy "$PY_SOCK
s.sendall(b'RFS1\\x02stat'); open(A[1] + '.sent', 'w').write('x')
time.sleep(60)" "$SOCK" "$T/release" killed
KILLED=$BGPID
wait_for 10 test -e "$T/release.sent"
kill -KILL "$KILLED"
poll_until 5 helper_gone "$KILLED"
rm -f "$T/release.sent"
status_works "after a client killed mid-request" 5
daemon_alive "$PIDC" "after bad clients" "$LOGC"

# An idle client: the daemon reads requests one connection at a time, with
# a 10 s read timeout.
bgpy "$PY_SOCK
open(A[1] + '.sent', 'w').write('x')
wait_release()" "$SOCK" "$T/release" idle
IDLE=$BGPID
wait_for 10 test -e "$T/release.sent"
tctl 30 status "$MC"
echo "note: status with an idle client connected took ${MS} ms"
check_sh "idle client: status answers within 12 s (took ${MS} ms)" '[ "$CTL_RC" = 0 ] && [ "$MS" -le 12000 ]'
stop_helper "$IDLE"
rm -f "$T/release.sent"

# A client that sends one byte every 0.5 s and never finishes its request.
bgpy "$PY_SOCK
open(A[1] + '.sent', 'w').write('x')
t = time.time() + 60
while not os.path.exists(A[1]) and time.time() < t:
    s.send(b'R'); time.sleep(0.5)" "$SOCK" "$T/release" trickle
TRICKLE=$BGPID
wait_for 10 test -e "$T/release.sent"
status_works "a client trickling its request byte by byte" 12
stop_helper "$TRICKLE"
rm -f "$T/release.sent"
status_works "after the trickling client left" 15

# A client that sends a request with a long reply and never reads it.
check "5000 files for a long audit trail" pyrun '
os.mkdir(A[0])
for i in range(5000):
    os.mknod(A[0] + "/n%d" % i, 0o100644)' "$MC/many"
bgpy "$PY_SOCK
w = [b'audit', os.path.realpath(A[3]).encode()]
s.sendall(b'RFS1' + bytes([len(w)]) + b''.join(x + b'\\0' for x in w))
s.shutdown(socket.SHUT_WR)
open(A[1] + '.sent', 'w').write('x')
wait_release()" "$SOCK" "$T/release" noread "$MC"
NOREAD=$BGPID
wait_for 10 test -e "$T/release.sent"
status_works "a client that never reads its (long) reply" 12
stop_helper "$NOREAD"
rm -f "$T/release.sent"
status_works "after the non-reading client left" 15
daemon_alive "$PIDC" "after the control-channel clients" "$LOGC"

# ================================================ 6. SIGKILL mid-write

bgpy '
fd = os.open(A[0], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
buf = os.urandom(65536)
for i in range(100000):
    os.write(fd, buf)
    if i % 16 == 15:
        os.fsync(fd)' "$MC/crashlog"
WRITER=$BGPID
big_enough() { [ "$(stat -c %s "$MC/crashlog" 2>/dev/null || echo 0)" -ge $((1 << 20)) ]; }
wait_for 15 big_enough
{
	kill -KILL "$PIDC"
	poll_until 10 eval "! rfs_pid_alive $PIDC"
	wait "$PIDC"
} 2>/dev/null
rfs_forget_pid "$PIDC"
unset "RFS_PID_OF[$MC]"
poll_until 10 helper_gone "$WRITER" || kill -KILL "$WRITER" 2>/dev/null
terrno 10 'os.listdir(A[0])' "$MC"
check_outcome "SIGKILL: the mount is stale (readdir)" "ENOTCONN" 5000
check "SIGKILL: fusermount3 -u -z" fusermount3 -u -z "$MC"
if rfs_mount "$BC" "$MC"; then
	check_eq "SIGKILL: remount: pre is there" "hello
appended" "$(cat "$MC/pre" 2>&1)"
	rfs_umount "$MC"
fi

finish
