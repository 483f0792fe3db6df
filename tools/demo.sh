#!/bin/bash
# The README's first command: installs what is missing, builds, and walks
# through retentionfs on a store under ./demo, ending with a mount of the
# built-in default policy and sample logs at ./demo/mnt.
#
#   sudo tools/demo.sh            run the demo, leave ./demo/mnt mounted
#   sudo tools/demo.sh --stop     unmount and remove ./demo
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/demo
ctl=build/retentionctl
fs=build/retentionfs

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_for() {   # wait_for SECONDS CMD...: poll until CMD succeeds
	local t=$(( $1 * 20 )); shift
	until "$@" 2>/dev/null; do
		t=$((t - 1)); [ "$t" -gt 0 ] || { echo "timed out: $*"; exit 1; }
		sleep 0.05
	done
}
stop() {
	for m in "$root/mnt" "$root/short-mnt"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"
	done
	rm -rf "$root"
}

if [ "${1:-}" = --stop ]; then
	stop
	exit 0
fi
[ "$(id -u)" = 0 ] && tools/deps.sh
make -s -j"$(nproc)"
stop

say "1. a store with the built-in default policy (90 days, trash 30 days)"
mkdir -p "$root/mnt" "$root/short-mnt"
$ctl init "$root/store" --keyfile "$root/master.key"
$fs "$root/store" "$root/mnt" -o keyfile="$root/master.key"
mount | grep "$root/mnt"

say "2. an application writes logs (plain files, O_APPEND)"
mkdir -p "$root/mnt/sms"
for i in $(seq 1 200); do
	echo "$(date -u +%FT%TZ) sms delivered to +4479460$(printf %05d $i) msg=hello-$i"
done >> "$root/mnt/sms/delivery.log"
printf 'GET /index.html 200 user=alice@example.com\n' >> "$root/mnt/access.log"
ls -l "$root/mnt" "$root/mnt/sms"
tail -n 2 "$root/mnt/sms/delivery.log"
getfattr -n user.retention.class -n user.retention.created \
	-n user.retention.expires "$root/mnt/sms/delivery.log"

say "3. what the backing directory shows: sizes and counts, no names, no text"
find "$root/store" -type f -newer "$root/master.key" | sed -n 1,12p
if grep -r -a -q -e alice -e delivered -e delivery "$root/store"; then
	echo "PLAINTEXT FOUND - this is a bug"; exit 1
fi
echo "grep for 'alice', 'delivered', 'delivery' in the store: nothing found"
od -A d -t x1 -N 48 "$(find "$root/store/objects" -type f -size +1k | sed -n 1p)"

say "4. a delete goes to the trash and comes back"
rm "$root/mnt/access.log"
ls "$root/mnt"
$ctl trash list "$root/mnt"
id=$($ctl trash list "$root/mnt" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
$ctl trash restore "$root/mnt" "$id"
cat "$root/mnt/access.log"

say "5. a file expiring before your eyes (a second store, 3-second policy)"
cat > "$root/short.conf" <<'POL'
[shred]
interval = 1s
[keys]
period = 1s
[class short-lived]
retention = 3s
match = *.log
[class default]
retention = forever
POL
$ctl policy check "$root/short.conf"
$ctl init "$root/short-store" --keyfile "$root/short.key"
$fs "$root/short-store" "$root/short-mnt" -o keyfile="$root/short.key",policy="$root/short.conf"
echo "one-time password 493021" > "$root/short-mnt/otp.log"
echo "kept" > "$root/short-mnt/readme.txt"
ls -l "$root/short-mnt"
echo "waiting for otp.log to expire (3 s)..."
wait_for 10 test ! -e "$root/short-mnt/otp.log"
ls -l "$root/short-mnt"

say "6. the sweeper shreds it: key destroyed, object overwritten and unlinked"
wait_for 10 sh -c "$ctl audit '$root/short-mnt' | grep -q expire"
$ctl audit "$root/short-mnt"
$ctl audit "$root/short-mnt" --verify
fusermount3 -u "$root/short-mnt"

say "7. status of the main mount"
$ctl status "$root/mnt"
$ctl metrics "$root/mnt" | sed -n 1,8p

say "done"
echo "The demo store stays mounted at $root/mnt (built-in default policy)."
echo "Unmount with: fusermount3 -u $root/mnt   or   sudo tools/demo.sh --stop"
