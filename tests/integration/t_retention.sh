#!/usr/bin/env bash
# t_retention.sh - data classes, retention tags, expiry and shredding, legal
# holds, min_retention and policy reload, with second-scale durations
# (policies/retention.ini).
# shellcheck disable=SC2016,SC2034  # check_sh code is single-quoted, eval-ed later
source "$(dirname "$0")/lib.sh"
cd / || exit 1

is_raw && skip_all "retention is the daemon's job (RFS_TEST_RAW=1)"
[ "$(id -u)" = 0 ] || skip_all "needs root (admin commands are root-only)"
command -v getfattr >/dev/null || skip_all "getfattr (attr) not installed"

CTL=$BUILD/retentionctl
now_s() { date +%s.%N; }
# audit_has MNT|--store... OP INO: an audit record OP for file INO exists.
audit_has() {
	local op=$1 ino=$2
	shift 2
	ctl audit "$@" --json | "$RFS_PY" -c '
import json, sys
op, ino = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(0 if any(r["op"] == op and r["file"] == ino for r in rows) else 1)' "$op" "$ino"
}
# expires_is FILE CREATED_PLUS: user.retention.expires = created + N s.
expires_is() {
	local c e
	c=$(epoch_of "$(xa created "$1")") || return 1
	e=$(epoch_of "$(xa expires "$1")") || return 1
	[ "$((e - c))" = "$2" ] || { echo "created $(xa created "$1") expires $(xa expires "$1")"; return 1; }
}
is_gone() { ! stat -- "$1" >/dev/null 2>&1; }
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

B=$T/backing
M=$T/mnt
POL=$T/policy.ini
cp "$RFS_ROOT/tests/integration/policies/retention.ini" "$POL"
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" "policy=$POL" || abort "mount failed"

# Made first: the policy reload at the end needs a file older than 2 s.
echo "written before the reload" >"$M/old.txt"

# ---------------------------------------------------------------- classes

t_before=$(date +%s)
mkdir -p "$M/d1/d2" "$M/paths" "$M/sub/paths" "$M/deep/a/b"
for f in a.log d1/d2/b.log c.txt x.dup paths/p.dat sub/paths/p.dat \
    deep/a/b/c.bin deep/top.bin other.bin k.slow; do
	echo "content of $f" >"$M/$f"
done
t_after=$(date +%s)
check_eq "*.log matches a basename at the top" short "$(xa class "$M/a.log")"
check_eq "*.log matches a basename two directories down" short "$(xa class "$M/d1/d2/b.log")"
check_eq "an unmatched file is in class default" default "$(xa class "$M/c.txt")"
check_eq "first matching rule wins (*.dup in first and second)" first "$(xa class "$M/x.dup")"
check_eq "paths/*.dat matches the whole relative path" first "$(xa class "$M/paths/p.dat")"
check_eq "paths/*.dat does not match sub/paths/p.dat" default "$(xa class "$M/sub/paths/p.dat")"
check_eq "deep/**/*.bin spans directories" second "$(xa class "$M/deep/a/b/c.bin")"
check_eq "deep/**/*.bin: ** matches zero directories" second "$(xa class "$M/deep/top.bin")"
check_eq "deep/**/*.bin does not match other.bin" default "$(xa class "$M/other.bin")"
# Deeper than PATH_MAX: the rules still see the whole path (a path too long
# for a PATH_MAX buffer used to be classed default).  Reached by chdir.
check_eq "*.log and deep/**/*.bin apply below 4,600 characters of directories" "short second" "$(pyrun '
name = "d" * 200
os.chdir(A[0])
os.makedirs("deep", exist_ok=True)
os.chdir("deep")
for i in range(23):
    os.mkdir(name)
    os.chdir(name)
for f in ("far.log", "far.bin"):
    with open(f, "w") as fh:
        fh.write("far\n")
print(os.getxattr("far.log", "user.retention.class").decode(),
      os.getxattr("far.bin", "user.retention.class").decode())' "$M")"

created=$(xa created "$M/a.log")
check_sh "user.retention.created is RFC 3339 UTC ($created)" '[[ $created =~ $RFC3339 ]]'
c=$(epoch_of "$created")
check_sh "user.retention.created is the creation time" \
	'[ -n "$c" ] && [ "$c" -ge "$t_before" ] && [ "$c" -le "$t_after" ]'
