#!/usr/bin/env python3
"""Hugging Face PEFT and transformers load what `crmactl export --format peft` writes, and score text as
crmad does.

crmad (fp32, strategy naive: a domain is scored by its LoRA alone) learns a small domain on the real model;
crmactl exports version 2's LoRA as a PEFT directory and scores a text under version 2, then, after a
rollback, under the base model (version 1). transformers loads the same GGUF (dequantised to fp32), PEFT
loads the export on it, and both score the same text. The mean negative log-likelihoods must agree within
--tolerance nats, with and without the LoRA, and the LoRA must have moved the loss by more than that.
Prints a JSON summary; exits 1 on a failed check.

Run it through `make interop` (the virtual environment of `make bench-pytorch`).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, failures  # noqa: E402
from interop.learned_daemon import daemon_that_learned  # noqa: E402

TEXT = ("Patient 12 was given 3 mg of drug X for condition Y. Patient 13 was given 1 mg of drug X for "
        "condition Y, and the dose was raised after two days because the fever persisted.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crmad", default=".build/release/crmad")
    ap.add_argument("--crmactl", default=".build/release/crmactl")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--lora-learning-rate", type=float, default=0.01,
                    help="crmad's lora_learning_rate for the 8 naive steps (SmolLM2: 0.01; Qwen2.5-Coder-0.5B diverges "
                         "at 0.01 and its update is rolled back: use 0.002)")
    ap.add_argument("--tolerance", type=float, default=2e-3)
    a = ap.parse_args()
    model_path = os.path.abspath(a.model)

    with daemon_that_learned(a.crmad, a.crmactl, a.model, base="fp32",  # fp32, as transformers computes
                             training=f'strategy = "naive"\nlora_learning_rate = {a.lora_learning_rate}\nsteps = 8\nbatch_rows = 2\n'
                                      'sequence_length = 64') as (work, _, ctl):
        exported = ctl("export", "2", "--format", "peft", "--out", f"{work}/peft")
        check(exported.returncode == 0, f"crmactl export --format peft ({exported.stderr.strip()})")
        with_lora = json.loads(ctl("score", TEXT, "--json").stdout)
        check(ctl("rollback", "1").returncode == 0, "rolled back to the base model")
        base = json.loads(ctl("score", TEXT, "--json").stdout)

    import peft
    import torch
    import transformers
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    directory, name = os.path.split(model_path)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32).eval()
    ids = tokenizer(TEXT, add_special_tokens=False, return_tensors="pt").input_ids
    check(ids.shape[1] - 1 == base["tokens"], f"the same tokens ({ids.shape[1] - 1} vs crma's {base['tokens']})")
    with torch.inference_mode():
        hf_base = model(input_ids=ids, labels=ids).loss.item()
        lora = PeftModel.from_pretrained(model, f"{work}/peft").eval()
        hf_lora = lora(input_ids=ids, labels=ids).loss.item()
    d_base, d_lora = abs(hf_base - base["loss"]), abs(hf_lora - with_lora["loss"])
    check(d_base <= a.tolerance, f"base model: transformers {hf_base:.5f} vs crma {base['loss']:.5f} nats (|Δ| {d_base:.2e})")
    check(d_lora <= a.tolerance, f"with the exported LoRA: PEFT {hf_lora:.5f} vs crma {with_lora['loss']:.5f} nats (|Δ| {d_lora:.2e})")
    check(abs(with_lora["loss"] - base["loss"]) > 10 * a.tolerance,
          f"the LoRA moved the loss ({base['loss']:.4f} -> {with_lora['loss']:.4f}), so the comparison means something")
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "model": a.model, "text_tokens": base["tokens"],
        "crma": {"base_loss": base["loss"], "lora_loss": with_lora["loss"]},
        "transformers_peft": {"base_loss": hf_base, "lora_loss": hf_lora, "torch": torch.__version__,
                              "transformers": transformers.__version__, "peft": peft.__version__},
        "abs_difference": {"base": d_base, "lora": d_lora}, "tolerance": a.tolerance,
        "failures": failures,
    }, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
