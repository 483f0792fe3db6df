#!/usr/bin/env bash
# t_basic.sh - init, mount, unmount (foreground and daemonized), and the
# refusals: each must exit non-zero with one line on stderr, mount nothing
# and leave the backing directory as it was.
. "$(dirname "$0")/lib.sh"

is_raw && skip_all "t_basic tests the daemon itself (RFS_TEST_RAW=1)"

B=$T/backing
K=$T/key
M=$T/mnt
mkdir -p "$M"

# ---------------------------------------------------------------- init

check "retentionctl init BACKING --keyfile KEY" "$BUILD/retentionctl" init "$B" --keyfile "$K"
RFS_KEY=$K
check_eq "init made a 32-byte key file, mode 600" "32 600" "$(stat -c '%s %a' "$K" 2>&1)"
check_eq "the store header's second line" "format 1" "$(sed -n 2p "$B/retentionfs.store" 2>&1)"
check_sh "the store has objects/ and catalog.db" '[ -d "$B/objects" ] && [ -f "$B/catalog.db" ]'

# ---------------------------------------------------------------- mount

rfs_mount "$B" "$M" || abort "mount failed"
check_sh "write and read through the mount" '
echo "hello world" >"$M/hello" && [ "$(cat "$M/hello")" = "hello world" ]'
check_sh "the backing does not hold the file by name" '! find "$B" -name hello | grep -q .'
rfs_umount "$M"
check_not "nothing is left mounted" mountpoint -q "$M"

rfs_mount "$B" "$M" || abort "second mount failed"
check_eq "data survives unmount and mount" "hello world" "$(cat "$M/hello" 2>&1)"
# `umount && mount` as a script does it: fusermount3 returns before the
# old daemon has let go of the store, and the new one waits for that.
fusermount3 -u "$M"
check "a mount right after fusermount3 -u" rfs_mount "$B" "$M"
check_eq "and the data is there" "hello world" "$(cat "$M/hello" 2>&1)"
rfs_umount "$M"

# SIGTERM ends the daemon cleanly: exit 0 and the mount is gone.
rfs_mount "$B" "$M" || abort "third mount failed"
PID=$RFS_PID
kill -TERM "$PID"
if poll_until 30 eval "! rfs_pid_alive $PID"; then
	wait "$PID"
	check_eq "SIGTERM: the daemon exits 0" 0 "$?"
	rfs_forget_pid "$PID"
	check_not "SIGTERM: the daemon unmounted" mountpoint -q "$M"
	unset "RFS_PID_OF[$M]"
else
	fail "SIGTERM: the daemon exits" "still running 30 s after SIGTERM"
fi
mountpoint -q "$M" && fusermount3 -u -z "$M"

# The same with the single-threaded loop (-s): its one thread waits in
# poll(2) on /dev/fuse, and a signal must still end it.
"$BUILD/retentionfs" "$B" "$M" -f -s -o "keyfile=$K" >"$T/single.log" 2>&1 &
PID=$!
RFS_PIDS+=("$PID")
if poll_until 30 mountpoint -q "$M"; then
	check_eq "-s: write and read" "single" "$(echo single >"$M/single" && cat "$M/single" 2>&1)"
	kill -TERM "$PID"
	if poll_until 30 eval "! rfs_pid_alive $PID"; then
		wait "$PID"
		check_eq "-s, SIGTERM: the daemon exits 0" 0 "$?"
		check_not "-s, SIGTERM: the daemon unmounted" mountpoint -q "$M"
	else
		fail "-s, SIGTERM: the daemon exits" "still running 30 s after SIGTERM"
	fi
else
	fail "-s: mounted" "$(tail -5 "$T/single.log")"
fi
rfs_forget_pid "$PID"
mountpoint -q "$M" && fusermount3 -u -z "$M"

# ---------------------------------------------------------------- daemonized

if rfs_mount_daemon "$B" "$M"; then
	check_eq "daemonized: data readable" "hello world" "$(cat "$M/hello" 2>&1)"
	check_sh "daemonized: the daemon is not our child" '
	[ "$(ps -o ppid= -p "$RFS_PID" | tr -d " ")" != $$ ]'
	check_sh "daemonized: write" 'echo daemon >"$M/daemon" && [ "$(cat "$M/daemon")" = daemon ]'
	rfs_umount "$M"
fi

# ---------------------------------------------------------------- refusals

