"""PASS/FAIL lines for the scripts that check the real binaries (systemd/, reliability/)."""

failures = []


def check(ok, what):
    """Prints `PASS what` or `FAIL what`; failures are collected for the exit status."""
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def daemon_arguments():
    """The parser of every script that checks the real binaries: --crmad, --crmactl and --model (a GGUF),
    all required; a script adds its own arguments before parsing."""
    import argparse
    ap = argparse.ArgumentParser()
    for name in ("--crmad", "--crmactl", "--model"):
        ap.add_argument(name, required=True)
    return ap


def write_config(path, *, state, inbox, socket, model, extra="", benchmarks=""):
    """Writes a crmad.toml with its state, inbox and socket paths, the model, the general benchmark
    directory ("" = none: the tiny model's checks judge updates on domains only) and `extra` TOML sections."""
    monitor = f'benchmarks = "{benchmarks}"\n'
    if "[monitor]\n" in extra:
        extra = extra.replace("[monitor]\n", "[monitor]\n" + monitor, 1)
    else:
        extra += "\n[monitor]\n" + monitor
    with open(path, "w") as f:
        f.write(f'[paths]\nstate_dir = "{state}"\ninbox = "{inbox}"\nsocket = "{socket}"\n'
                f'[model]\npath = "{model}"\n' + extra)


TINY_TRAINING = """lora_learning_rate = 0.05
epochs = 4.0
batch_rows = 2
sequence_length = 48
checkpoint_interval = 1000"""
"""The [training] keys (besides strategy) under which the tiny test model learns a templated task in seconds."""


def templated_task(domain, n=48):
    """Small prompt → completion rows of `domain` ("medical", "legal", anything else is code) whose answer
    formats conflict (a letter, a label, a line of code): what the tiny model learns, and forgets, in the checks."""
    rows = []
    for i in range(n):
        if domain == "medical":
            letter = "ABCD"[i % 4]
            rows.append({"prompt": f"Question: patient {i} has fever {i % 7}. Which drug? A) aspirin B) ibuprofen "
                                   f"C) paracetamol D) codeine\nAnswer:", "completion": f" {letter}"})
        elif domain == "legal":
            label = "Relevant" if i % 3 else "Irrelevant"
            rows.append({"prompt": f"Clause {i}: we share data with party {i % 5}.\nIs it relevant?\nAnswer:",
                         "completion": f" {label}"})
        else:
            rows.append({"prompt": f"Write a function that adds {i}.\n", "completion": f"def f(x):\n    return x + {i}\n"})
    return rows


def drop_file(inbox, domain, name, data):
    """Drops the bytes `data` as inbox/<domain>/<name>, written aside and renamed into place (as an operator's
    copy should be: crmad never sees half a file)."""
    import os
    d = f"{inbox}/{domain}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{name}.part", "wb") as f:
        f.write(data)
    os.rename(f"{d}/{name}.part", f"{d}/{name}")


def drop_jsonl(inbox, domain, name, rows):
    """Drops `rows` as inbox/<domain>/<name>, one JSON object per line (see drop_file)."""
    import json
    drop_file(inbox, domain, name, "".join(json.dumps(r) + "\n" for r in rows).encode())


def judged_job(api, domain, seconds, strategy=None):
    """`domain`'s newest job (of `strategy`, any when None) once the gate judged it or it failed (accepted,
    rolled_back, failed), as `crmactl jobs --json` shows it; None after `seconds`. `api` is a `ctl` call."""
    return wait(lambda: next((j for j in api("jobs") or [] if j["domain"] == domain and strategy in (None, j["strategy"])
                              and j["state"] in ("accepted", "rolled_back", "failed")), None), seconds, interval=0.5)


def wait(predicate, seconds=60, interval=0.2):
    """Polls `predicate` until it returns something truthy (returned) or `seconds` pass (returns None)."""
    import time
    deadline = time.time() + seconds
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    return None


def ctl(crmactl, socket, *args):
    """`crmactl ARGS --json` against `socket`: the decoded answer, or None when the command failed."""
    import json, subprocess
    r = subprocess.run([crmactl, *args, "--json", "--socket", socket], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


def start_crmad(crmad, config, log, journal=False):
    """Starts crmad on `config` with one OpenBLAS thread (the cores are shared), logging to `log`; with
    `journal`, JOURNAL_STREAM is set as systemd sets it, so the logs and alerts go to journald."""
    import os, subprocess
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if journal:
        env["JOURNAL_STREAM"] = "0:0"
    return subprocess.Popen([crmad, "--config", config], stdout=log, stderr=log, env=env)


def stop_crmad(proc, seconds=20):
    """SIGTERM, then SIGKILL if crmad has not exited within `seconds`; returns its exit status (None if killed)."""
    import signal, subprocess
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None


def listener_with_token(prefix):
    """A free 127.0.0.1 port and a new bearer token in a file of mode 0600: what crmad's `control.listen`
    and `control.token_file` take. Returns (port, token, token_file)."""
    import os, socket, tempfile
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = prefix + "-" + os.urandom(16).hex()
    token_file = tempfile.mkstemp(prefix="crma-token-")[1]
    with open(token_file, "w") as f:
        f.write(token + "\n")
    os.chmod(token_file, 0o600)
    return port, token, token_file


def finish(summary, out=None):
    """Prints `summary` (with the failures) as JSON, writes it to `out` too when given, and exits 1 when a
    check failed."""
    import json, sys
    summary["failures"] = failures
    text = json.dumps(summary, indent=2)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    sys.exit(1 if failures else 0)
