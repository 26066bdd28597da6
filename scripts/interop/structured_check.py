#!/usr/bin/env python3
"""Structured output: every answer crmad gives under a response_format parses and validates.

crmad (the real model, nothing learned: the base answers) gets 100 chat requests — 5 JSON Schemas (and
json_object) × 20 seeds at temperature 1 — and each answer must parse and validate against its schema
(the `jsonschema` package, an implementation nobody here wrote). The same prompts without a
response_format measure what the constraint costs per generated token. Prints a JSON summary; exits 1 on a
failed check. Run it through `make interop` (the lm-eval venv, with jsonschema pinned).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish, listener_with_token, wait, write_config  # noqa: E402

SCHEMAS = {
    "person": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"},
        "email": {"type": "string", "maxLength": 60}}, "required": ["name", "age"], "additionalProperties": False},
    "triage": {"type": "object", "properties": {
        "severity": {"enum": ["low", "medium", "high"]}, "department": {"type": "string", "maxLength": 30},
        "admit": {"type": "boolean"}}, "required": ["severity", "admit"]},
    "invoice": {"type": "object", "properties": {
        "number": {"type": "string", "maxLength": 20}, "date": {"type": "string", "format": "date"},
        "lines": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "object", "properties": {
            "item": {"type": "string", "maxLength": 30}, "amount": {"type": "number"}}, "required": ["item", "amount"]}}},
        "required": ["number", "date", "lines"]},
    "tags": {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 15}, "maxItems": 5},
        "language": {"const": "en"}}, "required": ["tags", "language"]},
    "answer": {"type": "object", "properties": {
        "answer": {"enum": ["A", "B", "C", "D"]}, "confidence": {"type": "number"},
        "reason": {"type": "string", "maxLength": 80}}, "required": ["answer"]},
}
PROMPTS = {
    "person": "Describe a fictional patient as JSON with name, age and email.",
    "triage": "A 70-year-old has chest pain. Triage as JSON: severity, department, admit.",
    "invoice": "Write an invoice for two consultations as JSON.",
    "tags": "Give tags for a text about diabetes and insulin, as JSON.",
    "answer": "Which is a bone? A. liver B. femur C. lung D. heart. Answer as JSON.",
}


def slope(points):
    """Least-squares slope of seconds over tokens."""
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(s for _, s in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (s - my) for t, s in points) / var if var else float("nan")


def _port_open(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crmad", default=".build/release/crmad")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--seeds", type=int, default=20, help="requests per schema (temperature 1, one seed each)")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="also write the summary here")
    a = ap.parse_args()
    import jsonschema
    import requests

    port, token, token_file = listener_with_token("structured")
    work = tempfile.mkdtemp(prefix="crma-structured-")
    sock = f"{work}/crmad.sock"
    write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=f"{work}/inbox", socket=sock,
                 model=os.path.abspath(a.model),
                 extra=f'[resources]\nblas_threads = {a.threads}\n[control]\nlisten = "127.0.0.1:{port}"\n'
                       f'token_file = "{token_file}"\n')
    log = open(f"{work}/crmad.log", "w")
    proc = subprocess.Popen([a.crmad, "--config", f"{work}/crmad.toml"], stdout=log, stderr=log)
    summary = {"date": time.strftime("%Y-%m-%d"), "model": a.model, "requests_per_schema": a.seeds,
               "temperature": 1.0, "max_tokens": a.max_tokens, "schemas": {}}
    try:
        check(wait(lambda: os.path.exists(sock), 120) is not None, "crmad is up")
        wait(lambda: requests.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {token}"}).ok
             if _port_open(port) else None, 60)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"http://127.0.0.1:{port}/v1/chat/completions"

        def ask(prompt, seed, schema):
            body = {"model": "base", "messages": [{"role": "user", "content": prompt}], "temperature": 1.0,
                    "seed": seed, "max_tokens": a.max_tokens}
            if schema == "json_object":
                body["response_format"] = {"type": "json_object"}
            elif schema is not None:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "s", "schema": schema, "strict": True}}
            started = time.time()
            r = session.post(url, json=body)
            seconds = time.time() - started
            r.raise_for_status()
            j = r.json()
            return j["choices"][0]["message"]["content"], j["choices"][0]["finish_reason"], \
                j["usage"]["completion_tokens"], seconds

        cases = list(SCHEMAS.items()) + [("json_object", "json_object")]
        constrained, free_runs = [], []
        for name, schema in cases:
            prompt = PROMPTS.get(name, "Describe aspirin as a JSON object.")
            bad, cut, lengths = [], [], 0
            n = a.seeds if name != "json_object" else max(1, a.seeds // 4)
            for seed in range(n):
                text, reason, tokens, seconds = ask(prompt, seed, schema)
                constrained.append((tokens, seconds))
                if schema == "json_object" and reason == "length":
                    # Any object may go on past max_tokens (nothing bounds its strings): counted, not failed.
                    cut.append(seed)
                    continue
                try:
                    doc = json.loads(text)
                    if schema == "json_object":
                        assert isinstance(doc, dict), "not an object"
                    else:
                        jsonschema.validate(doc, schema)
                except Exception as e:  # noqa: BLE001 - any failure is reported with the text
                    bad.append({"seed": seed, "finish_reason": reason, "text": text, "error": str(e)[:200]})
                lengths += tokens
                # The same request without a response_format: what free text costs per token.
                _, _, free, free_seconds = ask(prompt, seed, None)
                free_runs.append((free, free_seconds))
            summary["schemas"][name] = {"requests": n, "invalid": bad, "cut_by_max_tokens": cut,
                                        "mean_completion_tokens": lengths / n}
            check(not bad, f"{name}: {n - len(cut)} answers parse and validate ({len(bad)} do not: {bad[:2]})"
                  + (f"; {len(cut)} cut by max_tokens" if cut else ""))
        # Seconds per generated token: the slope of a request's time over its tokens (the prompt's pass and
        # the request's overhead are the intercept, the same with and without a constraint).
        per_constrained, per_free = slope(constrained), slope(free_runs)
        summary["seconds_per_token"] = {"constrained": per_constrained, "free": per_free,
                                        "ratio": per_constrained / per_free}
        # A schema outside the supported subset is a 400 naming the keyword.
        r = session.post(url, json={"model": "base", "messages": [{"role": "user", "content": "x"}],
                                    "response_format": {"type": "json_schema", "json_schema": {
                                        "name": "s", "schema": {"type": "string", "pattern": "^a+$"}}}})
        check(r.status_code == 400 and "pattern" in r.text, f"an unsupported keyword: {r.status_code} {r.text.strip()}")
        print(f"seconds per generated token: constrained {per_constrained:.4f}, free {per_free:.4f}, "
              f"ratio {per_constrained / per_free:.3f}")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    finish(summary, a.out)


if __name__ == "__main__":
    main()
