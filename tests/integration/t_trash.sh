#!/usr/bin/env bash
# t_trash.sh - rm moves files to the trash; trash list/restore/empty; purge
# at deleted + trash retention or at the class deadline; logrotate's oldest
# rotation lands in the trash (policies/trash.ini: trash retention 3 s).
# shellcheck disable=SC2016,SC2034  # check_sh code is single-quoted, eval-ed later
source "$(dirname "$0")/lib.sh"
cd / || exit 1

is_raw && skip_all "the trash is the daemon's job (RFS_TEST_RAW=1)"
[ "$(id -u)" = 0 ] || skip_all "needs root (admin commands are root-only)"
command -v getfattr >/dev/null || skip_all "getfattr (attr) not installed"

CTL=$BUILD/retentionctl
now_s() { date +%s.%N; }
audit_has() {
	local op=$1 ino=$2
	shift 2
	ctl audit "$@" --json | "$RFS_PY" -c '
import json, sys
op, ino = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(0 if any(r["op"] == op and r["file"] == ino for r in rows) else 1)' "$op" "$ino"
}
# tjson ID FIELD: FIELD of trash entry ID from trash list --json ("" if none).
tjson() {
	ctl trash list "$M" --json | "$RFS_PY" -c '
import json, sys
for e in json.load(sys.stdin):
    if e["id"] == int(sys.argv[1]):
        v = e[sys.argv[2]]
        print(json.dumps(v) if isinstance(v, bool) else v)' "$1" "$2"
}
in_trash() { [ -n "$(tjson "$1" id)" ]; }
# trash_id PATH: id of the trash entry with original path PATH.
trash_id() {
	ctl trash list "$M" --json | "$RFS_PY" -c '
import json, sys
ids = [e["id"] for e in json.load(sys.stdin) if e["path"] == sys.argv[1]]
print(ids[-1] if ids else "")' "$1"
}
tags() { echo "$(xa class "$1") $(xa created "$1") $(xa expires "$1")"; }

B=$T/backing
M=$T/mnt
POL=$T/policy.ini
cp "$RFS_ROOT/tests/integration/policies/trash.ini" "$POL"
mkdir -p "$M"
rfs_init "$B" "$T/key" || abort "init failed"
rfs_mount "$B" "$M" "policy=$POL" || abort "mount failed"

# ---------------------------------------------------------------- rm, list, restore

mkdir -p "$M/d"
head -c 100000 /dev/urandom >"$T/data"
cp "$T/data" "$M/d/f.slow"
f_ino=$(ino_of "$M/d/f.slow")
f_tags=$(tags "$M/d/f.slow")
f_obj=$(obj "$B" "$f_ino")
t0=$(date +%s)
check "rm a file" rm "$M/d/f.slow"
t1=$(date +%s)
check_errno "it is gone from the directory" ENOENT 'os.stat(A[0])' "$M/d/f.slow"
check "its object is kept while it is in the trash" test -f "$f_obj"
check_sh "trash list shows it" 'ctl trash list "$M" | grep -E "^$f_ino +" | grep -q "d/f.slow"'
check "trash list --json: exactly the documented fields, right values" pyrun '
import json, subprocess, re
out = subprocess.run([A[0], "trash", "list", A[1], "--json"], capture_output=True, check=True).stdout
arr = json.loads(out)
assert isinstance(arr, list), arr
e = [x for x in arr if x["id"] == int(A[2])]
assert len(e) == 1, arr
e = e[0]
assert set(e) == {"id", "path", "class", "size", "deleted_at", "deleted_by", "purge_at", "hold"}, sorted(e)
assert e["path"] == "d/f.slow", e
assert e["class"] == "slow", e
assert e["size"] == 100000, e
assert e["deleted_by"] == 0, e
assert e["hold"] is False, e
rx = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
assert re.match(rx, e["deleted_at"]) and re.match(rx, e["purge_at"]), e
' "$CTL" "$M" "$f_ino"
del=$(epoch_of "$(tjson "$f_ino" deleted_at)")
purge=$(epoch_of "$(tjson "$f_ino" purge_at)")
check_sh "deleted_at is the time of the rm" '[ -n "$del" ] && [ "$del" -ge "$t0" ] && [ "$del" -le "$t1" ]'
check_sh "purge_at = deleted_at + trash retention (3 s)" '[ -n "$purge" ] && [ $((purge - del)) = 3 ]'
check "trash restore MNT ID" ctl trash restore "$M" "$f_ino"
check "the file is back at its path with identical bytes" cmp "$T/data" "$M/d/f.slow"
check_eq "same class, created and expires" "$f_tags" "$(tags "$M/d/f.slow")"
check_eq "same inode number" "$f_ino" "$(ino_of "$M/d/f.slow")"
check_sh "it has left the trash" '! in_trash "$f_ino"'
check "audit has a restore record" audit_has restore "$f_ino" "$M"
check_not "restoring it again fails (no longer in the trash)" ctl trash restore "$M" "$f_ino"
check_not "restoring an unknown id fails" ctl trash restore "$M" 999999

