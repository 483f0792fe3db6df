#!/usr/bin/env bash
# t_ops.sh - operations: make install/uninstall (PREFIX, DESTDIR), the man
# pages, the example policies and units, mounting with mount(8) through
# mount.fuse3, and `retentionctl import`.
#
# Needs root (mount(8), file owners).  The mount -t fuse.retentionfs check
# runs in a private mount namespace (unshare) where the installed sbin is
# bound over /usr/local/sbin, because mount(8) gives mount.fuse3 no PATH.
#
# shellcheck shell=bash disable=SC2016  # check_sh code is single-quoted on purpose
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

is_raw && skip_all "needs the daemon, mount(8) and make install"
[ "$(id -u)" = 0 ] || skip_all "needs root (mount(8), file owners)"
command -v make >/dev/null || skip_all "make not installed"

CTL=$BUILD/retentionctl
DEST=$T/dest
DEST2=$T/dest2
SBIN=$DEST/usr/local/sbin

# make, never rebuilding the binaries under test (BUILD may be a sanitizer
# build that plain make would redo without its flags).
RFS_MAKE=(make -s --no-print-directory -C "$RFS_ROOT" BUILD="$BUILD"
    -o "$BUILD/retentionfs" -o "$BUILD/retentionctl")
if ! grep -qx 'include mk/install.mk' "$RFS_ROOT/Makefile"; then
	echo "note: the Makefile does not include mk/install.mk yet; using -f"
	RFS_MAKE+=(-f Makefile -f mk/install.mk)
fi

# ---------------------------------------------------------------- install

check "make install DESTDIR=... (default PREFIX)" \
    "${RFS_MAKE[@]}" DESTDIR="$DEST" install

check_eq "installed files and modes" \
"644 usr/local/lib/systemd/system/retentionfs@.service
755 usr/local/sbin/retentionctl
755 usr/local/sbin/retentionfs
644 usr/local/share/doc/retentionfs/README.md
644 usr/local/share/doc/retentionfs/examples/customers.conf
644 usr/local/share/doc/retentionfs/examples/fstab.example
644 usr/local/share/doc/retentionfs/examples/retentionfs-applog.service
644 usr/local/share/doc/retentionfs/examples/sms.conf
644 usr/local/share/doc/retentionfs/examples/syslog.conf
644 usr/local/share/doc/retentionfs/recipes.md
644 usr/local/share/man/man5/retentionfs.conf.5
644 usr/local/share/man/man8/retentionctl.8
644 usr/local/share/man/man8/retentionfs.8" \
    "$(cd "$DEST" && find . \( -type f -o -type l \) -printf '%m %P\n' | LC_ALL=C sort -k2)"

check "installed binaries are the built ones" \
    eval 'cmp "$BUILD/retentionfs" "$SBIN/retentionfs" && cmp "$BUILD/retentionctl" "$SBIN/retentionctl"'
# (Leak checks off here: this is about the installed files, and libfuse's
# option list is not freed on the --version path.)
check_sh "installed retentionfs and retentionctl run" \
    'export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0;
     "$SBIN/retentionfs" --version | grep -q "^retentionfs " && "$SBIN/retentionctl" --version | grep -q "^retentionctl "'
check_eq "unit runs \$PREFIX/sbin/retentionfs" \
    "ExecStart=/usr/local/sbin/retentionfs \${RFS_BACKING} \${RFS_MOUNTPOINT} -f -o policy=/etc/retentionfs/%i.conf,\${RFS_OPTIONS}" \
    "$(grep '^ExecStart=' "$DEST/usr/local/lib/systemd/system/retentionfs@.service")"
check_sh "man finds the installed pages" \
    'MANWIDTH=80 man -M "$DEST/usr/local/share/man" 5 retentionfs.conf 2>/dev/null | grep -q "retention policy of a retentionfs mount" &&
     MANWIDTH=80 man -M "$DEST/usr/local/share/man" 8 retentionctl 2>/dev/null | grep -q "skipped, already past its retention"'