# refuse NAME DIR CMD...: CMD must exit non-zero, print exactly one line on
# stderr, mount nothing on $M or $M2 (REFUSE_MNTS), and leave DIR unchanged
# (DIR "-": no such check).
M2=$T/mnt2
REFUSE_MNTS=("$M" "$M2")
refuse() {
	local name=$1 dir=$2 before after rc n m
	shift 2
	[ "$dir" = - ] || before=$(tree_sum "$dir")
	timeout 30 "$@" >"$T/refuse.out" 2>"$T/refuse.err"
	rc=$?
	[ "$dir" = - ] || after=$(tree_sum "$dir")
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then
		ok "$name: exit status $rc"
	else
		fail "$name: exits non-zero" "command: $*" "exit status $rc" \
		    "stderr: $(cat "$T/refuse.err")"
	fi
	n=$(awk 'END { print NR }' "$T/refuse.err")
	if [ "$n" = 1 ] && [ -n "$(tr -d '[:space:]' <"$T/refuse.err")" ]; then
		ok "$name: one line on stderr: $(cat "$T/refuse.err")"
	else
		fail "$name: one line on stderr" "command: $*" "got $n lines:" "$(cat "$T/refuse.err")"
	fi
	[ "$dir" = - ] || check_eq "$name: $dir unchanged" "$before" "$after"
	for m in "${REFUSE_MNTS[@]}"; do
		if mountpoint -q "$m"; then
			fail "$name: nothing mounted" "$m is mounted"
			fusermount3 -u "$m" || fusermount3 -u -z "$m"
			poll_until 30 eval '[ -z "$(rfs_find_daemon "$m")" ]'
		fi
	done
}

head -c 32 /dev/urandom >"$T/wrong.key"
chmod 600 "$T/wrong.key"
refuse "wrong key" "$B" "$BUILD/retentionfs" "$B" "$M" -o "keyfile=$T/wrong.key"
refuse "missing key file" "$B" "$BUILD/retentionfs" "$B" "$M" -o "keyfile=$T/no-such.key"
head -c 31 /dev/urandom >"$T/short.key"
chmod 600 "$T/short.key"
refuse "31-byte key file" "$B" "$BUILD/retentionfs" "$B" "$M" -o "keyfile=$T/short.key"

mkdir -p "$M2"
echo "do not hide me" >"$M2/existing"
refuse "non-empty mountpoint" "$B" "$BUILD/retentionfs" "$B" "$M2" -o "keyfile=$K"
check_eq "non-empty mountpoint: its file is untouched" "do not hide me" "$(cat "$M2/existing" 2>&1)"
refuse "missing mountpoint" "$B" "$BUILD/retentionfs" "$B" "$T/no-such-mnt" -o "keyfile=$K"
check_sh "missing mountpoint: was not created" '[ ! -e "$T/no-such-mnt" ]'

mkdir -p "$T/empty"
refuse "backing directory that is not a store" "$T/empty" "$BUILD/retentionfs" "$T/empty" "$M" -o "keyfile=$K"
refuse "missing backing directory" - "$BUILD/retentionfs" "$T/no-such-backing" "$M" -o "keyfile=$K"
check_sh "missing backing directory: was not created" '[ ! -e "$T/no-such-backing" ]'

mkdir -p "$T/notstore/sub"
echo "precious" >"$T/notstore/data.txt"
refuse "init on a non-empty directory" "$T/notstore" "$BUILD/retentionctl" init "$T/notstore" --keyfile "$K"
refuse "init on an existing store" "$B" "$BUILD/retentionctl" init "$B" --keyfile "$K"

if [ "$(sed -n 2p "$B/retentionfs.store")" = "format 1" ]; then
	cp -p "$B/retentionfs.store" "$T/store.header"
	sed -i '2s/^format 1$/format 99/' "$B/retentionfs.store"
	check_eq "edited the format line" "format 99" "$(sed -n 2p "$B/retentionfs.store")"
	refuse "unknown format version" "$B" "$BUILD/retentionfs" "$B" "$M" -o "keyfile=$K"
	cp -p "$T/store.header" "$B/retentionfs.store"
else
	fail "unknown format version" "the header's second line is not 'format 1'"
fi

chmod 0640 "$K"
refuse "key file readable by its group" "$B" "$BUILD/retentionfs" "$B" "$M" -o "keyfile=$K"
chmod 0604 "$K"
refuse "key file readable by others" "$B" "$BUILD/retentionfs" "$B" "$M" -o "keyfile=$K"
chmod 0600 "$K"

# A second daemon on a store that is already mounted would share its catalog.
if rfs_mount "$B" "$M"; then
	mkdir -p "$M2"
	rm -f "$M2/existing"
	REFUSE_MNTS=("$M2")
	refuse "second mount of a store in use" - "$BUILD/retentionfs" "$B" "$M2" -o "keyfile=$K"
	REFUSE_MNTS=("$M" "$M2")
	check_eq "the first mount still works" "hello world" "$(cat "$M/hello" 2>&1)"
	rfs_umount "$M"
fi

rfs_mount "$B" "$M" || abort "mount after the refusals failed"
check_eq "the store is intact after all refusals" "hello world" "$(cat "$M/hello" 2>&1)"
rfs_umount "$M"

# ---------------------------------------------------------------- passphrase

