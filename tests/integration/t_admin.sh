#!/usr/bin/env bash
# t_admin.sh - retentionctl's admin commands: status, metrics, audit (JSON
# lines, --verify against edited and deleted records), root-only access on a
# live mount, and the offline form --store BACKING --keyfile KEY --policy FILE
# on an unmounted store.  policies/admin.ini (trash retention 1 h).
# shellcheck disable=SC2016,SC2034  # check_sh code is single-quoted, eval-ed later
source "$(dirname "$0")/lib.sh"
cd / || exit 1

is_raw && skip_all "admin commands need the daemon (RFS_TEST_RAW=1)"
[ "$(id -u)" = 0 ] || skip_all "needs root (admin commands are root-only)"
command -v getfattr >/dev/null || skip_all "getfattr (attr) not installed"

CTL=$BUILD/retentionctl
U=rfsuser1
as_user() { setpriv --reuid="$(id -u "$U")" --regid="$(id -g "$U")" --clear-groups -- "$@"; }
# denied CMD...: as $U, CMD exits 1 saying "permission denied" (3 tries).
denied() {
	local out rc i
	for i in 1 2 3; do
		out=$(as_user "$@" </dev/null 2>&1)
		rc=$?
		[ "$rc" = 1 ] && [[ $out == *"permission denied"* ]] ||
			{ echo "try $i: exit $rc: ${out:-(no output)}"; return 1; }
	done
}

json_ok() {   # json_ok FILE PYTHON-ASSERTIONS (J = the document)
	"$RFS_PY" -c '
import json, sys
J = json.load(open(sys.argv[1]))
exec(sys.argv[2])' "$1" "$2"
}
# JSON lines: every non-empty line is a JSON object; R = the list.
jsonl_ok() {
	"$RFS_PY" -c '
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l.strip()]
R = []
for i, l in enumerate(lines):
    try:
        o = json.loads(l)
    except ValueError as e:
        sys.exit("line %d is not JSON: %r (%s)" % (i + 1, l, e))
    if not isinstance(o, dict):
        sys.exit("line %d is not an object: %r" % (i + 1, l))
    R.append(o)
exec(sys.argv[2])' "$1" "$2"
}
# The Prometheus text exposition format, strictly.
prom_ok() {
	"$RFS_PY" -c '
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\n]|\\\\[\\\\\"n])*\""
VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Inf|NaN)"
help_re = re.compile(r"^# HELP (" + NAME + r") (.*)$")
type_re = re.compile(r"^# TYPE (" + NAME + r") (counter|gauge|histogram|summary|untyped)$")
sample_re = re.compile(r"^(" + NAME + r")(\{(?:" + LABEL + r"(?:," + LABEL + r")*,?)?\})? (" + VALUE + r")(?: -?[0-9]+)?$")
helps, types, seen, order, samples = set(), {}, set(), [], {}
for n, line in enumerate(text.split("\n")[:-1], 1):
    m = help_re.match(line)
    if m:
        assert m.group(1) not in helps, "line %d: second HELP for %s" % (n, m.group(1))
        helps.add(m.group(1))
        continue
    m = type_re.match(line)
    if m:
        nm = m.group(1)
        assert nm not in types, "line %d: second TYPE for %s" % (n, nm)
        assert nm not in seen, "line %d: TYPE after samples of %s" % (n, nm)
        types[nm] = m.group(2)
        continue
    assert not line.startswith("#") or line.startswith("# "), "line %d: bad comment %r" % (n, line)
    if line.startswith("# "):
        assert not line.startswith(("# HELP", "# TYPE")), "line %d: malformed %r" % (n, line)
        continue
    m = sample_re.match(line)
    assert m, "line %d: not a sample: %r" % (n, line)
    nm = m.group(1)
    assert nm in types, "line %d: %s has no TYPE before it" % (n, nm)
    if order and order[-1] != nm:
        assert nm not in seen, "line %d: samples of %s are not together" % (n, nm)
    seen.add(nm)
    order.append(nm)
    key = (nm, m.group(2) or "")
    assert key not in samples, "line %d: duplicate sample %r" % (n, key)
    samples[key] = float(m.group(3))
    if types[nm] == "counter":
        assert samples[key] >= 0, "line %d: negative counter" % n
for nm in types:
    assert nm in seen, "TYPE %s without samples" % nm
exec(sys.argv[2])' "$1" "$2"
}

if ! id "$U" >/dev/null 2>&1; then
	useradd -M -s /usr/sbin/nologin "$U" || abort "useradd $U failed"
