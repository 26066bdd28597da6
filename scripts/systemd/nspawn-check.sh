#!/usr/bin/env bash
# nspawn-check.sh CRMAD CRMACTL MODEL — boots real systemd (PID 1 in systemd-nspawn, host /usr read-only,
# volatile root, private network) with the shipped unit, sysusers and tmpfiles, and checks from inside:
# the service reaches active (Type=notify: READY arrived), crmactl answers through the socket, a dropped
# domain is learned, `journalctl -u crmad` shows the alert, and stop is clean. Runs in a cgroup of its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/crmad-nspawn.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/units" "$work/sysusers" "$work/tmpfiles" "$work/opt"
# The shipped unit, with the binary and config where this test puts them.
sed -e 's#/usr/local/bin/crmad#/opt/test/crmad#g' -e 's#/etc/crmad/crmad.toml#/opt/test/crmad.toml#g' \
    "$repo/systemd/crmad.service" > "$work/units/crmad.service"
ln -s /dev/null "$work/units/systemd-firstboot.service"   # the empty /etc would make it prompt
ln -s /dev/null "$work/units/console-getty.service"
cp "$repo/systemd/crmad.sysusers" "$work/sysusers/crmad.conf"
cp "$repo/systemd/crmad.tmpfiles" "$work/tmpfiles/crmad.conf"
cp "$1" "$work/opt/crmad"; cp "$2" "$work/opt/crmactl"; cp "$3" "$work/opt/model.gguf"
# base "bf16" where the CPU has it, so the check below sees the shipped unit let oneDNN generate its
# kernels (the default base, quantized, generates none).
base=$(grep -q avx512_bf16 /proc/cpuinfo && echo bf16 || echo auto)
cat > "$work/opt/crmad.toml" <<TOML
[model]
path = "/opt/test/model.gguf"
base = "$base"
[training]
steps = 4
batch_rows = 2
sequence_length = 32
[monitor]
benchmarks = ""
[ingest]
debounce_seconds = 0.0
TOML
cat > "$work/opt/inside.sh" <<'INSIDE'
#!/bin/bash
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; failed=1; }
ctl() { /opt/test/crmactl "$1" --socket /run/crmad/crmad.sock "${@:2}"; }
if systemctl start crmad; then pass "systemctl start crmad returned (READY=1 arrived)"; else
    fail "systemctl start crmad"; systemctl status crmad --no-pager; journalctl -u crmad --no-pager | tail -40; exit 1; fi
[ "$(systemctl is-active crmad)" = active ] && pass "crmad is active" || fail "crmad is not active"
[ "$(stat -c %U /var/lib/crmad/inbox)" = crmad ] && pass "sysusers made the crmad user; tmpfiles made the inbox" || fail "inbox owner"
ctl status > /tmp/status.txt && grep -q "^state" /tmp/status.txt && pass "crmactl status answers through /run/crmad/crmad.sock" || fail "crmactl status"
mkdir -p /var/lib/crmad/inbox/medical
for i in $(seq 40); do echo "{\"text\": \"Patient $i received $((i % 4 + 1)) mg of drug X for otitis.\"}"; done > /var/lib/crmad/inbox/medical/a.jsonl.part
mv /var/lib/crmad/inbox/medical/a.jsonl.part /var/lib/crmad/inbox/medical/a.jsonl
for _ in $(seq 300); do ctl alerts --json | grep -q update_accepted && break; sleep 0.2; done
ctl alerts --json | grep -q update_accepted && pass "the dropped domain was learned and promoted" || fail "no accepted update"
journalctl -u crmad MESSAGE_ID=9a93ff6b31174418b771a0129ae27466 -o json --no-pager | grep -q '"CRMA_DOMAIN":"medical"' \
    && pass "journalctl -u crmad shows the update-accepted alert with its fields" || fail "alert not in journalctl -u crmad"
if grep -q avx512_bf16 /proc/cpuinfo; then
    # The shipped unit must let oneDNN generate its kernels (no MemoryDenyWriteExecute) for base "bf16".
    journalctl -u crmad --no-pager | grep -q "base bf16" && pass "the unit runs the bf16 GEMMs (base bf16 in the log)" \
        || fail "the unit does not run bf16: $(journalctl -u crmad --no-pager | grep "base " | tail -1)"
fi
systemctl stop crmad
[ "$(systemctl show -p Result --value crmad)" = success ] && [ "$(systemctl show -p ExecMainStatus --value crmad)" = 0 ] \
    && pass "systemctl stop: clean (Result=success, status 0)" || fail "stop was not clean: $(systemctl show -p Result -p ExecMainStatus crmad)"
[ -S /run/crmad/crmad.sock ] || [ -d /run/crmad ] && pass "the runtime directory survives the stop" || fail "/run/crmad removed"
[ $failed = 0 ] || journalctl -u crmad --no-pager | tail -30
exit $failed
INSIDE
chmod +x "$work/opt/inside.sh"

boot() {
    mount -n -t tmpfs tmpfs /run/systemd
    systemd-nspawn --quiet --directory=/ --volatile=yes --register=no --keep-unit --private-network \
        --machine="crmad-test-$$" --console=read-only \
        --bind-ro="$work/units":/etc/systemd/system --bind-ro="$work/sysusers":/etc/sysusers.d \
        --bind-ro="$work/tmpfiles":/etc/tmpfiles.d --bind-ro="$work/opt":/opt/test --bind-ro=/opt/swift --bind-ro=/etc/alternatives \
        --boot > "$work/nspawn.log" 2>&1 &
    local nspawn=$!
    local leader=""
    for _ in $(seq 200); do leader=$(pgrep -P $nspawn -x systemd || true); [ -n "$leader" ] && break; sleep 0.05; done
    [ -n "$leader" ] || { echo "FAIL the container did not start"; cat "$work/nspawn.log"; return 1; }
    local in="nsenter --target $leader --mount --uts --ipc --net --pid"
    for _ in $(seq 200); do $in test -S /run/systemd/private 2>/dev/null && break; sleep 0.05; done
    echo "container: $($in systemctl is-system-running --wait 2>&1)"
    local rc=0
    $in /opt/test/inside.sh || rc=$?
    kill -TERM $nspawn 2>/dev/null; wait $nspawn 2>/dev/null || true
    return $rc
}
export -f boot
export work
"$here/in-own-cgroup.sh" "crmad-nspawn-$$" unshare --mount --propagation private bash -c boot
