#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python, built from its sdist) loads what `crmactl export --format gguf` writes.

crmad (fp32, strategy naive: a domain is scored by its LoRA alone) learns a small domain on the real model;
crmactl exports version 2's LoRA as a GGUF adapter and as a merged GGUF, and scores a text under version 2
and, after a rollback, under the base model. llama.cpp scores the same text (its own tokenizer, its own
quantized kernels) with the base model, with the base model plus the adapter (`--lora`), and with the
merged model. Its numbers are not crma's to the last digit — llama.cpp multiplies the Q4_1 weights with
activations quantized to 8 bits — so the checks are: the base losses within --tolerance nats, the LoRA
moving llama.cpp's loss as it moves crma's (within --tolerance), and the merged model scoring as the adapter
does. Prints a JSON summary; exits 1 on a failed check.

Run it through `make interop`.
"""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, failures, wait, write_config  # noqa: E402

TEXT = ("Patient 12 was given 3 mg of drug X for condition Y. Patient 13 was given 1 mg of drug X for "
        "condition Y, and the dose was raised after two days because the fever persisted.")


def llama_loss(llama_cpp, model, tokens, lora=None):
    """Mean NLL of tokens[1:] given the ones before, as llama.cpp computes it."""
    kwargs = {"model_path": model, "n_ctx": 256, "logits_all": True, "verbose": False, "n_threads": 2}
    if lora:
        kwargs["lora_path"] = lora
    llm = llama_cpp.Llama(**kwargs)
    llm.reset()
    llm.eval(tokens)
    total = 0.0
    for i in range(len(tokens) - 1):
        row = llm.scores[i]
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        total += lse - row[tokens[i + 1]]
    del llm
    return total / (len(tokens) - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crmad", default=".build/release/crmad")
    ap.add_argument("--crmactl", default=".build/release/crmactl")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--tolerance", type=float, default=0.05)
    a = ap.parse_args()
    model_path = os.path.abspath(a.model)
    import llama_cpp

    work = tempfile.mkdtemp(prefix="crma-llamacpp-")
    sock = f"{work}/crmad.sock"
    write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=f"{work}/inbox", socket=sock, model=model_path,
                 extra="""[training]
strategy = "naive"
lora_learning_rate = 0.01
steps = 8
batch_rows = 2
sequence_length = 64
[ingest]
debounce_seconds = 0.0
[monitor]
holdout_rows = 4
""")
    with open(f"{work}/crmad.toml") as f:
        config = f.read().replace(f'path = "{model_path}"\n', f'path = "{model_path}"\nprecision = "fp32"\n')
    with open(f"{work}/crmad.toml", "w") as f:
        f.write(config)

    def ctl(*args):
        return subprocess.run([a.crmactl, *args, "--socket", sock], capture_output=True, text=True)

    log = open(f"{work}/crmad.log", "w")
    proc = subprocess.Popen([a.crmad, "--config", f"{work}/crmad.toml"], stdout=log, stderr=log)
    try:
        check(wait(lambda: os.path.exists(sock), 120) is not None, "crmad is up")
        os.makedirs(f"{work}/inbox/medical")
        with open(f"{work}/inbox/medical/notes.jsonl.part", "w") as f:
            for i in range(60):
                f.write(json.dumps({"text": f"Patient {i} was given {i % 4 + 1} mg of drug X for condition Y."}) + "\n")
        os.rename(f"{work}/inbox/medical/notes.jsonl.part", f"{work}/inbox/medical/notes.jsonl")

        def accepted():
            r = ctl("alerts", "--json")
            return r.returncode == 0 and any(x["kind"] == "update_accepted" for x in json.loads(r.stdout))
        check(wait(accepted, 900, 1.0) is not None, "crmad learned the domain (version 2)")
        adapter = ctl("export", "2", "--format", "gguf", "--out", f"{work}/gguf")
        merged = ctl("export", "2", "--format", "gguf", "--merged", "--out", f"{work}/gguf")
        check(adapter.returncode == 0 and merged.returncode == 0,
              f"crmactl export --format gguf [--merged] ({adapter.stderr.strip()} {merged.stderr.strip()})")
        with_lora = json.loads(ctl("score", TEXT, "--json").stdout)
        check(ctl("rollback", "1").returncode == 0, "rolled back to the base model")
        base = json.loads(ctl("score", TEXT, "--json").stdout)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    files = sorted(os.listdir(f"{work}/gguf"))
    lora_file = next(f"{work}/gguf/{f}" for f in files if f.endswith("-lora.gguf"))
    merged_file = next(f"{work}/gguf/{f}" for f in files if f.endswith("-merged.gguf"))
    tokenizer = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    tokens = tokenizer.tokenize(TEXT.encode(), add_bos=True, special=False)
    check(len(tokens) - 1 == base["tokens"], f"the same number of tokens ({len(tokens) - 1} vs crma's {base['tokens']})")
    ll_base = llama_loss(llama_cpp, model_path, tokens)
    ll_lora = llama_loss(llama_cpp, model_path, tokens, lora=lora_file)
    ll_merged = llama_loss(llama_cpp, merged_file, tokens)
    crma_effect, ll_effect = with_lora["loss"] - base["loss"], ll_lora - ll_base
    check(abs(ll_base - base["loss"]) <= a.tolerance,
          f"base model: llama.cpp {ll_base:.4f} vs crma {base['loss']:.4f} nats")
    check(abs(ll_effect - crma_effect) <= a.tolerance and abs(crma_effect) > 2 * a.tolerance,
          f"--lora moves llama.cpp's loss by {ll_effect:+.4f} nats, crma's by {crma_effect:+.4f}")
    check(abs(ll_merged - ll_lora) <= a.tolerance / 2,
          f"the merged model scores as base + adapter in llama.cpp ({ll_merged:.4f} vs {ll_lora:.4f})")
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "model": a.model, "text_tokens": base["tokens"],
        "crma": {"base_loss": base["loss"], "lora_loss": with_lora["loss"]},
        "llama_cpp": {"base_loss": ll_base, "lora_loss": ll_lora, "merged_loss": ll_merged,
                      "llama_cpp_python": llama_cpp.__version__},
        "tolerance": a.tolerance, "failures": failures,
    }, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