fi
chmod 0755 "$T"
B=$T/backing
M=$T/mnt
POL=$T/policy.ini
KEY=$T/key
cp "$RFS_ROOT/tests/integration/policies/admin.ini" "$POL"
mkdir -p "$M"
rfs_init "$B" "$KEY" || abort "init failed"
rfs_mount "$B" "$M" "policy=$POL" allow_other || abort "mount failed"
OFF=(--store "$B" --keyfile "$KEY" --policy "$POL")

mkdir -p "$M/logs" "$M/data"
printf 'alpha\n' >"$M/data/a.txt"
printf 'bravo\n' >"$M/data/b.txt"
printf 'held\n' >"$M/data/h.txt"
head -c 5000 /dev/urandom >"$T/trashed"
cp "$T/trashed" "$M/data/t.txt"
t_ino=$(ino_of "$M/data/t.txt")
rm "$M/data/t.txt"
printf 'log\n' >"$M/logs/x.log"
check "hold set" ctl hold set "$M" data/h.txt
check "event set" ctl event set "$M" logs --reason "admin test"

# ---------------------------------------------------------------- root, live

check "status MNT" ctl status "$M"
check_sh "status lists the classes and the trash" \
	'out=$(ctl status "$M") && [[ $out == *default* ]] && [[ $out == *short* ]] && [[ $out == *"trash: 1 files"* ]]'
ctl status "$M" --json >"$T/status.json" 2>&1
check "status --json is valid JSON with the expected content" json_ok "$T/status.json" '
assert {"now", "clock", "classes", "trash", "last_sweep", "shred_total"} <= set(J), J
c = {x["class"]: x for x in J["classes"]}
assert {"default", "short"} <= set(c), c
for x in J["classes"]:
    assert {"class", "files", "bytes", "expired_pending", "next_expiry"} <= set(x), x
assert c["default"]["files"] == 3, c["default"]        # a.txt b.txt h.txt
assert c["default"]["bytes"] == 17, c["default"]
assert J["trash"] == {"files": 1, "bytes": 5000}, J["trash"]
assert J["clock"] == "ok", J
'
check "metrics MNT" ctl metrics "$M"
ctl metrics "$M" >"$T/metrics.txt" 2>&1
check "metrics is strict Prometheus text format, values consistent" prom_ok "$T/metrics.txt" '
assert samples[("retentionfs_files", "{class=\"default\"}")] == 3, samples
assert samples[("retentionfs_bytes", "{class=\"default\"}")] == 17, samples
assert samples[("retentionfs_trash_files", "")] == 1, samples
assert samples[("retentionfs_trash_bytes", "")] == 5000, samples
'
check "shred MNT" ctl shred "$M"
check "audit MNT" ctl audit "$M"
ctl audit "$M" --json >"$T/audit.jsonl" 2>&1
check "audit --json is JSON lines with the records made so far" jsonl_ok "$T/audit.jsonl" '
assert len(R) >= 7, R
for r in R:
    assert {"id", "time", "op", "file", "class", "uid"} <= set(r), r
ops = [r["op"] for r in R]
for op in ("create", "hold-set", "event-set"):
    assert op in ops, ops
assert [r["id"] for r in R] == sorted(r["id"] for r in R), "not in id order"
'
check_sh "audit --since a future time lists nothing" \
	'[ -z "$(ctl audit "$M" --since 2200-01-01T00:00:00Z --json)" ]'
check_sh "audit --since 2999-01-01T00:00:00Z (past 2262) is refused or lists nothing" \
	'out=$(ctl audit "$M" --since 2999-01-01T00:00:00Z --json 2>&1); rc=$?
	[ "$rc" = 2 ] || [ -z "$out" ] || { echo "exit $rc, $(echo "$out" | wc -l) records listed"; false; }'
check_sh "audit --since an old time lists everything" \
	'[ "$(ctl audit "$M" --since 2000-01-01T00:00:00Z --json | wc -l)" = "$(wc -l <"$T/audit.jsonl")" ]'
check "audit --verify passes on a clean store" ctl audit "$M" --verify

# ---------------------------------------------------------------- non-root, live

check "$U can reach the mount (allow_other)" as_user stat "$M"
check "non-root: trash list" denied "$CTL" trash list "$M"
check "non-root: trash list --json" denied "$CTL" trash list "$M" --json
check "non-root: trash restore" denied "$CTL" trash restore "$M" "$t_ino"
check "non-root: trash empty --yes" denied "$CTL" trash empty "$M" --yes
check "non-root: status" denied "$CTL" status "$M"
check "non-root: status --json" denied "$CTL" status "$M" --json
check "non-root: shred" denied "$CTL" shred "$M"
check "non-root: hold set" denied "$CTL" hold set "$M" data/a.txt
check "non-root: hold clear" denied "$CTL" hold clear "$M" data/h.txt
check "non-root: event set" denied "$CTL" event set "$M" data
check "non-root: event clear" denied "$CTL" event clear "$M" logs
check "non-root: event list" denied "$CTL" event list "$M"
check "non-root: audit" denied "$CTL" audit "$M"
check "non-root: audit --json" denied "$CTL" audit "$M" --json
check "non-root: audit --verify" denied "$CTL" audit "$M" --verify
check "non-root: metrics" denied "$CTL" metrics "$M"

