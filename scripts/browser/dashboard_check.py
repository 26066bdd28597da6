#!/usr/bin/env python3
"""The dashboard (GET /) in a real browser: Debian's chromium, headless, driven by Playwright.

A crmad on the tiny model (strategy naive, the TCP listener on) learns medical; legal makes medical forget
and the gate rolls it back; `crmactl retry legal --strategy crma` learns it. Then, through a forward from a
loopback port to the control socket (what `ssh -L 8080:/run/crmad/crmad.sock` gives an operator), the page
must show that state: the base, two accepted versions and the rolled-back one with the gate's reason, a
2×2 loss matrix, a drift line per domain, rollback buttons only where a rollback is possible. A third
domain (code, retried with crma as an operator would) must appear without a reload: its job's progress
step by step from the event stream, then its version, its matrix column and its drift line. Rolling back
from the page asks first (cancel changes nothing), then makes the chosen version active, and the page
shows the operator's rollback alert. Over the TCP listener the browser gets a
401 without the token and the same state with it (HTTP Basic, the token as the password), read-only: no
rollback button, and POST /v1/rollback does not exist there. A page of another origin is refused by the socket.
Throughout: no console error, no page error, and no request leaves the daemon's origin (run it under
`unshare --net`, as `make test` does, and there is no network to reach anyway).

usage: dashboard_check.py --crmad BIN --crmactl BIN --model GGUF [--chromium PATH] [--screenshot PNG]
"""
import json, os, shutil, socket, socketserver, sys, tempfile, threading, time, urllib.error, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import (TINY_TRAINING, check, ctl, daemon_arguments, drop_jsonl, failures, finish,  # noqa: E402
                    judged_job, listener_with_token, start_crmad, stop_crmad, templated_task, wait, write_config)
from playwright.sync_api import sync_playwright  # noqa: E402

ap = daemon_arguments()
ap.add_argument("--chromium", default="/usr/bin/chromium", help="the browser (Debian's chromium package)")
ap.add_argument("--screenshot", help="where to save a screenshot of the page after the rollback")
ap.add_argument("--timeout", type=float, default=180, help="seconds each update may take")
a = ap.parse_args()


class SocketForward(socketserver.ThreadingTCPServer):
    """127.0.0.1:<free port> → the control socket, byte for byte, as `ssh -L port:socket` forwards it."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, unix_path):
        self.unix_path = unix_path
        super().__init__(("127.0.0.1", 0), SocketForward.Pipe)

    class Pipe(socketserver.BaseRequestHandler):
        def handle(self):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.server.unix_path)

            def pump(src, dst):
                try:
                    while data := src.recv(65536):
                        dst.sendall(data)
                except OSError:
                    pass
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
            back.start()
            pump(self.request, upstream)
            back.join()
            upstream.close()


def http(method, url, body=None, headers=None):
    """(status, decoded JSON body) of one request."""
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Watched:
    """A page with its console errors, uncaught exceptions and every URL it requested."""

    def __init__(self, context, name):
        self.name, self.errors, self.urls = name, [], []
        self.page = context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.urls.append(r.url))

    def text(self, selector):
        return self.page.locator(selector).inner_text()

    def count(self, selector):
        return self.page.locator(selector).count()

    def until(self, script, what, seconds=30):
        """Polls `script` (a JS expression) until it is truthy in the page; checks it happened. (Polled from
        here: Playwright's own waiting evaluates strings inside the page, which the page's CSP forbids.)"""
        deadline = time.time() + seconds
        while not (ok := self.page.evaluate(f"() => Boolean({script})")) and time.time() < deadline:
            time.sleep(0.1)
        check(ok, f"{self.name}: {what}")


def outcome(api, domain, strategy=None):
    """The state of `domain`'s newest job (of `strategy`) once the gate judged it (None after the timeout)."""
    return (judged_job(api, domain, a.timeout, strategy) or {}).get("state")


def learn(api, inbox, domain):
    drop_jsonl(inbox, domain, "tasks.jsonl", templated_task(domain))
    return outcome(api, domain)


work = tempfile.mkdtemp(prefix="crmad-dashboard-")
inbox, sock = f"{work}/inbox", f"{work}/crmad.sock"
port, token, token_file = listener_with_token("dashboard")
write_config(f"{work}/crmad.toml", state=f"{work}/state", inbox=inbox, socket=sock, model=a.model,
             extra=f'[training]\nstrategy = "naive"\n{TINY_TRAINING}\n[monitor]\nholdout_rows = 8\n'
                   f'[ingest]\ndebounce_seconds = 0.0\n[control]\nlisten = "127.0.0.1:{port}"\ntoken_file = "{token_file}"\n')
