"""PASS/FAIL lines for the scripts that check the real binaries (systemd/, reliability/)."""

failures = []


def check(ok, what):
    """Prints `PASS what` or `FAIL what`; failures are collected for the exit status."""
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def write_config(path, *, state, inbox, socket, model, extra=""):
    """Writes a crmad.toml with its state, inbox and socket paths, the model, and `extra` TOML sections."""
    with open(path, "w") as f:
        f.write(f'[paths]\nstate_dir = "{state}"\ninbox = "{inbox}"\nsocket = "{socket}"\n'
                f'[model]\npath = "{model}"\n' + extra)
