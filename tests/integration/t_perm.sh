#!/usr/bin/env bash
# t_perm.sh - ownership and permission checks with two unprivileged users,
# on a mount with allow_other,default_permissions.
. "$(dirname "$0")/lib.sh"
cd / || exit 1

[ "$(id -u)" = 0 ] || skip_all "needs root (creates users, mounts with allow_other)"

U1=rfsuser1
U2=rfsuser2
for u in "$U1" "$U2"; do
	if ! id "$u" >/dev/null 2>&1; then
		useradd -M -s /usr/sbin/nologin "$u" || abort "useradd $u failed"
	fi
done
U1_ID=$(id -u "$U1") U1_GID=$(id -g "$U1")
U2_ID=$(id -u "$U2") U2_GID=$(id -g "$U2")
[ "$U1_GID" != "$U2_GID" ] || abort "$U1 and $U2 share a primary group"

# as USER CMD...: runs CMD as USER, with USER's primary group only.
as() {
	local u=$1
	shift
	setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups -- "$@"
}
# check_errno_as USER NAME WANT CODE [ARGS...]
check_errno_as() {
	local u=$1
	shift
	RFS_AS=(setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --clear-groups --)
	check_errno "$@"
	RFS_AS=()
}

chmod 0755 "$T"
B=$T/backing
M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" allow_other default_permissions || abort "mount failed"

check_sh "mount root can be opened to all (chmod 0755)" 'chmod 0755 "$M" && [ "$(stat -c %a "$M")" = 755 ]'
check_sh "a sticky world-writable directory" 'mkdir "$M/shared" && chmod 1777 "$M/shared" && [ "$(stat -c %a "$M/shared")" = 1777 ]'
check "$U1 can list the mount" as "$U1" ls "$M/shared"

# ---------------------------------------------------------------- ownership

check "$U1 creates a 0600 file" as "$U1" sh -c 'umask 077 && echo secret >"$1"' sh "$M/shared/private"
check_eq "the 0600 file belongs to $U1's uid and gid, mode 600" "$U1_ID:$U1_GID 600" \
	"$(stat -c '%u:%g %a' "$M/shared/private" 2>&1)"
check "$U1 creates a 0644 file" as "$U1" sh -c 'umask 022 && echo public >"$1"' sh "$M/shared/public"
check_eq "the 0644 file belongs to $U1, mode 644" "$U1_ID:$U1_GID 644" \
	"$(stat -c '%u:%g %a' "$M/shared/public" 2>&1)"
check "$U2 creates a file" as "$U2" sh -c 'echo mine >"$1"' sh "$M/shared/u2file"
check_eq "$U2's file belongs to $U2's uid and gid" "$U2_ID:$U2_GID" "$(stat -c %u:%g "$M/shared/u2file" 2>&1)"
check "$U1 makes a directory, a symlink and a FIFO" as "$U1" sh -c \
	'mkdir "$1/u1dir" && ln -s public "$1/u1link" && mkfifo "$1/u1fifo"' sh "$M/shared"
check_eq "they belong to $U1" "$U1_ID:$U1_GID $U1_ID:$U1_GID $U1_ID:$U1_GID" \
	"$(stat -c %u:%g "$M/shared/u1dir" 2>&1) $(stat -c %u:%g "$M/shared/u1link" 2>&1) $(stat -c %u:%g "$M/shared/u1fifo" 2>&1)"
check_eq "$U1's new directory has a umask-022 mode" 755 "$(stat -c %a "$M/shared/u1dir" 2>&1)"

# ---------------------------------------------------------------- access

check_errno_as "$U1" "$U1 reads its 0600 file" OK 'assert rd(A[0]) == b"secret\n"' "$M/shared/private"
check_errno_as "$U2" "$U2 cannot read $U1's 0600 file: EACCES" EACCES 'open(A[0], "rb")' "$M/shared/private"
check_errno_as "$U2" "$U2 cannot write $U1's 0600 file: EACCES" EACCES 'os.open(A[0], os.O_WRONLY)' "$M/shared/private"
check_errno_as "$U2" "$U2 reads $U1's 0644 file" OK 'assert rd(A[0]) == b"public\n"' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot open $U1's 0644 file for writing: EACCES" EACCES \
	'os.open(A[0], os.O_WRONLY | os.O_APPEND)' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot truncate $U1's 0644 file: EACCES" EACCES 'os.truncate(A[0], 0)' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot chmod $U1's file: EPERM" EPERM 'os.chmod(A[0], 0o666)' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot chown $U1's file to itself: EPERM" EPERM \
	'os.chown(A[0], os.getuid(), -1)' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot set user xattrs on $U1's file: EACCES" EACCES \
	'os.setxattr(A[0], "user.x", b"y")' "$M/shared/public"
