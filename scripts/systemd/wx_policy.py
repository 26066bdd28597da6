#!/usr/bin/env python3
"""crmad under a W^X policy (what systemd's MemoryDenyWriteExecute=yes enforces, here through the kernel's
PR_SET_MDWE): oneDNN cannot generate its bf16 kernels there. base "auto" must choose the quantized base
(which generates no code), base "bf16" must be a configuration error (exit 78) naming the policy, and a
daemon on the tiny model must start and learn a domain instead of crashing — before this check, the
shipped unit (which set MemoryDenyWriteExecute) made crmad die with SIGILL in a restart loop.

usage: wx_policy.py --crmad BIN --crmactl BIN --model GGUF
"""
import ctypes, json, os, signal, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, ctl, daemon_arguments, failures, stop_crmad, wait, write_config

ap = daemon_arguments()
a = ap.parse_args()


PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def refuse_exec_gain():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def under_policy(*args, **kw):
    return subprocess.run(list(args), preexec_fn=refuse_exec_gain, capture_output=True, text=True, **kw)


work = tempfile.mkdtemp(prefix="crmad-wx-")
inbox, sock = f"{work}/inbox", f"{work}/crmad.sock"
training = "[training]\nsteps = 4\nbatch_rows = 2\nsequence_length = 32\n[ingest]\ndebounce_seconds = 0.0\n"
write_config(f"{work}/auto.toml", state=f"{work}/state", inbox=inbox, socket=sock, model=a.model, extra=training)
# The same file with base = "bf16" in its [model] table.
auto = open(f"{work}/auto.toml").read()
open(f"{work}/bf16.toml", "w").write(auto.replace(f'path = "{a.model}"\n', f'path = "{a.model}"\nbase = "bf16"\n', 1))

r = under_policy(a.crmad, "--config", f"{work}/auto.toml", "--check-config")
check(r.returncode == 0 and "base quantized" in r.stdout,
      f"auto under W^X: the quantized base ({[l for l in r.stdout.splitlines() if 'base' in l]})")
r = under_policy(a.crmad, "--config", f"{work}/bf16.toml", "--check-config")
check(r.returncode == 78 and "model.base" in r.stderr and "MemoryDenyWriteExecute" in r.stderr,
      f"base \"bf16\" under W^X is a configuration error naming the policy (rc={r.returncode}: {r.stderr.strip()[:160]})")

log = open(f"{work}/crmad.log", "w")
proc = subprocess.Popen([a.crmad, "--config", f"{work}/auto.toml"], stdout=log, stderr=log, preexec_fn=refuse_exec_gain,
                        env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
try:
    check(wait(lambda: ctl(a.crmactl, sock, "status"), 30) is not None, "crmad starts under W^X")
    os.makedirs(f"{inbox}/medical", exist_ok=True)
    with open(f"{inbox}/medical/a.jsonl.part", "w") as f:
        for i in range(40):
            f.write(json.dumps({"text": f"Patient {i} received {i % 4 + 1} mg of drug X for otitis."}) + "\n")
    os.rename(f"{inbox}/medical/a.jsonl.part", f"{inbox}/medical/a.jsonl")
    accepted = wait(lambda: any(x["kind"] == "update_accepted" for x in ctl(a.crmactl, sock, "alerts") or []), 60)
    check(bool(accepted) and proc.poll() is None, "it learns a domain and keeps running")
finally:
    stop_crmad(proc)
if failures:
    print(open(f"{work}/crmad.log").read()[-2000:])
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
