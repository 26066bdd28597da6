#!/usr/bin/env python3
"""SIGKILLs crmad at random moments and checks, after every kill, that nothing was lost.

Runs the real daemon on the tiny model over several domains. Each round starts crmad, drops files
(good ones and some bad ones), waits a random time — landing in ingest, training, checkpointing,
evaluation, promotion — and SIGKILLs it. While it is down the driver checks the invariants:
  1. every file ever dropped is in the store (by content hash), still in the inbox, or in
     inbox/.rejected with an .error.json;
  2. exactly one active version, and it is the base or an accepted one;
  3. every version's adapter blob and every document blob exists and matches its hash;
  4. no job is lost (every job id seen before still exists);
  5. a job interrupted in training resumes from its last checkpoint, not from step 0;
  6. no job concludes twice (one version per job), and no job fails. The driver provokes no job failure on purpose (its bad files are refused at ingest
     and never make a job), so a failed job is an update the kills lost.
At the end the daemon runs to completion and every good file must be stored and every job accepted,
rolled back or cancelled.

With --engine slurm the updates run as Slurm jobs that the kills never touch: after every restart crmad
must adopt them by their stored ids (a job submitted twice would show as a second version of one job).

usage: kill_driver.py --crmad BIN --model GGUF [--kills N] [--seed S] [--engine local|slurm]
"""
import argparse, hashlib, json, os, random, re, signal, sqlite3, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import drop_file

ap = argparse.ArgumentParser()
ap.add_argument("--crmad", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--kills", type=int, default=50)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--engine", choices=["local", "slurm"], default="local",
                help="slurm: updates run as Slurm jobs (run under scripts/cluster/with-slurm.sh); the kills hit crmad, "
                     "never the jobs, which crmad must adopt after every restart")
a = ap.parse_args()
rng = random.Random(a.seed)

work = tempfile.mkdtemp(prefix="crmad-kill-")
inbox, state = f"{work}/inbox", f"{work}/state"
CHECKPOINT_INTERVAL = 2
config = f"{work}/crmad.toml"
open(config, "w").write(f"""[paths]
state_dir = "{state}"
inbox = "{inbox}"
socket = "{work}/crmad.sock"
[model]
path = "{a.model}"
[training]
steps = 150
batch_rows = 2
sequence_length = 32
checkpoint_interval = {CHECKPOINT_INTERVAL}
[monitor]
benchmarks = ""
holdout_rows = 4
[ingest]
debounce_seconds = 0.1
""")
if a.engine == "slurm":
    os.makedirs(f"{work}/shared")
    open(config, "a").write(f"""[cluster]
engine = "slurm"
shared_dir = "{work}/shared"
max_parallel = 2
sbatch_args = ["--cpus-per-task=1"]
""")

domains = ["medical", "legal", "code", "finance"]
good, bad = {}, {}   # relative path -> sha256 of the bytes dropped
counter = 0

def drop():
    global counter
    counter += 1
    d = rng.choice(domains)
    if rng.random() < 0.2:
        name, data = f"bad{counter}.txt", b"\xff\xfe not text " + str(counter).encode()
        bad[f"{d}/{name}"] = hashlib.sha256(data).hexdigest()
    else:
        lines = [json.dumps({"text": f"{d} document {counter}-{i}: " + " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega", "sigma"]) for _ in range(12))}) for i in range(rng.randint(12, 30))]
        name, data = f"f{counter}.jsonl", ("\n".join(lines) + "\n").encode()
        good[f"{d}/{name}"] = hashlib.sha256(data).hexdigest()
    drop_file(inbox, d, name, data)

def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()

def blob(h):
    return f"{state}/blobs/{h[:2]}/{h}"

seen_jobs = set()
failed_jobs = set()   # reported once each
steps_at_kill = {}
violations = []
checks = 0

