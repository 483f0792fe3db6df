#!/usr/bin/env bash
# t_daemons.sh - real log writers on the mount: nginx (two workers appending
# to one access log, reopening it on USR1) and rsyslog (two files, one
# rotated by copytruncate, one by rename and create with a HUP), each
# rotated by logrotate with gzip.  Every request and every message must be
# found exactly once across the log and its rotations, with no NUL byte.
# Skipped when nginx or rsyslogd is not installed (tools/deps.sh installs
# both).
. "$(dirname "$0")/lib.sh"

NGINX=$(command -v nginx)
RSYSLOGD=$(command -v rsyslogd)
[ -n "$NGINX" ] && [ -n "$RSYSLOGD" ] || skip_all "nginx or rsyslogd not installed"
id www-data >/dev/null 2>&1 || skip_all "no www-data user for nginx's workers"

B=$T/backing
M=$T/mnt
mkdir -p "$M"
chmod 0711 "$T"        # www-data walks through it to the mount
rfs_init "$B" "$T/key" || abort "init failed"
# nginx's workers reopen the access log as www-data: other users need the
# mount (the daemon's checks stay on, default_permissions).
rfs_mount "$B" "$M" allow_other || abort "mount failed"

SERVERS=()             # nginx and rsyslogd pids, ended at exit
stop_servers() {
	local p kids
	for p in "${SERVERS[@]}"; do
		kids=$(pgrep -P "$p")
		rfs_end_pid "$p"
		wait "$p" 2>/dev/null
		# nginx's workers, should its master have needed a KILL.
		[ -z "$kids" ] || kill -KILL $kids 2>/dev/null
	done
	SERVERS=()
}
trap 'stop_servers; rfs_cleanup' EXIT

# lines_of FILE...: the log lines of FILEs, gzip'd ones unpacked.
lines_of() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		case $f in
		*.gz) gzip -dc -- "$f" ;;
		*) cat -- "$f" ;;
		esac
	done
}
# no_nul FILE...: none of FILEs (unpacked) holds a NUL byte.
no_nul() { [ "$(lines_of "$@" | tr -cd '\0' | wc -c)" = 0 ]; }
# count_of PATTERN FILE...: lines of FILEs matching the extended regex.
count_of() { lines_of "${@:2}" | grep -cE -- "$1"; }
# dups_of PATTERN FILE...: the matches of PATTERN seen more than once.
dups_of() { lines_of "${@:2}" | grep -oE -- "$1" | sort | uniq -d; }

# ---------------------------------------------------------------- nginx

mkdir -p "$M/nginx" "$T/nginx"
HTTP_SOCK=$T/nginx/http.sock    # no TCP port to race for
cat >"$T/nginx.conf" <<EOF
user www-data;
worker_processes 2;
daemon off;
pid $T/nginx.pid;
error_log $M/nginx/error.log info;
events { worker_connections 64; }
http {
    access_log $M/nginx/access.log;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen unix:$HTTP_SOCK;
        location / { return 200 "ok\n"; }
    }
}
EOF
"$NGINX" -c "$T/nginx.conf" -p "$T/nginx" -e "$M/nginx/error.log" >"$T/nginx.out" 2>&1 &
SERVERS+=($!)
NGINX_PID=$!

# get PATH...: one HTTP/1.1 connection, a GET of each PATH; all must be 200.
get() {
	"$RFS_PY" - "$HTTP_SOCK" "$@" <<'EOF'
import http.client, socket, sys
class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(sys.argv[1])
c = Unix("localhost")
for p in sys.argv[2:]:
    c.request("GET", p)
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"ok\n", (p, r.status)
EOF
}
# batch NAME N: N requests /NAME/1 .. /NAME/N.
batch() { get $(seq -f "/$1/%g" 1 "$2"); }
# served: nginx answers.
served() { get /ping >/dev/null 2>&1; }

ACCESS=$M/nginx/access.log
access_logs() { echo "$ACCESS" "$ACCESS".[0-9]*; }
# reopened: no nginx process still holds a rotated access log open.
reopened() {
	local p
	for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID"); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -q 'access\.log\.[0-9]' && return 1
	done
	return 0
}

cat >"$T/logrotate-nginx.conf" <<EOF
$ACCESS {
    rotate 5
    compress
    delaycompress
    create 0640 root root
    sharedscripts
    postrotate
        kill -USR1 \$(cat $T/nginx.pid)
    endscript
}
EOF
chmod 0644 "$T/logrotate-nginx.conf"
rotate_nginx() {
	logrotate -f -s "$T/logrotate.state" "$T/logrotate-nginx.conf" &&
	    poll_until 30 reopened
}

