#!/usr/bin/env python3
"""crmad with cluster.engine = "slurm" on a real single-node Slurm cluster (issue 28): run under
scripts/cluster/with-slurm.sh, which starts the cluster (SLURM_DIR, SLURM_CONF in the environment) and
stops it afterwards.

1. A domain is learned through a Slurm job: its id is stored with the job, status shows Slurm's state and
   node, the worker's files are in the job directory under shared_dir, and the gate's decision is crmad's.
2. scancel from outside: the job is cancelled, said so, and nothing is promoted.
3. crmactl cancel: crmad runs scancel; the job is cancelled by the operator.
4. A worker that exits non-zero (the model it loads is broken on the node): a failed job and a job_failed
   alert with the tail of the worker's standard error.
5. slurmd killed while a job trains: NODE_FAIL, resubmitted, resumed from its checkpoint, one version.
6. Two domains at once (max_parallel = 2); crmad SIGKILLed while both run, then restarted: both adopted by
   their ids (no second submission), each concluded once.
   One of them was promoted first; the other, a frozen update, was rebased onto it and measured again.
6b. Two crma updates of new domains at once: the later one is trained again from the earlier one's version.
7. The update race: an operator's rollback while a cluster job trains is never undone.

usage: slurm_checks.py --crmad BIN --crmactl BIN --model GGUF
"""
import os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, ctl, daemon_arguments, drop_jsonl, failures, start_crmad, stop_crmad, wait, write_config

ap = daemon_arguments()
a = ap.parse_args()
if not os.environ.get("SLURM_DIR"):
    sys.exit("run me under scripts/cluster/with-slurm.sh (SLURM_DIR is not set)")

t_start = time.time()
work = tempfile.mkdtemp(prefix="crmad-slurm-")
inbox, sock, shared = f"{work}/inbox", f"{work}/crmad.sock", f"{work}/shared"
os.makedirs(shared)
# The model a node loads: a copy, so check 4 can break it on "the node" without touching crmad's.
model = f"{work}/model.gguf"
shutil.copy(a.model, model)
write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=inbox, socket=sock, model=model, extra=f"""[training]
strategy = "frozen"
lora_learning_rate = 0.05
epochs = 2
batch_rows = 2
sequence_length = 32
checkpoint_interval = 1
[ingest]
debounce_seconds = 0.0
[cluster]
engine = "slurm"
shared_dir = "{shared}"
max_parallel = 2
sbatch_args = ["--cpus-per-task=1"]
max_requeues = 2
""")
log = open(f"{work}/crmad.log", "w")
proc = start_crmad(a.crmad, f"{work}/crmad.toml", log)


def api(*args):
    return ctl(a.crmactl, sock, *args)


def drop(domain, n, name="notes.jsonl", words=("Patient", "was given", "mg of drug X")):
    drop_jsonl(inbox, domain, name,
               ({"text": f"{domain} {words[0]} {i} {words[1]} {i % 4 + 1} {words[2]} for case {i}."} for i in range(n)))


def jobs(domain):
    return sorted((j for j in api("jobs") or [] if j["domain"] == domain), key=lambda j: j["id"])


FINAL = ("accepted", "rolled_back", "failed", "cancelled")


def final(domain):
    js = jobs(domain)
    return js[-1] if js and js[-1]["state"] in FINAL else None


def running(domain, min_step=1):
    """The domain's job while its Slurm job runs and has trained `min_step` steps: its progress."""
    s = api("status") or {}
    for p in (s.get("jobs") or ([s["job"]] if s.get("job") else [])):
        c = p.get("cluster") or {}
        if p["domain"] == domain and c.get("state") == "RUNNING" and p["step"] >= min_step:
            return p
    return None


def squeue_names(name):
    r = subprocess.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%i"], capture_output=True, text=True)
    return [x for x in r.stdout.split() if x]


def alerts(kind):
    return [x for x in api("alerts") or [] if x["kind"] == kind]