check "expires of a short file = created + 2 s" expires_is "$M/a.log" 2
check_eq "expires of a default file is never" never "$(xa expires "$M/c.txt")"
check "expires of a slow file = created + 1 h" expires_is "$M/k.slow" 3600
check_eq "user.retention.hold is 0" 0 "$(xa hold "$M/a.log")"
check_eq "a directory has no user.retention.class" "" "$(xa class "$M/d1")"

# ---------------------------------------------------------------- setting the class

touch "$M/empty.txt"
check "setfattr class=short on an empty file" setfattr -n user.retention.class -v short "$M/empty.txt"
check_eq "the empty file is now in class short" short "$(xa class "$M/empty.txt")"
check "its expires is now created + 2 s" expires_is "$M/empty.txt" 2
check_errno "setfattr class on a non-empty file: EPERM" EPERM \
	'os.setxattr(A[0], "user.retention.class", b"short")' "$M/c.txt"
check_eq "the non-empty file keeps class default" default "$(xa class "$M/c.txt")"
touch "$M/empty2.txt"
check_errno "setfattr an unknown class: EINVAL" EINVAL \
	'os.setxattr(A[0], "user.retention.class", b"no-such-class")' "$M/empty2.txt"
check_eq "the file keeps class default" default "$(xa class "$M/empty2.txt")"

# ---------------------------------------------------------------- tags survive

for a in created expires; do
	v=$(xa $a "$M/a.log")
	check_errno "setfattr user.retention.$a is refused" EPERM \
		'os.setxattr(A[0], "user.retention." + A[1], b"2000-01-01T00:00:00Z")' "$M/a.log" "$a"
	check_eq "user.retention.$a is unchanged" "$v" "$(xa $a "$M/a.log")"
done

tags() { echo "$(xa class "$1") $(xa created "$1") $(xa expires "$1")"; }
k_tags=$(tags "$M/k.slow")
check "touch -d 2000-01-01" touch -d 2000-01-01 "$M/k.slow"
check_eq "touch -d sets the mtime" "2000-01-01" "$(date -u -r "$M/k.slow" +%F)"
check_eq "touch -d does not change class/created/expires" "$k_tags" "$(tags "$M/k.slow")"
t_before=$(date +%s)
check "cp -p of a 2000-01-01 file" cp -p "$M/k.slow" "$M/k2.slow"
check_eq "cp -p kept the mtime on the copy" "2000-01-01" "$(date -u -r "$M/k2.slow" +%F)"
check_eq "cp -p does not change the source's tags" "$k_tags" "$(tags "$M/k.slow")"
c=$(epoch_of "$(xa created "$M/k2.slow")")
check_sh "the copy's created is its creation time, not the copied mtime" \
	'[ -n "$c" ] && [ "$c" -ge "$t_before" ]'
check "the copy's expires = its created + 1 h" expires_is "$M/k2.slow" 3600
check "mv k.slow to another directory and a default-class name" mv "$M/k.slow" "$M/d1/k.txt"
check_eq "mv does not change class/created/expires" "$k_tags" "$(tags "$M/d1/k.txt")"
check_eq "mv keeps the content" "content of k.slow" "$(cat "$M/d1/k.txt")"

# ---------------------------------------------------------------- min_retention

echo young >"$M/young.log"
t_young=$(now_s)
check_errno "unlink of a file younger than min_retention: EPERM" EPERM 'os.unlink(A[0])' "$M/young.log"
check_sh "rm says: Operation not permitted" \
	'! out=$(rm "$M/young.log" 2>&1) && [[ $out == *"Operation not permitted"* ]]'
check_errno "truncate of a file younger than min_retention: EPERM" EPERM 'os.truncate(A[0], 0)' "$M/young.log"
check_errno "open(O_TRUNC) of a file younger than min_retention: EPERM" EPERM \
	'os.close(os.open(A[0], os.O_WRONLY | os.O_TRUNC))' "$M/young.log"
check_sh "truncate(1) says: Operation not permitted" \
	'! out=$(truncate -s 0 "$M/young.log" 2>&1) && [[ $out == *"Operation not permitted"* ]]'