check "make install PREFIX=/usr" "${RFS_MAKE[@]}" DESTDIR="$DEST2" PREFIX=/usr install
check_sh "PREFIX=/usr: binaries in /usr/sbin, unit runs /usr/sbin/retentionfs" \
    '[ -x "$DEST2/usr/sbin/retentionfs" ] && [ -x "$DEST2/usr/sbin/retentionctl" ] &&
     [ ! -e "$DEST2/usr/local" ] &&
     grep -q "^ExecStart=/usr/sbin/retentionfs " "$DEST2/usr/lib/systemd/system/retentionfs@.service"'

if command -v systemd-analyze >/dev/null; then
	# The units as installed, with ExecStart pointing at the staged copy.
	mkdir -p "$T/units"
	sed "s|/usr/local/sbin/|$SBIN/|" "$DEST/usr/local/lib/systemd/system/retentionfs@.service" \
	    >"$T/units/retentionfs@t.service"
	sed "s|/usr/local/sbin/|$SBIN/|" "$DEST/usr/local/share/doc/retentionfs/examples/retentionfs-applog.service" \
	    >"$T/units/retentionfs-applog.service"
	for u in retentionfs@t.service retentionfs-applog.service; do
		check_sh "systemd-analyze verify $u: no complaint" \
		    'out=$(cd "$T/units" && systemd-analyze verify --man=no "./'"$u"'" 2>&1); rc=$?; echo "$out"; [ "$rc" = 0 ] && [ -z "$out" ]'
	done
else
	skip "systemd-analyze verify" "systemd-analyze not installed"
fi

# ---------------------------------------------------------------- man pages

for m in "$RFS_ROOT"/man/*.[0-9]; do
	n=${m##*/}
	check_sh "man page $n renders without warnings" \
	    'w=$(MANWIDTH=80 man --warnings -E UTF-8 -l "'"$m"'" 2>&1 >/dev/null); echo "$w"; [ -z "$w" ] &&
	     MANWIDTH=80 man -E UTF-8 -l "'"$m"'" 2>/dev/null | grep -q "^NAME"'
done
check "make man-check" "${RFS_MAKE[@]}" man-check

# ---------------------------------------------------------------- examples

for p in "$RFS_ROOT"/examples/*.conf; do
	check "policy check examples/${p##*/}" "$CTL" policy check "$p"
done

# ---------------------------------------------------------------- uninstall
# (after the mount checks below, which run the staged copy)

# ---------------------------------------------------------------- mount(8)

BACK=$T/back
KEY=$T/key
MNT=$T/mnt
mkdir -p "$MNT"
check "retentionctl init (installed)" "$SBIN/retentionctl" init "$BACK" --keyfile "$KEY"

# mount_helper_check NAME CMD...: CMD mounts BACKING on MNT through mount(8)
# or mount.fuse3 (the daemon detaches); checks the mount, the options the
# daemon got, a write and a read, then umount and the daemon's exit.
mount_helper_check() {
	local name=$1 pid args
	shift
	RFS_MOUNTS+=("$MNT")
	if ! check "$name: mounts" "$@"; then
		return 1
	fi
	check_eq "$name: type" "fuse.retentionfs" "$(findmnt -n -o FSTYPE --mountpoint "$MNT")"
	if ! pid=$(rfs_find_daemon "$MNT"); then
		fail "$name: a retentionfs process serves $MNT"
		return 1
	fi
	RFS_PIDS+=("$pid")
	check "$name: the daemon is the installed binary" cmp "/proc/$pid/exe" "$SBIN/retentionfs"
	args=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	check_sh "$name: nofail, _netdev and x-systemd.* do not reach the daemon" \
	    '! printf "%s\n" "'"$args"'" | grep -Eq "nofail|_netdev|x-systemd"'
	check_sh "$name: write and read through the mount" \
	    'printf "via %s\n" "'"$name"'" >"$MNT/helper.log" && [ "$(cat "$MNT/helper.log")" = "via '"$name"'" ]'
	check "$name: umount" umount "$MNT"
	check_not "$name: no longer mounted" mountpoint -q "$MNT"
	if poll_until 30 eval "! rfs_pid_alive $pid"; then
		ok "$name: daemon exited after umount"
		rfs_forget_pid "$pid"
	else
		fail "$name: daemon exited after umount" "pid $pid still running 30 s after umount"
	fi
}

