#!/usr/bin/env python3
"""The daemon follows the forgetting benchmark's evidence (issue 13): task domains dropped into the inbox
one by one, first into a crmad configured with strategy = "naive", then into a fresh crmad configured
with strategy = "crma", everything else equal.

- naive: the shared LoRA relearns each new domain's answer format, so an earlier domain forgets. The
  gate must roll back at least one update; every rolled-back update must name the earlier domain whose
  holdout drifted past the critical threshold, the active version must stay the last accepted one, and
  (with --journal) the journal must hold, from that daemon's PID, a critical drift entry
  (CRMA_BENCHMARK=holdout:<earlier domain>, CRMA_ACTION=rollback) and a rollback entry for the domain.
- crma: a LoRA per domain on the shared, norm-bounded substrate. Every update must be accepted, with no
  rollback alert in the daemon's alerts or the journal.

Without --tasks the domains are small templated tasks made here (for the tiny model in `make test`);
with --tasks DIR (e.g. data/tasks from `make corpora`) each domain's train.jsonl and holdout.jsonl are
dropped as one file (the daemon makes its own split), and --training sets the [training] section (the real model).

usage: task_domains_gate.py --crmad BIN --crmactl BIN --model GGUF [--journal DIR] [--tasks DIR]
       [--domains medical,legal,code] [--training 'epochs = 2.0'] [--timeout SECONDS]
"""
import json, os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import (TINY_TRAINING, check, ctl, daemon_arguments, drop_jsonl, failures, judged_job, start_crmad,
                    stop_crmad, templated_task, wait, write_config)

ap = daemon_arguments()
ap.add_argument("--journal", help="the private journald's directory (with-journald.sh); checks the journal entries")
ap.add_argument("--tasks", help="directory of <domain>/{train,holdout}.jsonl (default: small templated tasks made here)")
ap.add_argument("--domains", default="medical,legal,code")
ap.add_argument("--strategies", default="naive,crma")
ap.add_argument("--training", help="the [training] section's keys besides strategy (default: the tiny model's)")
ap.add_argument("--holdout-rows", type=int, default=8)
ap.add_argument("--timeout", type=float, default=120, help="seconds each update may take")
a = ap.parse_args()


def journal_entries(pid, *match):
    mid = open("/etc/machine-id").read().strip()
    subprocess.run(["journalctl", "--sync"], capture_output=True)
    out = subprocess.run(["journalctl", "-D", f"{a.journal}/log/journal/{mid}", "-o", "json", f"_PID={pid}", *match],
                         capture_output=True, text=True)
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


DRIFT, ROLLBACK, ACCEPTED = "e9c1e72eb9c8497184b93934cac92ae4", "e940c5f07c2640a0a19b778df396a1cb", "9a93ff6b31174418b771a0129ae27466"
domains = a.domains.split(",")


def run(strategy):
    """Drops every domain into a fresh crmad with `strategy`; returns (each job's outcome, alerts, pid)."""
    work = tempfile.mkdtemp(prefix=f"crmad-tasks-{strategy}-")
    inbox, sock = f"{work}/inbox", f"{work}/crmad.sock"
    write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=inbox, socket=sock, model=a.model,
                 extra=f'[training]\nstrategy = "{strategy}"\n{a.training or TINY_TRAINING}\n'
                       f'[monitor]\nholdout_rows = {a.holdout_rows}\n[ingest]\ndebounce_seconds = 0.0\n')
    log = open(f"{work}/crmad.log", "w")
    proc = start_crmad(a.crmad, f"{work}/crmad.toml", log, journal=bool(a.journal))
    api = lambda *args: ctl(a.crmactl, sock, *args)
    outcomes = []
    try:
        check(wait(lambda: api("status"), 30) is not None, f"{strategy}: crmad answers on its socket")
        for k, domain in enumerate(domains):
            if a.tasks:
                # One file per domain, as an operator drops a dataset: two files dropped a moment apart are two
                # updates (debounce is 0 here), and the second would relearn the domain on top of the first.
                rows = []
                for side in ("train", "holdout"):
                    with open(f"{a.tasks}/{domain}/{side}.jsonl") as f:
                        rows += [json.loads(l) for l in f if l.strip()]
                drop_jsonl(inbox, domain, "tasks.jsonl", rows)
            else:
                drop_jsonl(inbox, domain, "tasks.jsonl", templated_task(domain))
            t0 = time.time()
            job = judged_job(api, domain, a.timeout)
            outcomes.append((domain, job and job["state"], job and job.get("versionID")))
            print(f"  {strategy}: {domain} → {job and job['state']} in {time.time() - t0:.0f} s"
                  + (f" ({job.get('message', '')[:160]})" if job and job["state"] != "accepted" else ""))
            if not job:
                break
        alerts = api("alerts") or []
        status = api("status") or {}
    finally:
        stop_crmad(proc)
    if failures:
        print(open(f"{work}/crmad.log").read()[-2000:])
    else:
        shutil.rmtree(work, ignore_errors=True)
    return outcomes, alerts, status, proc.pid


for strategy in a.strategies.split(","):
    outcomes, alerts, status, pid = run(strategy)
    states = [s for _, s, _ in outcomes]
    check(len(outcomes) == len(domains) and None not in states and "failed" not in states,
          f"{strategy}: every dropped domain was learned and judged ({states})")
    rolled = [(d, v) for d, s, v in outcomes if s == "rolled_back"]
    accepted = [d for d, s, _ in outcomes if s == "accepted"]
    if strategy == "naive":
        check(bool(rolled), f"naive: the gate rolled back an update that made an earlier domain forget ({[d for d, _ in rolled]})")
        check(status.get("activeVersion") == 1 + len(accepted),
              f"naive: the active version is the last accepted one (v{status.get('activeVersion')})")
        for domain, version in rolled:
            earlier = domains[:domains.index(domain)]
            critical = [x for x in alerts if x["kind"] == "drift_critical" and x.get("version") == version
                        and x.get("domain") in earlier]
            check(bool(critical), f"naive: rolling back {domain} (v{version}) raised an earlier domain's critical drift "
                                  f"alert ({[x.get('message', '')[:90] for x in critical][:2]})")
        if a.journal:
            drift = journal_entries(pid, f"MESSAGE_ID={DRIFT}", "-p", "crit")
            back = journal_entries(pid, f"MESSAGE_ID={ROLLBACK}")
            check(any(e.get("CRMA_BENCHMARK", "").removeprefix("holdout:") in domains and e.get("CRMA_ACTION") == "rollback"
                      and float(e.get("CRMA_DRIFT_PCT", "0")) > 10 for e in drift),
                  "naive: journal holds the critical drift entry of an earlier domain (CRMA_ACTION=rollback)")
            check(sorted(e.get("CRMA_DOMAIN") for e in back) == sorted(d for d, _ in rolled),
                  f"naive: journal holds a rollback entry for every rolled-back domain ({[e.get('CRMA_DOMAIN') for e in back]})")
    else:
        check(accepted == domains, f"{strategy}: every update is accepted ({states})")
        check(not any(x["kind"] == "rollback" for x in alerts), f"{strategy}: no rollback alert")
        if a.journal:
            check(not journal_entries(pid, f"MESSAGE_ID={ROLLBACK}")
                  and len(journal_entries(pid, f"MESSAGE_ID={ACCEPTED}")) == len(domains),
                  f"{strategy}: the journal holds an accepted entry per domain and no rollback")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
