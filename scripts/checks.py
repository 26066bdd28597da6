"""PASS/FAIL lines for the scripts that check the real binaries (systemd/, reliability/)."""

failures = []


def check(ok, what):
    """Prints `PASS what` or `FAIL what`; failures are collected for the exit status."""
    print(("PASS " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
