#!/usr/bin/env bash
# t_events.sh - event-driven retention: `retentionctl event set/clear/list`
# on directories, deadlines min(created + retention, event + after_event),
# events following the path, surviving a remount, root only
# (policies/events.ini: class case = 1 h or 2 s after an event).
# shellcheck disable=SC2016,SC2034  # check_sh code is single-quoted, eval-ed later
source "$(dirname "$0")/lib.sh"
cd / || exit 1

is_raw && skip_all "events are the daemon's job (RFS_TEST_RAW=1)"
[ "$(id -u)" = 0 ] || skip_all "needs root (admin commands are root-only)"
command -v getfattr >/dev/null || skip_all "getfattr (attr) not installed"

CTL=$BUILD/retentionctl
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
is_gone() { ! stat -- "$1" >/dev/null 2>&1; }
audit_has() {
	local op=$1 ino=$2
	shift 2
	ctl audit "$@" --json | "$RFS_PY" -c '
import json, sys
op, ino = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(0 if any(r["op"] == op and r["file"] == ino for r in rows) else 1)' "$op" "$ino"
}
# ejson PATH FIELD: FIELD of the (first) event on PATH in event list --json.
ejson() {
	ctl event list "$M" --json | "$RFS_PY" -c '
import json, sys
for e in json.load(sys.stdin):
    if e["path"] == sys.argv[1]:
        v = e[sys.argv[2]]
        print(json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
        break' "$1" "$2"
}
nevents() { ctl event list "$M" --json | "$RFS_PY" -c 'import json, sys; print(len(json.load(sys.stdin)))'; }
# expires_at FILE EPOCH: user.retention.expires is EPOCH.
expires_at() {
	local e
	e=$(epoch_of "$(xa expires "$1")")
	[ "$e" = "$2" ] || { echo "expires $(xa expires "$1") (want $(rfc3339 "$2"))"; return 1; }
}
created_of() { epoch_of "$(xa created "$1")"; }
U=rfsuser1
as_user() { setpriv --reuid="$(id -u "$U")" --regid="$(id -g "$U")" --clear-groups -- "$@"; }
# denied CMD...: as $U, CMD exits 1 saying "permission denied".
denied() {
	local out rc
	out=$(as_user "$@" 2>&1)
	rc=$?
	[ "$rc" = 1 ] && [[ $out == *"permission denied"* ]] || { echo "exit $rc: $out"; return 1; }
}

if ! id "$U" >/dev/null 2>&1; then
	useradd -M -s /usr/sbin/nologin "$U" || abort "useradd $U failed"
fi
chmod 0755 "$T"
B=$T/backing
M=$T/mnt
POL=$T/policy.ini
cp "$RFS_ROOT/tests/integration/policies/events.ini" "$POL"
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" "policy=$POL" allow_other || abort "mount failed"

mkdir -p "$M/caseA/sub" "$M/caseB" "$M/caseC" "$M/caseD" "$M/caseE" "$M/caseF" "$M/caseG" "$M/caseT"
for f in caseA/a1.case caseA/sub/a2.case caseA/keep.long caseA/plain.txt \
    caseA/out.case caseT/trashed.case caseB/b1.case caseB/in.case caseC/c1.case caseD/d1.log \
    caseD/d2.case caseE/e1.case caseE/e2.long caseG/g1.case; do
	echo "content of $f" >"$M/$f"
done
a1_ino=$(ino_of "$M/caseA/a1.case")
a1_obj=$(obj "$B" "$a1_ino")
check "a1.case's object exists" test -f "$a1_obj"
check "before any event, a case file lives 1 h" expires_at "$M/caseA/a1.case" $(($(created_of "$M/caseA/a1.case") + 3600))

# ---------------------------------------------------------------- event set

# caseA's event is 4 s ahead: its deadline (event + 2 s) leaves time for the
# checks below, even on a loaded machine.
atA=$(($(date +%s) + 4))
check "event set MNT caseA --at @EPOCH --reason TEXT" ctl event set "$M" caseA --at "@$atA" --reason "case 42 closed"
check_eq "event list --json has it, with its time" "$(rfc3339 "$atA")" "$(ejson caseA at)"
check_eq "and its reason" "case 42 closed" "$(ejson caseA reason)"
check_eq "and the deadline of every after_event class" \
	"{\"case\": \"$(rfc3339 $((atA + 2)))\", \"short\": \"$(rfc3339 $((atA + 2)))\"}" "$(ejson caseA deadlines)"
check "event list --json is a JSON array of objects" pyrun '
import json, subprocess
arr = json.loads(subprocess.run([A[0], "event", "list", A[1], "--json"], capture_output=True, check=True).stdout)
assert isinstance(arr, list) and arr and all(isinstance(e, dict) for e in arr), arr
for e in arr:
    assert {"id", "path", "at", "reason", "deadlines"} <= set(e), e
' "$CTL" "$M"
check_sh "event list (text) shows it" 'ctl event list "$M" | grep -q "caseA.*case 42 closed"'
check "a file in the directory: deadline = event + 2 s" expires_at "$M/caseA/a1.case" $((atA + 2))
check "a file in a subdirectory: deadline = event + 2 s" expires_at "$M/caseA/sub/a2.case" $((atA + 2))
check "a class without after_event keeps created + 1 h" expires_at "$M/caseA/keep.long" $(($(created_of "$M/caseA/keep.long") + 3600))
check_eq "a default file stays forever" never "$(xa expires "$M/caseA/plain.txt")"
check "a neighbour directory's file keeps created + 1 h" expires_at "$M/caseB/b1.case" $(($(created_of "$M/caseB/b1.case") + 3600))
echo "after the event" >"$M/caseA/a3.case"
check "a file created after the event gets the same deadline" expires_at "$M/caseA/a3.case" $((atA + 2))
echo "after the event" >"$M/caseA/sub/a4.case"
check "... also in a subdirectory" expires_at "$M/caseA/sub/a4.case" $((atA + 2))

# rm after the event: in the trash, the event deadline still applies
tr_ino=$(ino_of "$M/caseT/trashed.case")
t0=$(date +%s)
check "event set caseT (at now: no --at)" ctl event set "$M" caseT
t1=$(date +%s)
atT=$(epoch_of "$(ejson caseT at)")
check_sh "without --at the event is at the current time" '[ -n "$atT" ] && [ "$atT" -ge "$t0" ] && [ "$atT" -le "$t1" ]'
check "rm a case file of the evented directory" rm "$M/caseT/trashed.case"
check_sh "in the trash its purge_at is the event deadline (event + 2 s < deleted + 3 s)" '
	p=$(ctl trash list "$M" --json | "$RFS_PY" -c "import json, sys; print([e[\"purge_at\"] for e in json.load(sys.stdin) if e[\"id\"] == $tr_ino][0])")
	[ "$p" = "$(rfc3339 $((atT + 2)))" ] || { echo "purge_at $p, event deadline $(rfc3339 $((atT + 2)))"; false; }'

# events follow the path
check "mv a file out of the evented directory" mv "$M/caseA/out.case" "$M/caseB/out.case"
check "moved out: back to created + 1 h" expires_at "$M/caseB/out.case" $(($(created_of "$M/caseB/out.case") + 3600))
check "mv a file into the evented directory" mv "$M/caseB/in.case" "$M/caseA/in.case"
check "moved in: deadline = event + 2 s" expires_at "$M/caseA/in.case" $((atA + 2))

# event clear before the deadline
check "event set caseC" ctl event set "$M" caseC
atC=$(epoch_of "$(ejson caseC at)")
check "caseC's file: event + 2 s" expires_at "$M/caseC/c1.case" $((atC + 2))
check "event clear caseC" ctl event clear "$M" caseC
check_eq "event list no longer has caseC" "" "$(ejson caseC id)"
check "caseC's file: back to created + 1 h" expires_at "$M/caseC/c1.case" $(($(created_of "$M/caseC/c1.case") + 3600))
check_not "event clear where there is no event fails" ctl event clear "$M" caseB

# the class deadline wins when earlier
atD=$(($(date +%s) + 3600))
check "event set caseD --at RFC 3339 (in an hour)" ctl event set "$M" caseD --at "$(rfc3339 "$atD")"
check_eq "event list has that time" "$(rfc3339 "$atD")" "$(ejson caseD at)"
check "a short file keeps created + 2 s (earlier than event + 2 s)" \
	expires_at "$M/caseD/d1.log" $(($(created_of "$M/caseD/d1.log") + 2))
check "a case file keeps created + 1 h (earlier than event + 2 s)" \
	expires_at "$M/caseD/d2.case" $(($(created_of "$M/caseD/d2.case") + 3600))

# an event in the past
check "event set caseE --at @EPOCH (10 s ago)" ctl event set "$M" caseE --at "@$(($(date +%s) - 10))"
check_errno "a case file under it is past its deadline at once: ENOENT" ENOENT 'os.stat(A[0])' "$M/caseE/e1.case"
check_sh "ls no longer lists it" '! ls "$M/caseE" | grep -qx e1.case'
check_eq "a class without after_event is not affected" "content of caseE/e2.long" "$(cat "$M/caseE/e2.long" 2>&1)"

# an event in the future, checked after the remount
atF=$(($(date +%s) + 600))
check "event set caseF --at @EPOCH (in 10 min)" ctl event set "$M" caseF --at "@$atF" --reason later

# a valid RFC 3339 time past 2262 (beyond int64 nanoseconds): refused, or
# at least not turned into a time in the past
out=$(ctl event set "$M" caseG --at 2999-01-01T00:00:00Z 2>&1)
rc=$?
if [ "$rc" = 0 ]; then
	check_sh "event set --at 2999-01-01T00:00:00Z is listed in the future" \
		'at=$(epoch_of "$(ejson caseG at)"); [ -n "$at" ] && [ "$at" -gt "$(date +%s)" ] || { echo "listed at: $(ejson caseG at)"; false; }'
	check_eq "event --at 2999: caseG's case file is still there" "content of caseG/g1.case" "$(cat "$M/caseG/g1.case" 2>&1)"
	while [ -n "$(ejson caseG id)" ] && ctl event clear "$M" caseG >/dev/null 2>&1; do :; done
else
	check_eq "event set --at 2999-01-01T00:00:00Z is refused as a usage error" 2 "$rc"
fi

# repeated set, one clear: the directory must be free of events afterwards
echo x >"$M/caseB/r.case"
check "event set caseB" ctl event set "$M" caseB --reason first
check "event set caseB again (a second reason)" ctl event set "$M" caseB --reason second
check "event clear caseB" ctl event clear "$M" caseB
check_eq "after event clear, event list has no event on caseB" "" "$(ejson caseB id)"
check "after event clear, caseB's file is back to created + 1 h" \
	expires_at "$M/caseB/r.case" $(($(created_of "$M/caseB/r.case") + 3600))
# (leave caseB without events whatever the outcome)
while [ -n "$(ejson caseB id)" ] && ctl event clear "$M" caseB >/dev/null 2>&1; do :; done

# ---------------------------------------------------------------- non-root

n=$(nevents)
check "non-root: event set is refused" denied "$CTL" event set "$M" caseB
check "non-root: event clear is refused" denied "$CTL" event clear "$M" caseA
check "non-root: event list is refused" denied "$CTL" event list "$M"
check "non-root: event list --json is refused" denied "$CTL" event list "$M" --json
check_eq "the events are unchanged" "$n" "$(nevents)"

# ---------------------------------------------------------------- the deadline

keep_obj=$(obj "$B" "$(ino_of "$M/caseA/keep.long")")
c1_obj=$(obj "$B" "$(ino_of "$M/caseC/c1.case")")
# Not before event + 2 s, never seen after it (+ 0.1 s of slack).
check_errno "caseA/a1.case vanishes at event + 2 s, not before, not after" OK '
import time
p, lo, hi = A[0], float(A[1]), float(A[2]) + 0.1
while True:
    t0 = time.time()
    try:
        os.stat(p)
    except FileNotFoundError:
        t1 = time.time()
        break
    if t0 > hi:
        raise Exception("still visible %.3f s after the event deadline" % (t0 - hi + 0.1))
    time.sleep(0.01)
if t1 < lo:
    raise Exception("gone %.3f s before event + 2 s" % (lo - t1))
' "$M/caseA/a1.case" "$((atA + 2))" "$((atA + 2))"
for f in caseA/sub/a2.case caseA/a3.case caseA/sub/a4.case caseA/in.case; do
	check "$f vanishes at event + 2 s" wait_for 2 is_gone "$M/$f"
done
if wait_for 2.5 test ! -e "$a1_obj"; then
	ok "a1.case's object is shredded"
else
	fail "a1.case's object is shredded" "$a1_obj still exists"
fi
check "audit has an expire record for a1.case" audit_has expire "$a1_ino" "$M"
check "audit has an event-set record for caseA" audit_has event-set "$(ino_of "$M/caseA")" "$M"
# Time passes: caseC's (cleared) event deadline, plus a sweep.
wait_for 5 eval '[ "$(date +%s)" -ge $((atC + 4)) ]'
for f in caseA/keep.long caseA/plain.txt caseA/sub caseB/b1.case caseB/out.case caseC/c1.case \
    caseD/d2.case caseE/e2.long; do
	check "$f stays" test -e "$M/$f"
done
check "the cleared directory's file still has its object" test -f "$c1_obj"
check "keep.long still has its object" test -f "$keep_obj"

# ---------------------------------------------------------------- remount

before=$(ctl event list "$M" --json)
rfs_umount "$M"
rfs_mount "$B" "$M" "policy=$POL" allow_other || abort "remount failed"
check_eq "events survive unmount/remount" "$before" "$(ctl event list "$M" --json)"
check_eq "caseF's event: same time" "$(rfc3339 "$atF")" "$(ejson caseF at)"
check_eq "caseF's event: same reason" later "$(ejson caseF reason)"
echo "after the remount" >"$M/caseF/f1.case"
check "a file created under caseF after the remount: event + 2 s" expires_at "$M/caseF/f1.case" $((atF + 2))
check "caseA's expired files stay gone" is_gone "$M/caseA/a1.case"
check "caseA's keep.long is still there" test -e "$M/caseA/keep.long"
check "event clear caseF" ctl event clear "$M" caseF
check "caseF's file: back to created + 1 h" expires_at "$M/caseF/f1.case" $(($(created_of "$M/caseF/f1.case") + 3600))

rfs_umount "$M"

# ---------------------------------------------------------------- links and reused names
# A store whose sweeper waits (interval 1 h): what is hidden stays unshredded
# until `shred`, so the checks see the hidden state itself.
cat >"$T/slow.ini" <<'POL'
[shred]
interval = 1h
[class case]
retention = forever
after_event = 2s
match = *.case
[class default]
retention = forever
POL
B2=$T/backing2 M2=$T/mnt2
mkdir -p "$M2"
rfs_init "$B2" "$T/key2" || abort "init 2 failed"
rfs_mount "$B2" "$M2" "policy=$T/slow.ini" || abort "mount 2 failed"
# The second link's directory comes first (a lower inode number), so a
# check of one parent only would pick the directory without the event.
mkdir "$M2/backup" "$M2/acme"
echo linked >"$M2/acme/data.case"
ln "$M2/acme/data.case" "$M2/backup/data.case"
echo old >"$M2/acme/a.case"
old_a=$(ino_of "$M2/acme/a.case")
check "event set acme, 10 s ago" ctl event set "$M2" acme --at "@$(($(date +%s) - 10))"
# (the kernel may keep a name it knows up to 1 s after an admin change)
check "a file linked in acme is hidden under acme" wait_for 3 is_gone "$M2/acme/data.case"
check "and under its other link, outside acme" wait_for 3 is_gone "$M2/backup/data.case"
check "a.case is hidden" wait_for 3 is_gone "$M2/acme/a.case"
# mkdir, not a file: closing a due file would wake the sweeper at once
check "a directory takes the hidden file's name" mkdir "$M2/acme/a.case"
check "event clear acme" ctl event clear "$M2" acme
check "shred" ctl shred "$M2"
check "the old a.case, nameless and unreachable, was shredded all the same" \
	test ! -e "$(obj "$B2" "$old_a")"
check "the directory a.case is there" test -d "$M2/acme/a.case"
check_eq "data.case is back under both names" "linked linked" \
	"$(cat "$M2/acme/data.case") $(cat "$M2/backup/data.case")"
# A file deleted from a directory under an evented one keeps the event's
# deadline in the trash when that directory is removed too.
purge_of() {
	ctl trash list "$M2" --json | "$RFS_PY" -c '
import json, sys
for e in json.load(sys.stdin):
    if e["id"] == int(sys.argv[1]):
        print(e["purge_at"])' "$1"
}
mkdir -p "$M2/cust/acme/sub" "$M2/cust/beta/sub"
echo pd >"$M2/cust/acme/sub/f.case"
echo pd >"$M2/cust/beta/sub/g.case"
f_ino=$(ino_of "$M2/cust/acme/sub/f.case")
g_ino=$(ino_of "$M2/cust/beta/sub/g.case")
at=$(( $(date +%s) + 3600 ))
check "event set cust/acme in an hour" ctl event set "$M2" cust/acme --at "@$at"
check "event set cust/beta/sub (the directory to go) in an hour" \
	ctl event set "$M2" cust/beta/sub --at "@$at"
rm "$M2/cust/acme/sub/f.case" "$M2/cust/beta/sub/g.case"
want=$(date -u -d "@$((at + 2))" +%Y-%m-%dT%H:%M:%SZ)
check_eq "in the trash, f.case is purged at the event's deadline" "$want" "$(purge_of "$f_ino")"
check "rmdir cust/acme/sub and cust/beta/sub" rmdir "$M2/cust/acme/sub" "$M2/cust/beta/sub"
check_eq "f.case's purge stays at the grandparent's event deadline" "$want" "$(purge_of "$f_ino")"
check_eq "g.case's purge stays at its removed directory's own event deadline" \
	"$want" "$(purge_of "$g_ino")"
rfs_umount "$M2"
finish
