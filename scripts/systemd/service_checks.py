#!/usr/bin/env python3
"""Runs crmad the way systemd does and checks what systemd and an operator rely on.

Plays the service manager: a NOTIFY_SOCKET datagram socket (READY=1, STATUS=, WATCHDOG=1, STOPPING=1),
WATCHDOG_USEC, JOURNAL_STREAM (so logs go to journald as structured entries). Drops a good and a bad
file into the inbox, waits (on the control socket, with a deadline) for the update to be accepted and
the bad file rejected, then sends SIGTERM and requires a clean exit within 10 s. With --journal DIR it
then reads the journal files and checks the alerts' fields.

usage: service_checks.py --crmad BIN --crmactl BIN --model GGUF [--journal DIR]
"""
import json, os, select, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, daemon_arguments, failures, write_config

ap = daemon_arguments()
ap.add_argument("--journal")
a = ap.parse_args()


work = tempfile.mkdtemp(prefix="crmad-service-")
sock_path = f"{work}/crmad.sock"
config = f"{work}/crmad.toml"
# The inference API's TCP listener: a free port and a token file only the service user can read.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    tcp_port = probe.getsockname()[1]
token_path, token = f"{work}/token", "t0k3n-" + os.urandom(12).hex()
with open(token_path, "w") as f:
    f.write(token + "\n")
os.chmod(token_path, 0o600)
write_config(config, state=f"{work}/state", inbox=f"{work}/inbox", socket=sock_path, model=a.model, extra="""[training]
# naive with a high learning rate: the second, conflicting domain makes the first one forget.
strategy = "naive"
lora_learning_rate = 0.05
steps = 8
batch_rows = 2
sequence_length = 32
checkpoint_interval = 2
[ingest]
debounce_seconds = 0.0
[control]
listen = "127.0.0.1:%d"
token_file = "%s"
""" % (tcp_port, token_path))

notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify_path = f"{work}/notify.sock"
notify.bind(notify_path)
messages = []

def drain(timeout):
    r, _, _ = select.select([notify], [], [], timeout)
    while r:
        messages.append(notify.recv(4096).decode())
        r, _, _ = select.select([notify], [], [], 0)

def seen(prefix):
    return any(line.startswith(prefix) for m in messages for line in m.split("\n"))

env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="1000000", OPENBLAS_NUM_THREADS="1")
if a.journal:
    env["JOURNAL_STREAM"] = "0:0"
log = open(f"{work}/crmad.stderr", "w")
proc = subprocess.Popen([a.crmad, "--config", config], env=env, stderr=log, stdout=log)

deadline = time.time() + 60
while not seen("READY=1") and time.time() < deadline and proc.poll() is None:
    drain(0.5)
check(seen("READY=1"), "READY=1 once the socket is bound")
check(seen("STATUS="), "STATUS= with a summary")
check(os.path.exists(sock_path) and (os.stat(sock_path).st_mode & 0o777) == 0o660, "socket mode 0660")

os.makedirs(f"{work}/inbox/medical", exist_ok=True)
with open(f"{work}/inbox/medical/notes.jsonl.part", "w") as f:
    for i in range(40):
        f.write(json.dumps({"text": f"Patient {i} was given {i % 4 + 1} mg of drug X for condition Y."}) + "\n")
os.rename(f"{work}/inbox/medical/notes.jsonl.part", f"{work}/inbox/medical/notes.jsonl")
with open(f"{work}/inbox/medical/broken.txt", "wb") as f:
    f.write(b"\xff\xfe not utf-8")

