#!/usr/bin/env bash
# t_crypto.sh - nothing written through the mount shows in the backing
# directory in the clear, and a tampered object reads as EIO.
. "$(dirname "$0")/lib.sh"

B=$T/backing
M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" || abort "mount failed"

MARK=RFSMARK$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

# ---------------------------------------------------------------- plaintext

check_sh "write the marker as content, name, xattr value, symlink target" '
mkdir "$M/dir-$MARK" &&
{ for i in $(seq 1 200); do echo "line $i $MARK"; done; } >"$M/content.txt" &&
printf "%s" "$MARK" >"$M/small.txt" &&
echo "named" >"$M/file-$MARK" &&
echo "nested" >"$M/dir-$MARK/inner-$MARK" &&
echo "x" >"$M/xattr-holder" && setfattr -n user.secret -v "value-$MARK" "$M/xattr-holder" &&
ln -s "target-$MARK" "$M/link" &&
[ "$(readlink "$M/link")" = "target-$MARK" ] &&
[ "$(getfattr --only-values -n user.secret "$M/xattr-holder")" = "value-$MARK" ] &&
grep -q "$MARK" "$M/content.txt" && [ -e "$M/file-$MARK" ] && [ -e "$M/dir-$MARK/inner-$MARK" ]'
# Renames write names too.
check_sh "rename to a marker name" '
echo r >"$M/plain-name" && mv "$M/plain-name" "$M/renamed-$MARK" && [ -e "$M/renamed-$MARK" ]'
# Make sure the daemon has written its state out (content, catalog).
sync

# no_marker DIR: grep must finish (status 1 = no match); a match is shown.
no_marker() {
	local out rc
	out=$(grep -r -a -l -F -- "$MARK" "$1" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && return 0
	echo "grep -r -a -F $MARK $1: status $rc"
	echo "$out"
	[ "$rc" -eq 0 ] && grep -r -a -o -F -- "$MARK" "$1" | head -n 5
	return 1
}
# The check must be able to see a marker where one is.
mkdir "$T/selftest" && echo "clear $MARK" >"$T/selftest/f"
check_not "no_marker finds a marker that is there (self-test)" no_marker "$T/selftest"
if is_raw; then
	skip "backing holds no marker while mounted" "RFS_TEST_RAW"
else
	check_sh "the backing holds the store files" '[ -f "$B/retentionfs.store" ] && [ -d "$B/objects" ] && [ -f "$B/catalog.db" ]'
	check "backing holds no marker while mounted (incl. catalog.db-wal)" no_marker "$B"
	check_sh "backing names hold no marker" '! find "$B" | grep -F -- "$MARK"'
fi

# Big files for the tamper test, written now so they are in the objects.
head -c $((1024 * 1024 + 12345)) /dev/urandom >"$T/big.src"
head -c 5000 /dev/urandom >"$T/other.src"
cp "$T/big.src" "$M/big"
cp "$T/other.src" "$M/other"
check "big file reads back before tampering" same_file "$T/big.src" "$M/big"

rfs_umount "$M"
if is_raw; then
	skip "backing holds no marker after unmount" "RFS_TEST_RAW"
	skip "a flipped byte reads as EIO" "RFS_TEST_RAW"
	finish
fi

check "backing holds no marker after unmount" no_marker "$B"
check_sh "no marker in the catalog files themselves" '
for f in "$B"/catalog.db*; do [ -e "$f" ] || continue; ! grep -a -q -F -- "$MARK" "$f" || { echo "$f"; exit 1; }; done'

# ---------------------------------------------------------------- tamper

# The biggest object is the 1 MiB file's.
BIGOBJ=$(find "$B/objects" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
if [ -z "$BIGOBJ" ]; then
	fail "tamper: no object under $B/objects"
	finish
fi
check_sh "the biggest object is about the big file's size" '
s=$(stat -c %s "$BIGOBJ") && [ "$s" -ge $((1024 * 1024 + 12345)) ] && [ "$s" -lt $((1024 * 1024 * 2)) ]'
OBJSIZE=$(stat -c %s "$BIGOBJ")
pyrun '
p, off = A[0], int(A[1])
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
' "$BIGOBJ" "$((OBJSIZE / 2))" || abort "could not flip a byte in $BIGOBJ"

rfs_mount "$B" "$M" || abort "remount failed"
check_not "cat of the tampered file fails" cat "$M/big"
check_sh "dd of the tampered file reports Input/output error" '
! dd if="$M/big" of=/dev/null bs=64k status=none 2>"$T/dd.err" && grep -q "Input/output error" "$T/dd.err" ||
{ cat "$T/dd.err"; false; }'
# Block by block: the damaged block fails with EIO, and every block read
# before it is the original data (never zeros or garbage).
check_errno "pread(2) block by block: EIO at the damage, good data before" EIO '
fd = os.open(A[0], os.O_RDONLY)
src = rd(A[1])
off = 0
while off < len(src):
    d = os.pread(fd, 4096, off)
    assert len(d) > 0, "read 0 bytes at %d of %d" % (off, len(src))
    assert d == src[off:off + len(d)], "wrong data at offset %d" % off
    off += len(d)
' "$M/big" "$T/big.src"
check "the other file still reads fine" same_file "$T/other.src" "$M/other"
check_sh "names, xattrs and links still read fine" '
[ "$(readlink "$M/link")" = "target-$MARK" ] && [ "$(cat "$M/dir-$MARK/inner-$MARK")" = nested ] &&
[ "$(getfattr --only-values -n user.secret "$M/xattr-holder")" = "value-$MARK" ]'
rfs_umount "$M"
finish
