#!/usr/bin/env bash
# t_backup.sh - backups of the backing directory and -o ro,recover: an
# expired file stays readable from a copy until created + backup_retention,
# when the live sweeper destroys its window key in the key store (kept
# outside the backing directory).  policies/backup.ini.
# shellcheck disable=SC2016,SC2034  # check_sh code is single-quoted, eval-ed later
source "$(dirname "$0")/lib.sh"
cd / || exit 1

is_raw && skip_all "backups need the daemon (RFS_TEST_RAW=1)"
[ "$(id -u)" = 0 ] || skip_all "needs root (-o recover is root-only)"
command -v getfattr >/dev/null || skip_all "getfattr (attr) not installed"

CTL=$BUILD/retentionctl
is_gone() { ! stat -- "$1" >/dev/null 2>&1; }
# short_keys DIR: the number of window keys of class short in DIR.
short_keys() { find "$1" -maxdepth 1 -name 'short@*.key' | wc -l; }
U=rfsuser1

B=$T/backing
K=$T/keystore
COPY=$T/copy
M=$T/mnt
MC=$T/mnt-copy
POL=$T/policy.ini
cp "$RFS_ROOT/tests/integration/policies/backup.ini" "$POL"
mkdir -p "$M" "$MC" "$K"
chmod 0700 "$K"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" "policy=$POL" "keystore=$K" || abort "mount failed"

head -c 20000 /dev/urandom >"$T/data"
cp "$T/data" "$M/s1.log"
echo "kept forever" >"$M/keep.txt"
s1_ino=$(ino_of "$M/s1.log")
s1_obj=$(obj "$B" "$s1_ino")
s1_created=$(epoch_of "$(xa created "$M/s1.log")")
check_eq "s1.log is in class short" short "$(xa class "$M/s1.log")"
check_sh "its window key is in the key store DIR (short@START.key)" '[ "$(short_keys "$K")" -ge 1 ]'
check_sh "no window key in BACKING/keys" '[ ! -d "$B/keys" ] || [ -z "$(ls -A "$B/keys")" ]'
# A copy of a live store holds what was durable when it was taken (as a
# file-system snapshot would): fsync makes the two files durable.
check "fsync s1.log, keep.txt and their directory" sync "$M/s1.log" "$M/keep.txt" "$M"
check "cp -a BACKING COPY while s1.log exists" cp -a "$B" "$COPY"

# The copy is mounted at once; it is static, nothing is read from it yet.
rfs_mount "$COPY" "$MC" ro recover "policy=$POL" "keystore=$K" || abort "recover mount failed"

check "the live s1.log expires" wait_for 4 is_gone "$M/s1.log"
if wait_for 2.5 test ! -e "$s1_obj"; then
	ok "the live s1.log is shredded"
else
	fail "the live s1.log is shredded" "$s1_obj still exists"
fi
check_sh "(created + backup_retention has not passed yet)" '[ "$(date +%s)" -lt $((s1_created + 5)) ]'
check_sh "the window key still exists" '[ "$(short_keys "$K")" -ge 1 ]'
check_sh "the copy lists s1.log" 'ls "$MC" | grep -qx s1.log'
check "the copy's s1.log reads back identical" cmp "$T/data" "$MC/s1.log"
check_eq "getfattr user.retention.expired says 1" 1 "$(xa expired "$MC/s1.log")"
check_eq "a live file in the copy: expired = 0" 0 "$(xa expired "$MC/keep.txt")"
check_eq "the copy's keep.txt reads back" "kept forever" "$(cat "$MC/keep.txt" 2>&1)"
check_errno "the recover mount is read-only: EROFS" EROFS 'wr(A[0], b"x")' "$MC/new.txt"

# The live sweeper destroys the window key at created + backup_retention.
check "the live mount's sweeper destroys the short window key" \
	wait_for 8 eval '[ "$(short_keys "$K")" = 0 ]'
check_sh "not before created + backup_retention (5 s)" '[ "$(date +%s)" -ge $((s1_created + 5)) ]'
check_sh "audit has a key-destroy record for class short" \
	'ctl audit "$M" --json | grep "\"op\":\"key-destroy\"" | grep -q "\"class\":\"short\""'
rfs_umount "$MC"
rfs_mount "$COPY" "$MC" ro recover "policy=$POL" "keystore=$K" || abort "recover remount failed"
check_errno "after that, s1.log in the remounted copy is unlisted or unreadable" OK '
import errno
p = A[0]
if os.path.basename(p) in os.listdir(os.path.dirname(p)):
    try:
        rd(p)
    except OSError as e:
        if e.errno not in (errno.EIO, errno.ENOENT):
            raise
    else:
        raise Exception("s1.log still reads back")
' "$MC/s1.log"
check_eq "keep.txt (default window key kept) still reads back" "kept forever" "$(cat "$MC/keep.txt" 2>&1)"
rfs_umount "$MC"

# ---------------------------------------------------------------- non-root

if ! id "$U" >/dev/null 2>&1; then
	useradd -M -s /usr/sbin/nologin "$U" || abort "useradd $U failed"
fi
# The user gets its own copy of everything, so only -o recover can stop it.
UC=$T/user
mkdir -p "$UC/mnt"
cp -a "$COPY" "$UC/store"
cp -a "$K" "$UC/keys"
cp "$T/key" "$UC/key"
cp "$POL" "$UC/policy.ini"
chown -R "$U:" "$UC"
chmod 0755 "$T"
out=$(timeout 20 setpriv --reuid="$(id -u "$U")" --regid="$(id -g "$U")" --clear-groups -- \
	"$BUILD/retentionfs" "$UC/store" "$UC/mnt" -f \
	-o "ro,recover,keyfile=$UC/key,keystore=$UC/keys,policy=$UC/policy.ini" 2>&1)
rc=$?
if mountpoint -q "$UC/mnt"; then
	fusermount3 -u -z "$UC/mnt" 2>/dev/null || umount -l "$UC/mnt"
	fail "non-root -o recover is refused" "it mounted" "$out"
elif [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
	fail "non-root -o recover is refused" "exit status $rc" "$out"
else
	ok "non-root -o recover is refused (exit $rc)"
fi
check_sh "saying it is for root" '[[ $out == *recover*root* ]] || { echo "$out"; false; }'

rfs_umount "$M"
finish
