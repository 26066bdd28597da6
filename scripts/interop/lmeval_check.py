#!/usr/bin/env python3
"""lm-evaluation-harness evaluates what crmad serves, and gets crma's own numbers.

crmad (the real model) learns a small medical domain and serves it on its TCP listener. lm-eval's
`local-completions` model — tokenizing with crmad's own tokenizer through /tokenizer_info and /tokenize,
sending token ids, several prompts per request — runs three local tasks, built from our own files with
`dataset_path: json` (no hub), against `base` and `crma:medical`:

  crma_hellaswag      multiple choice (acc, acc_norm) on the general benchmarks' HellaSwag items
  crma_medical_ll     log-likelihood (acc = greedy) of the medical task domain's answers after their context
  crma_medical_gen    generation with exact_match on the same items (greedy, until "." or a line break)

`crma-bench items` scores the same items under the same adapters. The check: the accuracies are equal, or
each differing item is explained (its tokens differ, or the generated text goes on past the answer); every
log-likelihood lm-eval got matches crma's to 1e-4. Prints a JSON summary; exits 1 on a failed check.

Run it through `make interop` (its own virtual environment with the pinned lm-eval).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish, listener_with_token  # noqa: E402
from interop.learned_daemon import daemon_that_learned  # noqa: E402

TOLERANCE = 1e-4


def task_files(directory, hellaswag, answers):
    """Writes the three task YAMLs and their data files into `directory`."""
    with open(f"{directory}/hellaswag.jsonl", "w") as f:
        for item in hellaswag:
            f.write(json.dumps(item) + "\n")
    with open(f"{directory}/medical.jsonl", "w") as f:
        for item in answers:
            f.write(json.dumps({"context": item["context"], "answer": item["answer"]}) + "\n")
    def task(name, data, body):
        """One local task: `body` (its output type, prompts and metrics) over `data` in `directory`."""
        with open(f"{directory}/{name}.yaml", "w") as f:
            f.write(f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {directory}/{data}\n"
                    + body + "test_split: test\nnum_fewshot: 0\nmetadata:\n  version: 1.0\n")

    metric = "  - metric: {}\n    aggregation: mean\n    higher_is_better: true\n"
    task("crma_hellaswag", "hellaswag.jsonl", """output_type: multiple_choice
doc_to_text: "{{context}}"
doc_to_choice: "{{choices}}"
doc_to_target: "{{gold}}"
target_delimiter: ""
metric_list:
""" + metric.format("acc") + metric.format("acc_norm"))
    task("crma_medical_ll", "medical.jsonl", """output_type: loglikelihood
doc_to_text: "{{context}}"
doc_to_target: "{{answer}}"
target_delimiter: ""
metric_list:
""" + metric.format("acc"))
    task("crma_medical_gen", "medical.jsonl", """output_type: generate_until
doc_to_text: "{{context}}"
doc_to_target: "{{answer}}"
target_delimiter: ""
generation_kwargs:
  until: [".", "\\n"]
  max_gen_toks: 4
  do_sample: false
  temperature: 0
