#!/bin/bash
# t_sweeprace: a file restored from the trash while a sweep is destroying
# the trash must survive (the sweep chooses its files first and destroys
# them one by one; each must be re-checked under the lock).
source "$(dirname "$0")/lib.sh"
rfs_need_binaries
is_raw && skip_all "needs the daemon"
cat >"$T/policy" <<'POL'
[shred]
interval = 1s
passes = 3
[trash]
retention = 2s
[class default]
retention = forever
POL
B=$T/backing M=$T/mnt
CTL=$BUILD/retentionctl
mkdir -p "$M"
rfs_init "$B" "$T/key"
rfs_mount "$B" "$M" "policy=$T/policy" || abort "mount failed"
mkdir "$M/d"
python3 - "$M/d" <<'PY'
import os, sys
for i in range(1500):
    with open(os.path.join(sys.argv[1], "f%04d" % i), "wb") as f:
        f.write(os.urandom(16384))
PY
# The sweep takes the trash in inode order, 128 at a time: a file late in
# the first batch is chosen before the restore and destroyed after it.
last=$(stat -c %i "$M/d/f0120")
rm -r "$M/d"
# Wait until the purge has started, then restore the file it reaches last.
wait_for 30 sh -c "[ \$('$CTL' trash list '$M' --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') -lt 1500 ]"
if "$CTL" trash restore "$M" "$last" --to kept >"$T/restore.out" 2>&1; then
	wait_for 60 sh -c "[ \$('$CTL' trash list '$M' --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 0 ]"
	check "the file restored during the purge is still there" test -s "$M/kept"
	check_sh "its size is intact" "[ \$(stat -c %s '$M/kept') = 16384 ]"
	check_not "the audit has no purge after its restore" sh -c \
	    "'$CTL' audit '$M' | awk '/file=$last /' | tail -1 | grep -q purge"
else
	# The purge got there first: fine, but then it must be gone for good.
	check_not "restore lost the race: the file is gone" test -e "$M/kept"
fi
rfs_umount "$M"
finish
