#!/usr/bin/env python3
"""The cluster engine measured against the local one (issue 28, Measured): the five task domains dropped
into a fresh crmad at once, for each strategy, once with engine = "local" (crmad's host, all its cores)
and once with engine = "slurm", max_parallel = 2 (one thread per job). Reports the wall time from the drop
to the last decision, each job's outcome, how many rebases and retrains it took, and the final version's
domains. Run the slurm half under scripts/cluster/with-slurm.sh; results are saved after every run.

usage: measure_engines.py --crmad BIN --crmactl BIN --model GGUF --tasks data/tasks --out FILE.json
       [--strategies frozen,crma] [--engines local,slurm] [--training 'epochs = 1.0'] [--threads 2]
"""
import json, os, shutil, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import ctl, daemon_arguments, start_crmad, stop_crmad, wait, write_config

ap = daemon_arguments()
ap.add_argument("--tasks", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--domains", default="medical,legal,code,finance,science")
ap.add_argument("--strategies", default="frozen,crma")
ap.add_argument("--engines", default="local,slurm")
ap.add_argument("--training", default="epochs = 1.0")
ap.add_argument("--threads", type=int, default=2, help="cores of the host (local: all of them; slurm: one per job)")
ap.add_argument("--timeout", type=float, default=7200)
a = ap.parse_args()
domains = a.domains.split(",")
results = json.load(open(a.out)) if os.path.exists(a.out) else {"settings": {}, "runs": []}
results["settings"] = {"model": os.path.basename(a.model), "domains": domains, "training": a.training,
                       "threads": a.threads, "benchmarks": "none (domains only)", "holdout_rows": 16}


def run(strategy, engine):
    work = tempfile.mkdtemp(prefix=f"crmad-measure-{engine}-")
    inbox, sock = f"{work}/inbox", f"{work}/crmad.sock"
    cluster = ""
    if engine == "slurm":
        os.makedirs(f"{work}/shared")
        cluster = f'[cluster]\nengine = "slurm"\nshared_dir = "{work}/shared"\nmax_parallel = 2\nsbatch_args = ["--cpus-per-task=1"]\n'
    write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=inbox, socket=sock, model=os.path.abspath(a.model),
                 extra=f'[training]\nstrategy = "{strategy}"\n{a.training}\n[monitor]\nholdout_rows = 16\n'
                       f'[ingest]\ndebounce_seconds = 0.0\n[resources]\nblas_threads = {a.threads if engine == "local" else 1}\n{cluster}')
    log = open(f"{work}/crmad.log", "w")
    proc = start_crmad(a.crmad, f"{work}/crmad.toml", log)
    api = lambda *args: ctl(a.crmactl, sock, *args)
    if not wait(lambda: api("status"), 120):
        sys.exit(f"crmad did not answer; see {work}/crmad.log")
    api("pause")
    for d in domains:  # each domain's two files as one (the daemon makes its own split)
        os.makedirs(f"{inbox}/{d}")
        with open(f"{inbox}/{d}/tasks.jsonl.part", "w") as f:
            for part in ("train.jsonl", "holdout.jsonl"):
                f.write(open(f"{a.tasks}/{d}/{part}").read())
        os.rename(f"{inbox}/{d}/tasks.jsonl.part", f"{inbox}/{d}/tasks.jsonl")
    wait(lambda: len({j["domain"] for j in api("jobs") or []}) == len(domains), 300)
    started = time.time()
    api("resume")  # every domain queued: the clock starts when they may run
    final = ("accepted", "rolled_back", "failed", "cancelled")
    done = wait(lambda: (js := api("jobs")) and len(js) == len(domains) and all(j["state"] in final for j in js) and js,
                a.timeout, interval=2)
    wall = time.time() - started
    jobs = sorted(done or api("jobs") or [], key=lambda j: j["id"])
    last_decision = max((j["updatedAt"] for j in jobs), default=started) - started
    versions = api("versions") or []
    active = next((v for v in versions if v["active"]), {})
    logged = open(f"{work}/crmad.log").read()
    stop_crmad(proc, 60)
    r = {"strategy": strategy, "engine": engine, "max_parallel": 2 if engine == "slurm" else 1,
         "wall_seconds_to_last_decision": round(last_decision, 1), "wall_seconds_polled": round(wall, 1),
         "rebases": logged.count("placed onto version"), "retrains": logged.count("trained again from version"),
         "resubmissions": logged.count("resubmitted as Slurm job"),
         "jobs": [{"domain": j["domain"], "state": j["state"], "message": j.get("message"),
                   "slurm": (j.get("cluster") or {}).get("id")} for j in jobs],
         "final_version": active.get("id"), "final_domains": sorted(active.get("lineage", {})),
         "timed_out": done is None}
    results["runs"] = [x for x in results["runs"] if (x["strategy"], x["engine"]) != (strategy, engine)] + [r]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    json.dump(results, open(a.out, "w"), indent=1)
    print(f"{strategy} {engine}: {r['wall_seconds_to_last_decision']} s to the last decision; "
          f"{[(j['domain'], j['state']) for j in r['jobs']]}; rebases {r['rebases']}, retrains {r['retrains']}; "
          f"final version {r['final_version']} holds {r['final_domains']}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


for s in a.strategies.split(","):
    for e in a.engines.split(","):
        run(s, e)
