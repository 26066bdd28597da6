#!/usr/bin/env python3
"""10,000 tiny files renamed into a running crmad's inbox at once, while it keeps ingesting and training
(debounced into a few updates). Checks that every file ends up stored — none lost, none left behind —
and that the daemon stays up and answers meanwhile.

usage: inbox_flood.py --crmad BIN --crmactl BIN --model GGUF [--files 10000]
"""
import json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, daemon_arguments, failures, write_config

ap = daemon_arguments()
ap.add_argument("--files", type=int, default=10000)
a = ap.parse_args()


work = tempfile.mkdtemp(prefix="crmad-flood-")
sock = f"{work}/crmad.sock"
write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=f"{work}/inbox", socket=sock, model=a.model,
             extra="[training]\nsteps = 2\nbatch_rows = 2\nsequence_length = 32\n[ingest]\ndebounce_seconds = 1.0\n")
log = open(f"{work}/crmad.log", "w")
proc = subprocess.Popen([a.crmad, "--config", f"{work}/crmad.toml"], stdout=log, stderr=log,
                        env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))


def ctl(*args):
    r = subprocess.run([a.crmactl, *args, "--json", "--socket", sock], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


deadline = time.time() + 60
while ctl("status") is None and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
check(ctl("status") is not None, "crmad answers")

bulk = f"{work}/inbox/bulk"
os.makedirs(bulk)
staging = f"{work}/staging"
os.makedirs(staging)
for i in range(a.files):
    with open(f"{staging}/{i}.txt", "w") as f:
        f.write(f"tiny document number {i}, about nothing in particular")
t0 = time.time()
for i in range(a.files):
    os.rename(f"{staging}/{i}.txt", f"{bulk}/{i}.txt")
answered = 0
stored = 0
deadline = time.time() + 900
while time.time() < deadline and proc.poll() is None:
    domains = ctl("domains")
    answered += domains is not None
    stored = next((d.get("files", 0) for d in domains or [] if d.get("name") == "bulk"), 0)
    if stored >= a.files and not os.listdir(bulk):
        break
    time.sleep(1)
seconds = time.time() - t0
check(stored == a.files, f"all {a.files} files stored ({stored}) in {seconds:.0f} s")
check(not os.listdir(bulk), f"nothing left in the inbox ({len(os.listdir(bulk))})")
rejected = [n for n in os.listdir(f"{work}/inbox/.rejected") if not n.endswith(".error.json")]
check(not rejected, f"nothing rejected ({len(rejected)})")
check(answered > 0 and proc.poll() is None, f"the daemon stayed up and answered {answered} times while ingesting")
proc.send_signal(signal.SIGTERM)
try:
    proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
check(proc.returncode == 0, f"clean exit ({proc.returncode})")
sys.exit(1 if failures else 0)