# Anyone may connect to the control socket: idle connections of a user who
# will be refused must not take the admins' slots (8 of them).
"$RFS_PY" -c 'import os' 2>/dev/null || abort "python3 needed"
as_user "$RFS_PY" -c '
import hashlib, os, socket, sys, time
path = "/run/retentionfs/%s.sock" % hashlib.blake2b(
    os.path.realpath(sys.argv[1]).encode(), digest_size=16).hexdigest()
held = []
for i in range(12):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        held.append(s)
    except OSError:
        pass
print("holding %d" % len(held), flush=True)
time.sleep(20)' "$M" >"$T/holder.out" 2>&1 &
holder=$!
check "a non-root user opens idle connections to the control socket" \
	wait_for 10 grep -q holding "$T/holder.out"
check_sh "root is served meanwhile" 'ctl status "$M" >/dev/null'
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
check_sh "retentionctl refuses more arguments than a request holds (exit 2)" '
	out=$(ctl audit "$M" $(printf -- "--json %.0s" $(seq 31)) --since now 2>&1); rc=$?
	echo "$out"; [ "$rc" = 2 ] && [[ $out == *"too many arguments"* ]]'
check_sh "nothing changed: the file is still in the trash" \
	'ctl trash list "$M" --json | grep -q "\"id\":$t_ino,"'
check_eq "nothing changed: a.txt not held" 0 "$(xa hold "$M/data/a.txt")"
check_eq "nothing changed: h.txt still held" 1 "$(xa hold "$M/data/h.txt")"
check_sh "nothing changed: one event, on logs" \
	'[ "$(ctl event list "$M" --json | "$RFS_PY" -c "import json,sys; print([e[\"path\"] for e in json.load(sys.stdin)])")" = "['"'"'logs'"'"']" ]'

rfs_umount "$M"

# ---------------------------------------------------------------- offline

check "offline: trash list" ctl trash list "${OFF[@]}"
check_sh "offline: trash list shows the trashed file" \
	'ctl trash list "${OFF[@]}" | grep -E "^$t_ino +" | grep -q data/t.txt'
ctl trash list "${OFF[@]}" --json >"$T/off-trash.json" 2>&1
check "offline: trash list --json" json_ok "$T/off-trash.json" '
assert [e["path"] for e in J] == ["data/t.txt"], J
assert J[0]["size"] == 5000, J
'
check "offline: status" ctl status "${OFF[@]}"
ctl status "${OFF[@]}" --json >"$T/off-status.json" 2>&1
check "offline: status --json" json_ok "$T/off-status.json" '
c = {x["class"]: x for x in J["classes"]}
assert c["default"]["files"] == 3, c
assert J["trash"]["files"] == 1, J
'
ctl metrics "${OFF[@]}" >"$T/off-metrics.txt" 2>&1
check "offline: metrics" prom_ok "$T/off-metrics.txt" '
assert samples[("retentionfs_trash_files", "")] == 1, samples
'
check "offline: audit" ctl audit "${OFF[@]}"
ctl audit "${OFF[@]}" --json >"$T/off-audit.jsonl" 2>&1
check "offline: audit --json" jsonl_ok "$T/off-audit.jsonl" 'assert len(R) >= 7, R'
check "offline: audit --verify" ctl audit "${OFF[@]}" --verify
check "offline: event list" ctl event list "${OFF[@]}"
ctl event list "${OFF[@]}" --json >"$T/off-events.json" 2>&1
check "offline: event list --json" json_ok "$T/off-events.json" '
assert [(e["path"], e["reason"]) for e in J] == [("logs", "admin test")], J
'
check "offline: hold clear" ctl hold clear "${OFF[@]}" data/h.txt
check "offline: trash restore" ctl trash restore "${OFF[@]}" "$t_ino"
check_sh "offline: the trash is empty afterwards" '[ "$(ctl trash list "${OFF[@]}" --json | tr -d " \n")" = "[]" ]'
check_not "offline: a wrong key is refused" ctl status --store "$B" --keyfile "$T/wrong.key" --policy "$POL"
check_sh "offline: without a key or store: usage error or error" '! ctl status --store "$B" >/dev/null 2>&1'

