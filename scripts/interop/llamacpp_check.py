#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python, built from its sdist) and llama.cpp's own converter agree with what
`crmactl export --format gguf` writes.

crmad (fp32, strategy naive: a domain is scored by its LoRA alone) learns a small domain on the real model;
crmactl exports version 2's LoRA as a GGUF adapter, as a merged GGUF and as a PEFT directory, and scores a
text under version 2 and, after a rollback, under the base model (version 1). Then:
- llama.cpp's own `convert_lora_to_gguf.py` (from the same sdist) converts the PEFT directory; its tensors
  and adapter metadata must equal crmactl's GGUF adapter exactly;
- llama.cpp scores the text with the base model and with the merged model: each within --tolerance nats of
  crma's loss (llama.cpp multiplies the Q4_1 weights with activations quantized to 8 bits, so not to the
  last digit);
- llama.cpp applies the adapter at run time (`lora_path`, lora_scale 1): within --tolerance nats of crma's
  loss with the LoRA. Its losses at lora_scale 0.5 and 2 are reported too; they are not expected to lie
  between the base and the scale-1 losses (an adapter trained hard on a few steps can overshoot: on the
  2026-11-30 run the loss dipped to 2.27 at scale 0.1 and rose to 5.38 at 2, and PEFT with its scaling
  multiplied by the same factors gave the same curve to 0.01 nats).
Prints a JSON summary; exits 1 on a failed check.

Run it through `make interop`.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, failures  # noqa: E402
from interop.learned_daemon import daemon_that_learned  # noqa: E402

TEXT = ("Patient 12 was given 3 mg of drug X for condition Y. Patient 13 was given 1 mg of drug X for "
        "condition Y, and the dose was raised after two days because the fever persisted.")


def llama_loss(llama_cpp, model, tokens, lora=None, scale=1.0):
    """Mean NLL of tokens[1:] given the ones before, as llama.cpp computes it."""
    import numpy as np
    # An fp32 KV cache (type 0) leaves the 8-bit activations of the quantized matmuls as the only rounding.
    kwargs = {"model_path": model, "n_ctx": 256, "logits_all": True, "verbose": False, "n_threads": 2,
              "type_k": 0, "type_v": 0}
    if lora:
        kwargs.update(lora_path=lora, lora_scale=scale)
    llm = llama_cpp.Llama(**kwargs)
    llm.reset()
    llm.eval(tokens)
    s = np.array(llm.scores[:len(tokens) - 1], dtype=np.float64)
    top = s.max(axis=1)
    nll = top + np.log(np.exp(s - top[:, None]).sum(axis=1)) - s[np.arange(len(tokens) - 1), tokens[1:]]
    del llm
    return float(nll.mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crmad", default=".build/release/crmad")
    ap.add_argument("--crmactl", default=".build/release/crmactl")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--lora-learning-rate", type=float, default=0.01,
                    help="crmad's lora_learning_rate for the 8 naive steps (SmolLM2: 0.01; Qwen2.5-Coder-0.5B diverges "
                         "at 0.01 and its update is rolled back: use 0.002)")
    ap.add_argument("--tolerance", type=float, default=0.05)
    a = ap.parse_args()
    model_path = os.path.abspath(a.model)
    import llama_cpp

    with daemon_that_learned(a.crmad, a.crmactl, a.model, base="fp32",
                             training=f'strategy = "naive"\nlora_learning_rate = {a.lora_learning_rate}\nsteps = 8\nbatch_rows = 2\n'
                                      'sequence_length = 64') as (work, _, ctl):
        ctl("export", "2", "--format", "peft", "--out", f"{work}/peft")
        adapter = ctl("export", "2", "--format", "gguf", "--out", f"{work}/gguf")
        merged = ctl("export", "2", "--format", "gguf", "--merged", "--out", f"{work}/gguf")
        check(adapter.returncode == 0 and merged.returncode == 0,
              f"crmactl export --format gguf [--merged] ({adapter.stderr.strip()} {merged.stderr.strip()})")
        with_lora = json.loads(ctl("score", TEXT, "--json").stdout)
        check(ctl("rollback", "1").returncode == 0, "rolled back to the base model")
        base = json.loads(ctl("score", TEXT, "--json").stdout)

    files = sorted(os.listdir(f"{work}/gguf"))
    lora_file = next(f"{work}/gguf/{f}" for f in files if f.endswith("-lora.gguf"))
    merged_file = next(f"{work}/gguf/{f}" for f in files if f.endswith("-merged.gguf"))
    same = converted_equals(model_path, f"{work}/peft", lora_file, work)
    check(same is True, f"llama.cpp's convert_lora_to_gguf.py writes exactly crmactl's adapter ({same})")

    tokenizer = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    tokens = tokenizer.tokenize(TEXT.encode(), add_bos=True, special=False)
    check(len(tokens) - 1 == base["tokens"], f"the same number of tokens ({len(tokens) - 1} vs crma's {base['tokens']})")
    ll_base = llama_loss(llama_cpp, model_path, tokens)
    ll_merged = llama_loss(llama_cpp, merged_file, tokens)
    check(abs(ll_base - base["loss"]) <= a.tolerance,
          f"base model: llama.cpp {ll_base:.4f} vs crma {base['loss']:.4f} nats")
    check(abs(ll_merged - with_lora["loss"]) <= a.tolerance and abs(with_lora["loss"] - base["loss"]) > 0.01,
          f"merged model: llama.cpp {ll_merged:.4f} vs crma with the LoRA {with_lora['loss']:.4f} nats "
          f"(the LoRA moved crma's loss by {with_lora['loss'] - base['loss']:+.4f})")
    runtime = {str(scale): llama_loss(llama_cpp, model_path, tokens, lora=lora_file, scale=scale)
               for scale in (0.5, 1.0, 2.0)}
    check(abs(runtime["1.0"] - with_lora["loss"]) <= a.tolerance,
          f"adapter at run time (--lora): llama.cpp {runtime['1.0']:.4f} vs crma with the LoRA {with_lora['loss']:.4f} nats")
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "model": a.model, "text_tokens": base["tokens"],
        "crma": {"base_loss": base["loss"], "lora_loss": with_lora["loss"]},
        "llama_cpp": {"base_loss": ll_base, "merged_loss": ll_merged, "runtime_lora_loss_by_scale": runtime,
                      "llama_cpp_python": llama_cpp.__version__},
        "converter_output_equals_export": same is True,
        "tolerance": a.tolerance, "failures": failures,
    }, indent=2))
    sys.exit(1 if failures else 0)


