#!/usr/bin/env bash
# t_posix.sh - POSIX semantics through the mount, one system call at a time,
# then the random-operation data checker.
. "$(dirname "$0")/lib.sh"

B=$T/backing
M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" || abort "mount failed"

# ---------------------------------------------------------------- files

check_errno "write and read at offsets" OK '
p = A[0]
fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o644)
assert os.pwrite(fd, b"hello", 0) == 5
assert os.pwrite(fd, b"WORLD", 3) == 5
assert os.pwrite(fd, b"x" * 4096, 4093) == 4096
got = os.pread(fd, 10000, 0)
want = b"helWORLD" + b"\0" * (4093 - 8) + b"x" * 4096
assert got == want, (len(got), len(want))
assert os.fstat(fd).st_size == 4093 + 4096
os.close(fd)
assert rd(p) == want
' "$M/offsets"

check_errno "O_APPEND writes go to the end" OK '
p = A[0]
wr(p, b"0123456789")
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"abc")
assert os.lseek(fd, 0, os.SEEK_CUR) == 13
os.pwrite(fd, b"XY", 0)     # Linux: pwrite on O_APPEND appends too
os.close(fd)
assert rd(p) == b"0123456789abcXY", rd(p)
' "$M/append"

check_errno "O_TRUNC empties an existing file" OK '
p = A[0]
wr(p, b"some content here")
fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
assert os.fstat(fd).st_size == 0
os.write(fd, b"new")
os.close(fd)
assert rd(p) == b"new"
' "$M/trunc"