# 1. mount(8) with the program named in the source (fuse "PROG#SOURCE").
mount_helper_check "mount -t fuse PROG#BACKING" \
    mount -t fuse "$SBIN/retentionfs#$BACK" "$MNT" \
    -o "keyfile=$KEY,allow_other,nofail,_netdev,x-systemd.automount,x-systemd.requires=/"

# 2. mount.fuse3 called directly finds retentionfs in PATH.
mount_helper_check "mount.fuse3 -t retentionfs (PATH)" \
    env PATH="$SBIN:$PATH" mount.fuse3 "$BACK" "$MNT" -t retentionfs \
    -o "keyfile=$KEY,allow_other,nofail,_netdev"

# 3. mount -t fuse.retentionfs: mount(8) drops PATH, /bin/sh searches its
# default path, which starts with /usr/local/sbin: bind the staged sbin
# there, in a private mount namespace.
if unshare -m --propagation private true 2>/dev/null; then
	cat >"$T/ns.sh" <<'EOF'
set -u
pid=
cleanup() {
	mountpoint -q "$MNT" && umount -l "$MNT"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
}
trap cleanup EXIT
mount --bind "$SBIN" /usr/local/sbin || { echo "cannot bind $SBIN"; exit 1; }
mount -t fuse.retentionfs "$BACK" "$MNT" \
    -o "keyfile=$KEY,allow_other,nofail,x-systemd.automount,x-systemd.requires=/" ||
	{ echo "mount -t fuse.retentionfs failed"; exit 1; }