def alerts():
    out = subprocess.run([a.crmactl, "alerts", "--json", "--socket", sock_path], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else []

kinds = set()
deadline = time.time() + 60
while time.time() < deadline and not {"update_accepted", "ingest_rejected"} <= kinds:
    drain(0.2)
    kinds = {x["kind"] for x in alerts()}
check("update_accepted" in kinds, "the dropped domain was learned and promoted")
check("ingest_rejected" in kinds, "the bad file was rejected")

# A conflicting domain learned by the shared LoRA: medical forgets, the gate rolls the update back.
os.makedirs(f"{work}/inbox/noise", exist_ok=True)
with open(f"{work}/inbox/noise/noise.jsonl.part", "w") as f:
    for i in range(40):
        f.write(json.dumps({"text": f"zq xv kw {i} jj pp qq zz 9 8 7 ## @@ !! {i * 7}"}) + "\n")
os.rename(f"{work}/inbox/noise/noise.jsonl.part", f"{work}/inbox/noise/noise.jsonl")
deadline = time.time() + 60
while time.time() < deadline and "rollback" not in kinds:
    drain(0.2)
    kinds = {x["kind"] for x in alerts()}
check("rollback" in kinds and "drift_critical" in kinds, "a forgetting update is rolled back with a critical drift alert")
status = json.loads(subprocess.run([a.crmactl, "status", "--json", "--socket", sock_path], capture_output=True, text=True).stdout)
check(status["activeVersion"] == 2, f"the active version is unchanged (v{status['activeVersion']})")
drain(1.2)
check(sum(m.count("WATCHDOG=1") for m in messages) >= 2, "WATCHDOG=1 pings at half WATCHDOG_USEC")

# crmactl export: version 2's LoRA as a PEFT directory and its whole adapter set, written by crmactl.
def export(*args):
    return subprocess.run([a.crmactl, "export", *args, "--socket", sock_path], capture_output=True, text=True)
peft = export("2", "--format", "peft", "--out", f"{work}/export/peft")
files = sorted(os.listdir(f"{work}/export/peft")) if os.path.isdir(f"{work}/export/peft") else []
check(peft.returncode == 0 and files == ["adapter_config.json", "adapter_model.safetensors"]
      and json.load(open(f"{work}/export/peft/adapter_config.json"))["peft_type"] == "LORA"
      and "scores medical with this LoRA alone" in peft.stdout,
      f"crmactl export --format peft writes a PEFT directory and says what it leaves out (rc={peft.returncode} {peft.stderr.strip()})")
again = export("2", "--format", "peft", "--out", f"{work}/export/peft")
check(again.returncode == 73 and "--force" in again.stderr, f"crmactl export never overwrites a file without --force (rc={again.returncode})")
whole = export("2", "--format", "crma", "--out", f"{work}/export/crma", "--json")
info = json.loads(whole.stdout) if whole.returncode == 0 else {"files": [{"bytes": -1}]}
check(whole.returncode == 0 and os.path.getsize(f"{work}/export/crma/adapters.safetensors") == info["files"][0]["bytes"],
      f"crmactl export --format crma --json writes the version's adapter file and lists it (rc={whole.returncode})")
base = export("1", "--format", "peft", "--out", f"{work}/export/base")
check(base.returncode == 65 and "base model" in base.stderr, f"exporting the base model is refused, saying why (rc={base.returncode})")

# Bad requests get JSON errors with proper statuses, and the daemon stays up.
def raw(method, path, body=b""):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    c.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    data = b""
    while chunk := c.recv(65536):
        data += chunk
    c.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    try:
        code = json.loads(payload)["error"]["code"]
    except Exception:
        code = None
    return status, code
check(raw("POST", "/v1/score", b'{"text": "' + b"a" * 100000 + b'"}') == (413, "too_large"), "an oversized body gets 413")
check(raw("POST", "/v1/generate", b"{not json") == (400, "bad_request"), "malformed JSON gets 400")
check(raw("POST", "/v1/rollback", b'{"version": "two"}') == (400, "bad_request"), "a wrong field type gets 400")
check(raw("GET", "/v1/nope") == (404, "not_found"), "an unknown endpoint gets 404")
check(raw("POST", "/v1/rollback", b'{"version": 999}') == (404, "not_found"), "an unknown version gets 404")
check(proc.poll() is None, "the daemon is still up after bad requests")

# The OpenAI-compatible inference API on the socket: models, a chat completion under medical's adapters,
# the same reply streamed as server-sent events, and a clear 404 for a model it does not serve.
def call(method, path, body=None, tcp_headers=None):
    """(status, headers, body bytes) over the socket, or over TCP with `tcp_headers`."""
    payload = json.dumps(body).encode() if body is not None else b""
    if tcp_headers is None:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock_path)
    else:
        c = socket.create_connection(("127.0.0.1", tcp_port))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (tcp_headers or {}).items())
    c.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
              f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
    data = b""
    while chunk := c.recv(65536):
        data += chunk
    c.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    headers = head.decode().lower()
    if "transfer-encoding: chunked" in headers:
        body_bytes = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            body_bytes, rest = body_bytes + rest[:size], rest[size + 2:]
        rest = body_bytes
    return int(head.split()[1]), headers, rest