check(wait(lambda: api("status"), 60) is not None, "crmad answers on its socket")

# --- 1. a domain learned through a Slurm job ---------------------------------------------------------------
drop("medical", 150)
progress = wait(lambda: running("medical"), 120, interval=0.1)
check(progress is not None and progress["cluster"]["node"] != "",
      f"status shows the cluster job: Slurm {progress and progress['cluster']}, step {progress and progress['step']}")
done = wait(lambda: final("medical"), 180)
check(done is not None and done["state"] == "accepted", f"medical is accepted ({done and done['state']}: {done and done['message']})")
check(done is not None and (done.get("cluster") or {}).get("id", "").isdigit(), f"the Slurm job id is stored with the job ({done and done.get('cluster')})")
instance_dirs = os.listdir(shared)
check(len(instance_dirs) == 1 and instance_dirs[0].startswith("crmad-"), f"job directories live under shared_dir ({instance_dirs})")
check(not os.listdir(f"{shared}/{instance_dirs[0]}/jobs"), "a concluded job's directory is removed")
v2 = next((v for v in api("versions") or [] if v["id"] == 2), None)
check(v2 is not None and v2["active"] and v2["domain"] == "medical", "version 2 (medical) is active")
logged = open(f"{work}/crmad.log").read()
check(f"submitted as Slurm job {(done or {}).get('cluster', {}).get('id')}" in logged, "the submission is logged with the Slurm job id")

# --- 2. scancel from outside -----------------------------------------------------------------------------
drop("legal", 400, words=("The court held in case", "that the contract of", "parties was void"))
p = wait(lambda: running("legal"), 120, interval=0.1)
check(p is not None, "legal's cluster job trains")
if p:
    subprocess.run(["scancel", p["cluster"]["job"]], check=False)
j = wait(lambda: final("legal"), 60)
check(j is not None and j["state"] == "cancelled" and "cancelled outside crmad" in (j.get("message") or ""),
      f"scancel from outside cancels the job ({j and j['state']}: {j and j['message']})")
check((api("status") or {}).get("activeVersion") == 2, "nothing was promoted")

# --- 3. crmactl cancel runs scancel ----------------------------------------------------------------------
ctl_answer = None
api("retry", "legal")
p = wait(lambda: running("legal"), 120, interval=0.1)
if p:
    ctl_answer = api("cancel", str(p["id"]))
j = wait(lambda: final("legal"), 60)
check(ctl_answer is not None and j is not None and j["state"] == "cancelled" and "by the operator" in (j.get("message") or ""),
      f"crmactl cancel stops the Slurm job ({j and j['state']}: {j and j['message']})")
slurm_id = ((j or {}).get("cluster") or {}).get("id", "")
sq = subprocess.run(["squeue", "-h", "-t", "all", "-j", slurm_id, "-o", "%T"], capture_output=True, text=True).stdout.strip()
check(sq.startswith("CANCELLED"), f"Slurm says job {slurm_id} is {sq or '?'}")

# --- 4. a worker that exits non-zero ---------------------------------------------------------------------
with open(model, "r+b") as f:  # the node's model is broken; crmad's is loaded already
    f.write(b"NOTGGUF!" * 8)
drop("finance", 20, words=("Shares of company", "rose by", "percent after report"))
j = wait(lambda: final("finance"), 120)
check(j is not None and j["state"] == "failed" and "FAILED" in (j.get("message") or "") and "crmad worker" in (j.get("message") or ""),
      f"a worker that exits non-zero fails the job with its stderr ({j and j['state']}: {(j and j['message'] or '')[:160]})")
fa = [x for x in alerts("job_failed") if x.get("domain") == "finance"]
check(len(fa) == 1 and "crmad worker" in fa[0]["message"], "one job_failed alert with the worker's reason")
shutil.copy(a.model, model)

