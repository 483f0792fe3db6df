#!/usr/bin/env bash
# t_tools.sh - everyday tools on the mount: cp, concurrent appends, dd,
# tail -F across a rotation, gzip, rsync, sqlite3, logrotate.
. "$(dirname "$0")/lib.sh"

B=$T/backing
M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" || abort "mount failed"

# A source tree with awkward sizes, holes, links, xattrs and odd modes.
SRC=$T/src
make_tree() {
	local d=$1 n
	mkdir -p "$d/a/b/c" "$d/empty-dir" "$d/sp ace" &&
	for n in 0 1 4095 4096 4097 65536 131073 1048579; do
		head -c "$n" /dev/urandom >"$d/a/size-$n" || return 1
	done &&
	seq 1 20000 >"$d/a/b/numbers" &&
	printf 'hello\n' >"$d/sp ace/f i l e" &&
	truncate -s 3M "$d/a/b/c/sparse" &&
	printf 'tail' | dd of="$d/a/b/c/sparse" bs=1 seek=2097152 conv=notrunc status=none &&
	ln -s ../size-1 "$d/a/b/rel-link" &&
	ln -s /nonexistent/target "$d/a/dangling" &&
	ln "$d/a/size-4096" "$d/a/b/hardlink-4096" &&
	chmod 0600 "$d/a/size-1" && chmod 0751 "$d/a/b" && chmod 0444 "$d/a/size-0" &&
	setfattr -n user.note -v "tree attr" "$d/a/size-4097" &&
	touch -d "2011-11-11 11:11:11.111111111 UTC" "$d/a/size-65536"
}
make_tree "$SRC" || abort "could not build the source tree in $T"

# listing DIR: what rsync -aHX must preserve (types, modes, sizes, mtimes
# to the nanosecond, symlink targets, hard-link groups, user xattrs, data).
# Symlink mtimes are left out: rsync does not keep them even between ext4
# directories.
listing() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -type f -printf '%p %y %m %s %T@\n' | LC_ALL=C sort
		find . -mindepth 1 ! -type f ! -type d -printf '%p %y %m %s %l\n' | LC_ALL=C sort
		find . -mindepth 1 -type d -printf '%p %y %m\n' | LC_ALL=C sort
		# hard-link groups: names sharing an inode, inode numbers left out
		find . -type f -links +1 -printf '%i %p\n' | LC_ALL=C sort |
			awk '{ g[$1] = g[$1] " " $2 } END { for (i in g) print "link" g[i] }' | LC_ALL=C sort
		getfattr -R -h -d -m '^user\.' . 2>/dev/null |
			awk '/^# file: / { f = substr($0, 9); next } NF { print "xattr " f " " $0 }' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}