# --to: elsewhere, making the missing parents
check "rm it again" rm "$M/d/f.slow"
echo "existing" >"$M/d/existing.txt"
check_not "restore --to a path with .. is refused" ctl trash restore "$M" "$f_ino" --to ../escape.slow
# refused after making a directory on the way: all of it is undone
nl0=$(stat -c %h "$M")
check_not "restore --to newdir/../x.slow is refused" ctl trash restore "$M" "$f_ino" --to newdir/../x.slow
check "newdir was not left behind" test ! -e "$M/newdir"
touch "$M/nl-probe"    # the root's row is written, and its attributes asked again
check_eq "the root's link count is as before" "$nl0" "$(stat -c %h "$M")"
rm "$M/nl-probe"
check_not "restore --to an existing file is refused without --force" \
	ctl trash restore "$M" "$f_ino" --to d/existing.txt
check "(restore --to checks need the file in the trash)" in_trash "$f_ino"
check "trash restore --to a path whose parents do not exist" \
	ctl trash restore "$M" "$f_ino" --to new/sub/dir/g.slow
check "restored there with identical bytes" cmp "$T/data" "$M/new/sub/dir/g.slow"
check_sh "the parents are directories" '[ -d "$M/new" ] && [ -d "$M/new/sub/dir" ]'
check_errno "not at the original path" ENOENT 'os.stat(A[0])' "$M/d/f.slow"
check_eq "--to keeps class, created and expires" "$f_tags" "$(tags "$M/new/sub/dir/g.slow")"

# the original directory is gone: a plain restore recreates it
mkdir -p "$M/gone/deeper"
echo "in a removed directory" >"$M/gone/deeper/x.txt"
x_ino=$(ino_of "$M/gone/deeper/x.txt")
check "rm -r the directory" rm -r "$M/gone"
check_sh "the file is in the trash under its old path" '[ "$(trash_id gone/deeper/x.txt)" = "$x_ino" ]'
check "restore recreates the missing directories" ctl trash restore "$M" "$x_ino"
check_eq "the file is back" "in a removed directory" "$(cat "$M/gone/deeper/x.txt" 2>&1)"

# restore over an existing file
echo original >"$M/h.txt"
h_ino=$(ino_of "$M/h.txt")
rm "$M/h.txt"
echo newer >"$M/h.txt"
check_sh "restore over an existing file is refused (exit 1)" '
	out=$(ctl trash restore "$M" "$h_ino" 2>&1); rc=$?; echo "$out"; [ "$rc" = 1 ]'
check_eq "the existing file is untouched" newer "$(cat "$M/h.txt")"
check "the trashed file is still in the trash" in_trash "$h_ino"
check "restore --force replaces it" ctl trash restore "$M" "$h_ino" --force
check_eq "the restored content is there" original "$(cat "$M/h.txt")"
check_eq "with the restored inode" "$h_ino" "$(ino_of "$M/h.txt")"

# --force replaces files only as unlink would: never a directory (what it
# holds would be orphaned), never a file its class keeps from deletion
echo "dir victim" >"$M/r.txt"
r_ino=$(ino_of "$M/r.txt")
rm "$M/r.txt"
mkdir -p "$M/rdir/sub"
echo child >"$M/rdir/child"
check_sh "restore --force onto a directory is refused (exit 1, says why)" '
	out=$(ctl trash restore "$M" "$r_ino" --to rdir --force 2>&1); rc=$?; echo "$out"
	[ "$rc" = 1 ] && [[ $out == *"a directory is at the restore path"* ]]'