mountpoint -q "$MNT" || { echo "not mounted"; exit 1; }
[ "$(findmnt -n -o FSTYPE --mountpoint "$MNT")" = fuse.retentionfs ] || { echo "wrong type"; exit 1; }
for p in /proc/[0-9]*; do
	mapfile -d '' -t argv <"$p/cmdline" 2>/dev/null || continue
	[ "${argv[0]:-}" = retentionfs ] && [ "${argv[2]:-}" = "$MNT" ] && pid=${p#/proc/}
done
[ -n "$pid" ] || { echo "no daemon found"; exit 1; }
cmp "/proc/$pid/exe" "$SBIN/retentionfs" || { echo "the daemon is not the installed binary"; exit 1; }
tr '\0' ' ' <"/proc/$pid/cmdline"; echo
tr '\0' '\n' <"/proc/$pid/cmdline" | grep -Eq 'nofail|x-systemd' && { echo "daemon got nofail/x-systemd"; exit 1; }
[ "$(cat "$MNT/helper.log" 2>&1)" = "via mount.fuse3 -t retentionfs (PATH)" ] ||
	{ echo "earlier file not readable"; exit 1; }
echo data >"$MNT/ns.log" && [ "$(cat "$MNT/ns.log")" = data ] || { echo "write/read failed"; exit 1; }
umount "$MNT" || { echo "umount failed"; exit 1; }
for ((i = 0; i < 600; i++)); do
	kill -0 "$pid" 2>/dev/null || { pid=; echo "daemon exited"; exit 0; }
	sleep 0.05
done
echo "daemon $pid still running 30 s after umount"
exit 1
EOF
	check "mount -t fuse.retentionfs BACKING MNT -o keyfile=,nofail,x-systemd.* + umount (private namespace)" \
	    env SBIN="$SBIN" BACK="$BACK" MNT="$MNT" KEY="$KEY" \
	    unshare -m --propagation private bash "$T/ns.sh"
	check_not "the namespace's mount did not leak" mountpoint -q "$MNT"
else
	skip "mount -t fuse.retentionfs" "unshare -m not permitted here"
fi

# ---------------------------------------------------------------- uninstall

check "make uninstall" "${RFS_MAKE[@]}" DESTDIR="$DEST" uninstall
check_eq "uninstall removes every installed file" "" \
    "$(cd "$DEST" && find . \( -type f -o -type l \) -printf '%P\n')"
check_not "uninstall removes the doc directory" test -e "$DEST/usr/local/share/doc/retentionfs"
check "make uninstall PREFIX=/usr" "${RFS_MAKE[@]}" DESTDIR="$DEST2" PREFIX=/usr uninstall
check_eq "uninstall PREFIX=/usr removes every installed file" "" \
    "$(cd "$DEST2" && find . \( -type f -o -type l \) -printf '%P\n')"

# ---------------------------------------------------------------- import

POL=$T/import.conf
cat >"$POL" <<'EOF'
[class sms]
retention = 10d
match = sms/*.log*
[class audit]
retention = 1y
match = *.audit
[class default]
retention = 30d
EOF
SRC=$T/src
IB=$T/istore
IK=$T/ikey
IM=$T/imnt
mkdir -p "$SRC/sms/sub" "$SRC/other" "$IM"
printf 'sms a\n' >"$SRC/sms/a.log"
printf 'sms b, old\n' >"$SRC/sms/b.log.1"
printf 'sms c, deeper: default class\n' >"$SRC/sms/sub/c.log"
printf 'audit\n' >"$SRC/x.audit"
head -c 1048576 /dev/urandom >"$SRC/other/big.bin"
ln "$SRC/other/big.bin" "$SRC/other/hard"
ln -s ../sms/a.log "$SRC/other/link"
: >"$SRC/empty"
chown 65534:65534 "$SRC/other/big.bin"
chmod 0640 "$SRC/other/big.bin"
chmod 0750 "$SRC"
touch -d '3 days ago' "$SRC/sms/a.log"
touch -d '20 days ago' "$SRC/sms/b.log.1"     # sms: 10d -> expired
touch -d '5 days ago' "$SRC/sms/sub/c.log"
touch -d '100 days ago' "$SRC/x.audit"         # audit: 1y -> kept
touch -d '2 days ago' "$SRC/other/big.bin"
touch -d '1 day ago' "$SRC/empty"
touch -h -d '6 days ago' "$SRC/other/link"
touch -d '4 days ago' "$SRC/other" "$SRC/sms/sub"
touch -d '7 days ago' "$SRC"
# extended attributes travel too (not user.retention.*: the import sets those)
xa_ok=1
setfattr -n user.origin -v sms-gateway "$SRC/sms/a.log" 2>/dev/null &&
	setfattr -n user.team -v ops "$SRC/other" 2>/dev/null || xa_ok=
touch -d '3 days ago' "$SRC/sms/a.log"
touch -d '4 days ago' "$SRC/other"
before=$(tree_sum "$SRC")
want_bytes=$(($(stat -c %s "$SRC/sms/a.log") + $(stat -c %s "$SRC/sms/sub/c.log") +
    $(stat -c %s "$SRC/x.audit") + 1048576))

check "retentionctl init (import store)" "$CTL" init "$IB" --keyfile "$IK"
# shellcheck disable=SC2034  # used by rfs_mount (lib.sh)
RFS_KEY=$IK
"$CTL" import --store "$IB" --keyfile "$IK" --policy "$POL" "$SRC" >"$T/imp.out" 2>"$T/imp.err"
rc=$?
if grep -q 'rfs_fs_set_created is missing' "$T/imp.err"; then
	abort "retentionctl import: this build lacks rfs_fs_set_created (fs_admin.c)" "$(cat "$T/imp.err")"
fi
check_eq "import: exit status 0" 0 "$rc"
check_eq "import: reports the expired file and the summary" \
"skipped, already past its retention: $SRC/sms/b.log.1
imported 5 files ($want_bytes bytes), skipped 1 expired" "$(cat "$T/imp.out")"
check_eq "import: nothing on stderr when it is not a terminal" "" "$(cat "$T/imp.err")"
check_eq "import: originals untouched" "$before" "$(tree_sum "$SRC")"

# created as RFC 3339 UTC, from a file's mtime
rfc3339_of() { date -u -d "@$(stat -c %Y "$1")" +%Y-%m-%dT%H:%M:%SZ; }
xattr() { pyrun 'print(os.getxattr(A[0], A[1]).decode())' "$1" "$2"; }

if rfs_mount "$IB" "$IM" "policy=$POL"; then
	for f in sms/a.log sms/sub/c.log x.audit other/big.bin other/hard empty; do
		check "import: $f has the original contents" cmp "$SRC/$f" "$IM/$f"
	done
	check_not "import: the expired file is not in the store" test -e "$IM/sms/b.log.1"
	check_eq "import: classes by the policy rules" \
	    "sms default audit default default" \
	    "$(for f in sms/a.log sms/sub/c.log x.audit other/big.bin empty; do xattr "$IM/$f" user.retention.class; done | tr '\n' ' ' | sed 's/ $//')"
	for f in sms/a.log sms/sub/c.log x.audit other/big.bin empty; do
		check_eq "import: $f user.retention.created is its original mtime" \
		    "$(rfc3339_of "$SRC/$f")" "$(xattr "$IM/$f" user.retention.created)"
	done
	check_eq "import: sms/a.log expires at mtime + 10d" \
	    "$(date -u -d "@$(($(stat -c %Y "$SRC/sms/a.log") + 864000))" +%Y-%m-%dT%H:%M:%SZ)" \
	    "$(xattr "$IM/sms/a.log" user.retention.expires)"
	check_eq "import: mode, owner, group and mtime kept" \
	    "$(cd "$SRC" && stat -c '%n %a %u %g %Y' other/big.bin sms/a.log other sms/sub .)" \
	    "$(cd "$IM" && stat -c '%n %a %u %g %Y' other/big.bin sms/a.log other sms/sub .)"
	check_sh "import: a hard link stays a hard link" \
	    '[ "$(stat -c "%i %h" "$IM/other/big.bin")" = "$(stat -c "%i %h" "$IM/other/hard")" ] &&
	     [ "$(stat -c %h "$IM/other/big.bin")" = 2 ]'
	check_eq "import: a symlink stays a symlink" "../sms/a.log" "$(readlink "$IM/other/link")"
	if [ -n "$xa_ok" ]; then
		check_eq "import: a file's extended attribute is copied" sms-gateway \
		    "$(xattr "$IM/sms/a.log" user.origin)"
		check_eq "import: a directory's extended attribute is copied" ops \
		    "$(xattr "$IM/other" user.team)"
	else
		skip "import of extended attributes" "the source filesystem has no user xattrs"
	fi
	check_eq "import: one import audit record per file" 5 \
	    "$("$CTL" audit "$IM" | grep -c ' import ')"
	rfs_umount "$IM"
fi

"$CTL" import --store "$IB" --keyfile "$IK" --policy "$POL" "$SRC" >"$T/imp2.out" 2>"$T/imp2.err"
rc=$?
check_eq "import again: exit status 1 (names exist)" 1 "$rc"
check_sh "import again: says the files exist" 'grep -q "sms/a.log: cannot create sms/a.log in the store: it already exists" "$T/imp2.err"'

check_eq "import without arguments: usage, exit 2" 2 "$("$CTL" import >/dev/null 2>&1; echo $?)"
check_eq "import without --keyfile: usage, exit 2" 2 \
    "$("$CTL" import --store "$IB" "$SRC" >/dev/null 2>&1; echo $?)"
check_eq "import of a missing directory: exit 1" 1 \
    "$("$CTL" import --store "$IB" --keyfile "$IK" "$T/nonexistent" >/dev/null 2>&1; echo $?)"
(umask 077 && head -c 32 /dev/urandom >"$T/wrongkey")
check_eq "import with a wrong key: exit 1" 1 \
    "$("$CTL" import --store "$IB" --keyfile "$T/wrongkey" "$SRC" >/dev/null 2>&1; echo $?)"

# --remove-source, into a subdirectory
SRC2=$T/src2
IB2=$T/istore2
mkdir -p "$SRC2/sms" "$SRC2/d/e"
printf 'fresh\n' >"$SRC2/sms/a.log"
printf 'expired\n' >"$SRC2/sms/old.log"
printf 'deep\n' >"$SRC2/d/e/f.txt"
touch -d '2 days ago' "$SRC2/sms/a.log"
touch -d '40 days ago' "$SRC2/sms/old.log"     # default: 30d -> expired
touch -d '3 days ago' "$SRC2/d/e/f.txt"
mkdir -p "$T/keep"
cp -a "$SRC2/." "$T/keep/"
check "retentionctl init (second store)" "$CTL" init "$IB2" --keyfile "$IK"
"$CTL" import --store "$IB2" --keyfile "$IK" --policy "$POL" --to imported/x \
    --remove-source "$SRC2" >"$T/imp3.out" 2>"$T/imp3.err"
rc=$?
check_eq "import --remove-source: exit status 0" 0 "$rc"
check_eq "import --remove-source: summary" "imported 2 files (11 bytes), skipped 1 expired" \
    "$(tail -n 1 "$T/imp3.out")"
check_eq "import --remove-source: only SRC and the expired file remain" \
". d
./sms d
./sms/old.log f" "$(cd "$SRC2" && find . -printf '%p %y\n' | LC_ALL=C sort)"
if rfs_mount "$IB2" "$IM" "policy=$POL"; then
	check "import --remove-source: sms/a.log kept in the store" cmp "$T/keep/sms/a.log" "$IM/imported/x/sms/a.log"
	check "import --remove-source: d/e/f.txt kept in the store" cmp "$T/keep/d/e/f.txt" "$IM/imported/x/d/e/f.txt"
	check_eq "import --to: rules see the path under --to (default, not sms)" "default" \
	    "$(xattr "$IM/imported/x/sms/a.log" user.retention.class)"
	check_eq "import --remove-source: created is the original mtime" \
	    "$(rfc3339_of "$T/keep/d/e/f.txt")" "$(xattr "$IM/imported/x/d/e/f.txt" user.retention.created)"
	rfs_umount "$IM"
fi

# a store kept under the source directory is not imported into itself
SRC4=$T/src4
mkdir -p "$SRC4/logs"
printf 'x\n' >"$SRC4/logs/x.log"
check "retentionctl init (store inside SRC)" "$CTL" init "$SRC4/store" --keyfile "$IK"
check_sh "import skips the store's own directory" \
    '"$CTL" import --store "$SRC4/store" --keyfile "$IK" "$SRC4" >"$T/imp4.out" 2>&1; rc=$?; cat "$T/imp4.out";
     [ "$rc" = 0 ] && [ "$(cat "$T/imp4.out")" = "skipped, the store'"'"'s own directory: $SRC4/store
imported 1 files (2 bytes), skipped 0 expired" ]'

# the progress bar, on a terminal
if command -v script >/dev/null; then
	IB3=$T/istore3
	check "retentionctl init (third store)" "$CTL" init "$IB3" --keyfile "$IK"
	check_sh "import on a terminal draws a progress bar (files, bytes)" \
	    'script -qec "$CTL import --store $IB3 --keyfile $IK --policy $POL $SRC 2>&1 >/dev/null" /dev/null >"$T/tty.out";
	     cat -v "$T/tty.out"; grep -q "\[#*\.*\] [0-9]*/7 files, .*/2\.0 MiB" "$T/tty.out"'
else
	skip "import progress bar" "script(1) not installed"
fi

finish
