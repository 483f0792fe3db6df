#!/bin/bash
# Installs the Debian 12 packages retentionfs builds, tests and runs with.
# Safe to run again; needs root.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential pkg-config clang \
	libfuse3-dev fuse3 libsodium-dev libsqlite3-dev libinih-dev \
	rsync logrotate attr acl sqlite3 psmisc util-linux python3 gzip \
	procps kmod man-db groff-base passwd valgrind gdb \
	nginx-light rsyslog >/dev/null