echo "replacement" >"$M/replacement.txt"
check_errno "rename over a file younger than min_retention: EPERM" EPERM \
	'os.rename(A[0], A[1])' "$M/replacement.txt" "$M/young.log"
check_eq "the young file is intact" young "$(cat "$M/young.log")"
check_errno "a default file (no min_retention) can be removed at once" OK 'os.unlink(A[0])' "$M/c.txt"
# Time passes: min_retention (1 s) after the creation; the file lives 2 s.
wait_for 3 awk -v t="$t_young" 'BEGIN { "date +%s.%N" | getline n; exit !(n >= t + 1.05) }'
check_errno "truncate after min_retention works" OK 'os.truncate(A[0], 0)' "$M/young.log"
check_errno "unlink after min_retention works" OK 'os.unlink(A[0])' "$M/young.log"

# ---------------------------------------------------------------- expiry and hold

# held.log first: exp.log's deadline is then not earlier than held.log's.
echo "held" >"$M/held.log"
echo "expiring content" >"$M/exp.log"
t_exp=$(now_s)
exp_ino=$(ino_of "$M/exp.log")
held_ino=$(ino_of "$M/held.log")
exp_obj=$(obj "$B" "$exp_ino")
held_obj=$(obj "$B" "$held_ino")
exp_created=$(epoch_of "$(xa created "$M/exp.log")")
check "hold set MNT PATH (absolute path)" ctl hold set "$M" "$M/held.log"
check_eq "user.retention.hold is 1" 1 "$(xa hold "$M/held.log")"
check_eq "a held file's expires is never" never "$(xa expires "$M/held.log")"
check "the object of exp.log exists: objects/XX/<16-hex ino>" test -f "$exp_obj"
check_eq "exp.log is readable before its deadline" "expiring content" "$(cat "$M/exp.log")"

# When does it vanish?  Not before created + 2 s (created is rounded down to
# the second), and it is never seen after our own time after creating it +
# 2 s (+ 0.1 s of slack).
check_errno "exp.log vanishes from stat at created + 2 s, not before, not after" OK '
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
        raise Exception("still visible %.3f s after its deadline" % (t0 - hi + 0.1))
    time.sleep(0.01)
if t1 < lo:
    raise Exception("gone %.3f s before created + 2 s" % (lo - t1))
' "$M/exp.log" "$((exp_created + 2))" "$(awk -v t="$t_exp" 'BEGIN { printf "%.3f", t + 2 }')"
check_sh "ls no longer lists it" '! ls "$M" | grep -qx exp.log'
check_errno "stat: ENOENT" ENOENT 'os.stat(A[0])' "$M/exp.log"
check_errno "open/cat: ENOENT" ENOENT 'open(A[0], "rb")' "$M/exp.log"
check_sh "cat fails" '! cat "$M/exp.log" 2>/dev/null'
check_eq "find does not find it" "" "$(find "$M" -name exp.log 2>&1)"
check_errno "a new file can take its name" OK 'wr(A[0], b"new")' "$M/exp.log"
if wait_for 2.5 test ! -e "$exp_obj"; then
	ok "the object is shredded within one sweep interval"
else
	fail "the object is shredded within one sweep interval" "$exp_obj still exists"
fi
check "audit shows an expire record for it" audit_has expire "$exp_ino" "$M"
check_eq "the new exp.log is a new file" new "$(cat "$M/exp.log")"
check_sh "the new exp.log has a new inode number" '[ "$(ino_of "$M/exp.log")" != "$exp_ino" ]'

# A sweep after exp.log's deadline (hence held.log's) has run.
check_eq "the held file is still there after its deadline" held "$(cat "$M/held.log")"
check "its object is still there" test -f "$held_obj"
check_sh "audit has no expire record for the held file" '! audit_has expire "$held_ino" "$M"'
check "hold clear" ctl hold clear "$M" held.log
check "the held file vanishes once the hold is cleared" wait_for 2 is_gone "$M/held.log"
if wait_for 2.5 test ! -e "$held_obj"; then
	ok "its object is shredded within one sweep interval"
else
	fail "its object is shredded within one sweep interval" "$held_obj still exists"