check_eq "the directory keeps its contents" child "$(cat "$M/rdir/child")"
check "and its subdirectory" test -d "$M/rdir/sub"
check "the file stays in the trash" in_trash "$r_ino"
echo young >"$M/young.keep"
check_sh "restore --force over a file within its min_retention is refused" '
	out=$(ctl trash restore "$M" "$r_ino" --to young.keep --force 2>&1); rc=$?; echo "$out"
	[ "$rc" = 1 ] && [[ $out == *"may not be deleted yet"* ]]'
check_eq "that file is untouched" young "$(cat "$M/young.keep")"
# --to takes a path inside the mount, absolute or relative to its root
check "restore --to an absolute path inside the mount" \
	ctl trash restore "$M" "$r_ino" --to "$M/abs/r.txt"
check_eq "the file is at that path" "dir victim" "$(cat "$M/abs/r.txt")"
rm "$M/abs/r.txt"
check_sh "restore --to an absolute path outside the mount is refused (exit 2)" '
	out=$(ctl trash restore "$M" "$r_ino" --to "$T/elsewhere.txt" 2>&1); rc=$?; echo "$out"
	[ "$rc" = 2 ] && [[ $out == *"inside the mount"* ]]'
check "nothing was made for it under the mount" test ! -e "$M/${T#/}"

# ---------------------------------------------------------------- trash empty

echo one >"$M/e1.txt"
echo two >"$M/e2.slow"
e1=$(ino_of "$M/e1.txt")
e2=$(ino_of "$M/e2.slow")
rm "$M/e1.txt" "$M/e2.slow"
check "both objects exist while in the trash" test -f "$(obj "$B" "$e1")" -a -f "$(obj "$B" "$e2")"
check "trash empty --class slow --yes" ctl trash empty "$M" --class slow --yes
check "the slow one is destroyed" test ! -e "$(obj "$B" "$e2")"
check "the other is still in the trash" in_trash "$e1"
check "trash empty --yes" ctl trash empty "$M" --yes
check "its object is destroyed" test ! -e "$(obj "$B" "$e1")"
check_eq "the trash is empty" "[]" "$(ctl trash list "$M" --json | tr -d ' \n')"
check_sh "audit has a purge record for each" 'audit_has purge "$e1" "$M" && audit_has purge "$e2" "$M"'
check_not "restoring a purged file fails" ctl trash restore "$M" "$e1"

# ---------------------------------------------------------------- purge deadlines

# A forever file: purged at deleted + 3 s (not earlier), by the sweeper.
echo "purge me" >"$M/p.txt"
p_ino=$(ino_of "$M/p.txt")
p_obj=$(obj "$B" "$p_ino")
# A short file (created + 2 s), deleted once min_retention (1 s) has passed:
# purged at its class deadline, before deleted + 3 s.
echo "short" >"$M/q.log"
t_q=$(now_s)
q_ino=$(ino_of "$M/q.log")
q_obj=$(obj "$B" "$q_ino")
q_created=$(epoch_of "$(xa created "$M/q.log")")
# A held file: never purged while held, not even by trash empty.
echo "held in the trash" >"$M/held.txt"
hd_ino=$(ino_of "$M/held.txt")
hd_obj=$(obj "$B" "$hd_ino")
ctl hold set "$M" held.txt >/dev/null
t_p=$(now_s)
rm "$M/p.txt" "$M/held.txt"
check_eq "a held file in the trash: hold is true" true "$(tjson "$hd_ino" hold)"
check_eq "a held file in the trash: purge_at is never" never "$(tjson "$hd_ino" purge_at)"
wait_for 3 awk -v t="$t_q" 'BEGIN { "date +%s.%N" | getline n; exit !(n >= t + 1.05) }'
t_qrm=$(now_s)
check "rm of the short file after min_retention" rm "$M/q.log"
q_purge=$(epoch_of "$(tjson "$q_ino" purge_at)")
check_sh "the short file's purge_at is its class deadline (created + 2 s)" \
	'[ -n "$q_purge" ] && [ "$q_purge" = $((q_created + 2)) ]'
