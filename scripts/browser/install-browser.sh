#!/usr/bin/env bash
# What the dashboard's browser check needs, installed only when missing: Debian's chromium, and Playwright
# (pinned) in its own virtual environment under var/, which drives that chromium (it downloads no browser).
set -euo pipefail
VENV=${1:-var/venv-dashboard}
PLAYWRIGHT=playwright==1.65.3
# iproute2: `ip`, which brings up loopback in the check's own network namespace.
missing=""
for p in chromium iproute2; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import playwright" 2>/dev/null && "$VENV/bin/pip" show playwright 2>/dev/null | grep -qx "Version: ${PLAYWRIGHT#*==}" \
    || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$VENV/bin/pip" install -q "$PLAYWRIGHT"