# --- 5. slurmd killed while a job trains: NODE_FAIL, resubmitted, resumed --------------------------------
slurmd_pid = int(open(f"{os.environ['SLURM_DIR']}/slurmd.pid").read())
drop("chemistry", 600, words=("Reaction", "yields", "moles of product"))
p = wait(lambda: running("chemistry", min_step=2), 120, interval=0.1)
check(p is not None, f"chemistry trains (step {p and p['step']})")
first_id = p and p["cluster"]["job"]
# The node dies: slurmd gone, and its worker frozen (else the job could finish before Slurm notices).
os.kill(slurmd_pid, signal.SIGKILL)
worker = subprocess.run(["pgrep", "-f", f"worker .*/jobs/{p and p['id']}$"], capture_output=True, text=True).stdout.split()
for pid in worker:
    os.kill(int(pid), signal.SIGSTOP)
check(len(worker) == 1, f"the node's worker is frozen (pids {worker})")
resubmitted = wait(lambda: next((j for j in jobs("chemistry") if (j.get("cluster") or {}).get("resubmissions") == 1), None), 150, interval=0.5)
check(resubmitted is not None, f"NODE_FAIL: crmad resubmitted the job ({resubmitted and resubmitted.get('cluster')})")
subprocess.run(["slurmd"], check=False)  # the node comes back (ReturnToService=2)
again = wait(lambda: (r := running("chemistry", min_step=0)) and r["cluster"]["job"] != first_id and r, 120, interval=0.1)
err_file = f"{shared}/{instance_dirs[0]}/jobs/{p and p['id']}/worker.err"
resumed = wait(lambda: os.path.exists(err_file) and "resumed from the checkpoint" in open(err_file).read(), 60)
check(again is not None and resumed, f"the second Slurm job resumed from the checkpoint (its worker says: "
      f"{[l.strip() for l in open(err_file)] if os.path.exists(err_file) else 'no worker.err'})")
j = wait(lambda: final("chemistry"), 300)
check(j is not None and j["state"] == "accepted", f"the resubmitted job concludes ({j and j['state']}: {j and j['message']})")
check(j is not None and j["cluster"]["id"] != first_id, f"it ran as a second Slurm job ({first_id} → {j and j['cluster']['id']})")
logged = open(f"{work}/crmad.log").read()
check("NODE_FAIL" in logged and "resuming from its checkpoint" in logged, "the resubmission is logged with NODE_FAIL")
chem = [v for v in api("versions") or [] if v.get("domain") == "chemistry"]
check(len(chem) == 1, f"one version for chemistry ({[v['id'] for v in chem]})")

# --- 6. two domains at once (frozen), crmad SIGKILLed while both run: adopted, one rebased -----------------
drop("physics", 300, words=("A mass of", "kilograms moves at", "metres per second"))
drop("biology", 300, words=("The cell", "divides into", "daughter cells"))
both = wait(lambda: running("physics") and running("biology"), 120, interval=0.1)
check(both is not None, "two cluster jobs train at once (max_parallel = 2)")
ids = {d: jobs(d)[-1]["id"] for d in ("physics", "biology")}
before = {d: (jobs(d)[-1].get("cluster") or {}).get("id") for d in ("physics", "biology")}
proc.kill()
proc.wait()
proc = start_crmad(a.crmad, f"{work}/crmad.toml", log)
check(wait(lambda: api("status"), 60) is not None, "crmad answers again after SIGKILL")
ends = wait(lambda: final("physics") and final("biology") and (final("physics"), final("biology")), 300)
check(ends is not None and all(e["state"] == "accepted" for e in ends),
      f"both accepted ({ends and [(x['state'], x['message']) for x in ends]})")
logged = open(f"{work}/crmad.log").read()
submissions = {d: logged.count(f"job {ids[d]} ({d}) submitted as Slurm job") for d in ids}
adopted = {d: f"recovering job {ids[d]} ({d}, training" in logged and f"following Slurm job {before[d]}" in logged for d in ids}
check(all(adopted.values()), f"after the restart each job follows its Slurm job ({before}, {adopted})")
rebased = [d for d in ids if any(f"job {ids[d]} ({d}): version" in l and "placed onto version" in l for l in logged.splitlines())]
check(sorted(submissions.values()) == [1, 2] and len(rebased) == 1,
      f"one was promoted first, the other rebased onto it and measured again (Slurm submissions {submissions})")