status_code, _, body = call("GET", "/v1/models")
ids = [m["id"] for m in json.loads(body)["data"]] if status_code == 200 else []
check(ids == ["base", "crma", "crma:medical"], f"GET /v1/models lists base, crma and each learned domain ({ids})")
ask = {"model": "crma:medical", "messages": [{"role": "user", "content": "Patient 3 was given"}], "max_tokens": 8,
       "temperature": 0}
status_code, _, body = call("POST", "/v1/chat/completions", ask)
reply = json.loads(body) if status_code == 200 else {}
check(reply.get("object") == "chat.completion" and reply.get("model") == "crma:medical"
      and reply["usage"]["completion_tokens"] >= 1 and reply["choices"][0]["finish_reason"] in ("stop", "length"),
      f"POST /v1/chat/completions answers under medical's adapters with usage ({status_code} {body[:200]!r})")
status_code, headers, body = call("POST", "/v1/chat/completions", dict(ask, stream=True))
events = [line[6:] for line in body.decode().split("\n") if line.startswith("data: ")]
chunks = [json.loads(e) for e in events[:-1]] if events and events[-1] == "[DONE]" else []
streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
check(status_code == 200 and "text/event-stream" in headers and chunks and streamed == reply["choices"][0]["message"]["content"],
      f"stream: true sends the same reply as server-sent events ending in [DONE] ({streamed!r})")
status_code, _, body = call("POST", "/v1/completions", {"model": "crma", "prompt": "Patient 7 was given", "max_tokens": 4})
check(status_code == 200 and json.loads(body)["model"] == "crma:medical",
      f"model crma routes a medical prompt to crma:medical ({status_code} {body[:160]!r})")
status_code, _, body = call("POST", "/v1/chat/completions", dict(ask, model="crma:legal"))
check(status_code == 404 and b"crma:medical" in body, f"an unknown model gets 404 naming the served ones ({status_code})")

# The TCP listener: inference only, and only with the bearer token.
status_code, _, _ = call("GET", "/v1/models", tcp_headers={})
check(status_code == 401, f"the TCP listener refuses a request without the token ({status_code})")
status_code, _, _ = call("GET", "/v1/models", tcp_headers={"Authorization": "Bearer wrong-" + token})
check(status_code == 401, f"the TCP listener refuses a wrong token ({status_code})")
auth = {"Authorization": f"Bearer {token}"}
status_code, _, body = call("POST", "/v1/chat/completions", ask, tcp_headers=auth)
check(status_code == 200 and json.loads(body)["choices"][0]["message"]["content"] == reply["choices"][0]["message"]["content"],
      f"the TCP listener serves the same completion with the token ({status_code})")
status_code, _, _ = call("POST", "/v1/pause", {}, tcp_headers=auth)
check(status_code == 404, f"nothing that changes state is reachable over TCP ({status_code})")

# GET /metrics: the Prometheus registry crmad records into through swift-metrics, every family documented.
def get(path):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock_path)
    c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := c.recv(65536):
        data += chunk
    c.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload.decode()
code, text = get("/metrics")
helps, types, samples = set(), {}, {}
for line in text.splitlines():
    parts = line.split(" ", 3)
    if parts[0] == "#":
        if parts[1] == "HELP": helps.add(parts[2])
        if parts[1] == "TYPE": types[parts[2]] = parts[3]
    elif line:
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
families = ["crmad_training_tokens_per_second", "crmad_training_loss", "crmad_training_step_seconds",
            "crmad_crma_spectral_excess", "crmad_crma_margin_error", "crmad_queue_depth", "crmad_active_version",
            "crmad_paused", "crmad_domain_drift_percent", "crmad_rollbacks_total", "crmad_versions_accepted_total",
            "crmad_ingest_rejected_files"]
missing = [f for f in families if f not in helps or f not in types
           or not any(k == f or k.startswith(f + "{") or k.startswith(f + "_") for k in samples)]
check(code == 200 and not missing, f"/metrics has every family with HELP, TYPE and samples (missing {missing})")
check(samples.get("crmad_versions_accepted_total") == 1 and samples.get("crmad_rollbacks_total") == 1
      and samples.get("crmad_active_version") == 2 and samples.get("crmad_ingest_rejected_files") == 1,
      "/metrics counts one accepted and one rolled-back update, version 2 active, one rejected file")
check('crmad_domain_drift_percent{domain="medical"}' in samples, "/metrics has the drift of the learned domain")
check(samples.get("crmad_training_step_seconds_count", 0) >= 7, "/metrics times the training steps")