log = open(f"{work}/crmad.log", "w")
proc = start_crmad(a.crmad, f"{work}/crmad.toml", log)
api = lambda *args: ctl(a.crmactl, sock, *args)  # noqa: E731
forward = SocketForward(sock)
threading.Thread(target=forward.serve_forever, daemon=True).start()
socket_origin, tcp_origin = f"http://localhost:{forward.server_address[1]}", f"http://127.0.0.1:{port}"
summary = {}
try:
    check(wait(lambda: api("status"), 30) is not None, "crmad answers on its socket")
    first = [learn(api, inbox, d) for d in ("medical", "legal")]
    check(first == ["accepted", "rolled_back"], f"naive: medical learned, legal rolled back by the gate ({first})")
    api("retry", "legal", "--strategy", "crma")
    again = outcome(api, "legal", "crma")
    check(again == "accepted", f"crma: legal learned on retry ({again})")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, headless=True)
        print(f"  {browser.version}")

        # The control socket, through the forward.
        ops = Watched(browser.new_context(viewport={"width": 1280, "height": 1100}), "socket")
        response = ops.page.goto(socket_origin + "/")
        check(response.status == 200 and "default-src 'none'" in response.headers.get("content-security-policy", ""),
              "socket: GET / serves the page with its Content-Security-Policy")
        ops.until("document.body.dataset.versions === '4'", "the page loads the daemon's state")
        check(ops.text("#active-version") == "4" and ops.text("#domain-count") == "2",
              f"socket: header shows active version 4 and 2 domains ({ops.text('#active-version')}, {ops.text('#domain-count')})")
        check(ops.count("#versions tr[data-version]") == 4 and ops.count("#versions tr[data-state=accepted]") == 2,
              "socket: version history lists the base, two accepted versions and the rolled-back one")
        reason = ops.text("#versions tr[data-version='3'][data-state=rolled_back] ul.reasons")
        check("critical" in reason and "holdout:medical drifted +" in reason,
              f"socket: the rolled-back version shows the gate's reason ({reason!r})")
        check(ops.count("#matrix tr[data-version]") == 2 and ops.count("#matrix td[data-domain]") == 3,
              f"socket: loss matrix heat map has 2 rows and 3 filled cells ({ops.count('#matrix td[data-domain]')})")
        check(ops.count("#drift g[data-domain]") == 2, "socket: drift chart has a line per domain")
        check(sorted(ops.page.locator("button[data-rollback]").evaluate_all("bs => bs.map(b => b.dataset.rollback)"))
              == ["1", "2"], "socket: rollback offered for the base and v2, not the rolled-back v3 or the active v4")
        check("You may roll back" in ops.text("#access"), "socket: the page says this caller may roll back")
        check(ops.count("#alerts li[data-kind=update_accepted]") == 2 and ops.count("#alerts li[data-kind=drift_critical]") == 1
              and ops.count("#alerts li[data-kind=rollback]") == 1, "socket: alerts list the accepted updates, the drift and the rollback")
        ops.until("document.getElementById('live').classList.contains('on')", "the page follows the event stream")

        # A third domain: the page follows it live (no reload: the marker set now must survive). Only the event
        # stream's progress events show a job step by step; a reload shows at most a step or two of it.
        ops.page.evaluate("""() => { window.__marker = 1; window.__steps = new Set();
            new MutationObserver(() => document.querySelectorAll('.job[data-domain=code]').forEach(j => {
                const m = j.textContent.match(/step (\\d+)\\//); if (m) window.__steps.add(m[1]); }))
              .observe(document.getElementById('jobs'), {childList: true, subtree: true}); }""")
        api("pause")
        drop_jsonl(inbox, "code", "tasks.jsonl", templated_task("code"))
        queued = wait(lambda: next((j for j in api("jobs") or [] if j["domain"] == "code" and j["state"] == "queued"), None), 30)
        check(queued is not None and api("cancel", str(queued["id"])) is not None and api("retry", "code", "--strategy", "crma"),
              "code dropped while paused, its naive job cancelled and retried with crma")
        api("resume")
        third = outcome(api, "code", "crma")
        check(third == "accepted", f"the tiny model learned code ({third})")
        ops.until("document.getElementById('active-version').textContent === '5'", "the page shows v5 without a reload")
        steps = ops.page.evaluate("window.__marker === 1 ? [...window.__steps] : null")
        check(steps is not None and len(steps) >= 3,
              f"socket: the running job's progress came live, step by step, without a reload ({len(steps or [])} steps shown)")
        ops.until("document.querySelectorAll('#matrix tr[data-version]').length === 3", "the matrix gains the third update")
        check(ops.count("#drift g[data-domain]") == 3 and ops.count("#matrix td[data-domain]") == 6,
              "socket: drift chart and heat map show the third domain")
        ops.until("document.querySelectorAll('#alerts li[data-kind=update_accepted]').length === 3",
                  "the accepted alert of the third update appears")

        # Roll back to v4: cancel first (nothing happens), then confirm.
        ops.page.click("button[data-rollback='4']")
        check(ops.page.locator("dialog#confirm").is_visible() and "version 4" in ops.text("#confirm-text"),
              "socket: rollback asks for confirmation, naming the version")
        ops.page.click("#confirm-cancel")
        time.sleep(1)
        check((api("status") or {}).get("activeVersion") == 5 and not ops.page.locator("dialog#confirm").is_visible(),
              "socket: cancel changes nothing")
        ops.page.click("button[data-rollback='4']")
        ops.page.click("#confirm-ok")
        ops.until("document.getElementById('active-version').textContent === '4'", "rollback from the page makes v4 active")
        check((api("status") or {}).get("activeVersion") == 4, "crmactl agrees: v4 is active")
        ops.until("[...document.querySelectorAll('#alerts li[data-kind=rollback]')].some(li => "
                  "li.textContent.includes('operator rolled back from version 5 to version 4'))",
                  "the page shows the operator's rollback alert")
        check(ops.page.locator("#versions tr.active").get_attribute("data-version") == "4"
              and ops.count("#matrix tr[data-version]") == 2, "socket: history and matrix follow the rollback")
        check(ops.text("#error") == "", f"socket: no error shown ({ops.text('#error')!r})")
        if a.screenshot:
            ops.page.screenshot(path=a.screenshot, full_page=True)
            summary["screenshot"] = a.screenshot

        # Another site's page may not use the socket (a forged POST, a DNS-rebound name).
        forged = http("POST", socket_origin + "/v1/rollback", {"version": 2}, {"Origin": "http://evil.example"})
        rebound = http("GET", socket_origin + "/v1/status", headers={"Host": f"evil.example:{forward.server_address[1]}"})
        check(forged[0] == 403 and rebound[0] == 403 and (api("status") or {}).get("activeVersion") == 4,
              f"socket: another origin's POST and a rebound host are refused ({forged[0]}, {rebound[0]})")

        # The TCP listener: 401 without the token, read-only with it.
        refused = urllib.request.Request(tcp_origin + "/")
        try:
            urllib.request.urlopen(refused, timeout=10)
            challenge = None
        except urllib.error.HTTPError as e:
            challenge = (e.code, e.headers.get_all("WWW-Authenticate"))
        check(challenge is not None and challenge[0] == 401 and any(c.startswith("Basic ") for c in challenge[1]),
              f"tcp: GET / without the token is a 401 that asks a browser for Basic credentials ({challenge})")
        try:
            browser.new_context().new_page().goto(tcp_origin + "/")
            check(False, "tcp: a browser without the token does not get the page")
        except Exception as e:  # noqa: BLE001
            check("ERR_INVALID_AUTH_CREDENTIALS" in str(e), "tcp: a browser without the token does not get the page")
        viewer = Watched(browser.new_context(http_credentials={"username": "operator", "password": token}), "tcp")
        check(viewer.page.goto(tcp_origin + "/").status == 200, "tcp: the page with the token (Basic)")
        viewer.until("document.body.dataset.versions === '5' && document.body.dataset.loadedVersion === '4'",
                     "the page shows the same state over TCP")
        check(viewer.count("#matrix td[data-domain]") == 3 and viewer.count("#drift g[data-domain]") == 2,
              "tcp: matrix and drift of the active lineage")
        check(viewer.count("button[data-rollback]") == 0 and "Read-only" in viewer.text("#access"),
              "tcp: read-only, no rollback button")
        status, _ = http("POST", tcp_origin + "/v1/rollback", {"version": 2}, {"Authorization": f"Bearer {token}"})
        check(status == 404 and (api("status") or {}).get("activeVersion") == 4,
              f"tcp: POST /v1/rollback does not exist there ({status})")

        for w, origin in ((ops, socket_origin), (viewer, tcp_origin)):
            check(not w.errors, f"{w.name}: no console or page errors {w.errors[:3]}")
            strangers = [u for u in w.urls if not u.startswith(origin + "/")]
            check(not strangers and len(w.urls) > 5,
                  f"{w.name}: all {len(w.urls)} requests went to the daemon's origin {strangers[:3]}")
        summary["requests"] = {"socket": len(ops.urls), "tcp": len(viewer.urls)}
        browser.close()
finally:
    forward.shutdown()
    stop_crmad(proc)
if failures:
    print(open(f"{work}/crmad.log").read()[-3000:])
else:
    shutil.rmtree(work, ignore_errors=True)
os.unlink(token_file)
finish(summary)