check_errno "O_CREAT|O_EXCL on an existing file: EEXIST" EEXIST '
os.open(A[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
' "$M/trunc"

check_errno "O_CREAT|O_EXCL on a new name" OK '
os.close(os.open(A[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
assert os.stat(A[0]).st_size == 0
' "$M/excl-new"

check_errno "open of a missing file: ENOENT" ENOENT 'os.open(A[0], os.O_RDONLY)' "$M/no-such-file"

check_errno "truncate grow reads zeros, shrink drops data" OK '
p = A[0]
wr(p, b"A" * 10000)
os.truncate(p, 20000)
d = rd(p)
assert d == b"A" * 10000 + b"\0" * 10000, "grow"
os.truncate(p, 3000)
assert rd(p) == b"A" * 3000, "shrink"
os.truncate(p, 9000)                 # old bytes must not come back
assert rd(p) == b"A" * 3000 + b"\0" * 6000, "shrink then grow"
os.truncate(p, 0)
assert rd(p) == b""
' "$M/truncate"

check_sh "truncate(1) -s sets the size" '
printf abc >"$M/trunc1" && truncate -s 123456 "$M/trunc1" &&
[ "$(stat -c %s "$M/trunc1")" = 123456 ] && truncate -s 2 "$M/trunc1" &&
[ "$(cat "$M/trunc1")" = ab ]'

check_errno "sparse holes read as zeros" OK '
p = A[0]
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"end", 3 * 1024 * 1024)
os.pwrite(fd, b"mid", 1024 * 1024 + 4095)
os.close(fd)
d = rd(p)
assert len(d) == 3 * 1024 * 1024 + 3
want = bytearray(len(d))
want[1024 * 1024 + 4095:1024 * 1024 + 4098] = b"mid"
want[-3:] = b"end"
assert d == bytes(want)
' "$M/sparse"

# A file bigger than 4 GiB: one byte at 5 GiB.
FIVE_G=$((5 * 1024 * 1024 * 1024))
check_sh "write 1 byte at offset 5 GiB (dd seek)" '
printf Z | dd of="$M/big" bs=1 seek='"$FIVE_G"' count=1 conv=notrunc status=none'
check_eq "size of the 5 GiB file" "$((FIVE_G + 1))" "$(stat -c %s "$M/big" 2>&1)"
check_eq "read back the byte at 5 GiB" "Z" \
	"$(dd if="$M/big" bs=1 skip="$FIVE_G" count=1 status=none 2>&1)"
check_sh "the 5 GiB file reads zeros before the byte and at 4 GiB" '
[ "$(dd if="$M/big" bs=4096 skip=$(( ('"$FIVE_G"' - 8192) / 4096 )) count=2 status=none | tr -d "\\0" | wc -c)" = 0 ] &&
[ "$(dd if="$M/big" bs=4096 skip=$((1024 * 1024)) count=1 status=none | tr -d "\\0" | wc -c)" = 0 ] &&
[ "$(dd if="$M/big" bs=4096 skip=$((1024 * 1024)) count=1 status=none | wc -c)" = 4096 ]'
rm -f "$M/big"

check_errno "unlinked file stays readable and writable while open" OK '
p = A[0]
wr(p, b"still here")
fd = os.open(p, os.O_RDWR)
os.unlink(p)
assert not os.path.exists(p)
assert os.pread(fd, 100, 0) == b"still here"
os.pwrite(fd, b"!", 10)
assert os.pread(fd, 100, 0) == b"still here!"
assert os.fstat(fd).st_nlink == 0
os.close(fd)
' "$M/unlinked"

check_errno "ftruncate through an open descriptor" OK '
p = A[0]
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b"x" * 5000)
os.ftruncate(fd, 100)
assert os.fstat(fd).st_size == 100
assert os.pread(fd, 10000, 0) == b"x" * 100
os.close(fd)
assert os.stat(p).st_size == 100
' "$M/ftrunc"

# ---------------------------------------------------------------- rename

check_sh "rename over an existing file" '
printf old >"$M/r-dst" && printf new >"$M/r-src" && mv -f "$M/r-src" "$M/r-dst" &&
[ ! -e "$M/r-src" ] && [ "$(cat "$M/r-dst")" = new ]'

check_errno "rename replaces the target atomically (old inode gone)" OK '
wr(A[0], b"aaa"); wr(A[1], b"bbb")
ia = os.stat(A[0]).st_ino
os.rename(A[0], A[1])
assert os.stat(A[1]).st_ino == ia
assert rd(A[1]) == b"aaa"
assert not os.path.exists(A[0])
' "$M/r2-a" "$M/r2-b"

check_errno "RENAME_NOREPLACE onto an existing name: EEXIST" EEXIST '
wr(A[0], b"one"); wr(A[1], b"two")
renameat2(A[0], A[1], RENAME_NOREPLACE)
' "$M/nr-a" "$M/nr-b"
check_sh "RENAME_NOREPLACE failure left both files alone" '
[ "$(cat "$M/nr-a")" = one ] && [ "$(cat "$M/nr-b")" = two ]'
check_errno "RENAME_NOREPLACE onto a free name" OK '
renameat2(A[0], A[1], RENAME_NOREPLACE)
assert rd(A[1]) == b"one" and not os.path.exists(A[0])
' "$M/nr-a" "$M/nr-c"

check_errno "RENAME_EXCHANGE swaps two files" OK '
wr(A[0], b"first"); wr(A[1], b"second")
i0, i1 = os.stat(A[0]).st_ino, os.stat(A[1]).st_ino
renameat2(A[0], A[1], RENAME_EXCHANGE)
assert rd(A[0]) == b"second" and rd(A[1]) == b"first"
assert os.stat(A[0]).st_ino == i1 and os.stat(A[1]).st_ino == i0
' "$M/ex-a" "$M/ex-b"

check_errno "RENAME_EXCHANGE swaps a file and a directory" OK '
os.mkdir(A[1]); wr(A[1] + "/inside", b"in")
wr(A[0], b"file")
renameat2(A[0], A[1], RENAME_EXCHANGE)
assert os.path.isdir(A[0]) and rd(A[0] + "/inside") == b"in"
assert rd(A[1]) == b"file"
' "$M/ex-f" "$M/ex-d"

check_errno "RENAME_EXCHANGE with a missing target: ENOENT" ENOENT '
renameat2(A[0], A[1], RENAME_EXCHANGE)
' "$M/ex-a" "$M/ex-missing"

check_sh "rename a directory across directories" '
mkdir -p "$M/rd1/sub" "$M/rd2" && echo deep >"$M/rd1/sub/f" &&
mv "$M/rd1/sub" "$M/rd2/moved" && [ "$(cat "$M/rd2/moved/f")" = deep ] && [ ! -e "$M/rd1/sub" ]'

check_errno "rename a directory onto a non-empty directory: ENOTEMPTY" ENOTEMPTY '
os.makedirs(A[0]); os.makedirs(A[1] + "/x")
os.rename(A[0], A[1])
' "$M/rn-e1" "$M/rn-e2"

# Removing a name changes the file's ctime, which the kernel writes back
# (writeback cache) after the file has left the namespace.  That write-back
# once failed with ESTALE, and the kernel kept it as a write-back error of
# the whole mount: the next syncfs(2) on it failed, whoever called it.
check_errno "syncfs after rm, rename over a file, and rm of an open file" OK '
fd = os.open(A[0], os.O_RDONLY | os.O_DIRECTORY)
d = A[0] + "/sf"
os.mkdir(d)
wr(d + "/a", b"a"); os.unlink(d + "/a")
syncfs(fd)
wr(d + "/b", b"b"); wr(d + "/c", b"c"); os.rename(d + "/b", d + "/c")
syncfs(fd)
g = os.open(d + "/c", os.O_RDWR)
os.unlink(d + "/c"); os.write(g, b"more"); os.fsync(g); os.close(g)
syncfs(fd)
os.rmdir(d)
syncfs(fd)
os.close(fd)
' "$M"
check "sync -f on the mount" sync -f "$M"

# ---------------------------------------------------------------- directories

check_sh "mkdir and rmdir" '
mkdir "$M/d1" && [ -d "$M/d1" ] && rmdir "$M/d1" && [ ! -e "$M/d1" ]'
mkdir -p "$M/d2" && : >"$M/d2/f"
check_errno "rmdir of a non-empty directory: ENOTEMPTY" ENOTEMPTY 'os.rmdir(A[0])' "$M/d2"
check_errno "mkdir of an existing name: EEXIST" EEXIST 'os.mkdir(A[0])' "$M/d2"
check_errno "unlink of a directory: EISDIR" EISDIR 'os.unlink(A[0])' "$M/d2"
check_errno "rmdir of a file: ENOTDIR" ENOTDIR 'os.rmdir(A[0])' "$M/d2/f"
check_sh "directory link count counts subdirectories" '
mkdir -p "$M/nl/a" "$M/nl/b" && [ "$(stat -c %h "$M/nl")" = 4 ]'

mkdir "$M/many"
check_sh "create 1000 files in one directory" '
cd "$M/many" && for i in $(seq -w 1 1000); do : >"file-$i" || exit 1; done'
check_eq "readdir of 1000 entries (ls)" "1000" "$(ls -f "$M/many" | grep -c '^file-')"
check_eq "readdir lists every name once" \
	"$(seq -w 1 1000 | sed 's/^/file-/')" "$(ls "$M/many" | LC_ALL=C sort)"
check_errno "readdir (Python) sees . and .. and 1000 names" OK '
names = os.listdir(A[0])
assert len(names) == 1000 and len(set(names)) == 1000, len(names)
with os.scandir(A[0]) as it:
    assert sum(1 for e in it if e.is_file()) == 1000
' "$M/many"
check_sh "readdir after deleting half" '
rm -f "$M"/many/file-*[02468] && [ "$(ls "$M/many" | wc -l)" = 500 ]'

# ---------------------------------------------------------------- links

check_sh "symlink and readlink" '
ln -s target-name "$M/sl" && [ "$(readlink "$M/sl")" = target-name ] &&
[ -L "$M/sl" ] && [ "$(stat -c %F "$M/sl")" = "symbolic link" ]'
check_sh "symlink to a file follows" '
echo via-link >"$M/sl-target" && ln -s sl-target "$M/sl2" && [ "$(cat "$M/sl2")" = via-link ] &&
ln -s "$M/sl-target" "$M/sl3" && [ "$(cat "$M/sl3")" = via-link ]'
check_errno "dangling symlink: ENOENT on open" ENOENT 'open(A[0]).read()' "$M/sl"
LONG_TARGET=$(head -c 1000 /dev/zero | tr '\0' 'y')
check_sh "symlink with a 1000-byte target" '
ln -s "$LONG_TARGET" "$M/sl-long" && [ "$(readlink "$M/sl-long")" = "$LONG_TARGET" ]'

check_sh "hard link: st_nlink 2, same inode, shared data" '
echo shared >"$M/h1" && ln "$M/h1" "$M/h2" &&
[ "$(stat -c %h "$M/h1")" = 2 ] && [ "$(stat -c %h "$M/h2")" = 2 ] &&
[ "$(stat -c %i "$M/h1")" = "$(stat -c %i "$M/h2")" ] &&
echo more >>"$M/h2" && [ "$(cat "$M/h1")" = "$(printf "shared\nmore")" ]'
check_sh "hard link: unlink one, the other keeps data and st_nlink 1" '
rm "$M/h1" && [ "$(stat -c %h "$M/h2")" = 1 ] && [ "$(head -n 1 "$M/h2")" = shared ]'
check_sh "hard link across directories, then rename" '
mkdir -p "$M/hl-a" "$M/hl-b" && echo x >"$M/hl-a/f" && ln "$M/hl-a/f" "$M/hl-b/g" &&
mv "$M/hl-b/g" "$M/hl-b/h" && [ "$(stat -c %h "$M/hl-a/f")" = 2 ] &&
[ "$(stat -c %i "$M/hl-a/f")" = "$(stat -c %i "$M/hl-b/h")" ]'
check_errno "hard link to a directory: EPERM" EPERM 'os.link(A[0], A[1])' "$M/d2" "$M/d2-link"

# ---------------------------------------------------------------- attributes

echo data >"$M/attr"
check_sh "chmod" 'chmod 0640 "$M/attr" && [ "$(stat -c %a "$M/attr")" = 640 ] &&
chmod 4755 "$M/attr" && [ "$(stat -c %a "$M/attr")" = 4755 ]'
check_sh "chown" 'chown 1234:5678 "$M/attr" && [ "$(stat -c %u:%g "$M/attr")" = 1234:5678 ]'
check_sh "chown keeps the data" '[ "$(cat "$M/attr")" = data ]'
check_sh "touch -d sets atime and mtime" '
touch -d "2001-02-03 04:05:06.5 UTC" "$M/attr" &&
[ "$(stat -c %Y "$M/attr")" = "$(date -d "2001-02-03 04:05:06 UTC" +%s)" ] &&
[ "$(stat -c %X "$M/attr")" = "$(date -d "2001-02-03 04:05:06 UTC" +%s)" ]'
check_sh "timestamps keep nanoseconds" '
touch -d "2001-02-03 04:05:06.123456789 UTC" "$M/attr" &&
[ "$(TZ=UTC stat -c %y "$M/attr")" = "2001-02-03 04:05:06.123456789 +0000" ]'
check_sh "touch -m only changes mtime" '
touch -d "2010-01-01 00:00:00 UTC" "$M/attr" && touch -m -d "2020-01-01 00:00:00 UTC" "$M/attr" &&
[ "$(stat -c %Y "$M/attr")" = "$(date -d "2020-01-01 00:00:00 UTC" +%s)" ] &&
[ "$(stat -c %X "$M/attr")" = "$(date -d "2010-01-01 00:00:00 UTC" +%s)" ]'
echo tgt >"$M/touch-target"
ln -s touch-target "$M/touch-link"
touch -d "2005-05-05 05:05:05 UTC" "$M/touch-target"
check_sh "touch -h changes the symlink, not its target" '
touch -h -d "1999-09-09 09:09:09 UTC" "$M/touch-link" &&
[ "$(stat -c %Y "$M/touch-link")" = "$(date -d "1999-09-09 09:09:09 UTC" +%s)" ] &&
[ "$(stat -L -c %Y "$M/touch-link")" = "$(date -d "2005-05-05 05:05:05 UTC" +%s)" ]'
check_sh "touch creates an empty file" 'touch "$M/touched" && [ -f "$M/touched" ] && [ ! -s "$M/touched" ]'

check_sh "mkfifo: a FIFO node that works as a pipe" '
mkfifo -m 0640 "$M/fifo" && [ -p "$M/fifo" ] && [ "$(stat -c %a "$M/fifo")" = 640 ]'
check_errno "FIFO passes data" OK '
fd = os.open(A[0], os.O_RDWR | os.O_NONBLOCK)
os.write(fd, b"through the fifo")
assert os.read(fd, 100) == b"through the fifo"
os.close(fd)
' "$M/fifo"

check_sh "df / statfs reports sizes" '
df -P "$M" >/dev/null && [ "$(stat -f -c %b "$M")" -gt 0 ] && [ "$(stat -f -c %S "$M")" -gt 0 ] &&
[ "$(stat -f -c %l "$M")" -ge 255 ]'

# ---------------------------------------------------------------- st_blocks

# st_blocks counts what a large file takes on disk, so a sparse file looks
# sparse to du, cp, tar and rsync (it was its size over 512: a 1 GiB file of
# one byte was 2 million blocks, and a cp of it wrote 1 GiB).
check_sh "st_blocks: a sparse file takes almost nothing, a full one its size" '
truncate -s 256M "$M/blk-sparse" && printf x >>"$M/blk-sparse" &&
[ "$(stat -c %b "$M/blk-sparse")" -lt 2048 ] &&
head -c 4M /dev/urandom >"$M/blk-full" &&
[ "$(stat -c %b "$M/blk-full")" -ge 8192 ] &&
fallocate -l 8M "$M/blk-falloc" && [ "$(stat -c %b "$M/blk-falloc")" -ge 16384 ]'
check_sh "st_blocks: cp keeps a sparse file sparse" '
cp "$M/blk-sparse" "$M/blk-copy" && [ "$(stat -c %s "$M/blk-copy")" = 268435457 ] &&
[ "$(stat -c %b "$M/blk-copy")" -lt 2048 ] && cmp "$M/blk-sparse" "$M/blk-copy" &&
rm -f "$M/blk-sparse" "$M/blk-copy" "$M/blk-full" "$M/blk-falloc"'

# ---------------------------------------------------------------- fallocate

check_sh "fallocate -l allocates and reads zeros" '
fallocate -l 1M "$M/falloc" && [ "$(stat -c %s "$M/falloc")" = 1048576 ] &&
[ "$(tr -d "\\0" <"$M/falloc" | wc -c)" = 0 ]'
check_sh "fallocate --keep-size keeps the size" '
fallocate --keep-size -l 4M "$M/falloc" && [ "$(stat -c %s "$M/falloc")" = 1048576 ] &&
[ "$(wc -c <"$M/falloc")" = 1048576 ]'
check_sh "fallocate over existing data keeps it" '
printf "0123456789" >"$M/falloc2" && fallocate -o 5 -l 100000 "$M/falloc2" &&
[ "$(stat -c %s "$M/falloc2")" = 100005 ] && [ "$(head -c 10 "$M/falloc2")" = 0123456789 ]'

# Punching and zeroing: whole blocks become holes, partial ones are sealed
# again with zeros, the file's last block keeps its record.  The pattern
# files are read again after the remount below (the persistence check).
check_errno "fallocate --punch-hole zeroes the range, keeps size and neighbours" OK '
import subprocess
p = A[0]
data = bytes((i * 7 + i // 4096) % 251 + 1 for i in range(5 * 4096 + 100))
wr(p, data)
def punch(off, n, *more):
    subprocess.run(["fallocate", *more, "-o", str(off), "-l", str(n), p], check=True)
want = bytearray(data)
punch(1000, 3 * 4096 + 500, "--punch-hole")
want[1000:1000 + 3 * 4096 + 500] = bytes(3 * 4096 + 500)
assert rd(p) == bytes(want), "middle"
punch(20000, 5000, "--punch-hole")
want[20000:] = bytes(len(want) - 20000)
assert rd(p) == bytes(want), "tail"
punch(0, 4096, "--punch-hole")
want[:4096] = bytes(4096)
assert rd(p) == bytes(want), "first block"
assert os.stat(p).st_size == len(data)
' "$M/punch"
check_errno "fallocate --zero-range zeroes inside, grows past the end" OK '
import subprocess
p = A[0]
data = bytes((i * 13) % 251 + 1 for i in range(3 * 4096))
wr(p, data)
want = bytearray(data)
r = subprocess.run(["fallocate", "--zero-range", "-o", "100", "-l", "10000", p],
    capture_output=True, text=True)
assert r.returncode == 0, r.stderr
want[100:10100] = bytes(10000)
assert rd(p) == bytes(want)
subprocess.run(["fallocate", "--zero-range", "-o", "12000", "-l", "5000", p], check=True)
want[12000:] = bytes(17000 - 12000)
assert rd(p) == bytes(want) and os.stat(p).st_size == 17000
' "$M/zerorange"
if ! is_raw; then
	# The backing file system's blocks: allocation must reserve them (a
	# write into the range cannot then fail for space), punching free them.
	# (objects only: the catalog keeps space allocated ahead of its log)
	backing_kib() { du -sk "$B/objects" | cut -f1; }
	K0=$(backing_kib)
	fallocate -l 32M "$M/reserve"
	K1=$(backing_kib)
	check "fallocate reserves backing space (+$((K1 - K0)) KiB for 32 MiB)" \
		test $((K1 - K0)) -ge 32000
	fallocate --keep-size -o 32M -l 16M "$M/reserve"
	K2=$(backing_kib)
	check_sh "fallocate --keep-size reserves too (+$((K2 - K1)) KiB for 16 MiB) and keeps the size" '
	[ $(('"$K2 - $K1"')) -ge 16000 ] && [ "$(stat -c %s "$M/reserve")" = 33554432 ]'
	truncate -s 16M "$M/reserve"
	K2b=$(backing_kib)
	check_sh "truncating a reserved file keeps the space below the cut, frees the rest (-$((K2 - K2b)) KiB)" '
	[ $(('"$K2 - $K2b"')) -ge 31000 ] && [ $(('"$K2b - $K0"')) -ge 16000 ]'
	head -c 16M /dev/urandom >"$M/punchfree"
	sync "$M/punchfree"
	K3=$(backing_kib)
	fallocate --punch-hole -o 1M -l 14M "$M/punchfree"
	K4=$(backing_kib)
	check "punching 14 MiB frees backing space (-$((K3 - K4)) KiB)" \
		test $((K3 - K4)) -ge 14000
	check_sh "punched file reads zeros in the hole, data around it" '
	[ "$(stat -c %s "$M/punchfree")" = 16777216 ] &&
	[ "$(tail -c +1048577 "$M/punchfree" | head -c 14680064 | tr -d "\0" | wc -c)" = 0 ] &&
	[ "$(head -c 1048576 "$M/punchfree" | tr -d "\0" | wc -c)" -gt 1000000 ]'
	rm -f "$M/reserve" "$M/punchfree"
fi

# ---------------------------------------------------------------- xattrs

echo x >"$M/xa"
check_sh "setfattr/getfattr user.* xattr" '
setfattr -n user.color -v blue "$M/xa" && [ "$(getfattr --only-values -n user.color "$M/xa")" = blue ]'
check_sh "xattr with a binary value; replacing a value" '
setfattr -n user.bin -v 0x00ff00ff "$M/xa" && setfattr -n user.color -v green "$M/xa" &&
[ "$(getfattr --only-values -n user.color "$M/xa")" = green ] &&
[ "$(getfattr -e hex -n user.bin "$M/xa" | sed -n "s/^user.bin=//p")" = 0x00ff00ff ]'
check_sh "listxattr shows both" '
getfattr -d -m "^user\\." "$M/xa" | grep -qx "user.color=\"green\"" &&
[ "$(getfattr -m "^user\\." "$M/xa" | grep -c "^user\\.")" = 2 ]'
check_sh "setfattr -x removes" 'setfattr -x user.color "$M/xa" && ! getfattr -n user.color "$M/xa" >/dev/null 2>&1'
# A removal moves ctime, as a set does.  (For a regular file the kernel
# moves it and writes it back itself; a directory's comes from the daemon.)
mkdir "$M/xrm" && setfattr -n user.gone -v 1 "$M/xrm"
XRM_C0=$(stat -c %.9Z "$M/xrm")
# (times here move by the kernel's clock tick: let one pass first)
poll_until 5 python3 -c 'import sys, time; sys.exit(time.time() < float(sys.argv[1]) + 0.02)' "$XRM_C0"
check_sh "removexattr moves ctime" '
setfattr -x user.gone "$M/xrm" && [ "$(stat -c %.9Z "$M/xrm")" != "$XRM_C0" ]'
XRM_C1=$(stat -c %z "$M/xrm")
check_errno "getxattr of a missing name: ENODATA" ENODATA 'os.getxattr(A[0], "user.nope")' "$M/xa"
check_errno "XATTR_CREATE on an existing name: EEXIST" EEXIST '
os.setxattr(A[0], "user.bin", b"v", os.XATTR_CREATE)' "$M/xa"
check_errno "XATTR_REPLACE on a missing name: ENODATA" ENODATA '
os.setxattr(A[0], "user.absent", b"v", os.XATTR_REPLACE)' "$M/xa"
check_errno "xattr on a directory, 4000-byte value" OK '
v = bytes(range(256)) * 15 + b"x" * 160
os.setxattr(A[0], "user.big", v)
assert os.getxattr(A[0], "user.big") == v
' "$M/d2"
if ! is_raw; then
	# No POSIX ACLs (not enforced under default_permissions) and no
	# per-file SELinux labels: "not supported", which also lets ls -l stop
	# asking for them on every file of the mount.
	for n in system.posix_acl_access system.posix_acl_default security.selinux; do
		check_errno "getxattr $n: EOPNOTSUPP" ENOTSUP "os.getxattr(A[0], \"$n\")" "$M/d2"
		check_errno "removexattr $n: EOPNOTSUPP" ENOTSUP "os.removexattr(A[0], \"$n\")" "$M/d2"
	done
	# (the kernel checks an ACL's value first: setfacl sends a valid one)
	check_errno "setxattr security.selinux: EOPNOTSUPP" ENOTSUP \
	    'os.setxattr(A[0], "security.selinux", b"system_u:object_r:x_t:s0")' "$M/d2"
	check_sh "setfacl reports the missing ACL support" \
	    '! setfacl -m u:nobody:r "$M/xa" 2>"$T/setfacl.err" && grep -q "not supported" "$T/setfacl.err"'
fi
# A name in no namespace: EOPNOTSUPP, as ext4 answers (FUSE passes it on).
check_errno "setxattr foo.bar (no namespace): EOPNOTSUPP" ENOTSUP \
    'os.setxattr(A[0], "foo.bar", b"1")' "$M/d2"

# ---------------------------------------------------------------- locks

: >"$M/lockfile"
check "flock -n on a free file" flock -n "$M/lockfile" true
# Hold an exclusive lock in the background until told to let go.
flock "$M/lockfile" sh -c ': >"$1/held"; while [ ! -e "$1/release" ]; do sleep 0.05; done' sh "$T" &
LOCKER=$!
if wait_for 30 test -e "$T/held"; then
	check_not "flock -n conflicts with a held lock" flock -n "$M/lockfile" true
fi
: >"$T/release"
wait "$LOCKER"
check "flock -n after release" flock -n "$M/lockfile" true

# ---------------------------------------------------------------- names

N255=$(printf 'n%.0s' $(seq 1 255))
check_sh "255-byte file name" '
echo long >"$M/$N255" && [ "$(cat "$M/$N255")" = long ] && ls "$M" | grep -qx "$N255"'
check_errno "256-byte file name: ENAMETOOLONG" ENAMETOOLONG 'open(A[0] + "/" + "n" * 256, "w")' "$M"
check_sh "255-byte directory name and rename to another 255-byte name" '
D=$(printf "d%.0s" $(seq 1 255)); mkdir "$M/$D" &&
mv "$M/$N255" "$M/$D/" && [ "$(cat "$M/$D/$N255")" = long ]'
check_sh "names with spaces, newlines, UTF-8 and odd bytes" '
n1="a b	c"; n2=$(printf "new\nline"); n3="ünïcødé-名前"; n4=$(printf "\\001\\377x")
for n in "$n1" "$n2" "$n3" "$n4"; do printf %s "$n" >"$M/$n" || exit 1; done
for n in "$n1" "$n2" "$n3" "$n4"; do [ "$(cat "$M/$n")" = "$n" ] || exit 1; done'

# A path close to PATH_MAX (4096): components of 250 bytes.
C250=$(printf 'p%.0s' $(seq 1 250))
# The file's full path is 4094 bytes: PATH_MAX less the NUL and one spare.
DEEP=$M
while [ $((4093 - ${#DEEP})) -gt 255 ]; do DEEP=$DEEP/$C250; done
check_sh "deep path of ${#DEEP} bytes: mkdir -p" 'mkdir -p "$DEEP"'
DEEPF=$DEEP/$(printf 'f%.0s' $(seq 1 $((4093 - ${#DEEP}))))
check_sh "file at a ${#DEEPF}-byte path: write, read, stat" '
echo deep >"$DEEPF" && [ "$(cat "$DEEPF")" = deep ] && [ "$(stat -c %s "$DEEPF")" = 5 ]'
check_sh "deep tree removes" 'rm -rf "$M/$C250" && [ ! -e "$M/$C250" ]'

# ---------------------------------------------------------------- concurrent reads

# Reads of one file share its lock; writes take it alone.  O_DIRECT sends
# every read and write to the daemon: 4 readers check each 4 KiB block they
# get (a block is fully determined by its index and a generation) while 2
# writers rewrite random blocks, for 3 s.  A read beside a write would see
# a half-written record: a torn block or EIO.
if ! is_raw; then
	check_errno "direct reads beside direct writes of one file: no torn block" OK '
import mmap, random, threading, time
p, NB = A[0], 256
def block(i, gen):
    return (b"%08d:%08d:" % (i, gen)) * (4096 // 18) + b"\n" * (4096 % 18)
wr(p, b"".join(block(i, 0) for i in range(NB)))
errors, stop = [], time.monotonic() + 3
def writer(seed):
    r, fd, buf = random.Random(seed), os.open(p, os.O_WRONLY | os.O_DIRECT), mmap.mmap(-1, 4096)
    g = 0
    while time.monotonic() < stop and not errors:
        i = r.randrange(NB)
        g += 1
        buf.seek(0)
        buf.write(block(i, seed * 1000000 + g))
        os.pwritev(fd, [buf], i * 4096)
    os.close(fd)
def reader(seed):
    r, fd, buf = random.Random(seed), os.open(p, os.O_RDONLY | os.O_DIRECT), mmap.mmap(-1, 65536)
    while time.monotonic() < stop and not errors:
        i = r.randrange(NB - 16)
        try:
            if os.preadv(fd, [buf], i * 4096) != 65536:
                errors.append("short read")
        except OSError as e:
            errors.append("read: %s" % e)
        for k in range(16):
            b = buf[k * 4096:(k + 1) * 4096]
            if b[:9] != b"%08d:" % (i + k) or b != b[:18] * (4096 // 18) + b"\n" * (4096 % 18):
                errors.append("torn block %d" % (i + k))
                break
    os.close(fd)
ts = [threading.Thread(target=writer, args=(s,)) for s in (1, 2)]
ts += [threading.Thread(target=reader, args=(s,)) for s in (3, 4, 5, 6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
assert not errors, errors[0]
' "$M/concurrent"
fi

# ---------------------------------------------------------------- copy_file_range

check_errno "copy_file_range copies a range" OK '
src, dst = A
data = os.urandom(300000)
wr(src, data)
fi = os.open(src, os.O_RDONLY)
fo = os.open(dst, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
want = 200000
done = 0
while done < want:
    n = os.copy_file_range(fi, fo, want - done, 50000 + done, 1000 + done)
    assert n > 0, "copy_file_range returned 0"
    done += n
os.close(fi); os.close(fo)
got = rd(dst)
assert got == b"\0" * 1000 + data[50000:250000], (len(got))
' "$M/cfr-src" "$M/cfr-dst"

# ---------------------------------------------------------------- ownership

check_sh "setgid directory: new files take its group" '
mkdir "$M/sgid" && chown 0:4321 "$M/sgid" && chmod 2775 "$M/sgid" &&
touch "$M/sgid/f" && [ "$(stat -c %g "$M/sgid/f")" = 4321 ]'
check_sh "setgid directory: new subdirectories take its group and the setgid bit" '
mkdir "$M/sgid/sub" && [ "$(stat -c %g "$M/sgid/sub")" = 4321 ] &&
[ -g "$M/sgid/sub" ]'
check_sh "no setgid: new files take the creator group" '
mkdir "$M/nosgid" && chown 0:4321 "$M/nosgid" && chmod 0775 "$M/nosgid" &&
touch "$M/nosgid/f" && [ "$(stat -c %g "$M/nosgid/f")" = "$(id -g)" ]'

check_sh "umask 027 applies to files and directories" '
(umask 027 && : >"$M/um-f" && mkdir "$M/um-d" && mkfifo "$M/um-p") &&
[ "$(stat -c %a "$M/um-f")" = 640 ] && [ "$(stat -c %a "$M/um-d")" = 750 ] &&
[ "$(stat -c %a "$M/um-p")" = 640 ]'
check_sh "umask 0 and explicit modes" '
(umask 0 && : >"$M/um0-f" && mkdir -m 0777 "$M/um0-d") &&
[ "$(stat -c %a "$M/um0-f")" = 666 ] && [ "$(stat -c %a "$M/um0-d")" = 777 ]'

# ---------------------------------------------------------------- times

echo base >"$M/times"
touch -d "2000-01-01 00:00:00 UTC" "$M/times"
CT0=$(stat -c %Z "$M/times")
# Let the clock pass CT0's second (and 20 ms for the kernel's coarse clock)
# so that a later ctime is visibly later even at one-second resolution.
clock_past() { [ "$(rfs_now_us)" -gt $(( ($1 + 1) * 1000000 + 20000 )) ]; }
wait_for 5 clock_past "$CT0"
T_BEFORE=$(($(date +%s) - 1))
check_sh "write updates mtime and ctime" '
echo more >>"$M/times" &&
[ "$(stat -c %Y "$M/times")" -ge "$T_BEFORE" ] && [ "$(stat -c %Z "$M/times")" -gt "$CT0" ]'
touch -d "2000-01-01 00:00:00 UTC" "$M/times"
check_sh "truncate updates mtime" '
truncate -s 2 "$M/times" && [ "$(stat -c %Y "$M/times")" -ge "$T_BEFORE" ]'
touch -d "2000-01-01 00:00:00 UTC" "$M/times"
check_sh "mmap write updates mtime" '
"$RFS_PY" -c "
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 2)
m[0:1] = b\"Q\"
m.flush(); m.close(); os.close(fd)" "$M/times" &&
[ "$(head -c 1 "$M/times")" = Q ] && [ "$(stat -c %Y "$M/times")" -ge "$T_BEFORE" ]'
CT1=$(stat -c %Z "$M/times")
wait_for 5 clock_past "$CT1"
check_sh "chmod updates ctime only" '
M0=$(stat -c %Y "$M/times") && chmod 600 "$M/times" &&
[ "$(stat -c %Z "$M/times")" -gt "$CT1" ] && [ "$(stat -c %Y "$M/times")" = "$M0" ]'
check_sh "creating a file updates the directory mtime" '
mkdir "$M/tdir" && touch -d "2000-01-01 00:00:00 UTC" "$M/tdir" && : >"$M/tdir/new" &&
[ "$(stat -c %Y "$M/tdir")" -ge "$T_BEFORE" ]'

# ---------------------------------------------------------------- huge sizes

# A record's offset in the object must fit in an off_t: past about 8.9 EiB
# writes, truncates and allocations are EFBIG (they were a wrapped offset:
# EINVAL, or a size no object could hold).  A sparse file shrunk inside its
# hole must not ask the backing for a longer object (ext4 stops at 16 TiB).
# Both files are removed, pass or fail: the persistence check below reads
# every file, and an 8 EiB one would take forever.
is_raw || check_errno "a write, truncate or fallocate past the largest size is EFBIG" OK '
fd = os.open(A[0], os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(A[0])
os.write(fd, b"head")
for what, f in (("truncate", lambda: os.ftruncate(fd, (1 << 63) - 1)),
                ("fallocate", lambda: os.posix_fallocate(fd, (1 << 63) - 8192, 4096))):
    try:
        f()
        raise AssertionError(what + " to 2^63-1 succeeded")
    except OSError as e:
        assert e.errno == errno.EFBIG, (what, e)
try:
    os.pwrite(fd, b"x", (1 << 63) - 10)
    os.fsync(fd)
    raise AssertionError("a write at 2^63-10 succeeded")
except OSError as e:
    assert e.errno == errno.EFBIG, e
os.ftruncate(fd, 4)
assert os.pread(fd, 10, 0) == b"head"
os.close(fd)' "$M/huge"
is_raw || check_errno "a 4 EiB sparse file shrinks back to its data" OK '
fd = os.open(A[0], os.O_RDWR | os.O_CREAT, 0o644)
os.unlink(A[0])
os.write(fd, b"head")
os.ftruncate(fd, 1 << 62)
assert os.fstat(fd).st_size == 1 << 62
assert os.pread(fd, 4, (1 << 62) - 4) == bytes(4)
os.ftruncate(fd, 1 << 61)
os.ftruncate(fd, 4)
assert os.pread(fd, 10, 0) == b"head"
os.close(fd)' "$M/sparse4e"

# ---------------------------------------------------------------- datacheck

# Reads, writes, holes, truncates, appends, mmap, fallocate (every mode),
# copy_file_range and syncs against a model of the file.  The mount must
# do every fallocate mode whatever its backing (-F); a plain directory
# (RFS_TEST_RAW=1, perhaps on a tmpfs) may refuse some.
DATACHECK=$(rfs_tool datacheck) || abort "no datacheck tool"
DC_STRICT=-F
is_raw && DC_STRICT=
check "datacheck 20000 ops, seed 1" "$DATACHECK" $DC_STRICT -n 20000 -s 1 "$M/dc1"
check "datacheck 20000 ops, seed 2" "$DATACHECK" $DC_STRICT -n 20000 -s 2 "$M/dc2"

# ---------------------------------------------------------------- old times

# Before 1970 a time is negative: its fraction must still come back as
# 0..999999999 ns (the daemon once split it toward zero: 12:00:00.5 became
# 12:00:01.999999999).  A directory's times come from the daemon at once,
# a file's after the remount below.
OLD_T="1960-05-01 12:00:00.5 UTC"
mkdir "$M/olddir" && touch -d "$OLD_T" "$M/olddir" "$M/oldfile"
check_eq "a directory's time before 1970 keeps its fraction" \
	"1960-05-01 12:00:00.500000000 +0000" "$(TZ=UTC stat -c %y "$M/olddir")"

# ---------------------------------------------------------------- atime

# relatime, as ext4 mounted by default: reading sets atime when it is not
# after mtime/ctime (or a day old); O_NOATIME and -o noatime leave it.  The
# kernel's attribute cache may show the old value for up to 1 s.
if ! is_raw; then
	echo data >"$M/at" && echo data >"$M/at-noatime" && mkdir "$M/atdir" &&
		touch -a -d "2000-01-01 UTC" "$M/at" "$M/atdir"
	cat "$M/at" >/dev/null
	ls "$M/atdir" >/dev/null
	check "reading a file sets its atime" poll_until 5 eval '[ "$(stat -c %X "$M/at")" -gt 946684800 ]'
	check "listing a directory sets its atime" poll_until 5 eval '[ "$(stat -c %X "$M/atdir")" -gt 946684800 ]'
	AT1=$(stat -c %x "$M/at")
	cat "$M/at" >/dev/null
fi

# ---------------------------------------------------------------- persistence

SUM_BEFORE=$(cd "$M" && find . -path ./many -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
rfs_umount "$M"
if ! is_raw; then
	rfs_mount "$B" "$M" || abort "remount failed"
	check_eq "contents survive a remount" "$SUM_BEFORE" \
		"$(cd "$M" && find . -path ./many -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)"
	check_sh "metadata survives a remount" '
	[ "$(stat -c %u:%g "$M/attr")" = 1234:5678 ] && [ "$(readlink "$M/sl")" = target-name ] &&
	[ "$(getfattr -e hex -n user.bin "$M/xa" | sed -n "s/^user.bin=//p")" = 0x00ff00ff ] &&
	[ "$(stat -c %g "$M/sgid/f")" = 4321 ] && [ -p "$M/fifo" ] && [ "$(ls "$M/many" | wc -l)" = 500 ]'
	check_eq "the atime a read set survives a remount; a second read left it" "$AT1" "$(stat -c %x "$M/at")"
	check_eq "the ctime of a removexattr survives a remount" "$XRM_C1" "$(stat -c %z "$M/xrm")"
	# (The checksums above read every file: at-noatime is set up now.)
	touch -a -d "2000-01-01 UTC" "$M/at-noatime"
	pyrun 'os.read(os.open(A[0], os.O_RDONLY | os.O_NOATIME), 10)' "$M/at-noatime"
	rfs_umount "$M"
	rfs_mount "$B" "$M" noatime || abort "remount -o noatime failed"
	check_eq "an O_NOATIME read left atime alone" 946684800 "$(stat -c %X "$M/at-noatime")"
	cat "$M/at-noatime" >/dev/null
	rfs_umount "$M"
	rfs_mount "$B" "$M" || abort "remount failed"
	check_eq "-o noatime: a read leaves atime alone" 946684800 "$(stat -c %X "$M/at-noatime")"
	check_eq "times before 1970 survive a remount" \
		"1960-05-01 12:00:00.500000000 +0000 1960-05-01 12:00:00.500000000 +0000" \
		"$(TZ=UTC stat -c %y "$M/olddir" "$M/oldfile" | tr '\n' ' ' | sed 's/ $//')"
	rfs_umount "$M"
fi

# ---------------------------------------------------------------- open files

# The daemon holds a descriptor per open file.  Started with a soft limit
# of 256 (a service gets 1024), it must still serve more open files than
# that: it raises its soft limit to the hard one.
SOFT=$(ulimit -Sn)
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt 1024 ]; then
	skip "600 files open at once" "hard open-file limit $HARD < 1024"
else
	ulimit -Sn 256
	rfs_mount "$B" "$M" || abort "remount failed"
	ulimit -Sn "$SOFT"
	mkdir -p "$M/open"
	check_errno "600 files open at once, daemon started with 256 descriptors" OK '
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < 1024:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
fds = [os.open("%s/f%03d" % (A[0], i), os.O_CREAT | os.O_WRONLY | os.O_APPEND,
    0o644) for i in range(600)]
for i, fd in enumerate(fds):
    os.write(fd, b"line %d\n" % i)
for fd in fds:
    os.close(fd)
for i in range(600):
    assert rd("%s/f%03d" % (A[0], i)) == b"line %d\n" % i
' "$M/open"
	rfs_umount "$M"
fi

finish