check_errno "the short file is purged at its class deadline, before deleted + 3 s" OK '
import time
p, lo, hi = A[0], float(A[1]), float(A[2])
while os.path.exists(p):
    if time.time() > hi:
        raise Exception("object still there %.2f s after deleted + 3 s" % (time.time() - hi))
    time.sleep(0.02)
if time.time() < lo:
    raise Exception("purged before created + 2 s")
' "$q_obj" "$((q_created + 2))" "$(awk -v t="$t_qrm" 'BEGIN { printf "%.3f", t + 3 }')"
check "audit has a purge record for the short file" audit_has purge "$q_ino" "$M"
check_errno "the forever file is purged at deleted + 3 s (+ one sweep interval)" OK '
import time
p, lo, hi = A[0], float(A[1]), float(A[2])
while os.path.exists(p):
    if time.time() > hi:
        raise Exception("object still there %.2f s after deleted + 3 s + 1 s" % (time.time() - hi + 1.5))
    time.sleep(0.02)
t = time.time()
if t < lo:
    raise Exception("purged %.2f s before deleted + 3 s" % (lo - t))
' "$p_obj" "$(awk -v t="$t_p" 'BEGIN { printf "%.3f", t + 3 }')" "$(awk -v t="$t_p" 'BEGIN { printf "%.3f", t + 3 + 1.5 }')"
check "audit has a purge record for the forever file" audit_has purge "$p_ino" "$M"
check "the held file's object survives deleted + 3 s" test -f "$hd_obj"
check "trash empty --yes" ctl trash empty "$M" --yes
check "trash empty leaves the held file alone" test -f "$hd_obj"
check "... and it stays in the trash" in_trash "$hd_ino"
check "a held file can be restored" ctl trash restore "$M" "$hd_ino"
check_eq "with its content" "held in the trash" "$(cat "$M/held.txt" 2>&1)"
check_eq "and its hold" 1 "$(xa hold "$M/held.txt")"
check_sh "purged files have left the trash list" '! in_trash "$p_ino" && ! in_trash "$q_ino"'

# ---------------------------------------------------------------- logrotate

if command -v logrotate >/dev/null; then
	mkdir -p "$M/app"
	cat >"$T/lr.conf" <<EOF
$M/app/service.out {
    create
    rotate 2
    nocompress
}
EOF
	for gen in 1 2 3; do
		printf 'generation %s line\n' "$gen" >>"$M/app/service.out"
		[ "$gen" = 1 ] && printf 'more of generation 1\n' >>"$M/app/service.out"
		cp "$M/app/service.out" "$T/gen$gen"
		check "logrotate -f run $gen" logrotate -f -s "$T/lr.state" "$T/lr.conf"
	done
	check "service.out.1 is generation 3" cmp "$T/gen3" "$M/app/service.out.1"
	check "service.out.2 is generation 2" cmp "$T/gen2" "$M/app/service.out.2"
	check_sh "service.out is the new empty file" '[ -f "$M/app/service.out" ] && [ ! -s "$M/app/service.out" ]'
	# logrotate renames the oldest to service.out.3, then unlinks it.
	lr_id=$(ctl trash list "$M" --json | "$RFS_PY" -c '
import json, sys
ids = [e["id"] for e in json.load(sys.stdin) if e["path"].startswith("app/service.out")]
print(ids[0] if len(ids) == 1 else "")')
	check_sh "the oldest rotation is in the trash (one app/service.out.N entry)" '[ -n "$lr_id" ]'
	check_eq "with generation 1's size" "$(stat -c %s "$T/gen1")" "$(tjson "$lr_id" size)"
	check "it can be restored elsewhere" ctl trash restore "$M" "$lr_id" --to app/restored.out
	check "the restored rotation is generation 1, byte for byte" cmp "$T/gen1" "$M/app/restored.out"
else
	skip "logrotate" "logrotate not installed"
fi

rfs_umount "$M"
finish