# content DIR: names, types and data only (what plain cp -r keeps).
content() {
	(
		cd "$1" || exit 1
		find . -mindepth 1 -printf '%p %y %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

# ---------------------------------------------------------------- cp

check "cp -a of a tree into the mount" cp -a "$SRC" "$M/cp-tree"
check_eq "cp -a: the tree matches (modes, times, links, xattrs, data)" \
	"$(listing "$SRC")" "$(listing "$M/cp-tree")"
check "cp -r of the tree back out" cp -r "$M/cp-tree" "$T/cp-back"
check_eq "cp -r back: data matches" "$(content "$SRC")" "$(content "$T/cp-back")"
check_sh "cp -a onto existing files overwrites them" '
cp -a "$SRC/." "$M/cp-tree/" && diff -r --no-dereference "$SRC" "$M/cp-tree"'

# ---------------------------------------------------------------- appends

# Four shell writers at once, each through `cat >>`: every line written
# into the pipe is one write(2), so cat copies whole lines, and each append
# must land intact.
NLINES=3000
for w in 1 2 3 4; do
	(
		for ((i = 1; i <= NLINES; i++)); do
			printf 'writer %d line %06d %s\n' "$w" "$i" "----------------------------------------"
		done | cat >>"$M/cat-append.log"
	) &
	CATPIDS[$w]=$!
done
CATRC=0
for w in 1 2 3 4; do wait "${CATPIDS[$w]}" || CATRC=1; done
check_eq "4 concurrent 'cat >>' writers succeeded" 0 "$CATRC"
check_eq "cat >>: total line count" "$((4 * NLINES))" "$(wc -l <"$M/cat-append.log")"
check_sh "cat >>: every line intact, each writer in order" '
for w in 1 2 3 4; do
	diff <(grep "^writer $w " "$M/cat-append.log") \
		<(for ((i = 1; i <= NLINES; i++)); do printf "writer %d line %06d %s\n" "$w" "$i" "----------------------------------------"; done) >/dev/null || { echo "writer $w differs"; exit 1; }
done'

APPENDER=$(rfs_tool appender) || abort "no appender tool"
check "appender: 4 procs x 5000 lines x 200 bytes" "$APPENDER" "$M/appender.log" 4 5000 200
check_eq "appender: file size" "$((4 * 5000 * 200))" "$(stat -c %s "$M/appender.log")"

# ---------------------------------------------------------------- dd

head -c $((2 * 1024 * 1024 + 333)) /dev/urandom >"$T/dd-src"
check "dd into the mount (bs=64k)" dd if="$T/dd-src" of="$M/dd-file" bs=64k status=none
check "dd: data matches" same_file "$T/dd-src" "$M/dd-file"
cp "$T/dd-src" "$T/dd-model"
head -c 10000 /dev/urandom >"$T/dd-patch"
check_sh "dd conv=notrunc overwrite in the middle, odd block size" '
dd if="$T/dd-patch" of="$M/dd-file" bs=777 seek=1 conv=notrunc status=none &&
dd if="$T/dd-patch" of="$T/dd-model" bs=777 seek=1 conv=notrunc status=none &&
cmp "$T/dd-model" "$M/dd-file"'
check_sh "dd read with skip and a small block size" '
cmp <(dd if="$M/dd-file" bs=4096 skip=100 count=50 status=none) \
    <(dd if="$T/dd-model" bs=4096 skip=100 count=50 status=none)'
check_sh "dd conv=fsync and oflag=sync" '
dd if="$T/dd-src" of="$M/dd-sync" bs=1M conv=fsync status=none &&
dd if="$T/dd-src" of="$M/dd-osync" bs=128k oflag=sync status=none &&
cmp "$T/dd-src" "$M/dd-sync" && cmp "$T/dd-src" "$M/dd-osync"'

# ---------------------------------------------------------------- tail -F

mkdir -p "$M/tail"
echo "first line" >"$M/tail/app.log"
tail -n +1 -F "$M/tail/app.log" >"$T/tail.out" 2>"$T/tail.err" &
TAILPID=$!
has_line() { grep -qxF -- "$2" "$1"; }
wait_for 30 has_line "$T/tail.out" "first line" && ok "tail -F shows the existing line"
echo "appended 1" >>"$M/tail/app.log"
echo "appended 2" >>"$M/tail/app.log"
wait_for 30 has_line "$T/tail.out" "appended 2" && ok "tail -F follows appends"
mv "$M/tail/app.log" "$M/tail/app.log.1"
echo "after rotation" >"$M/tail/app.log"
wait_for 30 has_line "$T/tail.out" "after rotation" && ok "tail -F follows the file across a rotation"
echo "appended after rotation" >>"$M/tail/app.log"
wait_for 30 has_line "$T/tail.out" "appended after rotation" && ok "tail -F follows appends to the new file"
kill "$TAILPID" 2>/dev/null
wait "$TAILPID" 2>/dev/null
check_eq "tail -F output in order" \
	"$(printf '%s\n' "first line" "appended 1" "appended 2" "after rotation" "appended after rotation")" \
	"$(cat "$T/tail.out")"

# ---------------------------------------------------------------- gzip

cp "$SRC/a/b/numbers" "$M/numbers"
touch -d "2012-12-12 12:12:12 UTC" "$M/numbers"
chmod 0640 "$M/numbers"
check "gzip in place" gzip "$M/numbers"
check_sh "gzip replaced the file with numbers.gz, keeping mode and mtime" '
[ ! -e "$M/numbers" ] && [ -s "$M/numbers.gz" ] && [ "$(stat -c %a "$M/numbers.gz")" = 640 ] &&
[ "$(stat -c %Y "$M/numbers.gz")" = "$(date -d "2012-12-12 12:12:12 UTC" +%s)" ]'
check "gzip -t" gzip -t "$M/numbers.gz"
check "gunzip in place" gunzip "$M/numbers.gz"
check "gzip round trip: data matches" same_file "$SRC/a/b/numbers" "$M/numbers"
check_sh "gzip -c | gunzip -c of a 1 MiB random file" '
gzip -c "$SRC/a/size-1048579" >"$M/r.gz" && gunzip -c "$M/r.gz" | cmp - "$SRC/a/size-1048579"'

# ---------------------------------------------------------------- rsync

check "rsync -aHAX into the mount" rsync -aHAX "$SRC/" "$M/rsync-tree/"
check_eq "rsync -aHAX: the mount copy matches the source" "$(listing "$SRC")" "$(listing "$M/rsync-tree")"
check "rsync -aHAX back out" rsync -aHAX "$M/rsync-tree/" "$T/rsync-back/"
check_eq "rsync -aHAX: the round trip matches the source" "$(listing "$SRC")" "$(listing "$T/rsync-back")"
echo changed >>"$SRC/a/b/numbers"
touch -d "2013-01-01 00:00:00 UTC" "$SRC/a/b/numbers"
rm "$SRC/a/size-0"
check "rsync -aHAX --delete of a changed tree" rsync -aHAX --delete "$SRC/" "$M/rsync-tree/"
check_eq "rsync --delete: the mount copy matches again" "$(listing "$SRC")" "$(listing "$M/rsync-tree")"
check_sh "rsync -c finds nothing left to transfer" '
[ -z "$(rsync -aHAXc --delete --itemize-changes "$SRC/" "$M/rsync-tree/")" ]'

# ---------------------------------------------------------------- sqlite3

mkdir -p "$M/db"
check "sqlite3: create and fill a database (rollback journal)" sqlite3 "$M/db/test.db" "
PRAGMA journal_mode=DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, blob BLOB);
CREATE INDEX t_name ON t(name);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
INSERT INTO t(name, blob) SELECT 'row ' || x, randomblob(x % 700) FROM c;
COMMIT;
UPDATE t SET name = name || ' updated' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 7 = 0;
VACUUM;"
check_eq "sqlite3: PRAGMA integrity_check" "ok" "$(sqlite3 "$M/db/test.db" 'PRAGMA integrity_check;' 2>&1)"
check_eq "sqlite3: row count and contents" "17143|5714" \
	"$(sqlite3 "$M/db/test.db" "SELECT count(*), sum(name LIKE '% updated') FROM t;" 2>&1)"
check "sqlite3: WAL mode database" sqlite3 "$M/db/wal.db" "
PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
INSERT INTO t(v) SELECT hex(randomblob(50)) FROM c;
PRAGMA wal_checkpoint(TRUNCATE);
INSERT INTO t(v) VALUES ('after checkpoint');"
check_eq "sqlite3: WAL integrity_check and count" "$(printf 'ok\n5001')" \
	"$(sqlite3 "$M/db/wal.db" 'PRAGMA integrity_check; SELECT count(*) FROM t;' 2>&1)"

# ---------------------------------------------------------------- logrotate

mkdir -p "$M/logs"
chmod 0755 "$M/logs"
cat >"$T/logrotate-create.conf" <<EOF
$M/logs/app.log {
    rotate 2
    create 0640 root root
    missingok
}
EOF
cat >"$T/logrotate-copytruncate.conf" <<EOF
$M/logs/ct.log {
    rotate 2
    copytruncate
}
EOF
chmod 0644 "$T"/logrotate-*.conf

rotate() { logrotate -f -s "$T/logrotate.state" "$1"; }
echo "generation 1" >"$M/logs/app.log"
check "logrotate (create) 1" rotate "$T/logrotate-create.conf"
check_sh "logrotate (create): app.log is new, empty, 0640; .1 has generation 1" '
[ -f "$M/logs/app.log" ] && [ ! -s "$M/logs/app.log" ] && [ "$(stat -c %a "$M/logs/app.log")" = 640 ] &&
[ "$(cat "$M/logs/app.log.1")" = "generation 1" ]'
echo "generation 2" >>"$M/logs/app.log"
check "logrotate (create) 2" rotate "$T/logrotate-create.conf"
echo "generation 3" >>"$M/logs/app.log"
check "logrotate (create) 3" rotate "$T/logrotate-create.conf"
check_sh "logrotate (create): rotate 2 keeps .1 and .2 only" '
[ "$(cat "$M/logs/app.log.1")" = "generation 3" ] && [ "$(cat "$M/logs/app.log.2")" = "generation 2" ] &&
[ ! -e "$M/logs/app.log.3" ] && [ ! -s "$M/logs/app.log" ] &&
[ "$(ls "$M/logs" | grep -c "^app\.log")" = 3 ]'

# copytruncate: the writer keeps its O_APPEND descriptor across the rotation.
exec 3>>"$M/logs/ct.log"
echo "before copytruncate" >&3
CT_INO=$(stat -c %i "$M/logs/ct.log")
check "logrotate (copytruncate) 1" rotate "$T/logrotate-copytruncate.conf"
echo "after copytruncate" >&3
check_sh "logrotate (copytruncate): copy has the old lines, same file truncated" '
[ "$(cat "$M/logs/ct.log.1")" = "before copytruncate" ] &&
[ "$(cat "$M/logs/ct.log")" = "after copytruncate" ] &&
[ "$(stat -c %i "$M/logs/ct.log")" = "$CT_INO" ]'
echo "second round" >&3
check "logrotate (copytruncate) 2" rotate "$T/logrotate-copytruncate.conf"
echo "third round" >&3
check "logrotate (copytruncate) 3" rotate "$T/logrotate-copytruncate.conf"
exec 3>&-
check_sh "logrotate (copytruncate): rotate 2 keeps .1 and .2 with the right lines" '
[ "$(cat "$M/logs/ct.log.1")" = "third round" ] &&
[ "$(cat "$M/logs/ct.log.2")" = "$(printf "after copytruncate\nsecond round")" ] &&
[ ! -e "$M/logs/ct.log.3" ] && [ ! -s "$M/logs/ct.log" ]'

rfs_umount "$M"
finish