if wait_for 30 served; then
	ok "nginx serves, logging on the mount"
	check "nginx: 500 requests (batch a)" batch a 500
	check "logrotate nginx's access log (USR1)" rotate_nginx
	check "nginx: 500 requests (batch b)" batch b 500
	check "logrotate nginx's access log again (gzip of the first)" rotate_nginx
	check "nginx: 500 requests (batch c)" batch c 500
	kill -QUIT "$NGINX_PID"
	wait_for 30 eval '! rfs_pid_alive "$NGINX_PID"'
	# shellcheck disable=SC2046
	check_sh "nginx: every request logged once, across access.log, .1 and .2.gz" '
	[ -e "$ACCESS.2.gz" ] && [ -e "$ACCESS.1" ] &&
	for b in a b c; do
		[ "$(count_of "GET /$b/[0-9]+ " $(access_logs))" = 500 ] || exit 1
	done &&
	[ -z "$(dups_of "GET /[abc]/[0-9]+ " $(access_logs))" ]'
	# shellcheck disable=SC2046
	check_sh "nginx: no NUL byte in the logs, gzip -t of the rotation" '
	no_nul $(access_logs) && gzip -t "$ACCESS.2.gz"'
	check_sh "nginx: its error log on the mount has the reopen" '
	grep -q "reopening logs" "$M/nginx/error.log"'
else
	fail "nginx did not start" "$(cat "$T/nginx.out")" "$(cat "$M/nginx/error.log" 2>/dev/null)"
fi
stop_servers

# ---------------------------------------------------------------- rsyslog

mkdir -p "$M/rsyslog" "$T/rsyslog"
SOCK=$T/rsyslog/log.sock
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rsyslog")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$SOCK" RateLimit.Interval="0")
template(name="plain" type="string" string="%msg:2:$%\n")
if \$syslogtag startswith "t_daemons" then {
    action(type="omfile" file="$M/rsyslog/ct.log" template="plain")
    action(type="omfile" file="$M/rsyslog/cr.log" template="plain")
}
EOF
"$RSYSLOGD" -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" >"$T/rsyslog.out" 2>&1 &
SERVERS+=($!)
RSYSLOG_PID=$!

# send NAME N: N datagrams "NAME-1" .. "NAME-N" to rsyslog's socket.
send() {
	"$RFS_PY" - "$SOCK" "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(1, int(sys.argv[3]) + 1):
    s.sendto(b"<14>t_daemons: %s-%d" % (sys.argv[2].encode(), i), sys.argv[1])
EOF
}
CT=$M/rsyslog/ct.log
CR=$M/rsyslog/cr.log
# landed NAME N FILE...: N lines NAME-i across FILEs.
landed() { [ "$(count_of "^$1-[0-9]+\$" "${@:3}")" = "$2" ]; }
# both_landed NAME N: in both rsyslog files (with their rotations).
both_landed() {
	landed "$1" "$2" "$CT" "$CT".[0-9]* && landed "$1" "$2" "$CR" "$CR".[0-9]*
}
cat >"$T/logrotate-rsyslog.conf" <<EOF
$CT {
    rotate 5
    compress
    delaycompress
    copytruncate
}
$CR {
    rotate 5
    compress
    delaycompress
    create 0640 root root
    postrotate
        kill -HUP \$(cat $T/rsyslog.pid)
    endscript
}
EOF
chmod 0644 "$T/logrotate-rsyslog.conf"
rotate_rsyslog() { logrotate -f -s "$T/logrotate.state" "$T/logrotate-rsyslog.conf"; }

if wait_for 30 test -S "$SOCK"; then
	ok "rsyslogd listens, writing two files on the mount"
	for b in a b c; do
		check "rsyslog: 1000 messages (batch $b)" send "$b" 1000
		wait_for 60 both_landed "$b" 1000 && ok "rsyslog: batch $b in both files"
		# copytruncate loses what is written between its copy and
		# its truncate, on any file system: rotate when idle.
		[ "$b" = c ] || check "logrotate rsyslog's files (copytruncate; create + HUP)" rotate_rsyslog
	done
	# shellcheck disable=SC2046
	check_sh "rsyslog: every message once in each file, across rotations" '
	for f in "$CT" "$CR"; do
		[ -e "$f.2.gz" ] && [ -e "$f.1" ] || exit 1
		[ -z "$(dups_of "^[abc]-[0-9]+\$" "$f" "$f".[0-9]*)" ] || exit 1
		[ "$(count_of "^[abc]-[0-9]+\$" "$f" "$f".[0-9]*)" = 3000 ] || exit 1
	done'
	# shellcheck disable=SC2046
	check_sh "rsyslog: no NUL byte after copytruncate (O_APPEND writes at the new end)" '
	no_nul "$CT" "$CT".[0-9]* && no_nul "$CR" "$CR".[0-9]* &&
	[ "$(head -c 2 "$CT")" = c- ]'
else
	fail "rsyslogd did not start" "$(cat "$T/rsyslog.out")"
fi
stop_servers

if ! is_raw; then
	rfs_umount "$M"
	check_sh "fsck of the store after the daemons: no finding" '
	ctl fsck --store "$B" --keyfile "$T/key" | grep -q " 0 findings,"'
fi
finish
