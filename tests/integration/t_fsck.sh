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
sha_loose=$(sha256sum <"$M/loose")
i_lost=$(stat -c %i "$M/lost") i_bad=$(stat -c %i "$M/bad")
i_loose=$(stat -c %i "$M/loose")
rfs_umount "$M"

check "a clean store passes" "$CTL" fsck --store "$B" --keyfile "$K"

cp "$(obj "$B" "$i_bad")" "$B/objects/ff/00000000000009ff"   # orphan object
rm "$(obj "$B" "$i_lost")"                                   # missing object
printf 'X' | dd of="$(obj "$B" "$i_bad")" bs=1 seek=100 conv=notrunc 2>/dev/null
sqlite3 "$B/catalog.db" "DELETE FROM dirent WHERE ino = $i_loose"  # unreachable
cp "$B"/keys/*.key "$B/keys/default@5.key"                 # unknown key

"$CTL" fsck --store "$B" --keyfile "$K" >"$T/fsck.out" 2>&1
check_eq "damage found: exit status 1" 1 $?
for kind in "orphan: object 00000000000009ff" "missing: file $i_lost" \
    "block: file $i_bad block 0" "unreachable: live file $i_loose" \
    "keys: window key default@5"; do
	check "fsck reports: $kind" grep -q "fsck: $kind" "$T/fsck.out"
done
"$CTL" fsck --store "$B" --keyfile "$K" --repair >"$T/repair.out" 2>&1
check_sh "--repair shreds the orphan object" "! test -e '$B/objects/ff/00000000000009ff'"
check "--repair says what it did" grep -q "repaired" "$T/repair.out"
rfs_mount "$B" "$M" || abort "remount failed"
check_sh "the unreachable file went to the trash, not to oblivion" \
    "'$CTL' trash list '$M' --json | grep -q '\"id\":$i_loose,'"
check "it restores" "$CTL" trash restore "$M" "$i_loose" --to loose
check_sh "with its content" "[ \"\$(sha256sum <'$M/loose')\" = '$sha_loose' ]"
check_sh "the file whose object was lost is in the trash, empty" \
    "'$CTL' trash list '$M' --json | grep -q '\"id\":$i_lost,'"
check_errno "the tampered block still reads EIO" EIO 'open(A[0]).read()' "$M/bad"
check_sh "the intact file is intact" "[ \$(stat -c %s '$M/keep') = 10000 ]"
rfs_umount "$M"
finish
