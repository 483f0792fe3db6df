#!/bin/bash
# t_tamper: objects truncated, extended or rolled back behind the daemon's
# back read as EIO and are audited; real truncates through the mount do not.
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the backing directory"

B=$T/backing M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key"
rfs_mount "$B" "$M" || abort "mount failed"
CTL=$BUILD/retentionctl

for f in trunc grow roll legit; do
	head -c 20000 /dev/urandom >"$M/$f"
done
o_trunc=$(obj "$B" "$(ino_of "$M/trunc")") o_grow=$(obj "$B" "$(ino_of "$M/grow")")
o_roll=$(obj "$B" "$(ino_of "$M/roll")") o_legit=$(obj "$B" "$(ino_of "$M/legit")")
cp "$o_roll" "$T/roll.old"              # a backup of the older version
echo "more data" >>"$M/roll"
check "a truncate through the mount works" truncate -s 5000 "$M/legit"
check "a shrink then grow through the mount works" truncate -s 9000 "$M/legit"
sha_legit=$(sha256sum <"$M/legit")
rfs_umount "$M"

truncate -s 8272 "$o_trunc"              # cut to two whole records
printf 'junk' >>"$o_grow"
cp "$T/roll.old" "$o_roll"               # roll back to the older copy

rfs_mount "$B" "$M" || abort "remount failed"
check_errno "object truncated below the catalog: EIO" EIO \
    'open(A[0]).read()' "$M/trunc"
check_errno "object extended behind our back: EIO" EIO \
    'open(A[0]).read()' "$M/grow"
check_errno "object rolled back to an older copy: EIO" EIO \
    'open(A[0]).read()' "$M/roll"
check_sh "the legitimately truncated file reads back" \
    "[ \"\$(sha256sum <'$M/legit')\" = '$sha_legit' ] && [ \$(stat -c %s '$M/legit') = 9000 ]"
check_sh "each tampered file is audited once" \
    "[ \$('$CTL' audit '$M' | grep -c ' tamper ') = 3 ]"
check_sh "metrics count the tamper events" \
    "'$CTL' metrics '$M' | grep -q '^retentionfs_tamper_events_total 3'"
rfs_umount "$M"
finish
