#!/usr/bin/env python3
"""Disk full: crmad's state directory on a 16 MB tmpfs that the test fills up.

Run inside a private mount namespace (`unshare --mount --propagation private`). Checks that with a full
disk the daemon reports it (status and, once space is back, an alert), stores nothing half-way, keeps
the dropped file in the inbox and the active version intact, and continues by itself once space is
freed: the file is stored, its update learned, the status clear again.

usage: disk_full.py --crmad BIN --crmactl BIN --model GGUF
"""
import hashlib, json, os, signal, sqlite3, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, daemon_arguments, drop_jsonl, failures, write_config

ap = daemon_arguments()
a = ap.parse_args()


work = tempfile.mkdtemp(prefix="crmad-diskfull-")
state, inbox, sock = f"{work}/state", f"{work}/inbox", f"{work}/crmad.sock"
os.makedirs(state)
subprocess.run(["mount", "-n", "-t", "tmpfs", "-o", "size=16m", "tmpfs", state], check=True)
write_config(f"{work}/crmad.toml", state=state, inbox=inbox, socket=sock, model=a.model, extra="""[training]
steps = 6
batch_rows = 2
sequence_length = 32
checkpoint_interval = 2
[ingest]
debounce_seconds = 0.0
""")
log = open(f"{work}/crmad.log", "w")
proc = subprocess.Popen([a.crmad, "--config", f"{work}/crmad.toml"], stdout=log, stderr=log)

def ctl(*args):
    out = subprocess.run([a.crmactl, *args, "--json", "--socket", sock], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None

def wait(predicate, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False

def drop(domain, name, text):
    drop_jsonl(inbox, domain, name, ({"text": f"{text} {i}: " + "lorem ipsum dolor " * 3} for i in range(30)))

check(wait(lambda: os.path.exists(sock)), "crmad started on a 16 MB state directory")
drop("medical", "a.jsonl", "patient note")
check(wait(lambda: (ctl("status") or {}).get("activeVersion") == 2), "the first domain was learned (version 2)")

# Fill the file system.
filler = f"{state}/filler"
with open(filler, "wb") as f:
    try:
        while True:
            f.write(b"\0" * (1 << 20))
            f.flush()
    except OSError:
        pass
drop("legal", "b.jsonl", "contract clause")
check(wait(lambda: "disk full" in ((ctl("status") or {}).get("lastError") or "")), "the status reports the full disk")
check(os.path.exists(f"{inbox}/legal/b.jsonl"), "the dropped file stays in the inbox")
check(proc.poll() is None, "the daemon keeps running")
st = ctl("status") or {}
check(st.get("activeVersion") == 2, "the active version is unchanged")

os.unlink(filler)
check(wait(lambda: not os.path.exists(f"{inbox}/legal/b.jsonl"), 30), "once space is freed the file is stored")
check(wait(lambda: (ctl("status") or {}).get("activeVersion") == 3), "and its update learned (version 3)")
check((ctl("status") or {}).get("lastError") is None, "the status is clear again")
log.flush()
text = open(f"{work}/crmad.log").read()
check("is full" in text and "MESSAGE_ID=7e98fc437de7495e8736c9c9d966493d" in text,
      "one disk_full alert was logged (its MESSAGE_ID goes to the journal under systemd)")
check(text.count("MESSAGE_ID=7e98fc437de7495e8736c9c9d966493d") == 1, "reported once, not once per retry")

db = sqlite3.connect(f"file:{state}/crmad.sqlite?mode=ro", uri=True)
bad = 0
for (h,) in db.execute("SELECT adapters_hash FROM versions WHERE adapters_hash IS NOT NULL UNION SELECT blob FROM documents"):
    p = f"{state}/blobs/{h[:2]}/{h}"
    if not os.path.exists(p) or hashlib.sha256(open(p, "rb").read()).hexdigest() != h:
        bad += 1
check(bad == 0, "every blob matches its hash")
check(db.execute("SELECT count(*) FROM jobs WHERE state = 'failed'").fetchone()[0] == 0, "no job failed")
proc.send_signal(signal.SIGTERM)
check(proc.wait(timeout=30) == 0, "clean stop")
if failures:
    print(open(f"{work}/crmad.log").read()[-3000:])
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
