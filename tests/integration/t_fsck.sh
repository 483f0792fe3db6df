#!/bin/bash
# t_fsck: retentionctl fsck finds each kind of damage and --repair fixes
# what is safe, sending data to the trash rather than destroying it.
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the backing directory"
B=$T/backing M=$T/mnt K=$T/key
CTL=$BUILD/retentionctl
mkdir -p "$M"
rfs_init "$B" "$K"
rfs_mount "$B" "$M" || abort "mount failed"
for f in keep lost bad loose; do head -c 10000 /dev/urandom >"$M/$f"; done
# 1 TiB sparse, one data block at its end: fsck walks data, not holes (it
# read the 268 million holes a block at a time, for hours).
truncate -s 1T "$M/sparse" && printf 'tail' >>"$M/sparse"
i_sparse=$(stat -c %i "$M/sparse")
sha_loose=$(sha256sum <"$M/loose")
i_lost=$(stat -c %i "$M/lost") i_bad=$(stat -c %i "$M/bad")
i_loose=$(stat -c %i "$M/loose")
# roll: an older copy of its object, same length, put back later
head -c 10000 /dev/urandom >"$M/roll"
i_roll=$(stat -c %i "$M/roll")
cp "$(obj "$B" "$i_roll")" "$T/roll.old"
printf 'Y' | dd of="$M/roll" bs=1 seek=9000 conv=notrunc 2>/dev/null
rfs_umount "$M"

check "a clean store passes (a 1 TiB sparse file in under 60 s)" \
    timeout 60 "$CTL" fsck --store "$B" --keyfile "$K"

cp "$(obj "$B" "$i_bad")" "$B/objects/ff/00000000000009ff"   # orphan object
rm "$(obj "$B" "$i_lost")"                                   # missing object
printf 'X' | dd of="$(obj "$B" "$i_bad")" bs=1 seek=100 conv=notrunc 2>/dev/null
printf 'X' | dd of="$(obj "$B" "$i_sparse")" bs=1 seek=$(((1 << 40) / 4096 * 4136 + 30)) \
    conv=notrunc 2>/dev/null                                # its data block
sqlite3 "$B/catalog.db" "DELETE FROM dirent WHERE ino = $i_loose"  # unreachable
cp "$B"/keys/*.key "$B/keys/default@5.key"                 # unknown key
cp "$T/roll.old" "$(obj "$B" "$i_roll")"                    # rolled back

"$CTL" fsck --store "$B" --keyfile "$K" >"$T/fsck.out" 2>&1
check_eq "damage found: exit status 1" 1 $?
for kind in "orphan: object 00000000000009ff" "missing: file $i_lost" \
    "block: file $i_bad block 0" "block: file $i_sparse block $(((1 << 40) / 4096))" \
    "unreachable: live file $i_loose" \
    "keys: window key default@5" "tamper: file $i_roll"; do
	check "fsck reports: $kind" grep -q "fsck: $kind" "$T/fsck.out" ||
		sed 's/^/     | /' "$T/fsck.out"
done
"$CTL" fsck --store "$B" --keyfile "$K" --repair >"$T/repair.out" 2>&1
check_sh "--repair shreds the orphan object" "! test -e '$B/objects/ff/00000000000009ff'"
check "--repair says what it did" grep -q "repaired" "$T/repair.out"
"$CTL" fsck --store "$B" --keyfile "$K" >"$T/fsck2.out" 2>&1
check_not "after --repair, no finding about the file whose object was lost" \
    grep -q "file $i_lost\|inode $i_lost" "$T/fsck2.out"
check_not "after --repair, no broken invariant" grep -q "invariant" "$T/fsck2.out"
rfs_mount "$B" "$M" || abort "remount failed"
check_sh "the unreachable file went to the trash, not to oblivion" \
    "'$CTL' trash list '$M' --json | grep -q '\"id\":$i_loose,'"
check "it restores" "$CTL" trash restore "$M" "$i_loose" --to loose
check_sh "with its content" "[ \"\$(sha256sum <'$M/loose')\" = '$sha_loose' ]"
check_sh "the file whose object was lost is in the trash, empty" \
    "'$CTL' trash list '$M' --json | grep -q '\"id\":$i_lost,'"
check "it restores" "$CTL" trash restore "$M" "$i_lost" --to lost2
check_sh "as the empty file it now is, readable and writable" \
    "[ -z \"\$(cat '$M/lost2')\" ] && echo more >>'$M/lost2' && [ \"\$(cat '$M/lost2')\" = more ]"
check_errno "the rolled-back file reads EIO" EIO 'open(A[0]).read()' "$M/roll"
check_errno "the tampered block still reads EIO" EIO 'open(A[0]).read()' "$M/bad"
check_sh "the intact file is intact" "[ \$(stat -c %s '$M/keep') = 10000 ]"
rfs_umount "$M"

# A window key is made before the catalog records its window; a crash
# between the two leaves an authentic key with no record, which the sweeper
# would never destroy.  fsck calls it a crash's orphan; the next mount, or
# --repair, records the window.
B2=$T/b2 M2=$T/m2
mkdir -p "$M2"
rfs_init "$B2" "$K"
rfs_mount "$B2" "$M2" || abort "mount b2 failed"
echo data >"$M2/f"
rfs_umount "$M2"
win=$(basename "$B2"/keys/*.key .key)
kwrows() { sqlite3 "$B2/catalog.db" "SELECT count(*) FROM keywin"; }
check_eq "one window recorded" 1 "$(kwrows)"
sqlite3 "$B2/catalog.db" "DELETE FROM keywin"
"$CTL" fsck --store "$B2" --keyfile "$K" >"$T/fsck2.out" 2>&1
check_eq "an unrecorded window key is a finding" 1 $?
check "reported as a crash's orphan, not damage" grep -q \
    "fsck: orphan: window key $win has no catalog record" "$T/fsck2.out"
check_not "not as an unknown key" grep -q "fsck: keys:" "$T/fsck2.out"
# A kill between writing a new key's temporary file and renaming it.
head -c 77 /dev/urandom >"$B2/keys/default@77.tmp"
rfs_mount "$B2" "$M2" || abort "remount b2 failed"
check "the mount says it recorded the window" grep -q \
    "window key $win had no catalog record" "${RFS_LOG_OF[$M2]}"
check_sh "the mount destroyed the half-made key file" \
    "! test -e '$B2/keys/default@77.tmp'"
check "... and says so" grep -q "destroyed 1 half-made window key" \
    "${RFS_LOG_OF[$M2]}"
check_sh "the file still reads" "[ \"\$(cat '$M2/f')\" = data ]"
rfs_umount "$M2"
check_eq "the mount recorded it" 1 "$(kwrows)"
check "fsck is clean after the mount" "$CTL" fsck --store "$B2" --keyfile "$K"
sqlite3 "$B2/catalog.db" "DELETE FROM keywin"
check "fsck --repair records it" "$CTL" fsck --store "$B2" --keyfile "$K" \
    --repair
check_eq "one record again" 1 "$(kwrows)"
check "fsck is clean after --repair" "$CTL" fsck --store "$B2" --keyfile "$K"
finish