metric_list:
""" + metric.format("exact_match") + """    regexes_to_ignore: [" "]
""")


def crma_items(a, adapters=None):
    """`crma-bench items` on the same items, under the base model or the medical domain's adapters."""
    cmd = [a.crma_bench, "items", "--model", a.model, "--threads", str(a.threads),
           "--multiple-choice", f"{a.benchmarks}/hellaswag.jsonl", "--answers", a.answers, "--limit", str(a.items)]
    if adapters:
        cmd += ["--adapters", adapters, "--domain", "medical", "--strategy", "crma"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def run_lmeval(model, base_url, token, tasks_dir):
    import lm_eval
    from lm_eval.tasks import TaskManager
    os.environ["OPENAI_API_KEY"] = token  # the completions requests' bearer token
    return lm_eval.simple_evaluate(
        model="local-completions",
        model_args={"model": model, "base_url": base_url, "tokenizer_backend": "remote", "auth_token": token,
                    "max_retries": 1, "max_length": 2048, "timeout": 600},
        tasks=["crma_hellaswag", "crma_medical_ll", "crma_medical_gen"],
        task_manager=TaskManager(include_path=tasks_dir), log_samples=True, batch_size=4)


def compare(name, lmeval, crma, tokenize):
    """Compares one model's lm-eval results with crma's; returns the summary row."""
    res, samples = lmeval["results"], lmeval["samples"]
    row = {"model": name}
    mc, ans = crma["multiple_choice"], crma["answers"]

    # Multiple choice: each choice's log-likelihood, then each item's pick by acc and by acc_norm.
    def pick(values):
        return max(range(len(values)), key=lambda i: (values[i], -i))

    worst, retokenized, picks_differ = 0.0, [], []
    for s in sorted(samples["crma_hellaswag"], key=lambda s: s["doc_id"]):
        ours = mc["scores"][s["doc_id"]]
        theirs = [r[0][0] if isinstance(r[0], (list, tuple)) else r[0] for r in s["resps"]]
        choices = s["doc"]["choices"]
        # lm-eval tokenizes context and choice together; crma each alone. Where that gives other tokens the
        # two score different inputs, and the item is reported, not compared.
        whole = [tokenize(s["doc"]["context"] + choice) for choice in choices]
        if any(w != ours["context_tokens"] + c for w, c in zip(whole, ours["choice_tokens"])):
            retokenized.append(s["doc_id"])
            continue
        worst = max(worst, max(abs(x - y) for x, y in zip(theirs, ours["loglikelihoods"])))
        # acc_norm: lm-eval divides by the choice's characters, crma by its UTF-8 bytes (equal for ASCII).
        for norm in (lambda c: 1, len):
            mine = pick([ll / norm(c) for ll, c in zip(ours["loglikelihoods"], choices)])
            if pick([ll / norm(c) for ll, c in zip(theirs, choices)]) != mine:
                picks_differ.append(s["doc_id"])
    check(worst <= TOLERANCE, f"{name}: hellaswag log-likelihoods match crma's (max |Δ| {worst:.2e}; "
          f"{len(retokenized)} items tokenized otherwise when whole: {retokenized})")
    check(not picks_differ, f"{name}: every hellaswag item's answer is the one crma picks (differ: {picks_differ})")
    for metric in ("acc", "acc_norm"):
        theirs, ours = res["crma_hellaswag"][f"{metric},none"], mc[metric]
        row[f"hellaswag_{metric}"] = {"lm_eval": theirs, "crma": ours}
        check(abs(theirs - ours) < 1e-9 or (retokenized and not picks_differ),
              f"{name}: hellaswag {metric} {theirs:.4f} (lm-eval), {ours:.4f} (crma-bench)"
              + (f"; the difference is the {len(retokenized)} items tokenized otherwise" if abs(theirs - ours) >= 1e-9 else ""))
    row["hellaswag_max_abs_loglikelihood_difference"] = worst
    row["hellaswag_retokenized_items"] = retokenized

    # Answers by log-likelihood: lm-eval's (logprob, is_greedy) against crma's (loglikelihood, greedy).
    worst, greedy_differs, answers_retokenized = 0.0, [], []
    for s in sorted(samples["crma_medical_ll"], key=lambda s: s["doc_id"]):
        ours = ans["scores"][s["doc_id"]]
        if tokenize(ours["context"] + ours["answer"]) != ours["context_tokens"] + ours["answer_tokens"]:
            answers_retokenized.append(s["doc_id"])
            continue
        ll, greedy = s["resps"][0][0]
        worst = max(worst, abs(ll - ours["loglikelihood"]))
        if bool(greedy) != ours["greedy"]:
            greedy_differs.append(s["doc_id"])
    check(worst <= TOLERANCE, f"{name}: answer log-likelihoods match crma's (max |Δ| {worst:.2e}; "
          f"{len(answers_retokenized)} items tokenized otherwise from their text: {answers_retokenized})")
    theirs = res["crma_medical_ll"]["acc,none"]
    row["medical_loglikelihood_acc"] = {"lm_eval": theirs, "crma_exact_match": ans["exact_match"]}
    row["medical_retokenized_items"] = answers_retokenized
    check(not greedy_differs and (abs(theirs - ans["exact_match"]) < 1e-9 or answers_retokenized),
          f"{name}: lm-eval's is_greedy accuracy {theirs:.4f}, crma's exact match {ans['exact_match']:.4f}"
          f" (items that differ: {greedy_differs}"
          + (f"; the difference is in the items tokenized otherwise)" if abs(theirs - ans["exact_match"]) >= 1e-9 else ")"))

    # Answers by generation: each difference must be one the generated text explains.
    unexplained, explained = [], []
    for s in sorted(samples["crma_medical_gen"], key=lambda s: s["doc_id"]):
        ours = ans["scores"][s["doc_id"]]
        generated = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
        right = generated.replace(" ", "") == ours["answer"].replace(" ", "")
        if right == ours["greedy"]:
            continue
        # crma counts the answer's tokens being the greedy ones; generation then goes on to "." or a line break. A
        # generated text that starts with the answer but goes on (" D)") is right for crma, not for
        # exact_match; one that is the answer's text in other tokens is right for exact_match only.
        if ours["greedy"] and generated.startswith(ours["answer"]):
            explained.append({"item": s["doc_id"], "generated": generated, "why": "goes on past the answer"})
        elif not ours["greedy"] and right:
            explained.append({"item": s["doc_id"], "generated": generated, "why": "the answer's text in other tokens"})
        else:
            unexplained.append({"item": s["doc_id"], "generated": generated, "crma_greedy": ours["greedy"]})
    theirs = res["crma_medical_gen"]["exact_match,none"]
    row["medical_generation_exact_match"] = {"lm_eval": theirs, "crma": ans["exact_match"], "explained": explained}
    check(not unexplained, f"{name}: generation exact_match {theirs:.4f} (lm-eval) against crma's "
          f"{ans['exact_match']:.4f}: {len(explained)} differences explained, unexplained: {unexplained}")
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crmad", default=".build/release/crmad")
    ap.add_argument("--crmactl", default=".build/release/crmactl")
    ap.add_argument("--crma-bench", default=".build/release/crma-bench")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--benchmarks", default="data/benchmarks", help="general benchmarks (make benchmarks)")
    ap.add_argument("--answers", default="data/tasks/medical/holdout.jsonl", help="a task domain (make corpora)")
    ap.add_argument("--items", type=int, default=40, help="items of each task")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="also write the summary here")
    a = ap.parse_args()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    import requests

    port, token, token_file = listener_with_token("lmeval")
    summary = {"date": time.strftime("%Y-%m-%d"), "model": a.model, "lm_eval": lm_eval.__version__, "items": a.items}
    with daemon_that_learned(
            a.crmad, a.crmactl, a.model,
            training='strategy = "crma"\nsteps = 6\nbatch_rows = 2\nsequence_length = 64',
            extra=f'[control]\nlisten = "127.0.0.1:{port}"\ntoken_file = "{token_file}"\n'
                  f'max_completion_tokens = 256\n[resources]\nblas_threads = {a.threads}\n',
            line=lambda i: f"Patient {i} was given {i % 4 + 1} mg of amoxicillin for otitis media.") as (work, _, ctl):
        versions = json.loads(ctl("versions", "--json").stdout)
        active = max((v for v in versions if v["state"] == "accepted" and v["domain"] == "medical"), key=lambda v: v["id"])
        blob = f"{work}/state/blobs/{active['adaptersHash'][:2]}/{active['adaptersHash']}"
        check(os.path.exists(blob), f"the active version's adapters: {blob}")

        server = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}

        def tokenize(text):
            r = requests.post(f"{server}/tokenize", json={"prompt": text, "add_special_tokens": False}, headers=headers)
            r.raise_for_status()
            return r.json()["tokens"]

        info = requests.get(f"{server}/tokenizer_info", headers=headers).json()
        check("eos_token" in info, f"/tokenizer_info: eos_token {info.get('eos_token')!r}")
        check(requests.get(f"{server}/tokenizer_info").status_code == 401, "/tokenizer_info needs the token on TCP")

        with tempfile.TemporaryDirectory(prefix="crma-lmeval-") as tasks_dir:
            rows = []
            for name, adapters in (("base", None), ("crma:medical", blob)):
                crma = crma_items(a, adapters)
                if not rows:
                    with open(f"{a.benchmarks}/hellaswag.jsonl") as f:
                        hellaswag = [json.loads(line) for line in f][:a.items]
                    task_files(tasks_dir, hellaswag, crma["answers"]["scores"])
                started = time.time()
                result = run_lmeval(name, f"{server}/v1/completions", token, tasks_dir)
                row = compare(name, result, crma, tokenize)
                row["lm_eval_seconds"] = round(time.time() - started, 1)
                rows.append(row)
            summary["rows"] = rows
            # The command a user runs (README, docs/interop.md), on a few items: it works as written.
            command = ["lm-eval", "run", "--model", "local-completions", "--model_args", "model=crma:medical",
                       f"base_url={server}/v1/completions", "tokenizer_backend=remote", "auth_token=$TOKEN",
                       "--tasks", "crma_hellaswag", "--include_path", "TASKS", "--batch_size", "4"]
            run = subprocess.run(
                [os.path.join(os.path.dirname(sys.executable), "lm-eval")]
                + [x.replace("$TOKEN", token).replace("TASKS", tasks_dir) for x in command[1:]] + ["--limit", "5"],
                capture_output=True, text=True, env={**os.environ, "OPENAI_API_KEY": token})
            check(run.returncode == 0 and "crma_hellaswag" in run.stdout,
                  f"the documented command runs: {' '.join(command)} (exit {run.returncode}{', ' + run.stderr[-300:] if run.returncode else ''})")
            summary["command"] = " ".join(command)
    finish(summary, a.out)


if __name__ == "__main__":
    main()