def check(label):
    global checks
    db = sqlite3.connect(f"file:{state}/crmad.sqlite?mode=ro", uri=True)
    stored = {r[0] for r in db.execute("SELECT hash FROM files")}
    problems = []
    for rel, h in {**good, **bad}.items():
        d, name = rel.split("/")
        flat = f"{inbox}/.rejected/{d}__{name}"
        if h in stored or os.path.exists(f"{inbox}/{rel}"):
            continue
        if os.path.exists(flat) and os.path.exists(flat + ".error.json"):
            continue
        problems.append(f"file {rel} is lost")
    for rel in bad:
        if sha_in := (bad[rel] in stored):
            problems.append(f"bad file {rel} was stored")
    active = db.execute("SELECT version_id FROM active").fetchall()
    if len(active) != 1:
        problems.append(f"{len(active)} active pointers")
    else:
        st = db.execute("SELECT state FROM versions WHERE id = ?", active[0]).fetchone()
        if not st or st[0] not in ("base", "accepted"):
            problems.append(f"active version {active[0][0]} is {st}")
    for vid, h in db.execute("SELECT id, adapters_hash FROM versions WHERE adapters_hash IS NOT NULL"):
        if not os.path.exists(blob(h)) or sha(blob(h)) != h:
            problems.append(f"version {vid}'s adapter blob is missing or corrupt")
    for (h,) in db.execute("SELECT blob FROM documents"):
        if not os.path.exists(blob(h)) or sha(blob(h)) != h:
            problems.append(f"document blob {h[:12]} is missing or corrupt")
    for j, n in db.execute("SELECT job_id, count(*) FROM versions WHERE job_id IS NOT NULL GROUP BY job_id HAVING count(*) > 1"):
        problems.append(f"job {j} concluded {n} times")
    jobs = {r[0]: r[1] for r in db.execute("SELECT id, state FROM jobs")}
    steps_at_kill.clear()
    steps_at_kill.update({r[0]: r[1] for r in db.execute("SELECT id, step FROM jobs WHERE state = 'training'")})
    for j in seen_jobs - set(jobs):
        problems.append(f"job {j} is lost")
    for j, domain, message in db.execute("SELECT id, domain, message FROM jobs WHERE state = 'failed'"):
        if j not in failed_jobs:
            failed_jobs.add(j)
            problems.append(f"job {j} ({domain}) failed, a lost update: {message}")
    seen_jobs.update(jobs)
    checks += 1
    for p in problems:
        violations.append(f"{label}: {p}")
    db.close()
    return jobs

def start(log):
    p = subprocess.Popen([a.crmad, "--config", config], stdout=log, stderr=log,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    deadline = time.time() + 30
    while not os.path.exists(f"{work}/crmad.sock") and time.time() < deadline and p.poll() is None:
        time.sleep(0.02)
    return p

phases = {}
distances = []
previous_steps = {}
for k in range(a.kills):
    logpath = f"{work}/round{k}.log"
    with open(logpath, "w") as log:
        if os.path.exists(f"{work}/crmad.sock"):
            os.unlink(f"{work}/crmad.sock")  # a SIGKILLed daemon leaves its socket file behind
        p = start(log)
        for _ in range(rng.choice([0, 1, 1, 2])):
            drop()
        time.sleep(rng.uniform(0.05, 3.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
    jobs = check(f"after kill {k + 1}")
    running = [j for j, s in jobs.items() if s in ("training", "evaluating")]
    phase = "ingest/idle" if not running else jobs[running[0]]
    phases[phase] = phases.get(phase, 0) + 1
    text = open(logpath).read()
    for m in re.finditer(r"job (\d+) resumed from its checkpoint at step (\d+)", text):
        job, step = int(m.group(1)), int(m.group(2))
        if job in previous_steps:
            distances.append(previous_steps[job] - step)
        if step == 0:
            violations.append(f"round {k + 1}: job {job} restarted from step 0")
    previous_steps = dict(steps_at_kill)

# The last run goes to completion: everything good is learned or decided, every job final.
with open(f"{work}/final.log", "w") as log:
    if os.path.exists(f"{work}/crmad.sock"):
        os.unlink(f"{work}/crmad.sock")
    p = start(log)
    deadline = time.time() + 300
    while time.time() < deadline:
        db = sqlite3.connect(f"file:{state}/crmad.sqlite?mode=ro", uri=True)
        pending = db.execute("SELECT count(*) FROM jobs WHERE state IN ('queued','training','evaluating')").fetchone()[0]
        stored = {r[0] for r in db.execute("SELECT hash FROM files")}
        db.close()
        if pending == 0 and all(h in stored for h in good.values()):
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
jobs = check("final")
for rel, h in good.items():
    if h not in {r[0] for r in sqlite3.connect(f"{state}/crmad.sqlite").execute("SELECT hash FROM files")}:
        violations.append(f"final: good file {rel} was never stored")
# A failed job is final too, but check() has reported it as a lost update.
unfinished = [j for j, s in jobs.items() if s in ("queued", "training", "evaluating")]
if unfinished:
    violations.append(f"final: jobs {unfinished} not finished")
if rc != 0:
    violations.append(f"final: clean stop exited {rc}")

resumes = len(distances)
print(f"kills: {a.kills} (daemon state at the kill: {', '.join(f'{k} {v}' for k, v in sorted(phases.items()))})")
print(f"files dropped: {len(good)} good, {len(bad)} bad; jobs: {len(jobs)} "
      f"({', '.join(f'{s} {list(jobs.values()).count(s)}' for s in sorted(set(jobs.values())))})")
print(f"invariant checks: {checks}, violations: {len(violations)}")
print(f"resumed from a checkpoint: {resumes} times; steps lost per resume (last recorded step − resumed step): "
      f"{sorted(distances)} (checkpoint every {CHECKPOINT_INTERVAL} steps, so at most {CHECKPOINT_INTERVAL}; "
      f"-1: the checkpoint was newer than the recorded progress)")
if any(d > CHECKPOINT_INTERVAL for d in distances):
    violations.append(f"a resume lost more than {CHECKPOINT_INTERVAL} steps")
for v in violations[:20]:
    print("VIOLATION", v)
sys.exit(1 if violations else 0)