# trusted.* is for CAP_SYS_ADMIN: not listed to others (as ext4 does it)
check "root sets a trusted xattr" setfattr -n trusted.secret -v 1 "$M/shared/public"
check_sh "root lists it" 'getfattr -m - -d "$M/shared/public" | grep -q "^trusted.secret"'
check_errno_as "$U2" "$U2 does not see trusted.* names in listxattr" OK \
	'n = os.listxattr(A[0]); assert not [x for x in n if x.startswith("trusted.")], n' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot delete $U1's file in a sticky directory: EPERM" EPERM \
	'os.unlink(A[0])' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot rename $U1's file in a sticky directory: EPERM" EPERM \
	'os.rename(A[0], A[0] + ".moved")' "$M/shared/public"
check_sh "$U1's files are intact" '[ "$(cat "$M/shared/public")" = public ] && [ "$(cat "$M/shared/private")" = secret ]'
check_errno_as "$U2" "$U2 cannot create in $U1's 0755 directory: EACCES" EACCES \
	'open(A[0] + "/intruder", "w")' "$M/shared/u1dir"
check "$U1 makes a 0700 directory with a file" as "$U1" sh -c \
	'mkdir -m 0700 "$1" && echo hidden >"$1/inside"' sh "$M/shared/u1private"
check_errno_as "$U2" "$U2 cannot list $U1's 0700 directory: EACCES" EACCES 'os.listdir(A[0])' "$M/shared/u1private"
check_errno_as "$U2" "$U2 cannot stat inside $U1's 0700 directory: EACCES" EACCES \
	'os.stat(A[0] + "/inside")' "$M/shared/u1private"
check_errno_as "$U1" "$U1 can chmod its own file" OK \
	'os.chmod(A[0], 0o640); assert stat.S_IMODE(os.stat(A[0]).st_mode) == 0o640' "$M/shared/public"
check_errno_as "$U2" "$U2 cannot read it after chmod 0640: EACCES" EACCES 'open(A[0], "rb")' "$M/shared/public"
check_errno_as "$U1" "$U1 cannot chown its file to $U2: EPERM" EPERM \
	"os.chown(A[0], $U2_ID, -1)" "$M/shared/public"
check_errno_as "$U1" "$U1 cannot chgrp to a group it is not in: EPERM" EPERM \
	"os.chown(A[0], -1, $U2_GID)" "$M/shared/public"
check_sh "root reads $U1's 0600 file" '[ "$(cat "$M/shared/private")" = secret ]'
check_errno_as "$U1" "$U1 can delete its own file" OK 'os.unlink(A[0])' "$M/shared/private"

# ---------------------------------------------------------------- setuid

check "$U1 creates an executable-mode file" as "$U1" sh -c 'echo x >"$1" && chmod 4755 "$1"' sh "$M/shared/suid"
check_sh "a write by another user clears the setuid bit" '
chmod o+w "$M/shared/suid" && as "$U2" sh -c "echo y >>\"\$1\"" sh "$M/shared/suid" &&
[ "$(stat -c %a "$M/shared/suid")" = 757 ]'
# Every other way to change contents clears them too, as on ext4 (the
# kernel leaves it to us: HANDLE_KILLPRIV_V2); setgid only when the file
# is group-executable.
echo src >"$M/shared/src"
for t in trunc cfr falloc; do
	echo hello >"$M/shared/k_$t"
	chmod 6777 "$M/shared/k_$t"
done
echo hello >"$M/shared/k_nogx"
chmod 2666 "$M/shared/k_nogx"
as "$U2" sh -c ': >"$1"' sh "$M/shared/k_trunc"
check_eq "open(O_TRUNC) by another user clears setuid and setgid" 777 "$(stat -c %a "$M/shared/k_trunc")"
as "$U2" "$RFS_PY" -c '
import os, sys
os.copy_file_range(os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_WRONLY), 3, 0, 0)' \
	"$M/shared/src" "$M/shared/k_cfr"
check_eq "copy_file_range by another user clears them" 777 "$(stat -c %a "$M/shared/k_cfr")"
as "$U2" fallocate -l 8192 "$M/shared/k_falloc"
check_eq "fallocate by another user clears them" 777 "$(stat -c %a "$M/shared/k_falloc")"
as "$U2" sh -c ': >"$1"' sh "$M/shared/k_nogx"
check_eq "setgid without group execute stays (a truncate by another user)" 2666 \
	"$(stat -c %a "$M/shared/k_nogx")"
echo a >"$M/shared/k_chown"
chmod 2644 "$M/shared/k_chown"
chown "$U1" "$M/shared/k_chown"
check_eq "chown keeps setgid without group execute" 2644 "$(stat -c %a "$M/shared/k_chown")"

rfs_umount "$M"
finish