rfs_mount "$B" "$M" "policy=$POL" allow_other || abort "remount failed"
check "after the offline restore, the file is back with identical bytes" cmp "$T/trashed" "$M/data/t.txt"
check_eq "after the offline hold clear, h.txt is not held" 0 "$(xa hold "$M/data/h.txt")"
check "audit --verify after offline commands" ctl audit "$M" --verify
rfs_umount "$M"

# ---------------------------------------------------------------- tampering

if command -v sqlite3 >/dev/null; then
	check "offline audit --verify of the unmounted store" ctl audit --store "$B" --keyfile "$KEY" --verify
	tamper() {   # tamper NAME SQL: a copy of the store with SQL applied
		rm -rf "${T:?}/$1"
		cp -a "$B" "$T/$1" && sqlite3 "$T/$1/catalog.db" "$2"
	}
	verify_fails() {   # the copy fails --verify with exit status 1
		local out rc
		out=$(ctl audit --store "$T/$1" --keyfile "$KEY" --verify 2>&1)
		rc=$?
		[ "$rc" = 1 ] || { echo "exit $rc: $out"; return 1; }
	}
	check "edit record 2 (uid=42)" tamper t-edit "UPDATE audit SET uid=42 WHERE id=2"
	check "--verify fails (exit 1) after an edited record" verify_fails t-edit
	check "delete record 2" tamper t-del "DELETE FROM audit WHERE id=2"
	check "--verify fails (exit 1) after a deleted record" verify_fails t-del
	check "delete the newest record" tamper t-newest "DELETE FROM audit WHERE id=(SELECT MAX(id) FROM audit)"
	check "--verify fails (exit 1) after the newest record is deleted" verify_fails t-newest
	# and a new record chained on later does not make it verify again
	mkdir -p "$T/mnt-newest"
	if rfs_mount "$T/t-newest" "$T/mnt-newest" "policy=$POL"; then
		echo after >"$T/mnt-newest/after-the-cut"
		check_sh "the cut is in the trail as a record of its own" \
			'ctl audit "$T/mnt-newest" | grep -q " audit-cut "'
		rfs_umount "$T/mnt-newest"
	fi
	check "--verify still fails (exit 1) after the next write" verify_fails t-newest
	check "edit the newest record's op" tamper t-op "UPDATE audit SET op='create' WHERE id=(SELECT MAX(id) FROM audit)"
	check "--verify fails (exit 1) after the newest record is edited" verify_fails t-op
	check "the untouched store still verifies" ctl audit --store "$B" --keyfile "$KEY" --verify
else
	skip "audit tampering" "sqlite3 not installed"
fi


# ---------------------------------------------------------------- long listings

# Listings leave the daemon a page (256 rows) at a time, the catalog
# released in between: 600 files in the trash, 1,200 more audit records,
# must come out whole, once each, in order, across the page boundaries.
# Last, on a remount, so the checks above see the store as they left it.
rfs_mount "$B" "$M" "policy=$POL" allow_other || abort "remount failed"
check "600 files made and removed" pyrun '
os.mkdir(A[0])
for i in range(600):
    with open("%s/f%03d" % (A[0], i), "w") as f:
        f.write("x")
for i in range(600):
    os.unlink("%s/f%03d" % (A[0], i))' "$M/many"
ctl trash list "$M" --json >"$T/trash-long.json" 2>&1
check "trash list --json: the 600 files once each, in id order" json_ok "$T/trash-long.json" '
ids = [e["id"] for e in J]
assert ids == sorted(set(ids)), "duplicates or out of order"
paths = sorted(e["path"] for e in J if e["path"].startswith("many/"))
assert paths == ["many/f%03d" % i for i in range(600)], (len(paths), paths[:3])
'
check_sh "trash list (text): the same 600 under many/" \
	'[ "$(ctl trash list "$M" | grep -c " many/f[0-9][0-9][0-9]$")" = 600 ]'
check_eq "status --json counts every trashed file" \
	"$("$RFS_PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/trash-long.json")" \
	"$(ctl status "$M" --json | "$RFS_PY" -c 'import json,sys; print(json.load(sys.stdin)["trash"]["files"])')"
ctl audit "$M" --json >"$T/audit-long.jsonl" 2>&1
check "audit --json: every record once, ids consecutive, 600 creates and 600 trash records of many/" \
	jsonl_ok "$T/audit-long.jsonl" '
ids = [r["id"] for r in R]
assert ids == list(range(ids[0], ids[0] + len(ids))), "a gap or a repeat"
ops = [r["op"] for r in R]
assert ops.count("create") >= 600 and ops.count("trash") >= 600, (ops.count("create"), ops.count("trash"))
'
rfs_umount "$M"

finish
