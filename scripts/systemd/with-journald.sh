#!/usr/bin/env bash
# with-journald.sh DIR CMD...  — runs CMD with a private systemd-journald listening at the standard
# socket paths, visible only in this mount namespace (call it through `unshare --mount`). The journal
# files land in DIR/log/journal/<machine-id>/; read them with `journalctl -D`.
set -euo pipefail
dir=$1; shift
rm -rf "$dir"; mkdir -p "$dir/log"
cat > "$dir/journald.conf" <<CONF
[Journal]
Storage=volatile
RateLimitIntervalSec=0
ForwardToSyslog=no
ForwardToWall=no
ReadKMsg=no
CONF
mount -n -t tmpfs -o mode=755 tmpfs /run          # a private /run; the host's stays untouched
mkdir -p /run/systemd/journal /run/log
mount -n --bind "$dir/log" /run/log
if [ -f /etc/systemd/journald.conf ]; then mount -n --bind "$dir/journald.conf" /etc/systemd/journald.conf; fi
/lib/systemd/systemd-journald 2>"$dir/journald.err" &
journald=$!
for _ in $(seq 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || { echo "journald did not start"; cat "$dir/journald.err"; exit 1; }
set +e
"$@"
rc=$?
set -e
journalctl --sync 2>/dev/null || true
kill -TERM "$journald"; wait "$journald" 2>/dev/null || true
exit $rc