fi
for op in hold-set hold-clear expire; do
	check "audit has a $op record for the held file" audit_has "$op" "$held_ino" "$M"
done
check_sh "hold set on a missing path fails" '! ctl hold set "$M" no/such/file'

# ---------------------------------------------------------------- without any sweep

# A second store that never sweeps by itself (interval 1h; one sweep at start).
sed -e 's/^interval = 1s/interval = 1h/' "$POL" >"$T/nosweep.ini"
B2=$T/backing2
M2=$T/mnt2
mkdir -p "$M2"
rfs_init "$B2" "$T/key2" || abort "init 2 failed"
RFS_KEY=$T/key2
rfs_mount "$B2" "$M2" "policy=$T/nosweep.ini" || abort "mount 2 failed"
echo "no sweep" >"$M2/ns.log"
ns_ino=$(ino_of "$M2/ns.log")
ns_obj=$(obj "$B2" "$ns_ino")
check "(no sweep) the file vanishes at its deadline" wait_for 4 is_gone "$M2/ns.log"
check_errno "(no sweep) stat: ENOENT" ENOENT 'os.stat(A[0])' "$M2/ns.log"
check_errno "(no sweep) open: ENOENT" ENOENT 'open(A[0], "rb")' "$M2/ns.log"
check_sh "(no sweep) ls does not list it" '! ls -a "$M2" | grep -qx ns.log'
check "(no sweep) its object is still there: hidden without a sweep" test -f "$ns_obj"
check_sh "(no sweep) no expire record yet" '! audit_has expire "$ns_ino" "$M2"'
check "retentionctl shred MNT runs a sweep" ctl shred "$M2"
check "(no sweep) the object is gone after shred" test ! -e "$ns_obj"
check "(no sweep) audit has the expire record" audit_has expire "$ns_ino" "$M2"
rfs_umount "$M2"
RFS_KEY=$T/key

# ---------------------------------------------------------------- policy reload

check_eq "before the reload old.txt is kept forever" never "$(xa expires "$M/old.txt")"
echo fresh >"$M/fresh.txt"
nlog() { grep -c "$1" "${RFS_LOG_OF[$M]}"; }
n_ok=$(nlog reloaded)
# default: forever -> 2 s; class slow removed (its files fall back to default)
sed -e '/^\[class default\]/,$ s/^retention = forever/retention = 2s/' \
    -e '/^\[class slow\]/,/^match = \*\.slow/d' "$POL" >"$POL.new" &&
	mv "$POL.new" "$POL"
check "the new policy is valid" ctl policy check "$POL"
check "kill -HUP the daemon" kill -HUP "${RFS_PID_OF[$M]}"
check "the daemon reloads the policy" wait_for 5 eval '[ "$(nlog reloaded)" -gt "$n_ok" ]'
check "old.txt (default, older than 2 s) disappears" wait_for 2 is_gone "$M/old.txt"
check "a younger default file now expires at created + 2 s" expires_is "$M/fresh.txt" 2
check "a file of a removed class falls back to default (2 s) and disappears" wait_for 2 is_gone "$M/k2.slow"
check "audit has a policy-load record" audit_has policy-load 0 "$M"

n_bad=$(nlog invalid)
cp "$POL" "$T/good.ini"
printf '[class broken]\nretention = soon\nmatch = *.txt\n' >>"$POL"
check_not "the broken policy is invalid" ctl policy check "$POL"
check "kill -HUP with an invalid policy file" kill -HUP "${RFS_PID_OF[$M]}"
check "the daemon rejects it" wait_for 5 eval '[ "$(nlog invalid)" -gt "$n_bad" ]'
check "the daemon is still running" rfs_pid_alive "${RFS_PID_OF[$M]}"
check_errno "the mount keeps working: write and read back" OK \
	'wr(A[0], b"after"); assert rd(A[0]) == b"after"' "$M/after.txt"
check_eq "the old policy stays: a new .txt is in class default" default "$(xa class "$M/after.txt")"
check "the old policy stays: default expires at created + 2 s" expires_is "$M/after.txt" 2
check_eq "the old policy stays: *.log is still short" short \
	"$(echo x >"$M/still.log" && xa class "$M/still.log")"

rfs_umount "$M"
finish
