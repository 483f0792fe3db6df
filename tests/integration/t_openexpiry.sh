#!/bin/bash
# t_openexpiry: a descriptor opened before the deadline keeps working; the
# file is destroyed as soon as it is closed, without waiting for the next
# scheduled sweep.
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the daemon"
cat >"$T/policy" <<'POL'
[shred]
interval = 1h
[class short]
retention = 2s
match = *.log
[class default]
retention = forever
POL
B=$T/backing M=$T/mnt
mkdir -p "$M"
rfs_init "$B" "$T/key"
rfs_mount "$B" "$M" "policy=$T/policy" || abort "mount failed"
echo "still readable" >"$M/open.log"
ino=$(ino_of "$M/open.log")
obj=$(obj "$B" "$ino")
exec 3<"$M/open.log"
wait_for 10 sh -c "! stat '$M/open.log' >/dev/null 2>&1"
ok "the file is hidden at its deadline while a descriptor is open"
check_sh "the open descriptor still reads it" \
    "[ \"\$(cat <&3)\" = 'still readable' ]"
check "its object is kept while it is open" test -e "$obj"
exec 3<&-
wait_for 10 sh -c "! test -e '$obj'"
ok "closed: destroyed at once (the sweep interval is 1 h)"
check_sh "audit records the expiry" \
    "'$BUILD/retentionctl' audit '$M' | grep -q 'expire.*file=$ino '"
rfs_umount "$M"
finish
