"""crmad on the real model, in a temporary directory of its own, after it learned one small domain: what
every interop check starts from."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, wait, write_config  # noqa: E402


def medical_line(i):
    return f"Patient {i} was given {i % 4 + 1} mg of drug X for condition Y."


@contextlib.contextmanager
def daemon_that_learned(crmad, crmactl, model, *, training, base=None, extra="", line=medical_line,
                        benchmarks=""):
    """Starts crmad (state, inbox and socket under a new temporary directory; `training` is the body of its
    [training] table, `extra` more TOML, `base` overrides model.base, `benchmarks` the general
    benchmark directory, none by default), drops 60 lines of `line(i)`
    into inbox/medical and waits until version 2 is accepted. Yields (work directory, socket, ctl), where
    ctl(*args) runs crmactl against the socket; stops crmad with SIGTERM on the way out."""
    model_path = os.path.abspath(model)
    work = tempfile.mkdtemp(prefix="crma-interop-")
    sock = f"{work}/crmad.sock"
    write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=f"{work}/inbox", socket=sock, model=model_path,
                 extra=f"[training]\n{training}\n[ingest]\ndebounce_seconds = 0.0\n[monitor]\nholdout_rows = 4\n{extra}",
                 benchmarks=os.path.abspath(benchmarks) if benchmarks else "")
    if base:
        with open(f"{work}/crmad.toml") as f:
            config = f.read().replace(f'path = "{model_path}"\n', f'path = "{model_path}"\nbase = "{base}"\n')
        with open(f"{work}/crmad.toml", "w") as f:
            f.write(config)

    def ctl(*args):
        return subprocess.run([crmactl, *args, "--socket", sock], capture_output=True, text=True)

    log = open(f"{work}/crmad.log", "w")
    proc = subprocess.Popen([crmad, "--config", f"{work}/crmad.toml"], stdout=log, stderr=log)
    try:
        check(wait(lambda: os.path.exists(sock), 120) is not None, "crmad is up")
        os.makedirs(f"{work}/inbox/medical")
        with open(f"{work}/inbox/medical/notes.jsonl.part", "w") as f:
            for i in range(60):
                f.write(json.dumps({"text": line(i)}) + "\n")
        os.rename(f"{work}/inbox/medical/notes.jsonl.part", f"{work}/inbox/medical/notes.jsonl")

        def concluded():
            r = ctl("alerts", "--json")
            kinds = {x["kind"]: x for x in json.loads(r.stdout)} if r.returncode == 0 else {}
            return kinds.get("update_accepted") or kinds.get("rollback")
        outcome = wait(concluded, 1800, 1.0)
        check(outcome is not None and outcome["kind"] == "update_accepted",
              f"crmad learned the medical domain (version 2): {outcome and outcome.get('message', outcome)}")
        yield work, sock, ctl
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
