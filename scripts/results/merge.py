#!/usr/bin/env python3
"""Merges results.json files of `crma-bench forgetting` runs made with the same settings (for example
one process per seed or per strategy) into one results.json, after checking that they agree on the
settings and on the base model's scores; then `crma-bench forgetting --rerender OUT/results.json --out
OUT` renders report.md and drift.svg from it.

usage: merge.py OUT/results.json IN1/results.json IN2/results.json ... [--order naive,frozen,...]
"""
import argparse, json, sys

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("inputs", nargs="+")
ap.add_argument("--order", default="naive,frozen,crma,crma-identity,replay,ewc,lwf,olora")
ap.add_argument("--command", help="the command line to record (default: the inputs' commands joined)")
a = ap.parse_args()

runs = [json.load(open(p)) for p in a.inputs]
first = runs[0]
common = ["steps_per_domain", "epochs", "learning_rate", "train_documents", "holdout_rows", "seq_len", "batch_rows", "lora",
          "model", "data", "answer_items", "precision"]
for r in runs:
    r["settings"].setdefault("precision", "fp32")  # written before bf16 existed
for p, r in zip(a.inputs, runs):
    for k in common:
        if r["settings"].get(k) != first["settings"].get(k):
            sys.exit(f"{p}: setting {k} is {r['settings'].get(k)!r}, not {first['settings'].get(k)!r}")
    for k, v in r["baseGeneral"].items():
        w = first["baseGeneral"].get(k)
        if w is not None and abs(v - w) > 1e-4 * max(1, abs(w)):
            sys.exit(f"{p}: base score {k} is {v}, not {w}: not the same base model or data")
order = a.order.split(",")
results = [x for r in runs for x in r["results"]]
seen = set()
for x in results:
    key = (x["strategy"], x["seed"])
    if key in seen:
        sys.exit(f"strategy {key[0]} seed {key[1]} appears twice")
    seen.add(key)
results.sort(key=lambda x: (order.index(x["strategy"]) if x["strategy"] in order else len(order), x["seed"]))
settings = dict(first["settings"])
for r in runs:
    settings.update({k: v for k, v in r["settings"].items() if k not in common})
merged = {"command": a.command or "  +  ".join(r["command"] for r in runs), "settings": settings,
          "baseGeneral": first["baseGeneral"], "results": results}
json.dump(merged, open(a.out, "w"), indent=2, sort_keys=True)
print(f"merged {len(results)} runs ({len(runs)} files) into {a.out}")
