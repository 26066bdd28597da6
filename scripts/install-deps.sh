#!/usr/bin/env bash
# Installs the Debian packages the build needs, only when one is missing.
set -euo pipefail
# libdnnl-dev: oneDNN, the bf16 GEMMs. systemd-container: systemd-nspawn, for the test that boots the shipped unit under real systemd.
PACKAGES="libopenblas-dev libdnnl-dev libsqlite3-dev libsystemd-dev pkg-config systemd systemd-container util-linux python3"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