# Authorisation from SO_PEERCRED: another uid may read but not change state (socket opened up for the test).
if os.geteuid() == 0:
    os.chmod(work, 0o711)
    os.chmod(sock_path, 0o666)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", a.crmactl, "--socket", sock_path]
    read = subprocess.run(as_nobody[:-2] + ["status", "--socket", sock_path], capture_output=True, text=True)
    check(read.returncode == 0, "another uid can read the status")
    write = subprocess.run(as_nobody[:-2] + ["pause", "--socket", sock_path], capture_output=True, text=True)
    check(write.returncode == 77 and "403" in write.stderr, f"another uid gets 403 on pause (rc={write.returncode})")
    taken = subprocess.run(as_nobody[:-2] + ["export", "2", "--format", "crma", "--out", "/tmp/crma-export-nobody",
                                             "--socket", sock_path], capture_output=True, text=True)
    check(taken.returncode == 77, f"another uid may not export the learned weights (rc={taken.returncode})")
    mine = subprocess.run([a.crmactl, "pause", "--socket", sock_path], capture_output=True, text=True)
    check(mine.returncode == 0, "root may pause")
    paused = json.loads(subprocess.run([a.crmactl, "status", "--json", "--socket", sock_path], capture_output=True, text=True).stdout)
    resumed = subprocess.run([a.crmactl, "resume", "--socket", sock_path], capture_output=True, text=True)
    after = json.loads(subprocess.run([a.crmactl, "status", "--json", "--socket", sock_path], capture_output=True, text=True).stdout)
    check(paused["paused"] and resumed.returncode == 0 and not after["paused"], "pause and resume show in the status")

t0 = time.time()
proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=10)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = None
drain(0.2)
check(rc == 0, f"SIGTERM: clean exit (rc={rc}) in {time.time() - t0:.1f} s")
check(seen("STOPPING=1"), "STOPPING=1 on shutdown")

if a.journal:
    mid = open("/etc/machine-id").read().strip()
    jdir = f"{a.journal}/log/journal/{mid}"
    subprocess.run(["journalctl", "--sync"], capture_output=True)
    def entries(*match):
        out = subprocess.run(["journalctl", "-D", jdir, "-o", "json", *match], capture_output=True, text=True)
        return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
    accepted = entries("MESSAGE_ID=9a93ff6b31174418b771a0129ae27466")
    check(len(accepted) == 1 and accepted[0].get("CRMA_DOMAIN") == "medical" and accepted[0].get("CRMA_VERSION") == "2"
          and accepted[0].get("PRIORITY") == "5", "journal: update-accepted entry with CRMA_DOMAIN, CRMA_VERSION, PRIORITY 5")
    rejected = entries("MESSAGE_ID=eb1957b11e304e1a9c70c5c71b99dfcb", "-p", "warning")
    check(len(rejected) == 1 and rejected[0].get("CRMA_FILE") == "medical/broken.txt" and rejected[0].get("PRIORITY") == "4",
          "journal: ingest-rejected entry at PRIORITY 4 with CRMA_FILE")
    check(any(e.get("SYSLOG_IDENTIFIER") == "crmad" for e in entries()), "journal: entries carry SYSLOG_IDENTIFIER=crmad")
    drift = entries("MESSAGE_ID=e9c1e72eb9c8497184b93934cac92ae4", "-p", "crit")
    check(len(drift) == 1 and drift[0].get("CRMA_DOMAIN") == "medical" and drift[0].get("PRIORITY") == "2"
          and float(drift[0].get("CRMA_DRIFT_PCT", "0")) > 10 and drift[0].get("CRMA_THRESHOLD_PCT") == "10.0"
          and drift[0].get("CRMA_BENCHMARK") == "holdout:medical" and drift[0].get("CRMA_ACTION") == "rollback",
          "journal: critical drift entry (PRIORITY 2, CRMA_DRIFT_PCT, CRMA_THRESHOLD_PCT, CRMA_BENCHMARK, CRMA_ACTION)")
    rolled = entries("MESSAGE_ID=e940c5f07c2640a0a19b778df396a1cb")
    check(len(rolled) == 1 and rolled[0].get("CRMA_DOMAIN") == "noise" and rolled[0].get("CRMA_VERSION") == "3",
          "journal: rollback entry for the candidate version")

if failures:
    print(open(f"{work}/crmad.stderr").read()[-3000:])
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
