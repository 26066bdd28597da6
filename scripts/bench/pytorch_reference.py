#!/usr/bin/env python3
"""PyTorch beside `crma-bench eval` and `crma-bench train`: the same model, shapes and threads.

Scoring: one sequence of --seq-len tokens of the paragraph crma-bench scores, forward pass, log-softmax
and the targets' log-probabilities. Training: PEFT LoRA r=8, alpha 16 on q, k, v, o (no CRMA: PyTorch
has none), --batch rows of --seq-len tokens of Debian's GPL-3 text, AdamW. Each in fp32 and in bf16
autocast (torch.autocast("cpu", torch.bfloat16): bf16 matmuls, fp32 weights), one unit of each timed
alternately as crma-bench does, medians of at least --seconds. Memory: the resident set after loading, and
the process's peak resident set after scoring and after training (ru_maxrss: it includes loading, which
dequantizes the GGUF, and both precisions, as crma-bench's peak RSS includes its own). Prints JSON.

The model is the GGUF crma loads, dequantised to fp32 by transformers. Run it through `make bench-pytorch`,
which builds the virtual environment (pinned torch, transformers, peft, gguf) under var/.
"""
import argparse
import json
import os
import resource
import statistics
import time

import torch

PARAGRAPH = (
    "When in the Course of human events, it becomes necessary for one people to dissolve the political bands "
    "which have connected them with another, and to assume among the powers of the earth, the separate and equal "
    "station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of "
    "mankind requires that they should declare the causes which impel them to the separation.\n\n"
)


def interleaved(fp32, bf16, seconds, min_runs=5):
    """Medians of alternate timings of the two callables (after one warm-up each)."""
    fp32()
    bf16()
    a, b = [], []
    start = time.perf_counter()
    while len(a) < min_runs or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fp32()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        bf16()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b), len(a)


def resident_mb():
    """(current resident set, peak resident set) of this process in MB."""
    with open("/proc/self/status") as f:
        current = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return current / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--min-runs", type=int, default=5,
                    help="timed runs of each precision at least (fewer for big models, whose steps take minutes)")
    ap.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    args = ap.parse_args()

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import transformers
    import peft

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    directory, name = os.path.split(os.path.abspath(args.model))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32)
    T = args.seq_len
    rss_loaded, peak_loaded = resident_mb()

    # Scoring.
    ids = tokenizer(PARAGRAPH * 40, return_tensors="pt").input_ids[:, : T + 1]
    inputs, targets = ids[:, :T], ids[:, 1 : T + 1]
    model.eval()

    def score(bf16):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=inputs).logits
            return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1))

    sf, sb, score_pairs = interleaved(lambda: score(False), lambda: score(True), args.seconds, args.min_runs)
    peak_scoring = resident_mb()[1]

    # Training.
    text = open(args.text, encoding="utf-8").read()
    tokens = tokenizer(text, return_tensors="pt").input_ids[0]
    rows = tokens[: (len(tokens) // T) * T].view(-1, T)
    if len(rows) < args.batch:
        raise SystemExit(f"{args.text} gives {len(rows)} rows of {T} tokens; need {args.batch}")
    lora = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    )
    lora.train()
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=5e-4)
    cursor = [0]

    def step(bf16):
        i = cursor[0] % (len(rows) - args.batch + 1)
        cursor[0] += args.batch
        batch = rows[i : i + args.batch]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = lora(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    tf, tb, train_pairs = interleaved(lambda: step(False), lambda: step(True), args.seconds, args.min_runs)
    n = args.batch * T
    peak_training = resident_mb()[1]
    print(json.dumps({
        "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
        "model": args.model, "threads": args.threads, "seq_len": T,
        "scoring": {"fp32_tokens_per_second": T / sf, "bf16_tokens_per_second": T / sb, "bf16_speedup": sf / sb,
                    "pairs": score_pairs},
        "training": {"sequences_per_step": args.batch, "lora": "r=8 alpha=16 q,k,v,o (no CRMA)",
                     "fp32_tokens_per_second": n / tf, "bf16_tokens_per_second": n / tb, "bf16_speedup": tf / tb,
                     "pairs": train_pairs},
        "bf16": "torch.autocast('cpu', torch.bfloat16): bf16 matmuls on fp32 weights",
        "memory_mb": {"resident_after_load": rss_loaded, "peak_during_load": peak_loaded,
                      "peak_after_scoring": peak_scoring, "peak_after_training": peak_training},
    }, indent=2))


if __name__ == "__main__":
    main()
