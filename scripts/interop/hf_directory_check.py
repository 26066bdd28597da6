#!/usr/bin/env python3
"""crma loads a Hugging Face directory that transformers itself wrote, and scores it as transformers does.

transformers loads a GGUF (dequantised to fp32, its tokenizer converted to a fast tokenizer) and writes the
same weights with its own `save_pretrained`: config.json (Gemma3ForCausalLM, LlamaForCausalLM, …),
model.safetensors in fp32 and tokenizer.json. `crma-bench perplexity` (fp32) scores the first 10,240 bytes of
the GPL-3 text with that directory in one window, and transformers scores the same tokens read back from the
same directory: the token counts must be equal (crma reads tokenizer.json as `tokenizers` does) and the mean
negative log-likelihoods agree within --tolerance nats. The GGUF's own score is reported beside them; it must
agree too when transformers' converted tokenizer splits the text as the GGUF's vocabulary does (Gemma; for
SmolLM2 the conversion drops the digit-isolating pre-tokenizer, so the tokens differ). Prints a JSON summary;
exits 1 on a failed check.

    var/venv-torch/bin/python scripts/interop/hf_directory_check.py --model models/gemma-3-270m-q4_k_m.gguf
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, failures  # noqa: E402

TEXT = "/usr/share/common-licenses/GPL-3"


CONTEXT = 4096  # one window: the whole text after the document's first token


def perplexity(bench, model, text):
    out = subprocess.run([bench, "perplexity", "--model", model, "--text", text, "--base", "fp32", "--json",
                          "--context", str(CONTEXT)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=".build/release/crma-bench")
    ap.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    ap.add_argument("--tolerance", type=float, default=1e-3)
    ap.add_argument("--json-out", help="also write the summary here")
    a = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="crma-hf-") as work:
        directory, name = os.path.split(os.path.abspath(a.model))
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
        # transformers marks a model read from GGUF as not serializable; the same weights in a model built
        # from its config are an ordinary checkpoint.
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(model.state_dict())
        saved = os.path.join(work, "model")
        plain.save_pretrained(saved)
        tokenizer.save_pretrained(saved)
        files = sorted(os.listdir(saved))
        architecture = json.load(open(os.path.join(saved, "config.json")))["architectures"][0]

        text = os.path.join(work, "text.txt")
        with open(TEXT, "rb") as f, open(text, "wb") as g:
            g.write(f.read(10240))
        from_dir = perplexity(a.bench, saved, text)
        from_gguf = perplexity(a.bench, a.model, text)

        # transformers reads its directory back and scores the text as crma does: the document's first token
        # (BOS, else EOS) then every token of the text, each predicted once.
        reread = AutoTokenizer.from_pretrained(saved)
        ids = reread(open(text, encoding="utf-8").read(), add_special_tokens=False)["input_ids"]
        first = reread.bos_token_id if reread.bos_token_id is not None else reread.eos_token_id
        hf = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32).eval()
        with torch.no_grad():
            logits = hf(torch.tensor([[first] + ids[:-1]])).logits[0].double()
        nll = torch.nn.functional.cross_entropy(logits, torch.tensor(ids), reduction="mean").item()
        transformers_score = {"tokens": len(ids), "mean_nll": nll}

    summary = {"model": a.model, "architecture": architecture, "files": files,
               "directory": from_dir, "transformers": transformers_score, "gguf": from_gguf}
    check("tokenizer.json" in files and any(f.endswith(".safetensors") for f in files),
          f"transformers wrote a safetensors directory with tokenizer.json ({', '.join(files)})")
    check(from_dir["tokens"] == len(ids),
          f"crma reads tokenizer.json as transformers does ({from_dir['tokens']} vs {len(ids)} tokens)")
    delta = abs(from_dir["mean_nll"] - nll)
    summary["mean_nll_difference"] = delta
    check(delta <= a.tolerance,
          f"{architecture} from the directory: crma {from_dir['mean_nll']:.5f} vs transformers {nll:.5f} nats "
          f"(|Δ| {delta:.2e} ≤ {a.tolerance})")
    if from_gguf["tokens"] == from_dir["tokens"]:
        delta = abs(from_dir["mean_nll"] - from_gguf["mean_nll"])
        check(delta <= a.tolerance, f"the directory scores as the GGUF: {from_dir['mean_nll']:.5f} vs "
                                    f"{from_gguf['mean_nll']:.5f} (|Δ| {delta:.2e})")
    else:
        print(f"NOTE transformers' converted tokenizer splits the text into {from_dir['tokens']} tokens, the GGUF's "
              f"vocabulary into {from_gguf['tokens']}: the GGUF scores {from_gguf['mean_nll']:.5f}, not compared")
    summary["failures"] = failures
    print(json.dumps(summary, indent=1))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(summary, f, indent=1)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
