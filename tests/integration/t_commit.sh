#!/bin/bash
# t_commit: group commit of the catalog (-o commit_ms).  The daemon is
# SIGKILLed and the store remounted to see what the catalog had committed:
#   - fsync of a new file and fsync of a directory commit at once, even
#     with a commit interval of a minute;
#   - a change nobody made durable is committed by the committer within
#     the interval (seen as the write-ahead log growing), or not at all if
#     the daemon dies first: the changes really are grouped;
#   - commit_ms=0 commits every change at once;
#   - inodes trimmed from the daemon's table reload right.
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the daemon"
B=$T/backing M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key"

kill_daemon() { rfs_kill_daemon "$M"; }
wal_size() { stat -c %s "$B/catalog.db-wal" 2>/dev/null || echo 0; }
writefile() {   # PATH TEXT [fsync]
	python3 - "$@" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, sys.argv[2].encode())
if len(sys.argv) > 3:
    os.fsync(fd)
os.close(fd)
PY
}
fsync_dir() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$1"; }
# Batches are refused on a nearly full backing filesystem (each change then
# commits alone); the "lost" checks below need the batching to be on.
free_mb=$(df -Pm "$B" | awk 'NR == 2 { print $4 }')

# ---- a minute's interval: only fsync and fsyncdir commit -------------
rfs_mount "$B" "$M" commit_ms=60000 || abort "mount failed"
check "a new file, written and fsynced" writefile "$M/synced" "kept" fsync
mkdir "$M/d"
writefile "$M/d/entry" "in d"
check "fsync of directory d" fsync_dir "$M/d"
check "touch -d 2001-02-03T04:05:06Z on the fsynced file, then fsync" sh -c \
    "touch -d @981173106 '$M/synced' && python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' '$M/synced'"
writefile "$M/unsynced" "may be lost"
mkdir "$M/unsynced-dir"
kill_daemon
rfs_mount "$B" "$M" || abort "remount failed"
check_eq "after kill -9: the fsynced new file is there" "kept" "$(cat "$M/synced" 2>&1)"
check_eq "after kill -9: the entry made durable by fsync of d is there" "in d" "$(cat "$M/d/entry" 2>&1)"
check_eq "after kill -9: the mtime set and fsynced is kept" 981173106 \
    "$(stat -c %Y "$M/synced")"
if [ "$free_mb" -ge 400 ]; then
	check_not "after kill -9: the file made after the last fsync was not committed yet" test -e "$M/unsynced"
	check_not "after kill -9: nor the directory" test -e "$M/unsynced-dir"
else
	echo "note: only $free_mb MiB free: batching is off, the loss checks are skipped"
fi
rfs_umount "$M"
# The lost files' objects stay behind as orphans; the next files get their
# inode numbers, which must not pick up the old objects.
rfs_mount "$B" "$M" commit_ms=60000 || abort "mount failed"
writefile "$M/reuses" "a new file" fsync
check_eq "a new file that takes a lost file's inode number reads right" \
    "a new file" "$(cat "$M/reuses" 2>&1)"
check_eq "... and so does a second one" "" "$(writefile "$M/reuses2" "" fsync 2>&1; cat "$M/reuses2" 2>&1)"
rfs_umount "$M"
check "fsck --repair leaves no finding but orphans" sh -c \
    "'$BUILD/retentionctl' fsck --store '$B' --keyfile '$T/key' --repair >'$T/fsck.out' 2>&1;
     ! grep -E '^fsck: (catalog|block|missing|unreachable|keys|tamper)' '$T/fsck.out'"

# ---- 200 ms: the committer commits without being asked ---------------
rfs_mount "$B" "$M" commit_ms=200 || abort "mount failed"
before=$(wal_size)
writefile "$M/later" "committed by the committer"
check "the write-ahead log grows within 10 s, unasked" wait_for 10 eval '[ "$(wal_size)" != "$before" ]'
kill_daemon
rfs_mount "$B" "$M" || abort "remount failed"
check_eq "after kill -9: the file the committer committed is there" \
    "committed by the committer" "$(cat "$M/later" 2>&1)"
rfs_umount "$M"

# ---- more inodes than the daemon keeps (16,384): trimmed, reloaded ----
rfs_mount "$B" "$M" commit_ms=60000 || abort "mount failed"
writefile "$M/early" "written before the crowd"
# An O_PATH descriptor keeps the kernel's inode (and so its nodeid) while
# the daemon trims its own copy: requests on it then reach an inode the
# daemon reloaded with no lookup count.
mkdir "$M/many"
python3 - "$M/many" "$M/early" "$T/hold.out" <<'PY'
import os, sys
pinned = os.open(sys.argv[2], os.O_PATH)
for i in range(20000):
    os.close(os.open(os.path.join(sys.argv[1], "f%05d" % i), os.O_WRONLY | os.O_CREAT, 0o644))
for i in range(20000):
    os.stat(os.path.join(sys.argv[1], "f%05d" % i))
via = "/proc/self/fd/%d" % pinned
res = []
for v in (b"1", b"0"):
    try:
        os.setxattr(via, "user.retention.hold", v)
        res.append("ok")
    except OSError as e:
        res.append(e.strerror)
open(sys.argv[3], "w").write(" ".join(res))
PY
check_eq "20,000 files listed" 20000 "$(ls "$M/many" | wc -l)"
check_eq "hold set and cleared through a descriptor after the inode was trimmed" \
    "ok ok" "$(cat "$T/hold.out" 2>&1)"
check_eq "the daemon is alive and the file whole" "written before the crowd" "$(cat "$M/early" 2>&1)"
check "stat of every one, in a second pass" sh -c "stat -c %s '$M'/many/* | grep -qvx 0 && exit 1; exit 0"
check "early: append and fsync after its inode was trimmed" python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"more")
os.fsync(fd)' "$M/early"
check_sh "early: chmod and an xattr after its inode was trimmed" \
    'chmod 600 "$M/early" && setfattr -n user.k -v v "$M/early" &&
     [ "$(getfattr --only-values -n user.k "$M/early")" = v ] && [ "$(stat -c %a "$M/early")" = 600 ]' 
kill_daemon
rfs_mount "$B" "$M" || abort "remount failed"
# Its creation was in a batch nobody committed; the write to the reloaded
# inode must have committed it (a write session on a committed object
# commits first), and its fsync made the data durable.
check_eq "after kill -9: the file fsynced after its inode was reloaded is whole" \
    "written before the crowdmore" "$(cat "$M/early" 2>&1)"
rfs_umount "$M"

# ---- commit_ms=0: every change at once --------------------------------
rfs_mount "$B" "$M" commit_ms=0 || abort "mount failed"
writefile "$M/at-once" "no batch"
mkdir "$M/dir-at-once"
kill_daemon
rfs_mount "$B" "$M" || abort "remount failed"
check_eq "commit_ms=0, after kill -9: the new file is there" "no batch" "$(cat "$M/at-once" 2>&1)"
check "commit_ms=0, after kill -9: the new directory is there" test -d "$M/dir-at-once"
rfs_umount "$M"
check_not "commit_ms=-1 is refused" "$BUILD/retentionfs" "$B" "$M" -f -o "keyfile=$T/key,commit_ms=-1"
finish
