#!/usr/bin/env bash
# check-units.sh CRMAD_BINARY — lints the shipped units the way the issue asks: `systemd-analyze verify`
# prints nothing, and `systemd-analyze security --offline` rates the service's exposure at most 3.0.
# systemd-analyze writes under /run, so it runs in a private mount namespace with its own /run.
set -euo pipefail
crmad=$(realpath "$1")
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit names /usr/local/bin/crmad; verify checks the binary exists, so point it at the build.
sed "s#/usr/local/bin/crmad#$crmad#g" "$here/systemd/crmad.service" > "$tmp/crmad.service"
private_run() { unshare --mount --propagation private sh -c 'mount -n -t tmpfs tmpfs /run && exec "$@"' sh "$@"; }
out=$(private_run systemd-analyze verify --man=no "$tmp/crmad.service" 2>&1 || true)
if [ -n "$out" ]; then echo "FAIL systemd-analyze verify printed:"; echo "$out"; exit 1; fi
echo "PASS systemd-analyze verify prints nothing"
exposure=$(private_run systemd-analyze security --offline=true --no-pager "$tmp/crmad.service" 2>&1 | sed -n 's/.*Overall exposure level for crmad.service: \([0-9.]*\).*/\1/p')
if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }'; then
    echo "FAIL security exposure '${exposure}' (must be <= 3.0)"; exit 1
fi
echo "PASS systemd-analyze security --offline: exposure $exposure (<= 3.0)"
for f in crmad.sysusers crmad.tmpfiles; do [ -s "$here/systemd/$f" ] || { echo "FAIL missing systemd/$f"; exit 1; }; done
# The catalog must compile: journalctl parses it into a private catalog database.
mkdir -p "$tmp/root/usr/lib/systemd/catalog"
cp "$here/systemd/crmad.catalog" "$tmp/root/usr/lib/systemd/catalog/"
journalctl --root="$tmp/root" --update-catalog
n=$(journalctl --root="$tmp/root" --list-catalog 2>/dev/null | grep -c "crmad:" || true)
[ "$n" -eq 6 ] || { echo "FAIL catalog lists $n crmad entries, expected 6"; exit 1; }
echo "PASS catalog: 6 entries"