def converted_equals(model_path, peft_dir, lora_file, work):
    """True when llama.cpp's convert_lora_to_gguf.py (from the llama-cpp-python sdist) turns `peft_dir` into
    exactly `lora_file`'s tensors and adapter metadata; else what differs."""
    import gguf
    import numpy as np
    from transformers import AutoConfig
    sdist = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                            "llama-cpp-python", f"llama-cpp-python=={llama_cpp_version()}", "-d", work],
                           capture_output=True, text=True)
    archives = [f for f in os.listdir(work) if f.startswith("llama_cpp_python") and f.endswith(".tar.gz")]
    if sdist.returncode != 0 or not archives:
        return f"cannot fetch the sdist: {sdist.stderr.strip()[-200:]}"
    with tarfile.open(f"{work}/{archives[0]}") as t:
        t.extractall(f"{work}/sdist", filter="data")
    vendor = glob.glob(f"{work}/sdist/*/vendor/llama.cpp")[0]
    directory, name = os.path.split(model_path)
    config = AutoConfig.from_pretrained(directory, gguf_file=name)
    # The converter picks its model class (and whether it permutes q/k rows, as it does for Llama only)
    # from the architecture, which a config read from GGUF does not name.
    architectures = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                     "gemma2": "Gemma2ForCausalLM", "gemma3_text": "Gemma3ForCausalLM"}
    config.architectures = [architectures[config.model_type]]
    config.save_pretrained(f"{work}/hf-config")
    out = f"{work}/converted.gguf"
    r = subprocess.run([sys.executable, f"{vendor}/convert_lora_to_gguf.py", peft_dir, "--base", f"{work}/hf-config",
                        "--outtype", "f32", "--outfile", out], env=dict(os.environ, PYTHONPATH=f"{vendor}/gguf-py"),
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"the converter failed: {r.stderr.strip()[-300:]}"
    theirs, ours = gguf.GGUFReader(out), gguf.GGUFReader(lora_file)
    mine = {t.name: np.array(t.data) for t in ours.tensors}
    for t in theirs.tensors:
        if t.name not in mine or not np.array_equal(np.array(t.data).reshape(-1), mine[t.name].reshape(-1)):
            return f"tensor {t.name} differs"
    if len(theirs.tensors) != len(ours.tensors):
        return f"{len(theirs.tensors)} tensors vs {len(ours.tensors)}"
    for key in ("general.architecture", "general.type", "adapter.type", "adapter.lora.alpha"):
        if theirs.fields[key].contents() != ours.fields[key].contents():
            return f"{key}: {theirs.fields[key].contents()} vs {ours.fields[key].contents()}"
    return True


def llama_cpp_version():
    import llama_cpp
    return llama_cpp.__version__


if __name__ == "__main__":
    main()