inst = os.listdir(shared)[0][len("crmad-"):]
names = {d: sum(len(squeue_names(f"crmad-{inst}-{ids[d]}-{n}")) for n in (1, 2, 3)) for d in ids}
check(names == submissions, f"Slurm ran exactly those jobs ({names})")
per_job = {d: [v["id"] for v in api("versions") or [] if v.get("jobID") == ids[d]] for d in ids}
check(all(len(v) == 1 for v in per_job.values()), f"each concluded once: one version per job ({per_job})")
top = max((v for v in api("versions") or [] if v["active"]), key=lambda v: v["id"], default={})
check({"physics", "biology"} <= set(top.get("lineage", {})), f"the active version {top.get('id')} holds both domains ({sorted(top.get('lineage', {}))})")

# --- 6b. two new domains at once under crma: the later one is trained again from the earlier one's version --
api("pause")
drop("geology", 300, words=("The rock layer", "is", "million years old"))
drop("music", 300, words=("The symphony in", "has", "movements"))
queued = wait(lambda: all(j["state"] == "queued" for d in ("geology", "music") for j in jobs(d)) and
              all(jobs(d) for d in ("geology", "music")), 60)
for d in ("geology", "music"):
    for j in jobs(d):
        api("cancel", str(j["id"]))
    api("retry", d, "--strategy", "crma")
api("resume")
ids = {d: jobs(d)[-1]["id"] for d in ("geology", "music")}
both = wait(lambda: running("geology") and running("music"), 120, interval=0.1)
check(queued and both is not None, "two crma updates of new domains train at once")
ends = wait(lambda: final("geology") and final("music") and (final("geology"), final("music")), 400)
check(ends is not None, f"both concluded ({ends and [(x['state'], x['message']) for x in ends]})")
logged = open(f"{work}/crmad.log").read()
retrained = [d for d in ids if any(f"job {ids[d]} ({d}): version" in l and "trained again from version" in l for l in logged.splitlines())]
check(len(retrained) == 1, f"one of them was trained again from the other's version ({retrained})")
versions = {v["jobID"]: v for v in api("versions") or [] if v.get("jobID") in ids.values()}
if len(retrained) == 1:
    other = next(d for d in ids if d != retrained[0])
    mine, theirs = versions.get(ids[retrained[0]], {}), versions.get(ids[other], {})
    check(mine.get("parentID") == theirs.get("id") and theirs.get("state") == "accepted",
          f"{retrained[0]}'s version {mine.get('id')} ({mine.get('state')}) was built on {other}'s accepted version {theirs.get('id')}")

# --- 7. an operator's rollback while a cluster job trains is never undone --------------------------------
active = (api("status") or {})["activeVersion"]
drop("history", 400, words=("In the year", "the empire lost", "provinces"))
p = wait(lambda: running("history"), 120, interval=0.1)
answer = api("rollback", "2") if p else None
check(answer is not None and answer["activeVersion"] == 2, f"rollback to version 2 while history trains on version {active}")
j = wait(lambda: final("history"), 180)
check(j is not None and j["state"] == "rolled_back" and (j.get("message") or "").startswith("not promoted"),
      f"history's candidate is not promoted ({j and j['state']}: {j and j['message']})")
time.sleep(1)
check((api("status") or {}).get("activeVersion") == 2, "version 2 stays active")

code = stop_crmad(proc)
check(code == 0, f"clean exit after SIGTERM ({code})")
print(f"{len(failures)} failed ({time.time() - t_start:.0f} s)")
if failures:
    print(f"crmad's log: {work}/crmad.log")
    sys.exit(1)
shutil.rmtree(work, ignore_errors=True)
