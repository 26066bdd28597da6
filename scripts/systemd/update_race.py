#!/usr/bin/env python3
"""An operator's rollback during training, and a later file for a learned domain, on the real binaries
(issue 12, "a gate that cannot be fooled", items 1 and 2).

1. Domain A (medical) is learned: version 2. Domain B (legal) starts training on version 2; while it
   trains the operator rolls back to version 1. B passes the gate but is never promoted: its version is
   stored as rolled back with a first reason of severity "stale", its job is rolled back with a message
   starting "not promoted", a `rollback` alert with action=stale is raised (alerts and log), and version 1
   stays active the whole time (polled throughout, and again after B concluded).
2. The operator restores version 2 and pauses the queue; domain C (finance) is dropped, then a second,
   larger file for A whose documents partly land on A's holdout side. On resume C's job runs first, on
   version 2: its gate scores A on the rows A was learned on, so C's version carries A's lineage entry
   unchanged (same pinned-rows blob, documents and reference) and — the strategy is "frozen", so C's
   training cannot touch A's adapters — A's loss under C equals A's reference exactly; re-read rows
   (with the new documents) would give another loss. Then A's re-learning pins a new holdout that keeps
   every document of the old one.

The strategy is "frozen" so that every update passes the gate deterministically and A's loss under a
later domain is exactly its reference; the rollback race itself does not depend on the strategy.

usage: update_race.py --crmad BIN --crmactl BIN --model GGUF
"""
import os, signal, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, ctl, daemon_arguments, drop_jsonl, failures, start_crmad, wait, write_config

ap = daemon_arguments()
a = ap.parse_args()


# Steps scale with a domain's rows (epochs): A and C train briefly; B's file is large, so B trains for
# seconds and the rollback lands well inside its training.
EPOCHS, B_DOCUMENTS = 4, 440
t_start = time.time()
work = tempfile.mkdtemp(prefix="crmad-race-")
inbox, sock = f"{work}/inbox", f"{work}/crmad.sock"
write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=inbox, socket=sock, model=a.model, extra=f"""[training]
strategy = "frozen"
lora_learning_rate = 0.05
epochs = {EPOCHS}
batch_rows = 2
sequence_length = 32
checkpoint_interval = 1000
[monitor]
# every holdout row: a new holdout document changes the domain's current holdout rows
holdout_rows = 256
[ingest]
debounce_seconds = 0.0
""")
log = open(f"{work}/crmad.log", "w")
proc = start_crmad(a.crmad, f"{work}/crmad.toml", log)
A, B, C = "medical", "legal", "finance"


def api(*args):
    return ctl(a.crmactl, sock, *args)


def drop(domain, name, texts):
    drop_jsonl(inbox, domain, name, ({"text": t} for t in texts))


def jobs(domain):
    return sorted((j for j in api("jobs") or [] if j["domain"] == domain), key=lambda j: j["id"])


def final_job(domain, after=0):
    """The first job of `domain` with an id above `after` once it is in a final state, else None."""
    js = [j for j in jobs(domain) if j["id"] > after]
    return js[0] if js and js[0]["state"] in ("accepted", "rolled_back", "failed", "cancelled") else None


def version(v):
    return next((x for x in api("versions") or [] if x["id"] == v), None)


def domain_row(name):
    return next((d for d in api("domains") or [] if d["name"] == name), None)


check(wait(lambda: api("status"), 60) is not None, "crmad answers on its socket")

# --- 1. a rollback while B trains is never undone ---------------------------------------------------------
drop(A, "notes.jsonl", [f"Patient {i} was given {i % 4 + 1} mg of drug X for condition Y." for i in range(40)])
check(wait(lambda: (api("status") or {}).get("activeVersion") == 2, 120), "A is learned: version 2 is active")
v2 = version(2)
check(v2 is not None and v2["domain"] == A and A in v2.get("lineage", {}), "version 2 records A's lineage")

drop(B, "cases.jsonl", [f"The court held in case {i} that the contract of {i % 5 + 2} parties was void." for i in range(B_DOCUMENTS)])


def b_training():
    job = (api("status") or {}).get("job")
    return job if job and job["domain"] == B and job["phase"] == "training" and job["step"] >= 1 else None


job_b = wait(b_training, 120, interval=0.05)
check(job_b is not None, f"B is training on version 2 (step {job_b and job_b['step']}/{job_b and job_b['totalSteps']})")
answer = api("rollback", "1")
check(answer is not None and answer["activeVersion"] == 1, "POST /v1/rollback {\"version\": 1} while B trains answers with version 1 active")
during = (answer or {}).get("job") or {}
check(during.get("domain") == B and during.get("phase") == "training" and during.get("step", 0) < during.get("totalSteps", 0),
      f"the rollback landed during B's training (step {during.get('step')}/{during.get('totalSteps')})")

seen_active = set()


def b_concluded():
    s = api("status")
    if s:
        seen_active.add(s["activeVersion"])
    return final_job(B)


concluded_b = wait(b_concluded, 120, interval=0.1)
time.sleep(1.0)
seen_active.add((api("status") or {}).get("activeVersion"))
check(concluded_b is not None, "B's job concluded")
jb = concluded_b or {}
check(jb.get("state") == "rolled_back" and (jb.get("message") or "").startswith("not promoted"),
      f"B's job is rolled back, \"not promoted\" ({jb.get('state')}: {jb.get('message')})")
