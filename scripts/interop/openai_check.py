#!/usr/bin/env python3
"""The official `openai` Python client talks to crmad's inference API unchanged.

crmad (the real model, bf16 where the CPU has it) learns a small medical domain; then the client — over the
Unix socket through its HTTP library's `uds` transport, and over the TCP listener with the bearer token as
its API key — lists the models, asks chat and text completions of the base model, of crma:medical and of
crma (routed), streams one, and checks what a client relies on: the same text streamed as returned whole,
stop sequences, seeded sampling, usage counts, 404 for a model crmad does not serve, 401 for a wrong key,
and 429 when the model-request queue is full. Prints a JSON summary; exits 1 on a failed check.

Run it through `make interop` (the virtual environment of `make bench-pytorch`, plus the openai package).
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, failures, listener_with_token  # noqa: E402
from interop.learned_daemon import daemon_that_learned  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crmad", default=".build/release/crmad")
    ap.add_argument("--crmactl", default=".build/release/crmactl")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--benchmarks", default="data/benchmarks", help="general benchmarks (make benchmarks)")
    a = ap.parse_args()

    import openai
    try:
        import httpx2 as httpx  # openai >= 3 ships its HTTP library under this name
    except ImportError:
        import httpx

    port, token, token_file = listener_with_token("interop")
    summary = {}
    with daemon_that_learned(
            a.crmad, a.crmactl, a.model,
            training='strategy = "crma"\nsteps = 6\nbatch_rows = 2\nsequence_length = 64',
            extra=f'[control]\nmax_queued_requests = 1\nlisten = "127.0.0.1:{port}"\ntoken_file = "{token_file}"\n',
            line=lambda i: f"Patient {i} was given {i % 4 + 1} mg of amoxicillin for otitis media.",
            # General benchmarks: what tells the router's "no domain" class (crmad's default has them).
            benchmarks=a.benchmarks) as (_, sock, _ctl):
        client = openai.OpenAI(base_url="http://crmad/v1", api_key="unused on the socket", max_retries=0,
                               http_client=httpx.Client(transport=httpx.HTTPTransport(uds=sock), timeout=300))
        ids = [m.id for m in client.models.list()]
        check(ids == ["base", "crma", "crma:medical"], f"models.list(): {ids}")

        france = [{"role": "user", "content": "What is the capital of France?"}]
        whole = client.chat.completions.create(model="base", messages=france, max_tokens=24, temperature=0)
        answer = whole.choices[0].message.content
        check("Paris" in answer, f"chat.completions: the base model answers {answer!r}")
        check(whole.usage.completion_tokens >= 1 and whole.usage.total_tokens == whole.usage.prompt_tokens
              + whole.usage.completion_tokens, f"usage {whole.usage}")
        chunks = list(client.chat.completions.create(model="base", messages=france, max_tokens=24, temperature=0,
                                                     stream=True, stream_options={"include_usage": True}))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        check(streamed == answer, f"stream=True: the same text in {len(chunks)} chunks")
        check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens,
              "stream_options include_usage: the last chunk carries the usage")

        cut = client.chat.completions.create(model="base", messages=france, max_tokens=24, temperature=0, stop=["Paris"])
        check("Paris" not in cut.choices[0].message.content and cut.choices[0].finish_reason == "stop",
              f"stop=['Paris'] ends before it: {cut.choices[0].message.content!r}")
        sampled = [client.chat.completions.create(model="base", messages=france, max_tokens=16, temperature=0.9,
                                                  seed=7).choices[0].message.content for _ in range(2)]
        check(sampled[0] == sampled[1], f"the same seed samples the same text: {sampled[0]!r}")

        prompt = "Patient 71 was given"
        medical = client.completions.create(model="crma:medical", prompt=prompt, max_tokens=8, temperature=0)
        base = client.completions.create(model="base", prompt=prompt, max_tokens=8, temperature=0)
        check(medical.model == "crma:medical" and medical.usage.completion_tokens >= 1,
              f"completions under crma:medical: {medical.choices[0].text!r} (base: {base.choices[0].text!r})")
        routed = client.completions.create(model="crma", prompt=prompt, max_tokens=8, temperature=0)
        check(routed.model == "crma:medical" and routed.choices[0].text == medical.choices[0].text,
              f"model crma routes a medical prompt to crma:medical ({routed.model})")
        try:
            client.chat.completions.create(model="crma:legal", messages=france, max_tokens=4)
            check(False, "an unknown model is refused")
        except openai.NotFoundError as e:
            check("crma:medical" in str(e), f"an unknown model: openai.NotFoundError naming the served ones")

        # The queue holds one request: while one generates and one waits, a third gets 429.
        results = {}

        def ask(name, tokens):
            try:  # counting goes on: the first request really generates `tokens` tokens
                client.completions.create(model="base", prompt="1, 2, 3, 4, 5,", max_tokens=tokens, temperature=0)
                results[name] = "ok"
            except openai.RateLimitError:
                results[name] = "429"
        running = threading.Thread(target=ask, args=("running", 400))
        running.start()
        time.sleep(1.0)
        waiting = threading.Thread(target=ask, args=("waiting", 4))
        waiting.start()
        time.sleep(0.5)
        ask("third", 4)
        running.join()
        waiting.join()
        check(results == {"running": "ok", "waiting": "ok", "third": "429"},
              f"a full queue answers 429 (openai.RateLimitError) and serves the others: {results}")

        tcp = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=token, max_retries=0)
        over_tcp = tcp.chat.completions.create(model="base", messages=france, max_tokens=24, temperature=0)
        check(over_tcp.choices[0].message.content == answer, "the TCP listener with the token as api_key")
        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
            check(False, "a wrong api_key is refused")
        except openai.AuthenticationError:
            check(True, "a wrong api_key: openai.AuthenticationError (401)")

        started = time.time()
        timed = client.completions.create(model="crma:medical", prompt="1, 2, 3, 4, 5,", max_tokens=64, temperature=0)
        seconds = time.time() - started
        summary = {
            "date": time.strftime("%Y-%m-%d"), "model": a.model, "openai": openai.__version__,
            "base_answer": answer, "crma_medical_completion": medical.choices[0].text,
            "routed_to": routed.model,
            "crma_medical_64_tokens": {"completion_tokens": timed.usage.completion_tokens, "seconds": round(seconds, 3),
                                       "tokens_per_second": round(timed.usage.completion_tokens / seconds, 1)},
        }
    summary["failures"] = failures
    print(json.dumps(summary, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