B2=$T/backing-pass
P=$T/pass
(umask 077 && printf 'correct horse battery staple\n' >"$P")
check "retentionctl init --passfile" "$BUILD/retentionctl" init "$B2" --passfile "$P"
check_sh "passphrase store has a header and no key file in it" '
[ -f "$B2/retentionfs.store" ] && [ "$(sed -n 2p "$B2/retentionfs.store")" = "format 1" ]'
RFS_AUTH="passfile=$P"
if rfs_mount "$B2" "$M"; then
	check_sh "passphrase store: write and read" 'echo pass-data >"$M/p" && [ "$(cat "$M/p")" = pass-data ]'
	rfs_umount "$M"
fi
(umask 077 && printf 'correct horse battery stapler\n' >"$T/wrong.pass")
refuse "wrong passphrase" "$B2" "$BUILD/retentionfs" "$B2" "$M" -o "passfile=$T/wrong.pass"
chmod 0644 "$P"
refuse "passphrase file readable by others" "$B2" "$BUILD/retentionfs" "$B2" "$M" -o "passfile=$P"
chmod 0600 "$P"
refuse "key file for a passphrase store" "$B2" "$BUILD/retentionfs" "$B2" "$M" -o "keyfile=$K"
if rfs_mount "$B2" "$M"; then
	check_eq "passphrase store: data survives" "pass-data" "$(cat "$M/p" 2>&1)"
	rfs_umount "$M"
fi
RFS_AUTH=

# ---------------------------------------------------- catalog format 1

# A store made by a format 1 build: its dirent table is a rowid table with
# one AUTOINCREMENT id sequence for all directories (docs/format.md).  The
# current build reads it read-only as it is and converts it at the first
# read-write mount, keeping every readdir offset.
B3=$T/backing3
"$BUILD/retentionctl" init "$B3" --keyfile "$K" >/dev/null 2>&1 ||
	abort "init of the format 1 store failed"
if rfs_mount "$B3" "$M"; then
	mkdir "$M/d1" "$M/d2"
	for f in c a b; do echo "$f" >"$M/d1/$f"; echo "2$f" >"$M/d2/$f"; done
	ls -f "$M/d1" >"$T/order.before"
	rfs_umount "$M"
fi
cat_sql() {
	python3 - "$B3/catalog.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "downgrade":
    db.executescript("""
    BEGIN;
    ALTER TABLE dirent RENAME TO dirent_v2;
    DROP INDEX dirent_parent;
    DROP INDEX dirent_ino;
    CREATE TABLE dirent(id INTEGER PRIMARY KEY AUTOINCREMENT,
      parent INTEGER NOT NULL, hash BLOB NOT NULL, name BLOB NOT NULL,
      ino INTEGER NOT NULL, UNIQUE(parent, hash));
    CREATE INDEX dirent_parent ON dirent(parent, id);
    CREATE INDEX dirent_ino ON dirent(ino);
    INSERT INTO dirent(parent, hash, name, ino)
      SELECT parent, hash, name, ino FROM dirent_v2 ORDER BY parent DESC, id;
    DROP TABLE dirent_v2;
    UPDATE meta SET value = 1 WHERE key = 'format';
    COMMIT;""")
else:
    print(db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()[0],
          "rowid" if db.execute("SELECT sql FROM sqlite_master WHERE name = 'dirent'")
          .fetchone()[0].find("WITHOUT ROWID") < 0 else "without-rowid")
PY
}
check "made the catalog format 1" cat_sql downgrade
check_eq "the catalog is format 1" "1 rowid" "$(cat_sql show 2>&1)"
check "fsck reads a format 1 catalog" "$BUILD/retentionctl" fsck --store "$B3" --keyfile "$K"
check_eq "... and leaves it format 1" "1 rowid" "$(cat_sql show 2>&1)"
if rfs_mount "$B3" "$M"; then
	check_sh "the mount says it converted the catalog" \
	    'grep -q "converted from format 1 to 2" "${RFS_LOG_OF[$M]}"'
	check_eq "files read after the conversion" "c a b 2c 2a 2b" \
	    "$(cat "$M/d1/c" "$M/d1/a" "$M/d1/b" "$M/d2/c" "$M/d2/a" "$M/d2/b" | tr '\n' ' ' | sed 's/ $//')"
	check_eq "readdir order kept" "$(cat "$T/order.before")" "$(ls -f "$M/d1" 2>&1)"
	echo new >"$M/d1/new"
	check_eq "a new entry is listed last" "new" "$(ls -f "$M/d1" | tail -n 1)"
	rfs_umount "$M"
fi
check_eq "the catalog is format 2" "2 without-rowid" "$(cat_sql show 2>&1)"
check "fsck passes after the conversion" "$BUILD/retentionctl" fsck --store "$B3" --keyfile "$K"

finish