vb = version(jb.get("versionID")) or {}
check(vb.get("state") == "rolled_back" and vb.get("parentID") == 2 and not vb.get("active"),
      f"B's version {vb.get('id')} (parent {vb.get('parentID')}) is stored as rolled back, not active")
reasons = vb.get("reasons") or [{}]
check(reasons[0].get("severity") == "stale" and reasons[0].get("value") == 1 and reasons[0].get("reference") == 2,
      f"its first reason is stale: version 1 became active, parent 2 ({reasons[0]})")
check(seen_active == {1}, f"version 1 stayed active throughout and after (active versions seen: {sorted(seen_active, key=str)})")
alerts = [x for x in api("alerts") or [] if x["kind"] == "rollback" and x["fields"].get("action") == "stale"]
check(len(alerts) == 1 and alerts[0].get("domain") == B and alerts[0].get("version") == vb.get("id"),
      "one rollback alert with action=stale for B's version (crmactl alerts)")
logged = [l for l in open(f"{work}/crmad.log") if "action=stale" in l and "alert=rollback" in l]
check(len(logged) == 1 and "not promoted" in logged[0], "the alert is logged with action=stale")

# --- 2. a second file for A never changes the rows A's reference is compared with ----------------------
check((api("rollback", "2") or {}).get("activeVersion") == 2, "the operator restores version 2")
check((api("pause") or {}).get("paused") is True, "queue paused")
drop(C, "ledger.jsonl", [f"Invoice {i} of {i * 13 % 97} euros was booked to account {i % 7}." for i in range(40)])
job_c = wait(lambda: next((j for j in jobs(C) if j["state"] == "queued"), None), 60)
holdout_before = (domain_row(A) or {}).get("holdoutDocuments")
drop(A, "followups.jsonl", [f"Follow-up {i}: after {i % 9 + 1} weeks on drug Z the fever of patient {100 + i} "
                            f"went down and the rash on the {['arm', 'leg', 'back'][i % 3]} healed." for i in range(80)])
row_a = wait(lambda: (d := domain_row(A)) and d["files"] == 2 and d, 60) or {}
job_a = wait(lambda: next((j for j in jobs(A) if j["state"] == "queued"), None), 60)
pinned = v2["lineage"][A] if v2 else {}
check(row_a.get("holdoutDocuments", 0) > holdout_before == len(pinned.get("holdoutDocuments", [])),
      f"A's second file added holdout documents ({holdout_before} → {row_a.get('holdoutDocuments')}; "
      f"version 2 pinned {len(pinned.get('holdoutDocuments', []))})")
check(job_c is not None and job_a is not None and job_c["id"] < job_a["id"], "C's job is queued before A's re-learning")
check((api("resume") or {}).get("paused") is False, "queue resumed")

jc = wait(lambda: final_job(C), 120, interval=0.3) or {}
vc = version(jc.get("versionID")) or {}
check(jc.get("state") == "accepted" and vc.get("parentID") == 2, f"C is learned on version 2 (version {vc.get('id')}, {jc.get('message')})")
check(vc.get("lineage", {}).get(A) == pinned,
      "C's version keeps A's lineage entry: same pinned holdout-rows blob, documents, reference")
ref, loss = pinned.get("reference"), vc.get("losses", {}).get(A)
check(ref is not None and loss is not None and abs(loss - ref) <= 1e-9 * abs(ref),
      f"C's gate scored A on the rows A was learned on: loss {loss} = reference {ref}")

ja = wait(lambda: final_job(A, after=job_c["id"] if job_c else 0), 120, interval=0.3) or {}
va = version(ja.get("versionID")) or {}
relearned = va.get("lineage", {}).get(A, {})
check(ja.get("state") in ("accepted", "rolled_back") and va.get("parentID") == vc.get("id"),
      f"A's re-learning concluded on C's version ({ja.get('state')}: {ja.get('message')})")
own = [r for r in va.get("reasons", []) if r["metric"].startswith(f"holdout:{A}")]
check(all(r["reference"] == ref for r in own),
      f"its gate judged A against A's reference on the old rows ({[(r['metric'], r['reference']) for r in own]})")
if ja.get("state") == "accepted":  # a new holdout is pinned; every old holdout document stays in it
    check(set(pinned["holdoutDocuments"]) < set(relearned.get("holdoutDocuments", []))
          and len(relearned["holdoutDocuments"]) == row_a.get("holdoutDocuments"),
          f"A's new pinned holdout keeps the old one's documents ({len(pinned['holdoutDocuments'])} ⊂ "
          f"{len(relearned.get('holdoutDocuments', []))})")
else:
    check(relearned == pinned, "rolled back: A's lineage entry stays the one it was learned with")
check(va.get("lineage", {}).get(C) == vc.get("lineage", {}).get(C), "C's lineage entry is carried over unchanged")

proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(timeout=30)
except Exception:
    proc.kill()
    rc = None
check(rc == 0, f"clean exit ({rc})")
if failures:
    print(open(f"{work}/crmad.log").read()[-3000:])
print(f"{len(failures)} failed in {time.time() - t_start:.0f} s ({work})")
sys.exit(1 if failures else 0)
